"""Which Chromium renders pages, how it is started, and why browser capture cannot run here.

Debian's `chromium` (or `$ARCHIVER_CHROMIUM`), never a downloaded browser. It starts with a proxy
that does not exist and a resolver that resolves nothing: every request a page makes is answered by
archiver's fetcher through interception (page.py), and one that escaped interception fails instead of
reaching the network.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping
from typing import Any

from ..extras import install_hint

CHROMIUM_ENV = "ARCHIVER_CHROMIUM"
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")


def browser_hint() -> str:
    """How to get a browser for captures, with the extra's install line for this installation."""
    return ("install Debian's chromium (apt-get install chromium) and the browser extra"
            f" ({install_hint('browser')}), or set ARCHIVER_CHROMIUM to a Chromium binary")


# Chromium keeps only the last --disable-features it is given, and ours comes after Playwright's: so
# ours repeats Playwright's list (chromiumSwitches.ts of 1.65; its fixes for interception such as
# AvoidCorsURLLoaderRestartOnRedirect) before adding archiver's. A test checks the copy is complete.
PLAYWRIGHT_DISABLED = (
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding", "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect", "TcpPortRandomizationWin", "OptimizationHints",
    "NetworkTimeServiceQuerying", "AimEnabled", "PreconnectToSearch", "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
DISABLED_FEATURES = (
    *PLAYWRIGHT_DISABLED, "Translate", "InterestFeedContentSuggestions",
    # Every new page's window preloads the omnibox popup (chrome://omnibox-popup.top-chrome/, twice):
    # a renderer of browser UI per page that nobody sees.
    "WebUIOmniboxPopup", "WebUIOmniboxAimPopup",
    # A spare renderer kept warm for the next navigation: ~80 MB more RSS, no CPU saved (measured)
    "SpareRendererForSitePerProcess",
)
# Port 9 (discard) on loopback: nothing listens there, so a connection is refused at once.
DEAD_PROXY = "http://127.0.0.1:9"
LAUNCH_ARGS = (
    f"--proxy-server={DEAD_PROXY}",
    "--proxy-bypass-list=<-loopback>",  # loopback too goes to the dead proxy (Chromium bypasses it by default)
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-pings",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB: renderers crash on big pages
    "--disable-features=" + ",".join(DISABLED_FEATURES),
    "--mute-audio",
    "--hide-scrollbars",
)


async def launch(playwright: Any) -> Any:
    """Chromium started the way archiver renders pages: Playwright's async `Browser`."""
    return await playwright.chromium.launch(
        executable_path=find_chromium(), args=list(LAUNCH_ARGS), headless=True, handle_sigint=False,
        handle_sigterm=False, handle_sighup=False)


def find_chromium(env: Mapping[str, str] | None = None) -> str | None:
    """The Chromium binary to drive: $ARCHIVER_CHROMIUM when set, else Debian's."""
    env = os.environ if env is None else env
    chosen = env.get(CHROMIUM_ENV)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def unavailable(env: Mapping[str, str] | None = None) -> str | None:
    """Why pages cannot be rendered here (one line), or None when they can."""
    env = os.environ if env is None else env
    if importlib.util.find_spec("playwright") is None:
        return f"Playwright is not installed: {browser_hint()}"
    if find_chromium(env) is None:
        chosen = env.get(CHROMIUM_ENV)
        where = f"{CHROMIUM_ENV}={chosen} is not an executable file" if chosen else "no chromium found on PATH"
        return f"{where}: {browser_hint()}"
    return None


__all__ = ["CHROMIUM_ENV", "DEAD_PROXY", "DISABLED_FEATURES", "LAUNCH_ARGS", "browser_hint", "find_chromium", "launch",
           "unavailable"]
