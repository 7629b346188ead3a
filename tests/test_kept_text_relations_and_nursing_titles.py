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
