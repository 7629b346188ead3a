"""How far a change reaches in the DB text detector's probability map (issue 24: can a padded window stand
for the whole frame?).

Each picture (../shared's real-world set, else sample_images/) is scaled as the overview sees it (long side
1280, sides on the detector's 32-px grid). Two measures, each the largest change of the map at or beyond a
distance from where the input changed (in overview px):

- a fill: the frame with a 64-px strip at its right edge made black, against the frame as it was;
- a window: a 256x256 crop on the grid (three per picture, seeded), against the same pixels of the whole
  frame's map, by distance from the crop's edges inside the frame.

If the map were local, both columns would fall to 0 within the network's receptive field. Prints a
markdown table (nothing is written).

    python bench/bench_context.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench_detector import pictures

DISTANCES = (32, 64, 128, 192, 256, 384)
FILL = 64  # px strip made black
WINDOW = 256  # px side of a crop


def overview(path: Path) -> np.ndarray:
    import cv2

    from deident.text.detect import OVERVIEW_SIDE

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    scale = min(1.0, OVERVIEW_SIDE / max(bgr.shape[:2]))
    h, w = (max(32, round(v * scale / 32) * 32) for v in bgr.shape[:2])
    return cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)


def reach(diff: np.ndarray, dist: np.ndarray) -> list[str]:
    return [f"{diff[dist >= d].max():.3f}" if (dist >= d).any() else "-" for d in DISTANCES]


def main() -> int:
    from deident.text import engine

    det = engine.load(1)[0]
    head = " | ".join(f">= {d}" for d in DISTANCES)
    print(f"| picture | overview | change | {head} |\n|---|---|---|{'---|' * len(DISTANCES)}")
    rng = np.random.default_rng(24)
    for path in pictures():
        img = overview(path)
        h, w = img.shape[:2]
        whole = det.probabilities(img)
        filled = img.copy()
        filled[:, w - FILL :] = 0
        diff = np.abs(det.probabilities(filled) - whole)
        cols = np.broadcast_to((w - FILL) - np.arange(w), (h, w))
        print(f"| {path.name} | {w}x{h} | fill | {' | '.join(reach(diff, cols))} |")
        if min(h, w) < WINDOW + 64:
            continue
        worst = np.zeros((WINDOW, WINDOW), np.float32)
        yy, xx = np.mgrid[0:WINDOW, 0:WINDOW]
        dist = np.minimum.reduce([yy, xx, WINDOW - 1 - yy, WINDOW - 1 - xx])  # to the window's edge
        for _ in range(3):
            y0 = int(rng.integers(1, (h - WINDOW) // 32)) * 32
            x0 = int(rng.integers(1, (w - WINDOW) // 32)) * 32
            crop = np.ascontiguousarray(img[y0 : y0 + WINDOW, x0 : x0 + WINDOW])
            d = np.abs(det.probabilities(crop) - whole[y0 : y0 + WINDOW, x0 : x0 + WINDOW])
            worst = np.maximum(worst, d)
        print(f"| {path.name} | {w}x{h} | window | {' | '.join(reach(worst, dist))} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
