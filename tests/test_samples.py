"""The README demo, as a test: every bundled sample scrubs safe, and what must stay, stays.

The slide photo is the case that once went wrong: after its label was filled, the text detector read the
stained tissue beside it as one huge "line" and the second redaction round blacked the section out.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from deident.batch import check_paths, scrub_paths
from deident.findings import Status
from deident.options import Options

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"


@pytest.fixture(scope="module")
def scrubbed(tmp_path_factory):
    out = tmp_path_factory.mktemp("safe")
    results = scrub_paths([SAMPLES], Options(output_dir=out, jobs=2, key=b"sample-key" * 4))
    return out, {Path(r.input).name: r for r in results}


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.mark.slow
def test_every_sample_is_made_safe(scrubbed):
    _, results = scrubbed
    images = {n: r for n, r in results.items() if not n.endswith(".txt")}
    assert set(images) == {"clinical_gps.jpg", "histology.jpg", "slide_label.jpg", "radiograph.dcm"}
    assert all(r.status is Status.SAFE for r in images.values()), {n: r.reason for n, r in images.items()}


@pytest.mark.slow
def test_label_is_filled_and_tissue_is_kept(scrubbed):
    out, _ = scrubbed
    before, after = _pixels(SAMPLES / "slide_label.jpg"), _pixels(out / "slide_label.jpg")
    changed = np.abs(after - before).max(axis=2) > 24
    w = before.shape[1]
    assert changed[:, : int(0.55 * w)].mean() < 0.02  # the stained section beside the label is the content
    # name, accession, dates and the DataMatrix code: Tesseract and zxing read them before, nothing after
    identifiers = ("S17", "04522", "SMITH", "JANE", "1961", "2017")
    assert sum(s in _tesseract(SAMPLES / "slide_label.jpg") for s in identifiers) >= 4
    assert not [s for s in identifiers if s in _tesseract(out / "slide_label.jpg")]
    assert zxingcpp.read_barcodes(before.astype(np.uint8)) and not zxingcpp.read_barcodes(
        after.astype(np.uint8)
    )


def _tesseract(path: Path) -> str:
    return subprocess.run(
        ["tesseract", str(path), "stdout"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.slow
def test_text_free_photomicrograph_barely_changes(scrubbed):
    out, _ = scrubbed
    changed = np.abs(_pixels(out / "histology.jpg") - _pixels(SAMPLES / "histology.jpg")).max(axis=2) > 24
    assert changed.mean() < 0.02


@pytest.mark.slow
def test_outputs_pass_the_check(scrubbed):
    out, _ = scrubbed
    results = check_paths([out], Options(jobs=2, key=b"sample-key" * 4))
    assert results and all(r.status is Status.CLEAN for r in results), [
        (r.input, [f.detail for f in r.findings]) for r in results if r.status is not Status.CLEAN
    ]
