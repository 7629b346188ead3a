"""DICOM scrub over pydicom's own files filled with identifiers: nothing survives, UIDs stay consistent."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest

from deident.dicom.document import DicomDocument, open_dicom
from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action
from deident.formats.base import Source
from support.dicom import (
    LEAK_STRINGS,
    REPRESENTATIVE,
    SECRETS,
    STUDY_UID,
    context,
    plant,
    planted_file,
    pydicom_file,
    scrub_bytes,
)

CODESTREAM_COMMENTS = {"MR_small_jp2klossless.dcm"}  # JPEG 2000 COM marker naming the encoder


def _all_text(ds) -> str:
    """Every value and file-meta value as text: catches leaks hidden by deflate or encodings."""
    parts = [str(e.value) for e in ds.file_meta]
    parts += [repr(e.value) for e in ds.iterall() if e.VR not in ("OB", "OW", "OF", "OD", "OL", "UN")]
    return "\n".join(parts)


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_no_identifier_survives(tmp_path, name):
    src = planted_file(tmp_path, name)
    original = pydicom.dcmread(src, force=True)
    out = scrub_bytes(src, context())
    leaks = [s for s in LEAK_STRINGS if s.encode() in out or s.upper().encode() in out.upper()]
    assert leaks == []
    ds = pydicom.dcmread(io.BytesIO(out))  # a proper Part 10 file: no force needed
    text = _all_text(ds).upper()
    assert [s for s in LEAK_STRINGS if s.upper() in text] == []
    assert STUDY_UID not in text and original.SOPInstanceUID not in text
    assert not any(e.tag.is_private for e in ds.iterall())
    assert not any(0x6000 <= e.tag.group <= 0x60FF for e in ds)
    for kw in ("SOPClassUID", "Modality", "Rows", "Columns"):
        assert ds.get(kw) == original.get(kw)
    if "PixelData" in original and name in CODESTREAM_COMMENTS:  # the encoder's COM marker goes
        assert len(ds.PixelData) < len(original.PixelData)
        assert np.array_equal(ds.pixel_array, original.pixel_array)
    elif "PixelData" in original:
        assert ds.PixelData == original.PixelData  # byte for byte, never re-encoded
    if "PixelData" in original:
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert ds.preamble == b"\0" * 128
    assert ds.PatientIdentityRemoved == "YES"
    assert DicomDocument(ds).metadata_findings() == []


def test_study_uids_and_pseudonyms_consistent(tmp_path):
    a = pydicom.dcmread(io.BytesIO(scrub_bytes(planted_file(tmp_path, "CT_small.dcm", 1), context())))
    b = pydicom.dcmread(io.BytesIO(scrub_bytes(planted_file(tmp_path, "MR_small.dcm", 2), context())))
    again = pydicom.dcmread(io.BytesIO(scrub_bytes(planted_file(tmp_path, "MR_small.dcm", 2), context())))
    other = pydicom.dcmread(
        io.BytesIO(scrub_bytes(planted_file(tmp_path, "MR_small.dcm", 2), context(b"x" * 32)))
    )
    same = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "PatientID", "PatientName")
    for kw in same:
        assert a.get(kw) == b.get(kw) and str(a.get(kw)), kw
        assert b.get(kw) == again.get(kw)
        assert b.get(kw) != other.get(kw)
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert b.SOPInstanceUID == again.SOPInstanceUID
    assert str(a.StudyInstanceUID).startswith("2.25.") and len(str(a.StudyInstanceUID)) <= 64


def test_codes_and_method_record_options(tmp_path):
    src = planted_file(tmp_path, "CT_small.dcm")
    ctx = context(
        retain_long_modified_dates=True,
        retain_patient_characteristics=True,
        retain_device_identity=True,
        clean_descriptors=True,
    )
    ds = pydicom.dcmread(io.BytesIO(scrub_bytes(src, ctx)))
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert sorted(codes) == ["113100", "113101", "113105", "113107", "113108", "113109"]
    assert any("2024b" in v for v in ds.DeidentificationMethod)
    assert ds.BurnedInAnnotation == "NO"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    shifted = pydicom.valuerep.DA(ds.StudyDate)
    assert ds.StudyDate != SECRETS["StudyDate"] and shifted is not None
    assert ds.StudyDescription == "Chest"  # clean descriptors keeps allow-listed words only
    assert "Dulcinea" not in str(ds.ImageComments)
    assert DicomDocument(ds).metadata_findings() == []
    basic = pydicom.dcmread(io.BytesIO(scrub_bytes(src, context(), verified=False)))
    assert [i.CodeValue for i in basic.DeidentificationMethodCodeSequence] == ["113100"]
    kinds = {f.kind for f in DicomDocument(basic).metadata_findings()}
    assert kinds == {"dicom.pixels-unverified"}


def test_date_shift_is_per_patient_and_stable(tmp_path):
    ctx = context(retain_long_modified_dates=True)
    one = pydicom.dcmread(io.BytesIO(scrub_bytes(planted_file(tmp_path, "CT_small.dcm", 1), ctx)))
    two = pydicom.dcmread(io.BytesIO(scrub_bytes(planted_file(tmp_path, "MR_small.dcm", 2), ctx)))
    assert one.StudyDate == two.StudyDate != SECRETS["StudyDate"]
    birth = pydicom.valuerep.DA(SECRETS["PatientBirthDate"])
    study = pydicom.valuerep.DA(SECRETS["StudyDate"])
    assert one.get("PatientBirthDate") in ("", None)  # Basic Z: birth date is not longitudinal
    assert (pydicom.valuerep.DA(one.StudyDate) - study).days == ctx.keyring.day_offset(SECRETS["PatientID"])
    assert birth < study


def test_check_flags_inputs_that_only_claim_deidentification(tmp_path):
    src = planted_file(tmp_path, "CT_small.dcm")
    clean = pydicom.dcmread(io.BytesIO(scrub_bytes(src, context())))
    for attr, value in (
        ("PatientName", "Quixote^Dulcinea"),
        ("StudyDate", "20230317"),
        ("OperatorsName", "X^Y"),
    ):
        forged = pydicom.dcmread(io.BytesIO(scrub_bytes(src, context())))
        setattr(forged, attr, value)
        found = DicomDocument(forged).metadata_findings()
        assert [f.kind for f in found] == [f"dicom.{attr}"], attr
        assert value not in " ".join(f.detail + f.where for f in found)
    forged = pydicom.dcmread(io.BytesIO(scrub_bytes(src, context())))
    forged.private_block(0x0011, "X", create=True).add_new(0x01, "LO", "secret")
    assert "dicom.private" in {f.kind for f in DicomDocument(forged).metadata_findings()}
    assert DicomDocument(clean).metadata_findings() == []


def test_input_findings_name_what_is_there(tmp_path):
    doc = open_dicom(Source(planted_file(tmp_path, "examples_overlay.dcm")))
    found = doc.metadata_findings()
    kinds = {f.kind for f in found}
    assert {
        "dicom.PatientName",
        "dicom.private",
        "dicom.OverlayData",
        "dicom.PatientIdentityRemoved",
        "dicom.pixels-unverified",
        "dicom.SourceApplicationEntityTitle",
    } <= kinds
    assert any(
        "(0008,2218) AnatomicRegionSequence[0] > (0008,1110) ReferencedStudySequence" in f.where
        for f in found
    )
    assert all(f.action is Action.FOUND for f in found)
    report = " ".join(f.detail + f.where for f in found)
    assert not [s for s in LEAK_STRINGS if s in report]


def test_identifiers_for_the_deny_list(tmp_path):
    from deident.denylist import DenyList

    values = open_dicom(Source(planted_file(tmp_path, "MR_small.dcm"))).identifiers()
    deny = DenyList(values)  # names go in whole; the deny-list derives their spellings
    for text in ("QUIXOTE DULCINEA", "Dulcinea Quixote", "Quixote, Dulcinea", "QUIXOTE", "Drbrownish"):
        assert deny.matches(text), text
    assert deny.matches("Dulcinea")  # a given name alone, no ordinary word (docs/denylist.md)
    for expected in (
        "Quixote^Dulcinea",
        "MRN-778899",
        "ACC99887766",
        "Saint Zanzibar Hospital",
        "20230317",
        "17/03/2023",
        "Drbrownish^Emmett",
        "Operatorova^Ilse",
    ):
        assert expected in values


@pytest.mark.parametrize(
    ("institution", "manufacturer", "listed"),
    [
        ("Philips Healthcare", "Philips Medical Systems", False),  # the maker's own name (OBXXXX1A.dcm)
        ("GE Healthcare", "GE MEDICAL SYSTEMS", False),
        ("Philips Healthcare", "", True),  # no Manufacturer says so: an institution like any other
        ("Medical Systems", "Siemens", True),  # makers' words, but not this device's maker
        ("Fuji Hospital", "FUJIFILM Corporation", True),  # a place of care
    ],
)
def test_an_institution_named_after_the_scanner_s_maker_is_no_identifier(
    tmp_path, institution, manufacturer, listed
):
    from support.dicom import secondary_capture

    attributes = {"PatientName": "Fuji^Aiko", "InstitutionName": institution, "Manufacturer": manufacturer}
    path = secondary_capture(tmp_path / "a.dcm", np.zeros((8, 8), np.uint8), **attributes)
    values = open_dicom(Source(path)).identifiers()
    assert (institution in values) is listed
    assert "Fuji^Aiko" in values  # a patient named like a maker stays listed


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"])
def test_files_without_meta_get_part10_output(name):
    out = scrub_bytes(pydicom_file(name), context())
    assert out[128:132] == b"DICM"
    ds = pydicom.dcmread(io.BytesIO(out))
    assert ds.file_meta.ImplementationVersionName.startswith("DEIDENT")


def test_bad_inputs_fail_with_a_reason(tmp_path):
    with pytest.raises(CorruptFile, match="truncated"):
        open_dicom(Source(pydicom_file("MR_truncated.dcm")))
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 128 + b"DICM" + b"\x08\x00\x16\x00UI\xff\xff" + b"garbage" * 10)
    with pytest.raises((CorruptFile, UnsupportedFormat)):
        open_dicom(Source(junk))
    text = tmp_path / "notes.dcm"
    text.write_bytes(b"Patient notes, not an image at all\n" * 20)
    with pytest.raises((CorruptFile, UnsupportedFormat)):
        open_dicom(Source(text))


def test_presidio_corpus_scrubs(shared_dir):
    files = sorted((shared_dir / "corpora" / "presidio" / "dicom").glob("*.dcm"))
    if not files:
        pytest.skip("presidio DICOM corpus absent")
    for path in files:
        doc = open_dicom(Source(path))
        names = [v for v in doc.identifiers() if len(v) > 3]
        out = scrub_bytes(path, context())
        ds = pydicom.dcmread(io.BytesIO(out))
        assert DicomDocument(ds).metadata_findings() == [], path.name
        words = set(re.findall(r"[A-Z0-9]+", _all_text(ds).upper()))
        assert not [n for n in names if n.upper() in words], path.name


def test_planted_dataset_helper_really_plants():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    plant(ds)
    assert str(ds.PatientName) == SECRETS["PatientName"] and any(e.tag.is_private for e in ds)


def test_pipeline_scrubs_a_folder(tmp_path):
    from deident import scrub
    from deident.findings import Status
    from deident.options import FaceMode, Options, TextMode

    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(["MR_small_RLE.dcm", "rtplan.dcm"]):
        ds = pydicom.dcmread(planted_file(tmp_path, name, i))
        ds.preamble = b"\0" * 128  # pydicom's files carry TIFF-shaped preambles some sniffers see first
        ds.save_as(src / f"{i}.dcm", enforce_file_format=True)
    options = Options(text=TextMode.OFF, faces=FaceMode.OFF, output_dir=tmp_path / "out", jobs=1)
    results = scrub([src], options)
    assert [r.status for r in results] == [Status.SAFE, Status.SAFE], [r.reason for r in results]
    for r in results:
        data = Path(r.output).read_bytes().upper()
        assert not [s for s in LEAK_STRINGS if s.upper().encode() in data]


def test_a_file_pydicom_cannot_write_fails_with_a_one_line_reason(tmp_path):
    """pydicom's SC_rgb_jpeg.dcm (implicit VR under an explicit transfer syntax) cannot be written back;
    pydicom's error text carries a traceback, which the report's reason used to quote whole."""
    import json

    from support.dicom import pydicom_file
    from support.runs import cli

    run = cli(
        "scrub",
        pydicom_file("SC_rgb_jpeg.dcm"),
        "-o",
        tmp_path / "out",
        "--text",
        "off",
        "--faces",
        "off",
        "--json",
        "-q",
        text=True,
    )
    [result] = json.loads(run.stdout)["files"]
    assert result["status"] == "failed" and not result["output"]
    assert result["reason"].startswith("DICOM cannot be written: ") and "\n" not in result["reason"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_frame_the_scrub_kept_is_walked_once(tmp_path, monkeypatch):
    """JPEG-lossy.dcm is 12-bit: libjpeg cannot say where its scan ends, so its Huffman codes are walked in
    Python (8 ms). Verification reads the output's own copy of the frame, byte-identical to the input's:
    the walk's answer for those bytes is reused, not computed again."""
    from deident import scrub
    from deident.findings import Status
    from deident.formats import jpeg_scan
    from deident.options import FaceMode, Options, TextMode

    walks = []
    used_bits = jpeg_scan.used_bits
    monkeypatch.setattr(jpeg_scan, "used_bits", lambda *a: walks.append(1) or used_bits(*a))
    src = tmp_path / "in"
    src.mkdir()
    ds = pydicom.dcmread(planted_file(tmp_path, "JPEG-lossy.dcm"))
    ds.preamble = b"\0" * 128
    ds.save_as(src / "0.dcm", enforce_file_format=True)
    options = Options(text=TextMode.OFF, faces=FaceMode.OFF, output_dir=tmp_path / "out", jobs=1)
    [result] = scrub([src], options)
    assert result.status is Status.SAFE, result.reason
    assert pydicom.dcmread(result.output).PixelData == ds.PixelData
    assert len(walks) == 1
