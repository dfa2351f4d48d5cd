"""Writing WARC 1.1 records: a file's warcinfo and a capture's request/response/revisit records, written
with warcio's WARCWriter, one gzip member per record.

The clock and record-id hooks are injectable so tests can compare bytes exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import platform
import random
import socket
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import IO, Protocol

from .. import __version__, stamps
from ..evidence import tls
from ..fetch.results import FetchResult, Hop
from .digests import sha1_label
from .warcio_parts import ArcWarcRecord, StatusAndHeaders, WARCWriter

WARC_VERSION = "WARC/1.1"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
CONFORMS_TO = "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
# zlib level 3: a quarter of level 6's CPU on HTML for files about 10% larger (measured in bench/).
GZIP_LEVEL = 3
# ISA-L's deflate (python-isal) writes the same standard gzip members at a fifth of zlib's CPU at
# levels 1-3 (its levels go up to 3, with about zlib's ratio at each); zlib stays the fallback, and
# does level 0 (stored) and levels 4-9, which ask for more compression than ISA-L gives.
FAST_LEVELS = range(1, 4)
try:
    from isal import isal_zlib

    _fast_zlib: ModuleType | None = isal_zlib
except ImportError:  # a speed-up only: without it, zlib writes the same records
    _fast_zlib = None
# Bodies that are already compressed shrink by a percent or two at any level: spend no CPU on them.
PACKED_LEVEL = 0
_PACKED_TYPES = ("image/", "video/", "audio/", "font/woff", "application/zip", "application/gzip",
                 "application/x-gzip", "application/x-7z", "application/x-rar", "application/vnd.rar")


def warc_date(when: dt.datetime) -> str:
    """WARC-Date: the one stored time form, microseconds and `Z`."""
    return stamps.iso(when)


# One OS-seeded generator per process: uuid4() asks the kernel for entropy on every call, which
# cost more than writing the record on sandboxed kernels; 122 random bits stay unique all the same.
_ids = random.Random(os.urandom(32))
_ids_lock = threading.Lock()


def new_record_id() -> str:
    with _ids_lock:
        bits = _ids.getrandbits(128)
    return f"<urn:uuid:{uuid.UUID(int=bits, version=4)}>"


@dataclass(frozen=True)
class RecordInfo:
    """Where a record landed in a spool (and, after append, in its WARC file)."""

    rec_type: str
    uri: str
    record_id: str
    date: str
    offset: int
    length: int
    hop: int
    payload_digest: str | None = None
    refers_to: str | None = None


@dataclass(frozen=True)
class Original:
    """The capture a revisit points at: the newest full response with the same payload."""

    payload_sha1: str  # hex
    record_id: str
    uri: str
    date: str


def gzip_level(hop: Hop, text_level: int) -> int:
    encoding = (hop.header("Content-Encoding") or "").strip().lower()
    ctype = (hop.header("Content-Type") or "").strip().lower()
    if encoding not in ("", "identity") or ctype.startswith(_PACKED_TYPES):
        return min(PACKED_LEVEL, text_level)
    return text_level


class RecordOutput(Protocol):
    """Where records are written: a file or spool, or a writer such as storage's hashing one."""

    def write(self, data: bytes, /) -> object: ...

    def tell(self) -> int: ...


class _GzipMembers:
    """File-like target for WARCWriter(gzip=False): each flush() closes one gzip member, and
    WARCWriter flushes once per record, so every record becomes its own member. Writes are
    gathered into large blocks first: each zlib call releases and retakes the GIL, and with many
    workers those hand-overs cost more than the compression of small pieces."""

    BLOCK = 1024 * 1024

    def __init__(self, out: RecordOutput, level: int = GZIP_LEVEL) -> None:
        self.out = out
        self.level = level
        self._z: Deflater | None = None
        self._pending = bytearray()

    def reset(self) -> None:
        self._z = None
        self._pending.clear()

    def write(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= self.BLOCK:
            self._compress()

    def _compress(self) -> None:
        if self._z is None:
            self._z = compressor(self.level)
        self.out.write(self._z.compress(self._pending))
        self._pending.clear()

    def flush(self) -> None:
        self._compress()
        assert self._z is not None
        self.out.write(self._z.flush())
        self._z = None


class Deflater(Protocol):
    """What the records are compressed with: zlib's compressobj or ISA-L's (the same methods)."""

    def compress(self, data: bytes | bytearray, /) -> bytes: ...

    def flush(self) -> bytes: ...


def compressor(level: int) -> Deflater:
    """A compressobj writing one gzip member at zlib `level`: ISA-L's where it has the level."""
    if _fast_zlib is not None and level in FAST_LEVELS:
        deflater: Deflater = _fast_zlib.compressobj(level, _fast_zlib.DEFLATED, 31)
        return deflater
    return zlib.compressobj(level, zlib.DEFLATED, 31)


class _RawHead(StatusAndHeaders):  # type: ignore[misc]  # warcio is untyped: subclassing Any
    """HTTP headers kept as the exact bytes received. WARCWriter writes only the headers of a
    revisit, and would otherwise re-serialise (and so alter) them."""

    def __init__(self, raw: bytes) -> None:
        super().__init__("", [], protocol="")
        self.headers_buff = raw

    def compute_headers_buffer(self, header_filter: object = None) -> None:
        pass

    def __bool__(self) -> bool:
        return True


class RecordBuilder:
    def __init__(self, make_id: Callable[[], str] = new_record_id, gzip_level: int = GZIP_LEVEL) -> None:
        self.make_id = make_id
        self.gzip_level = gzip_level
        self._local = threading.local()

    def _writer(self, out: RecordOutput, level: int) -> WARCWriter:
        """One WARCWriter per thread, pointed at this record's output: building one per record
        cost a gethostname() system call each time."""
        writer: WARCWriter | None = getattr(self._local, "writer", None)
        if writer is None:
            writer = self._local.writer = WARCWriter(_GzipMembers(out), gzip=False, warc_version="1.1")
        members: _GzipMembers = writer.out
        members.out, members.level = out, level
        members.reset()  # a record abandoned by an exception must not leak into the next one
        return writer

    def _write(
        self, out: RecordOutput, rec_type: str, headers: list[tuple[str, str]], block: IO[bytes],
        length: int, content_type: str, level: int | None = None,
    ) -> tuple[int, int]:
        start = out.tell()
        writer = self._writer(out, self.gzip_level if level is None else level)
        names = {name for name, _ in headers}
        if rec_type != "revisit" and {"WARC-Block-Digest", "WARC-Payload-Digest"} <= names \
                and not names & {"Content-Type", "Content-Length"}:
            # What WARCWriter writes for a record whose digests are given, byte for byte, without its
            # per-header Python work: most of a capture's time holding the GIL in the builders.
            members: _GzipMembers = writer.out
            members.write("".join([f"{WARC_VERSION}\r\n", *(f"{name}: {value}\r\n" for name, value in headers),
                                   f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"]).encode())
            while chunk := block.read(_GzipMembers.BLOCK):
                members.write(chunk)
            members.write(b"\r\n\r\n")
            members.flush()
            return start, out.tell() - start
        warc_headers = StatusAndHeaders("", headers, protocol=WARC_VERSION)
        if rec_type == "revisit":
            record = ArcWarcRecord("warc", rec_type, warc_headers, io.BytesIO(), _RawHead(block.read()),
                                   content_type, length)
        else:
            record = ArcWarcRecord("warc", rec_type, warc_headers, block, None, content_type, length)
        writer.write_record(record)
        return start, out.tell() - start

    def warcinfo(self, out: RecordOutput, filename: str, when: dt.datetime, user_agent: str) -> RecordInfo:
        fields = (
            f"software: archiver/{__version__} (warcio/{_version('warcio')}; requests/{_version('requests')};"
            f" Python/{platform.python_version()})\r\n"
            f"format: WARC File Format 1.1\r\n"
            f"conformsTo: {CONFORMS_TO}\r\n"
            f"hostname: {socket.gethostname()}\r\n"
            f"http-header-user-agent: {user_agent}\r\n"
            f"robots: ignore (citations are archived as evidence)\r\n"
        ).encode()
        record_id, date = self.make_id(), warc_date(when)
        headers = [
            ("WARC-Type", "warcinfo"),
            ("WARC-Record-ID", record_id),
            ("WARC-Date", date),
            ("WARC-Filename", filename),
            ("WARC-Block-Digest", sha1_label(hashlib.sha1(fields).hexdigest())),
        ]
        offset, length = self._write(out, "warcinfo", headers, io.BytesIO(fields), len(fields),
                                     "application/warc-fields")
        return RecordInfo("warcinfo", "", record_id, date, offset, length, -1)

    def capture(self, out: IO[bytes], result: FetchResult, original: Original | None) -> list[RecordInfo]:
        """Write request/response pairs for every hop of `result`; the last response becomes a
        revisit when its payload matches `original`. Returns the records in file order."""
        records: list[RecordInfo] = []
        date = warc_date(result.started_at)  # one WARC-Date for all records of a capture
        last = len(result.hops) - 1
        for index, hop in enumerate(result.hops):
            request_id, response_id = self.make_id(), self.make_id()
            revisit = (
                index == last and original is not None and not hop.truncated
                and hop.payload_sha1 == original.payload_sha1
            )
            if revisit:
                assert original is not None
                records.append(self._revisit(out, hop, index, date, response_id, request_id, original))
            else:
                records.append(self._response(out, hop, index, date, response_id, request_id))
            records.append(self._request(out, hop, index, date, request_id, response_id))
            if hop.tls is not None:
                records.append(self._tls(out, hop, index, date, response_id))
        return records

    def resource(
        self, out: IO[bytes], uri: str, content_type: str, data: bytes, date: str, concurrent_to: str | None,
        rec_type: str = "resource", ip: str | None = None,
    ) -> RecordInfo:
        """A `resource` (or `metadata`) record: something a capture produced rather than received,
        such as a screenshot or a rendered DOM, under a `urn:` URI naming what it is of."""
        record_id = self.make_id()
        headers = [("WARC-Type", rec_type), ("WARC-Record-ID", record_id), ("WARC-Date", date),
                   ("WARC-Target-URI", uri)]
        if ip:
            headers.append(("WARC-IP-Address", ip))
        if concurrent_to:
            headers.append(("WARC-Concurrent-To", concurrent_to))
        digest = sha1_label(hashlib.sha1(data).hexdigest())
        headers.append(("WARC-Block-Digest", digest))
        payload = digest if rec_type == "resource" else None  # a resource's payload is its block
        if payload:
            headers.append(("WARC-Payload-Digest", payload))
        level = min(PACKED_LEVEL, self.gzip_level) if content_type.startswith(_PACKED_TYPES) else self.gzip_level
        offset, length = self._write(out, rec_type, headers, io.BytesIO(data), len(data), content_type, level)
        return RecordInfo(rec_type, uri, record_id, date, offset, length, -1, payload)

    def memento(self, out: IO[bytes], hop: Hop, original: str, when: dt.datetime, source: str,
                fields: list[tuple[str, str]]) -> list[RecordInfo]:
        """A memento imported from another web archive, as pywb records what it fetches from a remote
        archive: a `response` record under the ORIGINAL URL, dated its memento datetime (so replay
        finds it where the original stood), `WARC-Source-URI` the memento and `WARC-Creation-Date` when
        it was imported; then a `metadata` record concurrent to it whose warc-fields say the rest
        (`fields`: the archive, the memento's datetime, the raw URL fetched). No request record: the
        request went to the archive, not to the original URL."""
        record_id = self.make_id()
        date = warc_date(when)
        headers = [("WARC-Type", "response"), ("WARC-Record-ID", record_id), ("WARC-Date", date),
                   ("WARC-Target-URI", original), ("WARC-Source-URI", source),
                   ("WARC-Creation-Date", warc_date(stamps.now())),
                   ("WARC-Block-Digest", sha1_label(hop.block_sha1)),
                   ("WARC-Payload-Digest", sha1_label(hop.payload_sha1))]
        hop.response.seek(0)
        offset, length = self._write(out, "response", headers, hop.response, hop.response_length,
                                     "application/http; msgtype=response", gzip_level(hop, self.gzip_level))
        response = RecordInfo("response", original, record_id, date, offset, length, 0, sha1_label(hop.payload_sha1))
        block = "".join(f"{name}: {value}\r\n" for name, value in fields).encode()
        metadata = self.resource(out, original, "application/warc-fields", block, date, record_id, rec_type="metadata")
        return [response, metadata]

    def _common(self, hop: Hop, rec_type: str, record_id: str, date: str, concurrent: str) -> list[tuple[str, str]]:
        headers = [
            ("WARC-Type", rec_type),
            ("WARC-Record-ID", record_id),
            ("WARC-Date", date),
            ("WARC-Target-URI", hop.url),
        ]
        if hop.ip:
            headers.append(("WARC-IP-Address", hop.ip))
        headers.append(("WARC-Concurrent-To", concurrent))
        return headers

    def _response(self, out: IO[bytes], hop: Hop, index: int, date: str, record_id: str, request_id: str) -> RecordInfo:
        payload = sha1_label(hop.payload_sha1)
        headers = self._common(hop, "response", record_id, date, request_id)
        headers.append(("WARC-Block-Digest", sha1_label(hop.block_sha1)))
        headers.append(("WARC-Payload-Digest", payload))
        if hop.truncated:
            headers.append(("WARC-Truncated", hop.truncated))
        hop.response.seek(0)
        offset, length = self._write(out, "response", headers, hop.response, hop.response_length,
                                     "application/http; msgtype=response", gzip_level(hop, self.gzip_level))
        return RecordInfo("response", hop.url, record_id, date, offset, length, index, payload)

    def _revisit(
        self, out: IO[bytes], hop: Hop, index: int, date: str, record_id: str, request_id: str,
        original: Original,
    ) -> RecordInfo:
        hop.response.seek(0)
        head = hop.response.read(hop.header_length)
        payload = sha1_label(hop.payload_sha1)
        headers = self._common(hop, "revisit", record_id, date, request_id)
        headers += [
            ("WARC-Profile", REVISIT_PROFILE),
            ("WARC-Refers-To", original.record_id),
            ("WARC-Refers-To-Target-URI", original.uri),
            ("WARC-Refers-To-Date", original.date),
            ("WARC-Block-Digest", sha1_label(hashlib.sha1(head).hexdigest())),
            ("WARC-Payload-Digest", payload),
            ("WARC-Truncated", "length"),
        ]
        offset, length = self._write(out, "revisit", headers, io.BytesIO(head), len(head),
                                     "application/http; msgtype=response")
        return RecordInfo("revisit", hop.url, record_id, date, offset, length, index, payload, original.record_id)

    def _tls(self, out: IO[bytes], hop: Hop, index: int, date: str, response_id: str) -> RecordInfo:
        """Who answered (archiver/evidence/tls.py): a `metadata` record concurrent to the hop's response,
        its JSON block built once per connection."""
        assert hop.tls is not None
        info = self.resource(out, hop.url, tls.CONTENT_TYPE, hop.tls.record, date, response_id, rec_type="metadata",
                             ip=hop.ip)
        return RecordInfo(info.rec_type, info.uri, info.record_id, info.date, info.offset, info.length, index)

    def _request(self, out: IO[bytes], hop: Hop, index: int, date: str, record_id: str, response_id: str) -> RecordInfo:
        headers = self._common(hop, "request", record_id, date, response_id)
        body = hop.request.partition(b"\r\n\r\n")[2]
        headers.append(("WARC-Block-Digest", sha1_label(hashlib.sha1(hop.request).hexdigest())))
        headers.append(("WARC-Payload-Digest", sha1_label(hashlib.sha1(body).hexdigest())))
        offset, length = self._write(out, "request", headers, io.BytesIO(hop.request), len(hop.request),
                                     "application/http; msgtype=request")
        return RecordInfo("request", hop.url, record_id, date, offset, length, index)


def _version(distribution: str) -> str:
    # From the installed metadata: importing requests here would load the HTTP stack into every reader.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
