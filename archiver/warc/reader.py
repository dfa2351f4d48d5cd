"""Reading one record back from where the database says it is: a byte range of a WARC file that must
be exactly one whole gzip member holding one WARC record.

A StoredRecord parses the WARC head, then digests the block with the one digester (digests.py) and
says what is wrong with the record's end. Damage that leaves nothing to compare (no member, no head,
a block cut short) raises RecordDamaged. Everything streams: no record is ever held in memory.
"""

from __future__ import annotations

import zlib
from typing import IO

from ..errors import RecordDamaged
from .digests import CHUNK, HEAD_END, MAX_HEAD, Digests, digest_block


class MemberStream:
    """The decompressed bytes of the gzip member said to fill [offset, offset + length) of a file, read
    as a stream. Raises RecordDamaged as soon as those bytes are not exactly one whole gzip member."""

    def __init__(self, handle: IO[bytes], offset: int, length: int) -> None:
        handle.seek(offset)
        self.handle, self.length, self.left = handle, length, length
        self.z = zlib.decompressobj(31)
        self.buf = b""
        self.pos = 0

    def _fill(self) -> bool:
        """Decompress the next piece into the buffer; False at the member's end."""
        while self.pos >= len(self.buf):
            if self.z.eof:
                if self.z.unused_data or self.left:
                    used = self.length - self.left - len(self.z.unused_data)
                    raise RecordDamaged(f"gzip member ends after {used} of the record's {self.length} bytes")
                return False
            data = self.z.unconsumed_tail
            if not data:
                if not self.left:
                    raise RecordDamaged(f"the gzip member goes on past the record's {self.length} bytes")
                data = self.handle.read(min(CHUNK, self.left))
                if not data:
                    have = self.length - self.left
                    raise RecordDamaged(f"file ends {have} bytes into the record ({self.length} bytes)" if have
                                        else "file ends before the record")
                self.left -= len(data)
            try:
                self.buf, self.pos = self.z.decompress(data, CHUNK), 0
            except zlib.error as exc:
                raise RecordDamaged(f"not a whole gzip member: {exc}") from exc
        return True

    def read(self, n: int = -1) -> bytes:
        if not self._fill():
            return b""
        end = len(self.buf) if n < 0 else min(len(self.buf), self.pos + n)
        piece = self.buf[self.pos:end] if self.pos or end < len(self.buf) else self.buf
        self.pos = end
        return piece

    def read_exactly(self, n: int) -> bytes:
        parts = []
        while n > 0 and (piece := self.read(n)):
            parts.append(piece)
            n -= len(piece)
        return b"".join(parts)

    def read_head(self) -> bytes | None:
        """Bytes up to and including the first blank line (CRLF CRLF), or None if there is none within
        MAX_HEAD bytes; what follows stays unread."""
        head = b""
        while len(head) <= MAX_HEAD:
            piece = self.read(CHUNK)
            if not piece:
                return None
            start = max(0, len(head) - 3)
            head += piece
            at = head.find(HEAD_END, start)
            if at >= 0:
                self.unread(head[at + 4:])
                return head[: at + 4]
        return None

    def unread(self, data: bytes) -> None:
        if data:
            self.buf, self.pos = data + self.buf[self.pos:], 0


class BlockStream:
    """The next `length` bytes of a member (a record's block); RecordDamaged if the member ends first."""

    def __init__(self, member: MemberStream, length: int) -> None:
        self.member, self.left = member, length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        piece = self.member.read(self.left if n < 0 else min(n, self.left))
        if not piece:
            raise RecordDamaged(f"record block ends {self.left} bytes short of its Content-Length")
        self.left -= len(piece)
        return piece


def head_fields(head: bytes) -> tuple[str, dict[str, str]]:
    """(version line, fields) of a WARC head; names lower-cased, the first of a repeated name kept."""
    version, *lines = head.decode("utf-8", "replace").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return version, fields


class StoredRecord:
    """One record at [offset, offset + length) of an open WARC file. Read in order: `fields` on
    construction, then digests(), then end_problems()."""

    def __init__(self, handle: IO[bytes], offset: int, length: int) -> None:
        self.member = MemberStream(handle, offset, length)
        head = self.member.read_head()
        if head is None or not head.startswith(b"WARC/"):
            raise RecordDamaged("no WARC record header at this offset")
        self.version, self.fields = head_fields(head)

    def field(self, name: str) -> str | None:
        return self.fields.get(name.lower())

    @property
    def is_http(self) -> bool:
        return self.fields.get("content-type", "").startswith("application/http")

    def digests(self, payload: bool) -> Digests:
        """The block's recomputed digests, a payload digest too if `payload` (an HTTP message that
        holds one: a revisit holds none)."""
        try:
            length = int(self.fields.get("content-length", ""))
        except ValueError:
            raise RecordDamaged(f"bad Content-Length {self.fields.get('content-length')!r}") from None
        return digest_block(BlockStream(self.member, length), payload)

    def end_problems(self) -> list[str]:
        """What is wrong after the block: the record's closing CRLF CRLF, nothing else in the member."""
        if self.member.read_exactly(4) != HEAD_END:
            return ["record does not end with CRLF CRLF after its block"]
        if self.member.read(1):
            return ["gzip member holds more than one record"]
        return []
