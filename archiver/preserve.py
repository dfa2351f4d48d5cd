"""`archiver preserve`: the one-off job for a paper's references, as one call over the library.

In order: extract each paper's citations into `manifests/<paper stem>.yaml`, snapshot (the first
time), check, look up copies in other web archives for the citations failing or dead, then write
into the output folder the HTML report, a WACZ of each paper's captures and, for the formats
robustify reads, the paper with archived links beside its cited links. A later run does it again on
the same folder: the check is a new check run (so failing citations progress toward dead and drift
is seen), and every file is rewritten atomically. The folder's `preserve.json` says what was written
and is what marks the folder as preserve's own (files of the same names in any other folder are
never overwritten without `force`).

Nothing here prints: each step is reported through `Watch`, and `Preserved` carries the outcome and
the exit code (`report`'s: 1 when a citation is dead).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import write_atomically
from .config import REPLAY_PORT, Settings
from .errors import NotArchived, UsageError
from .extras import install_hint
from .verdict import Policy

if TYPE_CHECKING:
    from .check import CheckSummary

# What robustify rewrites (its SUFFIXES without its own manifests): other papers get no robust copy.
ROBUST_SUFFIXES = (".md", ".html", ".htm", ".tex", ".bib", ".docx")
REPORT_NAME = "report.html"
SUMMARY_NAME = "preserve.json"
STAGES = ("extract", "snapshot", "check", "copies", "report", "wacz", "robustify")


def _ignore(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class Watch:
    """How a caller follows the job: `stage` on entering each of STAGES, `plan` with the number of
    steps of the stage when it is known (the runs' URL count), `step` once per step, `notice` for
    each line worth a person's attention (a manifest kept, a step skipped and why)."""

    stage: Callable[[str], None] = _ignore
    plan: Callable[[int], None] = _ignore
    step: Callable[[object], None] = _ignore
    notice: Callable[[str], None] = _ignore


@dataclass(frozen=True)
class Options:
    out: Path
    policy: Policy = field(default_factory=Policy)
    probe: bool = True  # extract: probe repair candidates (or flag them as suspect, offline)
    dois: bool = True
    force: bool = False  # overwrite a manifest that differs from a fresh extract, and files not of preserve's folder
    ours: str | None = None  # robust links to our replay under this prefix, not to public copies
    replay_port: int = REPLAY_PORT
    manifests: Path = Path("manifests")


@dataclass(frozen=True)
class Suspect:
    id: str | None
    url: str
    candidates: int


@dataclass
class Paper:
    """One paper and its manifest. `manifest_state`: written (new), unchanged (a fresh extract gives the
    same bytes), replaced (it differed; force), kept (it differed, e.g. a person's edits: used as it is)."""

    path: Path
    manifest: Path
    manifest_state: str = ""
    citations: int = 0
    suspects: list[Suspect] = field(default_factory=list)
    invalid: int = 0

    @property
    def stem(self) -> str:
        return self.path.stem


@dataclass
class Preserved:
    papers: list[Paper]
    out: Path
    snapshot_runs: list[int] = field(default_factory=list)
    check_run: int | None = None
    offline: bool = False
    verdicts: dict[str, int] = field(default_factory=dict)
    copies: dict[str, int] | None = None  # looked_up, found; None: not looked up (see skipped)
    written: list[Path] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # what was not written or done, and why
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "papers": [{"paper": str(p.path), "manifest": str(p.manifest), "manifest_state": p.manifest_state,
                        "citations": p.citations, "invalid": p.invalid,
                        "suspect": [{"id": s.id, "url": s.url, "candidates": s.candidates} for s in p.suspects]}
                       for p in self.papers],
            "snapshot_runs": self.snapshot_runs, "check_run": self.check_run, "offline": self.offline,
            "verdicts": dict(sorted(self.verdicts.items())), "copies": self.copies,
            "written": [str(p) for p in self.written], "skipped": self.skipped, "exit_code": self.exit_code,
        }


def preserve(settings: Settings, papers: list[Path], options: Options, watch: Watch | None = None) -> Preserved:
    """The whole job (see the module). Raises UsageError before any fetch for clashing paper names or
    an output folder that holds files of preserve's names without being preserve's; NotArchived (exit
    1) when no paper cites anything."""
    watch = watch or Watch()
    planned = [Paper(p, options.manifests / f"{p.stem}.yaml") for p in papers]
    _refuse_clashes(planned)
    _guard_folder(options.out, planned, options.force)
    done = Preserved(planned, options.out)
    watch.stage("extract")
    watch.plan(len(planned))
    kept = [p for p in planned if _extract(settings, p, options, watch)]
    if not kept:
        raise NotArchived("no cited URL or DOI found in " + ", ".join(str(p) for p in papers) + "; nothing preserved")
    done.papers = kept
    targets = [str(p.manifest) for p in kept]
    _snapshot(settings, targets, done, watch)
    checked = _check(settings, targets, options.policy, done, watch)
    _copies(settings, targets, checked, done, watch)
    options.out.mkdir(parents=True, exist_ok=True)
    _report(settings, targets, options, done, watch)
    _wacz(settings, done, watch)
    _robustify(settings, options, done, watch)
    summary = options.out / SUMMARY_NAME
    done.written.append(summary)
    write_atomically(summary, (json.dumps(done.to_json(), indent=2) + "\n").encode())
    return done


def output_names(paper: Paper) -> tuple[str, str]:
    """The WACZ and the robust copy of `paper` in the output folder."""
    return f"{paper.stem}.wacz", f"{paper.stem}.robust{paper.path.suffix.lower()}"


def _refuse_clashes(papers: list[Paper]) -> None:
    seen: dict[str, Path] = {}
    for p in papers:
        if p.stem in seen:
            raise UsageError(f"{p.path} and {seen[p.stem]}: both would be preserved as {p.manifest}; rename one")
        seen[p.stem] = p.path


def _guard_folder(out: Path, papers: list[Paper], force: bool) -> None:
    """A folder preserve wrote before (it holds preserve.json) is updated; in any other folder, a file
    of one of the names preserve writes is a person's, and is overwritten only with `force`."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: is not a folder")
    if force or (out / SUMMARY_NAME).exists():
        return
    names = [REPORT_NAME, *(n for p in papers for n in output_names(p))]
    taken = [n for n in names if (out / n).exists()]
    if taken:
        raise UsageError(f"{out}: already holds {', '.join(taken)} and was not written by preserve;"
                         " pass --force to overwrite, or choose another folder")


def _extract(settings: Settings, paper: Paper, options: Options, watch: Watch) -> bool:
    """The paper's manifest (see Paper.manifest_state); False when the paper cites nothing."""
    from .extract import extract_papers, manifest_yaml

    [result] = extract_papers([paper.path], probe=options.probe, dois=options.dois, settings=settings,
                              on_notice=watch.notice)
    watch.step(paper.path)
    paper.citations = len(result.citations)
    paper.invalid = len(result.invalid)
    paper.suspects = [Suspect(f.id or f.doi, f.url, len(f.candidates)) for f in result.citations if f.suspect]
    if not result.citations:
        watch.notice(f"{paper.path}: no cited URL or DOI found; not preserved")
        return False
    text = manifest_yaml([result])
    target = paper.manifest
    if not target.exists():
        paper.manifest_state = "written"
    elif target.read_bytes() == text.encode():
        paper.manifest_state = "unchanged"
        return True
    elif options.force:
        paper.manifest_state = "replaced"
    else:
        paper.manifest_state = "kept"
        watch.notice(f"{target}: kept as it is: it differs from a fresh extract of {paper.path} (your edits, or"
                     " the paper changed); pass --force to replace it")
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, text.encode())
    return True


def _snapshot(settings: Settings, targets: list[str], done: Preserved, watch: Watch) -> None:
    """A snapshot of each manifest no finished snapshot run has covered yet (the first run). Later runs
    go straight to the check, which keeps what it fetches (new citations included)."""
    from .snapshot import snapshot

    watch.stage("snapshot")
    todo = [t for t in targets if t not in _snapshotted(settings, targets)]
    if not todo:
        watch.plan(0)
        return
    for target in todo:
        summary = snapshot(settings, [target], on_outcome=watch.step, on_plan=watch.plan)
        done.snapshot_runs.append(summary.run_id)
        for notice in summary.notices:
            watch.notice(notice)


def _snapshotted(settings: Settings, targets: list[str]) -> set[str]:
    from .db.archive_db import ArchiveDB

    if not settings.db_path.exists():
        return set()
    with ArchiveDB.open(settings.db_path, readonly=True) as db:
        return {t for t, run in db.last_runs("snapshot", targets).items() if run["status"] == "done"}


def _check(settings: Settings, targets: list[str], policy: Policy, done: Preserved, watch: Watch) -> CheckSummary:
    from .check import check

    watch.stage("check")
    result = check(settings, targets, policy=policy, on_plan=watch.plan, on_outcome=watch.step)
    done.check_run = result.summary.run_id
    done.offline = result.summary.offline
    for notice in result.summary.notices:
        watch.notice(notice)
    if result.summary.network is not None and result.summary.network.offline:
        watch.notice(result.summary.network.line())
    return result


def dead_or_failing(checked: CheckSummary) -> set[str]:
    """The fetch URLs whose citations the check found failing or dead: those whose copies elsewhere are asked for."""
    from .run import url_target

    return {url_target(c.url)[0] for c in checked.citations if c.verdict.verdict in ("failing", "dead")}


def _copies(settings: Settings, targets: list[str], checked: CheckSummary, done: Preserved, watch: Watch) -> None:
    """Copies in other web archives of the citations failing or dead: only with archives configured,
    and not after a check judged offline (the archives are not reachable either)."""
    watch.stage("copies")
    wanted = dead_or_failing(checked)
    why = ("no citation is failing or dead" if not wanted else
           "no archives configured (the `archives` setting)" if not settings.archives else
           "the check ran without network" if done.offline else None)
    if why is not None:
        done.skipped.append({"what": "copies", "why": why})
        if wanted:
            watch.notice(f"copies: not looked up: {why}")
        watch.plan(0)
        return
    from .copies.find import copies_for_targets

    watch.plan(1)
    cited, _ = copies_for_targets(settings, targets, only=wanted.__contains__)
    watch.step(None)
    done.copies = {"looked_up": len(cited), "found": sum(c.best is not None for c in cited)}


def _report(settings: Settings, targets: list[str], options: Options, done: Preserved, watch: Watch) -> None:
    from .report.build import build_report
    from .report.html import to_html

    watch.stage("report")
    report = build_report(settings, targets, options.policy)
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.verdict.verdict] = counts.get(row.verdict.verdict, 0) + 1
    done.verdicts = counts
    done.exit_code = report.exit_code
    path = options.out / REPORT_NAME
    write_atomically(path, to_html(report, settings, options.replay_port).encode("utf-8"))
    done.written.append(path)


def _wacz(settings: Settings, done: Preserved, watch: Watch) -> None:
    """A WACZ per paper; without the replay extra (surt, for the index keys) each is skipped with a
    note: the report and the robust copy are worth having without it."""
    watch.stage("wacz")
    if importlib.util.find_spec("surt") is None:
        why = f"the replay extra is not installed ({install_hint('replay')})"
        done.skipped += [{"what": output_names(p)[0], "why": why} for p in done.papers]
        watch.notice(f"wacz: not written: {why}")
        return
    from .export import export_wacz

    for paper in done.papers:
        path = done.out / output_names(paper)[0]
        try:
            export_wacz(settings, str(paper.manifest), path)
        except NotArchived as exc:
            done.skipped.append({"what": path.name, "why": str(exc)})
            watch.notice(f"wacz: {path.name} not written: {exc}")
            continue
        done.written.append(path)


def _robustify(settings: Settings, options: Options, done: Preserved, watch: Watch) -> None:
    """The robust-links copy of each paper robustify can rewrite, linking public copies (or, with
    `ours`, our replay); none is written when no link has an archived copy."""
    from .db.archive_db import ArchiveDB
    from .robustify import ours_finder, public_finder, robustify

    watch.stage("robustify")
    with ArchiveDB.open(settings.db_path, readonly=True) as db:
        if options.ours is not None:
            finder = ours_finder(db, options.ours)
        else:
            from .copies import best_copies

            finder = public_finder(db, best_copies)
        for paper in done.papers:
            path = done.out / output_names(paper)[1]
            if paper.path.suffix.lower() not in ROBUST_SUFFIXES:
                kind = paper.path.suffix or "suffix-less"
                done.skipped.append({"what": path.name, "why": f"robustify does not rewrite {kind} files"})
                continue
            result = robustify(paper.path, finder)
            if not result.robust:
                why = ("no link has a copy in another web archive (configure `archives`, or pass --ours URL-PREFIX"
                       " to link our own replay)" if options.ours is None else "no link has a good capture")
                done.skipped.append({"what": path.name, "why": why})
                watch.notice(f"robustify: {path.name} not written: {why}")
                continue
            write_atomically(path, result.data)
            done.written.append(path)
