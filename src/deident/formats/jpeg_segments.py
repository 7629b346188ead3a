"""JPEG marker segments in the words of ITU T.81: the marker table and one walk over a file's segments.

Its own module so that what reads a JPEG's structure (``jpeg``, ``jpeg_padding``) shares the walker
without importing each other.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from deident.errors import CorruptFile
from deident.formats.items import Parsed

SOI, EOI, SOS, COM, DRI = 0xD8, 0xD9, 0xDA, 0xFE, 0xDD
APP0, APP1, APP2, APP13, APP14 = 0xE0, 0xE1, 0xE2, 0xED, 0xEE
RST = range(0xD0, 0xD8)
STANDALONE = {SOI, EOI, 0x01, *RST}  # markers without a length field (TEM, RSTn)
SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Segments a decoder needs: frame headers, tables, restart interval, number of lines, scan headers.
TABLES = SOF | {0xC4, 0xCC, 0xDB, DRI, 0xDC, 0xDE, 0xDF}
DAC, HIERARCHY = 0xCC, {0xDE, 0xDF}  # arithmetic conditioning; DHP and EXP (hierarchical mode only)
# The frames whose scans deident can walk and cut (baseline, extended and progressive Huffman DCT).
# Arithmetic-coded, lossless and hierarchical JPEG is refused, never copied unchecked: rare in photos.
HUFFMAN_DCT = {0xC0, 0xC1, 0xC2}


@dataclass(frozen=True)
class Segment:
    marker: int
    start: int  # offset of the 0xFF of the marker
    payload: bytes  # bytes after the length field (empty for stand-alone markers)
    scan_end: int = 0  # for SOS: end of the entropy-coded data that follows the header

    def startswith(self, sig: bytes) -> bool:
        return self.payload.startswith(sig)

    @property
    def name(self) -> str:
        m = self.marker
        if 0xE0 <= m <= 0xEF:
            return f"APP{m - 0xE0}"
        return {COM: "COM", SOS: "SOS", 0xDB: "DQT", 0xC4: "DHT", DRI: "DRI", SOI: "SOI", EOI: "EOI"}.get(
            m, f"SOF{m - 0xC0}" if m in SOF else f"marker 0x{m:02X}"
        )


_last: tuple[bytes, Parsed[Segment]] | None = None


def walk(data: bytes) -> Parsed[Segment]:
    """Every marker segment up to the first EOI (``chunks``; ``end`` just after EOI, then ``trailer`` bytes);
    raises CorruptFile on anything a decoder would choke on.

    The last result is kept: inspect, scrub and verify walk the same bytes several times (without it a
    metadata-only scrub costs 17 % more CPU: 2.01 against 1.71 CPU-s for 300 photos, median of 5
    interleaved rounds, 2026-12-05).
    """
    global _last
    last = _last  # one read: another thread may replace it meanwhile
    if last is not None and last[0] is data:
        return last[1]
    parsed = _walk(data)
    _last = (data, parsed)
    return parsed


def _walk(data: bytes) -> Parsed[Segment]:
    if data[:2] != b"\xff\xd8":
        raise CorruptFile("not a JPEG (no start-of-image marker)")
    segs: list[Segment] = []
    pos, n = 2, len(data)
    while True:
        if pos >= n:
            raise CorruptFile("JPEG is truncated (no end-of-image marker)")
        if data[pos] != 0xFF:
            raise CorruptFile(f"JPEG: expected a marker at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise CorruptFile("JPEG is truncated (no end-of-image marker)")
        marker, start = data[pos], pos - 1
        pos += 1
        if marker == EOI:
            return Parsed(segs, pos, n - pos)
        if marker in STANDALONE:
            continue
        if pos + 2 > n:
            raise CorruptFile("JPEG is truncated inside a segment header")
        length = struct.unpack(">H", data[pos : pos + 2])[0]
        if length < 2 or pos + length > n:
            raise CorruptFile(f"JPEG: {Segment(marker, start, b'').name} segment length runs past the end")
        payload = data[pos + 2 : pos + length]
        pos += length
        if marker == SOS:
            end = _scan_end(data, pos)
            segs.append(Segment(marker, start, payload, end))
            pos = end
        else:
            segs.append(Segment(marker, start, payload))


# A marker inside entropy-coded data: 0xFF followed by anything but a stuffed zero or RST0-7 (T.81 F.1.2.3).
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]", re.S)


def _scan_end(data: bytes, pos: int) -> int:
    """End of entropy-coded data: the first 0xFF not followed by a stuffed 0x00 or an RSTn marker."""
    m = _MARKER_IN_SCAN.search(data, pos)
    if m is None:
        raise CorruptFile("JPEG is truncated inside the image data (no end-of-image marker)")
    return m.start()


def segment_bytes(seg: Segment) -> bytes:
    """A marker segment as written: marker, length field, payload."""
    return b"\xff" + bytes([seg.marker]) + struct.pack(">H", len(seg.payload) + 2) + seg.payload
