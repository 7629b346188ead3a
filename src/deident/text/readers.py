"""PP-OCR's line classifier (0/180 degrees) and CTC recogniser on onnxruntime directly.

The same steps as rapidocr 3's ``ch_ppocr_cls`` and ``ch_ppocr_rec`` (Apache-2.0, from PaddleOCR) with
its default settings, so the readings are the same; without rapidocr's engine, whose import and config
parsing cost 0.55 CPU-s in every process that reads a line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BATCH = 6  # crops per model call, sorted by width first (rapidocr's batching, so the padding is the same)
CLS_SHAPE = (3, 48, 192)
CLS_THRESH = 0.9  # a crop is turned when the classifier says 180 degrees with more than this
# Every batch is padded to at least 320 px wide, as rapidocr pads it, though most crops are short (median
# 1.9 heights on ../shared's real-world set; half the input is padding): the model reads the padding too. At
# 288 px 36 of 505 real crops read other text; at 96 px (-13 % CPU on the text photos) 211, and the default
# run left a sign's "50 40" unredacted (bench/bench_rec_padding.py; docs/benchmarks.md, "The recogniser's
# padding").
REC_SHAPE = (3, 48, 320)


def crop(bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quad's pixels warped upright (a line 1.5 times taller than wide turned on its side)."""
    import cv2

    p = quad.astype(np.float32)
    w = int(max(np.linalg.norm(p[0] - p[1]), np.linalg.norm(p[2] - p[3])))
    h = int(max(np.linalg.norm(p[0] - p[3]), np.linalg.norm(p[1] - p[2])))
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(p, rect)
    out = cv2.warpPerspective(bgr, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(out) if out.shape[0] / out.shape[1] >= 1.5 else out


def _padded(img: np.ndarray, shape: tuple[int, int, int], max_ratio: float) -> np.ndarray:
    """``img`` resized to the model's height (width by its own ratio, at most the batch's), scaled to
    [-1, 1] and padded with zeros on the right."""
    import cv2

    c, height, _ = shape
    width = int(height * max_ratio)
    h, w = img.shape[:2]
    resized_w = min(width, math.ceil(height * w / float(h)))
    x = cv2.resize(img, (resized_w, height)).astype("float32").transpose((2, 0, 1)) / 255
    x -= 0.5
    x /= 0.5
    out = np.zeros((c, height, width), np.float32)
    out[:, :, :resized_w] = x
    return out


def _batches(imgs: list[np.ndarray]):
    """(indices, crops) in batches of BATCH, narrowest first."""
    order = np.argsort(np.array([im.shape[1] / float(im.shape[0]) for im in imgs]))
    for start in range(0, len(imgs), BATCH):
        idx = [int(i) for i in order[start : start + BATCH]]
        yield idx, [imgs[i] for i in idx]


def _run(session, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@dataclass
class Classifier:
    session: Any

    def __call__(self, imgs: list[np.ndarray]) -> list[np.ndarray]:
        """The crops, each turned by 180 degrees where the model is sure it is upside down."""
        import cv2

        out = list(imgs)
        ratio = CLS_SHAPE[2] / CLS_SHAPE[1]
        for idx, batch in _batches(imgs):
            prob = _run(self.session, np.stack([_padded(im, CLS_SHAPE, ratio) for im in batch]))
            for i, p in zip(idx, prob, strict=True):
                if int(p.argmax()) == 1 and p[1] > CLS_THRESH:
                    out[i] = cv2.rotate(out[i], 1)
        return out


@dataclass
class Recogniser:
    session: Any
    chars: list[str] = field(default_factory=list)

    def __post_init__(self):
        table = self.session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.chars = ["blank", *table, " "]

    def __call__(self, imgs: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, mean confidence of its characters) per crop."""
        out: list[tuple[str, float]] = [("", 0.0)] * len(imgs)
        for idx, batch in _batches(imgs):
            ratio = max(REC_SHAPE[2] / REC_SHAPE[1], *(im.shape[1] / im.shape[0] for im in batch))
            preds = _run(self.session, np.stack([_padded(im, REC_SHAPE, ratio) for im in batch]))
            for i, tokens, probs in zip(idx, preds.argmax(axis=2), preds.max(axis=2), strict=True):
                out[i] = self._decoded(tokens, probs)
        return out

    def _decoded(self, tokens: np.ndarray, probs: np.ndarray) -> tuple[str, float]:
        """CTC: repeats merged, blanks dropped; confidences rounded as rapidocr rounds them."""
        keep = np.ones(len(tokens), bool)
        keep[1:] = tokens[1:] != tokens[:-1]
        keep &= tokens != 0
        conf = [round(c, 5) for c in probs[keep].tolist()] or [0]
        return "".join(self.chars[t] for t in tokens[keep]), np.mean(conf).round(5).tolist()
