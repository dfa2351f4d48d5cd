"""archiver/cluster/ without a cluster: the host split, the `cluster` setting, Dask left unimported
without it, the install hint, the WARC files of tasks (LooseWarcs, adopt, sweep), and the client's
memory, flat in the number of URLs (the run's log)."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, require_module
from server import TestServer
from warcio.archiveiterator import ArchiveIterator

from archiver.archive import Archive
from archiver.config import Settings, load_settings
from archiver.errors import ConfigError
from archiver.outcomes import Outcome, RunLog, Summary, capture_row
from archiver.run import Job, Run, Stored
from archiver.storage import OPEN_SUFFIX, LooseWarcs
from archiver.urls import host_of
from archiver.warc import RecordBuilder


def jobs_over(hosts: dict[str, int]) -> list[Job]:
    return [Job(f"http://{host}/p{n}", f"http://{host}/p{n}", None, None) for host, count in hosts.items()
            for n in range(count)]


def test_host_batches_keep_every_host_whole_and_in_one_batch() -> None:
    require_module("distributed", "pip install 'archiver[cluster]'")
    from archiver.cluster.engine import host_batches

    sizes = {f"h{i}.test": 1 + i % 7 for i in range(50)} | {"big.test": 40}
    jobs = jobs_over(sizes)
    log = RunLog()
    log.plan([*jobs, *jobs[:5]])  # a URL cited twice is fetched once
    batches = list(host_batches(log, 6, most=30))
    seen = Counter(job.fetch_url for batch in batches for job in batch)
    assert set(seen) == {job.fetch_url for job in jobs} and set(seen.values()) == {1}
    where: dict[str, int] = {}
    for i, batch in enumerate(batches):
        for job in batch:
            assert where.setdefault(host_of(job.fetch_url), i) == i  # a host never split
    assert len(batches[0]) == 40  # the biggest host first, alone past `most`
    hosts = [len({host_of(j.fetch_url) for j in b}) for b in batches]
    assert all(n <= 6 for n in hosts) and all(len(b) < 30 + 7 for b in batches[1:])
    assert sum(1 for n in hosts if n == 6) >= 5  # small hosts gathered six to a task


def test_a_batch_has_the_hosts_its_share_of_the_concurrency_needs_however_big_they_are() -> None:
    """With many URLs a host, cutting batches at `most` URLs left tasks with 3 hosts, so 3 fetches in
    flight where the task's share was 8: a 100,000-URL run over 500 hosts went at a third of the
    speed. A batch now closes on URLs only once it has `least` hosts."""
    require_module("distributed", "pip install 'archiver[cluster]'")
    from archiver.cluster.engine import host_batches

    log = RunLog()
    log.plan(jobs_over({f"h{i:02d}.test": 200 for i in range(40)}))
    batches = list(host_batches(log, 20, most=500, least=8))
    hosts = [len({host_of(j.fetch_url) for j in b}) for b in batches]
    assert hosts == [8] * 5 and sum(len(b) for b in batches) == 8_000
    assert [len({host_of(j.fetch_url) for j in b}) for b in host_batches(log, 20, most=500)] == [3] * 13 + [1]
    # What one task's results bring the client stays bounded: at most 4 x `most` URLs, then whole hosts.
    assert [len(b) for b in host_batches(log, 40, most=500, least=20)] == [2_000] * 4


@pytest.mark.parametrize("value", ["local:2", "tcp://10.0.0.5:8786", "tls://sched.example:8786"])
def test_cluster_setting_takes_local_n_and_scheduler_addresses(value: str) -> None:
    assert load_settings(env={"ARCHIVER_CLUSTER": value}).cluster == value


@pytest.mark.parametrize("value", ["local:0", "local:x", "10.0.0.5:8786", "two words"])
def test_cluster_setting_refuses_anything_else(value: str) -> None:
    with pytest.raises(ConfigError, match="cluster must be"):
        load_settings(env={"ARCHIVER_CLUSTER": value})


def test_config_file_key_and_flag(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text('cluster = "local:3"\n')
    assert load_settings(config, env={}).cluster == "local:3"
    assert load_settings(config, env={}, cluster="tcp://127.0.0.1:1").cluster == "tcp://127.0.0.1:1"
    assert load_settings(env={}).cluster is None


def test_no_dask_imported_without_cluster(tmp_path: Path, server: TestServer) -> None:
    code = (
        "import sys\n"
        "import archiver.cli\n"
        "from pathlib import Path\n"
        "from archiver.config import Settings\n"
        "from archiver.snapshot import snapshot\n"
        f"s = snapshot(Settings(storage=Path({str(tmp_path / 'st')!r}), allow_private=True, per_host_delay=0,"
        " reachability=(), capture='http'),"
        f" [{server.url('/page/no-dask')!r}])\n"
        "assert s.counts['captured'] == 1, s.counts\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cluster_without_dask_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if archiver[cluster] were not installed\n"
        "from archiver.cli import main\n"
        f"sys.argv = ['archiver', '--storage', {str(tmp_path / 'st')!r}, 'snapshot', 'http://example.invalid/',"
        " '--cluster', 'local:2']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()  # cwd is the clone: the editable install's hint
    assert lines == ["archiver: error: --cluster needs Dask: pip install -e '.[cluster]'"]


def loose(root: Path, tag: str) -> LooseWarcs:
    return LooseWarcs(root, tag, max_size=10_000, user_agent="test", builder=RecordBuilder())


def test_a_task_file_is_whole_when_closed_and_adopted_with_its_warcinfo(tmp_path: Path) -> None:
    settings = Settings(storage=tmp_path)
    with Archive(settings) as archive:
        warcs = loose(tmp_path, "cluster-r7-w0")
        warcs.prepare(10)
        assert list((tmp_path / "warcs").glob("cluster-r7-w0-*.warc.gz" + OPEN_SUFFIX))
        warcs.close()
        (done,) = warcs.done
        path = tmp_path / done.name
        assert path.stat().st_size == done.size and not list((tmp_path / "warcs").glob("*" + OPEN_SUFFIX))
        with open(path, "rb") as f:
            assert [r.rec_type for r in ArchiveIterator(f)] == ["warcinfo"]
        with archive.db.transaction():
            archive.store.adopt(done)
        assert archive.db.committed_end(done.name) == done.size
        assert archive.store.sweep("cluster-r7-") == []  # recorded: kept


def test_sweep_removes_what_a_dead_task_left_but_not_a_live_one(tmp_path: Path) -> None:
    with Archive(Settings(storage=tmp_path)) as archive:
        dead, live = loose(tmp_path, "cluster-r3-w0"), loose(tmp_path, "cluster-r3-w1")
        dead.prepare(10)
        dead.abandon()  # its process is gone: nothing holds the file
        live.prepare(10)
        finished = loose(tmp_path, "cluster-r3-w2")
        finished.prepare(10)
        finished.close()  # whole, but its result never reached the client
        other = loose(tmp_path, "cluster-r4-w0")
        other.prepare(10)
        other.abandon()
        removed = archive.store.sweep("cluster-r3-")
        assert len(removed) == 2
        left = sorted(p.name for p in (tmp_path / "warcs").iterdir() if p.name != ".lock")
        assert len(left) == 2 and any(n.startswith("cluster-r3-w1") for n in left)
        assert any(n.startswith("cluster-r4-") for n in left)
        assert live.current is not None
        fd = os.open(live.current.path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # still held by its writer
        finally:
            os.close(fd)
        assert archive.store.sweep("cluster-r", lambda name: name.startswith("cluster-r4-")) == []


def client_side_peak(settings: Settings, n: int) -> tuple[int, dict[str, Any]]:
    """Peak Python heap (tracemalloc) of a cluster client's side of an n-URL run, without Dask: the
    jobs planned from a stream of citations (10 URLs a host), the batches read back, each batch's
    synthetic task result recorded, then the --json summary written; and that summary."""
    from archiver.cluster.engine import ClusterEngine, host_batches
    from archiver.cluster.task import BatchResult
    from archiver.snapshot import SnapshotKind

    def cited() -> Iterator[Job]:
        for i in range(n):
            url = f"http://h{i // 10}.test/p{i}"
            yield Job(url, url, "m.txt", None)

    with Archive(settings) as archive:
        run_id = archive.db.start_run("snapshot", ["m.txt"])
        run = Run(settings, archive, SnapshotKind())
        summary = Summary(run_id, RunLog())
        run.outcomes = summary.outcomes
        engine = ClusterEngine("tcp://127.0.0.1:1")
        gc.collect()
        tracemalloc.start()
        try:
            summary.outcomes.plan(cited())
            for batch in host_batches(summary.outcomes, 5):
                stored = []
                for job in batch:
                    outcome = Outcome(job.url, job.fetch_url, job.manifest, job.citation_id, "failed",
                                      "connection_error", error="connection refused")
                    stored.append(Stored(job, outcome, capture_row(outcome, run_id, None, None)))
                engine._record(run, BatchResult("w0", stored=stored), run_id)
            written = sum(len(chunk) for chunk in summary.json_chunks())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    as_json = json.loads(summary.to_json())
    assert written == len(summary.to_json())
    return peak, as_json


def test_the_client_side_of_a_cluster_run_keeps_no_list_of_its_urls(tmp_path: Path) -> None:
    """Planning, recording and the --json summary of 20,000 URLs take no more Python heap than of
    2,000 (before: about 2 KB a URL): jobs and outcomes live in the run's log on disk."""
    require_module("distributed", "pip install 'archiver[cluster]'")
    peaks = {}
    for n in (2_000, 20_000):
        settings = Settings(storage=tmp_path / str(n))
        peaks[n], summary = client_side_peak(settings, n)
        assert summary["failed"] == n and summary["unattempted"] == []
        assert len(summary["urls"]) == n
        assert len({u["fetch_url"] for u in summary["urls"]}) == n  # every URL, once
    assert peaks[20_000] - peaks[2_000] < 256 * 1024, peaks  # 18,000 URLs more: < 15 bytes each


def test_unattempted_are_the_planned_urls_with_no_outcome_in_planned_order() -> None:
    log = RunLog()
    log.plan(Job(f"http://h{i % 3}.test/{i}", f"http://h{i % 3}.test/{i}", None, None) for i in range(9))
    log.plan([Job("not a url", "not a url", None, None, invalid_reason="no scheme")])
    log.extend([Outcome("http://h1.test/4", "http://h1.test/4", None, None, "captured", "ok", 200)])
    summary = Summary(1, log)
    assert summary.unattempted == [f"http://h{i % 3}.test/{i}" for i in range(9) if i != 4] + ["not a url"]
    assert summary.counts == {"captured": 1, "unchanged": 0, "failed": 0} and len(log) == 1
    assert json.loads(summary.to_json())["unattempted"] == summary.unattempted


RUN_LOG_FULL = """
import resource, signal, sys
from archiver.errors import StorageError
from archiver.outcomes import Outcome, RunLog
log = RunLog()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
try:
    for n in range(200):
        log.extend(Outcome(f"http://h/{n}/{i}", f"http://h/{n}/{i}", None, None, "failed", "dns_error",
                           error="x" * 500) for i in range(100))
except StorageError as exc:
    print("StorageError:", exc)
"""


def test_a_full_temporary_folder_stops_the_run_log_with_a_storage_error() -> None:
    """The run log spills to SQLite's temporary folder past a small cache: when that cannot grow, the
    run stops with a storage error (exit 4) that names the folder, never an internal error."""
    proc = subprocess.run([sys.executable, "-c", RUN_LOG_FULL], capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("StorageError: the run's temporary log"), proc.stdout + proc.stderr
