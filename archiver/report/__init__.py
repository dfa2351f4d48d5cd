"""`archiver report`: one row per citation with its verdict, since when, and where our copy is.

rows.py: what a report is made of (rows, filters, the JSON object of a row); build.py: building it
from the database, read-only; formats.py: JSON, CSV, Markdown and the table; html.py: the HTML page
(imported only when asked for: it reads archived payloads).
"""

from __future__ import annotations

from .build import build_report, from_history, from_state, report_json
from .formats import CSV_FIELDS, FORMATS, format_for, to_csv, to_json, to_markdown, to_table
from .rows import FIELDS, Capture, Filters, Latest, Report, ReportRow, count_verdicts, optional_iso, parse_since

__all__ = ["CSV_FIELDS", "FIELDS", "FORMATS", "Capture", "Filters", "Latest", "Report", "ReportRow", "build_report",
           "count_verdicts", "format_for", "from_history", "from_state", "optional_iso", "parse_since",
           "report_json", "to_csv", "to_json", "to_markdown", "to_table"]
