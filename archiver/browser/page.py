"""Rendering one page: open it in a fresh browser context whose every request is answered by
archiver's fetcher, let it settle, scroll lazy content into view, and keep what the reader saw.

Every stage has a cap out of `Limits`, so a page that never stops loading, scrolls forever, asks
for thousands of resources, opens dialogs or popups, starts a download or navigates away still ends
with what it showed and a note saying what happened. The page's own document is not fetched again:
the browser gets the answer the run already recorded.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from ..errors import Interrupted, StorageError
from ..fetch.ask import Ask
from ..fetch.results import FetchResult, Hop
from .rendering import Rendering, Resource

# (url, ask, seconds left) -> the fetch: archiver's fetcher, called on a worker thread
ResourceFetch = Callable[[str, Ask, float], FetchResult]
VIEWPORT = {"width": 1280, "height": 900}
SCROLL_PAUSE = 0.1  # seconds at the bottom for the requests the last screens triggered to start
AT_END = "window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2"
# Refused requests past the cap listed one by one; a page asking for thousands is noted, not itemised.
REFUSALS_LISTED = 100
# Headers that describe the bytes on the wire, not the decoded body the browser is handed.
WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True)
class Limits:
    timeout: float = 30.0  # the whole rendering: load, settling, scrolling
    max_requests: int = 1000
    max_body: int = 100 * 1024 * 1024  # bytes of a body handed to the browser
    quiet: float = 0.5  # seconds without a request in flight that count as settled
    settle: float = 10.0  # at most this long waiting for the first quiet, after load
    scroll_steps: int = 20  # screens scrolled at most (an infinite scroll stops here)
    step_wait: float = 1.0  # at most this long for quiet after each screen
    max_height: int = 20_000  # pixels of the screenshot, at most
    grace: float = 10.0  # for reading the page after the cap (title, text, DOM, screenshot: all of them)


class _State:
    """What the page's handlers share: requests in flight, the count, the end."""

    def __init__(self, rendering: Rendering, limits: Limits, deadline: float) -> None:
        self.rendering = rendering
        self.limits = limits
        self.deadline = deadline
        self.inflight = 0
        self.requests = 0
        self.refused = 0  # requests past the cap
        self.last_activity = time.monotonic()
        self.loaded = False
        self.closed = False
        self.failure: BaseException | None = None  # Interrupted or StorageError from the fetcher

    def quiet_for(self) -> float:
        return 0.0 if self.inflight else time.monotonic() - self.last_activity


def fulfilment(hop: Hop, max_body: int) -> dict[str, Any]:
    """What the browser is handed for a fetched answer: its status, its headers without the wire's
    framing, and the body decoded."""
    headers: dict[str, str] = {}
    for name, value in hop.headers:
        key = name.lower()
        if key in WIRE_HEADERS:
            continue
        headers[key] = f"{headers[key]}\n{value}" if key in headers else value
    return {"status": hop.status, "headers": headers, "body": hop.body(max_body)}


async def _quietly(action: Any) -> None:
    """Answer a route whose page may already be gone: a closed page is no failure of the capture."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await action
    except PlaywrightError:
        pass  # the page or its context closed while the answer was on its way


class PageRenderer:
    """One page in one browser context."""

    def __init__(self, first: FetchResult, fetch: ResourceFetch, executor: Executor, limits: Limits) -> None:
        final = first.final
        assert final is not None
        self.first = final
        self.fetch = fetch
        self.executor = executor
        self.limits = limits
        self.rendering = Rendering(url=final.url, started_at=dt.datetime.now(dt.UTC))
        self.state = _State(self.rendering, limits, time.monotonic() + limits.timeout)
        self.page: Any = None
        self._read_until = 0.0

    async def render(self, browser: Any) -> Rendering:
        self.rendering.browser = f"Chromium {browser.version}"
        started = time.monotonic()
        context = await browser.new_context(
            service_workers="block", accept_downloads=False, viewport=VIEWPORT, ignore_https_errors=True,
            user_agent=browser_user_agent(browser.version),
        )
        try:
            await context.route("**/*", self._on_route)
            self.page = page = await context.new_page()
            context.on("page", self._on_popup)  # after our own page: it is no popup
            page.on("dialog", self._on_dialog)
            page.on("websocket", lambda ws: self.rendering.note(f"WebSocket {ws.url}: skipped"))
            page.on("download", lambda d: self.rendering.note(f"download of {d.url} started: kept as fetched,"
                                                               " not opened"))
            page.on("crash", lambda _: self.rendering.note("the page's renderer crashed"))
            await self._load_and_settle(page)
            await self._read(page)
        finally:
            self.state.closed = True
            await _quietly(context.close())
            self.rendering.elapsed = time.monotonic() - started
        if self.state.failure is not None:
            self.rendering.close()
            raise self.state.failure
        return self.rendering

    # -- the stages ---------------------------------------------------------------------------------

    def _left(self) -> float:
        return max(self.state.deadline - time.monotonic(), 0.0)

    async def _load_and_settle(self, page: Any) -> None:
        from playwright.async_api import Error as PlaywrightError

        try:
            async with asyncio.timeout(self._left()):
                try:
                    await page.goto(self.first.url, wait_until="load", timeout=self._left() * 1000 + 1)
                except PlaywrightError as exc:
                    if self.state.failure is not None:
                        return
                    self.rendering.note(f"loading did not finish: {first_line(exc)}")
                self.state.loaded = True
                settled = await self._settle(self.limits.settle)
                await self._scroll(page)
                self.rendering.settled = await self._settle(min(3.0, self.limits.settle)) and settled
        except TimeoutError:
            self.rendering.note(f"still loading when the {self.limits.timeout:g} s cap was reached")
        if not self.rendering.settled and self.state.failure is None:
            self.rendering.note("the network never went quiet: kept as it was at the cap")

    async def _settle(self, most: float) -> bool:
        until = min(time.monotonic() + most, self.state.deadline)
        while time.monotonic() < until and self.state.failure is None:
            if self.state.quiet_for() >= self.limits.quiet:
                return True
            await asyncio.sleep(0.05)
        return self.state.quiet_for() >= self.limits.quiet

    async def _scroll(self, page: Any) -> None:
        """Screen by screen to the bottom, so lazy images and scroll-loaded content come in; an
        infinite scroll stops after `scroll_steps` screens. The screens pass without waiting (what each
        asks for loads meanwhile); at the bottom, the requests they started are waited for, and a page
        that grew on them is scrolled on."""
        for _ in range(self.limits.scroll_steps):
            # Two frames after the scroll before measuring (scroll events and intersection observers run
            # at the next frame, so lazy content of this screen has been asked for by then; a hidden page
            # gets no frames: 250 ms at most).
            at_end = await page.evaluate(
                "async () => { window.scrollBy(0, window.innerHeight);"
                " await new Promise(done => { requestAnimationFrame(() => requestAnimationFrame(done));"
                " setTimeout(done, 250); }); return " + AT_END + "; }")
            if not at_end:
                continue
            await asyncio.sleep(SCROLL_PAUSE)  # for the requests of the last frames to reach the route
            await self._settle(self.limits.step_wait)
            if self.state.quiet_for() >= self.limits.quiet and await page.evaluate("() => " + AT_END):
                break
        else:
            self.rendering.note(f"still growing after {self.limits.scroll_steps} screens of scrolling")
        await page.evaluate("() => window.scrollTo(0, 0)")

    async def _read(self, page: Any) -> None:
        """Title, text, DOM and screenshot, each under its own cap: a page stuck in a script loop must
        not take the capture down with it."""
        if self.state.failure is not None:
            return
        self._read_until = time.monotonic() + self.limits.grace  # one allowance for all the reads
        r = self.rendering
        r.final_url = page.url
        r.title = str(await self._within(page.title(), "the title") or "")
        r.text = str(await self._within(page.evaluate("() => document.body ? document.body.innerText : ''"),
                                        "the text") or "")
        dom = await self._within(page.content(), "the DOM")
        r.dom = str(dom).encode("utf-8", "replace") if dom is not None else b""
        height = await self._within(page.evaluate("() => document.documentElement.scrollHeight"), "the height")
        height = min(int(height or VIEWPORT["height"]), self.limits.max_height)
        if height == self.limits.max_height:
            r.note(f"screenshot cut at {self.limits.max_height} pixels")
        shot = await self._within(screenshot(page, max(height, 1)), "the screenshot")
        r.screenshot = shot if isinstance(shot, bytes) else None

    async def _within(self, action: Any, what: str) -> Any:
        from playwright.async_api import Error as PlaywrightError

        try:
            async with asyncio.timeout(max(self._read_until - time.monotonic(), 0.5)):
                return await action
        except (TimeoutError, PlaywrightError) as exc:
            self.rendering.note(f"could not read {what}: {first_line(exc) or 'timed out'}")
            return None

    # -- what the page asks for ---------------------------------------------------------------------

    async def _on_route(self, route: Any) -> None:
        request = route.request
        url = request.url
        state = self.state
        if state.closed or state.failure is not None:
            await _quietly(route.abort("aborted"))
            return
        if request.is_navigation_request() and _main_frame(request):
            if not state.loaded and url == self.first.url:
                await _quietly(route.fulfill(**fulfilment(self.first, self.limits.max_body)))
                return
            if state.loaded:
                self.rendering.note(f"the page navigated to {url}: not followed")
                # "aborted", not "blockedbyclient": Chromium cancels an aborted navigation and keeps the
                # document, where any other error commits an error page in place of the cited one.
                await _quietly(route.abort("aborted"))
                return
        if not url.startswith(("http://", "https://")):
            await _quietly(route.abort("blockedbyclient"))
            return
        if state.requests >= self.limits.max_requests:
            self.rendering.note(f"more than {self.limits.max_requests} requests: the rest refused")
            if state.refused < REFUSALS_LISTED:
                self.rendering.resources.append(Resource(url, request.method, request.resource_type,
                                                         refused="request cap"))
            state.refused += 1
            await _quietly(route.abort("blockedbyclient"))
            return
        state.requests += 1
        await self._answer(route, request)

    async def _answer(self, route: Any, request: Any) -> None:
        state = self.state
        ask = Ask.of(request.method, await request.all_headers(), request.post_data_buffer)
        state.inflight += 1
        state.last_activity = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.executor, self.fetch, request.url, ask, max(self._left(), 1.0))
        except (Interrupted, StorageError) as exc:
            state.failure = state.failure or exc
            await _quietly(route.abort("aborted"))
            return
        finally:
            state.inflight -= 1
            state.last_activity = time.monotonic()
        if state.closed:  # the page was kept without it: nothing refers to this fetch
            result.close()
            await _quietly(route.abort("aborted"))
            return
        self.rendering.resources.append(Resource(request.url, request.method, request.resource_type, result))
        final = result.final
        if final is None:
            await _quietly(route.abort("failed"))
        else:
            await _quietly(route.fulfill(**fulfilment(final, self.limits.max_body)))

    async def _on_dialog(self, dialog: Any) -> None:
        self.rendering.note(f"{dialog.type} dialog dismissed: {dialog.message[:200]!r}")
        await _quietly(dialog.dismiss())

    async def _on_popup(self, popup: Any) -> None:
        if popup is self.page:
            return
        self.rendering.note(f"popup {popup.url or 'window'} closed")
        await _quietly(popup.close())


# Finite animations jump to their end, endless ones stop: the screenshot shows the page at rest.
STILL = ("() => { for (const a of document.getAnimations()) {"
         " try { a.finish(); } catch (e) { a.cancel(); } } }")


async def screenshot(page: Any, height: int) -> bytes:
    """The page from the top, `height` pixels of it at the viewport's width, as a PNG: Chromium's own
    capture of what lies beyond the viewport (no resize and re-layout of the page to its full height,
    as Playwright's full_page does) with its fast PNG encoder: on text pages ~50 ms less CPU in the
    browser process a page, for a PNG about a third larger."""
    await page.evaluate(STILL)
    session = await page.context.new_cdp_session(page)
    try:
        shot = await session.send("Page.captureScreenshot", {
            "format": "png", "optimizeForSpeed": True, "captureBeyondViewport": True, "fromSurface": True,
            "clip": {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height, "scale": 1}})
    finally:
        await _quietly(session.detach())
    return base64.b64decode(shot["data"])


def _main_frame(request: Any) -> bool:
    from playwright.async_api import Error as PlaywrightError

    try:
        return bool(request.frame.parent_frame is None)
    except PlaywrightError:  # a service worker's request has no frame
        return False


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def browser_user_agent(version: str) -> str:
    """Chromium's own User-Agent, without the "Headless" that gets archivers served an error page."""
    return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version}"
            " Safari/537.36")


__all__ = ["Limits", "PageRenderer", "ResourceFetch", "browser_user_agent", "first_line", "fulfilment"]
