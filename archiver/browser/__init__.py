"""Browser capture: a page rendered in Chromium whose every request is answered by archiver's own
fetcher, and what the reader saw kept from it (sub-resources, a screenshot, the DOM after scripts ran).

`chromium.py` finds the browser and says why it cannot run; `need.py` decides which pages need it;
`page.py` renders one page; `service.py` keeps one browser for a run's worker threads;
`rendering.py` is what a rendering produced. Nothing here loads Playwright until a page is rendered.
"""
