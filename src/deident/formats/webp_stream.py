"""Where a WebP bitstream ends: the bytes of a VP8, VP8L or compressed ALPH payload that libwebp reads.

Bytes can follow a bitstream inside its chunk and no decoder reads them (issue 18): after the last VP8L
code, after what the boolean decoder of a VP8 partition reads (the last token partition runs to the chunk
end, the others and the mode partition have declared sizes), after a compressed alpha plane (a VP8L stream
without its header). A name planted there would be copied, so each stream is cut to what libwebp reads.

libwebp refuses a stream cut short of a byte it reads: the VP8 boolean decoder flags end of data on its first
read past the end and the frame fails ("Premature end-of-file"); the VP8L bit reader flags it once a code
takes a bit past the end and a still picture fails. Up to that byte both read the same bytes, so the shortest
prefix that decodes, to the same pixels, is the part decoding uses; a longer one decodes the same. It is
found by a search over the length (each step a decode of the stream alone), and the result decodes to the
same pixels once more before it is used. An encoder's final flush leaves up to a few zero bytes after what
the decoder reads (libwebp 1.2-1.6: 1-3 after a VP8 partition, 0-1 after a VP8L stream, in 58 files
measured); zero bytes carry nothing, so they stay and ordinary files keep their bitstreams byte for byte.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

from deident.errors import CorruptFile, TooLarge

# What an encoder's final flush leaves after the bytes the decoder reads, kept so that ordinary files stay
# byte for byte: in 432 lossy encodes by libwebp 1.6 (6 pictures, quality 5-100, methods 0/4/6, 3 sizes)
# each partition ended in 1-4 such bytes, the last ones zero and at most the first 2 not (patterns Z, ZZ,
# ZZZ, ZZZZ, xZ, xZZ, xZZZ, xxZZ); lossless streams in 0-1 zero byte.
FLUSH, FLUSH_CODED = 4, 2
VP8L_SIGNATURE = 0x2F
_ENDS: dict[bytes, bytes] = {}  # digest of (kind, payload, size) -> the payload cut: open, scrub, verify ask


def trimmed(fourcc: bytes, payload: bytes, limit: int, size: tuple[int, int] | None = None) -> bytes:
    """``payload`` of a VP8, VP8L or ALPH chunk cut to the bytes libwebp reads (ALPH: of a ``size``
    picture); refuses (``TooLarge``) a stream of more than ``limit`` pixels before decoding it."""
    key = hashlib.blake2b(fourcc + repr(size).encode() + payload, digest_size=20).digest()
    if key not in _ENDS:
        if len(_ENDS) > 4096:
            _ENDS.clear()
        _ENDS[key] = _trim(fourcc, payload, limit, size)
    return _ENDS[key]


def _trim(fourcc: bytes, payload: bytes, limit: int, size: tuple[int, int] | None) -> bytes:
    if fourcc == b"VP8L":
        return _lossless(payload, limit)
    if fourcc == b"VP8 ":
        return _lossy(payload, limit)
    if size is None or max(size) > 1 << 14:
        raise CorruptFile("WebP: ALPH chunk without a picture size a VP8 frame can have")
    header = struct.pack("<BI", VP8L_SIGNATURE, (size[0] - 1) | (size[1] - 1) << 14)
    body = _lossless(header + payload[1:], limit)[len(header) :]  # the plane as a VP8L picture
    return payload[:1] + body


def _lossless(payload: bytes, limit: int) -> bytes:
    if len(payload) < 5 or payload[0] != VP8L_SIGNATURE:
        raise CorruptFile("WebP: VP8L stream without its signature")
    bits = int.from_bytes(payload[1:5], "little")
    _refuse_above(((bits & 0x3FFF) + 1) * ((bits >> 14 & 0x3FFF) + 1), limit)
    wrap = _still(b"VP8L")
    reference = _reference(wrap(payload))
    end = _shortest(payload, lambda n: _same(_decoded(wrap(payload[:n])), reference))
    return payload[:end]


def _lossy(payload: bytes, limit: int) -> bytes:
    """Each partition cut in turn, the ones before it already cut (libwebp reads past a partition's end as
    zeros, and what it then makes of the last macroblock depends on the others' lengths, so each is tried
    in the frame as it will be written); declared sizes rewritten to match."""
    parts = vp8_partitions(payload)
    width, height = (int.from_bytes(payload[i : i + 2], "little") & 0x3FFF for i in (6, 8))
    _refuse_above(width * height, limit)
    wrap = _still(b"VP8 ")
    reference = _reference(wrap(payload))
    sizes: dict[int, int] = {}
    for i, part in enumerate(parts):

        def same(n: int, i: int = i) -> bool:
            return _same(_decoded(wrap(_vp8(payload, parts, sizes | {i: n}))), reference)

        sizes[i] = _shortest(part, same)
    out = _vp8(payload, parts, sizes)
    if out != payload and not _same(_decoded(wrap(out)), reference):
        raise CorruptFile("WebP: a VP8 frame whose end cannot be told")
    return out


def vp8_partitions(payload: bytes) -> list[bytes]:
    """The partitions of a VP8 key frame: modes first, then the token partitions (RFC 6386, 9.1-9.5)."""
    if len(payload) < 10 or payload[0] & 1 or payload[3:6] != b"\x9d\x01\x2a":
        raise CorruptFile("WebP: VP8 chunk is not a key frame")
    first = int.from_bytes(payload[:3], "little") >> 5
    start = 10 + first
    count = 1 << _token_partition_bits(payload[10:start])
    sizes_end = start + 3 * (count - 1)
    if sizes_end > len(payload):
        raise CorruptFile("WebP: VP8 partition sizes run past the chunk")
    parts, pos = [payload[10:start]], sizes_end
    for i in range(count - 1):
        size = int.from_bytes(payload[start + 3 * i : start + 3 * i + 3], "little")
        parts.append(payload[pos : pos + size])
        pos += size
    if pos >= len(payload):
        raise CorruptFile("WebP: VP8 token partitions run past the chunk")
    return [*parts, payload[pos:]]


def _vp8(payload: bytes, parts: list[bytes], sizes: dict[int, int]) -> bytes:
    """The VP8 frame with partition ``i`` cut to ``sizes[i]`` bytes, its size fields to match."""
    cut = [p[: sizes.get(i, len(p))] for i, p in enumerate(parts)]
    tag = int.from_bytes(payload[:3], "little") & 0x1F | len(cut[0]) << 5
    table = b"".join(len(p).to_bytes(3, "little") for p in cut[1:-1])
    return tag.to_bytes(3, "little") + payload[3:10] + cut[0] + table + b"".join(cut[1:])


def _token_partition_bits(first: bytes) -> int:
    """log2 of the token partition count: the last field of the frame header (RFC 6386, 19.2)."""
    br = _BoolDecoder(first)
    br.literal(2)  # colour space, clamping type
    if br.literal(1):  # segmentation enabled
        update_map, update_data = br.literal(1), br.literal(1)
        if update_data:
            br.literal(1)  # absolute or delta values
            for bits in (7, 7, 7, 7, 6, 6, 6, 6):  # quantizer, then loop filter level, per segment
                if br.literal(1):
                    br.literal(bits + 1)  # magnitude and sign
        if update_map:
            for _ in range(3):
                if br.literal(1):
                    br.literal(8)
    br.literal(1 + 6 + 3)  # filter type, level, sharpness
    if br.literal(1) and br.literal(1):  # loop filter deltas enabled, and updated
        for _ in range(8):
            if br.literal(1):
                br.literal(7)
    return br.literal(2)


class _BoolDecoder:
    """The VP8 boolean decoder at probability 1/2 (RFC 6386, 7.3), enough for the frame header."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 2
        self.value = int.from_bytes(data[:2].ljust(2, b"\0"), "big")
        self.range, self.count = 255, 0

    def literal(self, bits: int) -> int:
        out = 0
        for _ in range(bits):
            split = 1 + ((self.range - 1) >> 1)
            bit = self.value >= split << 8
            if bit:
                self.range, self.value = self.range - split, self.value - (split << 8)
            else:
                self.range = split
            while self.range < 128:
                self.value, self.range, self.count = self.value << 1, self.range << 1, self.count + 1
                if self.count == 8:
                    self.count = 0
                    self.value |= self.data[self.pos] if self.pos < len(self.data) else 0
                    self.pos += 1
            out = out << 1 | bit
        return out


def _shortest(data: bytes, same: Callable[[int], bool]) -> int:
    """The shortest length ``n`` for which ``same(n)`` holds (it holds for ``len(data)``), unless all that
    follows it is an encoder's flush (``_flush``): then ``len(data)``. A galloping search down from the
    byte before the flush, then a bisection."""
    good = len(data) - _flush(data)
    if good == 0 or not same(good - 1):
        return len(data)
    step, good = 1, good - 1
    while True:  # same(good) holds; find a length below it where it does not
        bad = max(good - step, 0)
        if bad == 0 or not same(bad):
            break
        good, step = bad, step * 2
    while good - bad > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if same(mid) else (good, mid)
    return good


def _flush(data: bytes) -> int:
    """The length of the tail an encoder's final flush may leave unread: up to ``FLUSH`` bytes, of which
    only the first ``FLUSH_CODED`` may be non-zero (the boolean coder's last bits, then zero padding)."""
    zeros = len(data) - len(data.rstrip(b"\0"))
    return min(FLUSH, zeros + FLUSH_CODED, len(data))


def _still(fourcc: bytes) -> Callable[[bytes], bytes]:
    def wrap(payload: bytes) -> bytes:
        chunk = fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
        return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk

    return wrap


Pixels = tuple[str, tuple[int, int], bytes]


def _decoded(data: bytes) -> Pixels | None:
    from deident.formats.pixels import decode_frame

    try:
        img = decode_frame(data, 0)
    except CorruptFile:
        return None
    return img.mode, img.size, img.tobytes()


def _reference(data: bytes) -> Pixels:
    pixels = _decoded(data)
    if pixels is None:
        raise CorruptFile("WebP: a bitstream libwebp cannot decode")
    return pixels


def _same(pixels: Pixels | None, reference: Pixels) -> bool:
    return pixels == reference


def _refuse_above(pixels: int, limit: int) -> None:
    if pixels > limit:
        raise TooLarge(f"WebP bitstream of {pixels} pixels exceeds the limit of {limit} (raise --max-pixels)")
