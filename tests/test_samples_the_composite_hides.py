"""A name stored in samples the 8-bit colour picture does not show: a CMYK plate under full black, the low
bytes of 16-bit colour. Each is read back with a reader of its own (Pillow's plates, OpenCV and tifffile
at full depth) and Tesseract; the gate must refuse the input too."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from deident.batch import check_paths, scrub_paths
from deident.findings import Status
from deident.options import FaceMode, Options, TextMode
from support import need

NAME, NUMBER = "QUIXOTEZ", "4455667"
SIZE = (520, 90)


def _name_mask() -> np.ndarray:
    img = Image.new("L", SIZE, 0)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", 40)
    ImageDraw.Draw(img).text((12, 18), f"{NAME} {NUMBER}", fill=255, font=font)
    return np.asarray(img) > 127


def _read(values: np.ndarray) -> str:
    """Tesseract on one sample stretched to its own min..max, dark text on light."""
    need("pytesseract", "reads the planted name back")
    import pytesseract

    v = values.astype(np.float64)
    lo, hi = v.min(), v.max()
    grey = np.zeros(v.shape, np.uint8) if hi <= lo else ((v - lo) * 255 / (hi - lo)).astype(np.uint8)
    if grey.mean() < 128:
        grey = 255 - grey
    padded = np.pad(grey, 20, constant_values=255)
    return pytesseract.image_to_string(Image.fromarray(padded), config="--psm 7")


def _legible(samples: np.ndarray) -> list[str]:
    """What Tesseract reads of each sample (HxWxC) that names the patient."""
    read = [_read(samples[:, :, c]) for c in range(samples.shape[2])]
    return [t for t in read if NAME in t.replace(" ", "") or NUMBER in t]


def _scrub(path, tmp_path):
    options = Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    (result,) = scrub_paths([path], options)
    assert result.status is Status.SAFE, result.reason
    return tmp_path / "o" / path.name


def _gate(path) -> tuple[Status, list[str]]:
    """The check's verdict and the stages of its findings (a header finding alone proves nothing here)."""
    (checked,) = check_paths([path], Options(faces=FaceMode.OFF, jobs=1, cache=False, all_stages=True))
    return checked.status, sorted({f.stage for f in checked.findings})


# ---------------------------------------------------------------- CMYK: a plate under full black


def _cmyk_plates() -> np.ndarray:
    """Full black everywhere; the name in the cyan plate alone (the composite is black throughout)."""
    plates = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)
    plates[..., 3] = 255
    plates[_name_mask(), 0] = 255
    return plates


def _plates_of(path) -> np.ndarray:
    if path.suffix == ".tif":
        return need("tifffile", "reads the TIFF's stored plates").imread(path)
    img = Image.open(path)
    assert img.mode == "CMYK"
    return np.asarray(img)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jpg", "tif"])
def test_a_name_in_one_ink_plate_under_full_black_is_redacted(tmp_path, fmt):
    path = tmp_path / f"plates.{fmt}"
    if fmt == "tif":
        need("tifffile", "writes the separated TIFF").imwrite(path, _cmyk_plates(), photometric="separated")
    else:
        Image.fromarray(_cmyk_plates(), "CMYK").save(path, quality=95)
    assert np.ptp(np.asarray(Image.open(path).convert("RGB"))) <= 2  # the composite shows nothing
    assert _legible(_plates_of(path))  # the plate does
    assert "text" in _gate(path)[1]
    out = _scrub(path, tmp_path)
    assert not _legible(_plates_of(out))
    assert _gate(out)[0] is Status.CLEAN


# ---------------------------------------------------------------- 16-bit colour: the low bytes


def _deep_colour(samples: int = 3) -> np.ndarray:
    """Grey and alpha, RGB or RGBA of 16 bits a sample, every high byte 0x80; the name only in the low
    bytes of every sample but alpha."""
    values = np.full((SIZE[1], SIZE[0], samples), 0x8000, np.uint16)
    values[_name_mask(), : 1 if samples == 2 else 3] += 0x00F0
    return values


def _deep_png(values: np.ndarray) -> bytes:
    """A PNG of 16 bits a sample written here (no encoder between the values and the file)."""
    h, w, c = values.shape
    rows = b"".join(b"\0" + values[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def _full_depth(path, page: int = 0) -> np.ndarray:
    """Every sample at its stored depth: tifffile for TIFF, OpenCV for PNG."""
    if path.suffix == ".tif":
        with need("tifffile", "reads the TIFF's pages at full depth").TiffFile(path) as tif:
            values = tif.pages[page].asarray()
    else:
        import cv2

        values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return values if values.ndim == 3 else values[:, :, None]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "samples", "orientation"),
    [("png", 2, 1), ("png", 3, 1), ("png", 4, 1), ("tif", 3, 1), ("tif", 3, 6)],
)
def test_a_name_in_the_low_bytes_of_16_bit_colour_is_redacted(tmp_path, fmt, samples, orientation):
    values = _deep_colour(samples)
    path = tmp_path / f"deep.{fmt}"
    if fmt == "png":
        path.write_bytes(_deep_png(values))
    else:  # the name on the second page: the page read at full depth is the page shown
        tifffile = need("tifffile", "writes the 16-bit TIFF")
        with tifffile.TiffWriter(path) as tif:
            tif.write(np.full_like(values, 0x4000), photometric="rgb")
            turned = [(274, 3, 1, orientation, True)]  # Orientation: OpenCV applies it, Pillow does not
            tif.write(values, photometric="rgb", compression="zlib", extratags=turned)
    page = 1 if fmt == "tif" else 0
    assert np.ptp(np.asarray(_pillow_page(path, page).convert("RGB"))) == 0  # Pillow keeps the high bytes
    assert _legible(_full_depth(path, page))
    assert "text" in _gate(path)[1]
    out = _scrub(path, tmp_path)
    assert not _legible(_full_depth(out, page))
    assert _gate(out)[0] is Status.CLEAN


def _pillow_page(path, page: int) -> Image.Image:
    img = Image.open(path)
    img.seek(page)
    return img


@pytest.mark.slow
def test_16_bit_colour_without_text_keeps_its_depth_and_bytes(tmp_path):
    """The low-byte views fill nothing on a smooth picture: the PNG is written as it came, 16 bits."""
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    values = np.stack([x * 120 + 1000, y * 600 + 3000, (x + y) * 90 + 500], axis=2).astype(np.uint16)
    path = tmp_path / "smooth.png"
    path.write_bytes(_deep_png(values))
    out = _scrub(path, tmp_path)
    assert np.array_equal(_full_depth(out)[:, :, ::-1], values)  # OpenCV gives BGR


def test_an_animated_png_of_16_bit_colour_is_refused_when_pixels_are_checked(tmp_path):
    """libpng through OpenCV reads only the default image: later frames' low bytes would go unread."""
    values = _deep_colour()
    h, w = values.shape[:2]
    single = _deep_png(values)
    ihdr = single[8 + 8 : 8 + 8 + 13]
    idat = single[8 + 25 + 8 : -12 - 4]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    def control(seq: int) -> bytes:
        return chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, w, h, 0, 0, 1, 10, 0, 0))

    apng = b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", ihdr),
            chunk(b"acTL", struct.pack(">II", 2, 0)),
            control(0),
            chunk(b"IDAT", idat),
            control(1),
            chunk(b"fdAT", struct.pack(">I", 2) + idat),
            chunk(b"IEND", b""),
        ]
    )
    path = tmp_path / "deep_animation.png"
    path.write_bytes(apng)
    assert Image.open(path).n_frames == 2
    options = Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    (result,) = scrub_paths([path], options)
    assert result.status is Status.FAILED
    assert "16 bits a sample" in result.reason
    assert not (tmp_path / "o" / path.name).exists()


@pytest.mark.slow
def test_a_name_in_the_low_bytes_of_a_16_bit_colour_dicom_frame_is_redacted(tmp_path):
    import pydicom

    from support.dicom import colour_capture

    path = colour_capture(tmp_path / "deep.dcm", _deep_colour())
    assert _legible(pydicom.dcmread(path).pixel_array)
    assert "text" in _gate(path)[1]
    out = _scrub(path, tmp_path)
    assert not _legible(pydicom.dcmread(out).pixel_array)
    assert _gate(out)[0] is Status.CLEAN
