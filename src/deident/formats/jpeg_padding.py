"""What a JPEG codes beyond its declared size inside the last MCU row and column (issue 18, class 2).

A frame whose width or height is not a multiple of the MCU (8 or 16 pixels) still codes whole MCUs; a
decoder crops them. The cropped part is an edge block partly outside the image (up to 7 pixels of it
hidden) or, with subsampled chroma, a whole luma block outside it (so up to 15 pixels). Encoders put
nothing there: libjpeg replicates the last column and row before the transform and codes the blocks wholly
outside as flat blocks (AC zero); others pad flat. A name drawn there is copied with the coded data and
reads back once the frame header declares a few more pixels.

``padding_fix`` reads the coefficients of every coded block (libjpeg-turbo through libturbojpeg, or
``jpeglib`` where that is missing or stops; the frame header raised to whole MCUs on a copy), compares
what lies beyond the declared size with what encoders put there (``PADDINGS``; a block wholly outside:
flat, with the DC libjpeg copies), and where that differs by more than quantisation noise writes the
blocks again: a block wholly outside becomes flat with its visible neighbour's DC (every visible pixel
bit-identical), a block across the edge is decoded, its hidden part replaced by the replicated edge and
coded with the same quantisation table (its visible pixels may move by quantisation noise). Other blocks
keep their coefficients.
"""

from __future__ import annotations

import functools
import math
import struct
import threading
from dataclasses import dataclass

import numpy as np

from deident.errors import CorruptFile, UnsupportedFormat
from deident.formats.jpeg_dct import DCT, _have, _progressive, jpeglib_file
from deident.formats.jpeg_scan import DQT, FrameHeader, ScanHeader, parse_dqt, stderr_captured
from deident.formats.jpeg_segments import HUFFMAN_DCT, SOF, SOS, TABLES, Segment, segment_bytes, walk

# A block is padding when its coefficients lie within this many quantisation steps (least squares) of a
# block padded as some encoder pads (``PADDINGS``). Rounding alone gives at most 0.5; 705 ordinary JPEGs
# stay below 0.73 (docs/benchmarks.md, 2026-12-05: the padding survey); a glyph stroke is far above.
TOLERANCE = 1.0


@dataclass(frozen=True)
class PaddingFix:
    """A JPEG stream whose coded padding was written blank, and what changed."""

    data: bytes
    blanked: int  # blocks wholly outside the declared image set flat (no visible pixel changed)
    recoded: int  # blocks across the edge re-coded (a few visible edge pixels may change)

    @property
    def detail(self) -> str:
        parts = []
        if self.blanked:
            parts.append(f"{self.blanked} coded block(s) wholly beyond the declared size set flat")
        if self.recoded:
            parts.append(
                f"{self.recoded} edge block(s) re-coded with their hidden part blank"
                " (visible edge pixels may differ by quantisation noise)"
            )
        return "content in the padding of the last MCU row/column: " + "; ".join(parts)


@dataclass(frozen=True)
class PaddingCheck:
    fix: PaddingFix | None  # None: the padding holds only what encoders put there
    decoder_warned: bool  # libjpeg warned while reading (coded data beyond the declared MCUs, for one)


def padding_fix(jpeg: bytes, width: int | None = None, height: int | None = None) -> PaddingFix | None:
    """``jpeg`` with its coded padding blank, or None when the padding holds only what encoders put there.

    ``width`` and ``height`` are the declared size (default: the frame header's; a TIFF tile passes the
    part of the tile inside the image). Raises UnsupportedFormat when the coefficients cannot be read
    (the caller refuses the file: an unchecked padding is never written as safe).
    """
    checked = check_padding(jpeg, width, height)
    return None if checked is None else checked.fix


def check_padding(jpeg: bytes, width: int | None = None, height: int | None = None) -> PaddingCheck | None:
    """``padding_fix`` and whether libjpeg warned on the way; None for a frame of whole MCUs (nothing read).

    The warning answers ``jpeg_scan.decoder_skips_data`` with the same read: the copy with a raised frame
    header codes the same MCUs, and scans it leaves out are read from the original.
    """

    parsed = walk(jpeg)
    sofs = [s for s in parsed.chunks if s.marker in SOF]
    if not sofs:
        raise CorruptFile("JPEG has no frame header (SOF)")
    if len(sofs) > 1:
        raise UnsupportedFormat("cannot check what a JPEG of two frames codes beyond its declared size")
    frame = FrameHeader.parse(sofs[0].marker, sofs[0].payload)  # raises CorruptFile on a bad one
    fh, fw = frame.height, frame.width
    width, height = min(width or fw, fw), min(height or fh, fh)
    if (width, height) == frame.coded:
        return None  # whole MCUs: nothing coded beyond the image
    raised, planes, qts, warned = _coefficients(jpeg, parsed, frame)
    blanked = recoded = 0
    for i, (plane, q) in enumerate(zip(planes, qts, strict=True)):
        b, r = _blank_component(plane, q, frame.component_size(i, width, height), frame.subsampled(i))
        blanked, recoded = blanked + b, recoded + r
    if not blanked and not recoded:
        return PaddingCheck(None, warned)
    if raised is None:
        raise UnsupportedFormat(
            "cannot re-code the hidden part of edge blocks of a JPEG whose scans each code one component"
        )
    return PaddingCheck(PaddingFix(_write(raised, planes, frame), blanked, recoded), warned)


def _blank_component(
    plane: np.ndarray, q: np.ndarray, size: tuple[int, int], subsampled: tuple[bool, bool]
) -> tuple[int, int]:
    """Rewrite, in place, the blocks of one component whose hidden pixels hold content; (blanked, recoded)."""
    cw, ch = size
    blanked = recoded = 0
    for r, c in _content_blocks(plane, q, size, subsampled):
        if 8 * c >= cw or 8 * r >= ch:  # wholly outside: flat, with the DC of the nearest visible block
            plane[r, c] = 0
            plane[r, c, 0, 0] = plane[min(r, (ch - 1) // 8), min(c, (cw - 1) // 8), 0, 0]
            blanked += 1
        else:  # across the edge: decoded, the hidden part replicating the edge, coded with the same table
            x0, y0 = min(cw - 8 * c, 8), min(ch - 8 * r, 8)
            pix = DCT.T @ (plane[r, c] * q) @ DCT
            pix[:, x0:] = pix[:, x0 - 1 : x0]
            pix[y0:, :] = pix[y0 - 1 : y0, :]
            plane[r, c] = np.clip(np.rint(DCT @ pix @ DCT.T / q), -32768, 32767).astype(plane.dtype)
            recoded += 1
    return blanked, recoded


def _content_blocks(
    plane: np.ndarray, q: np.ndarray, size: tuple[int, int], subsampled: tuple[bool, bool]
) -> list[tuple[int, int]]:
    """Blocks (row, column) of one component whose hidden pixels hold more than an encoder's padding."""
    cw, ch = size
    rows, cols = plane.shape[:2]
    last = ((ch - 1) // 8, (cw - 1) // 8)
    found = []
    for key, where in _edge_blocks(rows, cols, cw, ch).items():
        if 0 in key:  # wholly outside: libjpeg codes these flat, with the DC of a block before them
            content = ~_flat_as_neighbour(plane, *where, last)
        else:
            y = plane[where].reshape(-1, 64).astype(np.float64)
            content = np.ones(len(y), bool)  # no padding fits yet; each is fitted to the blocks left
            qt = q.tobytes()
            for pad in PADDINGS:
                left = np.flatnonzero(content)
                # einsum, not a BLAS product: on so small a product BLAS threads cost 3x the CPU (A/B,
                # 2026-12-05)
                fitted = np.einsum("nk,jk->nj", y[left], _projection(key, pad, subsampled, qt))
                content[left] = np.abs(y[left] - fitted).max(axis=1) > TOLERANCE
        found += zip(where[0][content].tolist(), where[1][content].tolist(), strict=True)
    return sorted(found)


@functools.lru_cache(maxsize=32)
def _edge_blocks(
    rows: int, cols: int, cw: int, ch: int
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Blocks holding hidden pixels, by (visible columns, visible rows) in the block (kept: a batch's
    photos share a few sizes; the arrays are read-only)."""
    vis_c = np.clip(cw - 8 * np.arange(cols), 0, 8)
    vis_r = np.clip(ch - 8 * np.arange(rows), 0, 8)
    out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for a in np.unique(vis_c):
        for b in np.unique(vis_r):
            if a == 8 and b == 8:
                continue
            rr, cc = np.nonzero((vis_r[:, None] == b) & (vis_c[None, :] == a))
            rr.flags.writeable = cc.flags.writeable = False
            out[(int(a), int(b))] = (rr, cc)
    return out


# How encoders fill the hidden part of an edge block with ``a`` visible columns and ``b`` visible rows: the
# variable each pixel (y, x) takes. "fill": the edge replicated (libjpeg), except along a subsampled
# direction, where the hidden run of each row (column) has a value of its own (encoders that replicate the
# full-resolution edge before subsampling chroma: the chroma of the last full-resolution column is stored
# nowhere else). "mirror" (Adobe Photoshop): the visible pixels reflected. Neither draws a glyph; the
# free runs of "fill" are chroma stripes at most 7 samples long. (A free constant per block would make a
# column of edge blocks a bar code: no encoder in the survey needs it.)
PADDINGS = ("fill", "mirror")


def _source(pad: str, a: int, b: int, y: int, x: int, sub: tuple[bool, bool]) -> tuple[int, int] | str:
    if y < b and x < a:
        return y, x
    if pad == "mirror":
        return _reflect(y, b), _reflect(x, a)
    yy, xx = min(y, b - 1), min(x, a - 1)  # the visible pixel libjpeg replicates
    if x >= a and sub[0]:
        return f"row{yy}"
    if y >= b and sub[1]:
        return f"col{xx}"
    return yy, xx


def _reflect(i: int, n: int) -> int:
    while not 0 <= i < n:
        i = 2 * n - 1 - i if i >= n else -1 - i
    return i


def _flat_as_neighbour(
    plane: np.ndarray, rows: np.ndarray, cols: np.ndarray, last: tuple[int, int]
) -> np.ndarray:
    """Per block (``rows``, ``cols``): flat (AC zero) with the DC of the visible block libjpeg copies it
    from: the last one left of it, or in the last visible block row the one above it or beside that.
    ``last``: the block row and column holding the last visible pixels. A flat block of any other value
    counts as content: a column of them is a channel (one value per 8 rows: a bar code)."""
    blocks = plane[rows, cols].reshape(len(rows), 64)
    ok = np.zeros(len(rows), bool)
    for dx in (-1, 0, 1):
        x = cols + dx
        source = plane[np.minimum(rows, last[0]), np.clip(x, 0, last[1]), 0, 0]
        ok |= (x >= 0) & (source == blocks[:, 0])
    return ok & ~blocks[:, 1:].any(axis=1)


@functools.lru_cache(maxsize=128)
def _projection(key: tuple[int, int], pad: str, sub: tuple[bool, bool], qt: bytes) -> np.ndarray:
    """Least-squares projection, in quantisation steps, onto the edge blocks padded as ``pad`` says."""
    a, b = key
    q = np.frombuffer(qt, np.float64).reshape(64)
    sources = [[_source(pad, a, b, y, x, sub) for x in range(8)] for y in range(8)]
    index = {s: n for n, s in enumerate(dict.fromkeys(s for row in sources for s in row))}
    basis = np.zeros((64, len(index)))
    for y in range(8):
        for x in range(8):
            one = np.zeros((8, 8))
            one[y, x] = 1
            basis[:, index[sources[y][x]]] += (DCT @ one @ DCT.T).ravel()
    steps = basis / q[:, None]
    return steps @ np.linalg.pinv(steps)


def _coefficients(jpeg: bytes, parsed, frame: FrameHeader):
    """(the raised copy libjpeg read, None when it holds no scan; coefficient planes of every coded block;
    quantisation table per component; whether libjpeg warned).

    libjpeg returns only the blocks inside the declared size, so it reads a copy whose frame header
    declares whole MCUs. Scans of one component code a block count that follows the declared size, so
    where that count changes such scans are left out of the copy and their blocks read from a copy that
    declares the original size. Both copies are rebuilt from ``parsed``: libjpeg sees exactly the frame
    header the planes are sized from.
    """

    precision = frame.precision
    reason = None
    if frame.marker not in HUFFMAN_DCT:  # libjpeg reads the coefficients of these only
        reason = "not Huffman-coded DCT"
    elif precision != 8:
        reason = f"{precision}-bit JPEG"
    elif len(frame.components) not in (1, 3, 4):  # jpeglib has a plane for Y, Cb, Cr and K only
        reason = f"{len(frame.components)} components"
    elif not _have("jpeglib"):
        reason = "jpeglib is not installed"
    if reason:
        raise UnsupportedFormat(f"cannot check what the JPEG codes beyond its declared size: {reason}")
    cw, ch = frame.coded
    ids = [c.id for c in frame.components]
    changed = {
        ids[i]
        for i in range(len(frame.components))
        if _blocks(frame.component_size(i, frame.width, frame.height))
        != _blocks(frame.component_size(i, cw, ch))
    }
    if not any(s.marker == SOS for s in parsed.chunks):
        raise CorruptFile("JPEG has no scan")
    raised, declared = [b"\xff\xd8"], [b"\xff\xd8"]
    in_raised: set[int] = set()  # components some scan of the raised copy codes
    for s in parsed.chunks:
        if s.marker == 0xDC or (s.marker not in TABLES and s.marker != SOS):  # DNL: height is raised
            continue
        kept = segment_bytes(Segment(s.marker, s.start, s.payload))
        if s.marker == SOS:
            kept += jpeg[s.start + 4 + len(s.payload) : s.scan_end]
        declared.append(kept)
        if s.marker in SOF:
            payload = s.payload[:1] + struct.pack(">HH", ch, cw) + s.payload[5:]
            kept = segment_bytes(Segment(s.marker, s.start, payload))
        if s.marker == SOS:
            scanned = [c[0] for c in ScanHeader.parse(s.payload).components]
            if len(scanned) == 1 and scanned[0] in changed:
                continue
            in_raised.update(scanned)
        raised.append(kept)
    stream = b"".join([*raised, b"\xff\xd9"])
    tables = _quant_tables(parsed)
    warned = False
    if in_raised:
        planes, qts, warned = _read_planes(stream, frame, cw, ch, tables)
    if len(raised) < len(declared):  # scans left out of the raised copy
        declared_stream = b"".join([*declared, b"\xff\xd9"])
        parts, qts, warned_too = _read_planes(declared_stream, frame, frame.width, frame.height, tables)
        warned = warned or warned_too
        if not in_raised:
            planes = _zero_planes(frame, cw, ch)
        for i, (plane, part) in enumerate(zip(planes, parts, strict=True)):
            plane[: part.shape[0], : part.shape[1]] = part
            if ids[i] not in in_raised:
                _pad_as_libjpeg(plane, part.shape[:2])
    return stream if in_raised else None, planes, qts, warned


def _pad_as_libjpeg(plane: np.ndarray, coded: tuple[int, int]) -> None:
    """Fill the blocks beyond the ``coded`` (rows, columns) of a component no interleaved scan codes as
    libjpeg pads: flat, with the DC of the last coded block. Its scans code only the blocks its own size
    needs, so nothing lies in the rest: it is given what an encoder would write there."""
    rows, cols = coded
    plane[rows:] = 0
    plane[:, cols:] = 0
    plane[rows:, :cols, 0, 0] = plane[rows - 1, :cols, 0, 0]
    plane[:, cols:, 0, 0] = plane[:, cols - 1 : cols, 0, 0]


def _read_planes(
    stream: bytes, frame: FrameHeader, width: int, height: int, tables: dict[int, np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """The coefficient planes and quantisation tables libjpeg reads from ``stream``, a JPEG rebuilt by
    ``_coefficients`` (no APPn or COM segment) whose frame header is ``frame`` at ``width`` x ``height``
    and which holds a scan (jpeglib's reader crashes the process on a stream without one); and whether
    libjpeg warned. ``tables``: the stream's quantisation tables (``_quant_tables``).

    TurboJPEG reads it first (``_read_turbojpeg``); where it is not installed or does not read the
    stream to the end, jpeglib's C reader, called with planes sized from that header
    (``jpeglib.read_dct`` first decodes the whole stream once more for header facts this module already
    has: A/B in docs/benchmarks.md), gives the planes or the error.
    """
    read = _read_turbojpeg(stream, frame, width, height, tables)
    if read is not None:
        return read
    import ctypes

    from jpeglib._bind import CJpegLib

    planes = _zero_planes(frame, width, height)
    slots = ([p.ctypes.data_as(ctypes.POINTER(ctypes.c_short)) for p in planes] + [None] * 4)[:4]  # Y Cb Cr K
    qt, table_of = ((ctypes.c_ushort * 64) * 4)(), (ctypes.c_short * 4)()
    with jpeglib_file(stream) as path, stderr_captured() as said:
        try:
            # the header first, on its own: jpeglib's coefficient reader crashes the process on an error
            # in it (its file handle is not yet set when the error unwinds), this reader does not
            CJpegLib.read_jpeg_markers(str(path), (ctypes.c_ubyte * 1)())
            CJpegLib.read_jpeg_dct(str(path), *slots, qt, table_of)
        except OSError as exc:
            raise CorruptFile(f"libjpeg could not read the JPEG coefficients: {exc}") from exc
    tables_read = np.ctypeslib.as_array(qt).reshape(4, 8, 8).astype(np.float64)
    return planes, [tables_read[table_of[i]] for i in range(len(planes))], bool(said)


def _read_turbojpeg(
    stream: bytes, frame: FrameHeader, width: int, height: int, tables: dict[int, np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray], bool] | None:
    """What ``_read_planes`` returns, read by libturbojpeg (Debian's libturbojpeg0); None where it is not
    installed, or where it stops with an error (jpeglib then reads the stream and tells the error).

    Its lossless transform (none, no output) hands each row of coefficient blocks of every component to a
    callback, straight from libjpeg's buffers, where jpeglib copies coefficient by coefficient through a
    temporary file (13 -> 6.5 CPU-ms a 1.5 MP photo: A/B in docs/benchmarks.md). An error unwinds
    inside the library (setjmp): no stream crashes the process. Its planes come only from a read that
    ended with every row handed over and no error but warnings; the quantisation tables are the ones
    libjpeg keeps after the read: the last definition of each in the stream (``tables``).
    """
    tj = _turbojpeg()
    if tj is None or any(c.tq not in tables for c in frame.components):
        return None
    lib, region, transform, callback = tj
    import ctypes

    # the raised copy's planes are the thread's scratch planes (the declared copy's are copied into them)
    raised = (width, height) == frame.coded
    planes = _scratch_planes(frame, width, height) if raised else _zero_planes(frame, width, height)
    shapes = [(p.shape[1] * 8, p.shape[0] * 8) for p in planes]  # (width, height) in coefficients
    rows = [(p.ctypes.data, p[0].nbytes, p.shape[0]) for p in planes]
    missing = [p.shape[0] for p in planes]  # block rows not yet handed over, per component

    def row(coeffs, array, plane, ci, _index, _transform):  # one row of blocks of component ci
        try:
            if ci >= len(planes) or (array.w, plane.h) != shapes[ci]:
                return -1  # not the planes the frame header gives: an error (jpeglib reads the stream)
            start, size, count = rows[ci]
            if array.y // 8 < count:  # libjpeg rounds the rows up to a multiple of the sampling factor
                ctypes.memmove(start + array.y // 8 * size, coeffs, size)
                missing[ci] -= 1
            return 0
        except Exception:  # an error: jpeglib reads the stream
            return -1

    keep = callback(row)
    xform = transform(region(0, 0, 0, 0), 0, 16 | 64, None, keep)  # TJXOP_NONE, TJXOPT_NOOUTPUT|COPYNONE
    bufs, sizes = (ctypes.c_void_p * 1)(), (ctypes.c_ulong * 1)()
    handle = lib.tjInitTransform()
    if not handle:
        return None
    try:
        failed = lib.tjTransform(handle, stream, len(stream), 1, bufs, sizes, ctypes.byref(xform), 0) != 0
        warned = failed and lib.tjGetErrorCode(handle) == 0  # TJERR_WARNING: read on after a warning
    finally:
        lib.tjDestroy(handle)
    if any(missing) or (failed and not warned):
        return None
    return planes, [tables[c.tq] for c in frame.components], warned


@functools.cache
def _turbojpeg():
    """(libturbojpeg, tjregion, tjtransform, the custom filter's type) through ctypes, or None where the
    library is not installed. The TurboJPEG 2 API (``tjTransform``), which libturbojpeg 3 keeps."""
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL("libturbojpeg.so.0")  # Debian's libturbojpeg0 (find_library runs ldconfig)
    except OSError:
        name = ctypes.util.find_library("turbojpeg")
        try:
            lib = ctypes.CDLL(name) if name else None
        except OSError:
            lib = None
    if lib is None:
        return None

    class Region(ctypes.Structure):
        _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("w", ctypes.c_int), ("h", ctypes.c_int)]

    class Transform(ctypes.Structure):
        pass

    callback = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.c_void_p, Region, Region, ctypes.c_int, ctypes.c_int, ctypes.POINTER(Transform)
    )
    Transform._fields_ = [
        ("r", Region),
        ("op", ctypes.c_int),
        ("options", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("customFilter", callback),
    ]
    lib.tjInitTransform.restype = ctypes.c_void_p
    lib.tjInitTransform.argtypes = []
    lib.tjDestroy.argtypes = [ctypes.c_void_p]
    lib.tjGetErrorCode.argtypes = [ctypes.c_void_p]
    lib.tjTransform.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(Transform),
        ctypes.c_int,
    ]
    return lib, Region, Transform, callback


def _quant_tables(parsed) -> dict[int, np.ndarray]:
    """Each quantisation table of the stream in natural order, as libjpeg keeps it after reading the
    stream: the last definition of each."""
    tables = {}
    for s in parsed.chunks:
        if s.marker == DQT:
            for tid, raw in parse_dqt(s.payload):
                values = np.frombuffer(raw[1:], ">u2" if raw[0] >> 4 else np.uint8)
                table = np.zeros(64)
                table[_NATURAL_ORDER] = values
                tables[tid] = table.reshape(8, 8)
    return tables


# The natural (row-major) index of each coefficient in zigzag order (T.81 figure A.6).
_NATURAL_ORDER = np.array(
    [n for *_, n in sorted((x + y, y if (x + y) % 2 else x, 8 * y + x) for y in range(8) for x in range(8))]
)


def _scratch_planes(frame: FrameHeader, width: int, height: int) -> list[np.ndarray]:
    """Planes, not zeroed, for a read that fills every block (``_read_turbojpeg``) at ``width`` x
    ``height``: the thread's planes of its last read of the same size, else new ones (kept up to
    ``SCRATCH_BYTES``). Fresh planes cost a page fault a page once the coefficients land in them."""
    shapes = [_blocks(frame.component_size(i, width, height)) for i in range(len(frame.components))]
    kept = getattr(_SCRATCH, "planes", None)
    if kept is not None and kept[0] == shapes:
        return kept[1]
    planes = [np.empty((rows, cols, 8, 8), np.int16) for cols, rows in shapes]
    _SCRATCH.planes = (shapes, planes) if sum(p.nbytes for p in planes) <= SCRATCH_BYTES else None
    return planes


_SCRATCH = threading.local()
SCRATCH_BYTES = 64 << 20  # a 20 MP photo's planes


def _zero_planes(frame: FrameHeader, width: int, height: int) -> list[np.ndarray]:
    """A plane of zero blocks per component of ``frame`` at ``width`` x ``height``."""
    shapes = [_blocks(frame.component_size(i, width, height)) for i in range(len(frame.components))]
    return [np.zeros((rows, cols, 8, 8), np.int16) for cols, rows in shapes]


def _blocks(size: tuple[int, int]) -> tuple[int, int]:
    return math.ceil(size[0] / 8), math.ceil(size[1] / 8)


def _write(raised: bytes, planes: list[np.ndarray], frame: FrameHeader) -> bytes:
    """The edited coefficients as a JPEG stream declaring the original size (progressive again if it was);
    ``raised`` is the copy they were read from (its tables and sampling are written again)."""
    import jpeglib

    with jpeglib_file(raised) as path:
        with stderr_captured():  # its warnings were heard when the coefficients were read
            obj = jpeglib.read_dct(str(path))
            obj.load()
        for name, plane in zip(("Y", "Cb", "Cr", "K"), planes, strict=False):
            setattr(obj, name, plane)
        obj.markers = []
        out_path = path.with_name("out.jpg")
        obj.write_dct(str(out_path), flags=["+OPTIMIZE_CODING"])
        out = bytearray(out_path.read_bytes())
    sof = next(s.start for s in walk(bytes(out)).chunks if s.marker in SOF)
    out[sof + 5 : sof + 9] = struct.pack(">HH", frame.height, frame.width)
    return _progressive(bytes(out)) if frame.marker == 0xC2 else bytes(out)
