"""Builders shared by the DICOM tests (no tests here): identifiers planted wherever a leak could hide."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, SecondaryCaptureImageStorage, generate_uid

from deident.dicom.document import open_dicom
from deident.formats.base import Context, Source
from deident.keys import Keyring
from deident.options import DicomOptions, Options

# Distinctive values: none of them occurs in pydicom's test files.

SECRETS = {
    "PatientName": "Quixote^Dulcinea",
    "PatientID": "MRN-778899",
    "OtherPatientIDs": "ALT-556677",
    "PatientBirthDate": "19610214",
    "StudyDate": "20230317",
    "SeriesDate": "20230317",
    "AccessionNumber": "ACC99887766",
    "InstitutionName": "Saint Zanzibar Hospital",
    "ReferringPhysicianName": "Drbrownish^Emmett",
    "StudyDescription": "Chest for Dulcinea",
    "ImageComments": "Seen by Drbrownish on 17/03/2023",
    "OperatorsName": "Operatorova^Ilse",
}
LEAK_STRINGS = ["Quixote", "Dulcinea", "778899", "556677", "19610214", "20230317", "99887766", "Zanzibar",
                "ZANZIBAR", "Drbrownish", "Operatorova", "Emmett", "SECRETPRIV", "ACME-PRIVATE"]  # fmt: skip
STUDY_UID = "1.2.826.0.1.3680043.99.4242.1"
SERIES_UID = "1.2.826.0.1.3680043.99.4242.2"

REPRESENTATIVE = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG-lossy.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "examples_palette.dcm",
    "examples_ybr_color.dcm",
    "examples_overlay.dcm",
    "SC_rgb_rle_2frame.dcm",
    "image_dfl.dcm",
    "test-SR.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
]


CINE = "color3d_jpeg_baseline.dcm"  # pydicom-data's 120-frame JPEG Baseline echo, 640x480


def find_pydicom_file(name: str) -> Path | None:
    """pydicom's (or pydicom-data's) test file ``name``; None where it is not installed."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    return Path(path) if path else None


def pydicom_file(name: str) -> Path:
    path = find_pydicom_file(name)
    if path is None:
        pytest.skip(f"pydicom test file {name} not available offline")
    return path


def context(key: bytes = b"dicom-test-key-0123456789abcdef", **dicom) -> Context:
    return Context(Options(dicom=DicomOptions(**dicom)), Keyring(key))


def plant(ds, n: int = 0) -> None:
    """Fill ``ds`` with SECRETS at top level, inside sequences and in a private block."""
    from pydicom.dataset import Dataset

    for kw, value in SECRETS.items():
        setattr(ds, kw, value)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, SERIES_UID
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.99.4242.3.{n}"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.99.4242.4"
    request = Dataset()
    request.RequestedProcedureDescription = "Quixote special"
    request.ScheduledProcedureStepID = "SPS-778899"
    ds.RequestAttributesSequence = [request]
    inner = Dataset()  # a sequence the table does not list: its items are still walked
    inner.PatientName = "Quixote^Dulcinea"
    inner.StudyDate = "20230317"
    inner.InstitutionName = "Saint Zanzibar Hospital"
    outer = Dataset()
    outer.CodeValue, outer.CodingSchemeDesignator, outer.CodeMeaning = "T-D3000", "SRT", "Chest"
    outer.ReferencedStudySequence = [inner]
    ds.AnatomicRegionSequence = [outer]
    block = ds.private_block(0x0099, "ACME-PRIVATE", create=True)
    block.add_new(0x01, "LO", "SECRETPRIV Quixote")
    ds.file_meta.SourceApplicationEntityTitle = "ZANZIBAR"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def planted_file(tmp_path: Path, name: str, n: int = 0) -> Path:

    ds = pydicom.dcmread(pydicom_file(name), force=True)
    plant(ds, n)
    out = tmp_path / f"in-{n}-{name}"
    ds.save_as(out, enforce_file_format=False)
    return out


def scrub_bytes(path: Path, ctx: Context, verified: bool = True) -> bytes:

    doc = open_dicom(Source(path))
    doc.scrub_metadata(ctx)
    if verified:
        doc.pixels_verified(["text"], ctx)
    buf = io.BytesIO()
    doc.write(buf, ctx)
    return buf.getvalue()


def secondary_capture(path: Path, pixels, **attributes) -> Path:
    """A small 8-bit greyscale secondary-capture DICOM of ``pixels`` with the given attributes
    (PatientName, PatientID, StudyDate ...), written to ``path``."""
    return _image(path, SecondaryCaptureImageStorage, "OT", pixels, 8, attributes)


def colour_capture(path: Path, rgb, **attributes) -> Path:
    """A secondary-capture DICOM of ``rgb`` (HxWx3, uint8 or uint16, every bit stored) with the given
    attributes (ICCProfile, OpticalPathSequence ...), written to ``path``."""
    return _image(path, SecondaryCaptureImageStorage, "OT", rgb, rgb.dtype.itemsize * 8, attributes)


def mr_image(path: Path, pixels, bits_stored: int, **attributes) -> Path:
    """An MR Image Storage DICOM of greyscale ``pixels`` (uint8 or uint16, ``bits_stored`` of them used)
    with the given attributes (ImageType, AcquisitionMatrix, WindowCenter ...), written to ``path``."""
    from pydicom.uid import MRImageStorage

    return _image(path, MRImageStorage, "MR", pixels, bits_stored, attributes)


def _image(path: Path, sop_class: str, modality: str, pixels, bits_stored: int, attributes: dict) -> Path:
    from pydicom.dataset import FileDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = modality
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.Rows, ds.Columns = pixels.shape[:2]
    if pixels.ndim == 3:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored = pixels.dtype.itemsize * 8, bits_stored
    ds.HighBit, ds.PixelRepresentation = bits_stored - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def multiframe(path, photometric="MONOCHROME2", frames=3, rle=False, window=None):
    rng = np.random.default_rng(7)
    arr = rng.integers(200, 4000, size=(frames, 48, 64), dtype=np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "OT", "Quixote^Dulcinea", "MRN-778899"
    ds.set_pixel_data(arr, photometric, 12, generate_instance_uid=False)
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if rle:
        ds.compress(RLELossless)
    ds.save_as(path, enforce_file_format=True)
    return arr
