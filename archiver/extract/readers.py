"""Which reader reads a paper: chosen by the file's suffix, imported only when that kind is read."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .document import Document, read_bytes

SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".tex", ".bib", ".json", ".ris")


def read_document(path: Path) -> Document:
    """The document at `path`, read by the reader its suffix names. Raises UsageError naming the file."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; "
                         f"expected one of {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise UsageError(f"{path}: cannot read ({'a directory' if path.is_dir() else 'no such file'})")
    # Readers are imported on demand: a plain-text run should not pay for loading pdfium or lxml.
    if suffix == ".txt":
        # Plain text is what copying a typeset paper gives: its URLs may be wrapped over lines.
        return Document("text", read_bytes(path).decode("utf-8", errors="replace").replace("\r\n", "\n"),
                        wrapped=True)
    if suffix == ".md":
        from .markdown import read_markdown
        return read_markdown(path)
    if suffix == ".pdf":
        from .pdf import read_pdf
        return read_pdf(path)
    if suffix == ".docx":
        from .word import read_docx
        return read_docx(path)
    if suffix in (".html", ".htm"):
        from .webpage import read_html
        return read_html(path)
    if suffix == ".tex":
        from .latex import read_tex
        return read_tex(path)
    if suffix == ".json":  # CSL-JSON, also named .csl.json
        from .library import read_csl_json
        return read_csl_json(path)
    if suffix == ".ris":
        from .library import read_ris
        return read_ris(path)
    from .bibtex import read_bib
    return read_bib(path)
