"""WARC digests, the one definition: the builder writes them, verify checks them, the tests' linter asserts them.

A block digest is the SHA-1 of a record's whole block. A payload digest is the SHA-1 of an HTTP
message's entity body as it was on the wire with any chunked transfer coding removed (warcio computes
it over the chunk framing: its issues #74/#75); a content coding such as gzip is kept. Both are
written as labels, 'sha1:' + Base32. Everything streams in 1 MiB pieces.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from ..errors import RecordDamaged
from .warcio_parts import ChunkedDataException, ChunkedDataReader

CHUNK = 1024 * 1024
# Our fetcher refuses longer response heads; a block claiming more is damaged, and never buffered.
MAX_HEAD = CHUNK
CHUNKED = re.compile(rb"(?im)^transfer-encoding[ \t]*:[^\r\n]*chunked")
HEAD_END = b"\r\n\r\n"


class Readable(Protocol):
    """A block to digest: read(n) returns up to n bytes, b"" at its end."""

    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Digests:
    """The labels recomputed from a block: payload is None when the block is not an HTTP message."""

    block: str
    payload: str | None


def sha1_label(hex_digest: str) -> str:
    """'sha1:' + Base32, the digest form WARC readers expect."""
    return "sha1:" + base64.b32encode(bytes.fromhex(hex_digest)).decode("ascii")


def digest_label(digest: hashlib._Hash) -> str:
    """The label of a finished SHA-1."""
    return "sha1:" + base64.b32encode(digest.digest()).decode("ascii")


def digest_block(block: Readable, http: bool) -> Digests:
    """The block digest and, for an HTTP message (`http`), its payload digest, in one pass.
    Raises RecordDamaged when the HTTP head does not end within MAX_HEAD bytes or a chunked body's
    framing is broken."""
    block_sha = hashlib.sha1()
    if not http:
        while piece := block.read(CHUNK):
            block_sha.update(piece)
        return Digests(digest_label(block_sha), None)
    head = _read_head(block)
    block_sha.update(head)
    http_head, sep, body = head.partition(HEAD_END)
    if CHUNKED.search(http_head + sep):
        return Digests(*_dechunked(body, block, block_sha))
    payload_sha = hashlib.sha1(body)
    while piece := block.read(CHUNK):
        block_sha.update(piece)
        payload_sha.update(piece)
    return Digests(digest_label(block_sha), digest_label(payload_sha))


def _read_head(block: Readable) -> bytes:
    """The block's first pieces, up to and past the end of its HTTP head (or all of a short block)."""
    head = b""
    while HEAD_END not in head and len(head) <= MAX_HEAD and (piece := block.read(CHUNK)):
        head += piece
    if HEAD_END not in head and len(head) > MAX_HEAD and _goes_on(block):
        raise RecordDamaged(f"no end of HTTP headers in the first {MAX_HEAD} bytes of the block")
    return head


def _goes_on(block: Readable) -> bool:
    """Whether the block holds more bytes; a block that cannot be read on counts as going on, so
    that an over-long head is what is reported, whatever else is wrong further on."""
    try:
        return bool(block.read(CHUNK))
    except RecordDamaged:
        return True


def _dechunked(body: bytes, block: Readable, block_sha: hashlib._Hash) -> tuple[str, str]:
    """(block label, payload label) of a chunked message whose body starts with `body`, already in
    `block_sha`. De-chunked by warcio's reader, the one that replay tools use; what follows the last
    chunk is in the block digest only."""
    rest = _Hashed(body, block, block_sha)
    payload_sha = hashlib.sha1()
    try:
        source = ChunkedDataReader(rest, raise_exceptions=True)
        while piece := source.read(CHUNK):
            payload_sha.update(piece)
    except ChunkedDataException as exc:
        rest.drain()  # a block cut short is the graver fault, and is reported as such
        raise RecordDamaged(f"chunked framing broken: {exc}") from exc
    rest.drain()
    return digest_label(block_sha), digest_label(payload_sha)


class _Hashed:
    """The rest of a block, read through a buffer: `first` is already in `block_sha`, everything
    read after it from `block` goes into it. readline() is what warcio's chunk reader needs."""

    def __init__(self, first: bytes, block: Readable, block_sha: hashlib._Hash) -> None:
        self.buf, self.pos = first, 0
        self.block, self.block_sha = block, block_sha

    def _pull(self, n: int) -> bytes:
        piece = self.block.read(n)
        self.block_sha.update(piece)
        return piece

    def read(self, n: int = -1) -> bytes:
        if 0 <= n <= len(self.buf) - self.pos:
            self.pos += n
            return self.buf[self.pos - n : self.pos]
        parts = [self.buf[self.pos :]]
        have = len(parts[0])
        self.buf, self.pos = b"", 0
        while (n < 0 or have < n) and (piece := self._pull(CHUNK if n < 0 else min(CHUNK, n - have))):
            parts.append(piece)
            have += len(piece)
        return b"".join(parts)

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self.buf.find(b"\n", self.pos) + 1
            if end and (limit < 0 or end - self.pos <= limit):
                return self.read(end - self.pos)
            if 0 <= limit <= len(self.buf) - self.pos:
                return self.read(limit)
            piece = self._pull(CHUNK)
            if not piece:
                return self.read()
            self.buf, self.pos = self.buf[self.pos :] + piece, 0

    def drain(self) -> None:
        """Read the block to its end, so that all of it is in the block digest."""
        self.buf, self.pos = b"", 0
        while self._pull(CHUNK):
            pass
