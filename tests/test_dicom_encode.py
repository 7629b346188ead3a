"""Redacted DICOM frames keep the input's transfer syntax; frames no redaction touched are copied as read."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGBaseline8Bit

from deident.dicom.document import open_dicom
from deident.dicom.fragments import filter_fragments
from deident.formats.base import Source
from deident.regions import Redaction, Region
from support import need
from support.dicom import context, multiframe, pydicom_file


def jpeg_cine(path, frames: int = 5, photometric: str = "YBR_FULL_422") -> np.ndarray:
    """A JPEG Baseline multi-frame ultrasound, each frame compressed by Pillow: YBR_FULL_422, or RGB (the
    JPEG without a colour transform, as whole-slide scanners write their tiles)."""
    data = need("skimage.data", "scikit-image's sample photos")

    base = data.astronaut()[::4, ::4]  # 128x128 RGB
    video = np.stack([np.roll(base, 3 * i, axis=1) for i in range(frames)])
    encoded = []
    for f in video:
        rgb = {"keep_rgb": True} if photometric == "RGB" else {"subsampling": 1}
        Image.fromarray(f).save(buf := io.BytesIO(), "JPEG", quality=90, **rgb)
        encoded.append(buf.getvalue())
    from support.dicom import secondary_capture

    secondary_capture(path, np.zeros((128, 128), np.uint8), Modality="US")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    ds.NumberOfFrames, ds.LossyImageCompression = frames, "01"
    ds.PixelData = encapsulate(encoded, has_bot=True)
    ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path).pixel_array


def scrub(path, frame: int, box, style: str = "fill"):
    ctx = context()
    doc = open_dicom(Source(path))
    doc.scrub_metadata(ctx)
    list(doc.frames(ctx))
    found = doc.redact(frame, [Redaction(Region.box(*box, "text"), style)], ctx)
    doc.write(buf := io.BytesIO(), ctx)
    return pydicom.dcmread(io.BytesIO(buf.getvalue())), found, len(buf.getvalue())


def fragments(ds) -> list[bytes]:
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))


@pytest.mark.parametrize("photometric", ["YBR_FULL_422", "RGB"])
def test_jpeg_cine_frame_redacted_in_the_dct_domain_others_copied(tmp_path, photometric):
    """An RGB JPEG (no colour transform) was written uncompressed once a frame changed: every component
    must be filled black, not the first alone."""
    src = tmp_path / "cine.dcm"
    before = jpeg_cine(src, photometric=photometric)
    out, found, size = scrub(src, 2, (16, 16, 63, 31))
    assert out.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert out.PhotometricInterpretation == photometric and out.LossyImageCompression == "01"
    assert [(f.kind, f.where) for f in found] == [("dicom.frame-dct", "frame 2")]
    original = fragments(pydicom.dcmread(src))
    written = fragments(out)
    assert [written[i] == original[i] for i in range(5)] == [True, True, False, True, True]
    after = out.pixel_array  # pydicom's own decoder, not ours
    assert after[2, 16:32, 16:64].max() <= 8  # black under the redaction
    far = np.ones(after.shape[1:3], bool)
    far[:48, :88] = False  # beyond the redacted MCUs (x 0-79, y 8-39) and their one-pixel ring
    assert np.array_equal(after[2][far], before[2][far])  # no generation loss elsewhere
    assert size <= 1.2 * src.stat().st_size


@pytest.mark.parametrize(
    "name", ["rle", "emri_small_jpeg_ls_lossless.dcm", "emri_small_jpeg_2k_lossless.dcm"]
)
def test_lossless_frame_reencoded_in_its_syntax_others_copied(tmp_path, name):
    if name == "rle":
        src = tmp_path / "rle.dcm"
        multiframe(src, rle=True)
    else:
        src = pydicom_file(name)
    before = pydicom.dcmread(src)
    filter_fragments(before).apply(before)  # what every scrub does first (comments, trailing bytes)
    syntax = before.file_meta.TransferSyntaxUID
    out, found, size = scrub(src, 1, (10, 5, 29, 19))
    assert out.file_meta.TransferSyntaxUID == syntax
    assert [f.kind for f in found] == ["dicom.frame-lossless"] and syntax.name in found[0].detail
    original, written = fragments(before), fragments(out)
    assert [a == b for a, b in zip(original, written, strict=True)].count(False) == 1
    assert written[0] == original[0] and written[1] != original[1]
    assert filter_fragments(out).dropped == []  # no encoder comment for the re-check of the output to refuse
    decoded, redacted = before.pixel_array, out.pixel_array  # pydicom's decoders
    box = np.zeros(decoded.shape[1:], bool)
    box[5:20, 10:30] = True
    assert np.array_equal(redacted[1][~box], decoded[1][~box])  # lossless outside the box
    assert (redacted[1][box] == decoded[1].min()).all()
    assert size <= 1.2 * Path(src).stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("name", ["color3d_jpeg_baseline.dcm"])
def test_pydicom_data_cine_keeps_its_size(tmp_path, name):
    pytest.importorskip("data_store", reason="pydicom-data is not installed")
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file(name))
    ctx = context()
    doc = open_dicom(Source(path))
    doc.scrub_metadata(ctx)
    frames = doc.frames(ctx)
    next(frames)
    for i in range(0, 120, 7):
        doc.redact(i, [Redaction(Region.box(0, 0, 90, 40, "text"), "fill")], ctx)
    doc.write(buf := io.BytesIO(), ctx)
    out = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    assert out.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert len(buf.getvalue()) <= 1.2 * path.stat().st_size
    assert out.pixel_array[7, :40, :90].max() <= 8


def _scrubbed_file(tmp_path, name: str):
    from deident.batch import scrub_paths
    from deident.findings import Status
    from deident.options import Options

    src = tmp_path / "in" / name
    src.parent.mkdir()
    src.write_bytes(pydicom_file(name).read_bytes())
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason
    return src, Path(result.output)


def test_a_jpeg_2000_lossless_radiograph_with_a_marker_is_not_refused(tmp_path):
    """pydicom-data's RG3_J2KR.dcm (a leg radiograph with an "R" marker): the re-encoded frame carried
    OpenJPEG's COM marker, which verification found, and the file was refused. The output holds no
    encoder signature and keeps its pixels outside the marker's fill (pydicom's decoder)."""
    src, out = _scrubbed_file(tmp_path, "RG3_J2KR.dcm")
    assert b"OpenJPEG" not in out.read_bytes()
    before, after = pydicom.dcmread(src), pydicom.dcmread(out)
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    same = before.pixel_array == after.pixel_array
    assert 0.99 < same.mean() < 1.0


def test_a_jpeg_2000_lossless_colour_ultrasound_stays_compressed(tmp_path):
    """pydicom-data's US1_J2KR.dcm stores YBR_RCT, which decodes to RGB: written uncompressed once its
    labels were filled, 154 KB became 923 KB. JPEG 2000's reversible colour transform takes the RGB back
    exactly: the output keeps the syntax, the photometric and the size, and every pixel outside the fills."""
    src, out = _scrubbed_file(tmp_path, "US1_J2KR.dcm")
    before, after = pydicom.dcmread(src), pydicom.dcmread(out)
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert after.PhotometricInterpretation == "YBR_RCT"
    assert out.stat().st_size <= 1.2 * src.stat().st_size
    same = (before.pixel_array == after.pixel_array).all(axis=2)
    assert 0.9 < same.mean() < 1.0  # the fills changed a few per cent; nothing else moved


def test_a_deflated_object_with_a_filled_label_stays_deflated(tmp_path):
    """pydicom-data's image_dfl.dcm (Deflated Explicit VR Little Endian, 4.6 KB) came out at 263 KB once
    a frame changed: written as plain Explicit VR Little Endian. Here with a planted label: the output is
    deflated, near the input's size, and the label's ink is gone (pydicom's reader)."""
    from PIL import ImageDraw, ImageFont

    ds = pydicom.dcmread(pydicom_file("image_dfl.dcm"))
    label = Image.fromarray(ds.pixel_array)
    ImageDraw.Draw(label).text((300, 440), "SMITH JOHN 1962", fill=255, font=ImageFont.load_default(28))
    ds.PixelData = np.asarray(label).tobytes()
    src = tmp_path / "in" / "dfl.dcm"
    src.parent.mkdir()
    ds.save_as(src, enforce_file_format=True)
    assert pydicom.dcmread(src).file_meta.TransferSyntaxUID == pydicom.uid.DeflatedExplicitVRLittleEndian
    from deident.batch import scrub_paths
    from deident.findings import Status
    from deident.options import Options

    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason
    out = pydicom.dcmread(result.output)
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.DeflatedExplicitVRLittleEndian
    assert Path(result.output).stat().st_size < 3 * src.stat().st_size
    assert np.asarray(label)[440:475, 300:500].max() == 255 and out.pixel_array[440:475, 300:500].max() < 60
