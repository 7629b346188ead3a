"""Cine loops: overlays detected once across frames that share them, text in one frame only still found."""

from __future__ import annotations

import copy
import io
import shutil
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from deident.formats.base import Frame
from deident.frames_cache import detect_frames
from deident.regions import KEPT, Region


class BrightBlobs:
    """A stand-in detector: a box around every connected patch of pure white; counts the pixels it saw."""

    name = "text"

    def __init__(self):
        self.seen = 0

    def detect(self, frame: Frame, ctx) -> list[Region]:
        import cv2

        self.seen += frame.rgb.shape[0] * frame.rgb.shape[1]
        mask = (frame.rgb == 255).all(axis=2).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        return [Region.box(x, y, x + w - 1, y + h - 1, "text") for x, y, w, h, _ in stats[1:n]]


def cine(frames: int = 12, seed: int = 3) -> np.ndarray:
    """Static white labels around a moving textured middle; frame 7 alone gets two more labels."""
    rng = np.random.default_rng(seed)
    video = np.zeros((frames, 240, 320, 3), np.uint8)
    video[:, 4:12, 4:40] = 255  # a name, top left, on every frame
    video[:, 228:236, 280:316] = 255  # a date, bottom right, on every frame
    video[:, 60:180, 100:220] = rng.integers(0, 200, (frames, 120, 120, 1), np.uint8)  # the moving image
    video[7, 100:106, 110:140] = 255  # text inside the moving image, in one frame only
    video[7, 200:206, 8:30] = 255  # and text on the static background, in that frame only
    return video


def boxes(regions: list[Region]) -> set[tuple[int, int, int, int]]:
    return {r.bbox() for r in regions}


def test_same_regions_as_looking_at_every_frame_whole_at_a_fraction_of_the_pixels():
    video = cine()
    frames = [Frame(i, video[i], photographic=False) for i in range(len(video))]
    whole, cached = BrightBlobs(), BrightBlobs()
    expected = [boxes(whole.detect(f, None)) for f in frames]
    got = [boxes(regions) for _, regions in detect_frames(frames, [cached], None)]
    assert got == expected
    assert {(110, 100, 139, 105), (8, 200, 29, 205)} <= got[7]
    assert not {(110, 100, 139, 105), (8, 200, 29, 205)} & got[6]
    assert cached.seen < 0.4 * whole.seen  # static areas were looked at once


def test_a_frame_that_changed_everywhere_is_looked_at_whole():
    video = cine()[:3]
    video[2] = 255 - video[2]  # a cut: nothing shared with the reference
    frames = [Frame(i, video[i], photographic=False) for i in range(3)]
    detector = BrightBlobs()
    got = [boxes(r) for _, r in detect_frames(frames, [detector], None)]
    assert got[2] == boxes(BrightBlobs().detect(frames[2], None))
    assert detector.seen > 2 * video[0].shape[0] * video[0].shape[1]


def text_cine(path, frames: int = 8, only: int = 5, code: np.ndarray | None = None):
    """A native RGB ultrasound cine: a name on every frame, a record number on frame ``only`` alone (and
    ``code``, a grey symbol, inside that frame's moving image at rows 150-, columns 190-)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

    from support import textsynth

    rng = np.random.default_rng(5)
    video = np.zeros((frames, 240, 320, 3), np.uint8)
    video[:, 70:230, 60:260] = rng.integers(0, 120, (frames, 160, 200, 1), np.uint8)  # the moving image
    font = textsynth.fonts()[0]
    name = textsynth.render("DOE JOHN", 16, font, 0)
    video[:, 8 : 8 + name.shape[0], 8 : 8 + name.shape[1]] = name[:, :, None]
    mrn = textsynth.render("MRN 48213977", 16, font, 0)
    video[only, 120 : 120 + mrn.shape[0], 100 : 100 + mrn.shape[1]] = mrn[:, :, None]
    if code is not None:
        video[only, 150 : 150 + code.shape[0], 190 : 190 + code.shape[1]] = code[:, :, None]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundMultiFrameImageStorage, generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "US", "Doe^John", "48213977"
    ds.set_pixel_data(video, "RGB", 8, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return video, (100, 120, 100 + mrn.shape[1], 120 + mrn.shape[0])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
def test_text_in_one_frame_of_a_cine_is_redacted_there_only(tmp_path):
    import pytesseract

    from deident.batch import scrub_paths
    from deident.options import FaceMode, Options, TextMode

    src = tmp_path / "cine.dcm"
    video, (x0, y0, x1, y1) = text_cine(src)
    assert "48213977" in pytesseract.image_to_string(video[5, y0 - 8 : y1 + 8, x0 - 8 : x1 + 8])
    opts = Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "out")
    [result] = scrub_paths([src], opts)
    assert result.status.value == "safe", result.reason
    out = pydicom.dcmread(result.output).pixel_array
    assert "4821" not in pytesseract.image_to_string(out[5, y0 - 8 : y1 + 8, x0 - 8 : x1 + 8])
    assert out[5, y0:y1, x0:x1].max() < 40  # filled
    assert np.array_equal(out[4, y0:y1, x0:x1], video[4, y0:y1, x0:x1])  # no text there: untouched
    assert all(out[i, 8:24, 8:80].max() < 40 for i in range(8))  # the name, on every frame


def test_verification_looks_where_the_written_frame_changed_and_around_what_was_found():
    video = cine()[:3]
    frames = [Frame(i, video[i].copy(), photographic=False) for i in range(3)]
    ctx = object()  # one file's context
    detector = BrightBlobs()
    found = [boxes(r) for _, r in detect_frames(frames, [detector], ctx)]
    written = video.copy()
    written[:, 4:12, 4:20] = 0  # the name only half covered
    written[1, 228:236, 280:316] = 0  # the date covered on frame 1 only
    checker = BrightBlobs()
    outputs = [Frame(i, written[i]) for i in range(3)]
    left = [boxes(r) for _, r in detect_frames(outputs, [checker], ctx, verifying=True)]
    assert left[1] == {(20, 4, 39, 11)} and (20, 4, 39, 11) in left[0] and (280, 228, 315, 235) in left[0]
    assert found[0] >= {(4, 4, 39, 11), (280, 228, 315, 235)}
    assert checker.seen < 0.5 * 3 * 240 * 320  # not every frame whole


class KeepsGrey(BrightBlobs):
    """Also judges every grey (128) patch harmless: a region of kind KEPT, which the detection pass keeps
    for verification and never yields."""

    def look(self, frame: Frame, ctx) -> list[Region]:
        import cv2

        mask = (frame.rgb == 128).all(axis=2).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        kept = [Region.box(x, y, x + w - 1, y + h - 1, KEPT) for x, y, w, h, _ in stats[1:n]]
        return self.detect(frame, ctx) + kept


def test_kept_lines_count_for_verification_only_while_shown_as_they_were():
    from deident.frames_cache import unchanged_kept

    rgb = np.zeros((120, 200, 3), np.uint8)
    rgb[10:20, 10:60] = 255  # identifying: redacted
    rgb[10:20, 64:120] = 128  # harmless, beside it
    rgb[60:70, 10:60] = 128  # harmless, far from it
    ctx = object()
    ((_, found),) = list(detect_frames([Frame(0, rgb, photographic=False)], [KeepsGrey()], ctx))
    assert boxes(found) == {(10, 10, 59, 19)}  # kept lines are never yielded for redaction
    out = rgb.copy()
    out[8:22, 8:66] = 0  # the fill, reaching into the harmless neighbour
    shown = unchanged_kept(Frame(0, out, photographic=False), found)
    assert boxes(shown) == {(64, 10, 119, 19), (10, 60, 59, 69)}
    out[62:66, 20:30] = 255  # a change no redaction made: that line is judged again
    shown = unchanged_kept(Frame(0, out, photographic=False), found)
    assert boxes(shown) == {(64, 10, 119, 19)}


def test_a_code_in_one_frame_of_a_cine_is_redacted_there_only(tmp_path):
    """A code drawn into one frame's moving image: zxing reads it in the input frame and nowhere in the
    written one, and every other frame keeps those pixels as they were."""
    zxingcpp = pytest.importorskip("zxingcpp")
    from deident.batch import scrub_paths
    from deident.options import FaceMode, Options, TextMode

    code = np.asarray(
        zxingcpp.create_barcode("S17-04522", zxingcpp.BarcodeFormat.DataMatrix).to_image(scale=3)
    )
    src = tmp_path / "cine.dcm"
    video, _ = text_cine(src, code=code)
    y0, x0, y1, x1 = 150, 190, 150 + code.shape[0], 190 + code.shape[1]
    assert [c.text for c in zxingcpp.read_barcodes(video[5])] == ["S17-04522"]
    assert all(not zxingcpp.read_barcodes(video[i]) for i in range(8) if i != 5)
    opts = Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "out")
    [result] = scrub_paths([src], opts)
    assert result.status.value == "safe", result.reason
    out = pydicom.dcmread(result.output).pixel_array
    for binarizer in (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram):
        assert not zxingcpp.read_barcodes(out[5], try_rotate=True, try_invert=True, binarizer=binarizer)
    assert out[5, y0:y1, x0:x1].max() < 40  # filled
    assert all(np.array_equal(out[i, y0:y1, x0:x1], video[i, y0:y1, x0:x1]) for i in range(8) if i != 5)


def _on_two_cores_and_one(src: Path, tmp_path: Path, monkeypatch) -> tuple[dict, dict]:
    """``src`` scrubbed (text, no faces, one job) as on two cores and as on one: each run's output bytes
    and the names of the threads the barcode reader ran on."""
    from deident import stages
    from deident.barcodes.detect import BarcodeDetector
    from deident.batch import scrub_paths
    from deident.options import FaceMode, Options, TextMode
    from deident.text import engine

    threads: set[str] = set()
    decode = BarcodeDetector.decode

    def recorded(self, rgb):
        threads.add(threading.current_thread().name)
        return decode(self, rgb)

    monkeypatch.setattr(BarcodeDetector, "decode", recorded)
    written, seen = {}, {}
    for cores in (2, 1):
        threads.clear()
        monkeypatch.setattr(stages, "_cache", {})  # a new BarcodeDetector, an empty decode cache
        engine._reads.clear()  # no readings carried over from the other run
        monkeypatch.setattr(engine, "cores", lambda cores=cores: cores)
        opts = Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / f"out{cores}")
        [result] = scrub_paths([src], opts)
        assert result.status.value == "safe", result.reason
        written[cores], seen[cores] = Path(result.output).read_bytes(), set(threads)
    return written, seen


def test_frames_looked_at_side_by_side_write_the_same_bytes_as_one_at_a_time(tmp_path, monkeypatch):
    """The frame pool (two cores, one worker) against one frame at a time (one core): the same output
    file byte for byte, the record number and the code still gone from frame 5 alone."""
    zxingcpp = pytest.importorskip("zxingcpp")
    code = np.asarray(zxingcpp.create_barcode("S17-04522", zxingcpp.BarcodeFormat.QRCode).to_image(scale=3))
    src = tmp_path / "cine.dcm"
    video, (x0, y0, x1, y1) = text_cine(src, frames=10, code=code)
    written, seen = _on_two_cores_and_one(src, tmp_path, monkeypatch)
    assert any(t.startswith("deident-frames") for t in seen[2])  # the pool did look
    assert written[2] == written[1]
    out = pydicom.dcmread(io.BytesIO(written[2])).pixel_array
    assert out[5, y0:y1, x0:x1].max() < 40 and not zxingcpp.read_barcodes(out[5])
    assert np.array_equal(out[4, y0:y1, x0:x1], video[4, y0:y1, x0:x1])


def test_codes_read_beside_the_text_give_the_same_bytes_as_one_stage_at_a_time(tmp_path, monkeypatch):
    """One photo, one worker on two cores: the barcode reader looks on a helper thread while the text
    detector runs; on one core, one stage after the other. The same output byte for byte, the code no
    longer decodes and the printed name is filled."""
    import cv2

    zxingcpp = pytest.importorskip("zxingcpp")
    symbol = zxingcpp.create_barcode("S17-04522", zxingcpp.BarcodeFormat.DataMatrix)
    code = np.asarray(symbol.to_image(scale=4))
    label = np.full((260, 700, 3), (236, 232, 214), np.uint8)
    label[40 : 40 + code.shape[0], 30 : 30 + code.shape[1]] = code[..., None]
    cv2.putText(label, "SMITH JOHN", (260, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    src = tmp_path / "label.png"
    cv2.imwrite(str(src), label[..., ::-1])
    written, seen = _on_two_cores_and_one(src, tmp_path, monkeypatch)
    assert [t.split("_")[0] for t in seen[2]].count("deident-beside") == 1
    assert not any(t.startswith("deident-beside") for t in seen[1])
    assert written[2] == written[1]
    out = cv2.imdecode(np.frombuffer(written[2], np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert not zxingcpp.read_barcodes(out)
    ink = (label[90:125, 260:520] < 100).all(axis=2)
    assert ink.sum() > 500 and (out[90:125, 260:520][ink] != label[90:125, 260:520][ink]).any(axis=1).all()


class _Beside:
    """A stand-in detector whose looks may run beside the others; tells which thread ran its look."""

    runs_beside = True

    def look(self) -> str:
        return threading.current_thread().name


def test_frames_side_by_side_never_take_more_threads_than_cores(monkeypatch):
    """One worker on two cores: two frames at once, each on one model thread; two workers: one frame at
    a time each (and one model thread); frames that cannot be taken ahead: one at a time. A look that
    runs beside the others gets a helper thread only where one worker has the two cores."""
    from types import SimpleNamespace

    from deident.frames_cache import _side_by_side, side_by_side
    from deident.options import Options
    from deident.text import engine

    monkeypatch.setattr(engine, "cores", lambda: 2)
    for jobs, ahead, width, helper in (
        (1, True, 2, False),
        (2, True, 1, False),
        (1, False, 1, True),
        (2, False, 1, False),
    ):
        ctx = SimpleNamespace(options=Options(jobs=jobs))
        with _side_by_side(ctx, ahead) as (run, depth):
            seen = run(lambda: (side_by_side(), threading.current_thread().name)).result()
            beside = run(lambda look: look(), _Beside().look).result()
        assert seen[0] == width and (depth > 0) == (width > 1)
        assert width * engine.threads_for(jobs * seen[0]) * jobs <= 2
        assert beside.startswith("deident-beside") == helper
        assert beside.startswith("deident-frames") == (width > 1)


def test_greyscale_dicom_frames_are_not_taken_ahead_of_their_redaction():
    """A greyscale frame's further renderings are made from its redacted values; colour frames have one."""
    from pydicom.data import get_testdata_file

    from deident.dicom.document import DicomDocument

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))  # ships with pydicom itself
    colour, palette = copy.deepcopy(ds), copy.deepcopy(ds)
    colour.SamplesPerPixel, colour.PhotometricInterpretation = 3, "RGB"
    colour.PixelData = ds.PixelData * 3  # three samples a pixel
    palette.PhotometricInterpretation = "PALETTE COLOR"
    assert not DicomDocument(ds).frames_ahead()
    assert DicomDocument(colour).frames_ahead() and DicomDocument(palette).frames_ahead()


@pytest.mark.parametrize("shape", [(480, 640, 3), (477, 641, 3), (31, 17), (9, 8, 4)])
def test_changed_blocks_are_every_block_with_a_pixel_changed_beyond_the_tolerance(shape):
    from deident import frames_cache

    rng = np.random.default_rng(sum(shape))
    ref = rng.integers(0, 256, shape, np.uint8)
    rgb = ref.copy()
    moved = rng.random(shape[:2]) < 0.01
    rgb[moved] = ref[moved] ^ 0x30  # by 16 or 32 levels in some channel
    rgb[0, 0] = np.clip(ref[0, 0].astype(int) + frames_cache.TOLERANCE, 0, 255)  # within the tolerance
    h, w = shape[:2]
    b = frames_cache.BLOCK
    over = np.abs(rgb.astype(int) - ref.astype(int)) > frames_cache.TOLERANCE
    over = over.reshape(h, w, -1).any(axis=2)
    expected = [[over[y : y + b, x : x + b].any() for x in range(0, w, b)] for y in range(0, h, b)]
    assert frames_cache._changed_blocks(ref, rgb).astype(bool).tolist() == expected
