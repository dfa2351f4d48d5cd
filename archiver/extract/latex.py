"""LaTeX sources: \\url, \\href and \\doi targets as links, and the prose with markup removed.

A small scanner, not a TeX engine: it knows comments, braces, escapes, footnotes and the link commands,
which is what finding citations needs. URL arguments are read verbatim, as the url package reads them:
"%" is literal there and white space (a line break in the source) is not part of the URL.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UsageError
from .document import Document, Link, one_line, read_bytes

_COMMAND = re.compile(r"\\([A-Za-z]+\*?|.)", re.DOTALL)
_SPACE = re.compile(r"[ \t]*\n?[ \t]*")
_URL_ESCAPE = re.compile(r"\\(?:textasciitilde|~)\s*(?:\{\})?|\\textunderscore\s*(?:\{\})?|\\([_%#&$~{}])")
_BODY = re.compile(r"\\begin\s*\{document\}(.*?)(?:\\end\s*\{document\}|\Z)", re.DOTALL)
# Commands whose braced arguments are not prose (cross-references, layout, file names).
_SKIP_ARGS = {"label": 1, "ref": 1, "eqref": 1, "pageref": 1, "autoref": 1, "cref": 1, "Cref": 1,
              "includegraphics": 1, "vspace": 1, "hspace": 1, "vspace*": 1, "hspace*": 1, "begin": 1, "end": 1,
              "bibliographystyle": 1, "bibliography": 1, "input": 1, "include": 1, "usepackage": 1,
              "documentclass": 1, "hypersetup": 1, "setlength": 2, "addbibresource": 1}
_CITE = re.compile(r"^(?:[a-z]*cite[a-z]*\*?|citeauthor|citeyear)$", re.IGNORECASE)
_VERBATIM_URL = {"url", "nolinkurl", "path"}
MAX_NESTING = 100  # real papers nest a footnote, a link and some emphasis: a handful of levels
_ACCENTS = set("'`^\"~=.uvHtcdbkr")


def read_tex(path: Path) -> Document:
    source = read_bytes(path).decode("utf-8", errors="replace").replace("\r\n", "\n")
    body = _BODY.search(source)
    scanner = _Scanner(body.group(1) if body else source, path)
    text = scanner.convert()
    # Footnotes after the body, each number alone on a line above its note, where the text extractor
    # looks for footnote ids: in place, their numbers would claim the body's URLs that follow them.
    text += "".join(f"\n\n{number}\n{note}" for number, note in scanner.notes)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return Document("tex", re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n", scanner.links)


def unescape_url(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        return match.group(1) or ("_" if match.group().startswith("\\textunderscore") else "~")
    return "".join(_URL_ESCAPE.sub(one, text).split())


class _Scanner:
    def __init__(self, text: str, path: Path) -> None:
        self.text = text
        self.path = path
        self.nesting = 0  # arguments being converted inside one another (\footnote{\href{..}{..}})
        self.pos = 0
        self.links: list[Link] = []
        self.footnote = 0
        self.notes: list[tuple[str, str]] = []

    def convert(self, *, group: bool = False) -> str:
        """Prose up to the end, or (`group`) up to the brace closing the group the scanner is in."""
        out: list[str] = []
        depth = 0
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\":
                out.append(self._command())
            elif char == "%":
                end = text.find("\n", self.pos)
                space = _SPACE.match(text, end) if end >= 0 else None
                self.pos = space.end() if space else len(text)  # the line break goes with the comment
            elif char == "{":
                depth += 1
                self.pos += 1
            elif char == "}":
                self.pos += 1
                if depth == 0 and group:
                    break
                depth = max(depth - 1, 0)
            elif char == "~":
                out.append(" ")
                self.pos += 1
            else:
                out.append(char)
                self.pos += 1
        return "".join(out)

    def _command(self) -> str:
        match = _COMMAND.match(self.text, self.pos)
        if match is None:  # a backslash ending the file
            self.pos += 1
            return ""
        name = match.group(1)
        self.pos = match.end()
        if not name[0].isalpha():
            return self._symbol(name)
        if name in _VERBATIM_URL:
            url = unescape_url(self._verbatim())
            self.links.append(Link(url=url))
            return f"<{url}>"
        if name == "href":
            url = unescape_url(self._verbatim())
            before = len(self.links)
            label = one_line(self._argument())
            if any(link.url == url for link in self.links[before:]):  # \href{u}{\url{u}}: one link
                self.links[before:] = [link for link in self.links[before:] if link.url != url]
                label = label.replace(f"<{url}>", url)
            self.links.append(Link(url=url, text=label))
            return f"<{url}>" if label == url else f"{label} <{url}>"
        if name == "doi":
            doi = unescape_url(self._verbatim())
            url = doi if doi.lower().startswith("http") else f"https://doi.org/{doi}"
            self.links.append(Link(url=url, text=doi))
            return f"doi: <{url}>"
        if name in ("footnote", "footnotetext"):
            given = self._optional()
            if name == "footnote" and not (given and given.strip().isdigit()):
                self.footnote += 1
            number = given.strip() if given and given.strip().isdigit() else str(self.footnote)
            # The mark stays where it is cited; the note goes to the foot, as a PDF prints it.
            self.notes.append((number, one_line(self._argument())))
            return number if name == "footnote" else ""
        if name == "footnotemark":
            self.footnote += 1
            given = self._optional()
            return given.strip() if given else str(self.footnote)
        if name == "verb":
            return self._verb()
        if _CITE.match(name):
            self._optional()
            self._optional()
            return f"[{self._verbatim()}]"
        if name in _SKIP_ARGS:
            self._optional()
            for _ in range(_SKIP_ARGS[name]):
                self._verbatim()
            return ""
        if name == "item":
            return "\n"
        if name == "par":
            return "\n\n"
        return ""  # formatting (\emph, \textit...): its braced argument is read on as prose

    def _symbol(self, name: str) -> str:
        if name == "\\":
            self._optional()  # \\[2pt]
            return "\n"
        if name == "~" and self.text.startswith("{}", self.pos):
            self.pos += 2
            return "~"
        if name in _ACCENTS:
            return ""  # \'e: the letter follows
        if name in ",;:! \n\t":
            return " "
        return name  # \_ \% \# \& \$ \{ \}

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def _optional(self) -> str | None:
        start = self.pos
        self._skip_space()
        if not self.text.startswith("[", self.pos):
            self.pos = start
            return None
        end = self.text.find("]", self.pos)
        if end < 0:
            self.pos = start
            return None
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value

    def _verbatim(self) -> str:
        """A braced argument as written (balanced braces, escapes kept, "%" literal)."""
        self._skip_space()
        if not self.text.startswith("{", self.pos):
            match = re.compile(r"\\?[^\s{}]").match(self.text, self.pos)  # \url x: a one-token argument
            if match is None:
                return ""
            self.pos = match.end()
            return match.group()
        start = self.pos + 1
        end = group_end(self.text, self.pos)
        self.pos = len(self.text) if end is None else end
        return self.text[start:] if end is None else self.text[start:end - 1]

    def _argument(self) -> str:
        """A braced argument converted as prose (comments, nested links and footnotes handled)."""
        self._skip_space()
        if not self.text.startswith("{", self.pos):
            return ""
        self.pos += 1
        if self.nesting >= MAX_NESTING:
            # Each level is a Python frame: refuse before the interpreter's recursion limit does.
            raise UsageError(f"{self.path}: commands nested more than {MAX_NESTING} deep near offset {self.pos}: "
                             "not a paper archiver can read")
        self.nesting += 1
        try:
            return self.convert(group=True)
        finally:
            self.nesting -= 1

    def _verb(self) -> str:
        if self.pos >= len(self.text):
            return ""
        delimiter = self.text[self.pos]
        end = self.text.find(delimiter, self.pos + 1)
        if end < 0:
            end = len(self.text)
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value


def group_end(text: str, opening: int) -> int | None:
    """The offset after the `}` closing the group whose `{` is at `opening` (None: never closed);
    a backslash escapes the character after it."""
    depth = 0
    i = opening
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None
