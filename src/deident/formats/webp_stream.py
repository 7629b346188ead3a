"""Where a WebP bitstream ends: the bytes of a VP8, VP8L or compressed ALPH payload that libwebp reads.

Bytes can follow a bitstream inside its chunk and no decoder reads them (issue 18): after the last VP8L
code, after what the boolean decoder of a VP8 partition reads (the last token partition runs to the chunk
end, the others and the mode partition have declared sizes), after a compressed alpha plane (a VP8L stream
without its header). A name planted there would be copied, so each stream is cut to what libwebp reads.

libwebp refuses a stream cut short of a byte it reads: the VP8 boolean decoder flags end of data on its first
read past the end and the frame fails ("Premature end-of-file"); the VP8L bit reader flags it once a code
takes a bit past the end and a still picture fails. Up to that byte both read the same bytes, so the shortest
prefix that decodes to the same pixels is the part decoding uses. It is found by a search over the length,
each step a decode of the stream alone as a still picture, and what is kept is a length that decoded to the
same pixels. One trap, measured: a chunk of odd length is followed by a zero pad byte that libwebp hands the
decoder as data, and a zero where the encoder wrote another byte can decode the same, so only lengths that
leave no pad are tried (a byte at most is kept that a shorter odd cut would drop).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

from deident.errors import CorruptFile, TooLarge

# Zero bytes an encoder's final flush leaves after the bytes libwebp reads, kept so that ordinary files stay
# byte for byte: in 970 files by libwebp 1.6 (Pillow: 6 pictures, 3 sizes, quality 5-100, methods 0/4/6, with
# and without alpha, lossless) and 1.2.4 (cwebp), 1-3 after a VP8 partition, 0-2 after an alpha plane, none
# after a VP8L stream. Zeros carry nothing; any other tail goes whole.
FLUSH = 4
VP8L_SIGNATURE = 0x2F
# digest of (kind, size, payload) -> the lengths kept (of the stream, or of each VP8 partition): open, scrub
# and the check of the output ask about the same streams; lengths only, so the memo stays small
_ENDS: dict[bytes, tuple[int, ...]] = {}


def trimmed(fourcc: bytes, payload: bytes, limit: int, size: tuple[int, int] | None = None) -> bytes:
    """``payload`` of a VP8, VP8L or ALPH chunk cut to the bytes libwebp reads (ALPH: of a ``size``
    picture); refuses (``TooLarge``) a stream of more than ``limit`` pixels before decoding it."""
    key = hashlib.blake2b(fourcc + repr(size).encode() + payload, digest_size=20).digest()
    if key not in _ENDS:
        if len(_ENDS) > 4096:
            _ENDS.clear()
        _ENDS[key] = _lengths(fourcc, payload, limit, size)
    kept = _ENDS[key]
    if fourcc == b"VP8 ":
        return _vp8(payload, vp8_partitions(payload), dict(enumerate(kept)))
    return payload[: kept[0]]


def _lengths(fourcc: bytes, payload: bytes, limit: int, size: tuple[int, int] | None) -> tuple[int, ...]:
    if fourcc == b"VP8L":
        return (_lossless(payload, limit),)
    if fourcc == b"VP8 ":
        return _lossy(payload, limit)
    if size is None or max(size) > 1 << 14:
        raise CorruptFile("WebP: ALPH chunk without a picture size a VP8 frame can have")
    header = struct.pack("<BI", VP8L_SIGNATURE, (size[0] - 1) | (size[1] - 1) << 14)
    # the plane as a VP8L picture: 5 header bytes for the ALPH one, so its length keeps the chunk's parity
    return (_lossless(header + payload[1:], limit) - len(header) + 1,)


def _lossless(payload: bytes, limit: int) -> int:
    if len(payload) < 5 or payload[0] != VP8L_SIGNATURE:
        raise CorruptFile("WebP: VP8L stream without its signature")
    bits = int.from_bytes(payload[1:5], "little")
    _refuse_above(((bits & 0x3FFF) + 1) * ((bits >> 14 & 0x3FFF) + 1), limit)
    wrap = _still(b"VP8L")
    reference = _reference(wrap(payload))
    return _shortest(payload, lambda n: _decoded(wrap(payload[:n])) == reference, parity=0)


def _lossy(payload: bytes, limit: int) -> tuple[int, ...]:
    """Each partition cut in turn, in the frame as it will be written (the ones before it already cut, the
    last one to an even frame length); declared sizes rewritten to match, the whole checked once more."""
    parts = vp8_partitions(payload)
    width, height = (int.from_bytes(payload[i : i + 2], "little") & 0x3FFF for i in (6, 8))
    _refuse_above(width * height, limit)
    wrap = _still(b"VP8 ")
    reference = _reference(wrap(payload))
    sizes: dict[int, int] = {}
    for i, part in enumerate(parts):

        def same(n: int, i: int = i) -> bool:
            return _decoded(wrap(_vp8(payload, parts, sizes | {i: n}))) == reference

        if i < len(parts) - 1:
            sizes[i] = _shortest(part, same)
        else:  # the frame's length: the pad byte follows its end
            parity = (len(_vp8(payload, parts, sizes)) - len(part)) % 2
            sizes[i] = _shortest(part, same, parity)
    out = _vp8(payload, parts, sizes)
    if out != payload and _decoded(wrap(out)) != reference:
        raise CorruptFile("WebP: a VP8 frame whose end cannot be told")
    return tuple(sizes[i] for i in range(len(parts)))


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


def _shortest(data: bytes, same: Callable[[int], bool], parity: int | None = None) -> int:
    """The shortest length ``n`` for which ``same(n)`` holds (it holds for ``len(data)``), unless all that
    follows it is up to ``FLUSH`` zero bytes: then ``len(data)``. With ``parity``, only lengths of that
    parity are tried: a chunk of odd length is followed by a zero pad byte that libwebp reads as data, and a
    zero in place of a byte the decoder reads may decode the same (a byte it reads and lacks makes it fail).
    A galloping search down from the last non-zero byte, then a bisection, in steps of 1 (or 2)."""
    step = 1 if parity is None else 2
    top = len(data) - min(len(data) - len(data.rstrip(b"\0")), FLUSH) - 1
    if parity is not None and top % 2 != parity:
        top -= 1
    if top <= 0 or not same(top):
        return len(data)
    good, jump = top, step
    while True:  # same(good) holds; find a length below it where it does not
        bad = good - jump
        if bad <= 0 or not same(bad):
            bad = max(bad, good % step - step)  # an empty stream never decodes: -1 or -2 stand for it
            break
        good, jump = bad, jump * 2
    while good - bad > step:
        mid = bad + (good - bad) // (2 * step) * step
        good, bad = (mid, bad) if same(mid) else (good, mid)
    return good


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


def _refuse_above(pixels: int, limit: int) -> None:
    if pixels > limit:
        raise TooLarge(f"WebP bitstream of {pixels} pixels exceeds the limit of {limit} (raise --max-pixels)")
