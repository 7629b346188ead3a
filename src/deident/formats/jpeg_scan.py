"""Where a JPEG's entropy-coded data really ends: the declared MCUs, Huffman-decoded (ITU T.81 F.2.2).

A scan is copied byte for byte by the metadata filter, but a decoder reads only as many MCUs as the frame
header (SOF) declares. Coded data beyond them (extra MCU rows under a lowered SOF height, extra restart
intervals, bytes after the last MCU) never shows and survives a copy: change the height back and the
hidden rows decode again (the aCropalypse class of leak). This module walks the Huffman codes of each
scan, without computing a coefficient, to find the last byte the declared MCUs use; ``trim_scans`` then
keeps exactly those bytes (restart markers renumbered as they were, pad bits set to 1 as T.81 F.1.2.3
asks). The coefficients are untouched, so the decoded pixels are bit-identical.

Sequential (SOF0, SOF1) and progressive (SOF2) Huffman scans are walked; a progressive walk keeps, per
block, which coefficients earlier scans made non-zero (refinement scans read a bit for each). Arithmetic,
lossless and hierarchical frames are refused by ``deident.formats.jpeg``.

The walk costs about 0.35 s per 1.5 MP photo in Python, so ``decoder_skips_data`` asks libjpeg first
(3.8 ms), in every run: a scan whose declared MCUs end where its coded data ends decodes without a word;
only a file libjpeg warns about is walked.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from deident.errors import CorruptFile, UnsupportedFormat

PROGRESSIVE_HUFFMAN = 0xC2
DHT, DNL, DRI, DQT = 0xC4, 0xDC, 0xDD, 0xDB
LOOKAHEAD = 9  # bits decoded by one table lookup; longer codes take the canonical slow path


@dataclass(frozen=True)
class Component:
    id: int
    h: int
    v: int
    tq: int


# A header segment longer than its fields: the rest is bytes no decoder reads (libjpeg refuses the file),
# copied with the segment they would carry anything into an output that nothing can open to look at.
LONGER = "JPEG: {} segment longer than its fields (bytes no decoder reads)"


@dataclass(frozen=True)
class FrameHeader:
    marker: int
    precision: int
    height: int
    width: int
    components: tuple[Component, ...]

    @classmethod
    def parse(cls, marker: int, payload: bytes) -> FrameHeader:
        if len(payload) < 6:
            raise CorruptFile("JPEG: truncated frame header")
        precision, height, width, n = struct.unpack(">BHHB", payload[:6])
        if len(payload) < 6 + 3 * n or n == 0:
            raise CorruptFile("JPEG: frame header lists components it does not hold")
        if len(payload) > 6 + 3 * n:  # libjpeg refuses it too ("Bogus marker length")
            raise CorruptFile(LONGER.format("frame header"))
        comps = []
        for i in range(n):
            cid, hv, tq = payload[6 + 3 * i : 9 + 3 * i]
            if not 1 <= hv >> 4 <= 4 or not 1 <= hv & 15 <= 4:
                raise CorruptFile("JPEG: invalid sampling factors in the frame header")
            comps.append(Component(cid, hv >> 4, hv & 15, tq))
        return cls(marker, precision, height, width, tuple(comps))

    @property
    def hmax(self) -> int:
        return max(c.h for c in self.components)

    @property
    def vmax(self) -> int:
        return max(c.v for c in self.components)

    @property
    def coded(self) -> tuple[int, int]:
        """(width, height) of the whole MCUs the scans code."""
        mw, mh = 8 * self.hmax, 8 * self.vmax
        return math.ceil(self.width / mw) * mw, math.ceil(self.height / mh) * mh

    def subsampled(self, i: int) -> tuple[bool, bool]:
        """Whether component ``i`` has fewer samples than the image across, and down."""
        c = self.components[i]
        return c.h < self.hmax, c.v < self.vmax

    def component_size(self, i: int, width: int, height: int) -> tuple[int, int]:
        c = self.components[i]
        return math.ceil(width * c.h / self.hmax), math.ceil(height * c.v / self.vmax)


class Huffman:
    """One Huffman table (T.81 C): a lookahead table for short codes, canonical decoding for the rest."""

    def __init__(self, counts: bytes, symbols: bytes):
        self.fast: list[tuple[int, int]] = [(0, 0)] * (1 << LOOKAHEAD)
        self.maxcode = [-1] * 17
        self.valptr = [0] * 17
        self.mincode = [0] * 17
        self.symbols = symbols
        code = k = 0
        for length in range(1, 17):
            n = counts[length - 1]
            if code + n > 1 << length:
                raise CorruptFile("JPEG: a Huffman table has more codes than its lengths allow")
            if n:
                self.valptr[length], self.mincode[length] = k, code
                for _ in range(n):
                    if length <= LOOKAHEAD:
                        shift = LOOKAHEAD - length
                        entry = (length, symbols[k])
                        for j in range(code << shift, (code + 1) << shift):
                            self.fast[j] = entry
                    code += 1
                    k += 1
                self.maxcode[length] = code - 1
            code <<= 1

    def slow(self, acc: int, nb: int) -> tuple[int, int]:
        """(length, symbol) of a code longer than the lookahead, from the top bits of ``acc``."""
        for length in range(LOOKAHEAD + 1, 17):
            code = (acc >> (nb - length)) & ((1 << length) - 1)
            if code <= self.maxcode[length]:
                return length, self.symbols[self.valptr[length] + code - self.mincode[length]]
        raise CorruptFile("JPEG: invalid Huffman code in the image data")


def parse_dht(payload: bytes, tables: dict[tuple[int, int], bytes]) -> list[tuple[int, int, bytes]]:
    """Add the tables of a DHT segment to ``tables`` (raw, see ``huffman``); return (class, id, raw)."""
    out, pos = [], 0
    while pos < len(payload):
        if pos + 17 > len(payload):
            raise CorruptFile("JPEG: truncated Huffman table")
        tc, th = payload[pos] >> 4, payload[pos] & 15
        counts = payload[pos + 1 : pos + 17]
        n = sum(counts)
        if tc > 1 or th > 3 or pos + 17 + n > len(payload):
            raise CorruptFile("JPEG: invalid Huffman table")
        tables[(tc, th)] = payload[pos : pos + 17 + n]
        out.append((tc, th, payload[pos : pos + 17 + n]))
        pos += 17 + n
    return out


def huffman(raw: bytes) -> Huffman:
    """The decoding table of a raw DHT table (class/id byte, 16 counts, symbols)."""
    return Huffman(raw[1:17], raw[17:])


def parse_dqt(payload: bytes) -> list[tuple[int, bytes]]:
    """The tables of a DQT segment as (id, raw table bytes)."""
    out, pos = [], 0
    while pos < len(payload):
        size = 65 if payload[pos] >> 4 == 0 else 129
        if pos + size > len(payload):
            raise CorruptFile("JPEG: truncated quantisation table")
        out.append((payload[pos] & 15, payload[pos : pos + size]))
        pos += size
    return out


@dataclass(frozen=True)
class ScanHeader:
    components: tuple[tuple[int, int, int], ...]  # (component id, DC table, AC table)
    ss: int
    se: int
    al_ah: int = 0  # successive approximation: high nibble Ah, low nibble Al

    @classmethod
    def parse(cls, payload: bytes) -> ScanHeader:
        if not payload:
            raise CorruptFile("JPEG: empty scan header")
        n = payload[0]
        if len(payload) < 1 + 2 * n + 3 or n == 0:
            raise CorruptFile("JPEG: truncated scan header")
        if len(payload) > 1 + 2 * n + 3:
            raise CorruptFile(LONGER.format("scan header"))
        comps = tuple(
            (payload[1 + 2 * i], payload[2 + 2 * i] >> 4, payload[2 + 2 * i] & 15) for i in range(n)
        )
        return cls(comps, payload[1 + 2 * n], payload[2 + 2 * n], payload[3 + 2 * n])


def check_progression(frame: FrameHeader, scans: list[ScanHeader]) -> None:
    """Raise UnsupportedFormat unless each coefficient's bits are coded once, in T.81's order (G.1.1.1).

    Per component and coefficient: a first scan (Ah 0) once, then refinements each one bit lower (Ah the
    last Al, Al = Ah - 1); AC after DC. A sequential scan codes every coefficient in full (Al 0), so a
    component may appear in one scan only. A second first scan of the same coefficients replaces (DC) or
    overlays (AC) the earlier one in the decoder, without a warning: the earlier picture is hidden yet
    copied by the metadata filter. Dropping it would be exact for DC only, so it is refused.
    """
    progressive = frame.marker == PROGRESSIVE_HUFFMAN
    coded: dict[int, list[int | None]] = {c.id: [None] * 64 for c in frame.components}  # Al so far
    for n, scan in enumerate(scans):
        ah, al = (scan.al_ah >> 4, scan.al_ah & 15) if progressive else (0, 0)
        band = range(scan.ss, scan.se + 1) if progressive else range(64)
        for cid, _, _ in scan.components:
            bits = coded.get(cid)
            if bits is None:
                raise CorruptFile("JPEG: a scan names a component the frame does not have")
            for k in band:
                if ah == 0 and bits[k] is None and (k == 0 or bits[0] is not None):
                    pass  # first pass, after the DC
                elif not (ah and bits[k] == ah and al == ah - 1):
                    raise UnsupportedFormat(
                        f"JPEG scan {n + 1} codes coefficients an earlier scan already coded, or out of"
                        " the progression's order: the decoder would hide the earlier scan's picture"
                    )
                bits[k] = al


def mcu_layout(frame: FrameHeader, scan: ScanHeader) -> tuple[int, list[int]]:
    """(number of MCUs, component index of each block of one MCU) for a scan (T.81 A.2)."""
    by_id = {c.id: c for c in frame.components}
    if any(cid not in by_id for cid, _, _ in scan.components):
        raise CorruptFile("JPEG: a scan names a component the frame does not have")
    if len(scan.components) == 1:
        c = by_id[scan.components[0][0]]
        cols = math.ceil(math.ceil(frame.width * c.h / frame.hmax) / 8)
        rows = math.ceil(math.ceil(frame.height * c.v / frame.vmax) / 8)
        return cols * rows, [0]
    cols = math.ceil(frame.width / (8 * frame.hmax))
    rows = math.ceil(frame.height / (8 * frame.vmax))
    blocks = []
    for i, (cid, _, _) in enumerate(scan.components):
        blocks += [i] * (by_id[cid].h * by_id[cid].v)
    return cols * rows, blocks


def _unstuff(coded: bytes) -> bytes:
    return coded.replace(b"\xff\x00", b"\xff")


def _stuff(data: bytes) -> bytes:
    return data.replace(b"\xff", b"\xff\x00")


def used_bits(data: bytes, mcus: int, blocks: list[tuple[Huffman, Huffman]]) -> int:
    """Bits that ``mcus`` MCUs of ``blocks`` (DC, AC tables per block) take at the start of ``data``.

    ``data`` is unstuffed. Raises CorruptFile when the data ends first (a truncated image).
    """
    buf = data + b"\0" * 8  # refills past the end read zeros; the total is checked below
    acc = nb = p = 0
    look_shift, look_mask = LOOKAHEAD, (1 << LOOKAHEAD) - 1
    bits = 0
    for _ in range(mcus):
        for dc, ac in blocks:
            if nb < 32:
                acc = ((acc & ((1 << nb) - 1)) << 32) | int.from_bytes(buf[p : p + 4], "big")
                p += 4
                nb += 32
            length, s = dc.fast[(acc >> (nb - look_shift)) & look_mask]
            if not length:
                length, s = dc.slow(acc, nb)
            if s > 15:
                raise CorruptFile("JPEG: invalid DC difference category in the image data")
            nb -= length + s
            bits += length + s
            k = 1
            while k < 64:
                if nb < 32:
                    acc = ((acc & ((1 << nb) - 1)) << 32) | int.from_bytes(buf[p : p + 4], "big")
                    p += 4
                    nb += 32
                length, rs = ac.fast[(acc >> (nb - look_shift)) & look_mask]
                if not length:
                    length, rs = ac.slow(acc, nb)
                s = rs & 15
                nb -= length + s
                bits += length + s
                if s:
                    k += (rs >> 4) + 1
                elif rs == 0xF0:
                    k += 16
                else:
                    break  # end of block
        if bits > 8 * len(data):
            raise CorruptFile("JPEG is truncated: the image data ends before the declared image does")
    return bits


@dataclass
class ScanTrim:
    """The entropy-coded data of one scan as a decoder reads it, and how many bytes were left out."""

    coded: bytes
    dropped: int


def trim_scan(
    coded: bytes,
    frame: FrameHeader,
    scan: ScanHeader,
    tables: dict[tuple[int, int], bytes],
    restart: int,
    state: ProgressiveState | None = None,
) -> ScanTrim:
    """Keep only the coded bytes of the MCUs ``frame`` declares, per restart interval.

    Sequential scans need nothing else; progressive ones (``state`` given) need which coefficients
    earlier scans made non-zero, since refinement scans read a correction bit for each of those.
    """
    mcus, block_comps = mcu_layout(frame, scan)
    if state is not None:
        walker = state.walker(frame, scan, tables)
    else:
        try:
            decoders = {
                i: (huffman(tables[(0, scan.components[i][1])]), huffman(tables[(1, scan.components[i][2])]))
                for i in set(block_comps)
            }
        except KeyError:
            raise CorruptFile("JPEG: a scan uses a Huffman table that is not defined") from None
        blocks = [decoders[i] for i in block_comps]

        def walker(data: bytes, first: int, count: int) -> int:
            return used_bits(data, count, blocks)

    intervals = _intervals(coded)
    expected = math.ceil(mcus / restart) if restart else 1
    if len(intervals) < expected:
        raise CorruptFile("JPEG is truncated: fewer restart intervals than the declared image needs")
    out = []
    for n in range(expected):
        left = min(restart, mcus - n * restart) if restart else mcus
        data = _unstuff(intervals[n])
        bits = walker(data, n * restart, left)
        used = bytearray(data[: (bits + 7) // 8])
        if bits % 8:
            used[-1] |= (1 << (8 - bits % 8)) - 1  # pad bits are 1s (T.81 F.1.2.3)
        out.append(_stuff(bytes(used)))
        if n + 1 < expected:
            out.append(bytes((0xFF, 0xD0 + n % 8)))
    trimmed = b"".join(out)
    return ScanTrim(trimmed, max(0, len(coded) - len(trimmed)) if trimmed != coded else 0)


class BitReader:
    """Bits of unstuffed entropy-coded data, most significant first; past the end it is a truncated file."""

    def __init__(self, data: bytes):
        self.data, self.pos, self.limit = data + b"\0\0\0\0", 0, 8 * len(data)

    def bits(self, n: int) -> int:
        if not n:
            return 0
        p = self.pos
        self.pos += n
        if self.pos > self.limit:
            raise CorruptFile("JPEG is truncated: the image data ends before the declared image does")
        word = int.from_bytes(self.data[p >> 3 : (p >> 3) + 4], "big")
        return (word >> (32 - (p & 7) - n)) & ((1 << n) - 1)

    def decode(self, table: Huffman) -> int:
        p = self.pos
        word = int.from_bytes(self.data[p >> 3 : (p >> 3) + 4], "big") << (p & 7) & 0xFFFFFFFF
        length, symbol = table.fast[word >> (32 - LOOKAHEAD)]
        if not length:
            length, symbol = table.slow(word, 32)
        self.bits(length)
        return symbol


def _checked(pos: int, data: bytes) -> int:
    if pos > 8 * len(data):
        raise CorruptFile("JPEG is truncated: the image data ends before the declared image does")
    return pos


class ProgressiveState:
    """Which coefficients of each block are non-zero so far, per component (T.81 G.1.2.3)."""

    def __init__(self) -> None:
        self.nonzero: dict[int, list[int]] = {}  # component id -> bit mask per block (non-interleaved order)

    def walker(self, frame: FrameHeader, scan: ScanHeader, tables: dict[tuple[int, int], bytes]):
        """A function (unstuffed data, first MCU, MCU count) -> bits used, for one scan."""
        ah, al = scan.al_ah >> 4, scan.al_ah & 15
        del al  # successive approximation only shifts values; the bits read do not depend on it
        mcus, block_comps = mcu_layout(frame, scan)

        def table(cls: int, i: int) -> Huffman:
            key = (cls, scan.components[i][1 + cls])
            if key not in tables:
                raise CorruptFile("JPEG: a scan uses a Huffman table that is not defined")
            return huffman(tables[key])

        if scan.ss == 0:  # DC: first pass reads a difference per block, a refinement one bit
            dcs = [table(0, i) for i in block_comps] if not ah else []

            def dc(data: bytes, first: int, count: int) -> int:
                if ah:  # one bit per block
                    return _checked(count * len(block_comps), data)
                r = BitReader(data)
                for _ in range(count):
                    for n in range(len(block_comps)):
                        size = r.decode(dcs[n]) if not ah else 1
                        if size > 15:
                            raise CorruptFile("JPEG: invalid DC difference category in the image data")
                        r.bits(size)
                return r.pos

            return dc
        if len(scan.components) != 1 or not 0 < scan.ss <= scan.se <= 63:
            raise CorruptFile("JPEG: invalid progressive AC scan")
        ac = table(1, 0)
        masks = self.nonzero.setdefault(scan.components[0][0], [0] * mcus)
        ss, se = scan.ss, scan.se

        fast, shift = ac.fast, 32 - LOOKAHEAD
        band = (1 << (se + 1)) - (1 << ss)  # the coefficients this scan covers

        def symbol(d: bytes, pos: int) -> tuple[int, int]:
            """(position after the next AC Huffman code, its run/size symbol)."""
            word = int.from_bytes(d[pos >> 3 : (pos >> 3) + 4], "big") << (pos & 7) & 0xFFFFFFFF
            length, rs = fast[word >> shift]
            if not length:
                length, rs = ac.slow(word, 32)
            return pos + length, rs

        def eob_run(d: bytes, pos: int, run: int) -> tuple[int, int]:
            """(position after an EOBn's extra bits, how many blocks it ends: 2**run plus those bits)."""
            word = int.from_bytes(d[pos >> 3 : (pos >> 3) + 4], "big") << (pos & 7) & 0xFFFFFFFF
            return pos + run, (1 << run) + (word >> (32 - run) if run else 0)

        def first_pass(data: bytes, first: int, count: int) -> int:
            d, pos, eobrun = data + b"\0\0\0\0", 0, 0
            for b in range(first, first + count):
                if eobrun:
                    eobrun -= 1
                    continue
                k = ss
                while k <= se:
                    pos, rs = symbol(d, pos)
                    run, size = rs >> 4, rs & 15
                    if size:
                        k += run
                        pos += size  # the coefficient's value: not needed, only its place
                        if k <= 63:
                            masks[b] |= 1 << k
                        k += 1
                    elif run < 15:
                        pos, eobrun = eob_run(d, pos, run)
                        eobrun -= 1  # this block is the first it ends
                        break
                    else:
                        k += 16
                if pos > 8 * len(data):
                    break
            return _checked(pos, data)

        def refinement(data: bytes, first: int, count: int) -> int:
            d, pos, eobrun = data + b"\0\0\0\0", 0, 0
            for b in range(first, first + count):
                k, mask = ss, masks[b]
                if not eobrun:
                    while k <= se:
                        pos, rs = symbol(d, pos)
                        run, size = rs >> 4, rs & 15
                        if size:
                            pos += 1  # sign of the new coefficient
                        elif run != 15:
                            pos, eobrun = eob_run(d, pos, run)
                            break
                        # Past ``run`` coefficients still zero (a correction bit for each non-zero one on
                        # the way) to the next zero one: where the new coefficient goes, or after a ZRL.
                        z = (~mask & band) >> k << k
                        for _ in range(run):
                            z &= z - 1
                        target = (z & -z).bit_length() - 1 if z else se + 1
                        pos += (mask & ((1 << target) - (1 << k))).bit_count()
                        k = target
                        if size and k <= se:
                            mask |= 1 << k
                        k += 1
                if eobrun:
                    if k <= se:  # a correction bit for each coefficient already non-zero, to the band's end
                        pos += (mask >> k & ((1 << (se - k + 1)) - 1)).bit_count()
                    eobrun -= 1
                masks[b] = mask
                if pos > 8 * len(data):
                    break
            return _checked(pos, data)

        return refinement if ah else first_pass


_RST = re.compile(rb"\xff[\xd0-\xd7]")


def cut_intervals(coded: bytes, frame: FrameHeader, scan: ScanHeader, restart: int) -> ScanTrim:
    """Without decoding: drop whole restart intervals beyond the ones the declared MCUs fill."""
    if not restart:
        return ScanTrim(coded, 0)
    expected = math.ceil(mcu_layout(frame, scan)[0] / restart)
    for n, m in enumerate(_RST.finditer(coded)):
        if n + 1 == expected:
            return ScanTrim(coded[: m.start()], len(coded) - m.start())
    return ScanTrim(coded, 0)


def _intervals(coded: bytes) -> list[bytes]:
    """The coded data between restart markers."""
    out, start, pos = [], 0, 0
    while (pos := coded.find(b"\xff", pos)) != -1 and pos + 1 < len(coded):
        nxt = coded[pos + 1]
        if 0xD0 <= nxt <= 0xD7:
            out.append(coded[start:pos])
            start = pos + 2
        pos += 2 if nxt == 0 or 0xD0 <= nxt <= 0xD7 else 1
    out.append(coded[start:])
    return out


def decoder_skips_data(jpeg: bytes) -> bool:
    """True unless libjpeg decodes ``jpeg`` without a warning: no coded data beyond its declared MCUs.

    libjpeg-turbo (OpenCV's build, at 1/8 scale: every Huffman code is decoded, few pixels computed)
    says "N extraneous bytes before marker" when a scan holds more than the declared MCUs use. Any
    warning, or a decoder that cannot run, answers True: the caller then walks the scans itself.
    """
    try:
        import cv2
        import numpy as np
    except ImportError:
        return True
    with stderr_captured() as said:
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    return img is None or bool(said)


@contextlib.contextmanager
def stderr_captured() -> Iterator[bytearray]:
    """What C libraries (libjpeg) write to the process's standard error meanwhile (filled on exit).

    libjpeg prints its warnings there, not through Python, so the descriptor is borrowed for the call.
    """
    said = bytearray()
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            said += f.read()
