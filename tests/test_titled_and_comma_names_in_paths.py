"""A patient's or doctor's name in a file or folder name beside a title or degree ("Dr_Whitcombe_case.png",
"Mrs_Okonkwo_rash.jpg", "Jane_Roe_MD.png", "Sister_Hope.png") or filed "Surname, Given" in title case
("Whitcombe, Alan/") was written into the output's path of a file reported safe. Read back from the file
system (os.walk) and the run's exit code; ordinary names beside a title word stay as they are."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from deident.cli import cli


def _names_under(root: Path) -> str:
    return " ".join(part for _, dirs, files in os.walk(root) for part in (*dirs, *files))


def _scrub(*args: str):
    return CliRunner().invoke(cli, ["scrub", *args, "--text", "off", "--faces", "off", "-j", "1", "--json"])


@pytest.mark.parametrize(
    ("place", "name"),
    [
        ("Dr_Whitcombe_case.png", "Whitcombe"),
        ("Dr Whitcombe case.png", "Whitcombe"),
        ("Mrs_Okonkwo_rash.jpg", "Okonkwo"),
        ("Jane_Roe_MD.png", "Roe"),
        ("Sister_Hope.png", "Hope"),
        ("Whitcombe, Alan/a.png", "Whitcombe"),
        ("Pt_Whitcombe/a.png", "Whitcombe"),
        ("patient Okonkwo rash.png", "Okonkwo"),
    ],
)
def test_a_titled_or_comma_filed_name_in_a_path_is_caught(tmp_path: Path, place: str, name: str):
    source = tmp_path / "in"
    (source / place).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / place)
    kept = _scrub(str(source), "-o", str(tmp_path / "kept"))
    assert kept.exit_code != 0, kept.output
    (row,) = json.loads(kept.output[kept.output.index("{") :])["files"]
    assert row["status"] == "unsafe" and "identifying file or folder name" in row["reason"], row
    renamed = _scrub(str(source), "-o", str(tmp_path / "renamed"), "--rename")
    assert renamed.exit_code == 0, renamed.output
    written = _names_under(tmp_path / "renamed")
    assert written and name not in written, written


@pytest.mark.parametrize(
    "place",
    [
        "MR_brain.png",
        "MR_knee_T2.png",
        "Prof_Lecture_slides.png",
        "Nurse_notes.png",
        "Melanoma, Back.png",
        "Patient_Consent.png",
        "PT_CT_fused.png",
        "patient 3.png",
    ],
)
def test_a_title_word_or_comma_beside_no_name_keeps_the_path(tmp_path: Path, place: str):
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / place)
    result = _scrub(str(source), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / place).is_file()
