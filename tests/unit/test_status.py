"""The library behind `archiver status`, on real files: before the first run (schedules only, nothing
created), after runs driven by a test clock (last runs from the archive database, next runs from the
daemon's job store, verdict counts), and the errors it raises."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from server import TestServer

from archiver.config import Settings
from archiver.daemon import Daemon
from archiver.errors import StorageError, UsageError
from archiver.schedule import job_id, jobs_path, make_trigger
from archiver.status import ManifestStatus, next_runs, status

T0 = dt.datetime(2026, 3, 2, 0, 0, 7, tzinfo=dt.UTC)


def settings_for(tmp_path: Path) -> Settings:
    return Settings(storage=tmp_path / "storage", per_host_delay=0, timeout=2, total_timeout=4, backoff=0.05,
                    allow_private=True)  # the test server is on 127.0.0.1


def once(settings: Settings, folder: Path, at: dt.datetime) -> list[dict[str, object]]:
    out = io.StringIO()
    assert Daemon(settings, folder, log_format="json", out=out, clock=lambda: at).once() == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def first_turn(path: Path, kind: str, spec: str, anchor: dt.datetime) -> dt.datetime:
    """Where a job's grid starts when its manifest is first seen at `anchor`."""
    fire = make_trigger(spec, job_id(str(path), kind), anchor).trigger.get_next_fire_time(None, anchor)
    assert isinstance(fire, dt.datetime)
    return fire


def test_before_the_first_run_status_shows_schedules_and_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text("schedule: {snapshot: '0 3 * * mon', check: 12h}\n"
                                   "citations:\n  - url: https://example.org/a\n  - https://example.org/a2\n")
    (folder / "b.txt").write_text("https://example.org/b\n")
    (folder / "broken.yaml").write_text("citations: [\n")
    (folder / ".a.yaml.swp").write_text("not a manifest")
    settings = settings_for(tmp_path)
    rows = status(settings, folder)
    assert [Path(r.manifest).name for r in rows] == ["a.yaml", "b.txt", "broken.yaml"]
    a, b, broken = rows
    assert a == ManifestStatus(str(folder / "a.yaml"), {"snapshot": "0 3 * * mon", "check": "12h"},
                               {"snapshot": None, "check": None}, {"snapshot": None, "check": None},
                               {"unchecked": 2})
    assert b.schedule == {"snapshot": "7d", "check": "1d"} and b.verdicts == {"unchecked": 1}  # the defaults
    assert broken.error is not None and "broken.yaml" in broken.error and broken.schedule == {}
    assert not settings.storage.exists()  # read-only: no database, no job store, no folder


def test_after_runs_status_shows_last_and_next_runs_and_verdicts(tmp_path: Path, fresh_server: TestServer) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    fresh_server.state["articles"] = "s1,s2"
    a = folder / "a.yaml"
    a.write_text("schedule: {snapshot: 1d, check: 12h}\ncitations:\n"
                 + "".join(f"  - url: {fresh_server.url('article/' + name)}\n" for name in ("s1", "s2", "gone")))
    settings = settings_for(tmp_path)
    once(settings, folder, T0)
    (row,) = status(settings, folder)
    assert row.error is None and row.schedule == {"snapshot": "1d", "check": "12h"}
    assert row.next == {"snapshot": first_turn(a, "snapshot", "1d", T0), "check": first_turn(a, "check", "12h", T0)}
    last = row.last
    assert last["snapshot"] is not None and last["check"] is not None
    assert (last["snapshot"]["status"], last["check"]["status"]) == ("done", "done")
    assert last["snapshot"]["id"] < last["check"]["id"]  # the snapshot ran first
    assert row.verdicts == {"alive": 2, "failing": 1}

    # Half a day on, only the check was due: its last run moves, the snapshot's stays.
    half_day = T0 + dt.timedelta(hours=12, minutes=30)
    once(settings, folder, half_day)
    (later,) = status(settings, folder)
    assert later.last["snapshot"] == last["snapshot"]
    assert later.last["check"] is not None and later.last["check"]["id"] > last["check"]["id"]
    assert later.next["snapshot"] == row.next["snapshot"]
    assert later.next["check"] == row.next["check"] + dt.timedelta(hours=12)  # type: ignore[operator]


def test_status_refuses_what_is_not_a_folder_or_not_a_job_store(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with pytest.raises(UsageError, match="not a folder of manifests"):
        status(settings, tmp_path / "nowhere")
    assert next_runs(settings.storage) == {}  # no daemon ever ran here
    settings.storage.mkdir()
    jobs_path(settings.storage).write_bytes(b"not a database, not at all" * 100)
    folder = tmp_path / "manifests"
    folder.mkdir()
    with pytest.raises(StorageError, match="cannot read the daemon's job store"):
        status(settings, folder)
