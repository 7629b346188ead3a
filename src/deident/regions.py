"""Where something identifying sits in a picture, and how it is hidden.

Every pixel stage (text, barcodes, faces) returns ``Region`` polygons in the coordinates of the frame it
was shown (the picture as a viewer displays it). Documents map them back to their stored pixels and call
``redact`` on their own arrays, so 16-bit DICOM frames are cleaned in their original values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only where pixels are touched: metadata-only runs start without it
    import numpy as np

Point = tuple[float, float]

# The kind of a region a detector judged harmless and keeps (a PHI-mode text line): never redacted, only
# told to verification (frames_cache.unchanged_kept).
KEPT = "kept text"


def bounding_box(polygon: Sequence[Point]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the whole pixels' box that holds every corner of ``polygon``."""
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))


@dataclass(frozen=True)
class Region:
    polygon: tuple[Point, ...]  # (x, y) corners in frame coordinates
    kind: str  # "text" | "barcode" | "face" | "eyes"
    label: str = ""  # safe description for the report (never the identifying value in clear)
    score: float = 1.0

    @classmethod
    def box(cls, x0: float, y0: float, x1: float, y1: float, kind: str, label: str = "", score: float = 1.0):
        return cls(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), kind, label, score)

    def bbox(self) -> tuple[int, int, int, int]:
        return bounding_box(self.polygon)

    def grown(self, margin: float) -> Region:
        """Push every corner ``margin`` pixels away from the centroid along both axes' directions."""
        cx = sum(p[0] for p in self.polygon) / len(self.polygon)
        cy = sum(p[1] for p in self.polygon) / len(self.polygon)
        pts = tuple((x + margin * _sign(x - cx), y + margin * _sign(y - cy)) for x, y in self.polygon)
        return Region(tuple((float(x), float(y)) for x, y in pts), self.kind, self.label, self.score)

    def mapped(self, fn) -> Region:
        return Region(tuple(fn(x, y) for x, y in self.polygon), self.kind, self.label, self.score)

    def describe(self) -> str:
        """The box in a report: grown or rotated regions may reach past the top-left edge; the report
        shows the part inside the picture (no negative coordinates)."""
        x0, y0, x1, y1 = self.bbox()
        return f"{max(0, x0)},{max(0, y0)}-{max(0, x1)},{max(0, y1)}"


def _sign(v: float) -> int:
    return 1 if v > 0 else -1 if v < 0 else 0


# A pixelated region is this many cells across its short side. YuNet found pixelated faces again in 7 of
# 60 test scenes at 8 cells, 2 of 88 at 5, none of 88 at 4 (tests/support/facesynth.py seeds 0 and 7).
# Shared by the pixel and the DCT-domain paths.
PIXELATE_CELLS = 4


@dataclass(frozen=True)
class Redaction:
    region: Region
    style: str  # "fill" | "blur" | "pixelate"


def polygon_mask(
    shape: Sequence[int], regions: Iterable[Region], origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Boolean HxW mask covering the regions (clipped to the frame), of the window whose top-left
    corner is ``origin`` in frame coordinates (the same pixels: the polygons are shifted by whole pixels)."""
    import cv2
    import numpy as np

    mask = np.zeros(tuple(shape[:2]), np.uint8)
    for r in regions:
        pts = np.round(np.array(r.polygon, np.float64)).astype(np.int32) - np.array(origin, np.int32)
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def redact(pixels: np.ndarray, redactions: Iterable[Redaction], fill_value=None) -> np.ndarray:
    """Return a copy of ``pixels`` (HxW or HxWxC, any integer dtype) with every redaction applied.

    ``fill`` writes ``fill_value`` (default: the darkest value the dtype holds, i.e. black);
    ``pixelate`` replaces the region with ``PIXELATE_CELLS`` blocks across its short side; ``blur`` with a
    box blur whose kernel is half the region's short side, repeated, so nothing legible or recognisable
    remains.
    """
    out = pixels.copy()
    h, w = out.shape[:2]
    for red in redactions:
        x0, y0, x1, y1 = red.region.bbox()  # holds every pixel of the region's mask
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1 + 1), min(h, y1 + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        # The mask of the box alone: a frame-sized one per region cost 4 % of a cine's CPU.
        sub = polygon_mask((y1 - y0, x1 - x0), [red.region], (x0, y0))
        if not sub.any():
            continue
        patch = out[y0:y1, x0:x1]
        if red.style == "fill":
            patch[sub] = fill_value if fill_value is not None else (0 if out.dtype.kind in "ui" else 0.0)
            continue
        short = max(1, min(patch.shape[0], patch.shape[1]))
        if red.style == "pixelate":
            hidden = _pixelate(patch, max(4, -(-short // PIXELATE_CELLS)))
        elif red.style == "blur":
            hidden = _blur(patch, max(3, short // 2))
        else:
            raise ValueError(f"unknown redaction style {red.style!r}")
        patch[sub] = hidden[sub]
    return out


def _pixelate(patch: np.ndarray, block: int) -> np.ndarray:
    out = patch.copy()
    for by in range(0, patch.shape[0], block):
        for bx in range(0, patch.shape[1], block):
            cell = patch[by : by + block, bx : bx + block]
            out[by : by + block, bx : bx + block] = (
                cell.reshape(-1, *cell.shape[2:]).mean(axis=0).astype(patch.dtype)
            )
    return out


def _blur(patch: np.ndarray, k: int) -> np.ndarray:
    import cv2
    import numpy as np

    work = patch.astype(np.float32)
    for _ in range(3):  # three box passes approximate a wide Gaussian and erase fine detail
        work = cv2.blur(work, (k, k), borderType=cv2.BORDER_REPLICATE)
    if np.issubdtype(patch.dtype, np.integer):
        info = np.iinfo(patch.dtype)
        work = np.clip(np.rint(work), info.min, info.max)
    return work.astype(patch.dtype)
