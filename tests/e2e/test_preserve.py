"""`archiver preserve` from the installed CLI: a small Markdown paper citing the test server (an alive page,
a 404, a page that drifts) becomes manifests/paper.yaml and a folder holding the HTML report, a WACZ that
`wacz validate` accepts and the robust-links copy; a second run checks again and updates the folder; the
exit code is the one `archiver report` gives for the same database. A dead citation's copy is looked up in
a real local pywb archive and linked in the robust copy."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAST, require_module, run
from mementos import Held, Pywb
from server import page

require_module("wacz", "the replay extra: pip install -e '.[replay]'")
WACZ = str(Path(sys.executable).with_name("wacz"))
NOW = ["--confirm-checks", "1", "--confirm-days", "0"]  # dead at the first failed check


PAIRS = Path(__file__).resolve().parent.parent / "drift_pairs"


class Site:
    """A loopback site that knows its pages (anything else: 404, so a missing page is no soft-404):
    `pages` maps a path to the HTML served, and the test changes it between runs."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                body = body if body is not None else b"<html><title>Not Found</title>no such page</html>"
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def site() -> Iterator[Site]:
    web = Site()
    web.pages = {"/news/floods": (PAIRS / "news-floods.html").read_bytes(),
                 "/blog/swifts": (PAIRS / "blog-swifts.html").read_bytes()}
    yield web
    web.stop()


def write_paper(folder: Path, site: Site) -> tuple[Path, dict[str, str]]:
    urls = {"alive": site.url("/news/floods"), "gone": site.url("/gone/page"), "drifting": site.url("/blog/swifts")}
    paper = folder / "paper.md"
    paper.write_text("# A paper\n\n" + "".join(f"See [the {k} source]({u}) for more.\n\n" for k, u in urls.items()))
    return paper, urls


def verdicts(html: str, urls: dict[str, str]) -> dict[str, str]:
    rows = html.split("<tr data-verdict=\"")[1:]
    out = {}
    for name, url in urls.items():
        [row] = [r for r in rows if f">{url}<" in r or f"\"{url}\"" in r]
        out[name] = row.split("\"", 1)[0]
    return out


def check_runs(html: str) -> set[str]:
    return set(re.findall(r"<title>run (\d+) ", html))


def test_preserve_writes_the_folder_and_a_second_run_updates_it(site: Site, tmp_path: Path) -> None:
    paper, urls = write_paper(tmp_path, site)
    storage, out = tmp_path / "storage", tmp_path / "out"
    ours = ["--ours", "https://replay.example.org/paper"]

    first = run(storage, "preserve", "paper.md", "-o", "out", *ours, *FAST, cwd=tmp_path, timeout=120)
    report = run(storage, "report", cwd=tmp_path)
    assert first.returncode == report.returncode == 0, first.stderr  # the 404 is failing, not yet dead
    manifest = tmp_path / "manifests" / "paper.yaml"
    assert set(re.findall(r"url: (\S+)", manifest.read_text())) == set(urls.values())
    html = (out / "report.html").read_text()
    assert verdicts(html, urls) == {"alive": "alive", "gone": "failing", "drifting": "alive"}
    assert len(check_runs(html)) == 1

    validated = subprocess.run([WACZ, "validate", "-f", str(out / "paper.wacz")], capture_output=True, text=True,
                               timeout=120)
    assert validated.returncode == 0 and "Validation succeeded" in validated.stdout, validated.stdout
    robust = (out / "paper.robust.md").read_text()
    assert robust.startswith(paper.read_text().split("\n\n")[0])
    for name in ("alive", "drifting"):  # captured: linked to our replay; the 404 never was
        assert re.search(rf"\({re.escape(urls[name])}\) \(\[archived\]\(https://replay\.example\.org/paper/\d{{14}}/",
                         robust), name
    assert "[archived]" not in robust.split(urls["gone"])[1].split("\n")[0]
    summary = json.loads((out / "preserve.json").read_text())
    assert summary["papers"][0]["manifest_state"] == "written" and len(summary["snapshot_runs"]) == 1

    site.pages["/blog/swifts"] = (PAIRS / "blog-swifts-rewrite.html").read_bytes()
    second = run(storage, "preserve", "paper.md", "-o", "out", "--json", *ours, *NOW, *FAST, cwd=tmp_path,
                 timeout=120)
    report = run(storage, "report", *NOW, cwd=tmp_path)
    assert second.returncode == report.returncode == 1, second.stderr  # now dead under this policy
    done = json.loads(second.stdout)
    assert done["papers"][0]["manifest_state"] == "unchanged" and done["snapshot_runs"] == []
    assert done["verdicts"] == {"alive": 1, "dead": 1, "drifted": 1}
    assert {Path(p).name for p in done["written"]} == {"report.html", "paper.wacz", "paper.robust.md", "preserve.json"}
    html = (out / "report.html").read_text()
    assert verdicts(html, urls) == {"alive": "alive", "gone": "dead", "drifting": "drifted"}
    assert len(check_runs(html)) == 2
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))


def test_edited_manifest_is_kept_and_foreign_files_are_not_overwritten(site: Site, tmp_path: Path) -> None:
    paper, urls = write_paper(tmp_path, site)
    storage = tmp_path / "storage"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "report.html").write_text("mine")
    refused = run(storage, "preserve", "paper.md", "-o", "taken", *FAST, cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (tmp_path / "taken" / "report.html").read_text() == "mine" and not (tmp_path / "storage").exists()

    manifest = tmp_path / "manifests" / "paper.yaml"
    manifest.parent.mkdir()
    manifest.write_text(f"citations:\n- url: {urls['alive']}\n  id: mine\n")  # a person's own manifest
    done = run(storage, "preserve", "paper.md", "-o", "out", "--json", *FAST, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["papers"][0]["manifest_state"] == "kept"
    assert "kept as it is" in done.stderr and "id: mine" in manifest.read_text()
    assert json.loads(done.stdout)["verdicts"] == {"alive": 1}  # the manifest as the person left it
    assert "pass --ours" in done.stderr  # no public copy, no --ours: no robust copy, and why
    assert not (tmp_path / "out" / "paper.robust.md").exists()


@pytest.fixture()
def archive(tmp_path: Path, site: Site) -> Iterator[Pywb]:
    gone = site.url("/gone/page")
    pywb = Pywb(tmp_path / "ia", "web", [Held(gone, "20200101120000", 200, page("the gone page, as it was"))])
    yield pywb
    pywb.stop()


def test_dead_citations_get_copies_from_another_archive(site: Site, tmp_path: Path, archive: Pywb) -> None:
    paper, urls = write_paper(tmp_path, site)
    config = tmp_path / "archiver.toml"
    timemap = f"http://127.0.0.1:{archive.port}/web/timemap/link/{{url}}"
    config.write_text(f'archives = [{{name = "internet_archive", timemap = "{timemap}", wayback = true}}]\n')
    done = run(tmp_path / "storage", "preserve", "paper.md", "-o", "out", "--json", *NOW, *FAST, cwd=tmp_path,
               env={"ARCHIVER_CONFIG": str(config)}, timeout=120)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["copies"] == {"looked_up": 1, "found": 1}
    robust = (tmp_path / "out" / "paper.robust.md").read_text()
    assert re.search(rf"\({re.escape(urls['gone'])}\) \(\[archived\]\(http://127\.0\.0\.1:{archive.port}/web/"
                     r"20200101120000", robust), robust
    assert "copy elsewhere" in (tmp_path / "out" / "report.html").read_text()
