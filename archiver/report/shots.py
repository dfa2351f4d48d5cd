"""The screenshots of browser captures in the HTML report: a thumbnail of the top of each page, inlined
as a data: URI (the report stays one self-contained file that makes no request), with the command
that writes the whole screenshot.

A full-page PNG is often hundreds of kilobytes, too much to inline per citation: with Pillow installed
(the `report` extra) the thumbnail is the top THUMB_WIDTH x THUMB_HEIGHT-proportioned part of the
page, scaled to THUMB_WIDTH pixels, as a JPEG of a few kilobytes; without it the PNG is inlined as it
is when it is at most INLINE_MAX bytes, and otherwise only the command is given.
"""

from __future__ import annotations

import base64
import html
import io
import shlex

from ..archive import Archive
from ..browser.stage import SCREENSHOT
from ..errors import StorageError
from ..rendered import read_resource
from .rows import ReportRow

THUMB_WIDTH = 320  # pixels
THUMB_RATIO = 0.75  # height / width of the part of the page shown: its top, as a reader first sees it
THUMB_QUALITY = 70  # JPEG
INLINE_MAX = 200 * 1024  # bytes of PNG inlined as it is when no thumbnail can be made
READ_MAX = 64 * 1024 * 1024  # a screenshot bigger than this is not read for a thumbnail


def screenshots(archive: Archive, rows: list[ReportRow]) -> dict[str, str]:
    """fetch_url -> the HTML of its capture's screenshot, for the rows whose copy is a browser capture."""
    by_capture = {r.capture.payload_capture_id: r for r in rows if r.capture is not None}
    out: dict[str, str] = {}
    for capture_id, record in archive.db.report_resources(by_capture, SCREENSHOT).items():
        row = by_capture[capture_id]
        command = f"archiver show {shlex.quote(row.fetch_url)} --at {row.capture.captured_at if row.capture else ''}" \
                  " --screenshot"
        try:
            image = thumbnail(read_resource(archive.store, record)) if record["length"] <= READ_MAX else None
        except StorageError as exc:
            out[row.fetch_url] = f"<br><small>screenshot unreadable: {html.escape(str(exc))}</small>"
            continue
        img = f"<img class=\"shot\" alt=\"screenshot of the archived page\" src=\"{image}\">" if image else ""
        out[row.fetch_url] = (f"<details class=\"screenshot\" open><summary>screenshot</summary>{img}"
                              f"<small>whole page: <code>{html.escape(command)}</code></small></details>")
    return out


def thumbnail(png: bytes) -> str | None:
    """A data: URI for the top of the page in `png`, or None when none can be made small enough."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        if png and len(png) <= INLINE_MAX:
            return "data:image/png;base64," + base64.b64encode(png).decode()
        return None
    try:
        with Image.open(io.BytesIO(png)) as image:
            width, height = image.size
            top = image.crop((0, 0, width, min(height, round(width * THUMB_RATIO)))).convert("RGB")
            top.thumbnail((THUMB_WIDTH, round(THUMB_WIDTH * THUMB_RATIO)))
            out = io.BytesIO()
            top.save(out, "JPEG", quality=THUMB_QUALITY)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None  # a damaged or unreadable image: the command still names the screenshot
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


__all__ = ["screenshots", "thumbnail"]
