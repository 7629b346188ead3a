"""Threads matched to cores: workers x intra-op threads never exceed them, idle threads sleep, and numpy
starts without its hugepage advice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deident.text import engine


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(2, 1, 2), (2, 2, 1), (2, 3, 1), (1, 1, 1), (8, 2, 2), (8, 8, 1)]
)
def test_workers_times_threads_never_exceed_the_cores(monkeypatch, cores, workers, threads):
    monkeypatch.setattr(engine, "cores", lambda: cores)
    assert engine.threads_for(workers) == threads
    assert workers * threads <= max(cores, workers)


def test_sessions_sleep_between_operators_and_readers_load_at_first_use(monkeypatch):
    monkeypatch.setattr(engine, "_engines", {})
    det, cls, rec = engine.load(1)
    options = det.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 1
    assert cls.model is None and rec.model is None  # nothing read yet


def _rapidocr_models():
    """rapidocr's own engine over the same bundled files: the independent reader of the boxes and text."""
    from rapidocr import RapidOCR

    root = engine.model_dir()
    params = {"Global.log_level": "error", "EngineConfig.onnxruntime.intra_op_num_threads": 1}
    params.update({f"{task}.model_path": str(root / name) for task, name in engine.MODEL_FILES.items()})
    ocr = RapidOCR(params=params)
    det = ocr._load_det_model()
    det.limit_type = "max"
    return det, ocr._load_cls_model(), ocr._load_rec_model()


def test_direct_models_find_and_read_what_rapidocr_does():
    """deident runs the model files on onnxruntime itself (no rapidocr import at start-up); the boxes,
    their scores and the readings, upside-down lines included, must be rapidocr's to the last bit."""
    import numpy as np
    from rapidocr.ch_ppocr_rec import TextRecInput
    from rapidocr.utils.process_img import get_rotate_crop_image

    from support import textsynth as ts

    det, cls, rec = _rapidocr_models()
    eng = engine.load(1)
    for sample in ts.make_set(3, (800, 600), seed=7):
        bgr = np.ascontiguousarray(sample.rgb[..., ::-1])
        det.limit_side_len = max(bgr.shape[:2]) + 32
        det.postprocess_op.box_thresh = 0.4
        theirs = det(bgr)
        quads, scores = engine.detect_boxes(eng, bgr, 0.4)
        assert len(quads) >= len(sample.lines) > 0
        assert np.array_equal(np.asarray(theirs.boxes, np.float32), quads)
        assert sorted(np.float32(theirs.scores).tolist()) == sorted(scores.tolist())  # theirs: unsorted
        turned = [*quads, *(np.roll(q, 2, axis=0) for q in quads)]  # each line also upside down
        crops = [get_rotate_crop_image(bgr, q.astype(np.float32).copy()) for q in turned]
        read = rec(TextRecInput(img=list(cls(crops).img_list)))
        assert [(r.text, r.score) for r in engine.recognise(eng, bgr, turned)] == list(
            zip(read.txts, read.scores, strict=True)
        )


def test_one_file_loads_the_detector_once_as_its_run_uses_it(monkeypatch, tmp_path):
    """``check`` of one file (default jobs, several cores): the up-front availability check loads the
    text detector with the threads the file's run then uses, and leaves OpenCV's thread count alone.
    It loaded one model thread's worth for the default jobs, the run loaded it again with two, and
    OpenCV stayed at one thread for the whole run."""
    import cv2
    import numpy as np
    from click.testing import CliRunner
    from PIL import Image

    from deident import stages
    from deident.cli import cli

    monkeypatch.setattr(engine, "cores", lambda: 2)
    monkeypatch.setattr(engine, "_engines", {})
    monkeypatch.setattr(stages, "_cache", {})
    loads = []
    make = engine._engine
    monkeypatch.setattr(engine, "_engine", lambda threads: loads.append(threads) or make(threads))
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)  # a known count the check must leave alone (an earlier test may leave 1)
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (120, 160, 3), np.uint8)).save(path)
    try:
        result = CliRunner().invoke(cli, ["check", str(path), "--jobs", "2", "--json"])
        assert result.exit_code in (0, 1), result.output
        assert loads == [2]  # once, with the two threads of one job on two cores
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


_HUGEPAGES = """
import os, sys
from deident import cli
assert "numpy" not in sys.modules, "numpy imported before main() could set its start-up variable"
cli.cli = lambda **kw: None  # the command itself is not the point here
cli.main()
import numpy
core = getattr(numpy, "_core", None) or numpy.core
advice = getattr(core.multiarray, "_get_madvise_hugepage", None)  # numpy's own reading of the switch
print(advice() if advice else "unknown", os.environ["NUMPY_MADVISE_HUGEPAGE"])
"""


@pytest.mark.parametrize(("given", "said"), [(None, "False 0"), ("1", "True 1")])
def test_the_cli_starts_numpy_without_hugepage_advice_unless_the_user_asked(given, said):
    """The entry point turns numpy's 2 MB page advice off before numpy is imported (a user's own setting
    stands); the workers of -j inherit it with the environment."""
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if given is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = given
    run = subprocess.run([sys.executable, "-c", _HUGEPAGES], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    if run.stdout.split()[0] == "unknown":
        pytest.skip("this numpy does not say whether it advises hugepages")
    assert run.stdout.split() == said.split()


def test_the_text_stage_leaves_no_onnxruntime_telemetry_behind(tmp_path):
    """No network call, ever: onnxruntime's usage telemetry (a device id and an event cache under the
    user's home, uploaded to Microsoft when online) never starts in a deident run."""
    from support.runs import DEIDENT

    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache))
    label = Path(__file__).parents[1] / "sample_images" / "slide_label.jpg"
    run = subprocess.run(
        [DEIDENT, "check", "--all-stages", str(label), "--json"], env=env, capture_output=True, text=True
    )  # every stage: the label's metadata alone refuses it
    assert run.returncode == 1, run.stderr  # the label's text was found: the detector ran
    assert any(f["stage"] == "text" for f in json.loads(run.stdout)["files"][0]["findings"])
    left = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert not left, left
