"""Issue 18, class 2 for JPEG: pixels hidden in the padding of the last MCU row and column.

A frame whose size is not a multiple of the MCU still codes whole MCUs; a name drawn in the part a decoder
crops reads back once the frame header declares a few more pixels. Each case is built here: a bigger image
with the name in its last rows and columns, encoded by Pillow, then the frame header lowered. The output is
judged by Pillow (decoding it with the header raised again) and Tesseract, never by deident's ``check``.
"""

from __future__ import annotations

import io
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from deident.batch import check_paths, scrub_paths
from deident.findings import Status
from deident.formats.jpeg import SOF, walk
from deident.options import FaceMode, Options, TextMode
from support import need

METADATA_ONLY = {"text": TextMode.OFF, "faces": FaceMode.OFF}
NAME = "JOHN SMITH"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
BACKGROUND = 235


def _mcu(subsampling: int) -> tuple[int, int]:
    return {0: (8, 8), 1: (16, 8), 2: (16, 16)}[subsampling]


def _with_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header declaring ``width`` x ``height``."""
    sof = next(s for s in walk(data).chunks if s.marker in SOF)
    return data[: sof.start + 5] + struct.pack(">HH", height, width) + data[sof.start + 9 :]


def _planted(
    width: int, height: int, subsampling: int, progressive: bool, quality: int = 90, **save
) -> bytes:
    """A light picture of ``width`` x ``height`` whose MCU padding holds NAME (bottom) and a bar (right)."""
    mw, mh = _mcu(subsampling)
    coded = (-(-width // mw) * mw, -(-height // mh) * mh)
    img = Image.new("RGB", coded, (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(img)
    if coded[1] - height >= 7:
        font = ImageFont.load_default(size=max(7, coded[1] - height - 2))
        draw.text((4, height + 1), NAME, fill=(0, 0, 0), font=font)
    if coded[0] > width:
        draw.rectangle((width + 1, 8, coded[0] - 1, height - 8), fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=subsampling, **save)
    data = _with_size(buf.getvalue(), width, height)
    # Progressive: the same coefficients made progressive (a progressive encode of the bigger picture
    # would code more blocks per row in its one-component scans than the lowered header declares).
    return _progressive(data) if progressive else data


def _progressive(data: bytes) -> bytes:
    mozjpeg = need("mozjpeg_lossless_optimization", "lossless baseline to progressive")
    return mozjpeg.optimize(data)


def _baseline(data: bytes) -> bytes:
    """The same coefficients as a baseline JPEG (libjpeg, through jpeglib)."""
    jpeglib = need("jpeglib", "lossless progressive to baseline")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jpg", Path(tmp) / "out.jpg"
        src.write_bytes(data)
        jpeglib.read_dct(str(src)).write_dct(str(dst))
        return dst.read_bytes()


def _raised(data: bytes, width: int, height: int, subsampling: int) -> np.ndarray:
    """Luma of ``data`` decoded with its frame header raised to whole MCUs: what the padding shows.

    A progressive frame is made baseline first: raised, its one-component scans would lack a block per row.
    """
    if b"\xff\xc2" in data[: data.index(b"\xff\xda")]:
        data = _baseline(data)
    mw, mh = _mcu(subsampling)
    big = _with_size(data, -(-width // mw) * mw, -(-height // mh) * mh)
    return np.asarray(Image.open(io.BytesIO(big)).convert("L"), dtype=np.int16)


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def _dark_in_padding(pixels: np.ndarray, width: int, height: int) -> int:
    hidden = np.ones(pixels.shape, bool)
    hidden[:height, :width] = False
    return int(((pixels < BACKGROUND - 80) & hidden).sum())


def _scrub(tmp_path: Path, data: bytes, metadata_only: bool) -> tuple[bytes, set[str]]:
    """``deident scrub`` with --text off --faces off, or with the defaults (every pixel stage)."""
    path = tmp_path / "in.jpg"
    path.write_bytes(data)
    out_dir = tmp_path / "out"
    options = Options(jobs=1, output_dir=out_dir, overwrite=True, **(METADATA_ONLY if metadata_only else {}))
    (result,) = scrub_paths([path], options)
    assert result.status is Status.SAFE, result.reason
    return (out_dir / "in.jpg").read_bytes(), {f.kind for f in result.findings}


SIZES = [(157, 105), (161, 113), (152, 97)]  # odd widths and heights; 152 = 8 x 19 (only 4:2:x pad it)


@pytest.mark.parametrize("metadata_only", [True, False])
@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("subsampling", [0, 1, 2])
@pytest.mark.parametrize("size", SIZES)
def test_content_in_the_mcu_padding_is_written_blank(tmp_path, size, subsampling, progressive, metadata_only):
    width, height = size
    data = _planted(width, height, subsampling, progressive)
    before = _dark_in_padding(_raised(data, width, height, subsampling), width, height)
    assert before > 40  # the leak: raise the frame header and the planted pixels show
    out, kinds = _scrub(tmp_path, data, metadata_only)
    assert "jpeg.padding" in kinds
    assert Image.open(io.BytesIO(out)).size == (width, height)
    assert _dark_in_padding(_raised(out, width, height, subsampling), width, height) == 0
    # The declared picture: bit-identical but for the last row and column of blocks (re-coded edge
    # blocks), which move by quantisation noise only.
    diff = np.abs(_decoded(out) - _decoded(data)).max(axis=2)
    edge = np.zeros(diff.shape, bool)
    edge[(height - 1) // 8 * 8 - 8 :, :] = True  # chroma blocks of 4:2:0 span 16 rows
    edge[:, (width - 1) // 8 * 8 - 8 :] = True
    assert not diff[~edge].any()
    assert diff.max() <= 24


def test_padding_of_a_frame_with_restart_markers(tmp_path):
    width, height = 157, 105
    data = _planted(width, height, 2, False, restart_marker_blocks=3)
    assert b"\xff\xdd" in data and _dark_in_padding(_raised(data, width, height, 2), width, height) > 40
    out, kinds = _scrub(tmp_path, data, True)
    assert "jpeg.padding" in kinds
    assert _dark_in_padding(_raised(out, width, height, 2), width, height) == 0
    assert np.abs(_decoded(out) - _decoded(data)).max() <= 24


@pytest.mark.parametrize("pixel_run", [False, True])
def test_blocks_wholly_outside_are_set_flat_and_the_picture_is_bit_identical(tmp_path, pixel_run):
    """4:2:0 at a width of 16k + 8: the last luma block column is wholly outside; only it holds content."""
    width, height = 152, 96
    img = Image.new("RGB", (160, 96), (BACKGROUND,) * 3)
    ImageDraw.Draw(img).rectangle((153, 10, 158, 80), fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, subsampling=2)
    data = _with_size(buf.getvalue(), width, height)
    assert _dark_in_padding(_raised(data, width, height, 2), width, height) > 100
    out, kinds = _scrub(tmp_path, data, not pixel_run)
    assert "jpeg.padding" in kinds
    assert np.array_equal(_decoded(out), _decoded(data))  # every visible pixel as it was
    assert _dark_in_padding(_raised(out, width, height, 2), width, height) == 0


@pytest.mark.parametrize("metadata_only", [True, False])
def test_tesseract_no_longer_reads_a_name_in_the_padding(tmp_path, metadata_only):
    """Baseline 4:2:0: 15 hidden rows, room for a line of text (a progressive frame keeps only the 7 rows
    of its edge blocks: covered by the pixel tests above)."""
    pytesseract = need("pytesseract", "OCR of the planted name")
    if shutil.which("tesseract") is None:
        pytest.skip("the tesseract binary is not installed")
    width, height = 320, 241  # 4:2:0: 15 hidden rows under the picture
    data = _planted(width, height, 2, False)

    def read(jpeg: bytes) -> str:
        strip = Image.fromarray(_raised(jpeg, width, height, 2)[236:256].astype(np.uint8))
        strip = strip.resize((strip.width * 3, strip.height * 3), Image.LANCZOS)
        return pytesseract.image_to_string(strip, config="--psm 7").upper()

    assert "SMITH" in read(data)  # Tesseract reads the name on the input
    out, kinds = _scrub(tmp_path, data, metadata_only)
    assert "jpeg.padding" in kinds
    text = read(out)
    assert "SMITH" not in text and "JOHN" not in text


def _scan_data(data: bytes) -> bytes:
    return data[data.index(b"\xff\xda") :]


def _ordinary() -> list[tuple[str, bytes]]:
    import cv2

    rng = np.random.default_rng(7)
    base = (np.add.outer(np.arange(211), np.arange(307)) % 256).astype(np.uint8)
    photo = np.dstack([base, base[::-1], np.roll(base, 40, axis=1)])
    photo = (photo.astype(np.int16) + rng.integers(-20, 20, photo.shape)).clip(0, 255).astype(np.uint8)
    out = []
    for w, h in [(307, 211), (301, 203), (17, 9)]:
        img = Image.fromarray(np.ascontiguousarray(photo[:h, :w]))
        for quality in (20, 75, 95):
            for subsampling in (0, 1, 2):
                for progressive in (False, True):
                    buf = io.BytesIO()
                    img.save(buf, "JPEG", quality=quality, subsampling=subsampling, progressive=progressive)
                    out.append((f"pillow {w}x{h} q{quality} s{subsampling} p{progressive:d}", buf.getvalue()))
            _, enc = cv2.imencode(
                ".jpg", np.ascontiguousarray(photo[:h, :w]), [cv2.IMWRITE_JPEG_QUALITY, quality]
            )
            out.append((f"opencv {w}x{h} q{quality}", enc.tobytes()))
    return out


def test_ordinary_odd_size_jpegs_keep_their_scan_data(tmp_path):
    touched = []
    for name, data in _ordinary():
        out, kinds = _scrub(tmp_path, data, True)
        if "jpeg.padding" in kinds or _scan_data(out) != _scan_data(data):
            touched.append(name)
    assert touched == []


def test_real_jpegs_are_not_touched(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    files = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    checked = touched = 0
    for path in files:
        data = path.read_bytes()
        try:
            out, kinds = _scrub(tmp_path, data, True)
        except Exception:  # refused for reasons of its own (the corpus holds damaged files): not this test's
            continue
        checked += 1
        if "jpeg.padding" in kinds or not np.array_equal(_decoded(out), _decoded(data)):
            touched += 1
    assert checked >= 40 and touched == 0


@st.composite
def padded_jpegs(draw) -> tuple[bytes, int, int, int]:
    """A light picture of random odd size whose MCU padding holds random dark rectangles."""
    subsampling = draw(st.sampled_from([0, 1, 2]))
    mw, mh = _mcu(subsampling)
    width = draw(st.integers(2, 6)) * mw + draw(st.integers(1, mw - 1))
    height = draw(st.integers(2, 6)) * mh + draw(st.integers(0, mh - 1))
    coded = (-(-width // mw) * mw, -(-height // mh) * mh)
    img = Image.new("L", coded, BACKGROUND)
    draw_on = ImageDraw.Draw(img)
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()) or coded[1] == height:  # in the columns right of the picture
            x0 = draw(st.integers(width, coded[0] - 1))
            y0 = draw(st.integers(0, coded[1] - 2))
        else:  # in the rows under it
            x0 = draw(st.integers(0, coded[0] - 2))
            y0 = draw(st.integers(height, coded[1] - 1))
        x1, y1 = draw(st.integers(x0, coded[0] - 1)), draw(st.integers(y0, coded[1] - 1))
        draw_on.rectangle((x0, y0, x1, y1), fill=draw(st.integers(0, 60)))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=draw(st.sampled_from([75, 90])), subsampling=subsampling)
    data = _with_size(buf.getvalue(), width, height)
    return (_progressive(data) if draw(st.booleans()) else data), width, height, subsampling


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(padded_jpegs())
def test_property_no_planted_pixel_survives_in_the_padding(tmp_path, case):
    data, width, height, subsampling = case
    out, _ = _scrub(tmp_path, data, True)
    assert _dark_in_padding(_raised(out, width, height, subsampling), width, height) == 0


def test_whole_mcu_rows_under_a_height_that_is_not_whole_mcus_are_cut_too(tmp_path):
    """The coefficient read also tells whether libjpeg skipped coded data (one read, two answers)."""
    img = Image.new("RGB", (64, 64), (BACKGROUND,) * 3)
    ImageDraw.Draw(img).rectangle((0, 40, 63, 63), fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, subsampling=2)
    data = _with_size(buf.getvalue(), 64, 37)  # MCU rows 0-2 declared; row 3 (48-63) coded all the same
    out, kinds = _scrub(tmp_path, data, True)
    assert {"jpeg.scan", "jpeg.padding"} <= kinds
    assert _dark_in_padding(_raised(out, 64, 37, 2), 64, 37) == 0
    shown = np.asarray(Image.open(io.BytesIO(_with_size(out, 64, 64))).convert("L"))
    assert (shown[48:] < 60).sum() == 0  # the black MCU row is gone (a decoder fills grey), not only hidden


@pytest.mark.parametrize("progressive", [False, True])
def test_check_reports_a_jpeg_with_content_in_its_padding_as_unsafe(tmp_path, progressive):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_planted(157, 105, 2, progressive))
    (result,) = check_paths([path], Options(jobs=1, **METADATA_ONLY))
    assert result.status is Status.UNSAFE
    assert "jpeg.padding" in {f.kind for f in result.findings}


def test_a_pixel_run_that_redacts_visible_text_leaves_the_padding_blank(tmp_path):
    """Text in the picture is redacted in the DCT domain (libjpeg writes every block again); the padding
    check runs on that output too."""
    width, height = 320, 241
    img = Image.new("RGB", (width, 256), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(img)
    draw.text((20, 60), "Patient: JANE DOE 1970-01-02", fill=(0, 0, 0), font=ImageFont.load_default(size=18))
    draw.text((4, height + 1), NAME, fill=(0, 0, 0), font=ImageFont.load_default(size=13))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, subsampling=2)
    data = _with_size(buf.getvalue(), width, height)
    out, kinds = _scrub(tmp_path, data, False)
    assert "jpeg.padding" in kinds and any(k.startswith("text") for k in kinds)
    assert _dark_in_padding(_raised(out, width, height, 2), width, height) == 0


def _one_component_scans(width: int, height: int, bar_from: int | None = None) -> bytes:
    """A grayscale JPEG whose one component has 2x1 sampling (Pillow writes it for subsampling 4:2:2):
    its scans each code one component, so they code only the blocks the declared width needs. ``bar_from``:
    a dark bar from that column to the coded edge, declared away by a lowered frame header."""
    coded_width = width if bar_from is None else -(-width // 8) * 8
    rng = np.random.default_rng(3)
    pixels = (np.add.outer(np.arange(height), np.arange(coded_width)) % 200 + 30).astype(np.int16)
    pixels = (pixels + rng.integers(-10, 10, pixels.shape)).clip(0, 255).astype(np.uint8)
    if bar_from is not None:
        pixels[:, bar_from:] = 0
    buf = io.BytesIO()
    Image.fromarray(pixels, "L").save(buf, "JPEG", quality=90, subsampling=1)
    data = buf.getvalue()
    sof = next(s for s in walk(data).chunks if s.marker in SOF)
    assert sof.payload[7] == 0x21  # one component, sampled 2x1: MCUs 16 wide, scans non-interleaved
    return _with_size(data, width, height)


def test_a_jpeg_whose_scans_each_code_one_component_is_checked_not_refused(tmp_path):
    """Before, the copy libjpeg read with a raised frame header held none of these scans, and libjpeg's
    refusal of it refused the file as corrupt."""
    data = _one_component_scans(150, 100)  # 19 blocks coded per row, 20 in whole MCUs
    out, kinds = _scrub(tmp_path, data, True)
    assert "jpeg.padding" not in kinds and _scan_data(out) == _scan_data(data)
    assert np.array_equal(_decoded(out), _decoded(data))


def test_content_in_the_padding_of_one_component_scans_is_refused(tmp_path):
    """Its edge blocks cannot be re-coded through libjpeg's whole-MCU copy: the file is refused, not
    written with the bar in it."""
    data = _one_component_scans(150, 100, bar_from=150)
    path = tmp_path / "in.jpg"
    path.write_bytes(data)
    big = np.asarray(Image.open(io.BytesIO(_with_size(data, 152, 100))).convert("L"))
    assert (big[:, 150:] < 40).mean() > 0.9  # the bar reads back once the header declares it
    out_dir = tmp_path / "out"
    (result,) = scrub_paths([path], Options(jobs=1, output_dir=out_dir, overwrite=True, **METADATA_ONLY))
    assert result.status is not Status.SAFE
    assert not (out_dir / "in.jpg").exists()


@pytest.mark.parametrize("damage", ["huffman table", "scan component"])
def test_a_damaged_header_is_refused_not_a_crash(tmp_path, damage):
    """libjpeg's error in a header ends jpeglib's coefficient reader with a crash of the whole process;
    the header is read on its own first. Run in a child process: a crash there fails the test, not the
    run."""
    import subprocess
    import sys

    data = bytearray(_planted(157, 105, 2, False))
    segments = walk(bytes(data)).chunks
    if damage == "huffman table":
        dht = next(s for s in segments if s.marker == 0xC4)
        data[dht.start + 5 : dht.start + 21] = bytes([255] * 16)  # code counts far beyond 256 symbols
    else:
        sos = next(s for s in segments if s.marker == 0xDA)
        data[sos.start + 5] = 202  # a component the frame does not have
    path = tmp_path / "damaged.jpg"
    path.write_bytes(bytes(data))
    code = (
        "import sys; from deident.formats.jpeg_padding import check_padding; from deident.errors import "
        "DeidentError\ntry: check_padding(open(sys.argv[1], 'rb').read())\nexcept DeidentError as e: "
        "print('refused:', type(e).__name__)"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-500:]
    assert "refused: CorruptFile" in run.stdout


def _verdict(data: bytes):
    from deident.errors import DeidentError
    from deident.formats.jpeg_padding import check_padding

    try:
        checked = check_padding(data)
    except DeidentError as exc:
        return type(exc).__name__
    if checked is None:
        return None
    fix = checked.fix
    return (fix and (fix.data, fix.blanked, fix.recoded)), checked.decoder_warned


def _cmyk(width: int, height: int) -> bytes:
    img = Image.new("CMYK", (width, height), (10, 20, 30, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, subsampling=2)  # the first component 2x2, the others 1x1
    return buf.getvalue()


def _scan_cut(data: bytes) -> bytes:
    """The scan data cut in the middle, then an EOI: libjpeg warns and reads the rest as zero."""
    sos = data.index(b"\xff\xda")
    return data[: sos + (len(data) - sos) // 2] + b"\xff\xd9"


def _scan_flipped(data: bytes) -> bytes:
    """Bytes of the scan data changed: libjpeg warns, or stops with an error."""
    out = bytearray(data)
    sos = data.index(b"\xff\xda")
    for pos in range(sos + 40, len(out) - 2, 97):
        out[pos] = 0xFF if out[pos] != 0xFF else 0
    return bytes(out)


STREAMS = {
    "4:4:4": lambda: _planted(157, 105, 0, False),
    "4:2:2 progressive": lambda: _planted(161, 113, 1, True),
    "4:2:0": lambda: _planted(157, 105, 2, False),
    "4:2:0 restart markers": lambda: _planted(157, 105, 2, False, restart_marker_blocks=3),
    "one-component scans": lambda: _one_component_scans(150, 100, bar_from=150),
    "CMYK (TurboJPEG does not read this sampling: jpeglib)": lambda: _cmyk(157, 105),
    "scan cut short": lambda: _scan_cut(_planted(157, 105, 2, False)),
    "progressive scan cut short": lambda: _scan_cut(_planted(161, 113, 2, True)),
    "scan bytes changed": lambda: _scan_flipped(_planted(157, 105, 2, False)),
    "progressive scan bytes changed": lambda: _scan_flipped(_planted(157, 105, 0, True)),
}


@pytest.mark.parametrize("stream", list(STREAMS))
def test_turbojpeg_and_jpeglib_give_the_same_verdict(monkeypatch, stream):
    """The coefficients are read by libturbojpeg where it reads the stream to the end (with warnings at
    most), else by jpeglib: the verdict, the fix's bytes and the decoder warning are the same either way,
    on damaged scans too."""
    from deident.formats import jpeg_padding

    assert jpeg_padding._turbojpeg() is not None, "libturbojpeg0 is installed by .ci/setup"
    data = STREAMS[stream]()
    read_by = []  # what TurboJPEG gave each read (None: jpeglib read it)
    turbo = jpeg_padding._read_turbojpeg

    def spied(*args):
        read_by.append(turbo(*args))
        return read_by[-1]

    monkeypatch.setattr(jpeg_padding, "_read_turbojpeg", spied)
    fast = _verdict(data)
    monkeypatch.setattr(jpeg_padding, "_read_turbojpeg", lambda *a: None)
    assert _verdict(data) == fast
    if "CMYK" in stream:
        assert read_by == [None]
    elif "changed" not in stream:
        assert read_by and all(r is not None for r in read_by)
    if "cut short" in stream:
        assert fast[1], "libjpeg warned"


def test_checks_in_a_row_of_one_size_each_read_their_own_coefficients(monkeypatch):
    """The planes of the raised copy are reused from one check to the next of the same size: a photo
    with content in its padding, then one without, then the first again, each gives its own verdict."""
    from deident.formats import jpeg_padding

    planted = _planted(157, 105, 2, False)
    img = Image.new("RGB", (160, 112), (BACKGROUND,) * 3)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, subsampling=2)
    clean = _with_size(buf.getvalue(), 157, 105)
    in_a_row = [_verdict(d) for d in (planted, clean, planted, clean)]
    monkeypatch.setattr(jpeg_padding, "_scratch_planes", jpeg_padding._zero_planes)
    assert in_a_row == [_verdict(d) for d in (planted, clean, planted, clean)]
    assert in_a_row[0][0] and not in_a_row[1][0]
