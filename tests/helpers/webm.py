"""A real WebM, built by hand: EBML header, then a Segment with Info, one VP8 track and a cluster
holding one key frame (no ffmpeg needed). yt-dlp's generic extractor and Chromium take it for a video."""

from __future__ import annotations

import struct


def _size(n: int) -> bytes:
    """An EBML variable-length size: the shortest width whose all-ones value (reserved) it stays under."""
    for width in range(1, 9):
        if n < (1 << (7 * width)) - 1:
            return (n | (1 << (7 * width))).to_bytes(width, "big")
    raise ValueError(n)


def _el(ident: int, payload: bytes) -> bytes:
    return ident.to_bytes((ident.bit_length() + 7) // 8, "big") + _size(len(payload)) + payload


def _uint(ident: int, value: int) -> bytes:
    return _el(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def tiny_webm(frame_size: int = 3000) -> bytes:
    header = _el(0x1A45DFA3, _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
                 + _el(0x4282, b"webm") + _uint(0x4287, 2) + _uint(0x4285, 2))
    info = _el(0x1549A966, _uint(0x2AD7B1, 1_000_000) + _el(0x4D80, b"archiver tests") + _el(0x5741, b"archiver tests")
               + _el(0x4489, struct.pack(">f", 40.0)))
    video = _el(0xE0, _uint(0xB0, 16) + _uint(0xBA, 16))
    tracks = _el(0x1654AE6B, _el(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _el(0x86, b"V_VP8")
                                 + video))
    # A VP8 key frame's header (frame tag, start code, 16x16), then deterministic filler.
    frame = b"\x50\x42\x00\x9d\x01\x2a\x10\x00\x10\x00" + bytes((i * 7) % 251 for i in range(frame_size))
    block = _el(0xA3, b"\x81" + struct.pack(">h", 0) + b"\x80" + frame)
    cluster = _el(0x1F43B675, _uint(0xE7, 0) + block)
    return header + _el(0x18538067, info + tracks + cluster)


