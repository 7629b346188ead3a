"""Identifiers an adversarial sweep planted where a reader still reaches them after a scrub: a patient's
name in DICOM's person-name form as a folder or file name. Read back from the file system (os.walk) and
the run's exit code, never from deident's own check."""

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
        ("Doe^John/IM0001.jpg", "Doe"),  # a viewer's export folder, the PatientName as stored
        ("Müller^Jürgen.jpg", "Müller"),
        ("O'Brien^Mary^^Mrs/a.jpg", "O'Brien"),
        ("Quixotez^D/a.jpg", "Quixotez"),
        ("DOE, JOHN/a.jpg", "DOE"),
    ],
)
def test_a_person_name_in_dicom_form_in_a_path_is_caught(tmp_path: Path, place: str, name: str):
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


def test_a_caret_in_an_ordinary_name_is_no_person(tmp_path: Path):
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "x^2 plot.png")
    result = _scrub(str(source), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "x^2 plot.png").is_file()
