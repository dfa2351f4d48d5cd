"""`archiver report`: one row per citation with its verdict, since when, and where our copy is.

rows.py: what a report is made of (rows, filters, the JSON object of a row); build.py: building it
from the database, read-only; formats.py: JSON, CSV, Markdown and the table; html.py: the HTML page
(imported only when asked for: it reads archived payloads).
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are loaded from their module when first asked for (PEP 562): the CLI reads FORMATS to build
# `report --help` and every command's start-up, and must not pay for build.py's database layer there.
_HOMES = {
    "build_report": "build", "from_history": "build", "from_state": "build", "report_json": "build",
    "CSV_FIELDS": "formats", "FORMATS": "formats", "format_for": "formats", "to_csv": "formats",
    "to_json": "formats", "to_markdown": "formats", "to_table": "formats",
    "FIELDS": "rows", "Capture": "rows", "Filters": "rows", "Latest": "rows", "Report": "rows",
    "ReportRow": "rows", "count_verdicts": "rows", "optional_iso": "rows",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
