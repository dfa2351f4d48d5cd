"""Manifests: the human-edited lists of cited URLs (YAML, or .txt / .csv for plain lists)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import CAPTURE_MODES
from .doi import doi_url, is_doi
from .errors import InvalidURL, ManifestError, UsageError
from .spill import SpillList
from .urls import normalize_url

CITATION_KEYS = {
    "url", "doi", "id", "cited_as", "context", "accessed", "memento", "suspect", "candidates", "note",
    "invalid", "reason", "capture",
}
TOP_KEYS = {"title", "source", "schedule", "citations"}
SCHEDULE_KEYS = {"snapshot", "check"}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
# A manifest of 100,000 citations is a few MB; past this it is not a manifest.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# YAML aliases may share a value; they may not multiply the document (the "billion laughs"):
# the nodes a reader of the expanded document would visit, beyond those written, are capped.
MAX_ALIAS_EXPANSION = 1_000_000


class _NoExtra(Mapping[str, Any]):
    """The `extra` of a citation with no other keys: one object shared by all of them (a manifest of a
    million URLs holds a million Citations), read-only, pickled as itself."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"

    def __reduce__(self) -> str:
        return "NO_EXTRA"


NO_EXTRA: Mapping[str, Any] = _NoExtra()


@dataclass(frozen=True, slots=True)  # slots: ~170 bytes less per citation than a __dict__ and an empty dict
class Citation:
    url: str  # as written in the manifest
    line: int
    id: str | None = None
    cited_as: str | None = None
    context: str | None = None
    accessed: dt.date | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: NO_EXTRA, compare=False)
    # What is fetched and the key of every row about this citation, normalised once at load.
    fetch_url: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.fetch_url:
            try:
                fetch_url = normalize_url(self.url)
            except InvalidURL:
                fetch_url = self.url  # only citations built by hand get here: loading drops invalid URLs
            object.__setattr__(self, "fetch_url", fetch_url)

    @property
    def doi(self) -> str | None:
        """The manifest's `doi:` for this citation: with no `url`, its doi.org link is what is fetched."""
        doi = self.extra.get("doi")
        return str(doi) if doi is not None else None

    @property
    def capture(self) -> str | None:
        """The manifest's `capture:` for this citation (http, browser, auto), or None: the run's."""
        mode = self.extra.get("capture")
        return str(mode) if mode is not None else None


@dataclass(frozen=True)
class Problem:
    """A citation that was skipped, with where and why; the rest of the manifest still runs."""

    path: str
    line: int
    text: str
    reason: str
    id: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: skipped {self.text!r}: {self.reason}"


@dataclass(frozen=True)
class Manifest:
    path: str
    citations: Sequence[Citation]  # a SpillList when loaded: read it by iterating
    problems: list[Problem]
    title: str | None = None
    source: str | None = None
    schedule: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.path).stem


def parse_interval(text: str) -> int | None:
    """Seconds in an interval like '30s', '15m', '12h', '7d', '2w'; None when it is not one."""
    match = _INTERVAL.match(text)
    if not match:
        return None
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return int(match.group(1)) * unit


def _check_schedule_value(text: str) -> str | None:
    """None when `text` is a valid interval or 5-field cron string, else the reason."""
    if parse_interval(text):
        return None
    if len(text.split()) != 5:
        return "expected an interval like 30m, 12h, 7d or a 5-field cron string"
    from .cron import cron_trigger  # imported late: APScheduler is costly and rarely needed

    try:
        cron_trigger(text)
    except ValueError as exc:
        return f"bad cron string: {exc}"
    return None


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate a manifest. Raises ManifestError (file:line) for a malformed file;
    individual bad URLs are returned in `problems`, not raised."""
    path = Path(path)
    try:
        _check_bytes(path)
        if path.suffix.lower() == ".txt":  # read a line at a time: a list of a million URLs is not held
            with path.open(encoding="utf-8-sig", newline="\n") as lines:
                return _nonempty(path, _load_txt(path, lines))
        text = path.read_bytes().decode("utf-8-sig")  # as written: \r is not turned into \n
    except OSError as exc:
        raise ManifestError(path, None, f"cannot read manifest: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        manifest = _load_yaml(path, text)
    elif suffix == ".csv":
        manifest = _load_csv(path, text)
    elif suffix in PAPER_SUFFIXES:
        raise ManifestError(path, None, f"this looks like a paper, not a manifest: run `archiver extract {path}` first")
    else:
        raise ManifestError(path, None, "unknown manifest type (expected .yaml, .yml, .txt or .csv)")
    return _nonempty(path, manifest)


def _nonempty(path: Path, manifest: Manifest) -> Manifest:
    if not manifest.citations and not manifest.problems:
        raise ManifestError(path, None, "manifest lists no citations")
    return manifest


def _check_bytes(path: Path) -> None:
    """A manifest is text: at most MAX_MANIFEST_BYTES, no NUL byte (a NUL anywhere is reported first:
    a binary file named like a manifest), valid UTF-8. Read in 1 MiB pieces, nothing kept."""
    too_big = f"larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB: not a manifest"
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(path, None, too_big)
    decoder = codecs.getincrementaldecoder("utf-8")()  # plain UTF-8: a BOM is a valid character here
    size = newlines = 0
    bad_line: int | None = None
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            size += len(piece)
            if size > MAX_MANIFEST_BYTES:  # a file that grew, or is not a regular file
                raise ManifestError(path, None, too_big)
            if (nul := piece.find(b"\0")) >= 0:
                raise ManifestError(path, newlines + piece[:nul].count(b"\n") + 1,
                                    "binary data (a NUL byte): not a manifest")
            if bad_line is None:
                pending = decoder.getstate()[0]  # the start of a character cut by the previous piece
                try:
                    decoder.decode(piece)
                except UnicodeDecodeError as exc:
                    bad_line = newlines + (pending + piece)[: exc.start].count(b"\n") + 1
            newlines += piece.count(b"\n")
    if bad_line is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad_line = newlines + 1
    if bad_line is not None:
        raise ManifestError(path, bad_line, "not valid UTF-8")


def _validated(path: Path, entries: Iterable[tuple[int, dict[str, Any]]]) -> tuple[SpillList[Citation], list[Problem]]:
    citations: SpillList[Citation] = SpillList(of=Citation)  # a million citations would be ~230 MB held
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    for line, entry in entries:
        cid = entry.get("id")
        if cid is not None:
            cid = str(cid)
            if not _ID.match(cid):
                raise ManifestError(path, line, f"id {cid!r} must be 1-100 letters, digits or _.:-")
            if cid in seen_ids:
                raise ManifestError(path, line, f"duplicate id {cid!r} (first at line {seen_ids[cid]})")
            seen_ids[cid] = line
        accessed = entry.get("accessed")
        if accessed is not None:
            accessed = _parse_date(path, line, accessed)
        doi = entry.get("doi")
        if doi is not None:
            entry["doi"] = doi = _checked_doi(path, line, doi)
        url = entry.get("url")
        if url is None and doi is not None:
            url = doi_url(doi)  # a DOI citation fetches its doi.org link (one with a url fetches the url)
        if url is None:
            printed = str(entry.get("invalid", ""))
            problems.append(Problem(str(path), line, printed, str(entry.get("reason") or "marked invalid"), cid))
            continue
        if not isinstance(url, str):
            raise ManifestError(path, line, f"url must be text, got {type(url).__name__}")
        try:
            fetch_url = normalize_url(url)
        except InvalidURL as exc:
            problems.append(Problem(str(path), line, url, exc.detail, cid))
            continue
        if entry.get("capture") is not None:
            mode = str(entry["capture"]).strip().lower()
            if mode not in CAPTURE_MODES:
                raise ManifestError(path, line, f"capture must be one of {', '.join(CAPTURE_MODES)},"
                                                f" got {entry['capture']!r}")
            entry["capture"] = mode
        for key in ("cited_as", "context"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                entry[key] = str(entry[key])
        extra = {k: v for k, v in entry.items() if k not in ("url", "id", "cited_as", "context", "accessed")}
        url = url.strip()
        citations.append(  # a URL already in fetch form is kept once, not twice
            Citation(url, line, cid, entry.get("cited_as"), entry.get("context"), accessed, extra or NO_EXTRA,
                     url if fetch_url == url else fetch_url)
        )
    return citations, problems


def _checked_doi(path: Path, line: int, value: Any) -> str:
    text = str(value).strip()
    if not is_doi(text):
        raise ManifestError(path, line, f"doi: {text!r} is not a DOI (expected 10.NNNN/..., without doi: or"
                                        " https://doi.org/)")
    return text


def _parse_date(path: Path, line: int, value: Any) -> dt.date:
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ManifestError(path, line, f"accessed: {text!r} is not a date (YYYY-MM-DD)") from None


def _load_txt(path: Path, lines: Iterable[str]) -> Manifest:
    # Entries are validated as they are read: a list of a million URLs is not also a million dicts.
    entries = _txt_entries(lines)
    sample = list(itertools.islice(entries, _PROSE_SAMPLE))
    _refuse_prose(path, sample)
    citations, problems = _validated(path, itertools.chain(sample, entries))
    return Manifest(str(path), citations, problems)


def _txt_entries(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    # Only \n ends a line (as in editors: the file is read with newline="\n"); splitting on \f, \x85
    # or U+2028 too would shift every line number after one.
    for number, raw_line in enumerate(lines, 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        # A comment after a URL needs white space before '#', since '#' also starts fragments.
        line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
        yield number, {"url": line}


# A list of URLs has no sentences: when most of its first lines are prose, the file is a paper.
_PROSE_SAMPLE = 40
_PROSE_WORDS = re.compile(r"\S+\s+\S+\s+\S+")


def _refuse_prose(path: Path, entries: list[tuple[int, dict[str, Any]]]) -> None:
    sample = entries[:_PROSE_SAMPLE]
    prose = [line for line, entry in sample if _PROSE_WORDS.search(entry["url"])]
    if len(sample) >= 3 and len(prose) * 2 > len(sample):
        raise ManifestError(path, prose[0], "this looks like a paper, not a list of URLs: "
                            f"run `archiver extract {path}` first")


def _load_csv(path: Path, text: str) -> Manifest:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ManifestError(path, 1, f"bad CSV: {exc}") from exc
    if "url" not in header and "doi" not in header:
        raise ManifestError(path, 1, "CSV manifest needs a 'url' column (or a 'doi' column)")
    reader.fieldnames = header
    entries = []
    try:
        for row in reader:
            # line_num is the row's last line after reading; a quoted field may span several.
            line = reader.line_num - sum(v.count("\n") for v in row.values() if isinstance(v, str))
            if None in row:
                raise ManifestError(path, line, "row has more fields than the header")
            entry = {k: v.strip() for k, v in row.items() if k in CITATION_KEYS and v and v.strip()}
            if not any(entry.values()):
                continue
            entries.append((line, entry))
    except csv.Error as exc:
        raise ManifestError(path, reader.line_num, f"bad CSV: {exc}") from exc
    citations, problems = _validated(path, entries)
    return Manifest(str(path), citations, problems)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that keeps dates as text, so a bad date is our error with its line, not a
    ValueError from deep inside PyYAML. The libyaml (C) parser when present: 10x faster on the
    10,000-citation manifests the daemon re-reads."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _load_yaml(path: Path, text: str) -> Manifest:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ManifestError(path, line, f"character {exc.character!r} not allowed in YAML") from exc
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_aliases(path, root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        mark_line = mark.line + 1 if mark else None
        raise ManifestError(path, mark_line, f"YAML syntax: {exc.problem or exc.context}") from exc
    except yaml.reader.ReaderError as exc:
        raise ManifestError(path, text[: exc.position].count("\n") + 1, f"YAML: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(path, None, f"YAML: {exc}") from exc
    except RecursionError as exc:
        raise ManifestError(path, None, "YAML nested too deeply") from exc
    except (ValueError, TypeError) as exc:  # an explicit tag such as !!int on text that is no int
        raise ManifestError(path, None, f"YAML value: {exc}") from exc
    finally:
        loader.dispose()
    if root is None:
        raise ManifestError(path, None, "manifest is empty")
    citations_node: yaml.Node | None
    if isinstance(data, list):  # a bare list of citations is accepted too
        data, citations_node = {"citations": data}, root
    elif isinstance(data, dict) and isinstance(root, yaml.MappingNode):
        _reject_unknown_keys(path, root, TOP_KEYS, "key")
        citations_node = _value_node(root, "citations")
    else:
        raise ManifestError(path, _line(root), "expected a mapping with a 'citations' list")
    if citations_node is None or not isinstance(data.get("citations"), list):
        line = _line(citations_node) if citations_node is not None else _line(root)
        raise ManifestError(path, line, "'citations' must be a list")
    assert isinstance(citations_node, yaml.SequenceNode)
    entries = []
    for item, node in zip(data["citations"], citations_node.value, strict=False):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            raise ManifestError(path, _line(node), "each citation must be a URL or a mapping with 'url'")
        assert isinstance(node, (yaml.MappingNode, yaml.ScalarNode))
        if isinstance(node, yaml.MappingNode):
            _reject_unknown_keys(path, node, CITATION_KEYS, "citation key")
            if "url" not in item and "doi" not in item and "invalid" not in item:
                raise ManifestError(path, _line(node), "citation has no 'url' (nor 'doi')")
        entries.append((_line(node), dict(item)))
    citations, problems = _validated(path, entries)
    schedule = _schedule(path, root, data.get("schedule"))
    title, source = data.get("title"), data.get("source")
    return Manifest(
        str(path), citations, problems,
        title=str(title) if title is not None else None,
        source=str(source) if source is not None else None,
        schedule=schedule,
    )


def _check_aliases(path: Path, root: yaml.Node) -> None:
    """Refuse a document whose aliases refer to themselves or multiply it past MAX_ALIAS_EXPANSION.

    Counted on the composed graph, where an alias is a shared node: each node's expanded size is
    computed once (iteratively: no recursion limit to reach), so a bomb is refused without expanding it.
    """
    size: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            if key in open_nodes:
                raise ManifestError(path, _line(node), "YAML alias refers to the value that contains it")
            open_nodes.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise ManifestError(path, _line(child), "YAML alias refers to the value that contains it")
                if id(child) not in size:
                    stack.append((child, False))
            continue
        open_nodes.discard(key)
        distinct += 1
        size[key] = 1 + sum(size[id(child)] for child in children)
        if size[key] > distinct + MAX_ALIAS_EXPANSION:
            raise ManifestError(path, _line(node), "YAML aliases expand the document past "
                                f"{MAX_ALIAS_EXPANSION:,} nodes (an alias bomb?)")


def _schedule(path: Path, root: yaml.Node, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    node = _value_node(root, "schedule") if isinstance(root, yaml.MappingNode) else None
    if not isinstance(value, dict) or not isinstance(node, yaml.MappingNode):
        line = _key_line(root, "schedule") if isinstance(root, yaml.MappingNode) else None
        raise ManifestError(path, line, "schedule must be a mapping like {snapshot: 7d, check: 1d}")
    _reject_unknown_keys(path, node, SCHEDULE_KEYS, "schedule key")
    out = {}
    for key_node, value_node in node.value:
        spec = str(value.get(key_node.value, ""))
        reason = _check_schedule_value(spec)
        if reason:
            raise ManifestError(path, _line(value_node), f"schedule.{key_node.value}: {spec!r}: {reason}")
        out[key_node.value] = spec.strip()
    return out


def _value_node(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    key_node: yaml.Node
    value_node: yaml.Node
    for key_node, value_node in mapping.value:
        if key_node.value == key:
            return value_node
    return None


def _key_line(mapping: yaml.MappingNode, key: str) -> int:
    for key_node, _ in mapping.value:
        if key_node.value == key:
            return _line(key_node)
    return _line(mapping)


def _reject_unknown_keys(path: Path, mapping: yaml.MappingNode, known: set[str], what: str) -> None:
    """Duplicate and unknown keys, judged on the text of each key node so the line is exact."""
    seen: set[str] = set()
    for key_node, _ in mapping.value:
        text = key_node.value if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
        if text in seen:
            raise ManifestError(path, _line(key_node), f"duplicate key {text!r}")
        seen.add(text)
        if text not in known:
            raise ManifestError(path, _line(key_node), f"unknown {what} {text!r}")


MANIFEST_SUFFIXES = (".yaml", ".yml", ".txt", ".csv")
PAPER_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".md", ".tex", ".bib", ".ris")  # what `archiver extract` reads


def load_targets(targets: list[str]) -> tuple[list[Manifest], list[str]]:
    """Split command-line TARGETs into manifests and URLs."""
    manifests: list[Manifest] = []
    urls: list[str] = []
    for target in targets:
        path = Path(target)
        if path.is_file():
            manifests.append(load_manifest(path))
        elif target.lower().startswith(("http://", "https://")):
            urls.append(target)
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            raise UsageError(f"{target}: no such manifest file")
        else:
            raise UsageError(f"{target}: neither a manifest file nor an http(s) URL")
    return manifests, urls
