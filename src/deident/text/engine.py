"""The PP-OCR models rapidocr ships in its wheel, loaded once per process and never downloaded.

rapidocr fetches a model when its path is not given; deident always passes the bundled files' paths and
turns rapidocr's downloader into an error while loading, so a missing file fails the stage closed instead
of reaching the network. onnxruntime runs with a fixed thread count (2 for one process, 1 when the pipeline
runs several), which keeps the boxes identical from run to run.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deident.errors import StageUnavailable

INSTALL_HINT = "pip install rapidocr onnxruntime"
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}

_engines: dict[int, Any] = {}


@dataclass(frozen=True)
class Recognised:
    text: str
    score: float


def threads_for(jobs: int) -> int:
    """Both cores for a single process; one per process when the pipeline runs several."""
    return 1 if jobs > 1 else max(1, min(2, os.cpu_count() or 1))


def model_dir() -> Path:
    try:
        import rapidocr
    except ImportError as e:
        raise StageUnavailable(f"text detection needs rapidocr: {INSTALL_HINT}") from e
    return Path(rapidocr.__file__).resolve().parent / "models"


@contextlib.contextmanager
def _offline():
    """Make any download rapidocr attempts an error (models must come from the wheel)."""
    from rapidocr.utils import download_file

    def refuse(*_a, **_k):
        raise StageUnavailable(f"a rapidocr model is missing from the installed package: {INSTALL_HINT}")

    saved = download_file.DownloadFile.run
    download_file.DownloadFile.run = classmethod(refuse)
    try:
        yield
    finally:
        download_file.DownloadFile.run = saved


def load(threads: int):
    """The rapidocr engine with all three models loaded (cached per process and thread count)."""
    if threads in _engines:
        return _engines[threads]
    root = model_dir()
    missing = [f for f in MODEL_FILES.values() if not (root / f).is_file()]
    if missing:
        raise StageUnavailable(f"rapidocr models not found ({', '.join(missing)}): {INSTALL_HINT}")
    try:
        import onnxruntime  # noqa: F401
        from rapidocr import RapidOCR
    except ImportError as e:
        raise StageUnavailable(f"text detection needs rapidocr and onnxruntime: {INSTALL_HINT}") from e
    params: dict[str, Any] = {
        "Global.log_level": "error",
        "Global.model_root_dir": str(root),
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    params.update({f"{task}.model_path": str(root / name) for task, name in MODEL_FILES.items()})
    try:
        with _offline():
            engine = RapidOCR(params=params)
            det, cls, rec = engine._load_det_model(), engine._load_cls_model(), engine._load_rec_model()
    except StageUnavailable:
        raise
    except Exception as e:  # a broken wheel or runtime: fail closed with the reason
        raise StageUnavailable(f"rapidocr could not load its models ({e}): {INSTALL_HINT}") from e
    det.limit_type = "max"
    _engines[threads] = (det, cls, rec)
    return _engines[threads]


def detect_boxes(engine, bgr: np.ndarray, box_thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Quads (Nx4x2, pixel coordinates of ``bgr``) and scores, without resizing the input."""
    det = engine[0]
    det.limit_side_len = max(bgr.shape[:2]) + 32
    det.postprocess_op.box_thresh = box_thresh
    out = det(np.ascontiguousarray(bgr))
    if out.boxes is None or len(out.boxes) == 0:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    return np.asarray(out.boxes, np.float32), np.asarray(out.scores, np.float32)


def recognise(engine, bgr: np.ndarray, quads: list[np.ndarray]) -> list[Recognised]:
    """Read each quad: crop upright (vertical lines turned), fix 180-degree turns, recognise."""
    from rapidocr.ch_ppocr_rec import TextRecInput
    from rapidocr.utils.process_img import get_rotate_crop_image

    if not quads:
        return []
    _, cls, rec = engine
    crops = [get_rotate_crop_image(bgr, q.astype(np.float32).copy()) for q in quads]
    crops = list(cls(crops).img_list)
    out = rec(TextRecInput(img=crops))
    return [Recognised(str(t), float(s)) for t, s in zip(out.txts, out.scores, strict=True)]
