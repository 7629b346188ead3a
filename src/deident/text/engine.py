"""The PP-OCR models rapidocr ships in its wheel, loaded once per process and never downloaded.

deident runs the bundled model files on onnxruntime itself (db.py, readers.py) and never uses rapidocr's
engine, which downloads a model it cannot find: a missing file fails the stage closed instead of reaching
the network. onnxruntime runs with a fixed thread count (the cores shared out among the pipeline's
workers, at most 2 each), which keeps the boxes identical from run to run, and its idle threads sleep
instead of spinning (``_session``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deident.errors import StageUnavailable
from deident.memo import Memo
from deident.text.weights import without_denormals

INSTALL_HINT = "pip install rapidocr onnxruntime"
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}

_engines: dict[int, Any] = {}
_loading = threading.Lock()  # frames looked at side by side (frames_cache) load each model once


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


def load(threads: int):
    """(detector, classifier, recogniser): the detector loaded, the other two at first use (cached per
    process and thread count). Every model file must be present before anything runs.

    The models run on onnxruntime directly (``db.Detector``, ``readers``): building rapidocr's engine
    cost 0.55 CPU-s of imports and config parsing, more than a small photo's whole detection.
    """
    with _loading:
        if threads not in _engines:
            _engines[threads] = _engine(threads)
        return _engines[threads]


def _engine(threads: int):
    root = model_dir()
    missing = [f for f in MODEL_FILES.values() if not (root / f).is_file()]
    if missing:
        raise StageUnavailable(f"rapidocr models not found ({', '.join(missing)}): {INSTALL_HINT}")
    try:
        offline_onnxruntime()
    except ImportError as e:
        raise StageUnavailable(f"text detection needs rapidocr and onnxruntime: {INSTALL_HINT}") from e
    from deident.text.db import Detector
    from deident.text.readers import Classifier, Recogniser

    det = _loaded(lambda: Detector(_session(root / MODEL_FILES["Det"], threads, flush=True)))
    return (
        det,
        _Later(lambda: Classifier(_session(root / MODEL_FILES["Cls"], threads))),
        _Later(lambda: Recogniser(_session(root / MODEL_FILES["Rec"], threads))),
    )


def offline_onnxruntime():
    """onnxruntime, imported with its telemetry off: deident makes no network call.

    Recent Linux and macOS wheels (1.32 here) queue usage events (a persistent device id, the process's
    details) under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` for upload to Microsoft.
    ``ORT_DISABLE_TELEMETRY=1`` set before onnxruntime is first imported in the process turns that off: no
    device id, no event cache (checked with 1.32). Set later, the process's event is already queued; the
    runtime switch is called too, for whatever comes after."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    return ort


def _session(path: Path, threads: int, flush: bool = False):
    """An onnxruntime session as rapidocr builds one (same options), its idle threads sleeping; with
    ``flush``, its denormal weights made zero (``weights.without_denormals``): the detector's maps stay
    bit-identical at 65 % less CPU. The recogniser's 241 denormals cost nothing measurable, and
    flushing them would add 50 ms to its load.

    By default onnxruntime's pool threads spin between operators, burning a core that other processes
    (or the other worker) need. Measured here, 2 threads, PP-OCR detector on a 960x704 photo, load
    average 11 on 2 cores: 2.43 CPU-s spinning vs 1.83 sleeping (-25 %), wall 11.7 s vs 9.6 s.
    """
    ort = offline_onnxruntime()
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.enable_cpu_mem_arena = False
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model: str | bytes = str(path)
    if flush:
        stored = path.read_bytes()
        flushed = without_denormals(stored)
        if flushed != stored:  # else the path: a model with external weights finds them beside it
            model = flushed
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def _loaded(make):
    """``make()``; any failure fails the stage closed."""
    try:
        return make()
    except StageUnavailable:
        raise
    except Exception as e:  # a broken wheel or runtime: fail closed with the reason
        raise StageUnavailable(f"rapidocr could not load its models ({e}): {INSTALL_HINT}") from e


@dataclass
class _Later:
    """A model loaded at its first call: the classifier and recogniser run only when a line is read (PHI
    mode, ``--keep-text``, very tall lines), so a run that reads nothing skips their load (0.15 of the
    1.4 CPU-s of ``deident check`` on one photo, measured) and rapidocr's import (0.55)."""

    make: Any
    model: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, *args):
        with self.lock:
            if self.model is None:
                self.model = _loaded(self.make)
        return self.model(*args)


def detect_boxes(engine, bgr: np.ndarray, box_thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Quads (Nx4x2, pixel coordinates of ``bgr``) and scores, without resizing the input."""
    return engine[0](np.ascontiguousarray(bgr), box_thresh)


def detect_heat(
    engine, bgr: np.ndarray, box_thresh: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``detect_boxes`` and the detector's text probability map (its own size, multiples of 32)."""
    return engine[0].with_heat(np.ascontiguousarray(bgr), box_thresh)


def recognise(engine, bgr: np.ndarray, quads: list[np.ndarray]) -> list[Recognised]:
    """Read each quad: crop upright (vertical lines turned), fix 180-degree turns, recognise."""
    from deident.text.readers import crop

    if not quads:
        return []
    _, cls, rec = engine
    crops = [crop(bgr, q) for q in quads]
    return _remembered(crops, lambda: [Recognised(str(t), float(s)) for t, s in rec(cls(crops))])


_reads: Memo[list[Recognised]] = Memo(256)  # calls remembered (each a few short lines)


def _remembered(crops: list[np.ndarray], read) -> list[Recognised]:
    """``read()``, or what it gave for the very same crops: a cine's static marker is read in every
    frame's moving crop (the 120-frame ultrasound in PHI mode: 630 calls, 139 distinct, 9.8 -> 4.3
    CPU-s). Keyed by the whole call's pixels, because a crop's reading depends on its batch's padding."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for c in crops:
        digest.update(repr(c.shape).encode())
        digest.update(np.ascontiguousarray(c).data)
    return list(_reads.get(digest.digest(), read))
