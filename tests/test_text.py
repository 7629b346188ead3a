"""Burned-in text stage on generated label images: nothing legible left, controls untouched, PHI mode."""

from __future__ import annotations

import numpy as np
import pytest

import textsynth as ts
from deident.denylist import DenyList
from deident.errors import StageUnavailable
from deident.formats.base import Context, Frame
from deident.options import Options, TextMode
from deident.regions import Redaction, redact
from deident.text import TextDetector, phi


def _scrub(sample: ts.Sample, ctx: Context) -> tuple[np.ndarray, list]:
    regions = TextDetector(ctx.options).detect(Frame(0, sample.rgb), ctx)
    return redact(sample.rgb, [Redaction(r, "fill") for r in regions]), regions


@pytest.fixture(scope="module")
def all_ctx():
    from deident.keys import Keyring

    return Context(Options(text=TextMode.ALL, jobs=1), Keyring(b"deident-test-key-0123456789abcdef"))


def _assert_scrubbed(samples: list[ts.Sample], ctx: Context, min_lines: int) -> None:
    leaked, lines = [], 0
    for s in samples:
        out, regions = _scrub(s, ctx)
        assert all(r.kind == "text" and r.label == "text line" for r in regions)
        lines += len(s.lines)
        leaked += [(s.name, ln.text, ln.size, ln.angle) for ln in ts.leaked_lines(s, out)]
        if s.text_free:
            assert ts.changed_fraction(s.rgb, out) < 0.02, s.name
    assert lines >= min_lines
    assert leaked == []


def test_synthetic_set_leaves_no_line_legible(all_ctx):
    _assert_scrubbed(ts.make_set(6, (800, 600), controls=2), all_ctx, 20)


@pytest.mark.slow
def test_small_text_on_large_photos(all_ctx):
    """14-48 px lines on 12-megapixel frames: the tiles must find what the overview shrinks away."""
    _assert_scrubbed([ts.make_sample(i, (4000, 3000), seed=9) for i in range(2)], all_ctx, 8)


def test_verification_pass_finds_nothing_on_filled_boxes(all_ctx):
    detector = TextDetector(all_ctx.options)
    for s in ts.make_set(3, (800, 600), seed=3):
        out, regions = _scrub(s, all_ctx)
        assert regions
        assert detector.detect(Frame(0, out), all_ctx) == [], s.name


def test_same_input_same_regions(all_ctx):
    s = ts.make_sample(2, (800, 600), seed=5)
    detector = TextDetector(all_ctx.options)
    assert detector.detect(Frame(0, s.rgb), all_ctx) == detector.detect(Frame(0, s.rgb.copy()), all_ctx)


def _label_image(texts: list[tuple[str, str]]) -> ts.Sample:
    sample = ts.Sample("labels", ts.background("histology", (900, 700)))
    rng = np.random.default_rng(11)
    font = ts.fonts()[0]
    for kind, text in texts:
        assert ts.place(sample, kind, text, 30, font, 0, "plain", rng)
    return sample


MIXED = [
    ("safe", "H&E 40x"),
    ("safe", "100 µm"),
    ("safe", "Portable"),
    ("name", "DAVIDSON Douglas"),
    ("date", "01.09.2012"),
    ("mrn", "MRN 00482913"),
]


def test_phi_mode_keeps_stain_scale_and_markers(keyring):
    ctx = Context(Options(text=TextMode.PHI, jobs=1), keyring)
    sample = _label_image(MIXED)
    out, regions = _scrub(sample, ctx)
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"H&E 40x", "100 µm", "Portable"}
    assert all(r.label.startswith("text line (") for r in regions)
    assert not any("DAVIDSON" in r.label or "2012" in r.label for r in regions)


def test_keep_text_stays_visible_in_all_mode(keyring):
    ctx = Context(Options(text=TextMode.ALL, keep_text=(r"H&E\s*\d+x",), jobs=1), keyring)
    sample = _label_image(MIXED[:1] + MIXED[3:])
    out, _ = _scrub(sample, ctx)
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"H&E 40x"}


@pytest.mark.parametrize(
    ("text", "identifying"),
    [
        ("H&E 40x", False),
        ("100 µm", False),
        ("Ki-67 10X", False),
        ("Semi-Upright", False),
        ("L", False),
        ("CD20", False),
        ("DAVIDSON DOUGLAS [M] 01.09.2012", True),
        ("S17-04522", True),
        ("Tel (617) 555-0143", True),
        ("j.smith@hospital.org", True),
        ("Age 93 yrs", True),
        ("12 Main Street", True),
        ("Zebulon", True),  # unknown words may be names: PHI mode fails closed
    ],
)
def test_phi_vocabulary(text, identifying):
    assert (phi.classify(text, 0.99) is not None) is identifying


def test_unreadable_line_counts_as_identifying():
    assert phi.classify("H&E", 0.1) == "unreadable"


def test_deny_list_terms_are_identifying():
    deny = DenyList(["Portable-Smith"])
    assert phi.classify("PORTABLE SMITH", 0.99, deny) is not None
    assert phi.classify("Portable", 0.99, DenyList(["Jones"])) is None


def test_keep_text_needs_every_character_covered():
    import re

    pats = (re.compile(r"\d+x", re.I),)
    assert phi.kept_by("40x", pats)
    assert not phi.kept_by("40x Smith", pats)


def test_missing_models_fail_closed(monkeypatch, tmp_path, keyring):
    from deident.text import engine

    monkeypatch.setattr(engine, "_engines", {})
    monkeypatch.setattr(engine, "model_dir", lambda: tmp_path)
    with pytest.raises(StageUnavailable, match="pip install rapidocr"):
        TextDetector(Options(jobs=1)).ensure_available()


def test_missing_package_fails_closed(monkeypatch):
    import sys

    from deident.text import engine

    monkeypatch.setattr(engine, "_engines", {})
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(StageUnavailable, match="pip install rapidocr"):
        TextDetector(Options(jobs=2)).ensure_available()


@pytest.mark.parametrize("side", [1500, 3000])
def test_small_white_text_on_black_radiograph_frame(all_ctx, side):
    """The DICOM case: a flat black surround must not be taken for a redaction box and repainted."""
    import cv2

    img = np.zeros((side, side, 3), np.uint8)
    cv2.putText(img, "DOE JOHN 01.02.1950", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    grey = (200, 200, 200)
    cv2.putText(img, "MRN 00482913", (side // 2, side - 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, grey, 2)
    regions = TextDetector(all_ctx.options).detect(Frame(0, img, photographic=False), all_ctx)
    out = redact(img, [Redaction(r, "fill") for r in regions])
    assert int(out.max()) == 0
