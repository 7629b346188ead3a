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


def _ecg(path: Path, annotations: list[str], **attributes: str) -> Path:
    """A one-channel waveform with ``annotations`` as an ECG cart writes its statements."""
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from support.dicom import secondary_capture

    secondary_capture(path, np.full((8, 8), 90, np.uint8), PatientName="Doe^Jane", **attributes)
    ds = pydicom.dcmread(path)
    waveform = Dataset()
    waveform.WaveformOriginality, waveform.NumberOfWaveformChannels = "ORIGINAL", 1
    waveform.NumberOfWaveformSamples, waveform.SamplingFrequency = 4, "500"
    waveform.WaveformBitsAllocated, waveform.WaveformSampleInterpretation = 16, "SS"
    channel = Dataset()
    channel.ChannelLabel = "Lead II"
    waveform.ChannelDefinitionSequence = Sequence([channel])
    waveform.WaveformData = b"\1\0\2\0\3\0\4\0"
    ds.WaveformSequence = Sequence([waveform])
    items = []
    for text in annotations:
        item = Dataset()
        item.UnformattedTextValue, item.ReferencedWaveformChannels = text, [1, 1]
        items.append(item)
    ds.WaveformAnnotationSequence = Sequence(items)
    ds.save_as(path)
    return path


@pytest.mark.parametrize(
    ("where", "text", "gone", "kept"),
    [
        ("ContentDescription", "Photo by Dr Okafor, wound day 3", "Okafor", "wound day"),
        ("ContentDescription", "Dr Fairbairn left knee", "Fairbairn", "left knee"),
        ("ContentDescription", "Dr Jane Okafor wound", "Okafor", "wound"),
        ("annotation", "Confirmed by Jane Quixotez MD", "Quixotez", "Confirmed by"),
        ("annotation", "Reviewed by Dr Okafor", "Okafor", "Reviewed by"),
    ],
)
def test_a_name_beside_its_title_in_kept_dicom_text_goes_though_no_census_lists_it(
    tmp_path: Path, where: str, text: str, gone: str, kept: str
):
    """A DICOM value the profile keeps was cut only of names in the 1990 US census lists beside a title:
    "Dr Okafor" and "Jane Quixotez MD" were written out. Read back with pydicom and as raw bytes."""
    import pydicom

    source = tmp_path / "in"
    source.mkdir()
    annotations = [text, "Sinus rhythm"] if where == "annotation" else ["Sinus rhythm"]
    extra = {where: text} if where != "annotation" else {}
    _ecg(source / "a.dcm", annotations, **extra)
    result = CliRunner().invoke(
        cli, ["scrub", str(source), "-o", str(tmp_path / "out"), "--text", "off", "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    written = tmp_path / "out" / "a.dcm"
    ds = pydicom.dcmread(written)
    values = [str(ds.get("ContentDescription", ""))]
    values += [str(item.UnformattedTextValue) for item in ds.WaveformAnnotationSequence]
    assert gone.encode() not in written.read_bytes(), values
    assert any(kept in v for v in values) and "Sinus rhythm" in values, values
