"""YuNet face detection over an image pyramid, with OpenCV's ``FaceDetectorYN``.

Why YuNet: the model is 227 KB, MIT-licensed and runs in the OpenCV build deident already depends on, so
it ships inside the package and needs no extra runtime. It sees faces of roughly 10 to 300 px; clinical
photos hold faces from 40 px to the whole frame, so the frame is searched at a few scales (``pyramid``)
and the detections merged. Everything here is heavy: this module is imported only when a frame is checked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

MODEL = "face_detection_yunet_2023mar.onnx"

# Pyramid: the finest level keeps a 40 px face at >= 20 px (YuNet's comfortable minimum); each next level
# is 3x smaller (YuNet's 10-300 px range overlaps generously at that step) until the short side is small
# enough that a face filling the frame fits the model's range.
FINEST_LONG_SIDE = 2048  # finest level: long side at most this (full resolution when smaller)
LEVEL_STEP = 3.0
COARSEST_SHORT_SIDE = 320
SCORE_THRESHOLD = 0.7  # chosen on tests/support/facesynth.py: see docs/faces.md
NMS_IOU = 0.3


@dataclass(frozen=True)
class Face:
    """One detection in frame coordinates: box, five landmarks (eyes image-left first, nose, mouth)."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: tuple[tuple[float, float], ...]
    score: float

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        a, b = self.landmarks[0], self.landmarks[1]
        return (a, b) if a[0] <= b[0] else (b, a)


def model_path() -> str:
    return str(resources.files("deident.faces") / "models" / MODEL)


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _detector(path: str):
    """Load once per process; raises when OpenCV lacks FaceDetectorYN or the model cannot be read."""
    import cv2

    return cv2.FaceDetectorYN.create(path, "", (320, 320), SCORE_THRESHOLD, NMS_IOU, 5000)


def load(threads: int | None = None):
    import cv2

    if threads is not None:
        cv2.setNumThreads(threads)
    return _detector(model_path())


def pyramid(width: int, height: int) -> list[float]:
    """Scales at which to search a ``width`` x ``height`` frame, finest first."""
    scales = [min(1.0, FINEST_LONG_SIDE / max(width, height))]
    while min(width, height) * scales[-1] > COARSEST_SHORT_SIDE:
        scales.append(scales[-1] / LEVEL_STEP)
    return scales


def find_faces(rgb: np.ndarray, threads: int | None = None) -> list[Face]:
    """Every face in an RGB frame, merged across pyramid levels, ordered top-to-bottom, left-to-right."""
    import cv2

    det = load(threads)
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    h, w = bgr.shape[:2]
    rows: list[np.ndarray] = []
    for s in pyramid(w, h):
        sw, sh = max(1, round(w * s)), max(1, round(h * s))
        level = bgr if (sw, sh) == (w, h) else cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
        with _lock:  # one detector object per process: its input size is per call
            det.setInputSize((sw, sh))
            _, found = det.detect(level)
        if found is not None:
            found = found.copy()
            found[:, :14] *= np.array([w / sw, h / sh] * 7, np.float32)
            rows.append(found)
    if not rows:
        return []
    allf = np.concatenate(rows)
    boxes = [[float(v) for v in r[:4]] for r in allf]
    keep = cv2.dnn.NMSBoxes(boxes, allf[:, 14].tolist(), SCORE_THRESHOLD, NMS_IOU)
    kept = _drop_containers(allf, np.array(keep).reshape(-1).tolist())
    faces = []
    for i in sorted(kept, key=lambda i: (allf[i, 1], allf[i, 0])):
        r = allf[i]
        x, y, bw, bh = (float(v) for v in r[:4])
        lms = tuple((float(r[4 + 2 * k]), float(r[5 + 2 * k])) for k in range(5))
        faces.append(Face((x, y, x + bw, y + bh), lms, float(r[14])))
    return faces


def _drop_containers(rows: np.ndarray, idx: list[int]) -> list[int]:
    """Drop a box around the centre of a smaller, better-scored face: a face never holds a face.

    Coarse pyramid levels sometimes read a whole scene around a real face as one large face (measured
    after an eye bar on a coffee-cup scene); keeping it would fail eyes-mode verification for nothing.
    If such a drop were wrong, the second look after redaction still finds the big face: it fails closed.
    """

    def inside(a: np.ndarray, b: np.ndarray) -> bool:  # a's centre in b, and b at least twice a's area
        cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
        return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3] and b[2] * b[3] >= 2 * a[2] * a[3]

    return [
        i
        for i in idx
        if not any(j != i and rows[j, 14] >= rows[i, 14] and inside(rows[j], rows[i]) for j in idx)
    ]
