"""`archiver report --format html`: one self-contained page (inline CSS, JS and SVG; no fetches).

Per manifest: the counts, a chart of verdicts over time (verdict.verdict_timeline over each URL's
whole check history, stacked counts after each check run), and the citation table with, for each,
an excerpt of the archived copy's main text and where the bytes are (WARC file, offset, sha256); for a
browser capture, a thumbnail of its screenshot (the top of the page, a JPEG data: URI made with Pillow
when it is installed; else the PNG itself when it is small) and the command that writes the whole one.
Everything from the archive or a manifest is untrusted: escaped, and only http(s) URLs become links.
A Content-Security-Policy forbids the page any network access of its own. At the end, the provenance
block (archiver/evidence/provenance.py) of every archived copy shown: when, from which machine and run,
the IP and certificate that answered, the hashes, the trusted timestamps.
"""

from __future__ import annotations

import datetime as dt
import html
from itertools import groupby
from operator import attrgetter
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .. import stamps
from ..archive import Archive
from ..config import REPLAY_PORT, Settings
from ..db.rows import ListedCapture
from ..errors import StorageError
from ..evidence import provenance
from ..replay import replay_url
from ..verdict import VERDICTS, CheckPoint, verdict_timeline
from .formats import OFFLINE_NOTE
from .rows import Report, ReportRow, by_manifest, count_verdicts, offline_checks
from .shots import screenshots

EXCERPT_CHARS = 500
EXCERPT_READ = 2 * 1024 * 1024  # enough of a page for its first paragraphs
CAPTURES_LISTED = 20  # per citation; `archiver history URL` has them all
MAX_BARS = 60  # more check runs than this: evenly spaced runs, the newest always included
COLOURS = {"alive": "#2e7d32", "drifted": "#0277bd", "failing": "#f9a825", "dead": "#c62828",
           "blocked": "#8e24aa", "unchecked": "#9e9e9e"}

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin-top:.6em}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3;cursor:pointer;user-select:none}th[aria-sort]::after{content:" \\2195"}
td.url{word-break:break-all;max-width:28em}
.v{font-weight:bold;color:#fff;padding:1px 5px;border-radius:3px}
""" + "".join(f".v-{v}{{background:{c}}}" for v, c in COLOURS.items()) + """
.counts span{margin-right:1em}img.shot{display:block;max-width:240px;border:1px solid #ccc;margin-top:4px}
.filters label{margin-right:1em}
details pre{white-space:pre-wrap;max-width:60em;font-size:12px;background:#fafafa;padding:4px}
svg text{font-size:10px;fill:#444}
"""

# Sorting by a column (click its header; again to reverse) and hiding verdicts (checkboxes).
_JS = """
document.querySelectorAll('table.citations').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      table.querySelectorAll('th').forEach(function(h){ h.setAttribute('aria-sort', 'none'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-sort') || a.cells[col].textContent;
        var y = b.cells[col].getAttribute('data-sort') || b.cells[col].textContent;
        return x < y ? -dir : x > y ? dir : 0;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
function applyFilter(){
  var shown = {};
  document.querySelectorAll('input.verdict-filter').forEach(function(box){ shown[box.value] = box.checked; });
  document.querySelectorAll('table.citations tbody tr').forEach(function(row){
    row.hidden = !shown[row.getAttribute('data-verdict')];
  });
}
document.querySelectorAll('input.verdict-filter').forEach(function(box){
  box.addEventListener('change', applyFilter);
});
// A view can be linked: #show=dead,failing hides the other verdicts; #sort=N sorts by column N.
(function(){
  var params = {};
  location.hash.replace(/^#/, '').split('&').forEach(function(kv){
    var i = kv.indexOf('='); if (i > 0) params[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
  });
  if (params.show) {
    var wanted = params.show.split(',');
    document.querySelectorAll('input.verdict-filter').forEach(function(box){
      box.checked = wanted.indexOf(box.value) >= 0;
    });
    applyFilter();
  }
  if (params.sort) {
    document.querySelectorAll('table.citations').forEach(function(table){
      var th = table.querySelectorAll('th')[parseInt(params.sort, 10)];
      if (th) th.click();
    });
  }
})();
document.body.setAttribute('data-ready', 'yes');
"""


def to_html(report: Report, settings: Settings, replay_port: int = REPLAY_PORT) -> str:
    """The report as one self-contained page. Each archived copy links to `archiver replay` on
    `replay_port` (pywb shows the capture time in its banner), its newest captures too."""
    fetch_urls = sorted({r.fetch_url for r in report.rows})
    with Archive(settings, writing=False) as archive:
        histories = _histories(archive, fetch_urls)
        excerpts = {r.fetch_url: _excerpt(archive, r) for r in report.rows if r.capture is not None}
        captures = archive.db.report_capture_list(fetch_urls, CAPTURES_LISTED)
        shots = screenshots(archive, report.rows)
        held = provenance.summary(archive, {r.capture.payload_capture_id for r in report.rows if r.capture is not None},
                                  subject="the archived copies in this report")
    p = report.policy
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline';"
        " script-src 'unsafe-inline'; img-src data:\">",
        "<meta name=\"referrer\" content=\"no-referrer\">",
        f"<title>archiver report</title><style>{_CSS}</style></head><body>",
        "<h1>Citations: which are alive, which died, and our copies</h1>",
        f"<p>Generated {_e(_now())}; dead = {p.checks} consecutive failed checks spanning at least {p.days:g}"
        " days. Click a column heading to sort. Replay links open the archived copy as captured, with"
        f" its capture time, while <code>archiver replay --port {replay_port}</code> runs.</p>",
        "<p class=\"filters\">Show: " + "".join(
            f"<label><input type=\"checkbox\" class=\"verdict-filter\" value=\"{v}\" checked> {v}</label>"
            for v in VERDICTS) + "</p>",
    ]
    for manifest, rows in by_manifest(report):
        title = report.manifests.get(manifest) if manifest else None
        counts = count_verdicts(rows)
        parts.append(f"<section class=\"manifest\"><h2>{_e(manifest or 'URLs')}"
                     + (f" — {_e(title)}" if title else "") + "</h2>")
        parts.append("<p class=\"counts\">" + "".join(
            f"<span><span class=\"v v-{v}\">{v}</span> {n}</span>" for v, n in counts.items() if n) + "</p>")
        skipped = offline_checks(rows)
        if skipped:
            parts.append(f"<p class=\"offline\">{skipped} check{'s' if skipped != 1 else ''} skipped as offline:"
                         f" {OFFLINE_NOTE}.</p>")
        parts.append(_chart(rows, histories, report))
        parts.append(_table(rows, excerpts, captures, replay_port, shots))
        parts.append("</section>")
    parts.append(_provenance(held))
    parts.append(f"<script>{_JS}</script></body></html>\n")
    return "\n".join(parts)


class _Step(NamedTuple):
    """A check of a URL's history and the run it was part of."""

    check: CheckPoint
    run: int


def _histories(archive: Archive, fetch_urls: list[str]) -> dict[str, list[_Step]]:
    return {url: [_Step(CheckPoint(stamps.parse(r.checked_at), r.status, r.drift_level, bool(r.offline)), r.run_id)
                  for r in group]
            for url, group in groupby(archive.db.report_timelines(fetch_urls), key=attrgetter("fetch_url"))}


def _chart(rows: list[ReportRow], histories: dict[str, list[_Step]], report: Report) -> str:
    """Stacked bars: after each check run (by run id, the order runs started), how many citations
    had each verdict. A citation not yet checked in a run keeps its verdict from before (or unchecked)."""
    timelines = []
    runs: dict[int, dt.datetime] = {}
    for row in rows:
        history = histories.get(row.fetch_url, [])
        points = [entry.check for entry in history]
        verdicts = [v for _, v in verdict_timeline(points, report.policy)]
        in_time = sorted(history, key=lambda entry: entry.check.at)  # as verdict_timeline orders them
        by_run = sorted(zip((entry.run for entry in in_time), verdicts, strict=True))
        timelines.append(by_run)
        for entry in history:
            runs[entry.run] = min(runs.get(entry.run, entry.check.at), entry.check.at)
    order = sorted(runs)
    if len(order) > MAX_BARS:
        step = (len(order) - 1) / (MAX_BARS - 1)
        order = sorted({order[round(i * step)] for i in range(MAX_BARS)})
    if not order:
        return "<p class=\"chart\">No checks yet: nothing to chart.</p>"
    bars = []
    for run in order:
        counts = dict.fromkeys(VERDICTS, 0)
        for timeline in timelines:
            word = "unchecked"
            for r, v in timeline:
                if r > run:
                    break
                word = v
            counts[word] += 1
        bars.append((run, counts))
    width, height, left, bottom = 720, 180, 30, 30
    slot = (width - left) / len(bars)
    total = max(1, len(rows))
    out = [f"<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height + 20}\""
           f" role=\"img\" aria-label=\"verdicts after each check run\">"]
    out.append(f"<text x=\"0\" y=\"10\">{total}</text><text x=\"0\" y=\"{height - bottom}\">0</text>")
    for i, (run, counts) in enumerate(bars):
        x = left + i * slot
        y = float(height - bottom)
        for verdict in VERDICTS:
            n = counts[verdict]
            if not n:
                continue
            h = (height - bottom - 5) * n / total
            y -= h
            out.append(f"<rect class=\"bar-{verdict}\" x=\"{x + 1:.1f}\" y=\"{y:.1f}\" width=\"{max(slot - 2, 1):.1f}\""
                       f" height=\"{h:.1f}\" fill=\"{COLOURS[verdict]}\"><title>run {run}"
                       f" ({_e(_minute(runs[run]))}): {n} {verdict}</title></rect>")
        if i == 0 or i == len(bars) - 1:
            out.append(f"<text x=\"{x:.1f}\" y=\"{height - bottom + 14}\">{_e(_minute(runs[run])[:10])}</text>")
    for i, verdict in enumerate(VERDICTS):
        out.append(f"<rect x=\"{left + i * 110}\" y=\"{height + 4}\" width=\"10\" height=\"10\""
                   f" fill=\"{COLOURS[verdict]}\"/>"
                   f"<text x=\"{left + i * 110 + 14}\" y=\"{height + 13}\">{verdict}</text>")
    out.append("</svg>")
    return "".join(out)


def _table(rows: list[ReportRow], excerpts: dict[str, str], captures: dict[str, list[ListedCapture]],
           port: int, shots: dict[str, str]) -> str:
    head = ("citation", "verdict", "status", "failing since", "dead since", "last ok", "drift", "URL", "archived copy")
    out = ["<table class=\"citations\"><thead><tr>" + "".join(f"<th aria-sort=\"none\">{h}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for r in rows:
        v = r.verdict
        data = r.as_json()
        ident = r.id or "-"
        context = f"<br><small>{_e(r.context)}</small>" if r.context else ""
        drift = "" if r.latest.drift is None else f"{r.latest.drift:.2f} {r.latest.drift_level or ''}"
        cells = [
            (ident, f"{_e(ident)}{context}"),
            (v.verdict, f"<span class=\"v v-{v.verdict}\">{v.label}</span>"),
            (v.status or "", _e(v.status or "-") + (f"<br><small>{_e(r.latest.reason)}</small>"
                                                    if r.latest.reason else "")),
            (data["failing_since"] or "", _e((data["failing_since"] or "-")[:19])),
            (data["dead_since"] or "", _e((data["dead_since"] or "-")[:19])),
            (data["last_ok_at"] or "", _e((data["last_ok_at"] or "-")[:19])),
            (drift, _e(drift or "-")),
            (r.url, _link(r.url)),
            (r.capture.captured_at if r.capture else "",
             _copy(r, excerpts.get(r.fetch_url, "")) + shots.get(r.fetch_url, "")
             + _captures(r, captures.get(r.fetch_url, []), port)),
        ]
        url_class = ' class="url"'
        out.append(f"<tr data-verdict=\"{v.verdict}\">" + "".join(
            f"<td data-sort=\"{_e(key)}\"{url_class if i == 7 else ''}>{cell}</td>"
            for i, (key, cell) in enumerate(cells)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _copy(row: ReportRow, excerpt: str) -> str:
    best = row.best_copy
    elsewhere = "" if best is None else (
        f"<p class=\"elsewhere\">copy elsewhere: <a href=\"{_e(best['url'])}\" rel=\"noreferrer noopener\">"
        f"{_e(best['archive'])} {_e(best['datetime'][:19])}</a></p>")
    c = row.capture
    if c is None:
        return "none" + elsewhere
    where = (f"{_e(c.record_type)} of {_e(c.captured_at[:19])}<br><small>{_e(c.warc)} @ {c.offset}"
             f" ({c.length} bytes)<br>sha256 {_e(c.sha256 or '-')}</small>")
    text = _e(excerpt) if excerpt else "(no text could be extracted)"
    return f"{where}<details><summary>archived text</summary><pre>{text}</pre></details>{elsewhere}"


def _captures(row: ReportRow, listed: list[ListedCapture], port: int) -> str:
    """Replay links: the newest good capture's, then the newest captures of the URL by time."""
    out = []
    if row.capture is not None:
        href = replay_url({"fetch_url": row.fetch_url, "captured_at": row.capture.captured_at}, port)
        out.append(f"<br><a class=\"replay\" href=\"{_e(href)}\" rel=\"noreferrer noopener\">replay</a>")
    if listed:
        total = listed[0].total
        items = "".join(
            f"<li><a href=\"{_e(replay_url({'fetch_url': row.fetch_url, 'captured_at': c.captured_at}, port))}\""
            f" rel=\"noreferrer noopener\">{_e(c.captured_at[:19])}</a> {_e(c.record_type)}"
            f" {c.http_status if c.http_status is not None else ''}</li>"
            for c in listed)
        more = (f"<li>{total - len(listed)} older: <code>archiver history {_e(row.fetch_url)}</code></li>"
                if total > len(listed) else "")
        out.append(f"<details class=\"captures\"><summary>captures ({total})</summary><ul>{items}{more}</ul></details>")
    return "".join(out)


def _excerpt(archive: Archive, row: ReportRow) -> str:
    """The first EXCERPT_CHARS of the archived copy's main text ("" when it cannot be read)."""
    from ..content import page_text  # trafilatura: imported only for HTML reports

    c = row.capture
    assert c is not None
    record = {"record_type": "response", "refers_to": None, "warc": c.warc, "warc_offset": c.offset,
              "id": c.payload_capture_id}
    body = bytearray()
    try:
        for chunk in archive.open_payload(record):
            body += chunk[: EXCERPT_READ - len(body)]
            if len(body) >= EXCERPT_READ:
                break
    except StorageError as exc:
        return f"(archived copy unreadable: {exc})"
    page = page_text(bytes(body), c.content_type, c.final_url)
    text = page.text or page.visible
    return text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")


def _link(url: str) -> str:
    """Only http(s) URLs become links (a cited `javascript:` URL stays text), without a referrer."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in ("http", "https"):
        return f"<a href=\"{_e(url.strip())}\" rel=\"noreferrer noopener\">{_e(url)}</a>"
    return _e(url)


def _provenance(doc: dict[str, Any]) -> str:
    """The provenance block (archiver/evidence/provenance.py): the tool, the timestamp authority, and for
    each archived copy shown, when, where from and by whom it was captured, the certificate and hashes."""
    authority = doc["timestamp_authority"]
    parts = ["<section class=\"provenance\" id=\"provenance\"><h2>Provenance</h2>",
             f"<p>Tool: {_e(doc['tool'])}. Generated {_e(doc['generated_at'])} on {_e(doc['generated_on'])}."
             f" Trusted timestamp authority: {_e(', '.join(authority) if isinstance(authority, list) else authority)}."
             " Hashes are SHA-256.</p>"]
    for capture in doc["captures"]:
        rows = "".join(f"<dt>{_e(label)}</dt><dd><code>{_e(str(value))}</code></dd>"
                       for label, value in provenance.fields(capture))
        parts.append(f"<details><summary>{_e(capture['url'])} — {_e(capture['captured_at'])}</summary>"
                     f"<dl>{rows}</dl></details>")
    parts.append("</section>")
    return "\n".join(parts)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _now() -> str:
    return _minute(stamps.now()) + " UTC"


def _minute(t: dt.datetime) -> str:
    """`2026-12-05 03:50`: a time for people, to the minute (UTC)."""
    return stamps.iso(t, "minutes").removesuffix("Z").replace("T", " ")
