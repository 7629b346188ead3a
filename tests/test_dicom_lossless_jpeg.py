"""JPEG Lossless (Process 14) DICOM is coded again, pixels identical, rather than refused or copied unchecked.

Its scans are not DCT blocks, so deident cannot walk them byte by byte (rows hidden under a lowered frame
height, bytes after the last row): every frame is decoded (python-gdcm) and coded again as JPEG-LS
Lossless. Judged by pydicom (pixels, transfer syntax) and planted bytes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from support import need
from support.dicom import pydicom_file

SENTINEL = b"DOE^JANE MRN 4455667"
NAMES = ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "SC_rgb_jpeg_gdcm.dcm"]


def deident(*args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "deident.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True)


def planted(src: Path, dst: Path) -> np.ndarray:
    """The file with ``SENTINEL`` between its last coded row and EOI (decoders skip it); its pixels."""
    ds = pydicom.dcmread(src)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    end = frame.rindex(b"\xff\xd9")
    ds.PixelData = encapsulate([frame[:end] + SENTINEL + frame[end:]])
    ds["PixelData"].is_undefined_length = True
    ds.save_as(dst)
    return pydicom.dcmread(src).pixel_array


@pytest.mark.parametrize(
    "name, stages",
    [(n, ("--text", "off", "--faces", "off")) for n in NAMES] + [("JPEG-LL.dcm", ())],  # () = every stage
)
def test_lossless_jpeg_is_coded_again_with_identical_pixels_and_no_planted_bytes(tmp_path, name, stages):
    need("gdcm", "python-gdcm decodes JPEG Lossless")
    src = tmp_path / "in" / name
    src.parent.mkdir()
    pixels = planted(pydicom_file(name), src)
    assert SENTINEL in src.read_bytes()
    assert deident("check", src).returncode == 1
    run = deident("scrub", src, "-o", tmp_path / "out", "-q", *stages)
    assert run.returncode == 0, run.stdout + run.stderr
    out = tmp_path / "out" / name
    assert SENTINEL not in out.read_bytes()
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"  # JPEG-LS Lossless
    assert np.array_equal(ds.pixel_array, pixels)
    if not stages:  # every stage ran, so the pixels were verified too
        assert deident("check", out).returncode == 0


def test_check_names_lossless_jpeg_as_not_yet_checked(tmp_path):
    need("gdcm", "python-gdcm decodes JPEG Lossless")
    run = deident("check", pydicom_file("JPEG-LL.dcm"), "--json")
    assert run.returncode == 1
    assert "dicom.pixels-recoded" in run.stdout
