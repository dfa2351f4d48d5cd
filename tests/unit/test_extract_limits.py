"""Hostile papers are refused or read in bounded time and memory: zip bombs, deep nesting, huge PDFs.

Each CLI case runs the installed console script under an address-space limit, so a regression fails
here with an error instead of exhausting the machine.
"""

from __future__ import annotations

import resource
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import ARCHIVER
from papers import make_docx

from archiver.errors import UsageError
from archiver.extract.readers import read_document

MEMORY_CAP = 1024 * 1024 * 1024


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def extract_cli(paper: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARCHIVER, "extract", str(paper), "-o", str(out), "--offline"], capture_output=True,
                          text=True, timeout=60, preexec_fn=_limit_memory)


def docx_with_extra_part(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / "paper.docx"
    make_docx(path, [("the report", "https://example.org/report")], [])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as package:
        with package.open(name, "w", force_zip64=True) as part:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                part.write(chunk)
    return path


def test_docx_zip_bomb_is_refused_from_the_directory(tmp_path: Path) -> None:
    bomb = docx_with_extra_part(tmp_path, "word/media/image1.png", 300 * 1024 * 1024)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(UsageError, match="zip bomb"):
        read_document(bomb)
    proc = extract_cli(bomb, tmp_path / "m.yaml")
    assert proc.returncode == 2, proc.stderr
    assert "word/media/image1.png" in proc.stderr and "zip bomb" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_docx_with_ordinary_media_is_read(tmp_path: Path) -> None:
    import os

    path = tmp_path / "paper.docx"
    make_docx(path, [("the report", "https://example.org/report")], [])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("word/media/photo.jpg", os.urandom(2 * 1024 * 1024))  # stores at ~1:1, as photos do
    assert [link.url for link in read_document(path).links] == ["https://example.org/report"]


def deep_html(levels: int) -> str:
    return ("<html><body><p>Before <a href='https://first.example/'>first</a></p>"
            + "<div><script>var decoy = 'https://script.example/'</script>" * levels
            + "<p>Deep in the page: <a href='https://deep.example/report'>the report</a></p>"
            + "</div>" * levels
            + "<p>After it all: <a href='https://after.example/'>after</a></p></body></html>")


@pytest.mark.parametrize("levels", [300, 3000, 50_000])
def test_deep_html_is_read_to_the_end(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "deep.html"
    path.write_text(deep_html(levels))
    document = read_document(path)
    assert [link.url for link in document.links] == [
        "https://first.example/", "https://deep.example/report", "https://after.example/"]
    assert "Deep in the page: the report" in document.text and "After it all" in document.text
    assert "script.example" not in document.text


def test_tex_nested_past_the_cap_is_a_one_line_error(tmp_path: Path) -> None:
    paper = tmp_path / "deep.tex"
    paper.write_text("\\begin{document}" + "\\footnote{" * 5000 + "x" + "}" * 5000 + "\\end{document}")
    proc = extract_cli(paper, tmp_path / "m.yaml")
    assert proc.returncode == 2, proc.stderr
    assert "nested more than" in proc.stderr and proc.stderr.count("\n") == 1


def test_tex_nested_a_few_levels_is_read(tmp_path: Path) -> None:
    paper = tmp_path / "ok.tex"
    paper.write_text("\\begin{document}" + "\\footnote{\\emph{" * 20 + "\\url{https://ok.example/a}" + "}}" * 20
                     + "\\end{document}")
    assert [link.url for link in read_document(paper).links] == ["https://ok.example/a"]


def pdf_with_links(path: Path, pages: int, per_page: int) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=letter)
    for page in range(pages):
        for i in range(per_page):
            url = f"https://site{i % 7}.example/p{page}/{i}"
            canvas.drawString(40, 750 - 10 * (i % 70), f"{i} online: <{url}>")
            canvas.linkURL(url, (40, 748 - 10 * (i % 70), 300, 758 - 10 * (i % 70)), relative=0)
        canvas.showPage()
    canvas.save()


def test_pdf_past_the_page_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.extract import pdf

    path = tmp_path / "long.pdf"
    pdf_with_links(path, 6, 1)
    monkeypatch.setattr(pdf, "MAX_PAGES", 5)
    with pytest.raises(UsageError, match="6 pages, more than the 5"):
        read_document(path)
    monkeypatch.setattr(pdf, "MAX_PAGES", 6)
    assert len(read_document(path).links) == 6


def test_pdf_past_the_link_cap_is_refused_on_the_page_that_passes_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.extract import pdf

    path = tmp_path / "links.pdf"
    pdf_with_links(path, 3, 40)
    monkeypatch.setattr(pdf, "MAX_LINKS", 100)
    with pytest.raises(UsageError, match=r"more than 100 link annotations \(by page 3\)"):
        read_document(path)
    monkeypatch.setattr(pdf, "MAX_LINKS", 120)
    assert len(read_document(path).links) == 120
