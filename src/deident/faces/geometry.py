"""Where to hide: the whole head around a face, or a bar across both eyes, aligned with the eye line.

Both shapes are rectangles rotated to the line through the eyes, so a tilted face is covered as well as an
upright one. Proportions are multiples of the detected box (face) or of the
eye distance (bar), measured on tests/support/facesynth.py: YuNet's box runs from the brows to the chin and
misses hair and ears.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deident.faces.yunet import Face


@dataclass(frozen=True)
class Extent:
    """A rectangle in face-aligned units: ``left``/``right`` along the eye line, ``up``/``down`` across."""

    left: float
    right: float
    up: float
    down: float


# Head: half widths and heights as fractions of the detected box (hairline above, ears at the sides).
# A rectangle: an ellipse inscribed in it (and one 10 % wider) left enough head outline for YuNet to find
# the blurred face again on ../shared's real-world set (camera.png, bald_guys.jpg), and the re-redaction
# round then grew the blur far wider; only an ellipse larger than this rectangle was never found again.
HEAD = Extent(left=0.72, right=0.72, up=0.95, down=0.68)
# Eye bar: beyond each eye and above/below the eye line as fractions of the eye distance.
BAR = Extent(left=0.6, right=0.6, up=0.5, down=0.5)
# "Eyes hidden": around each eye centre, within EYE_PROBE eye distances, at least FLAT_SHARE of the pixels
# belong to a bar: flat (3x3 neighbourhood range <= FLAT_RANGE), or near-black and fairly smooth (the
# bar is filled black; JPEG re-encoding leaves ringing of up to ~20 levels near its edges). The disk is
# wide because on a barred face the model can only guess the eyes (measured drift up to ~0.4 eye
# distances). Measured on
# tests/support/facesynth.py (40 scenes, seed 5): untouched faces reach at most 0.1 %; barred faces at least
# 34 %, also after JPEG at quality 75.
EYE_PROBE = 0.5
FLAT_RANGE = 2
DARK_LEVEL = 24
DARK_RANGE = 24
FLAT_SHARE = 0.2


def eye_angle(face: Face) -> float:
    (x0, y0), (x1, y1) = face.eyes
    return math.atan2(y1 - y0, x1 - x0)


def _rotated(cx: float, cy: float, angle: float, ext: Extent, unit_u: float, unit_v: float):
    """Corners of ``ext`` around (cx, cy), axes rotated by ``angle``, scaled by the two units."""
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-math.sin(angle), math.cos(angle)])  # image y points down: +v is "down the face"
    c = np.array([cx, cy])
    corners = [(-ext.left, -ext.up), (ext.right, -ext.up), (ext.right, ext.down), (-ext.left, ext.down)]
    return tuple(tuple(float(t) for t in c + a * unit_u * u + b * unit_v * v) for a, b in corners)


def head_polygon(face: Face) -> tuple[tuple[float, float], ...]:
    x0, y0, x1, y1 = face.box
    return _rotated((x0 + x1) / 2, (y0 + y1) / 2, eye_angle(face), HEAD, x1 - x0, y1 - y0)


# Eye landmarks a bar can rest on: both within the detected box (grown by this share of its width on each
# side) and at least MIN_EYE_SPAN of its width apart (a profile's two landmarks sit ~0.2 apart).
EYE_SLACK = 0.1
MIN_EYE_SPAN = 0.12


def eyes_placeable(face: Face) -> bool:
    """True when the eye landmarks are plausible enough to place a bar on; else the face is covered."""
    x0, y0, x1, y1 = face.box
    w = max(1.0, x1 - x0)
    slack = EYE_SLACK * w
    inside = all(x0 - slack <= x <= x1 + slack and y0 - slack <= y <= y1 + slack for x, y in face.eyes)
    return inside and eye_distance(face) >= MIN_EYE_SPAN * w


def eye_distance(face: Face) -> float:
    (x0, y0), (x1, y1) = face.eyes
    return max(1.0, math.hypot(x1 - x0, y1 - y0))


def eye_bar(face: Face) -> tuple[tuple[float, float], ...]:
    """A bar from beyond one eye to beyond the other, centred on the eye line (not a box fraction)."""
    (x0, y0), (x1, y1) = face.eyes
    d = eye_distance(face)
    ext = Extent(BAR.left + 0.5, BAR.right + 0.5, BAR.up, BAR.down)  # +0.5: from the midpoint to each eye
    return _rotated((x0 + x1) / 2, (y0 + y1) / 2, eye_angle(face), ext, d, d)


def eyes_flat(rgb: np.ndarray, face: Face) -> bool:
    """True when the pixels around both eye centres are mostly a bar's (an eye bar is already there).

    Real photographs are never flat over that area (sensor noise, skin texture), so a face whose eyes
    still show is never taken for a barred one; a guessed eye slightly off the bar still counts as hidden.
    """
    import cv2

    h, w = rgb.shape[:2]
    r = max(2, round(EYE_PROBE * eye_distance(face)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = xx**2 + yy**2 <= r * r
    kernel = np.ones((3, 3), np.uint8)
    for ex, ey in face.eyes:
        cx, cy = round(ex), round(ey)
        x0, y0, x1, y1 = max(0, cx - r), max(0, cy - r), min(w, cx + r + 1), min(h, cy + r + 1)
        if x0 >= x1 or y0 >= y1:
            continue  # eye outside the frame: nothing visible to hide
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        spread = (cv2.dilate(crop, kernel) - cv2.erode(crop, kernel)).max(axis=2)
        bar = (spread <= FLAT_RANGE) | ((crop.max(axis=2) <= DARK_LEVEL) & (spread <= DARK_RANGE))
        inside = disk[y0 - cy + r : y1 - cy + r, x0 - cx + r : x1 - cx + r]
        if bar[inside].mean() < FLAT_SHARE:
            return False
    return True
