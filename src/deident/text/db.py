"""PP-OCR's DB text detector on onnxruntime directly: rapidocr's ``TextDetector`` without its engine.

The same pre- and post-processing as rapidocr 3's ``ch_ppocr_det`` (Apache-2.0, from PaddleOCR) with the
settings deident gives it (no resize beyond the multiple of 32 the network needs, threshold 0.3, 2x2
dilation, unclip ratio 1.6, fast box score), so the boxes are the same; what is left out is rapidocr's
import, config parsing and downloader, 0.55 of the 1.4 CPU-s ``deident check`` took on one photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

THRESH = 0.3  # probability a pixel needs to be text
UNCLIP = 1.6  # each box grows by area x UNCLIP / perimeter (DB's kernels are shrunk text)
MAX_CANDIDATES = 1000
MIN_SIDE = 3


@dataclass
class Detector:
    session: Any  # onnxruntime.InferenceSession of the DB model

    def probabilities(self, bgr: np.ndarray) -> np.ndarray | None:
        """The text probability map of ``bgr`` resized to multiples of 32 (None: too small to look at)."""
        import cv2

        h, w = bgr.shape[:2]
        rh, rw = round(h / 32) * 32, round(w / 32) * 32
        if rh <= 0 or rw <= 0:
            return None
        img = cv2.resize(bgr, (rw, rh)) if (rh, rw) != (h, w) else bgr
        x = _normalised()[img].transpose(2, 0, 1)[None]
        name = self.session.get_inputs()[0].name
        return self.session.run(None, {name: x})[0][0, 0]

    def __call__(self, bgr: np.ndarray, box_thresh: float) -> tuple[np.ndarray, np.ndarray]:
        """Quads (Nx4x2 float32, pixel coordinates of ``bgr``, clockwise from top-left) and scores."""
        quads, scores, _ = self.with_heat(bgr, box_thresh)
        return quads, scores

    def with_heat(
        self, bgr: np.ndarray, box_thresh: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``self(bgr, box_thresh)`` and the probability map it came from (None when ``bgr`` is too small)."""
        empty = np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
        pred = self.probabilities(bgr)
        if pred is None:
            return *empty, None
        boxes, scores = _boxes(pred, bgr.shape[0], bgr.shape[1], box_thresh)
        if not boxes:
            return *empty, pred
        order = _reading_order(np.array(boxes))
        return np.array(boxes, np.float32)[order], np.array(scores, np.float32)[order], pred


@cache
def _normalised() -> np.ndarray:
    """uint8 -> the network's input, (v / 255 - 0.5) / 0.5 computed as rapidocr does (float64, then
    float32): a table lookup instead of arithmetic on every pixel."""
    v = np.arange(256, dtype=np.float32)
    return ((v * (1 / 255.0) - np.array(0.5)) / np.array(0.5)).astype(np.float32)


def _boxes(pred: np.ndarray, dest_h: int, dest_w: int, box_thresh: float) -> tuple[list, list]:
    import cv2

    height, width = pred.shape
    mask = cv2.dilate((pred > THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[:MAX_CANDIDATES]:
        points, side = _mini_box(contour)
        if side < MIN_SIDE:
            continue
        score = _box_score(pred, points.reshape(-1, 2))
        if box_thresh > score:
            continue
        box, side = _mini_box(_unclip(points))
        if side < MIN_SIDE + 2:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / width * dest_w), 0, dest_w)
        box[:, 1] = np.clip(np.round(box[:, 1] / height * dest_h), 0, dest_h)
        box = _clockwise(box.astype(np.int32))
        box[:, 0] = np.minimum(np.maximum(box[:, 0], 0), dest_w - 1).astype(np.int32)
        box[:, 1] = np.minimum(np.maximum(box[:, 1], 0), dest_h - 1).astype(np.int32)
        if int(np.linalg.norm(box[0] - box[1])) <= 3 or int(np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        boxes.append(box)
        scores.append(score)
    return boxes, scores


def _mini_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle: corners (top-left, top-right, bottom-right, bottom-left), short side."""
    import cv2

    rect = cv2.minAreaRect(contour)
    p = sorted(list(cv2.boxPoints(rect)), key=lambda x: x[0])
    i1, i4 = (0, 1) if p[1][1] > p[0][1] else (1, 0)
    i2, i3 = (2, 3) if p[3][1] > p[2][1] else (3, 2)
    return np.array([p[i1], p[i2], p[i3], p[i4]]), min(rect[1])


def _box_score(pred: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside the box."""
    import cv2

    h, w = pred.shape
    box = box.copy()
    xmin = np.clip(np.floor(box[:, 0].min()).astype(np.int32), 0, w - 1)
    xmax = np.clip(np.ceil(box[:, 0].max()).astype(np.int32), 0, w - 1)
    ymin = np.clip(np.floor(box[:, 1].min()).astype(np.int32), 0, h - 1)
    ymax = np.clip(np.ceil(box[:, 1].max()).astype(np.int32), 0, h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), np.uint8)
    box[:, 0] -= xmin
    box[:, 1] -= ymin
    cv2.fillPoly(mask, box.reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(pred[ymin : ymax + 1, xmin : xmax + 1], mask)[0]


def _unclip(box: np.ndarray) -> np.ndarray:
    import pyclipper

    q = box.astype(np.float64)
    x, y = q[:, 0], q[:, 1]
    area = abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2
    length = float(np.linalg.norm(q - np.roll(q, -1, axis=0), axis=1).sum())
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return np.array(offset.Execute(area * UNCLIP / length)).reshape((-1, 1, 2))


def _clockwise(pts: np.ndarray) -> np.ndarray:
    xs = pts[np.argsort(pts[:, 0]), :]
    left, right = xs[:2], xs[2:]
    tl, bl = left[np.argsort(left[:, 1]), :]
    tr, br = right[np.argsort(right[:, 1]), :]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def _reading_order(boxes: np.ndarray) -> np.ndarray:
    """Indices top to bottom, then left to right within rows 10 px apart (rapidocr's order)."""
    y = boxes[:, 0, 1]
    by_y = np.argsort(y, kind="stable")
    rows = np.concatenate([[0], np.cumsum(np.diff(y[by_y]) >= 10)])
    return by_y[np.lexsort((boxes[by_y][:, 0, 0], rows))]
