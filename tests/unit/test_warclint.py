"""The tests' WARC linter (helpers/warclint.py) on real WARCs from `archiver snapshot`, then tampered with.

Every WARC is one gzip member per record, so each test splits a file into its members, decompresses
the one it wants to break, edits WARC headers or block, recompresses it as a single member and
splices it back. Each check of the checker must be seen to fail on the right record.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import zlib
from pathlib import Path

import pytest
from conftest import invoke
from server import CHUNKED_BODY, CHUNKS, TestServer
from warclint import LintFinding, check_warcs

ROUTES = ["page/a", "chunked", "chunked?encoding=gzip", "redirect/2", "state/warccheck"]
HOPS = 1 + 1 + 1 + 3 + 1  # redirect/2 -> redirect/1 -> page/final


def sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def gzip1(raw: bytes) -> bytes:
    """`raw` compressed as exactly one gzip member."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    return z.compress(raw) + z.flush()


def split_members(data: bytes) -> list[bytes]:
    """The compressed bytes of each gzip member of a .warc.gz, in order."""
    members = []
    while data:
        z = zlib.decompressobj(31)
        z.decompress(data)
        assert z.eof, "trailing partial gzip member"
        members.append(data[: len(data) - len(z.unused_data)])
        data = z.unused_data
    return members


class Warc:
    """A .warc.gz as a list of gzip members, one record each, editable in place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.members = split_members(path.read_bytes())

    def raw(self, i: int) -> bytes:
        return zlib.decompress(self.members[i], 31)

    def parts(self, i: int) -> tuple[bytes, list[tuple[str, str]], bytes]:
        """(version line, WARC headers, block) of record i."""
        head, _, rest = self.raw(i).partition(b"\r\n\r\n")
        assert rest.endswith(b"\r\n\r\n")
        version, *lines = head.split(b"\r\n")
        headers = [tuple(line.decode().split(": ", 1)) for line in lines]
        return version, headers, rest[:-4]  # type: ignore[return-value]

    def header(self, i: int, name: str) -> str | None:
        return dict(self.parts(i)[1]).get(name)

    def find(self, rec_type: str, uri_suffix: str = "") -> int:
        """Index of the only record of `rec_type` whose target URI ends with `uri_suffix`."""
        hits = [i for i in range(len(self.members)) if self.header(i, "WARC-Type") == rec_type
                and (self.header(i, "WARC-Target-URI") or "").endswith(uri_suffix)]
        assert len(hits) == 1, (rec_type, uri_suffix, hits)
        return hits[0]

    def offset(self, i: int) -> int:
        return sum(len(m) for m in self.members[:i])

    def edit(self, i: int, *, block: bytes | None = None, version: bytes | None = None,
             set_headers: dict[str, str] | None = None, drop: tuple[str, ...] = (),
             fix_block_digest: bool = True) -> None:
        """Rewrite record i; Content-Length always follows the block, the block digest by default."""
        old_version, headers, old_block = self.parts(i)
        block = old_block if block is None else block
        fields = {**dict(headers), **(set_headers or {}), "Content-Length": str(len(block))}
        if fix_block_digest:
            fields["WARC-Block-Digest"] = sha1(block)
        head = b"\r\n".join([version or old_version, *(f"{k}: {v}".encode() for k, v in fields.items()
                                                       if k not in drop)])
        self.members[i] = gzip1(head + b"\r\n\r\n" + block + b"\r\n\r\n")

    def save(self) -> None:
        self.path.write_bytes(b"".join(self.members))


def problems_at(findings: list[LintFinding], warc: Warc, i: int) -> list[str]:
    return [f.problem for f in findings if f.warc == str(warc.path) and f.offset == warc.offset(i)]


# -- the archive under test: two real snapshot runs, the second giving a revisit --------------

@pytest.fixture(scope="module")
def pristine(server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    storage = tmp_path_factory.mktemp("warccheck") / "storage"
    first = invoke(storage, "snapshot", *(server.url(r) for r in ROUTES), "--per-host-delay", "0")
    assert first.exit_code == 0, first.output
    again = invoke(storage, "snapshot", server.url("state/warccheck"), "--per-host-delay", "0")
    assert again.exit_code == 0, again.output
    files = sorted((storage / "warcs").glob("*.warc.gz"))
    assert len(files) == 2, files
    return files


@pytest.fixture()
def warcs(pristine: list[Path], tmp_path: Path) -> list[Warc]:
    """Private copies of the two WARCs (run 1, run 2) for a test to tamper with."""
    return [Warc(Path(shutil.copy(p, tmp_path / p.name))) for p in pristine]


def check(*warcs: Warc) -> list[LintFinding]:
    for w in warcs:
        w.save()
    return check_warcs([w.path for w in warcs]).findings


def test_fresh_archive_is_ok_and_every_record_counted(pristine: list[Path]) -> None:
    report = check_warcs(pristine)
    assert report.ok, [str(f) for f in report.findings]
    assert report.findings == []
    # run 1: warcinfo + request/response per hop; run 2: warcinfo, revisit, request
    assert report.records == (1 + 2 * HOPS) + 3
    assert report.records == sum(len(split_members(p.read_bytes())) for p in pristine)
    run1, run2 = (Warc(p) for p in pristine)
    assert [run1.header(i, "WARC-Type") for i in range(len(run1.members))].count("response") == HOPS
    assert [run2.header(i, "WARC-Type") for i in range(3)] == ["warcinfo", "revisit", "request"]


def test_files_are_checked_together(pristine: list[Path]) -> None:
    """Alone, run 2's revisit points at a record the checker has not seen."""
    run2 = Warc(pristine[1])
    findings = check_warcs([pristine[1]]).findings
    assert [(f.offset, f.problem.split(" <")[0], f.problem.endswith("not found")) for f in findings] == [
        (run2.offset(1), "WARC-Refers-To", True)]


def test_changed_body_byte_breaks_block_and_payload_digest(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    i = run1.find("response", "/page/a")
    _, _, block = run1.parts(i)
    head, _, body = block.partition(b"\r\n\r\n")
    at = body.index(b"Text of")
    run1.edit(i, block=head + b"\r\n\r\n" + body[:at] + b"t" + body[at + 1:], fix_block_digest=False)
    findings = check(*warcs)
    problems = sorted(problems_at(findings, run1, i))
    assert [p.split(" ")[:2] for p in problems] == [["block", "digest"], ["payload", "digest"]]
    assert len(findings) == 2


def rechunk(warc: Warc, i: int) -> tuple[bytes, str]:
    """Put the chunk framing back into /chunked's response; returns (framed body, stated digest)."""
    _, _, block = warc.parts(i)
    head, _, body = block.partition(b"\r\n\r\n")
    assert body == CHUNKED_BODY
    assert b"\r\nX-Archive-Orig-Transfer-Encoding: chunked" in head
    head = head.replace(b"X-Archive-Orig-Transfer-Encoding", b"Transfer-Encoding")
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in CHUNKS) + b"0\r\n\r\n"
    warc.edit(i, block=head + b"\r\n\r\n" + framed)
    return framed, warc.header(i, "WARC-Payload-Digest") or ""


def test_payload_digest_over_chunk_framing_is_caught(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    i = run1.find("response", "/chunked")
    framed, stated = rechunk(run1, i)
    assert stated == sha1(CHUNKED_BODY)
    run1.edit(i, set_headers={"WARC-Payload-Digest": sha1(framed)})  # what warcio writes (#74)
    findings = check(*warcs)
    assert [(f.offset, f.problem) for f in findings] == [
        (run1.offset(i), f"payload digest {sha1(framed)} != {sha1(CHUNKED_BODY)} (de-chunked body)")]


def test_chunked_record_with_dechunked_payload_digest_passes(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    i = run1.find("response", "/chunked")
    framed, _ = rechunk(run1, i)
    assert b"Transfer-Encoding: chunked" in run1.parts(i)[2] and framed in run1.parts(i)[2]
    assert check(*warcs) == []


def test_deleted_request_leaves_response_pointing_nowhere(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    i = run1.find("response", "/page/a")
    j = run1.find("request", "/page/a")
    request_id = run1.header(j, "WARC-Record-ID")
    del run1.members[j]
    findings = check(*warcs)
    assert [(f.offset, f.problem) for f in findings] == [
        (run1.offset(i), f"WARC-Concurrent-To {request_id} not found")]


def test_duplicate_record_id(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    run1.members.append(run1.members[0])  # warcinfo again, same id
    findings = check(*warcs)
    info_id = run1.header(0, "WARC-Record-ID")
    assert [(f.offset, f.problem) for f in findings] == [
        (run1.offset(len(run1.members) - 1), f"duplicate WARC-Record-ID {info_id}")]


UNKNOWN = "<urn:uuid:00000000-0000-4000-8000-000000000000>"
OTHER_DATE = "2001-02-03T04:05:06.000007Z"

# (run, record type, URI suffix, edit, expected problem text at that record)
HEADER_EDITS = [
    (1, "revisit", "", dict(set_headers={"WARC-Refers-To": UNKNOWN}), f"WARC-Refers-To {UNKNOWN} not found"),
    (1, "revisit", "", dict(set_headers={"WARC-Refers-To-Date": OTHER_DATE}),
     f"WARC-Refers-To-Date '{OTHER_DATE}' != original's WARC-Date"),
    (1, "revisit", "", dict(set_headers={"WARC-Refers-To-Target-URI": "http://example.org/"}),
     "WARC-Refers-To-Target-URI 'http://example.org/' != original's WARC-Target-URI"),
    (1, "revisit", "", dict(set_headers={"WARC-Payload-Digest": sha1(b"other")}),
     f"WARC-Payload-Digest '{sha1(b'other')}' != original's WARC-Payload-Digest"),
    (1, "revisit", "", dict(drop=("WARC-Truncated",)), "revisit without WARC-Truncated: length"),
    (1, "revisit", "", dict(set_headers={"WARC-Profile": "http://example.org/p"}),
     "revisit profile 'http://example.org/p'"),
    (0, "response", "/page/a", dict(version=b"WARC/1.0"), "version WARC/1.0, expected WARC/1.1"),
    (0, "response", "/page/a", dict(set_headers={"WARC-Date": "2024-01-01 00:00:00"}),
     "bad WARC-Date '2024-01-01 00:00:00'"),
    (0, "request", "/page/a", dict(set_headers={"WARC-Date": OTHER_DATE}), "request and response dates differ"),
    (0, "request", "/page/a", dict(drop=("WARC-IP-Address",)), "no WARC-IP-Address"),
    (0, "warcinfo", "", dict(drop=("WARC-Record-ID",)), "no WARC-Record-ID"),
]


@pytest.mark.parametrize("run, rec_type, suffix, edit, expected", HEADER_EDITS,
                         ids=[e[-1].split(" ")[0] + "-" + str(n) for n, e in enumerate(HEADER_EDITS)])
def test_header_edit_is_found_on_that_record(warcs: list[Warc], run: int, rec_type: str, suffix: str,
                                             edit: dict, expected: str) -> None:
    warc = warcs[run]
    i = warc.find(rec_type, suffix)
    partner = warc.header(i, "WARC-Concurrent-To")
    near = {i} | {k for k in range(len(warc.members)) if partner and warc.header(k, "WARC-Record-ID") == partner}
    warc.edit(i, **edit)
    findings = check(*warcs)
    near = {warc.offset(k) for k in near}  # offsets after the edit
    assert any(p.startswith(expected) for p in problems_at(findings, warc, i)), findings
    assert {(f.warc, f.offset) for f in findings} <= {(str(warc.path), o) for o in near}, findings


def test_request_concurrent_to_another_response(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    j = run1.find("request", "/page/a")
    other = run1.header(run1.find("response", "/chunked"), "WARC-Record-ID")
    run1.edit(j, set_headers={"WARC-Concurrent-To": other or ""})
    findings = check(*warcs)
    assert [(f.offset, f.problem) for f in findings if f.offset == run1.offset(j)] == [
        (run1.offset(j), f"{other} does not point back with WARC-Concurrent-To")]
    # and the response of page/a no longer has its request pointing back at it
    i = run1.find("response", "/page/a")
    assert problems_at(findings, run1, i) == [
        f"{run1.header(j, 'WARC-Record-ID')} does not point back with WARC-Concurrent-To"]


def merge_page_a_pair(run1: Warc) -> int:
    """Put page/a's response and request into one gzip member; returns the member's index."""
    i = run1.find("response", "/page/a")
    assert run1.find("request", "/page/a") == i + 1
    run1.members[i: i + 2] = [gzip1(run1.raw(i) + run1.raw(i + 1))]
    return i


def test_two_records_in_one_gzip_member_make_the_report_fail(warcs: list[Warc]) -> None:
    merge_page_a_pair(warcs[0])
    findings = check(*warcs)
    assert any("gzip" in f.problem for f in findings if f.warc == str(warcs[0].path)), findings


def test_two_records_in_one_gzip_member_found_at_that_record(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    i = merge_page_a_pair(run1)
    findings = check(*warcs)
    assert "gzip member holds 2 records: each record must be its own member" in problems_at(findings, run1, i)
    starts = {run1.offset(k) for k in range(len(run1.members))}
    assert all(f.offset in starts for f in findings if f.warc == str(run1.path)), findings


def test_first_record_not_warcinfo(warcs: list[Warc]) -> None:
    run1 = warcs[0]
    del run1.members[0]
    findings = check(*warcs)
    assert [(f.offset, f.problem) for f in findings] == [(0, "first record is not warcinfo")]


def truncate_last(run1: Warc, keep: float) -> int:
    """Cut run1's file inside its last gzip member, keeping that fraction of it; returns its offset."""
    last = len(run1.members) - 1
    run1.save()
    offset = run1.offset(last)
    run1.path.write_bytes(run1.path.read_bytes()[: offset + max(1, int(len(run1.members[last]) * keep))])
    return offset


@pytest.mark.parametrize("keep", [0.5, 0.01], ids=["middle", "gzip-header"])
def test_truncated_last_record_is_unreadable_at_its_offset(warcs: list[Warc], keep: float) -> None:
    offset = truncate_last(warcs[0], keep)
    report = check_warcs([w.path for w in warcs])  # a finding, never an exception
    unreadable = [f for f in report.findings if f.problem.startswith("unreadable")]
    assert [(f.warc, f.offset) for f in unreadable] == [(str(warcs[0].path), offset)]
    assert "truncated gzip member" in unreadable[0].problem
