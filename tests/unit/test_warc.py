"""archiver.warc: the record builder and the one digester, on real HTTP bytes from the test server.

Every response is read off a plain socket (chunk framing and content coding exactly as sent), made
into a Hop, written by RecordBuilder, and read back with warcio and with archiver's own reader.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import itertools
import socket
import zlib
from pathlib import Path

import pytest
from server import CHUNKED_BODY, TestServer
from warcio.archiveiterator import ArchiveIterator

from archiver import stamps
from archiver.errors import RecordDamaged
from archiver.fetch.results import FetchResult, Hop
from archiver.warc import (
    MAX_HEAD,
    PACKED_LEVEL,
    REVISIT_PROFILE,
    Digests,
    Original,
    RecordBuilder,
    RecordInfo,
    StoredRecord,
    digest_block,
    gzip_level,
    records,
    sha1_label,
)

WHEN = dt.datetime(2026, 12, 5, 3, 50, 13, 123456, tzinfo=dt.UTC)


def label(data: bytes) -> str:
    return sha1_label(hashlib.sha1(data).hexdigest())


def wire(server: TestServer, path: str) -> tuple[bytes, bytes]:
    """(request, response) exactly as they crossed the socket."""
    request = (f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept-Encoding: gzip\r\n"
               "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        received = []
        while data := sock.recv(65536):
            received.append(data)
    return request, b"".join(received)


def dechunk(body: bytes) -> bytes:
    """The chunk framing taken off by hand (neither warcio's reader nor archiver's)."""
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out += body[:size]
        assert body[size:size + 2] == b"\r\n"
        body = body[size + 2:]


def make_hop(url: str, request: bytes, response: bytes, payload: bytes, truncated: str | None = None) -> Hop:
    head, _, _ = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    return Hop(url=url, started_at=WHEN, request=request, response=io.BytesIO(response),
               response_length=len(response), header_length=len(head) + 4, status=int(status_line.split()[1]),
               reason=status_line.split(" ", 2)[2], headers=headers, ip="127.0.0.1",
               block_sha1=hashlib.sha1(response).hexdigest(), payload_sha1=hashlib.sha1(payload).hexdigest(),
               payload_sha256=hashlib.sha256(payload).hexdigest(), payload_size=len(payload), truncated=truncated)


def fetched(server: TestServer, path: str) -> Hop:
    """A plain (not chunked) response as a Hop."""
    request, response = wire(server, path)
    body = response.partition(b"\r\n\r\n")[2]
    return make_hop(server.url(path), request, response, body)


def builder() -> RecordBuilder:
    ids = itertools.count(1)
    return RecordBuilder(make_id=lambda: f"<urn:uuid:00000000-0000-4000-8000-{next(ids):012d}>")


def capture(build: RecordBuilder, hop: Hop, original: Original | None = None) -> tuple[bytes, list[RecordInfo]]:
    out = io.BytesIO()
    records = build.capture(out, FetchResult(url=hop.url, started_at=WHEN, hops=[hop]), original)
    return out.getvalue(), records


def blocks(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """(WARC headers, whole block) of each record, as warcio reads them."""
    out = []
    for record in ArchiveIterator(io.BytesIO(data), no_record_parse=True):
        out.append((dict(record.rec_headers.headers), record.raw_stream.read()))
    return out


def members(data: bytes) -> list[bytes]:
    """The decompressed bytes of each gzip member."""
    out = []
    while data:
        z = zlib.decompressobj(31)
        out.append(z.decompress(data))
        assert z.eof
        data = z.unused_data
    return out


# -- the builder ---------------------------------------------------------------------------------


def test_response_and_request_records_read_back_by_warcio(server: TestServer) -> None:
    hop = fetched(server, "page/a")
    data, infos = capture(builder(), hop)
    body = hop.response.getvalue().partition(b"\r\n\r\n")[2]
    assert [i.rec_type for i in infos] == ["response", "request"]
    assert [len(m) > 0 for m in members(data)] == [True, True]  # one gzip member per record
    assert infos[0].offset == 0 and infos[1].offset == infos[0].length == len(data) - infos[1].length
    (response, block), (request, request_block) = blocks(data)
    assert block == hop.response.getvalue() and request_block == hop.request
    assert response["WARC-Type"] == "response" and response["WARC-Target-URI"] == hop.url
    assert response["WARC-Date"] == request["WARC-Date"] == stamps.iso(WHEN) == infos[0].date
    assert response["WARC-IP-Address"] == "127.0.0.1"
    assert response["WARC-Concurrent-To"] == request["WARC-Record-ID"] == infos[1].record_id
    assert request["WARC-Concurrent-To"] == response["WARC-Record-ID"] == infos[0].record_id
    assert response["WARC-Block-Digest"] == label(block) == digest_block(io.BytesIO(block), http=True).block
    assert response["WARC-Payload-Digest"] == label(body) == infos[0].payload_digest
    assert digest_block(io.BytesIO(block), http=True).payload == label(body)
    assert request["WARC-Block-Digest"] == label(hop.request)


@pytest.mark.parametrize("path", ["chunked", "chunked?encoding=gzip"])
def test_payload_digest_is_over_the_dechunked_body(server: TestServer, path: str) -> None:
    """The same response stored de-chunked (as archiver's fetcher stores it) and with its framing (as
    other tools do): one payload digest, over the de-chunked body, never over the framing."""
    request, framed = wire(server, path)
    head, _, framed_body = framed.partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in head
    payload = dechunk(framed_body)
    assert payload != framed_body
    renamed = head.replace(b"\r\nTransfer-Encoding:", b"\r\nX-Archive-Orig-Transfer-Encoding:")
    dechunked = renamed + b"\r\n\r\n" + payload
    for response in (dechunked, framed):
        data, infos = capture(builder(), make_hop(server.url(path), request, response, payload))
        (fields, block), _ = blocks(data)
        assert block == response
        digests = digest_block(io.BytesIO(block), http=True)
        assert fields["WARC-Payload-Digest"] == digests.payload == label(payload) != label(framed_body)
        assert fields["WARC-Block-Digest"] == digests.block == label(response)


def test_gzip_content_encoding_is_kept(server: TestServer) -> None:
    """The body is stored as sent, gzip and all; its payload digest is over the gzip bytes."""
    request, framed = wire(server, "chunked?encoding=gzip")
    payload = dechunk(framed.partition(b"\r\n\r\n")[2])
    assert gzip.decompress(payload) == CHUNKED_BODY
    hop = make_hop(server.url("chunked?encoding=gzip"), request, framed, payload)
    assert gzip_level(hop, 3) == PACKED_LEVEL  # an encoded body is not compressed again
    data, _ = capture(builder(), hop)
    (fields, block), _ = blocks(data)
    assert block.endswith(framed.partition(b"\r\n\r\n")[2])
    assert fields["WARC-Payload-Digest"] == label(payload) != label(CHUNKED_BODY)
    record = next(iter(ArchiveIterator(io.BytesIO(data))))
    assert record.http_headers.get_header("Content-Encoding") == "gzip"
    assert record.content_stream().read() == CHUNKED_BODY  # warcio decodes both codings on reading


def test_plain_page_gets_the_builders_level(server: TestServer) -> None:
    assert gzip_level(fetched(server, "page/a"), 3) == 3


@pytest.mark.parametrize("level", range(10))
def test_every_level_writes_the_same_records_as_zlib(server: TestServer, level: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """ISA-L (levels 1-3) or zlib: standard gzip members that hold byte for byte what zlib's hold."""
    hop = fetched(server, "page/a")
    data, infos = capture(RecordBuilder(make_id=builder().make_id, gzip_level=level), hop)
    monkeypatch.setattr(records, "_fast_zlib", None)  # as when python-isal is not installed
    plain, plain_infos = capture(RecordBuilder(make_id=builder().make_id, gzip_level=level), hop)
    assert members(data) == members(plain)
    assert [gzip.decompress(data[i.offset:i.offset + i.length]) for i in infos] == members(plain)
    assert [(i.rec_type, i.record_id) for i in infos] == [(i.rec_type, i.record_id) for i in plain_infos]
    assert [block for _, block in blocks(data)] == [hop.response.getvalue(), hop.request]


def test_isal_compresses_levels_one_to_three() -> None:
    isal_zlib = pytest.importorskip("isal.isal_zlib")
    assert all(isinstance(records.compressor(level), isal_zlib.Compress) for level in (1, 2, 3))
    assert not any(isinstance(records.compressor(level), isal_zlib.Compress) for level in (0, 4, 9))


def test_same_payload_becomes_a_revisit_with_its_fields(server: TestServer) -> None:
    build = builder()
    first = fetched(server, "page/a")
    data, infos = capture(build, first)
    original = Original(first.payload_sha1, infos[0].record_id, first.url, infos[0].date)
    again = fetched(server, "page/a")
    data2, infos2 = capture(build, again, original)
    assert [i.rec_type for i in infos2] == ["revisit", "request"]
    (fields, block), _ = blocks(data2)
    head = again.response.getvalue()[: again.header_length]
    assert block == head  # the HTTP head only: the payload is the original's
    assert fields["WARC-Profile"] == REVISIT_PROFILE
    assert fields["WARC-Refers-To"] == original.record_id == infos2[0].refers_to
    assert fields["WARC-Refers-To-Target-URI"] == first.url
    assert fields["WARC-Refers-To-Date"] == infos[0].date
    assert fields["WARC-Truncated"] == "length"
    assert fields["WARC-Payload-Digest"] == blocks(data)[0][0]["WARC-Payload-Digest"] == infos2[0].payload_digest
    assert fields["WARC-Block-Digest"] == label(head)
    record = next(iter(ArchiveIterator(io.BytesIO(data2))))
    assert record.rec_type == "revisit" and record.http_headers.get_statuscode() == "200"


def test_other_payload_or_truncated_fetch_is_no_revisit(server: TestServer) -> None:
    build = builder()
    first = fetched(server, "page/a")
    _, infos = capture(build, first)
    original = Original(first.payload_sha1, infos[0].record_id, first.url, infos[0].date)
    other = fetched(server, "page/b")
    assert capture(build, other, original)[1][0].rec_type == "response"
    again = fetched(server, "page/a")
    cut = make_hop(again.url, again.request, again.response.getvalue(), again.response.getvalue()[again.header_length:],
                   truncated="length")
    _, cut_infos = capture(build, cut, original)
    assert cut_infos[0].rec_type == "response"
    assert blocks(capture(build, cut, original)[0])[0][0]["WARC-Truncated"] == "length"


def test_warcinfo_record() -> None:
    out = io.BytesIO()
    info = builder().warcinfo(out, "x.warc.gz", WHEN, "archiver-test/1")
    ((fields, block),) = blocks(out.getvalue())
    assert info.rec_type == "warcinfo" and (info.offset, info.length) == (0, len(out.getvalue()))
    assert fields["WARC-Filename"] == "x.warc.gz" and fields["WARC-Date"] == stamps.iso(WHEN)
    assert fields["Content-Type"] == "application/warc-fields"
    assert fields["WARC-Block-Digest"] == label(block) == digest_block(io.BytesIO(block), http=False).block
    assert b"http-header-user-agent: archiver-test/1\r\n" in block and b"format: WARC File Format 1.1" in block


def test_injected_ids_make_identical_bytes(server: TestServer) -> None:
    hop = fetched(server, "page/a")
    first, _ = capture(builder(), hop)
    second, _ = capture(builder(), hop)
    assert first == second
    assert capture(RecordBuilder(), hop)[0] != first  # fresh random ids otherwise


@pytest.mark.parametrize("path", ["page/a", "chunked", "gzip"])
def test_records_are_byte_for_byte_what_warcio_writes(server: TestServer, path: str) -> None:
    """Each member, uncompressed, equals what warcio's own WARCWriter makes of the same headers and
    block (the builder writes request and response records without it)."""
    from warcio.recordloader import ArcWarcRecord
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    request, response = wire(server, path)
    hop = make_hop(server.url(path), request, response, b"any payload")
    written, _ = capture(builder(), hop)
    for member, (fields, block) in zip(members(written), blocks(written), strict=True):
        given = [(k, v) for k, v in fields.items() if k not in ("Content-Type", "Content-Length")]
        expected = io.BytesIO()
        WARCWriter(expected, gzip=False, warc_version="1.1").write_record(ArcWarcRecord(
            "warc", fields["WARC-Type"], StatusAndHeaders("", given, protocol="WARC/1.1"), io.BytesIO(block),
            None, fields["Content-Type"], len(block)))
        assert member == expected.getvalue()


# -- the digester and the reader -------------------------------------------------------------------


def test_non_http_block_has_no_payload_digest() -> None:
    assert digest_block(io.BytesIO(b"software: x\r\n"), http=False).payload is None


@pytest.mark.parametrize("framing, why", [
    (b"zz\r\nabc\r\n0\r\n\r\n", "Couldn't decode length header"),
    (b"5\r\nabc", "Ran out of data before end of chunk"),
    (b"3\r\nabcX\r\n0\r\n\r\n", "Chunk terminator not found"),
])
def test_broken_chunk_framing_is_record_damage(framing: bytes, why: str) -> None:
    block = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framing
    with pytest.raises(RecordDamaged, match=f"chunked framing broken: .*{why}"):
        digest_block(io.BytesIO(block), http=True)


def test_http_head_without_end_is_damage_past_max_head() -> None:
    unended = b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (3 * MAX_HEAD)
    with pytest.raises(RecordDamaged, match="no end of HTTP headers"):
        digest_block(io.BytesIO(unended), http=True)
    for whole in (b"HTTP/1.1 200 OK\r\nX: y", unended[: MAX_HEAD + 5]):  # all there is: a head, no body
        assert digest_block(io.BytesIO(whole), http=True) == Digests(label(whole), label(b""))


def test_chunks_spanning_the_read_pieces() -> None:
    """Chunks larger than the 1 MiB pieces the digester reads in, and many tiny ones."""
    big, tiny = b"b" * (3 << 20), [bytes([i % 256]) * 3 for i in range(2000)]
    for chunks in ([big[:1_500_000], big[1_500_000:]], tiny):
        framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        block = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed + b"after" * 500_000
        digests = digest_block(io.BytesIO(block), http=True)
        assert digests.payload == label(b"".join(chunks))
        assert digests.block == label(block)  # what follows the last chunk is in the block digest


def test_stored_record_reads_each_record_at_its_offset(server: TestServer, tmp_path: Path) -> None:
    data, infos = capture(builder(), fetched(server, "page/a"))
    path = tmp_path / "a.warc.gz"
    path.write_bytes(b"before" + data)
    with open(path, "rb") as handle:
        for info in infos:
            record = StoredRecord(handle, len(b"before") + info.offset, info.length)
            assert record.field("WARC-Record-ID") == info.record_id and record.version == "WARC/1.1"
            digests = record.digests(payload=record.is_http)
            assert record.end_problems() == []
            assert digests.block == record.field("WARC-Block-Digest")
            assert digests.payload == record.field("WARC-Payload-Digest")


def test_stored_record_damage(server: TestServer, tmp_path: Path) -> None:
    data, infos = capture(builder(), fetched(server, "page/a"))
    response, request = members(data)
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    merged = z.compress(response + request) + z.flush()
    path = tmp_path / "a.warc.gz"
    path.write_bytes(merged)
    with open(path, "rb") as handle:
        record = StoredRecord(handle, 0, len(merged))
        record.digests(payload=True)
        assert record.end_problems() == ["gzip member holds more than one record"]
    path.write_bytes(data[: infos[0].length // 2])
    with open(path, "rb") as handle, pytest.raises(RecordDamaged, match="file ends"):
        record = StoredRecord(handle, 0, infos[0].length)
        record.digests(payload=True)
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    path.write_bytes(z.compress(b"HTTP/1.1 200 OK\r\n\r\n") + z.flush())
    with open(path, "rb") as handle, pytest.raises(RecordDamaged, match="no WARC record header"):
        StoredRecord(handle, 0, path.stat().st_size)
