"""archiver/browse.py: the Datasette metadata is built from the database itself, describes every table
and view of the current schema, offers facets only on columns that exist, and links URL cells to replay;
`archiver browse` without Datasette says how to install it (exit 2); --metadata-only writes the file
and never writes the database."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from conftest import invoke

from archiver.browse import CANNED, COLUMNS, FACETS, NOTES, Shape, metadata, read_shape, replay_link
from archiver.db import ArchiveDB


def fresh(tmp_path: Path) -> Path:
    path = tmp_path / "storage" / "archiver.db"
    path.parent.mkdir()
    ArchiveDB.open(path).close()  # created and migrated to the current schema
    return path


def test_every_table_and_view_of_the_schema_is_described(tmp_path: Path) -> None:
    shape = read_shape(fresh(tmp_path))
    names = [*shape.tables, *shape.views]
    assert {"citations", "checks", "captures", "citation_verdicts", "latest_checks"} <= set(names)
    missing = [name for name in names if name not in NOTES]
    assert not missing, f"describe these in archiver/browse.py NOTES: {missing}"
    assert not set(NOTES) - set(names), "NOTES describes tables the schema no longer has"
    tables = metadata(shape, "archiver")["databases"]["archiver"]["tables"]
    for name in names:
        assert tables[name]["title"] and len(tables[name]["description"]) > 40, name
        assert set(tables[name].get("facets", [])) == {c for c in FACETS if c in shape.columns(name)}
        assert set(tables[name].get("columns", {})) <= set(shape.columns(name)) & set(COLUMNS)
    assert tables["citation_verdicts"]["facets"] == ["verdict", "status", "host"]


def test_canned_queries_only_where_their_tables_are(tmp_path: Path) -> None:
    shape = read_shape(fresh(tmp_path))
    queries = metadata(shape, "archiver")["databases"]["archiver"]["queries"]
    assert list(queries) == [q.name for q in CANNED]
    assert {":since", ":url"} <= {p for q in queries.values() for p in (":since", ":url") if p in q["sql"]}
    shape.views.pop("citation_verdicts")  # an older database, say
    assert set(metadata(shape, "archiver")["databases"]["archiver"]["queries"]) == {"captures_of_url", "failed_runs"}


def test_replay_links() -> None:
    prefix = "http://127.0.0.1:8080/archive/"
    row = {"url": "http://Example.org/a", "fetch_url": "http://example.org/a",
           "captured_at": "2024-05-01T12:34:56.789000Z"}
    assert replay_link(prefix, row, "url") == prefix + "20240501123456/http://example.org/a"
    assert replay_link(prefix, {"url": "https://x.org/"}, "url") == prefix + "https://x.org/"  # its newest capture
    assert replay_link(prefix, {"url": "javascript:alert(1)"}, "url") is None
    assert replay_link(prefix, {"status": "https://x.org/"}, "status") is None  # only URL columns
    meta = metadata(Shape({}, {}), "archiver", "http://127.0.0.1:8080/archive")
    assert meta["plugins"]["archiver-browse"]["replay_url"] == prefix


def test_metadata_only_writes_the_file_and_not_the_database(tmp_path: Path) -> None:
    db = fresh(tmp_path)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    target = tmp_path / "meta.json"
    out = invoke(db.parent, "browse", "--metadata-only", str(target), "--replay-url", "http://127.0.0.1:8080/x/")
    assert out.exit_code == 0, out.output
    meta = json.loads(target.read_text())
    assert "citation_verdicts" in meta["databases"]["archiver"]["tables"]
    again = invoke(db.parent, "browse", "--metadata-only", str(target))
    assert again.exit_code == 2 and "--force" in again.output
    assert invoke(db.parent, "browse", "--metadata-only", str(target), "--force").exit_code == 0
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    missing = invoke(tmp_path / "nothing", "browse", "--metadata-only", str(tmp_path / "m2.json"))
    assert missing.exit_code == 4 and not (tmp_path / "nothing").exists()


def test_without_datasette_one_line_hint_and_exit_2(tmp_path: Path) -> None:
    """A process where `import datasette` fails, as where the extra is not installed."""
    code = ("import sys; sys.modules['datasette'] = None; from archiver.cli import main;"
            f" sys.argv = ['archiver', '--storage', {str(fresh(tmp_path).parent)!r}, 'browse']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("archiver: error: archiver browse needs Datasette: pip install ")
    assert "[browse]'" in lines[0]
