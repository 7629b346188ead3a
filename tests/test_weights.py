"""The detector's denormal weights flushed at load: the same probability maps, to the last bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deident.errors import StageUnavailable
from deident.text import engine
from deident.text.weights import without_denormals

pytest.importorskip("onnxruntime")
pytest.importorskip("rapidocr")
SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"


def test_only_denormal_weights_change_and_the_maps_stay_bit_identical():
    from PIL import Image

    path = engine.model_dir() / engine.MODEL_FILES["Det"]
    raw = path.read_bytes()
    flushed = without_denormals(raw)
    assert len(flushed) == len(raw)
    before, after = np.frombuffer(raw, np.uint8), np.frombuffer(flushed, np.uint8)
    changed = np.flatnonzero(before != after)
    assert changed.size > 100_000  # the shipped detector holds ~256,000 denormal weights
    assert set(after[changed].tolist()) <= {0x00, 0x80}  # zeros (the sign byte keeps its sign)
    assert set(before[changed].tolist()) - {0x00, 0x80}  # ...where the mantissa held something

    theirs, ours = engine._session(path, 1), engine._session(path, 1, flush=True)  # as shipped, and flushed
    name = theirs.get_inputs()[0].name
    for picture in ("histology.jpg", "slide_label.jpg", "clinical_gps.jpg"):
        rgb = np.asarray(Image.open(SAMPLES / picture).convert("RGB").resize((640, 480)))
        x = ((rgb[..., ::-1].astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        expected, got = theirs.run(None, {name: x})[0], ours.run(None, {name: x})[0]
        assert expected.max() > 0.3  # the detector sees something, so the maps are worth comparing
        assert np.array_equal(expected.view(np.uint32), got.view(np.uint32)), picture


def test_a_model_file_that_is_not_onnx_fails_the_stage_closed(tmp_path, monkeypatch):
    root = engine.model_dir()
    for name in engine.MODEL_FILES.values():
        (tmp_path / name).symlink_to(root / name)
    det = tmp_path / engine.MODEL_FILES["Det"]
    det.unlink()
    det.write_bytes(bytes([0x3A, 0xFF, 0xFF, 0xFF, 0x0F]) + b"truncated")  # graph field, absurd length
    monkeypatch.setattr(engine, "model_dir", lambda: tmp_path)
    monkeypatch.setattr(engine, "_engines", {})
    with pytest.raises(StageUnavailable, match="could not load"):
        engine.load(1)
