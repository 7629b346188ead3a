"""Identifiers an adversarial sweep planted where a reader still reaches them after a scrub: a patient's
name as a folder or file name, in DICOM's person-name form, beside a title or degree
("Dr_Whitcombe_case.png", "Jane_Roe_MD.png") or filed "Surname, Given" in title case ("Whitcombe, Alan/").
Read back from the file system (os.walk) and the run's exit code, never from deident's own check."""

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
        # beside a title or degree, or filed "Surname, Given" in title case
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
def test_a_person_name_in_a_path_is_caught(tmp_path: Path, place: str, name: str):
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
        "x^2 plot.png",  # a caret in an ordinary name
        # a title word or a comma beside no name
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
def test_a_path_that_names_no_one_is_kept(tmp_path: Path, place: str):
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / place)
    result = _scrub(str(source), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / place).is_file()


def _file_set(root: Path, patient_id: str = "PT-TEST") -> Path:
    """A DICOM file-set as pydicom's FileSet writes it: DICOMDIR and PT000000/ST000000/SE000000/IM000000."""
    import numpy as np
    import pydicom
    from pydicom.fileset import FileSet

    from support.dicom import secondary_capture

    study = {"StudyDate": "20240105", "StudyTime": "101010", "StudyID": "1", "SeriesNumber": 1}
    study |= {"InstanceNumber": 1, "PatientName": "Doe^Jane"}
    pixels = np.full((8, 8), 90, np.uint8)
    image = secondary_capture(root.parent / "sc.dcm", pixels, PatientID=patient_id, **study)
    file_set = FileSet()
    file_set.add(pydicom.dcmread(image))
    file_set.write(root)
    return root


def test_a_dicom_file_set_s_counted_folder_names_are_no_identifiers(tmp_path: Path):
    """Every file of a DICOM CD export was written unsafe and refused by check: its writer's counters
    (PT000000, IM000000) were read as an ID's digit run. Read back by os.walk and by pydicom's FileSet."""
    import pydicom
    from pydicom.fileset import FileSet

    source = _file_set(tmp_path / "in")
    result = _scrub(str(source), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("{") :])["files"]
    assert {row["status"] for row in rows} == {"safe"} and len(rows) == 2
    assert _names_under(tmp_path / "out") == _names_under(source)
    (instance,) = FileSet(pydicom.dcmread(tmp_path / "out" / "DICOMDIR"))
    assert instance.path == str(tmp_path / "out" / "PT000000" / "ST000000" / "SE000000" / "IM000000")
    checked = CliRunner().invoke(cli, ["check", str(tmp_path / "out"), "--no-cache", "--text", "off"])
    assert checked.exit_code == 0, checked.output


def test_counted_names_outside_a_file_set_or_holding_the_patient_id_are_still_identifiers(tmp_path: Path):
    """The counters pass only inside a file-set, and a folder named by the file's own PatientID still goes,
    from the paths and from the DICOMDIR's path to the file (read back by pydicom)."""
    import pydicom

    source = _file_set(tmp_path / "in")
    (source / "DICOMDIR").unlink()
    assert _scrub(str(source), "-o", str(tmp_path / "loose")).exit_code != 0
    named = _file_set(tmp_path / "named", patient_id="PT483920")
    (named / "PT000000").rename(named / "PT483920")
    dicomdir = pydicom.dcmread(named / "DICOMDIR")  # its path to the file names the folder as it is now
    (record,) = [r for r in dicomdir.DirectoryRecordSequence if "ReferencedFileID" in r]
    record.ReferencedFileID = ["PT483920", *record.ReferencedFileID[1:]]  # the same length: offsets hold
    dicomdir.save_as(named / "DICOMDIR")
    result = _scrub(str(named), "-o", str(tmp_path / "out"))
    assert result.exit_code != 0
    rows = json.loads(result.output[result.output.index("{") :])["files"]
    assert any("identifying file or folder name" in (row["reason"] or "") for row in rows), rows
    written = pydicom.dcmread(tmp_path / "out" / "DICOMDIR").DirectoryRecordSequence
    assert "PT483920" not in {c for r in written if "ReferencedFileID" in r for c in r.ReferencedFileID}


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
        ("ContentDescription", "Technician: Brightwater, wound day 3", "Brightwater", "wound day"),
        ("annotation", "Radiographer J Brightwater", "Brightwater", "Radiographer"),
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


def test_a_name_a_json_caption_gives_in_a_field_goes_from_its_caption_and_tags(tmp_path: Path):
    """The "patient" field was removed while the same surname stayed in the caption and the tags."""
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "case1.jpg")
    caption = {
        "caption": "Quixotez family history of psoriasis, rash on the arm.",
        "patient": "Jane Quixotez",
        "tags": ["Quixotez family", "psoriasis"],
    }
    (source / "case1.json").write_text(json.dumps(caption), encoding="utf-8")
    args = ["scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "2"]
    result = CliRunner().invoke(cli, [*args, "--text", "off", "--faces", "off", "-j", "1"])
    assert result.exit_code == 0, result.output
    raw = (out / "case1.json").read_bytes()
    written = json.loads(raw)
    assert b"Quixotez" not in raw and b"Jane" not in raw, raw
    assert "rash on the arm" in written["caption"] and "psoriasis" in written["tags"], written


def test_the_image_s_own_name_goes_from_the_captions_of_a_batch(tmp_path: Path):
    """The EXIF Artist names the patient; the captions beside it and beside another image name her too."""
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    exif = Image.Exif()
    exif[0x013B] = "Jane Quixotez"  # Artist
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "a.jpg", exif=exif.tobytes())
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "b.jpg")
    (source / "a.txt").write_text("Quixotez family history of psoriasis.", encoding="utf-8")
    (source / "b.txt").write_text("Same family as Quixotez, rash on the arm.", encoding="utf-8")
    args = [
        "scrub",
        str(source),
        "-o",
        str(out),
        "--fuzz-history",
        "--seed",
        "2",
        "--faces",
        "off",
        "-j",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for name, kept in (("a.txt", "family history of psoriasis"), ("b.txt", "rash on the arm")):
        written = (out / name).read_text(encoding="utf-8")
        assert "Quixotez" not in written and kept in written, written


def test_check_finds_the_image_s_own_name_in_its_caption(tmp_path: Path):
    """``check`` read a caption with the caption rules alone: "Quixotez family" beside an image whose
    EXIF Artist is Jane Quixotez was clean, while a scrub cuts it. The caption file is read back as is."""
    source = tmp_path / "in"
    source.mkdir()
    exif = Image.Exif()
    exif[0x013B] = "Jane Quixotez"  # Artist
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "a.jpg", exif=exif.tobytes())
    (source / "a.txt").write_text("Quixotez family history of psoriasis.", encoding="utf-8")
    args = ["check", "--no-cache", "--json", "--text", "off", "--faces", "off", str(source / "a.jpg")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    (row,) = json.loads(result.output[result.output.index("{") :])["files"]
    assert any(f["stage"] == "caption" and f["kind"] == "name" for f in row["findings"]), row
    assert "Quixotez" in (source / "a.txt").read_text(encoding="utf-8")  # read-only
