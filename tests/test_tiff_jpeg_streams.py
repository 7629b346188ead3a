"""TIFF: JPEG strips and JPEGTables keep what a decoder reads, extra samples no stage sees refuse the file,
YCbCr fields go from pages that are not YCbCr. Judged by exiftool, tifffile, Pillow and the raw bytes."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest
from PIL import Image, ImageDraw

from deident.batch import scrub_paths
from deident.errors import UnsupportedFormat
from deident.findings import Status
from deident.formats.base import Source, open_document
from deident.options import FaceMode, Options, TextMode
from support.photos import grey_tiff
from support.planted import ctx, filled_bytes, scrub_bytes
from support.sample_images import font

tifffile = pytest.importorskip("tifffile", reason="tifffile, a test extra, reads the TIFF files judged here")

TOKEN = b"PLANTED_NAME_7731"
W, H = 32, 16
METADATA_ONLY = {"text": TextMode.OFF, "faces": FaceMode.OFF}


def _seg(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def _segments(stream: bytes) -> list[tuple[int, bytes]]:
    """(marker, whole segment) up to EOI; an SOS segment with its entropy-coded data."""
    pos, out = 2, []
    while stream[pos + 1] != 0xD9:
        end = pos + 2 + struct.unpack(">H", stream[pos + 2 : pos + 4])[0]
        if stream[pos + 1] == 0xDA:
            end = re.compile(rb"\xff[^\x00\xd0-\xd7]").search(stream, end).start()
        out.append((stream[pos + 1], stream[pos:end]))
        pos = end
    return out


def _jpeg() -> bytes:
    arr = (np.add.outer(np.arange(H), np.arange(W)) * 6).astype(np.uint8)
    Image.fromarray(arr).save(buf := io.BytesIO(), "JPEG", quality=90)
    return buf.getvalue()


def _exif_artist(value: bytes) -> bytes:
    """A little-endian EXIF block whose IFD0 holds Artist only."""
    return (
        b"II*\0\x08\0\0\0\x01\0\x3b\x01\x02\0"
        + struct.pack("<II", len(value) + 1, 26)
        + b"\0" * 4
        + value
        + b"\0"
    )


def _strip(data: bytes) -> bytes:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        return data[page.dataoffsets[0] : page.dataoffsets[0] + page.databytecounts[0]]


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _exiftool(data: bytes, *args: str) -> bytes:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed")
    return subprocess.run(["exiftool", *args, "-"], input=data, capture_output=True, check=False).stdout


def _scrubbed(tmp_path, data: bytes, name: str = "in.tif") -> tuple[bytes, set[str]]:
    path = tmp_path / name
    path.write_bytes(data)
    out, findings = scrub_bytes(path)
    return out, {f.kind for f in findings}


def test_jpeg_strip_segments_a_decoder_does_not_read_are_removed(tmp_path):
    plain = _jpeg()
    marked = plain[:2] + _seg(0xE1, b"Exif\0\0" + _exif_artist(TOKEN)) + _seg(0xFE, TOKEN) + plain[2:] + TOKEN
    data = grey_tiff(W, H, marked, compression=7)
    assert TOKEN in _exiftool(
        _exiftool(data, "-b", "-PreviewImage"), "-Artist", "-Comment"
    )  # the leak is real
    out, kinds = _scrubbed(tmp_path, data)
    assert TOKEN not in out
    assert TOKEN not in _exiftool(_exiftool(out, "-b", "-PreviewImage"), "-Artist", "-Comment")
    assert {"jpeg.com", "exif.owner", "trailer"} <= kinds
    assert _segments(_strip(out)) == _segments(plain)  # tables, frame and the coded data byte for byte
    assert np.array_equal(_pixels(out), _pixels(data))


def test_an_ordinary_jpeg_strip_is_copied_byte_for_byte(tmp_path):
    data = grey_tiff(W, H, _jpeg(), compression=7)
    out, kinds = _scrubbed(tmp_path, data)
    assert _strip(out) == _strip(data)
    assert not {k for k in kinds if k.startswith(("jpeg.", "exif."))}


def _abbreviated(extra_in_tables: bytes) -> tuple[bytes, bytes]:
    """A TIFF whose strip has no tables and whose JPEGTables holds them, ``extra_in_tables`` first."""
    segs = _segments(_jpeg())
    tables = b"".join(s for m, s in segs if m in (0xDB, 0xC4))
    strip = b"\xff\xd8" + b"".join(s for m, s in segs if m in (0xC0, 0xDA)) + b"\xff\xd9"
    jpegtables = b"\xff\xd8" + extra_in_tables + tables + b"\xff\xd9"
    return grey_tiff(W, H, strip, ((347, 7, jpegtables),), compression=7), tables


def test_jpegtables_keep_only_their_coding_tables(tmp_path):
    extra = _seg(0xFE, TOKEN) + _seg(0xED, b"Photoshop 3.0\0" + TOKEN)
    data, tables = _abbreviated(extra)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert TOKEN in tif.pages[0].tags["JPEGTables"].value  # the leak is real
    out, kinds = _scrubbed(tmp_path, data)
    assert TOKEN not in out
    with tifffile.TiffFile(io.BytesIO(out)) as tif:
        assert tif.pages[0].tags["JPEGTables"].value == b"\xff\xd8" + tables + b"\xff\xd9"
    assert {"jpeg.com", "jpeg.app13"} <= kinds
    assert _strip(out) == _strip(data)
    assert np.array_equal(_pixels(out), _pixels(data))


def test_a_redacted_jpeg_page_is_written_without_the_jpeg_tables(tmp_path):
    """The pixel stages' path: an edited JPEG page is re-encoded losslessly and carries no JPEGTables."""
    data, _ = _abbreviated(_seg(0xFE, TOKEN))
    path = tmp_path / "in.tif"
    path.write_bytes(data)
    doc = open_document(Source(path))
    c = ctx()
    doc.scrub_metadata(c)
    out = filled_bytes(doc, 0, (0, 0, 8, 8), c)
    assert TOKEN not in out
    with tifffile.TiffFile(io.BytesIO(out)) as tif:
        page = tif.pages[0]
        assert "JPEGTables" not in page.tags and page.compression != 7
        shown = page.asarray()
    assert shown[:8, :8].max() == 0  # filled
    assert np.array_equal(shown[10:], _pixels(data)[10:])  # rows below the box as they were


def _extra_sample_tiff(extra: int) -> bytes:
    """RGB flat grey and a fourth sample (ExtraSamples ``extra``) holding a name as text."""
    w, h = 400, 80
    text = Image.new("L", (w, h), 255)
    ImageDraw.Draw(text).text((6, 14), "SMITH JOHN 7731", fill=0, font=font(28))
    arr = np.dstack([np.full((h, w, 3), 128, np.uint8), np.asarray(text)])
    tifffile.imwrite(buf := io.BytesIO(), arr, photometric="rgb", extrasamples=(extra,))
    return buf.getvalue()


@pytest.mark.parametrize("extra", [0, 2])
def test_an_extra_sample_the_text_stage_cannot_see_refuses_the_file(tmp_path, extra):
    data = _extra_sample_tiff(extra)
    assert np.ptp(tifffile.imread(io.BytesIO(data))[..., 3]) == 255  # the text is in the fourth sample
    path = tmp_path / "in.tif"
    path.write_bytes(data)
    doc = open_document(Source(path))
    if extra == 2:  # alpha: shown to the text stage as its own picture
        assert [f.label for f in doc.frames(ctx()) if not f.revealed] == ["image", "image alpha"]
        return
    with pytest.raises(UnsupportedFormat, match="samples per pixel"):
        list(doc.frames(ctx()))
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    assert result.status is not Status.SAFE and "samples per pixel" in result.reason
    assert not (tmp_path / "o" / path.name).exists()


def test_ycbcr_fields_on_a_page_that_is_not_ycbcr_are_dropped(tmp_path):
    rationals = TOKEN.ljust(48, b"\0")
    extra = ((532, 7, rationals), (529, 7, rationals[:24]), (530, 3, struct.pack("<HH", 2, 2)))
    extra += ((531, 3, struct.pack("<H", 1)),)
    pixels = bytes(range(256)) * 2
    data = grey_tiff(W, H, pixels, extra)
    # the rationals as RATIONAL (type 5): grey_tiff writes them as bytes, the type patched afterwards
    for tag in (529, 532):
        at = data.index(struct.pack("<HH", tag, 7))
        count = struct.unpack("<I", data[at + 4 : at + 8])[0] // 8
        data = data[:at] + struct.pack("<HHI", tag, 5, count) + data[at + 8 :]
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert {"ReferenceBlackWhite", "YCbCrCoefficients"} <= {t.name for t in tif.pages[0].tags}
    assert TOKEN in data
    out, kinds = _scrubbed(tmp_path, data)
    assert TOKEN not in out
    with tifffile.TiffFile(io.BytesIO(out)) as tif:
        tags = {t.name for t in tif.pages[0].tags}
        assert not tags & {"ReferenceBlackWhite", "YCbCrCoefficients", "YCbCrSubSampling", "YCbCrPositioning"}
        assert np.array_equal(tif.pages[0].asarray(), np.frombuffer(pixels, np.uint8).reshape(H, W))
    assert {"tiff.ReferenceBlackWhite", "tiff.YCbCrCoefficients", "tiff.YCbCrSubSampling"} <= kinds


def _with_transfer_function(values: list[int]) -> bytes:
    """An 8-bit grey page with one TransferFunction table (256 SHORTs, the form the tag must have)."""
    pixels = bytes(range(256)) * 2
    return grey_tiff(W, H, pixels, ((301, 3, struct.pack("<256H", *values)),))


def test_a_transfer_function_that_is_no_curve_is_dropped(tmp_path):
    """A transfer curve rises (or falls) with the sample value; one that does neither carries free numbers
    (here a planted name, two characters a SHORT), and goes as an ICC profile's tone curve does."""
    planted = list(struct.unpack("<8H", TOKEN[:16])) + list(range(248))
    data = _with_transfer_function(planted)
    assert TOKEN[:16] in data
    out, kinds = _scrubbed(tmp_path, data)
    assert TOKEN[:16] not in out
    with tifffile.TiffFile(io.BytesIO(out)) as tif:
        assert "TransferFunction" not in {t.name for t in tif.pages[0].tags}
        assert np.array_equal(
            tif.pages[0].asarray(), np.frombuffer(bytes(range(256)) * 2, np.uint8).reshape(H, W)
        )
    assert "tiff.TransferFunction" in kinds


def test_a_monotone_transfer_function_is_kept(tmp_path):
    curve = [round(65535 * (v / 255) ** 2.2) for v in range(256)]
    out, _ = _scrubbed(tmp_path, _with_transfer_function(curve))
    with tifffile.TiffFile(io.BytesIO(out)) as tif:
        assert list(tif.pages[0].tags["TransferFunction"].value) == curve
