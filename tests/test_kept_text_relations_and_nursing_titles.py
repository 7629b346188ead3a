"""A name that is also an English word ("Hope", "Grace", "Joy") after a nursing title, a relation or a
form's label ("Sister Hope", "Mother: Hope", "his wife Grace", "cc: Hope", "Surname: Hope") was kept in
a DICOM value the profile keeps, as it is in a --text phi line: only a listed title marked the word
after it a name (phi.json's titles). Read back with pydicom and as raw bytes; the words beside stay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from deident.cli import cli


def _scrubbed_description(tmp_path: Path, text: str) -> tuple[str, bytes]:
    """A Secondary Capture whose ContentDescription (kept by the profile) is ``text``, scrubbed by default:
    the value as pydicom reads it and the output's bytes."""
    import pydicom

    from support.dicom import secondary_capture

    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    patient = {"PatientName": "Doe^Jane", "PatientID": "MRN4455667"}
    secondary_capture(source / "a.dcm", np.full((32, 32), 90, np.uint8), **patient, ContentDescription=text)
    result = CliRunner().invoke(cli, ["scrub", str(source), "-o", str(out), "--text", "off", "-j", "1"])
    assert result.exit_code == 0, result.output
    return str(pydicom.dcmread(out / "a.dcm").get("ContentDescription", "")), (out / "a.dcm").read_bytes()


@pytest.mark.parametrize(
    ("text", "name", "kept"),
    [
        ("Sister Hope dressed the wound", "Hope", "wound"),
        ("Matron Joy photographed the wound", "Joy", "wound"),
        ("Mother: Hope, consent for wound photo", "Hope", "wound"),
        ("his wife Grace held the wound dressing", "Grace", "wound"),
        ("cc: Hope; wound day 3", "Hope", "wound"),
        ("Surname: Hope; wound day 3", "Hope", "wound"),
    ],
)
def test_dicom_kept_text_loses_a_name_after_a_relation_or_nursing_title(
    tmp_path: Path, text: str, name: str, kept: str
):
    written, raw = _scrubbed_description(tmp_path, text)
    assert name not in written and kept in written, written
    assert name.encode() not in raw


@pytest.mark.parametrize(
    "text", ["Sister chromatid exchange", "mother lesion", "10 cc saline", "Wife present", "Daughter cells"]
)
def test_dicom_kept_text_keeps_relation_words_before_no_name(tmp_path: Path, text: str):
    assert _scrubbed_description(tmp_path, text)[0] == text


@pytest.mark.slow
def test_text_phi_hides_a_name_after_a_nursing_title_and_keeps_the_stain(tmp_path: Path):
    """A label photo in --text phi: "Sister Hope" was left legible (Tesseract read it in the output)."""
    import pytesseract
    from PIL import Image, ImageDraw, ImageFont

    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    image = Image.new("RGB", (640, 200), (235, 225, 215))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    draw.text((20, 30), "Sister Hope", fill=(10, 10, 10), font=font)
    draw.text((20, 110), "H&E 40x", fill=(10, 10, 10), font=font)
    image.save(source / "label.png")
    assert "Hope" in pytesseract.image_to_string(image)  # legible before
    args = ["scrub", str(source), "-o", str(out), "--text", "phi", "--faces", "off", "-j", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    read = pytesseract.image_to_string(Image.open(out / "label.png"))
    assert "Hope" not in read and "Sister" not in read, read
    assert "H&E" in read, read
