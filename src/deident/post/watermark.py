"""A small corner credit ("@handle") drawn on the posted picture, where it hides the least.

The corner is the one whose patch (the size of the credit plate) has the least detail: the lowest
spread of grey levels plus mean gradient, so the plate lands on background or glass, not on tissue.
The text is sized from the picture (about 2.5% of its long side, at least 18 px) so OCR and people can
read it at the posted size, on an opaque plate (white on light corners, black on dark ones).

The font is the one Pillow ships (``ImageFont.load_default(size=...)``): the same on every machine,
so the same input gives the same bytes anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TEXT_PX = 18
TEXT_FRACTION = 0.025  # of the long side
MAX_WIDTH_FRACTION = 0.6  # the plate never covers more than this share of the width
# Tried in this order when two corners are equally plain (posts usually credit bottom right).
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


@dataclass(frozen=True)
class Placement:
    corner: str
    box: tuple[int, int, int, int]  # plate x0, y0, x1, y1 in pixels
    text_px: int

    def to_dict(self) -> dict:
        return {"corner": self.corner, "box": list(self.box), "text_px": self.text_px}


def _font(px: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=px)


def _plate_size(text: str, px: int) -> tuple[int, int, int]:
    """Plate width, height and padding for ``text`` at ``px``."""
    left, top, right, bottom = _font(px).getbbox(text)
    pad = max(4, round(px * 0.4))
    return right - left + 2 * pad, bottom - top + 2 * pad, pad


def _corner_box(corner: str, size: tuple[int, int], plate: tuple[int, int], margin: int):
    w, h = size
    pw, ph = plate
    x0 = margin if corner.endswith("left") else w - margin - pw
    y0 = margin if corner.startswith("top") else h - margin - ph
    return x0, y0, x0 + pw, y0 + ph


def detail_score(grey: np.ndarray) -> float:
    """How much is going on in a patch: grey-level spread plus mean absolute gradient."""
    if grey.size == 0:
        return float("inf")
    g = grey.astype(np.float32)
    gradient = 0.0
    if min(g.shape) > 1:
        gradient = float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
    return round(float(g.std() + gradient), 3)


def plan_credit(rgb: np.ndarray, text: str) -> Placement:
    """Where and how big the credit goes on an HxWx3 picture."""
    h, w = rgb.shape[:2]
    px = max(MIN_TEXT_PX, round(TEXT_FRACTION * max(w, h)))
    pw, ph, _ = _plate_size(text, px)
    while pw > MAX_WIDTH_FRACTION * w and px > MIN_TEXT_PX:
        px -= 1
        pw, ph, _ = _plate_size(text, px)
    if pw > w or ph > h:
        raise ValueError(f"the picture ({w}x{h}) is too small for a legible credit")
    margin = max(2, round(0.5 * ph))
    if 2 * margin + pw > w or 2 * margin + ph > h:
        margin = 0
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    best: tuple[float, int, str, tuple[int, int, int, int]] | None = None
    for rank, corner in enumerate(CORNERS):
        box = _corner_box(corner, (w, h), (pw, ph), margin)
        x0, y0, x1, y1 = box
        key = (detail_score(grey[y0:y1, x0:x1]), rank, corner, box)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return Placement(best[2], best[3], px)


def draw_credit(image, text: str) -> tuple[object, Placement]:
    """A copy of the RGB ``image`` with ``text`` on a contrasting plate in its plainest corner."""
    from PIL import ImageDraw

    rgb = np.asarray(image.convert("RGB"))
    place = plan_credit(rgb, text)
    x0, y0, x1, y1 = place.box
    patch = rgb[y0:y1, x0:x1].astype(np.float32)
    light_behind = float((patch @ np.array([0.299, 0.587, 0.114], np.float32)).mean()) >= 128
    plate, ink = ((255, 255, 255), (0, 0, 0)) if light_behind else ((0, 0, 0), (255, 255, 255))
    out = image.convert("RGB").copy()
    out.paste(plate, place.box)  # opaque: a see-through plate lost OCR reads on busy backgrounds
    font = _font(place.text_px)
    left, top, _, _ = font.getbbox(text)
    _, _, pad = _plate_size(text, place.text_px)
    ImageDraw.Draw(out).text((x0 + pad - left, y0 + pad - top), text, font=font, fill=ink)
    return out, place
