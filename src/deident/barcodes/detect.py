"""Barcodes on labels and in pictures: find every code that decodes, and hide it with its quiet zone.

A code on a slide or specimen label often carries the accession or record number in clear for any phone
to read, so the stage redacts every code it can decode, identifying or not; the label only says whether
the content *looks* identifying. The decoded value never leaves this module: the report gets the
symbology and a keyed hash.

Decoding is zxing-cpp (all its readable symbologies; it already tries 90-degree rotations, inverted
codes and downscaled copies). Around it:

* ``VIEWS``: extra looks at the frame, rotated 30 and 60 degrees (linear codes only decode within about
  15 degrees of a multiple of 90), on small frames also 15, 45 and 75 degrees (PDF417 tolerates ~5) and
  upscaled twice (codes with 1-2 px modules);
* OpenCV's barcode detector proposes linear codes at any angle; each proposal is cut out, turned level
  and enlarged before zxing reads it;
* each found code is blacked out on a working copy and the frame is read again, so a code that only
  showed part of itself (a linear code read on a few rows) or one hidden behind another is found too.
  The pipeline fills exactly these regions, then runs ``detect`` on its output: nothing may decode.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from deident.errors import StageUnavailable
from deident.formats.base import Context, Frame
from deident.memo import Memo
from deident.options import Options
from deident.regions import Point, Region

INSTALL_HINT = "pip install zxing-cpp"
MAX_ROUNDS = 4  # read, black out, read again: stops early once a round finds nothing new
CACHE_SIZE = 32  # frames whose decoded codes are remembered (the verification pass re-reads outputs)


@dataclass(frozen=True)
class View:
    """One affine look at the frame: rotate by ``angle`` degrees and scale by ``scale``."""

    angle: float
    scale: float = 1.0
    binarizer: str = "LocalAverage"
    max_pixels: int = 0  # skip this view when the frame has more pixels (0: always)
    min_pixels: int = 0  # skip this view unless the frame has more pixels
    every_symbology: bool = True  # else only the symbologies that need a turned view (``_tilted_formats``)


SMALL = 2_500_000  # frames up to this many pixels (labels, DICOM frames) get the finer views

# Matrix codes (QR, Data Matrix, Aztec) are found at any angle by the level views; turned views help them
# only where their modules are too small to sample off-axis, which on small frames the upscaled view
# covers. There, turned views read only the symbologies that need them (linear codes, PDF417, rMQR): in
# 880 generated scenes (11 symbologies, 2- and 3-px modules, every 9 degrees, on a 900x700 and a
# 2200x1300 photo) the same codes were found, and the five turned views of a 640x480 cine frame took 48
# instead of 56 ms. On large frames (no upscaled view) matrix codes with 2-px modules at 27-45 degrees
# were found only through the 30 and 60 degree views, so those read every symbology.
VIEWS: tuple[View, ...] = (
    View(0),
    View(0, binarizer="GlobalHistogram"),
    View(30, min_pixels=SMALL),
    View(60, min_pixels=SMALL),
    View(15, max_pixels=SMALL, every_symbology=False),  # PDF417 only decodes within ~5 degrees
    View(30, max_pixels=SMALL, every_symbology=False),
    View(45, max_pixels=SMALL, every_symbology=False),
    View(60, max_pixels=SMALL, every_symbology=False),
    View(75, max_pixels=SMALL, every_symbology=False),
    View(0, scale=2.0, max_pixels=SMALL),
)

# Margin added around a code, as a fraction of its size along / across its reading direction, and at least
# MIN_MARGIN px. Linear codes get a quiet zone of ~10 modules along and room for the digits printed under
# the bars across; matrix codes a quiet zone of a few modules all round.
MARGINS = {"linear": (0.10, 0.35), "matrix": (0.15, 0.15)}
MIN_MARGIN = 6.0
PROPOSAL_TILE = 1600  # OpenCV barcode proposals are made on tiles this large
BAR_AGREEMENT = 0.8  # share of a parallel line that must match the read bars to count as bars
THIN = 0.15  # a linear code whose quad is thinner than this fraction of its length was read on one row

# Symbologies that carry product numbers (GS1 retail): only a deny-list hit makes them identifying.
RETAIL = frozenset(
    {"EANUPC", "EAN13", "EAN8", "EAN5", "EAN2", "UPCA", "UPCE", "ISBN", "DataBar", "DataBarOmni"}
    | {"DataBarStk", "DataBarStkOmni", "DataBarLtd", "DataBarExp", "DataBarExpStk"}
)


@dataclass(frozen=True)
class Decoded:
    """One code as read: its format's enum name, display name, content, and quad in frame coordinates."""

    format: str
    display: str
    value: str
    quad: tuple[Point, ...]  # top-left, top-right, bottom-right, bottom-left of the symbol as read
    linear: bool

    def region(self, label: str) -> Region:
        return Region(_grow(self.quad, self.linear), "barcode", label)


class BarcodeDetector:
    name = "barcode"
    runs_beside = True  # zxing-cpp and OpenCV's barcode detector on one thread (``frames_cache._beside``)

    def __init__(self, options: Options):
        self.options = options
        self._cache: Memo[tuple[Decoded, ...]] = Memo(CACHE_SIZE)

    def ensure_available(self) -> None:
        _zxing()
        import cv2  # noqa: F401  (core dependency; imported here so a broken install fails closed)

    def detect(self, frame: Frame, ctx: Context) -> list[Region]:
        codes = self.decode(frame.rgb)
        return [c.region(_label(c, ctx)) for c in codes]

    def decode(self, rgb: np.ndarray) -> tuple[Decoded, ...]:
        """Every code in the picture (values in clear: never report them), cached by pixel content."""
        gray = _gray(rgb)
        key = hashlib.blake2b(gray.tobytes(), digest_size=16, person=str(gray.shape).encode()[:16]).digest()
        return self._cache.get(key, lambda: _read_until_clean(gray))


# ---------------------------------------------------------------- reading


def _zxing():
    """The zxing-cpp module, or StageUnavailable: without a decoder no frame may be called code-free."""
    try:
        import zxingcpp
    except Exception as exc:  # ImportError, or a broken native library
        raise StageUnavailable(f"barcode decoder zxing-cpp cannot load ({exc}): {INSTALL_HINT}") from exc
    if not hasattr(zxingcpp, "read_barcodes"):
        raise StageUnavailable(f"barcode decoder zxing-cpp is too old: {INSTALL_HINT}")
    return zxingcpp


def _gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    if rgb.ndim == 2:
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def _read_until_clean(gray: np.ndarray) -> tuple[Decoded, ...]:
    """Read, black out what was found, read again around it, until a round finds nothing.

    Whatever still decodes after a fill is a new region, even when it is a remnant of a code already
    found (a linear code first read on a few rows keeps decoding from the rows left over). Filling one
    code can only uncover something next to it, so later rounds read the neighbourhood of each fill.
    """
    import cv2

    work = gray.copy()
    found: list[Decoded] = []
    windows = [(0, 0, gray.shape[1], gray.shape[0])]
    for _ in range(MAX_ROUNDS):
        new = _dedupe([c for window in windows for c in _read_window(work, window)])
        if not new:
            break
        found += new
        windows = []
        for code in new:
            region = code.region("")
            pts = np.round(np.array(region.polygon)).astype(np.int32)
            cv2.fillPoly(work, [pts], 0)
            x0, y0, x1, y1 = region.bbox()
            pad = max(64, x1 - x0, y1 - y0)
            windows.append(
                (
                    max(0, x0 - pad),
                    max(0, y0 - pad),
                    min(gray.shape[1], x1 + pad),
                    min(gray.shape[0], y1 + pad),
                )
            )
    return tuple(found)


def _read_window(gray: np.ndarray, window: tuple[int, int, int, int]) -> list[Decoded]:
    x0, y0, x1, y1 = window
    if (x0, y0, x1, y1) == (0, 0, gray.shape[1], gray.shape[0]):
        return _read_all(gray)
    codes = _read_all(np.ascontiguousarray(gray[y0:y1, x0:x1]))
    return [replace(c, quad=tuple((x + x0, y + y0) for x, y in c.quad)) for c in codes]


def _dedupe(codes: list[Decoded]) -> list[Decoded]:
    unique: list[Decoded] = []
    for code in codes:
        if not any(_same(code, u) for u in unique):
            unique.append(code)
    return unique


def _read_all(gray: np.ndarray) -> list[Decoded]:
    out: list[Decoded] = []
    h, w = gray.shape
    for view in VIEWS:
        if (view.max_pixels and h * w > view.max_pixels) or h * w <= view.min_pixels:
            continue
        matrix, size = _affine(w, h, view.angle, view.scale)
        out += _decode_view(gray, matrix, size, view.binarizer, view.every_symbology)
    for matrix, size in _linear_proposals(gray):
        out += _decode_view(gray, matrix, size, "LocalAverage", every_symbology=False)
    return _dedupe([_with_bar_height(gray, c) if c.linear else c for c in out])


def _affine(w: int, h: int, angle: float, scale: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Frame -> view matrix that rotates about the centre and grows the canvas so nothing is cut."""
    import cv2

    # Pixel centres, not corners: a half-pixel slip blurs 1-2 px modules past reading when scaling up.
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = math.ceil(h * sin + w * cos), math.ceil(h * cos + w * sin)
    m[0, 2] += (nw - 1) / 2 - (w - 1) / 2
    m[1, 2] += (nh - 1) / 2 - (h - 1) / 2
    return m, (nw, nh)


def _decode_view(
    gray: np.ndarray, matrix: np.ndarray, size: tuple[int, int], binarizer: str, every_symbology: bool = True
) -> list[Decoded]:
    import cv2

    zx = _zxing()
    view = _warped(gray, matrix, size)
    back = cv2.invertAffineTransform(matrix)
    chosen = {} if every_symbology else {"formats": _tilted_formats()}
    results = zx.read_barcodes(view, binarizer=getattr(zx.Binarizer, binarizer), **chosen)
    out = []
    for r in results:
        if not r.valid:
            continue
        p = r.position
        pts = [(pt.x, pt.y) for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        quad = tuple(
            (
                float(back[0, 0] * x + back[0, 1] * y + back[0, 2]),
                float(back[1, 0] * x + back[1, 1] * y + back[1, 2]),
            )
            for x, y in pts
        )
        fmt = r.format.name
        out.append(Decoded(fmt, str(r.format), r.text, quad, fmt in _linear_formats()))
    return out


def _warped(gray: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``gray`` under ``matrix`` (cubic, white beyond the frame). The upscaled view (twice, not turned) is
    made by ``cv2.resize`` on a frame bordered in white, at a tenth of ``warpAffine``'s cost (8.7 -> 0.9
    ms a 640x480 frame): both map pixel centres alike and sample a quarter pixel off, on ``warpAffine``'s
    1/32-pixel grid. On 42 real photos and cine frames (65 million pixels) 4 pixels differ, by one level:
    the two round their fixed-point sums apart."""
    import cv2

    h, w = gray.shape
    if np.allclose(matrix, [[1, 0, 0], [0, 1, 0]]) and size == (w, h):
        return gray
    if np.allclose(matrix, [[2, 0, 0.5], [0, 2, 0.5]]) and size == (2 * w, 2 * h):
        pad = 2  # the cubic kernel reaches 2 px: the border it blends in is white, as warpAffine's
        bordered = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
        return cv2.resize(bordered, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)[
            2 * pad : -2 * pad, 2 * pad : -2 * pad
        ]
    return cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_CUBIC, borderValue=255)


def _linear_proposals(gray: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Views that cut out each linear code OpenCV sees, turned level and at least ~600 px long."""
    import cv2

    quads = []
    detector = cv2.barcode.BarcodeDetector()
    for x0, y0, x1, y1 in _tiles(gray.shape[1], gray.shape[0]):
        try:
            ok, corners = detector.detect(np.ascontiguousarray(gray[y0:y1, x0:x1]))
        except cv2.error:
            continue
        if ok and corners is not None:
            offset = np.array([x0, y0], np.float64)
            quads.extend(np.asarray(corners, np.float64).reshape(-1, 4, 2) + offset)
    views = []
    for quad in quads:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(quad.astype(np.float32))
        if rw < rh:
            rw, rh, angle = rh, rw, angle + 90
        if rw < 8:
            continue
        scale = min(4.0, max(1.0, 600.0 / rw))
        cw, ch = int((rw * 1.4 + 40) * scale), int((rh * 1.6 + 40) * scale)
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[0, 2] += (cw - 1) / 2 - cx
        m[1, 2] += (ch - 1) / 2 - cy
        views.append((m, (cw, ch)))
    return views


def _with_bar_height(gray: np.ndarray, code: Decoded) -> Decoded:
    """The code's quad stretched across its reading direction to the full height of its bars.

    zxing reports a linear code on the rows it read. Lines parallel to the reading direction are sampled
    above and below; while their dark/light pattern agrees with the read one, they are still bars.
    """
    import cv2

    p = np.array(code.quad, np.float64)
    u = p[1] - p[0]
    length = float(np.hypot(*u))
    if length < 8:
        return code
    u /= length
    n = np.array([-u[1], u[0]])
    if float(np.dot(n, p[3] - p[0])) < 0:
        n = -n
    top = min(float(np.dot(q - p[0], n)) for q in p)
    bottom = max(float(np.dot(q - p[0], n)) for q in p)
    reach = int(min(1.5 * length, max(gray.shape)))
    offsets = np.arange(top - reach, bottom + reach + 1, 1.0)
    steps = np.linspace(0.0, length, max(32, int(length)))
    pts = p[0] + steps[None, :, None] * u + offsets[:, None, None] * n
    rows = cv2.remap(
        gray,
        pts[..., 0].astype(np.float32),
        pts[..., 1].astype(np.float32),
        cv2.INTER_LINEAR,
        borderValue=255,
    )
    rows = rows.astype(np.float32)
    dark = rows < rows.mean(axis=1, keepdims=True)
    mid = int(np.argmin(np.abs(offsets - (top + bottom) / 2)))
    agree = (dark == dark[mid]).mean(axis=1) >= BAR_AGREEMENT
    lo = hi = mid
    while lo > 0 and (agree[lo - 1] or (lo > 1 and agree[lo - 2])):
        lo -= 1
    while hi < len(offsets) - 1 and (agree[hi + 1] or (hi < len(offsets) - 2 and agree[hi + 2])):
        hi += 1
    new_top, new_bottom = min(top, float(offsets[lo])), max(bottom, float(offsets[hi]))
    start, end = p[0] + min(0.0, float(np.dot(p[3] - p[0], u))) * u, p[0] + length * u
    quad = (start + new_top * n, end + new_top * n, end + new_bottom * n, start + new_bottom * n)
    return replace(code, quad=tuple((float(x), float(y)) for x, y in quad))


def _tiles(w: int, h: int) -> list[tuple[int, int, int, int]]:
    """Overlapping windows of at most PROPOSAL_TILE px: OpenCV's detector misses codes on large frames."""
    step = PROPOSAL_TILE * 3 // 4
    xs = range(0, max(1, w - PROPOSAL_TILE + step), step)
    ys = range(0, max(1, h - PROPOSAL_TILE + step), step)
    return [(x, y, min(w, x + PROPOSAL_TILE), min(h, y + PROPOSAL_TILE)) for y in ys for x in xs]


@lru_cache(maxsize=1)
def _tilted_formats() -> list:
    """The symbologies a turned view is for: linear codes, and the stacked and rectangular ones that
    decode only near an axis (PDF417 within ~5 degrees)."""
    zx = _zxing()
    near_axis = [zx.BarcodeFormat.PDF417, zx.BarcodeFormat.CompactPDF417, zx.BarcodeFormat.MicroPDF417]
    return [*zx.barcode_formats_list(zx.BarcodeFormat.AllLinear), *near_axis, zx.BarcodeFormat.RMQRCode]


@lru_cache(maxsize=1)
def _linear_formats() -> frozenset[str]:
    zx = _zxing()
    return frozenset(f.name for f in zx.barcode_formats_list(zx.BarcodeFormat.AllLinear))


def _same(a: Decoded, b: Decoded) -> bool:
    """Two reads of one symbol: same content and each centre inside the other's box."""
    return a.format == b.format and a.value == b.value and _inside(a.quad, b.quad) and _inside(b.quad, a.quad)


def _inside(a: tuple[Point, ...], b: tuple[Point, ...]) -> bool:
    cx = sum(p[0] for p in a) / len(a)
    cy = sum(p[1] for p in a) / len(a)
    xs, ys = [p[0] for p in b], [p[1] for p in b]
    pad = 0.5 * max(max(xs) - min(xs), max(ys) - min(ys), 4.0)
    return min(xs) - pad <= cx <= max(xs) + pad and min(ys) - pad <= cy <= max(ys) + pad


# ---------------------------------------------------------------- geometry and labels


def _grow(quad: tuple[Point, ...], linear: bool) -> tuple[Point, ...]:
    """The quad pushed out along its own axes by the quiet-zone margins (works at any rotation)."""
    p = np.array(quad, np.float64)
    u = p[1] - p[0]  # reading direction
    length = float(np.hypot(*u))
    if length < 1e-6:
        u, length = np.array([1.0, 0.0]), 1.0
    u = u / length
    v = p[3] - p[0]
    height = float(abs(-u[1] * v[0] + u[0] * v[1]))
    n = np.array([-u[1], u[0]])
    if float(np.dot(n, v)) < 0:
        n = -n
    along, across = MARGINS["linear" if linear else "matrix"]
    mu = max(MIN_MARGIN, along * length)
    mv = max(MIN_MARGIN, across * max(height, length if not linear else 0.0))
    if linear and height < THIN * length:  # read on one row: the bars' height is unknown, assume some
        mv = max(mv, 0.3 * length)
    signs = ((-1, -1), (1, -1), (1, 1), (-1, 1))  # (along, across) per corner
    out = [p[i] + su * mu * u + sv * mv * n for i, (su, sv) in enumerate(signs)]
    return tuple((float(x), float(y)) for x, y in out)


def _label(code: Decoded, ctx: Context) -> str:
    name = code.display.removesuffix(" Code")  # "QR Code" -> "QR code #..."
    label = f"{name} code #{ctx.keyring.short_hash(code.value)}"
    return label + " (identifying)" if identifying(code, ctx.deny_terms) else label


def identifying(code: Decoded, deny_terms: tuple[str, ...] = ()) -> bool:
    """Deny-list hit; or, except for retail product codes, a record/accession number, date or name."""
    from deident.denylist import deny_list_for, looks_identifying

    if deny_terms and deny_list_for(tuple(deny_terms)).matches(code.value):
        return True
    return code.format not in RETAIL and looks_identifying(code.value)
