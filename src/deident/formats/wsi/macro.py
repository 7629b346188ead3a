"""The label end of a kept macro image: where it is (matched against the label image) and whether a
previous scrub filled it."""

from __future__ import annotations

import re

import numpy as np

LABEL_FRACTION = 0.36  # the label end of a 75 mm slide is at most ~26 mm: fill at least this share
FILL_VALUE = 0
FILLED = re.compile(r"label-filled x=(\d+-\d+(?:,\d+-\d+)*)")


def _grey(arr: np.ndarray) -> np.ndarray:
    a = arr.astype(np.float32)
    return a.mean(axis=2) if a.ndim == 3 else a


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def label_columns(macro: np.ndarray, label: np.ndarray | None) -> tuple[list[tuple[int, int]], str]:
    """Column ranges of the macro to fill, and why.

    With a label image, each of its four rotations is scaled to the macro's height and compared (normalised
    cross-correlation) with both ends; a clear winner (score >= 0.5, 0.2 above the other end) names the
    end, filled over the matched width plus 10 % and never less than ``LABEL_FRACTION`` of the slide.
    Otherwise both ends are filled: losing some glass is better than keeping a name.
    """
    from PIL import Image

    h, w = macro.shape[:2]
    minimum = int(np.ceil(LABEL_FRACTION * w))
    if label is not None and label.size:
        grey = _grey(macro)
        best = {"left": (-1.0, 0), "right": (-1.0, 0)}
        for k in range(4):
            lab = np.rot90(_grey(label), k)
            tw = max(1, round(h * lab.shape[1] / lab.shape[0]))
            if tw > w:
                continue
            scaled = np.asarray(Image.fromarray(lab).resize((tw, h), Image.BILINEAR), np.float32)
            for side, part in (("left", grey[:, :tw]), ("right", grey[:, w - tw :])):
                score = _ncc(scaled, part)
                if score > best[side][0]:
                    best[side] = (score, tw)
        side = max(best, key=lambda s: best[s][0])
        other = "left" if side == "right" else "right"
        score, tw = best[side]
        if score >= 0.5 and score - best[other][0] >= 0.2:
            width = min(w, max(minimum, int(np.ceil(1.1 * tw))))
            cols = (0, width) if side == "left" else (w - width, w)
            return [cols], f"label found at the {side} end (match {score:.2f})"
        reason = "label image matched neither end clearly"
    else:
        reason = "no label image to locate it"
    width = min(w // 2, minimum)
    return [(0, width), (w - width, w)], f"{reason}: both ends filled"


def filled_ok(desc: str | None, pixels: np.ndarray) -> bool:
    """A macro is clean when its description names filled columns, each wide enough, all exactly filled."""
    m = FILLED.search(desc or "")
    if not m:
        return False
    w = pixels.shape[1]
    for part in m.group(1).split(","):
        a, b = (int(x) for x in part.split("-"))
        if b - a < int(np.ceil(LABEL_FRACTION * w)) - 1 or not (pixels[:, a:b] == FILL_VALUE).all():
            return False
    return True
