"""The report as text: JSON (one object per line inside the array), CSV, Markdown and the terminal
table; which format an -o suffix asks for. The HTML page is html.py's."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from .. import stamps
from .rows import CAPTURE_FIELDS, FIELDS, Report, by_manifest, count_verdicts, offline_checks

FORMATS = ("table", "json", "csv", "md", "html")
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".html": "html", ".htm": "html"}
# The capture object flattened where it stands: fields added after it stay the last columns.
# `copies` becomes its nearest copy's three columns.
COPY_FIELDS = ("archive", "url", "datetime")
CSV_FIELDS = tuple(column for name in FIELDS
                   for column in ([f"capture_{c}" for c in CAPTURE_FIELDS] if name == "capture"
                                  else [f"copy_{c}" for c in COPY_FIELDS] if name == "copies" else [name]))
OFFLINE_NOTE = "their runs looked offline (network down), so those failures do not count toward death"
VERDICT_COLOURS: dict[str, dict[str, Any]] = {
    "alive": {"fg": "green"}, "drifted": {"fg": "cyan"}, "failing": {"fg": "yellow"},
    "dead": {"fg": "red", "bold": True}, "blocked": {"fg": "magenta"}, "unchecked": {"dim": True},
}


def format_for(fmt: str | None, output: Path | None) -> str:
    """--format wins; else the suffix of -o (.json .csv .md .html); else the table."""
    if fmt is not None:
        return fmt
    if output is not None:
        return SUFFIX_FORMATS.get(output.suffix.lower(), "table")
    return "table"


def to_json(report: Report) -> str:
    return json_array([compact(r.as_json()) for r in report.rows])


def compact(obj: dict[str, Any]) -> str:
    # The separators SQLite's json_object writes (report_json): one form whichever path built a row.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def json_array(objects: list[str]) -> str:
    """One object per line inside the array: diffable, greppable, and still one JSON document."""
    return "[\n" + ",\n".join(objects) + "\n]\n" if objects else "[]\n"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in report.rows:
        data = row.as_json()
        capture = data.pop("capture") or {}
        data.update((f"capture_{k}", capture.get(k)) for k in CAPTURE_FIELDS)
        nearest = (data.pop("copies") or [{}])[0]
        data.update((f"copy_{k}", nearest.get(k)) for k in COPY_FIELDS)
        writer.writerow([_csv_cell(data[k]) for k in CSV_FIELDS])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):  # copies_down: archive names
        return " ".join(str(v) for v in value)
    return "" if value is None else value


def to_markdown(report: Report) -> str:
    """A GitHub-flavoured table per manifest, to paste into an issue tracker."""
    lines: list[str] = []
    for manifest, rows in by_manifest(report):
        title = report.manifests.get(manifest) if manifest else None
        lines.append(f"### {_md(manifest or 'URLs')}" + (f" — {_md(title)}" if title else ""))
        lines.append("")
        lines.append("| citation | verdict | since | status | last ok | URL | archived copy | elsewhere |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in rows:
            v = r.verdict
            since = _day(v.dead_since if v.verdict == "dead" else v.failing_since)
            copy = (f"{_day_text(r.capture.captured_at)} `{_code(r.capture.warc)}`@{r.capture.offset}"
                    if r.capture else "none")
            status = v.status or "-"
            if v.verdict == "drifted" and r.latest.drift is not None:
                status += f" (drift {r.latest.drift:.2f})"
            lines.append(f"| {_md(r.id or '-')} | **{v.label}** | {since} | {status} | {_day(v.last_ok_at)} |"
                         f" `{_code(r.url)}` | {copy} | {_elsewhere(r.best_copy)} |")
        lines.append("")
        lines.append(_counts_line(count_verdicts(rows)))
        skipped = offline_checks(rows)
        if skipped:
            lines.append("")
            lines.append(_offline_line(skipped))
        lines.append("")
    return "\n".join(lines) if lines else "No citations.\n"


def _elsewhere(best: dict[str, str] | None) -> str:
    if best is None:
        return ""
    return f"[{_md(best['archive'])} {_day_text(best['datetime'])}](<{best['url'].replace('>', '%3E')}>)"


def _md(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    # Inside a code span nothing is markup, except the backtick (and a pipe ends a table cell).
    return " ".join(text.split()).replace("`", "%60").replace("|", "%7C")


def to_table(report: Report, *, colour: bool = False, width: int = 80) -> list[str]:
    """Fits `width` columns: a heading per manifest, then verdict, status, since (the failure's first
    or confirming check), id and as much of the URL as is left; the counts per verdict last."""
    import click

    lines: list[str] = []
    for manifest, rows in by_manifest(report):
        title = report.manifests.get(manifest) if manifest else None
        heading = f"{manifest or 'URLs'}" + (f": {title}" if title else "") + f" ({len(rows)})"
        lines.append(_cut(heading, width))
        wide = max([9, *(len(r.verdict.label) for r in rows)])  # `failing (offline)` widens the column
        lines.append(_cut(f"{'verdict':<{wide}} {'status':<18} {'since':<10} {'id':<10} url", width))
        for r in rows:
            v = r.verdict
            status = v.status or "-"
            since = _day(v.dead_since if v.verdict == "dead" else v.failing_since)
            ident = r.id or "-"
            ident = ident if len(ident) <= 10 else ident[:9] + "…"
            word = f"{v.label:<{wide}}"
            rest = _cut(f" {status[:18]:<18} {since:<10} {ident:<10} {' '.join(r.url.split())}", width - len(word))
            lines.append((click.style(word, **VERDICT_COLOURS[v.verdict]) if colour else word) + rest)
            best = r.best_copy
            if best is not None:
                lines.append(_cut(f"{'':<{wide}} copy: {best['archive']} {best['datetime'][:10]} {best['url']}", width))
        lines.append("")
    lines.append(_cut(_counts_line(report.counts), width))
    skipped = offline_checks(report.rows)
    if skipped:
        lines.append(_offline_line(skipped))
    return lines


def _offline_line(skipped: int) -> str:
    """The footer that says why citations show `failing (offline)` rather than dead."""
    return f"{skipped} check{'s' if skipped != 1 else ''} skipped as offline: {OFFLINE_NOTE}"


def _counts_line(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
    return f"{total} citations: {parts}" if total else "0 citations"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _day(t: dt.datetime | None) -> str:
    return stamps.iso(t)[:10] if t is not None else "-"


def _day_text(text: str) -> str:
    return text[:10]
