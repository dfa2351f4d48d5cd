"""When the daemon's jobs run, driven by a clock instead of waiting: grids keep their phase for years,
missed turns coalesce into one catch-up run, cron schedules fire in their minute, new and edited
manifests are picked up. The daemon tests run `Daemon.once()` with a test clock against a real server,
with real job store and archive database files; the wiring on real time is tests/e2e/test_daemon.py's."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import pickle
import pickletools
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from server import TestServer

from archiver import stamps
from archiver.config import Settings
from archiver.cron import weekdays
from archiver.daemon import Daemon
from archiver.errors import StorageError
from archiver.schedule import (
    MAX_JITTER,
    GridTrigger,
    job_id,
    job_parts,
    jobs_path,
    make_trigger,
    manifest_files,
    next_turn,
    phase,
    retry_time,
)
from archiver.status import next_runs

T0 = dt.datetime(2026, 3, 2, 0, 0, 7, tzinfo=dt.UTC)  # a Monday
DAY = dt.timedelta(days=1)


class Clock:
    """The daemon's clock in these tests: stands still until the test moves it."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, by: dt.timedelta) -> None:
        self.at += by


# -- the maths alone --------------------------------------------------------------------------------


def test_interval_runs_keep_their_phase_for_years() -> None:
    """APScheduler's jitter delays each run and counts the next interval from the late start; ours
    keeps every job on its own fixed grid, so a daily check is still at its phase after 10 years."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    phases = []
    for m in range(50):
        trigger = pickle.loads(pickle.dumps(make_trigger("1d", f"manifests/p{m}.yaml:check", now).trigger))
        fire = trigger.get_next_fire_time(None, now)
        first = fire
        for _ in range(3650):
            fire = trigger.get_next_fire_time(fire, fire)
        assert fire - first == dt.timedelta(days=3650)
        phases.append((first - now).total_seconds())
    assert all(86400 <= p < 86400 + 600 for p in phases)
    assert len({round(p) for p in phases}) > 40  # fifty manifests do not all start at once
    # After downtime the next run is the next point of the grid, not "now + interval".
    trigger = make_trigger("15m", "a.yaml:snapshot", now).trigger
    first = trigger.get_next_fire_time(None, now)
    later = trigger.get_next_fire_time(None, now + dt.timedelta(hours=5, seconds=1))
    assert (later - first) % dt.timedelta(minutes=15) == dt.timedelta(0)
    assert dt.timedelta(0) < later - (now + dt.timedelta(hours=5, seconds=1)) <= dt.timedelta(minutes=15)


def test_a_jobs_phase_is_the_same_in_every_process() -> None:
    """A restarted daemon must put a job back on the same grid: the phase may not depend on the
    process (as Python's salted hash() would)."""
    keys = ["manifests/a.yaml:check", "manifests/b.yaml:snapshot", "x:check"]
    here = [phase(key, 600) for key in keys]
    code = f"from archiver.schedule import phase; print([phase(k, 600) for k in {keys!r}])"
    for seed in ("1", "2"):
        there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert json.loads(there) == here
    assert all(0 <= p < 600 for p in here) and len(set(here)) == 3


@pytest.mark.parametrize(("spec", "spread"), [("30s", 3.0), ("15m", 90.0), ("12h", MAX_JITTER), ("7d", MAX_JITTER)])
def test_the_phase_is_a_tenth_of_the_interval_at_most_ten_minutes(spec: str, spread: float) -> None:
    seconds = make_trigger(spec).interval
    assert seconds is not None
    offsets = [(make_trigger(spec, f"m{i}.yaml:check", T0).trigger.start_date - T0).total_seconds() - seconds
               for i in range(200)]
    assert all(0 <= o < spread for o in offsets)
    assert max(offsets) > spread * 0.9  # the whole spread is used


def test_a_grid_runs_strictly_after_a_run_that_ended_on_one_of_its_points() -> None:
    trigger = make_trigger("1h", "a.yaml:check", T0).trigger
    point = trigger.get_next_fire_time(None, T0)
    assert next_turn(trigger, point) == point + dt.timedelta(hours=1)
    assert next_turn(trigger, point - dt.timedelta(microseconds=1)) == point
    assert next_turn(trigger, point + dt.timedelta(hours=5, minutes=1)) == point + dt.timedelta(hours=6)


def test_cron_runs_within_the_minute_it_names() -> None:
    schedule = make_trigger("0 3 * * mon", "a.yaml:snapshot", T0)
    assert schedule.interval is None
    monday = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
    for _ in range(20):  # its jitter is random: every draw stays within the minute
        fire = schedule.trigger.get_next_fire_time(None, T0)
        assert monday <= fire < monday + dt.timedelta(minutes=1)
    after = next_turn(schedule.trigger, monday + dt.timedelta(seconds=30))
    assert monday + 7 * DAY <= after < monday + 7 * DAY + dt.timedelta(minutes=1)


def test_numeric_weekdays_are_crontabs() -> None:
    """APScheduler 3 numbers weekdays from Monday = 0 (its issue 286); crontab from Sunday = 0 (and 7)."""
    monday = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
    fire = make_trigger("0 3 * * 1", "a.yaml:snapshot", monday - dt.timedelta(hours=1)).trigger.get_next_fire_time(
        None, monday - dt.timedelta(hours=1))
    assert monday <= fire < monday + dt.timedelta(minutes=1)


@pytest.mark.parametrize(("field", "names"), [
    ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("5-7", "fri,sat,sun"), ("*/2", "sun,tue,thu,sat"),
    ("0,7", "sun"), ("1/3", "mon,thu,sun"), ("mon-fri", "mon-fri"), ("*", "*"), ("1,sat", "mon,sat"),
])
def test_crontab_weekday_numbers_become_names(field: str, names: str) -> None:
    assert weekdays(field) == names


@pytest.mark.parametrize("field", ["8", "3-1", "*-2"])
def test_weekday_numbers_outside_crontab_are_refused(field: str) -> None:
    with pytest.raises(ValueError):
        weekdays(field)


def test_job_stores_written_before_the_split_still_load() -> None:
    """Job stores pickled GridTrigger as archiver.daemon.GridTrigger: that name must keep loading."""
    trigger = make_trigger("2h", "a.yaml:check", T0).trigger
    data = pickle.dumps(trigger, protocol=0)  # protocol 0 names classes as text: module, newline, name
    assert b"archiver.schedule\nGridTrigger" in data
    old = data.replace(b"archiver.schedule\nGridTrigger", b"archiver.daemon\nGridTrigger")
    pickletools.dis(old, io.StringIO())  # still a well-formed pickle
    loaded = pickle.loads(old)
    assert isinstance(loaded, GridTrigger)
    assert loaded.get_next_fire_time(None, T0) == trigger.get_next_fire_time(None, T0)


def test_job_ids_and_the_manifests_a_folder_schedules(tmp_path: Path) -> None:
    assert job_parts(job_id("/srv/papers/a:b.yaml", "check")) == ("/srv/papers/a:b.yaml", "check")
    for name in ("b.txt", "a.yaml", "C.YML", "d.csv", ".a.yaml.swp", ".hidden.yaml", "notes.md"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub.yaml").mkdir()
    assert [p.name for p in manifest_files(tmp_path)] == ["C.YML", "a.yaml", "b.txt", "d.csv"]


# -- the daemon on a test clock ---------------------------------------------------------------------


def manifest(folder: Path, server: TestServer, name: str, schedule: str, pages: list[str]) -> str:
    known = set(filter(None, server.state.get("articles", "").split(",")))
    server.state["articles"] = ",".join(sorted(known | set(pages)))
    urls = "".join(f"  - url: {server.url('article/' + p)}\n    id: {p}\n" for p in pages)
    path = folder / name
    path.write_text(f"schedule: {schedule}\ncitations:\n{urls}")
    return str(path)


class World:
    """A manifests folder, a storage folder, and the clock every daemon of the test reads."""

    def __init__(self, tmp_path: Path, server: TestServer) -> None:
        self.folder = tmp_path / "manifests"
        self.folder.mkdir()
        self.server = server
        self.settings = Settings(storage=tmp_path / "storage", per_host_delay=0, timeout=2, total_timeout=4,
                                 backoff=0.05, allow_private=True)  # the test server is on 127.0.0.1
        self.clock = Clock(T0)

    def once(self) -> list[dict[str, Any]]:
        """`archiver daemon --once` at the clock's time: its log events."""
        out = io.StringIO()
        assert Daemon(self.settings, self.folder, log_format="json", out=out, clock=self.clock).once() == 0
        return [json.loads(line) for line in out.getvalue().splitlines()]

    def next_runs(self) -> dict[str, dt.datetime]:
        return next_runs(self.settings.storage)


def ran(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(Path(e["manifest"]).name, e["kind"]) for e in events if e["event"] == "run"]


def grid(key: str, spec: str, anchor: dt.datetime, after: dt.datetime) -> dt.datetime:
    """The first point after `after` of the grid a job got when its manifest was first seen at `anchor`."""
    seconds = make_trigger(spec).interval
    assert seconds is not None
    first = anchor + dt.timedelta(seconds=seconds + phase(key, min(seconds / 10, MAX_JITTER)))
    step = dt.timedelta(seconds=seconds)
    return first if after < first else first + step * ((after - first) // step + 1)


@pytest.fixture()
def world(tmp_path: Path, fresh_server: TestServer) -> World:
    return World(tmp_path, fresh_server)


def test_missed_turns_coalesce_into_one_run_then_the_grid_goes_on(world: World) -> None:
    a = manifest(world.folder, world.server, "a.yaml", "{snapshot: 1d, check: 6h}", ["c1", "c2"])
    events = world.once()
    assert ran(events) == [("a.yaml", "snapshot"), ("a.yaml", "check")]  # new: at once, snapshot first
    assert {e["time"] for e in events} == {stamps.iso(T0, "seconds")}  # the log reads the daemon's clock
    assert [e for e in events if e["event"] == "run"][0]["counts"]["captured"] == 2
    nxt = world.next_runs()
    assert nxt == {job_id(a, "snapshot"): grid(job_id(a, "snapshot"), "1d", T0, T0),
                   job_id(a, "check"): grid(job_id(a, "check"), "6h", T0, T0)}

    world.clock.advance(dt.timedelta(hours=1))
    assert ran(world.once()) == []  # nothing is due an hour later

    # Three days without a daemon: twelve check turns and three snapshot turns missed.
    world.clock.advance(3 * DAY)
    events = world.once()
    assert ran(events) == [("a.yaml", "check"), ("a.yaml", "snapshot")]  # once each, the longest waiting first
    assert events[-1]["event"] == "once" and events[-1]["jobs"] == 2
    nxt = world.next_runs()
    for kind, spec in (("snapshot", "1d"), ("check", "6h")):
        assert nxt[job_id(a, kind)] == grid(job_id(a, kind), spec, T0, world.clock.at)  # the grid, not now + 6h
    assert nxt[job_id(a, "check")] - world.clock.at < dt.timedelta(hours=6)

    world.clock.at = nxt[job_id(a, "check")]  # exactly on the check's grid point
    assert ran(world.once()) == [("a.yaml", "check")]
    assert ran(world.once()) == []  # the same instant again: that turn has run


def test_a_restarted_daemon_keeps_next_runs_and_picks_up_edits(world: World) -> None:
    a = manifest(world.folder, world.server, "a.yaml", "{snapshot: 7d, check: 1d}", ["r1"])
    world.once()
    before = world.next_runs()
    world.clock.advance(dt.timedelta(hours=2))
    b = manifest(world.folder, world.server, "b.yaml", "{snapshot: 7d, check: 1d}", ["r2"])
    events = world.once()
    assert ran(events) == [("b.yaml", "snapshot"), ("b.yaml", "check")]  # only the new manifest runs
    assert [e["manifest"] for e in events if e["event"] == "job_added"] == [b, b]
    after = world.next_runs()
    assert {k: v for k, v in after.items() if k.startswith(a)} == before  # not pushed into the future

    # An edited schedule moves the job to a new grid counted from the edit; the other kind stays.
    manifest(world.folder, world.server, "a.yaml", "{snapshot: 7d, check: 12h}", ["r1"])
    world.clock.advance(dt.timedelta(hours=1))
    events = world.once()
    assert ran(events) == []
    (moved,) = [e for e in events if e["event"] == "job_rescheduled"]
    assert moved["kind"] == "check" and moved["schedule"] == "12h"
    edited = world.next_runs()
    assert edited[job_id(a, "check")] == grid(job_id(a, "check"), "12h", world.clock.at, world.clock.at)
    assert edited[job_id(a, "snapshot")] == before[job_id(a, "snapshot")]

    # A removed manifest loses its jobs; one that stops loading keeps them.
    Path(b).unlink()
    (world.folder / "a.yaml").write_text("citations: [\n")
    events = world.once()
    assert sorted(e["kind"] for e in events if e["event"] == "job_removed") == ["check", "snapshot"]
    assert any(e["event"] == "manifest_error" and e["manifest"] == a for e in events)
    assert set(world.next_runs()) == {job_id(a, "snapshot"), job_id(a, "check")}


def test_a_cron_schedule_runs_in_its_minute(world: World) -> None:
    a = manifest(world.folder, world.server, "a.yaml", "{snapshot: '30 4 * * wed', check: 1d}", ["k1"])
    assert ran(world.once()) == [("a.yaml", "snapshot"), ("a.yaml", "check")]
    wednesday = dt.datetime(2026, 3, 4, 4, 30, tzinfo=dt.UTC)
    nxt = world.next_runs()[job_id(a, "snapshot")]
    assert wednesday <= nxt < wednesday + dt.timedelta(minutes=1)
    world.clock.at = wednesday - dt.timedelta(minutes=1)
    assert ran(world.once()) == [("a.yaml", "check")]  # the daily check came due on Tuesday
    world.clock.at = wednesday + dt.timedelta(minutes=1)
    assert ran(world.once()) == [("a.yaml", "snapshot")]
    following = world.next_runs()[job_id(a, "snapshot")]
    assert wednesday + 7 * DAY <= following < wednesday + 7 * DAY + dt.timedelta(minutes=1)


class StopAtFirstRun(io.StringIO):
    """The daemon's log stream, stopping the daemon (as SIGTERM does) when the first run is logged."""

    daemon: Daemon

    def write(self, text: str) -> int:
        if '"event": "run"' in text:
            self.daemon.stop()
        return super().write(text)


def test_a_stopped_once_leaves_the_turns_it_did_not_run_due(world: World) -> None:
    for name in ("a", "b"):
        manifest(world.folder, world.server, f"{name}.yaml", "{snapshot: 7d, check: 1d}", [f"{name}1"])
    out = StopAtFirstRun()
    out.daemon = Daemon(world.settings, world.folder, log_format="json", out=out, clock=world.clock)
    assert out.daemon.once() == 130
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert ran(events) == [("a.yaml", "snapshot")]
    nxt = world.next_runs()
    assert sorted(Path(k).name for k, when in nxt.items() if when <= world.clock.at) == [
        "a.yaml:check", "b.yaml:check", "b.yaml:snapshot"]
    world.clock.advance(dt.timedelta(minutes=5))
    assert ran(world.once()) == [("a.yaml", "check"), ("b.yaml", "snapshot"), ("b.yaml", "check")]


def test_a_cron_job_stored_with_apschedulers_weekdays_is_read_as_crontab(world: World) -> None:
    """A job stored by an older archiver ran '0 3 * * 1' on Tuesdays: the next start moves it to Mondays."""
    from apscheduler.triggers.cron import CronTrigger

    from archiver.schedule import job_id, jobs_path

    path = manifest(world.folder, world.server, "weekly.yaml", "{snapshot: '0 3 * * 1', check: 1d}", ["a"])
    world.once()
    store = jobs_path(world.settings.storage)
    key = job_id(path, "snapshot")
    import pickle
    import sqlite3

    with sqlite3.connect(store) as db:
        (state,) = db.execute("SELECT job_state FROM apscheduler_jobs WHERE id = ?", (key,)).fetchone()
        job = pickle.loads(state)
        job["trigger"] = CronTrigger.from_crontab("0 3 * * 1", timezone=dt.UTC)  # what older archivers stored
        db.execute("UPDATE apscheduler_jobs SET job_state = ? WHERE id = ?", (pickle.dumps(job), key))
    events = world.once()
    assert any(e["event"] == "job_rescheduled" and e.get("reason") == "crontab weekdays" for e in events)
    assert world.next_runs()[key].weekday() == 0  # Monday


# -- failed runs are retried before their next turn --------------------------------------------------


def test_retries_come_after_1_5_and_30_minutes_each_before_the_next_turn() -> None:
    weekly = make_trigger("7d", "a.yaml:snapshot", T0).trigger
    failed = weekly.get_next_fire_time(None, T0)  # a run at its turn failed
    assert [retry_time(weekly, n, failed) for n in range(4)] == [
        failed + dt.timedelta(minutes=1), failed + dt.timedelta(minutes=5), failed + dt.timedelta(minutes=30), None]
    short = make_trigger("10m", "a.yaml:check", T0).trigger
    failed = short.get_next_fire_time(None, T0)
    assert [retry_time(short, n, failed) for n in range(3)] == [
        failed + dt.timedelta(minutes=1), failed + dt.timedelta(minutes=5), None]  # 30 min: its next turn is sooner
    assert retry_time(short, 1, failed + dt.timedelta(minutes=6)) is None  # 5 min would pass its turn at 10
    cron = make_trigger("0 3 * * mon", "a.yaml:snapshot", T0).trigger
    monday = dt.datetime(2026, 3, 2, 3, 0, 30, tzinfo=dt.UTC)
    assert retry_time(cron, 2, monday) == monday + dt.timedelta(minutes=30)


def break_storage(world: World) -> Path:
    """Every run that writes fails at once (its WARC folder is a file): a storage failure, exit 4."""
    warcs = world.settings.storage / "warcs"
    aside = warcs.with_name("warcs.aside")
    warcs.rename(aside)
    warcs.write_text("")
    return aside


def mend_storage(world: World, aside: Path) -> None:
    warcs = world.settings.storage / "warcs"
    warcs.unlink()
    aside.rename(warcs)


def events_of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def test_a_failed_run_is_retried_with_backoff_before_its_next_turn(world: World) -> None:
    """A weekly snapshot whose run fails (a full disk, a locked database) is tried again after 1, 5
    and 30 minutes instead of a week later; each `once` is a new process, so the count lives in the
    job store. A run that succeeds ends the count."""
    a = manifest(world.folder, world.server, "a.yaml", "{snapshot: 7d, check: 30d}", ["f1"])
    assert ran(world.once()) == [("a.yaml", "snapshot"), ("a.yaml", "check")]
    key = job_id(a, "snapshot")
    turn = world.next_runs()[key]
    aside = break_storage(world)
    world.clock.at = turn
    for retry, wait in ((1, 1), (2, 5), (3, 30)):
        events = world.once()
        [failed] = events_of(events, "run")
        assert (failed["kind"], failed["status"]) == ("snapshot", "failed") and "warcs" in failed["error"]
        [planned] = events_of(events, "run_retry")
        at = world.clock.at + dt.timedelta(minutes=wait)
        assert (planned["retry"], planned["at"]) == (retry, stamps.iso(at, "seconds"))
        assert world.next_runs()[key] == at
        world.clock.at = at
    events = world.once()  # the third retry fails too: no more retries, its next turn as ever
    assert ran(events) == [("a.yaml", "snapshot")] and not events_of(events, "run_retry")
    [spent] = events_of(events, "retries_spent")
    assert (spent["retries"], spent["next"]) == (3, stamps.iso(turn + 7 * DAY, "seconds"))
    assert world.next_runs()[key] == turn + 7 * DAY

    mend_storage(world, aside)
    world.clock.advance(dt.timedelta(minutes=1))
    assert ran(world.once()) == []  # nothing due until then
    world.clock.at = turn + 7 * DAY
    events = world.once()
    assert [e["status"] for e in events_of(events, "run")] == ["done"] and not events_of(events, "run_retry")

    # A retry that succeeds ends the count: the next failure starts again at one minute.
    aside = break_storage(world)
    world.clock.at = turn + 14 * DAY
    assert events_of(world.once(), "run_retry")[0]["retry"] == 1
    mend_storage(world, aside)
    world.clock.advance(dt.timedelta(minutes=1))
    assert [e["status"] for e in events_of(world.once(), "run")] == ["done"]
    assert world.next_runs()[key] == turn + 21 * DAY  # back on its grid
    aside = break_storage(world)
    world.clock.at = turn + 21 * DAY
    assert events_of(world.once(), "run_retry")[0]["retry"] == 1


# -- the job store: its place and its safety ---------------------------------------------------------


def test_a_storage_path_with_url_characters_keeps_its_job_store(tmp_path: Path, fresh_server: TestServer) -> None:
    """The job store's URL is built from parts: `#` and `?` in the storage path are part of the path."""
    world = World(tmp_path, fresh_server)
    world.settings = replace(world.settings, storage=tmp_path / "st#or?age%41 x")
    manifest(world.folder, world.server, "a.yaml", "{snapshot: 7d, check: 1d}", ["u1"])
    assert ran(world.once()) == [("a.yaml", "snapshot"), ("a.yaml", "check")]
    assert jobs_path(world.settings.storage).is_file()
    assert len(world.next_runs()) == 2  # archiver status reads the same file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifests", "st#or?age%41 x"]
    assert ran(world.once()) == []  # the next start found its jobs


def test_the_job_store_is_private_and_refused_when_others_may_write_it(world: World) -> None:
    """Its jobs are pickled: writing the file means running code as the daemon."""
    manifest(world.folder, world.server, "a.yaml", "{snapshot: 7d, check: 1d}", ["p1"])
    world.once()
    store = jobs_path(world.settings.storage)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    for mode in (0o620, 0o602, 0o666):
        store.chmod(mode)
        with pytest.raises(StorageError, match=rf"refusing the daemon's job store: it is writable by group or"
                                               rf" others \(mode 0{mode:o}\)"):
            world.once()
    store.chmod(0o644)  # readable by others is no risk (archiver status may read it)
    world.once()
    store.rename(store.with_name("elsewhere.db"))
    store.symlink_to(store.with_name("elsewhere.db"))
    with pytest.raises(StorageError, match="cannot open the daemon's job store: it is a symbolic link"):
        world.once()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_job_store_owned_by_another_user_is_refused(world: World) -> None:
    manifest(world.folder, world.server, "a.yaml", "{snapshot: 7d, check: 1d}", ["o1"])
    world.once()
    store = jobs_path(world.settings.storage)
    os.chown(store, 4242, -1)
    with pytest.raises(StorageError, match=r"it is owned by uid 4242, not by this user \(uid 0\)"):
        world.once()
    os.chown(store, 0, -1)
    world.once()
