"""The lossless TIFF codecs deident decodes and codes again exactly: Deflate (zlib), LZMA, LZW, PackBits,
and the horizontal (2) and floating-point (3) predictors.

Why: an edge tile's padding and the rows of a last strip below ImageLength are coded like the image and
cropped by decoders, so a name can hide there (issue 18). To blank them a block is decoded, its padding set
to zero and the block coded again with the same codec and predictor; every decoder also says how many input
bytes its stream uses, so bytes after the stream's end are not copied. LZW and PackBits follow libtiff's
``tif_lzw.c`` and ``tif_packbits.c`` (TIFF 6.0, sections 9 and 13); Deflate and LZMA are the standard
library's zlib and lzma.
"""

from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass, field

import numpy as np

from deident.errors import CorruptFile, UnsupportedFormat

LZW, DEFLATE, ADOBE_DEFLATE, PACKBITS, LZMA = 5, 32946, 8, 32773, 34925
LOSSLESS = {LZW, DEFLATE, ADOBE_DEFLATE, PACKBITS, LZMA}  # what ``decode`` and ``encode`` handle

_CLEAR, _EOI, _FIRST = 256, 257, 258


def reach(compression: int, block: int) -> int:
    """How many bytes to decode for a block of ``block`` bytes: PackBits stops where the block is full (as
    libtiff does: the rest is after the stream); the others go on to twice that, so zeros an encoder codes
    after the block (old LZW writers code one more byte) are told apart from content."""
    return block if compression == PACKBITS else 2 * block


def decode(compression: int, data: bytes, size: int) -> bytes:
    """The decoded bytes (at most ``size + 1``: one more says the stream holds more than the block)."""
    if compression == PACKBITS:
        return _unpackbits(data, size)
    if compression == LZW:
        return _unlzw(data, size + 1)
    out = bytearray()
    _inflate(compression, data, size, out.extend)
    return bytes(out[: size + 1])


def measure(compression: int, data: bytes, size: int) -> tuple[int, int]:
    """What ``decode`` tells without the decoded bytes: their number (at most ``size + 1``) and how many
    bytes of ``data`` the decoder reads. LZW is walked a table segment at a time in numpy (``_lzw_walk``):
    decoding it in Python runs at about 2.5 MB/s, far too slow for every block of an ordinary file."""
    if compression == LZW:
        n, used = _lzw_walk(data)
        return min(n, size + 1), used
    if compression == PACKBITS:
        return _packbits_count(data, size)
    count = [0]
    used = _inflate(compression, data, size, lambda piece: count.__setitem__(0, count[0] + len(piece)))
    return min(count[0], size + 1), used


def _inflate(compression: int, data: bytes, size: int, take) -> int:
    """Deflate or LZMA (xz) decoded in 4 MiB pieces handed to ``take``, until the stream ends or more than
    ``size`` bytes came out; returns the bytes of ``data`` the stream uses (a single strip can be a whole
    large image, so a piece at a time)."""
    if compression in (DEFLATE, ADOBE_DEFLATE):
        d, errors = zlib.decompressobj(), zlib.error
    elif compression == LZMA:
        d, errors = lzma.LZMADecompressor(), lzma.LZMAError
    else:
        raise UnsupportedFormat(f"TIFF compression {compression} cannot be re-coded")
    n, rest = 0, data
    try:
        while n <= size and not d.eof:
            piece = d.decompress(rest, 1 << 22)
            take(piece)
            n += len(piece)
            rest = getattr(d, "unconsumed_tail", b"")  # zlib hands back what it did not read; lzma keeps it
            if not piece and (not rest and getattr(d, "needs_input", True)):
                break  # the data ends before the stream does
    except errors as exc:
        raise CorruptFile(f"TIFF compression {compression}: the data is damaged ({exc})") from None
    return len(data) - len(d.unused_data) if d.eof else len(data)


def encode(compression: int, raw: bytes) -> bytes:
    """``raw`` coded with ``compression`` (one of ``LOSSLESS``)."""
    if compression in (DEFLATE, ADOBE_DEFLATE):
        return zlib.compress(raw, 6)
    if compression == LZMA:
        return lzma.compress(raw)
    if compression == PACKBITS:
        return _packbits(raw)
    if compression == LZW:
        return _lzw(raw)
    raise UnsupportedFormat(f"TIFF compression {compression} cannot be re-coded")


def _unpackbits(data: bytes, limit: int) -> bytes:
    """PackBits until the input ends or ``limit`` bytes are out (where libtiff stops: the block is full; a
    last run that overshoots it gives one byte more)."""
    out = bytearray()
    pos, n = 0, len(data)
    while pos < n and len(out) < limit:
        head = data[pos]
        pos += 1
        if head < 128:  # 0..127: the next head + 1 bytes as they are
            out += data[pos : pos + head + 1]
            pos += head + 1
        elif head > 128:  # 129..255: the next byte 257 - head times; 128 is a no-op
            if pos < n:
                out += data[pos : pos + 1] * (257 - head)
            pos += 1
    return bytes(out[: limit + 1])


def _packbits_count(data: bytes, limit: int) -> tuple[int, int]:
    """``_unpackbits`` counting the bytes out instead of making them."""
    n = pos = 0
    end = len(data)
    while pos < end and n < limit:
        head = data[pos]
        if head < 128:
            n += min(head + 1, end - pos - 1)
            pos += head + 2
        else:
            n += 257 - head if head > 128 and pos + 1 < end else 0
            pos += 2 if head > 128 else 1
    return min(n, limit + 1), min(pos, end)


def _packbits(raw: bytes) -> bytes:
    """PackBits: runs of 3 or more equal bytes as a repeat, the rest as literals of at most 128 bytes."""
    out = bytearray()
    i, n = 0, len(raw)
    literal = bytearray()
    while i < n:
        j = i + 1
        while j < n and j - i < 128 and raw[j] == raw[i]:
            j += 1
        if j - i >= 3:
            if literal:
                out += _literals(literal)
                literal.clear()
            out += bytes((257 - (j - i), raw[i]))
            i = j
        else:
            literal += raw[i:j]
            i = j
    if literal:
        out += _literals(literal)
    return bytes(out)


def _literals(raw: bytes | bytearray) -> bytes:
    chunks = (bytes(raw[k : k + 128]) for k in range(0, len(raw), 128))
    return b"".join(bytes((len(c) - 1,)) + c for c in chunks)


def _unlzw(data: bytes, limit: int) -> bytes:
    """TIFF LZW (MSB-first codes, 9 to 12 bits, widths switched one code early) until EOI, the end of the
    input, or ``limit`` bytes out. Old-style (LSB-first, libtiff 'compat') codes are refused."""
    if len(data) >= 2 and data[0] == 0 and data[1] & 1:
        raise UnsupportedFormat("TIFF: old-style LZW is not supported")
    padded, nbits = data + b"\0\0\0", len(data) * 8
    table: list[bytes] = [bytes((i,)) for i in range(256)] + [b"", b""]
    out = bytearray()
    pos, width, prev = 0, 9, b""
    while pos + width <= nbits and len(out) < limit:
        at = pos >> 3
        code = (int.from_bytes(padded[at : at + 3], "big") >> (24 - (pos & 7) - width)) & ((1 << width) - 1)
        pos += width
        if code == _EOI:
            break
        if code == _CLEAR:
            del table[_FIRST:]
            width, prev = 9, b""
            continue
        if code < len(table):
            entry = table[code]
        elif code == len(table) and prev:
            entry = prev + prev[:1]
        else:
            raise CorruptFile("LZW data is damaged (a code not yet defined)")
        out += entry
        if prev:
            table.append(prev + entry[:1])
            if len(table) > 4096:
                raise CorruptFile("LZW data is damaged (a table of more than 4096 codes)")
            if len(table) >= (1 << width) - 1 and width < 12:
                width += 1
        prev = entry
    return bytes(out[:limit])


# Width of the k-th code after a Clear: each code but the first adds a table entry, and the width grows
# one code early (at 511, 1023 and 2047 entries); a table holds 4096 entries, so 3839 codes at most.
_WIDTHS = np.array([9] * 254 + [10] * 512 + [11] * 1024 + [12] * 2049, np.int64)
_STARTS = np.concatenate(([0], np.cumsum(_WIDTHS)))


def _lzw_walk(data: bytes) -> tuple[int, int]:
    """The decoded size of an LZW stream and the bytes it uses (to its EOI, where ``_unlzw`` stops).

    Between two Clears every code's width is known from its place, so a whole segment of codes is read at
    once; a code's string is one byte longer than the string of the code it extends (``code - 258``
    places back in the segment), summed by pointer jumping (log2 of the longest string rounds).
    """
    if len(data) >= 2 and data[0] == 0 and data[1] & 1:
        raise UnsupportedFormat("TIFF: old-style LZW is not supported")
    b = np.frombuffer(data + b"\0\0\0", np.uint8).astype(np.int64)
    nbits, pos, total = len(data) * 8, 0, 0
    while True:
        starts = pos + _STARTS[:-1]
        fit = int(np.searchsorted(starts + _WIDTHS, nbits, side="right"))
        at, widths = starts[:fit], _WIDTHS[:fit]
        word = (b[at >> 3] << 16) | (b[(at >> 3) + 1] << 8) | b[(at >> 3) + 2]
        codes = (word >> (24 - (at & 7) - widths)) & ((1 << widths) - 1)
        stop = np.flatnonzero((codes == _CLEAR) | (codes == _EOI))
        end = int(stop[0]) if len(stop) else fit
        if end == len(_WIDTHS):
            raise CorruptFile("LZW data is damaged (a table of more than 4096 codes)")
        total += _lzw_lengths(codes[:end])
        if end == fit:  # the data ends without EOI
            return total, len(data)
        pos = int(at[end] + widths[end])
        if codes[end] == _EOI:
            return total, min(-(-pos // 8), len(data))


def _lzw_lengths(codes: np.ndarray) -> int:
    """The summed string lengths of one segment's codes (no Clear or EOI among them)."""
    m = len(codes)
    back = np.where(codes >= _FIRST, codes - _FIRST, m)  # m: a root (one byte), length 0 beyond it
    if (back[codes >= _FIRST] >= np.arange(m)[codes >= _FIRST]).any():
        raise CorruptFile("LZW data is damaged (a code not yet defined)")
    length = np.ones(m + 1, np.int64)
    length[m] = 0
    back = np.append(back, m)
    while (back < m).any():  # each round doubles how far a code has looked back (log2 of the longest)
        length += length[back]
        back = back[back]
    return int(length.sum())


def _lzw(raw: bytes) -> bytes:
    """TIFF LZW as libtiff writes it: Clear first, a Clear whenever the table is full, EOI last."""
    bits = _Bits()
    bits.put(_CLEAR, 9)
    codes: dict[bytes, int] = {}
    width, nxt = 9, _FIRST
    prefix = b""
    for byte in raw:
        grown = prefix + bytes((byte,))
        if len(grown) == 1 or grown in codes:
            prefix = grown
            continue
        bits.put(codes[prefix] if len(prefix) > 1 else prefix[0], width)
        codes[grown], nxt = nxt, nxt + 1
        width, nxt = _after_code(bits, codes, width, nxt)
        prefix = bytes((byte,))
    if prefix:
        bits.put(codes[prefix] if len(prefix) > 1 else prefix[0], width)
        nxt += 1
        width, nxt = _after_code(bits, codes, width, nxt)
    bits.put(_EOI, width)
    return bits.done()


def _after_code(bits: _Bits, codes: dict[bytes, int], width: int, nxt: int) -> tuple[int, int]:
    """libtiff's step after a code: a Clear when the table is full (4094 codes), else the next width."""
    if nxt == 4094:
        bits.put(_CLEAR, width)
        codes.clear()
        return 9, _FIRST
    return (width + 1, nxt) if nxt > (1 << width) - 1 else (width, nxt)


@dataclass
class _Bits:
    """An MSB-first bit writer."""

    acc: int = 0
    n: int = 0
    out: bytearray = field(default_factory=bytearray)

    def put(self, code: int, width: int) -> None:
        self.acc = (self.acc << width) | code
        self.n += width
        while self.n >= 8:
            self.n -= 8
            self.out.append((self.acc >> self.n) & 0xFF)
        self.acc &= (1 << self.n) - 1

    def done(self) -> bytes:
        out = self.out
        if self.n:
            out.append((self.acc << (8 - self.n)) & 0xFF)
        return bytes(out)


@dataclass(frozen=True)
class Predictor:
    """A block's predictor: 1 none, 2 horizontal differencing, 3 floating point (libtiff's tif_predict.c).

    ``stride`` is samples per pixel in a row (1 for planar pages), ``bits`` the sample size, ``bo`` the
    file's byte order ('<' or '>'), which horizontal differencing of 16-64-bit samples works in.
    """

    kind: int
    stride: int
    bits: int
    bo: str

    def check(self, where: str) -> None:
        if self.kind not in (1, 2, 3):
            raise UnsupportedFormat(f"{where}: predictor {self.kind} is not supported")
        if self.kind != 1 and self.bits not in (8, 16, 32, 64):
            raise CorruptFile(f"{where}: predictor {self.kind} with {self.bits}-bit samples")
        if self.kind == 3 and self.bits == 8:
            raise CorruptFile(f"{where}: floating-point predictor with 8-bit samples")

    def undo(self, coded: bytes, row: int) -> bytes:
        """Pixel bytes from predicted ``coded`` (whole rows of ``row`` bytes). The floating-point predictor
        gives each sample's bytes most significant first, whatever the file's byte order."""
        if self.kind == 1 or not coded:
            return coded
        rows = len(coded) // row
        if self.kind == 2:
            a = np.frombuffer(coded, f"{self.bo}u{self.bits // 8}").reshape(rows, -1, self.stride)
            native = a.dtype.newbyteorder("=")
            return np.cumsum(a.astype(native), axis=1, dtype=native).astype(a.dtype).tobytes()
        size = self.bits // 8
        b = np.cumsum(np.frombuffer(coded, np.uint8).reshape(rows, -1, self.stride), axis=1, dtype=np.uint8)
        return b.reshape(rows, size, -1).transpose(0, 2, 1).tobytes()

    def apply(self, pixels: bytes, row: int) -> bytes:
        """The inverse of ``undo``."""
        if self.kind == 1 or not pixels:
            return pixels
        rows = len(pixels) // row
        if self.kind == 2:
            a = np.frombuffer(pixels, f"{self.bo}u{self.bits // 8}").reshape(rows, -1, self.stride)
            return _differences(a.astype(a.dtype.newbyteorder("="))).astype(a.dtype).tobytes()
        size = self.bits // 8
        b = np.frombuffer(pixels, np.uint8).reshape(rows, -1, size).transpose(0, 2, 1)
        return _differences(np.ascontiguousarray(b).reshape(rows, -1, self.stride)).tobytes()


def _differences(a: np.ndarray) -> np.ndarray:
    """Each sample minus the one a pixel before it (unsigned, wrapping); the first pixel of a row as it is."""
    out = a.copy()
    out[:, 1:] -= a[:, :-1]
    return out


# ---------------------------------------------------------------- Zstandard frames (RFC 8878), undecoded

ZSTD = 50000
ZSTD_MAGIC, SKIPPABLE = 0xFD2FB528, range(0x184D2A50, 0x184D2A60)
_ZSTD_FCS = {0: 0, 1: 2, 2: 4, 3: 8}  # Frame_Content_Size bytes per FCS flag (0: 1 with Single_Segment)


def zstd_frames(data: bytes) -> tuple[bytes, list]:
    """A ZSTD block with only its Zstandard frames: skippable frames (RFC 8878 3.1.2: data any decoder
    skips, of any content) and bytes after the last frame go. Walked by the block headers, which give
    each block's size: nothing is decoded (no zstd library here)."""
    from deident.formats.items import Item

    kept, items, pos, n = [], [], 0, len(data)
    while pos + 4 <= n:
        magic = int.from_bytes(data[pos : pos + 4], "little")
        if magic in SKIPPABLE and pos + 8 <= n:
            end = pos + 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
            items.append(Item("tiff.zstd", f"skippable frame at {pos}", f"{min(end, n) - pos} bytes"))
            pos = end
            continue
        if magic != ZSTD_MAGIC:
            break
        end = _zstd_frame_end(data, pos)
        kept.append(data[pos:end])
        pos = end
    if not kept:
        raise CorruptFile("a ZSTD block holds no Zstandard frame")
    if pos < n:
        items.append(Item("trailer", f"after the last frame at {pos}", f"{n - pos} bytes"))
    return b"".join(kept), items


def _zstd_frame_end(data: bytes, pos: int) -> int:
    fhd = data[pos + 4] if pos + 4 < len(data) else 0
    single = fhd >> 5 & 1
    if fhd & 0x08:
        raise CorruptFile(f"a ZSTD frame at {pos} sets a reserved bit")
    at = pos + 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
    at += _ZSTD_FCS[fhd >> 6] or single
    while True:
        if at + 3 > len(data):
            raise CorruptFile(f"the ZSTD frame at {pos} is truncated")
        header = int.from_bytes(data[at : at + 3], "little")
        kind, size = header >> 1 & 3, header >> 3
        if kind == 3:
            raise CorruptFile(f"a ZSTD block of the reserved type at {at}")
        at += 3 + (1 if kind == 1 else size)
        if header & 1:
            break
    at += 4 if fhd & 0x04 else 0  # content checksum
    if at > len(data):
        raise CorruptFile(f"the ZSTD frame at {pos} is truncated")
    return at
