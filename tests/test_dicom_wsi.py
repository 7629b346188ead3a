"""DICOM whole-slide LABEL and OVERVIEW instances: their pictures blanked like an SVS label is dropped."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deident.formats.base import Source, open_document
from support.dicom import LEAK_STRINGS, context, plant
from support.planted import scrub_bytes
from support.slidesynth import label_image

pydicom = pytest.importorskip("pydicom")

WSI = "1.2.840.10008.5.1.4.1.1.77.1.6"


def wsi_instance(
    path: Path, flavour: str, pixels: np.ndarray, *, jpeg: bool, label_in_image: str | None = None
):
    """A VL Whole Slide Microscopy instance (RGB, one frame), native or JPEG Baseline, planted identifiers."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = WSI, generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    plant(ds)
    ds.SOPClassUID = WSI
    ds.Modality, ds.ImageType = "SM", ["ORIGINAL", "PRIMARY", flavour, "NONE"]
    if label_in_image:
        ds.SpecimenLabelInImage = label_in_image
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.NumberOfFrames = 1
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if jpeg:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=95)
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate([buf.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
    else:
        ds.PhotometricInterpretation = "RGB"
        ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("jpeg", [False, True])
@pytest.mark.parametrize(("flavour", "flag"), [("LABEL", None), ("OVERVIEW", "YES"), ("OVERVIEW", None)])
def test_label_and_overview_pictures_are_blanked(tmp_path, jpeg, flavour, flag):
    pixels = np.ascontiguousarray(label_image(128, 96))
    src = wsi_instance(tmp_path / "in.dcm", flavour, pixels, jpeg=jpeg, label_in_image=flag)
    original = pydicom.dcmread(src)
    fragment = original.PixelData[64:160]  # bytes of the picture as stored (native or JPEG)
    role = f"dicom.wsi-{flavour.lower()}"
    assert role in {f.kind for f in open_document(Source(src)).metadata_findings()}
    data, findings = scrub_bytes(src, context())
    assert any(f.kind == role and f.action.value == "redacted" for f in findings)
    assert fragment not in data and [s for s in LEAK_STRINGS if s.encode() in data] == []
    out = pydicom.dcmread(io.BytesIO(data))
    assert out.SOPClassUID == WSI and list(out.ImageType)[2] == flavour
    assert out.SpecimenLabelInImage == "NO"
    arr = out.pixel_array
    assert arr.shape == (96, 128, 3) and not arr.any()
    written = tmp_path / "out.dcm"
    written.write_bytes(data)
    assert role not in {f.kind for f in open_document(Source(written)).metadata_findings()}


def test_in_a_slide_series_only_the_pictures_with_the_label_go(tmp_path):
    """LABEL blanked; OVERVIEW with SpecimenLabelInImage NO, VOLUME and THUMBNAIL kept value for value."""
    pixels = np.ascontiguousarray(label_image(128, 96))
    series = [
        ("LABEL", None, True),
        ("OVERVIEW", "NO", False),
        ("VOLUME", None, False),
        ("THUMBNAIL", None, False),
    ]
    for flavour, flag, blanked in series:
        src = wsi_instance(tmp_path / f"{flavour}.dcm", flavour, pixels, jpeg=False, label_in_image=flag)
        data, findings = scrub_bytes(src, context())
        assert any(f.kind.startswith("dicom.wsi-") for f in findings) == blanked
        kept = pydicom.dcmread(io.BytesIO(data)).pixel_array
        assert not kept.any() if blanked else np.array_equal(kept, pixels)
