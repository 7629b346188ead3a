"""The faces stage on real face photos pasted into clinical scenes (tests/support/facesynth.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deident.errors import StageUnavailable
from deident.faces import FaceDetector, geometry, yunet
from deident.formats.base import Context, Frame
from deident.keys import Keyring
from deident.options import FaceMode, Options
from deident.regions import polygon_mask, redact
from deident.stages import redactions_for
from support.facesynth import build_set, control_samples, face_sample, laplacian_detail


def _ctx(mode: FaceMode, jobs: int = 1) -> tuple[FaceDetector, Context]:
    opts = Options(faces=mode, jobs=jobs)
    return FaceDetector(opts), Context(opts, Keyring(b"faces-test-key-0123456789abcdef!"))


@pytest.fixture(scope="module")
def face_set():
    return [s for s in build_set(n_faces=10, seed=7) if s.faces]


def _hide(mode: FaceMode, rgb: np.ndarray):
    det, ctx = _ctx(mode)
    regions = det.detect(Frame(0, rgb), ctx)
    return regions, redact(rgb, redactions_for(regions, ctx.options)), det, ctx


def test_recall_and_coverage(face_set):
    found = total = 0
    for s in face_set:
        regions, *_ = _hide(FaceMode.BLUR, s.rgb)
        assert all(r.kind == "face" and r.label.startswith("face ") for r in regions)
        mask = polygon_mask(s.rgb.shape, regions)
        for f in s.faces:
            x0, y0, x1, y1 = (round(v) for v in f.box)
            total += 1
            found += mask[max(0, y0) : y1, max(0, x0) : x1].mean() >= 0.95
    assert total >= 12
    assert found / total >= 0.95


def _defeated(mode: FaceMode, samples) -> None:
    for s in samples:
        regions, out, det, ctx = _hide(mode, s.rgb)
        assert regions
        assert det.detect(Frame(0, out), ctx) == [], s.name


@pytest.mark.parametrize("mode", [FaceMode.BLUR, FaceMode.FILL])
def test_hidden_faces_defeat_the_detector(face_set, mode):
    """What the pipeline verifies: a second look at the redacted frame finds no face."""
    _defeated(mode, face_set)


def test_pixelated_faces_defeat_the_detector():
    """Scenes 4, 5 and 11 of seed 0 are ones where 1/8-side blocks still left a findable face."""
    samples = build_set(n_faces=12, seed=0)
    _defeated(FaceMode.PIXELATE, [samples[i] for i in (4, 5, 11)])


def test_blur_leaves_under_15_percent_of_detail(face_set):
    for s in face_set:
        _, out, *_ = _hide(FaceMode.BLUR, s.rgb)
        for f in s.faces:
            assert laplacian_detail(out, f.box) < 0.15 * laplacian_detail(s.rgb, f.box), s.name


def test_eye_bar_is_flat_and_spares_the_lower_face(face_set):
    for s in face_set:
        regions, out, det, ctx = _hide(FaceMode.EYES, s.rgb)
        assert {r.kind for r in regions} == {"eyes"}
        for f in s.faces:
            (ax, ay), (bx, by) = f.eyes
            # A thin band along the true eye line, between the eye centres and a little beyond.
            for t in np.linspace(-0.2, 1.2, 15):
                x, y = ax + t * (bx - ax), ay + t * (by - ay)
                r = max(1, int(0.08 * math.hypot(bx - ax, by - ay)))
                patch = out[int(y) - r : int(y) + r + 1, int(x) - r : int(x) + r + 1]
                assert patch.std() == 0, s.name
            x0, y0, x1, y1 = f.box
            lower = (x0, y1 - 0.3 * (y1 - y0), x1, y1)
            assert laplacian_detail(out, lower) >= 0.5 * laplacian_detail(s.rgb, lower), s.name
        # Eyes-mode verification: the face is still there but nothing is left to bar.
        assert det.detect(Frame(0, out), ctx) == [], s.name
        assert det.eyes_visible(Frame(0, s.rgb), ctx) and not det.eyes_visible(Frame(0, out), ctx)


@pytest.mark.parametrize("mode", [FaceMode.EYES, FaceMode.BLUR])
def test_verification_survives_jpeg_reencoding(face_set, mode):
    """The pipeline verifies the written file: JPEG ringing in a black bar must still read as hidden."""
    import io

    from PIL import Image

    for s in face_set[:6]:
        _, out, det, ctx = _hide(mode, s.rgb)
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=80)
        back = np.asarray(Image.open(buf).convert("RGB"))
        assert det.detect(Frame(0, back), ctx) == [], s.name


def test_eye_bar_follows_a_tilted_eye_line():
    rng = np.random.default_rng(3)
    s = face_sample(rng, 0, sizes=(200.0,))
    truth = s.faces[0]
    det, ctx = _ctx(FaceMode.EYES)
    (bar,) = det.detect(Frame(0, s.rgb), ctx)
    (p0, p1, *_) = bar.polygon
    (ax, ay), (bx, by) = truth.eyes
    bar_angle = math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0]))
    eye_angle = math.degrees(math.atan2(by - ay, bx - ax))
    assert abs(eye_angle) > 2  # the sample really is tilted
    assert abs(bar_angle - eye_angle) < 4


def test_face_free_pictures_are_left_alone():
    for s in control_samples():
        regions, out, *_ = _hide(FaceMode.BLUR, s.rgb)
        assert (out != s.rgb).any(axis=2).mean() < 0.01, (s.name, [r.describe() for r in regions])


def test_large_photo_with_small_and_frame_filling_faces():
    """A 12 MP-class frame with a ~170 px face, and a frame that one face fills almost edge to edge."""
    import cv2

    from support.facesynth import SOURCES

    small = face_sample(np.random.default_rng(11), 0, sizes=(45.0,))
    big = cv2.resize(small.rgb, (3600, 3600), interpolation=cv2.INTER_CUBIC)
    det, ctx = _ctx(FaceMode.BLUR, jobs=2)
    x0, y0, x1, y1 = (int(v * 3600 / 960) for v in small.faces[0].box)
    assert polygon_mask(big.shape, det.detect(Frame(0, big), ctx))[y0:y1, x0:x1].mean() > 0.95
    src = SOURCES[0]
    fx0, fy0, fx1, fy1 = src.face
    head = np.ascontiguousarray(src.load()[int(fy0) - 20 : int(fy1) + 15, int(fx0) - 15 : int(fx1) + 15])
    full = cv2.resize(head, (2000, 2400), interpolation=cv2.INTER_CUBIC)
    regions = det.detect(Frame(0, full), ctx)
    assert polygon_mask(full.shape, regions).mean() > 0.9


def test_only_photographic_frames_are_searched(face_set):
    det, ctx = _ctx(FaceMode.BLUR)
    assert det.detect(Frame(0, face_set[0].rgb, photographic=False), ctx) == []


def test_same_input_same_regions(face_set):
    det, ctx = _ctx(FaceMode.BLUR)
    frame = Frame(0, face_set[1].rgb)
    assert det.detect(frame, ctx) == det.detect(frame, ctx)


def test_model_that_cannot_load_fails_closed(monkeypatch, tmp_path, face_set):
    missing = tmp_path / "missing.onnx"
    monkeypatch.setattr(yunet, "model_path", lambda: str(missing))
    det, ctx = _ctx(FaceMode.BLUR)
    with pytest.raises(StageUnavailable, match="reinstall"):
        det.ensure_available()
    with pytest.raises(StageUnavailable):
        det.detect(Frame(0, face_set[0].rgb), ctx)


def test_eyes_flat_never_true_on_a_real_face(face_set):
    """The eyes-hidden test must not mistake an untouched face for a barred one."""
    for s in face_set:
        for f in yunet.find_faces(s.rgb):
            assert not geometry.eyes_flat(s.rgb, f)


def test_eyes_mode_blurs_a_face_whose_eyes_cannot_be_placed(monkeypatch):
    """A face found with its eye landmarks outside the box gets no misplaced bar: it is blurred whole."""
    face = yunet.Face(
        (100.0, 100.0, 200.0, 220.0), ((30.0, 40.0), (35.0, 42.0), (150, 170), (130, 200), (170, 200)), 0.9
    )
    monkeypatch.setattr(yunet, "find_faces", lambda rgb, threads=None: [face])
    det, ctx = _ctx(FaceMode.EYES)
    rgb = np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
    regions = det.detect(Frame(0, rgb), ctx)
    assert [r.kind for r in regions] == ["face"]
    assert "no eye landmarks" in regions[0].label
    assert redactions_for(regions, ctx.options)[0].style == "blur"
    assert polygon_mask(rgb.shape, regions)[100:220, 100:200].mean() > 0.95
