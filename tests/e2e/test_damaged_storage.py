"""Damaged and read-only storage, from the installed CLI: a database damaged the ways files are (cut
short, a page of garbage, an index page's bytes flipped, index cells swapped, not SQLite at all, a
write-ahead log from another moment) gives every reading command one line and exit 4 and `verify` a
database_damaged problem and exit 1, never an internal error or a traceback; the daemon's start-up
errors are one line too. A storage folder copied and made read-only (`chmod -R a-w`, read by a user
who is not root: root ignores file modes; and a read-only mount) is read by report, history, show,
verify and export, its write-ahead log included, and nothing in it changes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import dbdamage
import pytest
from conftest import ARCHIVER, REPO, run
from server import TestServer, page

from archiver.lock import holder

ARTICLES = ["a", "b"]
PAGES = [f"p{i}" for i in range(8)]
FLAGS = ["--per-host-delay", "0", "--timeout", "2", "--total-timeout", "6"]


class Archived:
    """A storage folder two snapshot and check rounds made: article a was a page, then a 404."""

    def __init__(self, root: Path, server: TestServer) -> None:
        self.root = root
        self.storage = root / "storage"
        self.manifest = root / "paper.txt"
        self.dead = server.url("article/a")  # 200, then 404 twice
        self.alive = server.url("article/b")
        urls = [server.url(f"article/{name}") for name in ARTICLES] + [server.url(f"page/{name}") for name in PAGES]
        self.manifest.write_text("\n".join(urls) + "\n")


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archived]:
    root = tmp_path_factory.mktemp("damaged")
    with TestServer("127.0.0.1") as server:
        server.state["articles"] = ",".join(ARTICLES)
        made = Archived(root, server)
        for round_ in range(2):
            if round_:
                server.state["articles"] = "b"
                time.sleep(0.01)
            for command in ("snapshot", "check"):
                done = run(made.storage, command, str(made.manifest), *FLAGS)
                assert done.returncode in (0, 1), done.stderr
        dbdamage.checkpointed(made.storage / "archiver.db")
        yield made


@pytest.fixture()
def copy(archived: Archived, tmp_path: Path) -> Path:
    """A copy of the archived storage folder for one test to damage."""
    target = tmp_path / "storage"
    shutil.copytree(archived.storage, target)
    return target


def one_error(stderr: str) -> str:
    """The one line an error is: no traceback, no internal error, nothing else from archiver."""
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("archiver: ")]
    assert len(errors) == 1 and errors[0].startswith("archiver: error: "), stderr
    return errors[0]


def damaged_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("archiver: database_damaged: ")]


# -- damaged databases ---------------------------------------------------------------------------

READS = {"report": ["report"], "report --format json": ["report", "--format", "json"],
         "history": ["history", "{dead}"], "show": ["show", "{dead}"]}
# How the file is damaged; what the one line says after "archiver.db: damaged database: "; which
# reading commands must meet the damage (the others read no damaged page: they may work, as SQLite
# itself lets them, or fail the same way).
DAMAGE: dict[str, tuple[Callable[[Path], object], str, set[str]]] = {
    "truncated": (dbdamage.truncate, r"PRAGMA quick_check stops: database disk image is malformed.*; the file holds"
                                     r" \d+ of the \d+ pages its header counts \(truncated\)", set(READS)),
    "garbage page": (lambda db: dbdamage.garbage_page(db, "url_state"), r"PRAGMA quick_check: .+",
                     {"report", "report --format json"}),
    "not sqlite": (dbdamage.not_sqlite, r"not an SQLite database \(its first bytes are not SQLite's header\)",
                   set(READS)),
    "mismatched wal": (dbdamage.mismatched_wal, r"PRAGMA quick_check: .+", {"report", "report --format json"}),
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_database_is_one_line_and_exit_4_and_verify_names_it(archived: Archived, copy: Path,
                                                                        how: str) -> None:
    damage, finding, must_fail = DAMAGE[how]
    db = copy / "archiver.db"
    damage(db)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    for name, command in READS.items():
        done = run(copy, *(arg.format(dead=archived.dead) for arg in command))
        if done.returncode == 0 and name not in must_fail:
            continue
        assert done.returncode == 4, (name, done.stderr)
        assert re.fullmatch(f"archiver: error: {re.escape(str(db))}: damaged database: {finding}",
                            one_error(done.stderr)), done.stderr
    verified = run(copy, "verify")
    assert verified.returncode == 1, verified.stderr
    found = damaged_lines(verified.stderr)
    assert re.fullmatch(f"archiver: database_damaged: archiver.db: {finding}", found[0]), verified.stderr
    assert verified.stderr.splitlines()[-1].endswith("(not recorded); database quick_check: damaged")
    assert "audit not recorded in the database: the database is damaged" in verified.stderr
    # Nothing was written into the damaged file (nor a WAL made from it): reading changed no byte.
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file() and p.name in before} == before


def test_export_and_status_of_a_damaged_database(archived: Archived, copy: Path) -> None:
    dbdamage.truncate(copy / "archiver.db")
    (copy.parent / "manifests").mkdir()
    for command in (["export", str(archived.manifest), "-o", str(copy.parent / "out.wacz")],
                    ["status", "--manifests", str(copy.parent / "manifests")]):
        done = run(copy, *command)
        assert done.returncode == 4, (command, done.stderr)
        assert "damaged database: " in one_error(done.stderr)
    assert not (copy.parent / "out.wacz").exists() and not list(copy.parent.glob("*.part"))


def test_a_broken_index_is_found_by_verify_while_plain_reads_still_work(archived: Archived, copy: Path) -> None:
    page_no = dbdamage.break_index(copy / "archiver.db", "idx_records_record_id")
    # report, history and show never read that index: they work, as SQLite itself would let them.
    assert run(copy, "report").returncode in (0, 1)
    assert run(copy, "history", archived.alive).returncode == 0
    shown = run(copy, "show", archived.alive)
    assert shown.returncode == 0 and "<title>article b</title>" in shown.stdout
    verified = run(copy, "verify", "--json")
    assert verified.returncode == 1, verified.stderr
    first = damaged_lines(verified.stderr)[0]
    # What SQLite says of the cell depends on the bytes around it; where it is does not.
    assert first.startswith(f"archiver: database_damaged: archiver.db: PRAGMA quick_check: On tree page {page_no}"
                            " cell 0: "), verified.stderr
    doc = json.loads(verified.stdout)
    assert doc["database"]["status"] == "damaged" and doc["database"]["check"] == "quick_check"
    assert doc["problems"][0]["kind"] == "database_damaged" and doc["recorded"] is False


def test_only_verify_full_finds_an_index_that_disagrees_with_its_table(copy: Path) -> None:
    dbdamage.swap_index_cells(copy / "archiver.db", "idx_records_record_id")
    quick = run(copy, "verify")
    # quick_check reads every page, not whether an index agrees with its table. The audit looks some
    # records up through that index: when the swapped cells are those of a revisit's original (record
    # ids are random: now and then), it misreads that one, a finding about records, not the database.
    assert quick.returncode in (0, 1) and "database quick_check: ok" in quick.stderr, quick.stderr
    assert damaged_lines(quick.stderr) == [], quick.stderr
    full = run(copy, "verify", "--full")
    assert full.returncode == 1, full.stderr
    assert re.fullmatch(r"archiver: database_damaged: archiver.db: PRAGMA integrity_check: row \d+"
                                      r" missing from index idx_records_record_id", damaged_lines(full.stderr)[0])
    assert run(copy, "verify", "--quick", "--full").returncode == 2


def test_a_healthy_database_passes_either_check_and_the_audit_is_recorded(copy: Path) -> None:
    for flags in ([], ["--full"]):
        done = run(copy, "verify", "--json", *flags)
        assert done.returncode == 0, done.stderr
        database = json.loads(done.stdout)["database"]
        assert (database["status"], database["finding"], database["file"]) == ("ok", None, "archiver.db")
        assert database["check"] == ("integrity_check" if flags else "quick_check")
        assert json.loads(done.stdout)["recorded"] is True


def test_daemon_start_up_errors_are_one_line(archived: Archived, copy: Path) -> None:
    manifests = copy.parent / "manifests"
    manifests.mkdir()
    shutil.copy(archived.manifest, manifests / "paper.txt")
    jobs = copy / "daemon-jobs.db"
    jobs.write_bytes(b"not the job store at all\n" * 50)
    for mode in (["--once"], []):
        done = run(copy, "daemon", "--manifests", str(manifests), *mode, *FLAGS, timeout=60)
        assert done.returncode == 4, done.stderr
        assert one_error(done.stderr) == (f"archiver: error: {jobs}: damaged database: not an SQLite database (its"
                                          " first bytes are not SQLite's header); the daemon's job store: remove it"
                                          " and every manifest is scheduled anew, due now")
        assert done.stderr.count("\n") == 1, done.stderr  # nothing else: no scheduler log, no traceback
    jobs.unlink()
    dbdamage.garbage_page(copy / "archiver.db", "checks")
    for mode in (["--once"], []):
        done = run(copy, "daemon", "--manifests", str(manifests), *mode, *FLAGS, timeout=60)
        assert done.returncode == 4, done.stderr
        assert one_error(done.stderr).startswith(f"archiver: error: {copy / 'archiver.db'}: damaged database:"
                                                 " PRAGMA quick_check: ")
        assert done.stderr.count("\n") == 1, done.stderr
    assert holder(copy) is None  # the lock was given back


# -- read-only evidence copies ---------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its sha256 and mode, and every folder: what reading must not change."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        mode = oct(stat.S_IMODE(path.lstat().st_mode))
        out[key] = mode if path.is_dir() else f"{mode} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return out


def _read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)


def _writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)


class Reader:
    """Runs the CLI as a user file modes apply to: this one when it is not root; else an unprivileged
    user (tester, or nobody) through setpriv, with an interpreter that user may run (the venv's may
    live in root's home: then the system's python of the same version, with the venv's packages)."""

    def __init__(self, prefix: list[str], python: list[str], env: dict[str, str], uid: int) -> None:
        self.prefix, self.python, self.env, self.uid = prefix, python, env, uid

    def __call__(self, storage: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *self.python, "--storage", str(storage), *args], capture_output=True,
                              text=True, env=self.env, timeout=120, cwd=storage.parent)

    def may_write(self, folder: Path) -> bool:
        """Whether this user can make a file in `folder` (the test's own proof that modes apply)."""
        probe = folder / "probe"
        made = subprocess.run([*self.prefix, "touch", str(probe)], capture_output=True).returncode == 0
        probe.unlink(missing_ok=True)
        return made


def _reader() -> Reader | None:
    env = {**os.environ, "ARCHIVER_BACKOFF": "0.05"}
    if os.geteuid() != 0:
        return Reader([], [ARCHIVER], env, os.geteuid())
    setpriv = shutil.which("setpriv")
    users = [u for u in ("tester", "nobody") if _uid(u) is not None]
    if setpriv is None or not users:
        return None
    user = users[0]
    prefix = [setpriv, "--reuid", user, "--regid", user, "--init-groups"]
    env = {**env, "HOME": tempfile.gettempdir()}
    main = ["-c", "from archiver.cli import main; main()"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = sysconfig.get_paths()["purelib"]
    code = os.environ.get("PYTHONPATH") or str(REPO)  # the code under test, as the console script imports it
    for python, path in ((sys.executable, code), (shutil.which(version) or "", f"{code}:{site}")):
        if not python:
            continue
        trial = {**env, "PYTHONPATH": path}
        probe = subprocess.run([*prefix, python, *main, "--version"], capture_output=True, text=True, env=trial)
        if probe.returncode == 0:
            return Reader(prefix, [python, *main], trial, _uid(user) or 0)
    return None


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


@pytest.fixture()
def evidence() -> Iterator[Path]:
    """A folder anyone may read (pytest's own temporary folders are root's alone), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="archiver-evidence-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        _writable(folder)
        shutil.rmtree(folder)


def _reads_everything(read: Callable[..., subprocess.CompletedProcess[str]], storage: Path, archived: Archived,
                      out: Path) -> None:
    """report, history, show, verify and export over a storage folder nobody may write."""
    report = read(storage, "report", "--format", "json")
    assert report.returncode in (0, 1) and "error" not in report.stderr, report.stderr
    rows = {row["url"]: row for row in json.loads(report.stdout)}
    assert rows[archived.alive]["verdict"] == "alive" and rows[archived.dead]["status"] == "not_found"
    table = read(storage, "report")
    assert table.returncode in (0, 1) and f"{len(rows)} citations: " in table.stdout, table.stderr
    history = read(storage, "history", archived.dead, "--json")
    assert history.returncode == 0, history.stderr
    assert [row["http_status"] for row in json.loads(history.stdout)] == [404, 404, 200, 200]
    shown = read(storage, "show", archived.dead)  # the last good copy, not the 404
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.encode() == page("article a") and "newest good capture" in shown.stderr
    verified = read(storage, "verify")
    assert verified.returncode == 0, verified.stderr
    assert "intact, 0 problems" in verified.stderr and "database quick_check: ok" in verified.stderr
    assert "audit not recorded in the database" in verified.stderr
    # The manifest by the name the database knows it by: its file is in a folder only root may read.
    exported = read(storage, "export", "paper", "-o", str(out / "paper.wacz"))
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(out / "paper.wacz") as wacz:
        assert "datapackage.json" in wacz.namelist() and wacz.testzip() is None


@pytest.mark.parametrize("state", ["checkpointed", "live, -shm copied", "live, -shm left out"])
def test_a_read_only_copy_is_read_by_every_reading_command(archived: Archived, evidence: Path, state: str) -> None:
    """`cp -a` of the storage folder, then `chmod -R a-w`: checkpointed, or taken while a writer had a
    committed capture only in the write-ahead log (with its -shm file, or without: then only a private
    copy can show the capture; immutable=1 would not see it)."""
    reader = _reader()
    if reader is None:
        pytest.skip("running as root with no unprivileged user to read as (root ignores file modes)")
    work = evidence / "work"
    shutil.copytree(archived.storage, work)
    storage = evidence / "storage"
    in_log = None
    if state == "checkpointed":
        shutil.copytree(work, storage)
    else:
        with TestServer("127.0.0.1") as server:
            in_log = server.url("page/only-in-the-log")

            def capture() -> None:
                done = run(work, "snapshot", in_log, *FLAGS)
                assert done.returncode == 0, done.stderr

            dbdamage.live_copy(work, storage, capture, shm=state == "live, -shm copied")
    out = evidence / "out"
    out.mkdir()
    os.chown(out, reader.uid, -1)
    _read_only(storage)
    before = _tree(storage)
    assert not reader.may_write(storage) and not reader.may_write(storage / "warcs")
    assert reader.may_write(out)
    _reads_everything(reader, storage, archived, out)
    if in_log is not None:
        history = reader(storage, "history", in_log)
        assert history.returncode == 0 and "200" in history.stdout, history.stderr
    assert _tree(storage) == before  # not a byte, not a mode, not a new file (no -wal, -shm, journal)
    assert not list(Path(tempfile.gettempdir()).glob("archiver-readonly-*"))  # private copies removed


def test_a_read_only_mount_is_read_by_every_reading_command(archived: Archived, evidence: Path) -> None:
    """The storage folder on a read-only mount (a bind mount remounted ro, as root): write-once media."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to make a read-only mount")
    source = evidence / "source"
    work = evidence / "work"
    shutil.copytree(archived.storage, work)
    with TestServer("127.0.0.1") as server:
        in_log = server.url("page/only-in-the-log")
        dbdamage.live_copy(work, source, lambda: run(work, "snapshot", in_log, *FLAGS), shm=False)
    storage = evidence / "storage"
    storage.mkdir()
    if subprocess.run(["mount", "--bind", str(source), str(storage)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        assert subprocess.run(["mount", "-o", "remount,ro,bind", str(storage)], capture_output=True).returncode == 0
        with pytest.raises(OSError):
            (storage / "probe").touch()  # read-only for root too
        before = _tree(storage)
        out = evidence / "out"
        out.mkdir()
        _reads_everything(lambda s, *a: run(s, *a), storage, archived, out)
        history = run(storage, "history", in_log)
        assert history.returncode == 0 and "200" in history.stdout, history.stderr
        assert _tree(storage) == before
    finally:
        subprocess.run(["umount", str(storage)], check=True)
