"""Redact JPEG pixels by editing the quantised DCT coefficients, without decoding and re-encoding.

A re-encode costs every block of the picture a generation of loss; here only the 8x8 blocks under a
redaction change. The coefficients are read with libjpeg (through ``jpeglib``), the blocks of every MCU a
redaction touches (plus a small margin) are replaced by one flat colour (``fill``: the DC value that decodes
to black luma and neutral chroma, or black R, G and B in an RGB JPEG, every AC coefficient zero) or by their
cell's mean colour (``pixelate``: DC averaged over cells of whole MCUs, AC zero), and the coefficients are
entropy-coded again losslessly with the original quantisation tables and sampling factors (optimised
Huffman tables). Progressive inputs are made progressive again by MozJPEG's lossless transcoder. Every
other block keeps its exact values.

The caller (``deident.formats.jpeg``) passes redactions in stored pixel coordinates (before EXIF
orientation), runs the result through its metadata filter, and falls back to decode/re-encode when this
module raises ``DctUnsupported``.
"""

from __future__ import annotations

import math
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deident.errors import CorruptFile, DeidentError
from deident.regions import PIXELATE_CELLS, Redaction, polygon_mask

# libjpeg build used through jpeglib: libjpeg-turbo 2.1, the same family Pillow decodes with.
LIBJPEG_VERSION = "turbo210"
# Pixels added around every redaction before it is snapped outward to whole MCUs (detector boxes are tight).
MARGIN_PX = 2
# An MCU a fill only grazes (under GRAZED of it inside the redaction itself) is left as it is when every one
# of its blocks decodes flat, each within FLAT_LEVEL grey levels: it holds no ink, and filling it would
# only widen the black box by up to an MCU on each side. FLAT_LEVEL stays under the text stage's own
# no-ink span (text.detect.FLAT, 8): faint text 8 levels off its ground, on a line astride an MCU row,
# survived a level of 12.
GRAZED = 0.5
FLAT_LEVEL = 7
# The orthonormal 8-point DCT-II (T.81 A.3.3): a block of coefficients decodes as ``DCT.T @ c @ DCT``.
DCT = np.array(
    [
        [math.sqrt((1 if u == 0 else 2) / 8) * math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)]
        for u in range(8)
    ]
)
# Pixelate cells are at least this many pixels (and at least one MCU), and at least 1/PIXELATE_CELLS of
# the short side.
MIN_CELL_PX = 16
STYLES = ("fill", "pixelate")
# jpeglib keeps the selected libjpeg build and the markers being read in process-wide state.
_JPEGLIB_LOCK = threading.Lock()

# Start-of-frame markers: the coding process each one announces (ITU-T T.81 table B.1).
SOF_PROCESS = {
    0xC0: "baseline",
    0xC1: "extended sequential",
    0xC2: "progressive",
    0xC3: "lossless",
    0xC5: "hierarchical sequential",
    0xC6: "hierarchical progressive",
    0xC7: "hierarchical lossless",
    0xC9: "arithmetic sequential",
    0xCA: "arithmetic progressive",
    0xCB: "arithmetic lossless",
    0xCD: "arithmetic hierarchical sequential",
    0xCE: "arithmetic hierarchical progressive",
    0xCF: "arithmetic hierarchical lossless",
}
SUPPORTED_PROCESSES = {"baseline", "extended sequential", "progressive"}
# Markers without a length field (T.81 B.1.1.3): TEM and RST0-7.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


class DctUnsupported(DeidentError):
    """This JPEG or this redaction cannot be done on coefficients: decode and re-encode instead."""


@dataclass(frozen=True)
class JpegLayout:
    """What the frame header says, read with a marker walk (no decoding)."""

    process: str
    precision: int
    width: int
    height: int
    factors: tuple[tuple[int, int], ...]  # (h, v) sampling factors per component
    component_ids: tuple[int, ...]
    adobe_transform: int | None = None  # APP14 "Adobe" colour transform flag, if present
    restart_interval: int = 0

    @property
    def color(self) -> str:
        """The colour model as libjpeg would guess it (jdapimin.c rules, simplified)."""
        n = len(self.factors)
        if n == 1:
            return "gray"
        if n == 3:
            rgb = self.adobe_transform == 0 or self.component_ids == (82, 71, 66)
            return "rgb" if rgb else "ycbcr"
        return "cmyk" if n == 4 else f"{n} components"

    def unsupported_reason(self) -> str | None:
        if self.process not in SUPPORTED_PROCESSES:
            return f"{self.process} JPEG"
        if self.precision != 8:
            return f"{self.precision}-bit JPEG"
        if self.color not in ("gray", "ycbcr", "rgb"):
            return f"{self.color} JPEG"
        return None

    @property
    def dark(self) -> tuple[bool, ...]:
        """Per component, whether a fill makes it black (luma; each of R, G and B) or neutral (chroma)."""
        return tuple(i == 0 or self.color == "rgb" for i in range(len(self.factors)))


# MCUs a redaction touches (a window of the MCU grid), the share of each inside the redaction itself, and
# the window's (row, column) origin.
_McuMask = tuple[np.ndarray, np.ndarray, tuple[int, int]]


@dataclass(frozen=True)
class _Grid:
    """The MCU grid in stored pixels, and how each component's blocks sit in it."""

    width: int
    height: int
    factors: tuple[tuple[int, int], ...]  # (h, v)

    @property
    def mcu(self) -> tuple[int, int]:  # (width, height) in pixels
        return 8 * max(h for h, _ in self.factors), 8 * max(v for _, v in self.factors)

    @property
    def shape(self) -> tuple[int, int]:  # MCU rows, columns
        mw, mh = self.mcu
        return math.ceil(self.height / mh), math.ceil(self.width / mw)

    def mcu_mask(self, red: Redaction) -> _McuMask | None:
        """MCUs the redaction (grown by MARGIN_PX) touches, as a window and its (row, column) origin, with
        the share of each MCU inside the redaction itself."""
        mw, mh = self.mcu
        x0, y0, x1, y1 = red.region.bbox()
        x0, y0 = max(0, x0 - MARGIN_PX), max(0, y0 - MARGIN_PX)
        x1, y1 = min(self.width, x1 + MARGIN_PX + 1), min(self.height, y1 + MARGIN_PX + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        c0, r0 = x0 // mw, y0 // mh
        c1, r1 = math.ceil(x1 / mw), math.ceil(y1 / mh)
        px0, py0 = c0 * mw, r0 * mh
        shifted = red.region.mapped(lambda x, y: (x - px0, y - py0))
        pixels = polygon_mask(((r1 - r0) * mh, (c1 - c0) * mw), [shifted])
        share = pixels.reshape(r1 - r0, mh, c1 - c0, mw).mean(axis=(1, 3))
        if MARGIN_PX:
            import cv2

            kernel = np.ones((2 * MARGIN_PX + 1, 2 * MARGIN_PX + 1), np.uint8)
            pixels = cv2.dilate(pixels.astype(np.uint8), kernel).astype(bool)
        mask = pixels.reshape(r1 - r0, mh, c1 - c0, mw).any(axis=(1, 3))
        return (mask, share, (r0, c0)) if mask.any() else None


def read_layout(jpeg_bytes: bytes) -> JpegLayout:
    """Walk the markers of the first frame up to its first scan (T.81 annex B)."""
    data = memoryview(jpeg_bytes)
    if bytes(data[:2]) != b"\xff\xd8":
        raise CorruptFile("not a JPEG stream (no SOI marker)")
    pos, adobe, restart, frame = 2, None, 0, None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise CorruptFile(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = bytes(data[pos + 4 : pos + 2 + length])
        if length < 2 or len(body) != length - 2:
            raise CorruptFile(f"truncated JPEG segment at byte {pos}")
        if marker == 0xEE and body[:5] == b"Adobe" and len(body) >= 12:
            adobe = body[11]
        elif marker == 0xDD and len(body) >= 2:
            (restart,) = struct.unpack(">H", body[:2])
        elif marker in SOF_PROCESS and frame is None:
            frame = (SOF_PROCESS[marker], body)
        pos += 2 + length
    if frame is None:
        raise CorruptFile("JPEG stream has no frame header")
    process, body = frame
    if len(body) < 6:
        raise CorruptFile("truncated JPEG frame header")
    precision, height, width, n = struct.unpack(">BHHB", body[:6])
    comps = [body[6 + 3 * i : 9 + 3 * i] for i in range(n)]
    if n == 0 or width == 0 or any(len(c) != 3 or not c[1] >> 4 or not c[1] & 15 for c in comps):
        raise CorruptFile("invalid JPEG frame header")
    return JpegLayout(
        process=process,
        precision=precision,
        width=width,
        height=height,
        factors=tuple((c[1] >> 4, c[1] & 15) for c in comps),
        component_ids=tuple(c[0] for c in comps),
        adobe_transform=adobe,
        restart_interval=restart,
    )


def unsupported_reason(jpeg_bytes: bytes) -> str | None:
    """Why this JPEG cannot be redacted on coefficients here, or None when it can."""
    try:
        layout = read_layout(jpeg_bytes)
    except CorruptFile as exc:
        return str(exc)
    reason = layout.unsupported_reason()
    if reason is None and layout.process == "progressive" and not _have("mozjpeg_lossless_optimization"):
        reason = "progressive output needs mozjpeg-lossless-optimization"
    if reason is None and not _have("jpeglib"):
        reason = "jpeglib is not installed"
    if reason is None:
        import jpeglib

        if LIBJPEG_VERSION not in jpeglib.version.versions():
            reason = f"this jpeglib has no libjpeg build {LIBJPEG_VERSION!r}"
    return reason


def redact_dct(jpeg_bytes: bytes, redactions: list[Redaction]) -> bytes:
    """A new JPEG with every redaction applied to whole MCUs and every other block bit-identical.

    Raises ``DctUnsupported`` (the caller re-encodes instead) for ``blur`` and for JPEG flavours this
    path does not handle; ``CorruptFile`` when libjpeg cannot read the coefficients.
    """
    for red in redactions:
        if red.style not in STYLES:
            raise DctUnsupported(f"{red.style!r} redaction needs decoded pixels")
    layout = read_layout(jpeg_bytes)
    reason = unsupported_reason(jpeg_bytes)
    if reason:
        raise DctUnsupported(f"no DCT-domain redaction for this file: {reason}")
    import jpeglib

    with jpeglib_file(jpeg_bytes) as src:
        dst = src.with_name("out.jpg")
        try:
            jpeg = jpeglib.read_dct(str(src))
            planes = [p for p in (jpeg.Y, jpeg.Cb, jpeg.Cr) if p is not None]
        except OSError as exc:
            raise CorruptFile(f"libjpeg could not read the JPEG coefficients: {exc}") from exc
        if len(planes) != len(layout.factors):
            raise DctUnsupported(f"libjpeg reads {len(planes)} of {len(layout.factors)} components")
        grid = _Grid(layout.width, layout.height, layout.factors)
        qts = [jpeg.get_component_qt(i).astype(np.float64) for i in range(len(planes))]
        found = [(red, grid.mcu_mask(red)) for red in redactions]
        left_out = _flat_grazed(grid, [f for red, f in found if f and red.style == "fill"], planes, qts)
        for red, mcus in found:
            if mcus:
                _apply(red, mcus, left_out, grid, planes, qts, layout.dark)
        # libjpeg writes its own JFIF header (density copied from the source): drop the copied one.
        jpeg.markers = [m for m in (jpeg.markers or []) if not _is_jfif(m)]
        try:
            jpeg.write_dct(str(dst), flags=["+OPTIMIZE_CODING"])
        except OSError as exc:
            raise DctUnsupported(f"libjpeg could not write the coefficients: {exc}") from exc
        out = dst.read_bytes()
    if layout.process == "progressive":
        out = _progressive(out)
    return out


@contextmanager
def jpeglib_file(data: bytes) -> Iterator[Path]:
    """A temporary file holding ``data``, for as long as the block runs under jpeglib's lock and with
    ``LIBJPEG_VERSION`` selected: jpeglib reads and writes only files, and keeps its libjpeg build and the
    markers being read in process-wide state. Files the block writes beside it are removed with it."""
    import jpeglib

    with (
        _JPEGLIB_LOCK,
        tempfile.TemporaryDirectory(prefix="deident-jpeglib-") as tmp,
        jpeglib.version(LIBJPEG_VERSION),
    ):
        path = Path(tmp) / "in.jpg"
        path.write_bytes(data)
        yield path


def _progressive(baseline: bytes) -> bytes:
    """The same coefficients as a progressive JPEG (MozJPEG's jpegtran -optimize -progressive -copy all)."""
    import mozjpeg_lossless_optimization as mozjpeg

    try:
        return mozjpeg.optimize(baseline, copy=mozjpeg.COPY_MARKERS.ALL)
    except Exception as exc:  # a C library's failure of any kind: let the caller re-encode instead
        raise DctUnsupported(f"MozJPEG could not make the output progressive: {exc}") from exc


def fill_dc(qdc: int, dark: bool) -> int:
    """The quantised DC giving black (mean 0 after the +128 level shift) or neutral chroma (128)."""
    return -math.ceil(1024 / qdc) if dark else 0


def _flat_grazed(
    grid: _Grid, fills: list[_McuMask], planes: list[np.ndarray], qts: list[np.ndarray]
) -> np.ndarray:
    """The MCUs (a frame-sized grid) left out of the fills: on their outline, only grazed, and flat.

    Shares are summed over the fills, so an MCU between two stacked lines is filled with them. Only MCUs
    reached from outside the fills through other such MCUs are left out: a fill keeps no hole that would
    trace where the glyphs reach."""
    share = np.zeros(grid.shape)
    filled = np.zeros(grid.shape, bool)
    for mask, part, (r0, c0) in fills:  # windows lie inside the grid (mcu_mask clips to the frame)
        rows, cols = slice(r0, r0 + mask.shape[0]), slice(c0, c0 + mask.shape[1])
        share[rows, cols] += part
        filled[rows, cols] |= mask
    grazed = filled & (share < GRAZED)
    grazed[grazed] = _flat(np.argwhere(grazed), grid, planes, qts)
    import cv2

    open_ = np.pad(grazed | ~filled, 1, constant_values=True).astype(np.uint8)
    _, labels = cv2.connectedComponents(open_, connectivity=4)
    outside = np.unique(labels[np.pad(~filled, 1, constant_values=True)])
    return grazed & np.isin(labels[1:-1, 1:-1], outside)


def _apply(
    red: Redaction,
    mcus: _McuMask,
    grazed: np.ndarray,
    grid: _Grid,
    planes: list[np.ndarray],
    qts: list[np.ndarray],
    dark: tuple[bool, ...],
) -> None:
    mask, _, (r0, c0) = mcus
    if red.style == "fill":
        mask = mask & ~grazed[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]]
    qdc = [int(q[0, 0]) for q in qts]
    mw, mh = grid.mcu
    x0, y0, x1, y1 = red.region.bbox()
    short = max(1, min(x1 - x0, y1 - y0))
    cell = max(1, math.ceil(max(MIN_CELL_PX, short / PIXELATE_CELLS) / max(mw, mh)))  # in MCUs
    for i, (plane, (h, v)) in enumerate(zip(planes, grid.factors, strict=True)):
        blocks = np.repeat(np.repeat(mask, v, axis=0), h, axis=1)
        rows, cols = np.nonzero(blocks)
        rows, cols = rows + r0 * v, cols + c0 * h
        keep = (rows < plane.shape[0]) & (cols < plane.shape[1])
        rows, cols = rows[keep], cols[keep]
        if red.style == "fill":
            dc = np.full(rows.shape, fill_dc(qdc[i], dark[i]))
        else:
            cy, cx = (rows - r0 * v) // (cell * v), (cols - c0 * h) // (cell * h)
            ids = cy * (int(cx.max(initial=0)) + 1) + cx
            dcs = plane[rows, cols, 0, 0].astype(np.float64)
            means = np.bincount(ids, dcs) / np.maximum(np.bincount(ids), 1)
            dc = np.rint(means[ids])
        plane[rows, cols] = 0
        plane[rows, cols, 0, 0] = dc.astype(plane.dtype)


def _flat(mcus: np.ndarray, grid: _Grid, planes: list[np.ndarray], qts: list[np.ndarray]) -> np.ndarray:
    """For each (row, column) of ``mcus``: whether every block of it decodes within FLAT_LEVEL levels."""
    flat = np.ones(len(mcus), bool)
    for plane, (h, v), qt in zip(planes, grid.factors, qts, strict=True):
        for dy in range(v):
            for dx in range(h):
                rows, cols = mcus[:, 0] * v + dy, mcus[:, 1] * h + dx
                inside = (rows < plane.shape[0]) & (cols < plane.shape[1])
                pixels = DCT.T @ (plane[rows[inside], cols[inside]] * qt) @ DCT
                spread = np.ptp(pixels.reshape(len(pixels), 64), axis=1)
                flat[inside] &= spread <= FLAT_LEVEL
    return flat


def _is_jfif(marker) -> bool:
    return int(marker.type) == 0xE0 and bytes(marker.content[:5]) == b"JFIF\x00"


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
