"""``check --text off`` on a DICOM: the stage the user turned off is said of the file, as of a photo, and
does not fail it; a header that declares text burned in still does. Read back with pydicom."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
from click.testing import CliRunner

from deident.cli import cli
from support.dicom import secondary_capture


def _row(output: str) -> dict:
    (row,) = json.loads(output[output.index("{") :])["files"]
    return row


def _scrubbed(tmp_path: Path, **attributes: str) -> Path:
    source = secondary_capture(
        tmp_path / "in.dcm", np.full((32, 32), 90, np.uint8), PatientName="Doe^Jane", **attributes
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["scrub", str(source), "-o", str(out), "--text", "off", "-j", "1"])
    assert result.exit_code == 0, result.output
    (written,) = out.rglob("*.dcm")
    ds = pydicom.dcmread(written)
    assert "Doe" not in str(ds.get("PatientName", ""))
    codes = {item.CodeValue for item in ds.get("DeidentificationMethodCodeSequence", [])}
    assert "113101" not in codes  # no one verified its pixels: the notice is in play
    return written


def test_check_text_off_says_it_of_a_dicom_without_failing_it(tmp_path: Path):
    written = _scrubbed(tmp_path)
    runner = CliRunner()
    off = runner.invoke(
        cli, ["check", "--no-cache", "--json", "--text", "off", "--faces", "off", str(written)]
    )
    assert off.exit_code == 0, off.output
    row = _row(off.output)
    assert row["status"] == "clean" and "not checked (--text off" in row["reason"], row
    assert not [f for f in row["findings"] if f["kind"] == "dicom.pixels-unverified"], row
    # with the text stage on, an unverified DICOM still fails the check (fail closed)
    on = runner.invoke(cli, ["check", "--no-cache", "--json", "--faces", "off", str(written)])
    assert on.exit_code == 1, on.output
    assert any(f["kind"] == "dicom.pixels-unverified" for f in _row(on.output)["findings"])


def test_check_text_off_still_fails_a_dicom_whose_header_says_text_is_burned_in(tmp_path: Path):
    written = _scrubbed(tmp_path)
    ds = pydicom.dcmread(written)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(written)
    result = CliRunner().invoke(cli, ["check", "--no-cache", "--json", "--text", "off", str(written)])
    assert result.exit_code == 1, result.output
    row = _row(result.output)
    assert row["status"] == "unsafe"
    assert [f["kind"] for f in row["findings"]] == ["dicom.BurnedInAnnotation"], row


def test_scrub_text_off_refuses_a_dicom_whose_header_says_text_is_burned_in(tmp_path: Path):
    """The scrub says what a check of its output would: with the text stage off, a header declaring text
    burned in is not a look left out but evidence, and no "safe" file is written."""
    source = secondary_capture(
        tmp_path / "in.dcm", np.full((32, 32), 90, np.uint8), PatientName="Doe^Jane", BurnedInAnnotation="YES"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["scrub", str(source), "-o", str(out), "--text", "off", "--json", "-j", "1"]
    )
    assert result.exit_code == 1, result.output
    row = _row(result.output)
    assert row["status"] == "failed" and "BurnedInAnnotation=YES" in row["reason"], row
    assert "without --text off" in row["reason"], row
    assert not out.exists() or not list(out.rglob("*.dcm"))
    # the same file without the declaration is written and said to be unchecked, as before
    plain = secondary_capture(tmp_path / "plain.dcm", np.full((32, 32), 90, np.uint8), PatientName="Doe^Jane")
    done = CliRunner().invoke(
        cli, ["scrub", str(plain), "-o", str(out), "--text", "off", "--json", "-j", "1"]
    )
    assert done.exit_code == 0 and _row(done.output)["status"] == "safe", done.output
    assert pydicom.dcmread(next(out.rglob("*.dcm"))).get("BurnedInAnnotation", "") != "YES"
