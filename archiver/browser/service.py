"""One browser for a run: Chromium started once (at the first page that needs it) and shared by the
run's worker threads, each rendering in its own context; restarted when it crashes.

Playwright's async API runs on a thread of its own; workers call `render` and wait. Sub-resources
are fetched on a pool of threads by the run's fetcher, so the browser's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from ..config import Settings
from ..errors import BrowserUnavailable, Interrupted
from ..fetch.results import FetchResult
from .chromium import find_chromium, launch, unavailable
from .page import Limits, PageRenderer, ResourceFetch, first_line
from .rendering import Rendering

T = TypeVar("T")
FETCHES_PER_PAGE = 6  # sub-resources fetched at once for one page (a browser opens six per host)
START_TIMEOUT = 60.0


def limits_of(settings: Settings) -> Limits:
    return Limits(timeout=settings.browser_timeout, max_requests=settings.browser_max_requests,
                  max_body=settings.max_size, settle=min(10.0, settings.browser_timeout / 2))


class BrowserService:
    """Renders pages for any thread; thread-safe. Start with `start()` (raises BrowserUnavailable),
    end with `close()`."""

    def __init__(self, settings: Settings, limits: Limits | None = None) -> None:
        self.settings = settings
        self.limits = limits or limits_of(settings)
        self.pages = settings.browser_pages
        self.executor = ThreadPoolExecutor(max_workers=self.pages * FETCHES_PER_PAGE,
                                           thread_name_prefix="archiver-resource")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="archiver-browser", daemon=True)
        self._playwright: Any = None
        self._browser: Any = None
        self._slots: asyncio.Semaphore | None = None
        self._launching: asyncio.Lock | None = None
        self.version = ""
        self.stopping = False

    # -- life ---------------------------------------------------------------------------------------

    def start(self) -> None:
        why = unavailable()
        if why is not None:
            raise BrowserUnavailable(f"browser capture unavailable: {why}")
        self._thread.start()
        try:
            self._call(self._start(), START_TIMEOUT)
        except BrowserUnavailable:
            self.close()
            raise

    async def _start(self) -> None:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        self._slots = asyncio.Semaphore(self.pages)
        self._launching = asyncio.Lock()
        try:
            self._playwright = await async_playwright().start()
            await self._launch()
        except PlaywrightError as exc:
            raise BrowserUnavailable(f"cannot start Chromium ({find_chromium()}): {first_line(exc)}") from exc

    async def _launch(self) -> Any:
        self._browser = await launch(self._playwright)
        self.version = self._browser.version
        return self._browser

    def stop(self) -> None:
        """Interrupt (another thread, a signal handler): pages being rendered end at once."""
        self.stopping = True
        if self._thread.is_alive() and self._browser is not None:
            asyncio.run_coroutine_threadsafe(self._close_browser(), self.loop)

    async def _close_browser(self) -> None:
        from playwright.async_api import Error as PlaywrightError

        if self._browser is not None:
            try:
                await self._browser.close()
            except PlaywrightError:
                pass  # already gone: closing is all we wanted

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self._call(self._shutdown(), 30.0)
            except (BrowserUnavailable, TimeoutError):
                pass  # the process dies with us: a daemon thread and the driver's pipe
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _shutdown(self) -> None:
        await self._close_browser()
        if self._playwright is not None:
            await self._playwright.stop()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # -- rendering ----------------------------------------------------------------------------------

    def render(self, first: FetchResult, fetch: ResourceFetch) -> Rendering:
        """Render the page `first` fetched, its sub-resources fetched by `fetch`. A crashed browser
        gives a Rendering with `failed` set (and is restarted for the next page); Interrupted and
        StorageError from the fetcher propagate."""
        if self.stopping:
            raise Interrupted(f"{first.url}: not rendered, interrupted")
        limit = self.limits.timeout + 4 * self.limits.grace + START_TIMEOUT
        future = asyncio.run_coroutine_threadsafe(self._render(first, fetch), self.loop)
        try:
            return future.result(limit)
        except FutureTimeout:
            # The page's own caps failed to end it (a browser that stopped answering): the page keeps
            # its HTTP capture, and the browser is started afresh for the next.
            future.cancel()
            self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._close_browser()))
            final = first.final
            failed = Rendering(url=final.url if final else first.url, started_at=first.started_at)
            failed.failed = f"the browser did not answer within {limit:g} s"
            return failed

    async def _render(self, first: FetchResult, fetch: ResourceFetch) -> Rendering:
        from playwright.async_api import Error as PlaywrightError

        assert self._slots is not None
        async with self._slots:
            renderer = PageRenderer(first, fetch, self.executor, self.limits)
            try:
                browser = await self._alive()
                return await renderer.render(browser)
            except PlaywrightError as exc:
                if self.stopping:
                    renderer.rendering.close()
                    raise Interrupted(f"{first.url}: rendering abandoned on interrupt") from exc
                renderer.rendering.failed = f"the browser failed: {first_line(exc)}"
                return renderer.rendering

    async def _alive(self) -> Any:
        """The browser, started again if it crashed or was closed."""
        assert self._launching is not None
        async with self._launching:
            if self._browser is None or not self._browser.is_connected():
                await self._launch()
            return self._browser



__all__ = ["BrowserService", "limits_of"]
