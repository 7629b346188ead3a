"""The PP-OCR models rapidocr ships in its wheel, loaded once per process and never downloaded.

rapidocr fetches a model when its path is not given; deident always passes the bundled files' paths and
turns rapidocr's downloader into an error while loading, so a missing file fails the stage closed instead
of reaching the network. onnxruntime runs with a fixed thread count (the cores shared out among the
pipeline's workers, at most 2 each), which keeps the boxes identical from run to run, and its idle threads
sleep instead of spinning (``_sleeping_threads``).
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


def cores() -> int:
    """CPUs this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_for(workers: int) -> int:
    """Intra-op threads per process, so that workers x threads never exceed the cores (at most 2 each)."""
    return max(1, min(MAX_THREADS, cores() // max(1, workers)))


MAX_THREADS = 2  # the DB detector gains little beyond two threads at these input sizes


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


@contextlib.contextmanager
def _sleeping_threads():
    """Sessions created meanwhile let idle intra-op threads sleep instead of spinning.

    By default onnxruntime's pool threads spin between operators, burning a core that other processes
    (or the other worker) need. Measured here, 2 threads, PP-OCR detector on a 960x704 photo, load
    average 11 on 2 cores: 2.43 CPU-s spinning vs 1.83 sleeping (-25 %), wall 11.7 s vs 9.6 s.
    """
    from rapidocr.inference_engine.onnxruntime import main as ort_main

    saved = vars(ort_main.OrtInferSession).get("_init_sess_opts")
    if not isinstance(saved, staticmethod):  # another rapidocr: its own defaults, nothing patched
        yield
        return

    def options(cfg):
        opts = saved.__func__(cfg)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return opts

    ort_main.OrtInferSession._init_sess_opts = staticmethod(options)
    try:
        yield
    finally:
        ort_main.OrtInferSession._init_sess_opts = saved


def load(threads: int):
    """The rapidocr engine: the detector loaded, the other two at first use (cached per process and
    thread count). Every model file must be present before anything runs."""
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
    engine = _loaded(lambda: RapidOCR(params=params))
    det = _loaded(engine._load_det_model)
    det.limit_type = "max"
    _engines[threads] = (det, _Later(engine._load_cls_model), _Later(engine._load_rec_model))
    return _engines[threads]


def _loaded(make):
    """``make()`` with downloads refused and sleeping threads; any failure fails the stage closed."""
    try:
        with _offline(), _sleeping_threads():
            return make()
    except StageUnavailable:
        raise
    except Exception as e:  # a broken wheel or runtime: fail closed with the reason
        raise StageUnavailable(f"rapidocr could not load its models ({e}): {INSTALL_HINT}") from e


@dataclass
class _Later:
    """A model loaded at its first call: the classifier and recogniser run only when a line is read (PHI
    mode, ``--keep-text``, very tall lines), so a run that reads nothing skips their load (0.15 of the
    1.4 CPU-s of ``deident check`` on one photo, measured)."""

    make: Any
    model: Any = None

    def __call__(self, *args):
        if self.model is None:
            self.model = _loaded(self.make)
        return self.model(*args)


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
