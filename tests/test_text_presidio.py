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
