"""Robust links in LaTeX and BibTeX, found in the raw text with each format's own syntax.

LaTeX: each `\\url{...}` and `\\href{...}{...}` outside comments and verbatim environments is followed by
` (archived: \\url{COPY}, DATE)`.

BibTeX: an entry with a `url` field (or a `\\url{}` in `howpublished`) gains, before its closing brace,
`urldate = {DATE}` (unless it has one), `note = {Archived at \\url{COPY}, DATE}` (or, when it has a note,
that sentence appended inside it), and for biblatex `eprinttype = {Archived}` and `eprint = {COPY}`
unless either field is there already. An entry whose note already says "Archived at" is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..extract.latex import group_end, unescape_url
from . import ArchivedLink, Edits, Found, Insertion

# --- LaTeX -----------------------------------------------------------------------------------------

_COMMAND = re.compile(r"\\(url|href)\s*\{")
_COMMENT = re.compile(r"(?<!\\)(?:\\\\)*%[^\n]*")
_VERBATIM = re.compile(r"\\begin\s*\{(verbatim|Verbatim|lstlisting|minted|comment|filecontents)\*?\}.*?"
                       r"(?:\\end\s*\{\1\*?\}|\Z)", re.DOTALL)
_SECOND = re.compile(r"\s*\{")
LATEX_MARK = " (archived: "
_ADDED = re.compile(r" \(archived: \\url\{(?:[^{}\\]|\\.)*\}, [^()\n]*\)")


def latex_links(text: str) -> list[Found]:
    dead = [(m.start(), m.end()) for m in _VERBATIM.finditer(text)]
    dead += [(m.start(), m.end()) for m in _COMMENT.finditer(text) if not _inside(dead, m.start())]
    dead += [(m.start(), m.end()) for m in _ADDED.finditer(text)]  # the archived links of a run before
    found: list[Found] = []
    for match in _COMMAND.finditer(text):
        if _inside(dead, match.start()):
            continue
        first = group_end(text, match.end() - 1)
        if first is None:
            continue
        end = first
        if match.group(1) == "href":
            second = _SECOND.match(text, first)
            end = group_end(text, second.end() - 1) if second else None  # type: ignore[assignment]
            if end is None:
                continue
        if text.startswith(LATEX_MARK, end):
            continue
        found.append(Found(unescape_url(text[match.end():first - 1]), _latex_after(end)))
    return found


def _latex_after(end: int) -> Edits:
    def edits(copy: ArchivedLink) -> list[Insertion]:
        return [Insertion(end, f"{LATEX_MARK}\\url{{{tex_url(copy.url)}}}, {copy.day})")]
    return edits


def tex_url(url: str) -> str:
    """A URL for `\\url{}` anywhere, even in another command's argument: % and # escaped."""
    return url.replace("\\", "%5C").replace("%", "\\%").replace("#", "\\#").replace("{", "%7B").replace("}", "%7D")


def _inside(ranges: list[tuple[int, int]], at: int) -> bool:
    return any(start <= at < end for start, end in ranges)


# --- BibTeX ----------------------------------------------------------------------------------------

_ENTRY = re.compile(r"@\s*([A-Za-z]+)\s*([{(])")
_FIELD = re.compile(r"\s*([A-Za-z][\w:.+/-]*)\s*=\s*")
_URL_COMMAND = re.compile(r"\\url\s*\{([^{}]*)\}")
_BARE_VALUE = re.compile(r"[^\s,#{}\"()]+")
_SKIPPED = {"comment", "preamble", "string"}


@dataclass(frozen=True)
class _Field:
    name: str
    start: int  # the field name's first character
    value: str  # raw, delimiters included
    end: int  # after the value


@dataclass(frozen=True)
class _Entry:
    fields: list[_Field]
    close: int  # the entry's closing delimiter


def bibtex_links(text: str) -> list[Found]:
    found: list[Found] = []
    for entry in _entries(text):
        fields = {field.name.lower(): field for field in entry.fields}
        url = _entry_url(fields)
        note = fields.get("note")
        if url is None or (note is not None and "Archived at" in note.value):
            continue
        found.append(Found(url, _bib_edits(text, entry, fields)))
    return found


def _entry_url(fields: dict[str, _Field]) -> str | None:
    if "url" in fields:
        url = unescape_url(_bare_value(fields["url"].value))
        return url or None
    published = fields.get("howpublished")
    command = _URL_COMMAND.search(published.value) if published else None
    return unescape_url(command.group(1)) if command else None


def _bare_value(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and (raw[0], raw[-1]) in (("{", "}"), ('"', '"')):
        return raw[1:-1].strip()
    return raw


def _bib_edits(text: str, entry: _Entry, fields: dict[str, _Field]) -> Edits:
    last = entry.fields[-1]
    line_start = text.rfind("\n", 0, last.start) + 1
    lead = text[line_start:last.start]
    indent = lead if lead.strip() == "" and lead else "  "
    newline = "\r\n" if "\r\n" in text else "\n"
    after = last.end
    while after < entry.close and text[after].isspace():
        after += 1
    comma = after < entry.close and text[after] == ","

    def edits(copy: ArchivedLink) -> list[Insertion]:
        sentence = f"Archived at \\url{{{tex_url(copy.url)}}}, {copy.day}"
        added: list[tuple[str, str]] = []
        out: list[Insertion] = []
        if "urldate" not in fields:
            added.append(("urldate", copy.day))
        note = fields.get("note")
        if note is None:
            added.append(("note", sentence))
        elif note.value.rstrip()[-1:] in ("}", '"'):
            close = note.start + len(text[note.start:note.end].rstrip()) - 1
            before = _bare_value(note.value).rstrip()
            out.append(Insertion(close, ("" if not before else " " if before.endswith(".") else ". ") + sentence))
        if "eprint" not in fields and "eprinttype" not in fields:
            added += [("eprinttype", "Archived"), ("eprint", copy.url)]
        lines = [f"{newline}{indent}{name} = {{{value}}}" for name, value in added]
        if added and comma:
            out.append(Insertion(after + 1, "".join(line + "," for line in lines)))
        elif added:
            out.append(Insertion(last.end, "," + ",".join(lines)))
        return out

    return edits


def _entries(text: str) -> list[_Entry]:
    """Every entry with its fields; @comment, @preamble and @string are skipped, as is a malformed
    entry (from its `@` on, the scanner looks for the next one)."""
    entries: list[_Entry] = []
    pos = 0
    while True:
        match = _ENTRY.search(text, pos)
        if match is None:
            return entries
        closer = "}" if match.group(2) == "{" else ")"
        if match.group(1).lower() in _SKIPPED:
            end = group_end(text, match.end() - 1) if closer == "}" else text.find(")", match.end())
            pos = (end if end is not None and end > 0 else match.end())
            continue
        entry = _entry(text, match.end(), closer)
        if entry is None:
            pos = match.end()
            continue
        entries.append(entry)
        pos = entry.close + 1


def _entry(text: str, pos: int, closer: str) -> _Entry | None:
    comma = text.find(",", pos)
    close = text.find(closer, pos)
    if comma == -1 or (close != -1 and close < comma):
        return None  # no fields
    pos = comma + 1
    fields: list[_Field] = []
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos < len(text) and text[pos] == closer:
            return _Entry(fields, pos) if fields else None
        field = _FIELD.match(text, pos)
        if field is None:
            return None
        value_end = _value_end(text, field.end(), closer)
        if value_end is None:
            return None
        fields.append(_Field(field.group(1), field.start(1), text[field.end():value_end], value_end))
        pos = value_end


def _value_end(text: str, pos: int, closer: str) -> int | None:
    """After a field's value: parts in braces, quotes or bare, joined by `#`."""
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return None
        if text[pos] == "{":
            end = group_end(text, pos)
        elif text[pos] == '"':
            end = _quoted_end(text, pos)
        else:
            bare = _BARE_VALUE.match(text, pos)
            end = bare.end() if bare else None
        if end is None:
            return None
        after = end
        while after < len(text) and text[after].isspace():
            after += 1
        if after < len(text) and text[after] == "#":
            pos = after + 1
            continue
        return end


def _quoted_end(text: str, pos: int) -> int | None:
    depth = 0
    i = pos + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == '"' and depth == 0:
            return i + 1
        i += 1
    return None
