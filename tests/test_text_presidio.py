"""Public presidio images: after detect + fill, an independent Tesseract pass reads no identifier.

The expected identifiers are not written here: Tesseract reads each original (1x and 2x, normal and
inverted), the identifying tokens are picked out of what it read by pattern (names in capitals, dates,
phone numbers, e-mail addresses), and the test asserts that none of them is read in the scrubbed image.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from deident.formats.base import Context, Frame
from deident.options import Options, TextMode
from deident.regions import Redaction, redact
from deident.text import TextDetector

# RGB_ORIGINAL.png is left out: Tesseract reads no identifier in the original, so there is nothing to check.
IMAGES = (
    "0_ORIGINAL.png",
    "1_ORIGINAL.png",
    "2_ORIGINAL.png",
    "3_ORIGINAL.png",
    "ocr_test.png",
    "pii_verify.png",
    "kwargs_test.jpg",
    "ocr_bounding_box.png",
)
IDENTIFYING = (
    re.compile(r"\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b"),  # dates
    re.compile(r"\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}"),  # phone numbers
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),  # e-mail addresses
    re.compile(r"\b[A-Z][A-Z'-]{3,}\b"),  # names burned in capitals (DAVIDSON DOUGLAS)
    re.compile(r"\b[A-Z][a-z]{2,}\s[A-Z][a-z]{2,}\b"),  # Given Family
)


def _read(rgb: np.ndarray) -> str:
    import cv2
    import pytesseract

    out = []
    for scale in (1, 2):
        img = rgb if scale == 1 else cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        for pic in (img, 255 - img):
            out.append(pytesseract.image_to_string(pic))
    return "\n".join(out)


def _identifiers(text: str) -> set[str]:
    found = set()
    for pattern in IDENTIFYING:
        found |= {m.group(0).strip() for m in pattern.finditer(text)}
    return {f for f in found if len(re.sub(r"\W", "", f)) >= 4}


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGES)
def test_no_identifier_survives(shared_dir, keyring, name):
    from PIL import Image

    path = shared_dir / "corpora" / "presidio" / "images" / name
    if not path.is_file():
        pytest.skip(f"{name} not in the shared corpus")
    rgb = np.asarray(Image.open(path).convert("RGB"))
    before = _identifiers(_read(rgb))
    assert before, "Tesseract should read some identifier in the original"
    ctx = Context(Options(text=TextMode.ALL, jobs=1), keyring)
    regions = TextDetector(ctx.options).detect(Frame(0, rgb, photographic=False), ctx)
    out = redact(rgb, [Redaction(r, "fill") for r in regions])
    after = _read(out)
    survived = {t for t in before if t in after}
    assert survived == set()


@pytest.mark.slow
def test_a_faint_label_seen_over_the_full_stored_range_is_filled(shared_dir, tmp_path):
    """presidio's 2_ORIGINAL.dcm: a faint "Portable" shows only over the full stored range, where it reads
    "git" at 0.46. A line found only in such a rendering must read as text, and two letters read at all do:
    requiring two read at 0.8 (as a tall line must) left it."""
    import pydicom

    from deident.batch import scrub_paths
    from deident.options import FaceMode

    src = shared_dir / "corpora" / "presidio" / "dicom" / "2_ORIGINAL.dcm"
    if not src.is_file():
        pytest.skip("2_ORIGINAL.dcm not in the shared corpus")
    (result,) = scrub_paths([src], Options(faces=FaceMode.OFF, output_dir=tmp_path / "out", jobs=1))
    assert result.status.value == "safe", result.reason
    assert any("full stored range" in f.where for f in result.findings if f.stage == "text")
    before, after = pydicom.dcmread(src).pixel_array, pydicom.dcmread(result.output).pixel_array
    label = (slice(145, 180), slice(38, 95))  # the label's ink, inside the box found (33,141-98,186)
    assert (before[label] != after[label]).mean() > 0.9
