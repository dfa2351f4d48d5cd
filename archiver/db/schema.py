"""The database's shape: frozen migrations (tables, indexes, the data they hold), the schema version,
and the derived objects (views and triggers) whose SQL comes from the verdict rule.

Migrations are append-only: a released step is never edited, only followed by another; the schema
version is `PRAGMA user_version`, the number of steps run. Views and triggers hold no data of their
own: they are generated from archiver/verdict.py (through rule_sql.py) and kept equal to it by
`sync_derived` at each writable open, so a change of the rule reaches existing databases too (and
url_state, which the triggers keep, is then computed again from the checks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from ..verdict import FAILED, SEEN
from .rule_sql import counted_failure, in_list, skipped_failure, word_sql


def _v1(db: sqlite_utils.Database) -> None:
    db.table("runs").create(
        {"id": int, "command": str, "started_at": str, "finished_at": str, "targets": str,
         "captured": int, "unchanged": int, "failed": int, "status": str},
        pk="id",
    )
    db.table("manifests").create(
        {"path": str, "name": str, "title": str, "source": str, "schedule": str, "loaded_at": str},
        pk="path",
    )
    db.table("citations").create(
        {"id": int, "manifest": str, "key": str, "citation_id": str, "url": str, "fetch_url": str,
         "cited_as": str, "context": str, "accessed": str, "line": int, "extra": str,
         "first_seen": str, "last_seen": str},
        pk="id",
    )
    db.table("citations").create_index(["manifest", "key"], unique=True)
    db.table("citations").create_index(["fetch_url"])
    db.table("warc_files").create(
        {"name": str, "created_at": str, "closed_at": str, "size": int, "sha256": str, "state": str},
        pk="name",
    )
    db.table("captures").create(
        {"id": int, "run_id": int, "url": str, "fetch_url": str, "manifest": str, "citation_id": str,
         "captured_at": str, "outcome": str, "error": str, "http_status": int, "final_url": str,
         "content_type": str, "payload_size": int, "payload_sha256": str, "payload_sha1": str,
         "record_type": str, "truncated": str, "warc": str, "warc_offset": int, "warc_length": int,
         "record_id": str, "refers_to": int, "redirects": str, "ip": str, "elapsed": float,
         "attempts": int},
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("refers_to", "captures", "id")],
    )
    db.table("captures").create_index(["fetch_url", "captured_at"])
    db.table("captures").create_index(["url"])
    db.table("records").create(
        {"id": int, "capture_id": int, "warc": str, "offset": int, "length": int, "rec_type": str,
         "uri": str, "record_id": str, "date": str, "payload_digest": str, "refers_to": str},
        pk="id",
        foreign_keys=[("capture_id", "captures", "id")],
    )
    db.table("records").create_index(["warc", "offset"])
    db.table("records").create_index(["record_id"])


def _v2(db: sqlite_utils.Database) -> None:
    """Checks: one row per URL per check run, with the capture that holds what it saw."""
    db.table("checks").create(
        {"id": int, "run_id": int, "checked_at": str, "url": str, "fetch_url": str, "manifest": str,
         "citation_id": str, "status": str, "reason": str, "http_status": int, "final_url": str,
         "redirects": str, "elapsed": float, "attempts": int, "error": str, "drift": float, "drift_level": str,
         "baseline_capture": int, "capture_id": int, "payload_sha1": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("capture_id", "captures", "id"),
                      ("baseline_capture", "captures", "id")],
    )
    db.table("checks").create_index(["fetch_url", "checked_at"])
    db.table("checks").create_index(["capture_id"])
    db.table("runs").add_column("checked", int)


def _v3(db: sqlite_utils.Database) -> None:
    """Report: indexes for the report's per-URL seeks, and the policy of the views (README)."""
    # last ok check per URL, and the failures after it, are index seeks instead of history scans.
    db.execute("CREATE INDEX idx_checks_url_status ON checks (fetch_url, status, checked_at)")
    # Covering indexes: a URL's recent checks and its newest good capture without reading table rows.
    db.execute("CREATE INDEX idx_checks_url_history ON checks (fetch_url, checked_at, status, drift_level)")
    db.execute("CREATE INDEX idx_captures_url_good ON captures (fetch_url, captured_at, record_type, http_status,"
               " truncated)")
    # Invalid URLs are never citations rows (no fetch_url to key them): found through their checks.
    db.execute("CREATE INDEX idx_checks_invalid ON checks (manifest) WHERE status = 'invalid_url'")
    # The policy the citation_verdicts view applies; `archiver report` takes its policy from flags.
    db.execute("CREATE TABLE verdict_policy (id INTEGER PRIMARY KEY CHECK (id = 1), checks INTEGER NOT NULL,"
               " days REAL NOT NULL)")
    db.execute("INSERT INTO verdict_policy VALUES (1, 3, 3)")


def _v4(db: sqlite_utils.Database) -> None:
    """Fixity: one row per `archiver verify` run, and one per problem it found (README)."""
    db.table("audits").create(
        {"id": int, "started_at": str, "finished_at": str, "mode": str, "since": str, "files": int,
         "records": int, "bytes": int, "problems": int, "warnings": int, "status": str},
        pk="id",
    )
    db.table("audit_problems").create(
        {"id": int, "audit_id": int, "warc": str, "offset": int, "record_id": str, "uri": str, "kind": str,
         "detail": str},
        pk="id",
        foreign_keys=[("audit_id", "audits", "id")],
    )
    db.table("audit_problems").create_index(["audit_id"])
    db.table("audit_problems").create_index(["warc"])  # "since when has this file been damaged?"


def _v5(db: sqlite_utils.Database) -> None:
    """Report: url_state, each URL's verdict inputs, kept current by triggers (TRIGGERS below), so
    that the report under the stored policy reads one row per URL instead of seeking through its history.

    The fields are `verdict.judge`'s under verdict_policy: the newest check, the newest ok check, the
    failure streak since it (length, first check, the check that confirmed death), and the newest good
    capture. A check older than (or as old as) the URL's newest, or with a stamp not in stamps.iso's
    form, sets `dirty`: the report then judges that URL from its history. Changing verdict_policy
    sets every row dirty. Its rows are filled by `fill_url_state` when the triggers are created."""
    db.execute("""CREATE TABLE url_state (fetch_url TEXT PRIMARY KEY, last_check_id INTEGER, last_checked_at TEXT,
        last_ok_at TEXT, streak_n INTEGER NOT NULL DEFAULT 0, streak_first_at TEXT, dead_since TEXT,
        good_capture_id INTEGER, good_captured_at TEXT, dirty INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID""")


def _v6(db: sqlite_utils.Database) -> None:
    """Offline runs (README): a run judged to have run without network (archiver/offline.py) and the
    line saying why; url_state's count of the failures that did not count for that. The report's
    history reads each check's run: its covering index now holds run_id, and a run's checks are found
    by index when its URLs are judged again."""
    db.execute("ALTER TABLE runs ADD COLUMN offline INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN network TEXT")
    db.execute("ALTER TABLE url_state ADD COLUMN offline_n INTEGER NOT NULL DEFAULT 0")
    db.execute("DROP INDEX idx_checks_url_history")
    db.execute("CREATE INDEX idx_checks_url_history_run ON checks (fetch_url, checked_at, status, drift_level,"
               " run_id)")
    db.execute("CREATE INDEX idx_checks_run ON checks (run_id)")


def _v7(db: sqlite_utils.Database) -> None:
    """Browser capture (archiver/browser/): how a capture was made (`mode`: http or browser; NULL in
    rows from before, which were all http), what its rendering noted (`rendering`, JSON), and one row
    per sub-resource the rendered page fetched or was refused."""
    db.execute("ALTER TABLE captures ADD COLUMN mode TEXT")
    db.execute("ALTER TABLE captures ADD COLUMN rendering TEXT")
    db.table("capture_resources").create(
        {"id": int, "capture_id": int, "url": str, "method": str, "kind": str, "outcome": str, "error": str,
         "refused": str, "http_status": int, "final_url": str, "content_type": str, "payload_size": int,
         "payload_sha256": str, "truncated": str, "record_type": str, "record_id": str},
        pk="id",
        foreign_keys=[("capture_id", "captures", "id")],
    )
    db.table("capture_resources").create_index(["capture_id"])
    db.table("capture_resources").create_index(["url"])


def _v8(db: sqlite_utils.Database) -> None:
    """What a check judged (`checks.mode`): 'browser' when its status and drift were read from the page
    as the browser rendered it (title, text and DOM after scripts ran), 'http' when from the HTTP answer;
    NULL in rows from before, which were all http."""
    db.execute("ALTER TABLE checks ADD COLUMN mode TEXT")


def _v9(db: sqlite_utils.Database) -> None:
    """Copies of cited URLs in other web archives (archiver/copies/): one row per answer an archive gave
    for a URL (`status`: 'ok' a judged memento, 'error_page' a memento that is an archived error or
    soft-404 page, 'no_copy' the archive holds none, 'unreachable' the archive did not answer), with the
    datetime it was asked for (`target_datetime`) and the memento's own (`memento_datetime`)."""
    db.table("copies").create(
        {"id": int, "fetch_url": str, "archive": str, "memento_url": str, "memento_datetime": str,
         "target_datetime": str, "checked_at": str, "status": str, "detail": str},
        pk="id",
    )
    db.table("copies").create_index(["fetch_url", "archive", "checked_at"])


def _v10(db: sqlite_utils.Database) -> None:
    """Copies imported from other web archives (`--import`): a capture with `mode` 'memento' holds a
    memento's raw bytes under the original URL, `captured_at` its memento datetime; where it came from
    is kept beside it (`source_url` the memento, `source_archive` the archive's name, `imported_at`).
    It replays and exports, but is never our copy (good_capture). The report's covering index holds
    `mode` so that rule stays an index read."""
    db.execute("ALTER TABLE captures ADD COLUMN source_url TEXT")
    db.execute("ALTER TABLE captures ADD COLUMN source_archive TEXT")
    db.execute("ALTER TABLE captures ADD COLUMN imported_at TEXT")
    db.execute("DROP INDEX idx_captures_url_good")
    db.execute("CREATE INDEX idx_captures_url_good ON captures (fetch_url, captured_at, record_type, http_status,"
               " truncated, mode)")
    db.execute("CREATE INDEX idx_captures_source ON captures (fetch_url, source_url) WHERE source_url IS NOT NULL")


def _v11(db: sqlite_utils.Database) -> None:
    """Save requests (`copies --save`, copies/save.py): one row per page an archive was asked to save
    now: its job, how it ended (`status` saved/failed/refused/pending/unreachable), the memento a saved
    job made, and the archive's own words (`detail`, e.g. error:too-many-daily-captures). No key is
    ever kept."""
    db.table("saves").create(
        {"id": int, "fetch_url": str, "archive": str, "job_id": str, "status": str, "memento_url": str,
         "memento_datetime": str, "detail": str, "requested_at": str, "finished_at": str},
        pk="id", not_null={"fetch_url", "archive", "status", "requested_at"})
    db.table("saves").create_index(["fetch_url", "archive", "requested_at"])


def _v12(db: sqlite_utils.Database) -> None:
    """Evidence (archiver/evidence/): the tamper-evident log `ledger`, one row per event (`kind`:
    warc_closed, captures, audit) with its canonical JSON (`event`), the hash of the entry before
    (`prev`) and its own (`hash` = sha256 of prev + event); and `timestamps`, the RFC 3161 tokens a
    Time Stamping Authority signed over the log's head (`seq`, `head`), kept as bytes and as a .tsr
    file in the storage folder (`file`)."""
    db.execute("CREATE TABLE ledger (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL,"
               " event TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)")
    db.execute("CREATE TABLE timestamps (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, head TEXT NOT NULL,"
               " tsa TEXT NOT NULL, file TEXT NOT NULL, token BLOB NOT NULL, gen_time TEXT, stamped_at TEXT NOT NULL)")
    db.execute("CREATE INDEX idx_timestamps_seq ON timestamps (seq)")


def _v13(db: sqlite_utils.Database) -> None:
    """Who answered an HTTPS capture (`captures.tls`, JSON; archiver/evidence/tls.py): the final hop's
    TLS version and cipher, where the chain came from ("sent" or "leaf") and its length, and the leaf
    certificate's subject, issuer, serial, validity (not_before, not_after) and sha256 fingerprint.
    NULL for plain HTTP and for rows from before; the whole chain is in the WARC's metadata record."""
    db.execute("ALTER TABLE captures ADD COLUMN tls TEXT")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10,
                                                             _v11, _v12, _v13]
SCHEMA_VERSION = len(MIGRATIONS)

# -- derived objects ---------------------------------------------------------------------------------

ALIVE_SQL = in_list(SEEN)
FAILED_SQL = in_list(FAILED)
# A stamp as stamps.iso writes it: the url_state triggers compute only over these (others: dirty).
CANONICAL_GLOB = ("'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
                  ".[0-9][0-9][0-9][0-9][0-9][0-9]Z'")


MEMENTO = "memento"  # captures.mode of a copy imported from another web archive: never ours
MODES_VERSION = 7  # captures.mode exists from schema v7


def ours(alias: str = "", version: int = SCHEMA_VERSION) -> str:
    """SQL: the captures row is one we made (not a memento imported from another archive). `version`:
    the database's schema (before v7 there is no mode, and every capture was ours)."""
    return f"COALESCE({alias}mode, '') <> '{MEMENTO}'" if version >= MODES_VERSION else "1"


def good_capture(alias: str = "", version: int = SCHEMA_VERSION) -> str:
    """SQL: the captures row (`alias`: its qualifier, e.g. `c.`) holds a whole 2xx payload, as a
    response or as a revisit of one, and is ours: a copy worth showing as the citation's. An imported
    memento is not (it replays, but as the other archive's copy). `version`: the database's schema."""
    return (f"{alias}record_type IN ('response', 'revisit') AND {alias}truncated IS NULL"
            f" AND {alias}http_status BETWEEN 200 AND 299 AND {ours(alias, version)}")


def micros(column: str) -> str:
    """SQL for a canonical stamp as integer microseconds since the epoch: exact, as Python's timedelta
    (julianday keeps milliseconds only)."""
    return f"(unixepoch(substr({column}, 1, 19)) * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


def any_micros(column: str) -> str:
    """micros for any stamp: exact for canonical ones, to the millisecond for the others."""
    return (f"(CASE WHEN {column} GLOB {CANONICAL_GLOB} THEN {micros(column)}"
            f" ELSE CAST(ROUND((julianday({column}) - 2440587.5) * 86400000) AS INTEGER) * 1000 END)")


def _policy_span(days: str) -> str:
    """verdict_policy's days as integer microseconds, rounded as Python's timedelta(days=...) is."""
    return f"CAST(ROUND({days} * 86400000000) AS INTEGER)"


VIEWS: dict[str, str] = {
    # Each citation's judged copies (each archive's newest answer for its URL, when 'ok'), nearest to
    # the datetime asked for first (`rank` 1 is the best copy).
    "citation_copies": """CREATE VIEW citation_copies AS
        SELECT c.id AS citation, c.manifest, c.citation_id, c.fetch_url, p.archive, p.memento_url,
            p.memento_datetime, p.target_datetime, p.checked_at,
            ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY
                ABS(julianday(p.memento_datetime) - julianday(p.target_datetime)), p.archive) AS rank
        FROM citations c JOIN copies p ON p.fetch_url = c.fetch_url AND p.status = 'ok'
        WHERE p.id = (SELECT MAX(id) FROM copies q WHERE q.fetch_url = p.fetch_url AND q.archive = p.archive)""",
    "latest_checks": """CREATE VIEW latest_checks AS
        SELECT k.* FROM (SELECT DISTINCT fetch_url FROM checks) u
        JOIN checks k ON k.id = (SELECT id FROM checks WHERE fetch_url = u.fetch_url
                                 ORDER BY checked_at DESC, id DESC LIMIT 1)""",
    "good_captures": f"""CREATE VIEW good_captures AS
        SELECT u.fetch_url, c.id AS capture_id, c.captured_at, c.record_type, c.http_status,
               COALESCE(c.payload_sha256, o.payload_sha256) AS sha256, o.warc, o.warc_offset, o.warc_length,
               o.id AS payload_capture_id, o.captured_at AS payload_captured_at
        FROM (SELECT DISTINCT fetch_url FROM captures) u
        JOIN captures c ON c.id = (SELECT id FROM captures WHERE fetch_url = u.fetch_url AND {good_capture()}
                                   ORDER BY captured_at DESC, id DESC LIMIT 1)
        JOIN captures o ON o.id = COALESCE(c.refers_to, c.id)""",
    # verdict.judge in SQL, under the policy in verdict_policy: the last ok check, the failed checks
    # after it (the streak), dead at the first streak check that is the N-th or later and D days on.
    "citation_verdicts": f"""CREATE VIEW citation_verdicts AS
        WITH cited AS (
            SELECT c.manifest, c.citation_id, c.key, c.url, c.fetch_url, c.cited_as, c.context, c.line,
                (SELECT MAX(checked_at) FROM checks k WHERE k.fetch_url = c.fetch_url
                 AND k.status IN {ALIVE_SQL}) AS last_ok_at,
                lower(substr(c.fetch_url, instr(c.fetch_url, '://') + 3,
                      instr(substr(c.fetch_url, instr(c.fetch_url, '://') + 3) || '/', '/') - 1)) AS hostport
            FROM citations c JOIN manifests m ON m.path = c.manifest AND c.last_seen = m.loaded_at),
        streak AS (
            SELECT u.fetch_url, k.checked_at,
                ROW_NUMBER() OVER w AS n, FIRST_VALUE(k.checked_at) OVER w AS first_at
            FROM (SELECT DISTINCT fetch_url, last_ok_at FROM cited) u
            JOIN checks k ON k.fetch_url = u.fetch_url AND {counted_failure('k.status', 'k.run_id')}
                AND k.checked_at > COALESCE(u.last_ok_at, '')
            WINDOW w AS (PARTITION BY u.fetch_url ORDER BY k.checked_at, k.id)),
        skipped AS (
            SELECT u.fetch_url, COUNT(*) AS n
            FROM (SELECT DISTINCT fetch_url, last_ok_at FROM cited) u
            JOIN checks k ON k.fetch_url = u.fetch_url AND {skipped_failure('k.status', 'k.run_id')}
                AND k.checked_at > COALESCE(u.last_ok_at, '')
            GROUP BY u.fetch_url),
        failing AS (
            SELECT s.fetch_url, MIN(s.first_at) AS failing_since,
                MIN(CASE WHEN s.n >= p.checks
                         AND {any_micros('s.checked_at')} - {any_micros('s.first_at')} >= {_policy_span('p.days')}
                    THEN s.checked_at END) AS dead_since
            FROM streak s, verdict_policy p GROUP BY s.fetch_url)
        SELECT cited.manifest, cited.citation_id, cited.key, cited.url, cited.fetch_url, cited.cited_as,
            cited.context, cited.line,
            CASE WHEN instr(cited.hostport, ':') > 0 AND cited.hostport NOT LIKE '[%'
                 THEN substr(cited.hostport, 1, instr(cited.hostport, ':') - 1) ELSE cited.hostport END AS host,
            {word_sql('k.status', 'k.drift_level', 'f.dead_since')} AS verdict,
            k.status, k.reason, k.http_status, k.final_url, k.checked_at, f.failing_since, f.dead_since,
            cited.last_ok_at, k.drift, k.drift_level, k.id AS check_id,
            COALESCE(o.n, 0) AS offline_checks,
            CASE WHEN {skipped_failure('k.status', 'k.run_id')} AND f.fetch_url IS NULL THEN 1 ELSE 0 END AS offline
        FROM cited
        LEFT JOIN checks k ON k.id = (SELECT id FROM checks WHERE fetch_url = cited.fetch_url
                                      ORDER BY checked_at DESC, id DESC LIMIT 1)
        LEFT JOIN failing f ON f.fetch_url = cited.fetch_url
        LEFT JOIN skipped o ON o.fetch_url = cited.fetch_url""",
}

_STORED_SPAN = _policy_span("(SELECT days FROM verdict_policy)")
# A new check counts toward death, or is a failure its offline run leaves out (verdict.CheckPoint.skipped).
_COUNTED_NEW = counted_failure("NEW.status", "NEW.run_id")
_SKIPPED_NEW = skipped_failure("NEW.status", "NEW.run_id")
TRIGGERS: dict[str, str] = {
    "url_state_check": f"""CREATE TRIGGER url_state_check AFTER INSERT ON checks WHEN NEW.fetch_url IS NOT NULL BEGIN
        INSERT OR IGNORE INTO url_state (fetch_url) VALUES (NEW.fetch_url);
        UPDATE url_state SET dirty = 1 WHERE fetch_url = NEW.fetch_url AND dirty = 0
            AND (NEW.checked_at <= last_checked_at OR NEW.checked_at IS NULL
                 OR NEW.checked_at NOT GLOB {CANONICAL_GLOB});
        UPDATE url_state SET last_check_id = NEW.id, last_checked_at = NEW.checked_at,
            last_ok_at = CASE WHEN NEW.status IN {ALIVE_SQL} THEN NEW.checked_at ELSE last_ok_at END,
            streak_n = CASE WHEN NEW.status IN {ALIVE_SQL} THEN 0
                            WHEN {_COUNTED_NEW} THEN streak_n + 1 ELSE streak_n END,
            offline_n = CASE WHEN NEW.status IN {ALIVE_SQL} THEN 0
                             WHEN {_SKIPPED_NEW} THEN offline_n + 1 ELSE offline_n END,
            streak_first_at = CASE WHEN NEW.status IN {ALIVE_SQL} THEN NULL
                                   WHEN {_COUNTED_NEW} THEN COALESCE(streak_first_at, NEW.checked_at)
                                   ELSE streak_first_at END,
            dead_since = CASE WHEN NEW.status IN {ALIVE_SQL} THEN NULL
                              WHEN {_COUNTED_NEW} AND dead_since IS NULL
                                   AND streak_n + 1 >= (SELECT checks FROM verdict_policy)
                                   AND {micros('NEW.checked_at')}
                                       - {micros('COALESCE(streak_first_at, NEW.checked_at)')} >= {_STORED_SPAN}
                              THEN NEW.checked_at ELSE dead_since END
        WHERE fetch_url = NEW.fetch_url AND dirty = 0;
    END""",
    "url_state_capture": f"""CREATE TRIGGER url_state_capture AFTER INSERT ON captures
        WHEN NEW.fetch_url IS NOT NULL AND {good_capture('NEW.')} BEGIN
        INSERT OR IGNORE INTO url_state (fetch_url) VALUES (NEW.fetch_url);
        UPDATE url_state SET good_capture_id = NEW.id, good_captured_at = NEW.captured_at
        WHERE fetch_url = NEW.fetch_url AND (good_captured_at IS NULL OR NEW.captured_at >= good_captured_at);
    END""",
    "url_state_policy": "CREATE TRIGGER url_state_policy AFTER UPDATE ON verdict_policy BEGIN"
                        " UPDATE url_state SET dirty = 1; END",
}


def fill_url_state(db: sqlite_utils.Database, run_id: int | None = None) -> None:
    """url_state computed afresh from the checks and captures: what the triggers would have kept
    (citation_verdicts' logic, per URL rather than per citation). Of every URL, or with `run_id` of
    the URLs that run checked (once it is judged offline, its failures no longer count)."""
    scope = "" if run_id is None else "AND fetch_url IN (SELECT fetch_url FROM checks WHERE run_id = :run)"
    params = {} if run_id is None else {"run": run_id}
    db.execute(f"DELETE FROM url_state WHERE 1 {scope}", params)
    db.execute(f"""INSERT INTO url_state (fetch_url, last_check_id, last_checked_at, last_ok_at, streak_n,
            streak_first_at, dead_since, dirty, offline_n)
        WITH urls AS MATERIALIZED (
            SELECT fetch_url, MAX(checked_at) AS last_at,
                MAX(CASE WHEN status IN {ALIVE_SQL} THEN checked_at END) AS last_ok_at,
                MAX(checked_at IS NULL OR checked_at NOT GLOB {CANONICAL_GLOB}) AS odd
            FROM checks WHERE fetch_url IS NOT NULL {scope} GROUP BY fetch_url),
        streak AS (
            SELECT k.fetch_url, k.checked_at, ROW_NUMBER() OVER w AS n, FIRST_VALUE(k.checked_at) OVER w AS first_at
            FROM urls u JOIN checks k ON k.fetch_url = u.fetch_url AND {counted_failure('k.status', 'k.run_id')}
                AND k.checked_at > COALESCE(u.last_ok_at, '')
            WINDOW w AS (PARTITION BY k.fetch_url ORDER BY k.checked_at, k.id)),
        failing AS (
            SELECT s.fetch_url, COUNT(*) AS n, MIN(s.first_at) AS first_at,
                MIN(CASE WHEN s.n >= p.checks AND {micros('s.checked_at')} - {micros('s.first_at')}
                              >= {_policy_span('p.days')} THEN s.checked_at END) AS dead_since
            FROM streak s, verdict_policy p GROUP BY s.fetch_url),
        skipped AS (
            SELECT u.fetch_url, COUNT(*) AS n
            FROM urls u JOIN checks k ON k.fetch_url = u.fetch_url AND {skipped_failure('k.status', 'k.run_id')}
                AND k.checked_at > COALESCE(u.last_ok_at, '')
            GROUP BY u.fetch_url)
        SELECT u.fetch_url,
            (SELECT id FROM checks WHERE fetch_url = u.fetch_url ORDER BY checked_at DESC, id DESC LIMIT 1),
            u.last_at, u.last_ok_at, COALESCE(f.n, 0), f.first_at, f.dead_since, u.odd, COALESCE(o.n, 0)
        FROM urls u LEFT JOIN failing f ON f.fetch_url = u.fetch_url
        LEFT JOIN skipped o ON o.fetch_url = u.fetch_url""", params)
    db.execute(f"""INSERT INTO url_state (fetch_url, good_capture_id, good_captured_at)
        SELECT fetch_url, id, captured_at FROM (
            SELECT fetch_url, id, captured_at,
                ROW_NUMBER() OVER (PARTITION BY fetch_url ORDER BY captured_at DESC, id DESC) AS rank
            FROM captures WHERE fetch_url IS NOT NULL AND {good_capture()} {scope}) WHERE rank = 1
        ON CONFLICT (fetch_url) DO UPDATE SET good_capture_id = excluded.good_capture_id,
            good_captured_at = excluded.good_captured_at""", params)


def stale_derived(conn: sqlite3.Connection) -> dict[str, str]:
    """The views and triggers whose stored SQL is not the generated one (or that are missing):
    name -> the SQL to create them."""
    stored = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('view', 'trigger')").fetchall())
    wanted = {**VIEWS, **TRIGGERS}
    return {name: sql for name, sql in wanted.items() if stored.get(name) != sql}


def sync_derived(db: sqlite_utils.Database) -> None:
    """Views and triggers made equal to the generated SQL (inside the caller's transaction); when a
    trigger changed, url_state is computed again, under the rule the new triggers keep."""
    stale = stale_derived(db.conn)
    for name, sql in stale.items():
        kind = "VIEW" if name in VIEWS else "TRIGGER"
        db.execute(f"DROP {kind} IF EXISTS {name}")
        db.execute(sql)
    if any(name in TRIGGERS for name in stale):
        fill_url_state(db)


def url_state_current(conn: sqlite3.Connection) -> bool:
    """Whether url_state is kept by this archiver's triggers, i.e. under verdict.py's rule as it is now
    (a database opened read-only is never synced: one written by another version may keep another)."""
    return not any(name in TRIGGERS for name in stale_derived(conn))
