"""Detect once across frames that share their pixels: cine loops, fluoroscopy runs, endoscopy video.

An ultrasound cine shows the same burned-in overlay (names, dates, settings) on every frame around a
moving image. The first frame is looked at whole and becomes the reference. Each later frame is compared
with the reference (any channel differing by more than ``TOLERANCE``, taken per 8x8 block): where nothing
changed, the reference's regions hold as they are; every changed area, padded by ``PAD`` and grown to
cover the reference regions it touches, is looked at again as a crop of the frame. So text that appears in
one frame only is found there (it changes that frame's pixels), and static text costs one look. A frame
whose changed areas cover more than ``FULL_SHARE`` of it is looked at whole and becomes the reference.

Measured (pydicom-data ``color3d_jpeg_baseline.dcm``, 120 frames 640x480, the moving sector 61 % of the
frame): see docs/benchmarks.md, "Cine loop".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from deident.formats.base import Context, Frame
    from deident.regions import Region

TOLERANCE = 10  # grey levels: a smaller change (compression noise) is not a change
BLOCK = 8  # px: changes are mapped on this grid (one JPEG block)
PAD = 16  # px of context around a changed area (the detector needs room around the ink)
FULL_SHARE = 0.75  # changed crops covering more than this share of the frame: look at it whole

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
Look = Callable[[object, "Frame", "Context"], list["Region"]]


def _detect(detector, frame: Frame, ctx: Context) -> list[Region]:
    return detector.detect(frame, ctx)


def detect_frames(
    frames: Iterable[Frame], detectors: list, ctx: Context, look: Look = _detect
) -> Iterator[tuple[Frame, list[Region]]]:
    """Yield each frame with the regions ``look(detector, frame, ctx)`` finds in it, over all detectors.

    The same result as looking at every frame whole, but a frame's unchanged areas are not looked at again.
    """
    ref_rgb = None
    ref_regions: list[Region] = []
    for frame in frames:
        crops = None if ref_rgb is None or ref_rgb.shape != frame.rgb.shape else _changed(ref_rgb, frame.rgb)
        if crops is not None:
            crops = _cover(crops, ref_regions, frame.rgb.shape)
        h, w = frame.rgb.shape[:2]
        if crops is None or sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in crops) > FULL_SHARE * h * w:
            ref_rgb, ref_regions = frame.rgb, [r for d in detectors for r in look(d, frame, ctx)]
            yield frame, list(ref_regions)
            continue
        regions = [r for r in ref_regions if not any(_overlaps(_box(r, w, h), c) for c in crops)]
        for x0, y0, x1, y1 in crops:
            import numpy as np

            part = dataclasses.replace(frame, rgb=np.ascontiguousarray(frame.rgb[y0:y1, x0:x1]))
            found = [r for d in detectors for r in look(d, part, ctx)]
            regions += [r.mapped(lambda x, y, dx=x0, dy=y0: (x + dx, y + dy)) for r in found]
        yield frame, regions


def _changed(ref: np.ndarray, rgb: np.ndarray) -> list[Box]:
    """Padded boxes around the areas where ``rgb`` differs from ``ref`` (an empty list: none)."""
    import cv2
    import numpy as np

    h, w = rgb.shape[:2]
    diff = cv2.absdiff(ref, rgb)
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    changed = diff > TOLERANCE
    bh, bw = -(-h // BLOCK), -(-w // BLOCK)
    grid = np.zeros((bh * BLOCK, bw * BLOCK), bool)
    grid[:h, :w] = changed
    blocks = grid.reshape(bh, BLOCK, bw, BLOCK).any(axis=(1, 3)).astype(np.uint8)
    if not blocks.any():
        return []
    reach = -(-PAD // BLOCK)  # the dilation adds the padding on every side (and joins areas that near)
    joined = cv2.dilate(blocks, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    return [
        (int(x) * BLOCK, int(y) * BLOCK, min(w, int(x + bw_) * BLOCK), min(h, int(y + bh_) * BLOCK))
        for x, y, bw_, bh_, _area in stats[1:n]
    ]


def _cover(crops: list[Box], regions: list[Region], shape: tuple[int, ...]) -> list[Box]:
    """Grow crops over every reference region they touch, and merge crops that overlap, until stable."""
    h, w = shape[:2]
    boxes = list(crops)
    while True:
        grown = []
        for box in boxes:
            for r in regions:
                if _overlaps(_box(r, w, h), box):
                    box = _union(box, _box(r, w, h, PAD))
            grown.append(box)
        merged: list[Box] = []
        for box in grown:
            for i, other in enumerate(merged):
                if _overlaps(box, other):
                    merged[i] = _union(box, other)
                    break
            else:
                merged.append(box)
        if merged == boxes:
            return merged
        boxes = merged


def _box(region: Region, w: int, h: int, pad: int = 0) -> Box:
    """The region's bounding box grown by ``pad``, inside the frame, end exclusive."""
    x0, y0, x1, y1 = region.bbox()
    return max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + 1 + pad), min(h, y1 + 1 + pad)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
