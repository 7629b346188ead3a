"""Issue 18, TIFF: coded strips and edge tiles that hold pixels beyond the declared image.

Each file is written bigger than it declares (a name drawn below row 100 and right of column 180), then its
ImageLength/ImageWidth lowered: decoders crop the name, and raising the size shows it again. After a
scrub the size is raised back on the output and the blocks are decoded whole by independent readers
(libtiff through Pillow, tifffile, zlib): what lies beyond the declared image is zero and Tesseract no
longer reads the name. Blocks are coded by libtiff (Pillow) or tifffile, never by deident.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from deident.formats.tiff import codecs
from deident.formats.tiff.picture_codecs import PICTURE
from deident.options import FaceMode, TextMode
from support.planted import ctx, scrub_bytes
from support.sample_images import font

tifffile = pytest.importorskip(
    "tifffile", reason="tifffile, a test extra, writes and reads the tiled, planar, 16-bit and float TIFFs"
)

W, H = 180, 100  # what the files declare
FULL_W, FULL_H = 256, 128  # what their coded data holds: two 128 x 128 tiles, or two 64-row strips
NAME = "DOE JANE"
METADATA_ONLY = {"text": TextMode.OFF, "faces": FaceMode.OFF}
SENTINEL = b"MRK-TAIL-Doe-Jane-MRN4455667"
LIBTIFF = {5: "tiff_lzw", 8: "tiff_adobe_deflate", 32773: "packbits"}


def _picture(dtype: str = "uint8", spp: int = 1) -> np.ndarray:
    """Bars over the declared image, a name in black on white beyond it (rows 100-127)."""
    img = Image.new("L", (FULL_W, FULL_H), 255)
    draw = ImageDraw.Draw(img)
    for x in range(0, W, 30):
        draw.rectangle((x, 10, x + 12, 90), fill=40)
    draw.text((6, 101), NAME, fill=0, font=font(22))
    arr = np.asarray(img).astype(np.float64) / 255
    if spp > 1:
        arr = np.stack([arr] * spp, axis=-1)
    if dtype == "float32":
        return arr.astype(np.float32)
    return (arr * np.iinfo(dtype).max).round().astype(dtype)


def _tag(data: bytes, name: str):
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        return tif.pages[0].tags[name]


def _set(data: bytes, name: str, value: int) -> bytes:
    """``data`` with the one value of tag ``name`` changed in place (its field type kept)."""
    tag = _tag(data, name)
    fmt = ("<" if data[:2] == b"II" else ">") + ("H" if tag.dtype.name == "SHORT" else "I")
    out = bytearray(data)
    out[tag.valueoffset : tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(out)


def _declare(data: bytes, tiled: bool, width: int = W, height: int = H) -> bytes:
    data = _set(data, "ImageLength", height)
    return _set(data, "ImageWidth", width) if tiled else data


def _segments(data: bytes) -> list[bytes]:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        return [data[o : o + n] for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)]


def _tifffile(arr: np.ndarray, tiled: bool, compression: str = "zlib", **kw) -> bytes:
    buf = io.BytesIO()
    layout = {"tile": (128, 128)} if tiled else {"rowsperstrip": 64}
    tifffile.imwrite(buf, arr, compression=compression, **layout, **kw)
    return buf.getvalue()


def _libtiff_block(arr: np.ndarray, compression: int, predictor: int) -> bytes:
    """``arr`` coded by libtiff (Pillow) as one strip: a strip or a tile's stream."""
    buf = io.BytesIO()
    info = {317: predictor, 278: arr.shape[0]}
    Image.fromarray(arr).save(buf, "TIFF", compression=LIBTIFF[compression], tiffinfo=info)
    (segment,) = _segments(buf.getvalue())
    return segment


def _libtiff(arr: np.ndarray, tiled: bool, compression: int, predictor: int = 1) -> bytes:
    """A libtiff-coded TIFF; tiled: its tiles coded one by one and laid out by tifffile (which cannot
    code LZW or PackBits itself here: it writes them as given, and the Compression tag is set after)."""
    if not tiled:
        buf = io.BytesIO()
        info = {317: predictor, 278: 64}
        Image.fromarray(arr).save(buf, "TIFF", compression=LIBTIFF[compression], tiffinfo=info)
        return buf.getvalue()
    tiles = [
        _libtiff_block(np.ascontiguousarray(arr[y : y + 128, x : x + 128]), compression, predictor)
        for y in range(0, arr.shape[0], 128)
        for x in range(0, arr.shape[1], 128)
    ]
    return _laid_out(tiles, arr, compression, predictor)


def _laid_out(tiles: list[bytes], arr: np.ndarray, compression: int, predictor: int = 1) -> bytes:
    """Coded 128 x 128 tiles of ``arr`` laid out by tifffile as given, ``compression`` set in the tag
    after (tifffile writes the streams without coding them)."""
    buf = io.BytesIO()
    photometric = "rgb" if arr.ndim == 3 else "minisblack"
    tifffile.imwrite(
        buf,
        iter(tiles),
        shape=arr.shape,
        dtype=arr.dtype,
        tile=(128, 128),
        compression="zlib",
        photometric=photometric,
        predictor=predictor if predictor != 1 else None,
    )
    return _set(buf.getvalue(), "Compression", compression)


def _ocr(arr: np.ndarray) -> str:
    import pytesseract

    grey = arr if arr.ndim == 2 else arr[..., 0]
    if grey.dtype != np.uint8:
        grey = grey.astype(np.float64) / (1.0 if grey.dtype.kind == "f" else np.iinfo(grey.dtype).max) * 255
        grey = grey.clip(0, 255).astype(np.uint8)
    return pytesseract.image_to_string(
        Image.fromarray(grey).resize((FULL_W * 2, FULL_H * 2)), config="--psm 6"
    )


def _raised(data: bytes, tiled: bool) -> np.ndarray:
    """The whole coded picture of a file, its declared size raised back (tifffile reads it; None when a
    strip holds fewer rows than that)."""
    try:
        return tifffile.imread(io.BytesIO(_declare(data, tiled, FULL_W if tiled else W, FULL_H)))
    except ValueError:
        assert not tiled
        return None


def _shown(data: bytes) -> np.ndarray:
    """The declared image: libtiff (Pillow) reads LZW, which tifffile cannot without imagecodecs."""
    if _tag(data, "Compression").value == 5:
        return np.asarray(Image.open(io.BytesIO(data)))
    return tifffile.imread(io.BytesIO(data))


def _scrub(tmp_path, data: bytes) -> tuple[bytes, set[str]]:
    path = tmp_path / "in.tif"
    path.write_bytes(data)
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    return out, {f.kind for f in findings}


def _check_blanked(tmp_path, data: bytes, tiled: bool, reader=_raised) -> bytes:
    """Scrub ``data`` (a name hidden beyond its declared image); the name reads on the input's hidden
    part and not on the output's, which is zero beyond the image and shows the same image."""
    hidden = reader(data, tiled)
    assert NAME.split()[0] in _ocr(hidden)  # the leak is real
    out, kinds = _scrub(tmp_path, data)
    assert ("tiff.tiles" if tiled else "tiff.strips") in kinds
    assert np.array_equal(_shown(out), _shown(data))  # the declared image, every pixel as it was
    assert hidden.shape[:2] == (FULL_H, FULL_W)
    whole = reader(out, tiled)
    if whole is not None:  # None: libtiff finds no rows below the declared image to show
        assert whole.shape == hidden.shape
        beyond = whole.copy()
        beyond[:H, :W] = 0
        assert not beyond.any()
        assert NAME.split()[0] not in _ocr(whole)
    if not tiled:
        assert _strip_sizes(out)[-1] < _strip_sizes(data)[-1]  # the last strip holds the image's rows only
    return out


def _strip_sizes(data: bytes) -> list[int]:
    """Each strip's decoded size by an independent decoder (zlib, tifffile's PackBits), or its coded size
    for LZW (nothing but libtiff decodes it here)."""
    compression = _tag(data, "Compression").value
    if compression == 8:
        return [len(zlib.decompress(s)) for s in _segments(data)]
    if compression in (32773, 34925):
        from tifffile import _imagecodecs

        decoder = _imagecodecs.packbits_decode if compression == 32773 else _imagecodecs.lzma_decode
        return [len(decoder(s)) for s in _segments(data)]
    return [len(s) for s in _segments(data)]


# ---------------------------------------------------------------- Deflate, written by tifffile


@pytest.mark.parametrize("tiled", [True, False], ids=["tiles", "strips"])
@pytest.mark.parametrize(
    ("dtype", "spp", "predictor", "planar"),
    [
        ("uint8", 1, None, None),
        ("uint8", 1, 2, None),
        ("uint16", 1, 2, None),
        ("uint8", 3, 2, "contig"),
        ("uint16", 3, None, "separate"),
        ("uint8", 3, 2, "separate"),
    ],
)
def test_deflate_blocks_beyond_the_declared_image_are_blanked(tmp_path, tiled, dtype, spp, predictor, planar):
    arr = _picture(dtype, spp)
    kw = {"predictor": predictor, "planarconfig": planar} if planar else {"predictor": predictor}
    if planar == "separate":
        arr = np.moveaxis(arr, -1, 0)
    data = _declare(_tifffile(arr, tiled, photometric="rgb" if spp == 3 else "minisblack", **kw), tiled)
    out = _check_blanked(tmp_path, data, tiled, reader=_raised if planar != "separate" else _planes)
    if not tiled:  # the last strip of each plane is coded again with the image's 36 rows only
        row = FULL_W * np.dtype(dtype).itemsize * (spp if planar != "separate" else 1)
        segments = _segments(out)
        sizes = [len(zlib.decompress(s)) for s in segments]
        assert sizes == [64 * row, 36 * row] * (spp if planar == "separate" else 1)


@pytest.mark.parametrize("tiled", [True, False], ids=["tiles", "strips"])
@pytest.mark.parametrize(("dtype", "spp"), [("uint16", 1), ("uint8", 3)])
def test_lzma_blocks_beyond_the_declared_image_are_blanked(tmp_path, tiled, dtype, spp):
    photometric = "rgb" if spp == 3 else "minisblack"
    data = _tifffile(_picture(dtype, spp), tiled, "lzma", predictor=2, photometric=photometric)
    out = _check_blanked(tmp_path, _declare(data, tiled), tiled)
    assert _tag(out, "Compression").value == 34925


def _planes(data: bytes, tiled: bool) -> np.ndarray:
    """A planar file's whole coded picture, its planes moved last (as a contiguous file's)."""
    planes = _raised(data, tiled)
    return None if planes is None else np.moveaxis(planes, 0, -1)


# ---------------------------------------------------------------- LZW and PackBits, coded by libtiff


@pytest.mark.parametrize("tiled", [True, False], ids=["tiles", "strips"])
@pytest.mark.parametrize(
    ("compression", "predictor", "mode"),
    [
        (5, 1, "L"),
        (5, 2, "L"),
        (5, 2, "RGB"),
        (5, 2, "I;16"),
        (32773, 1, "L"),
        (32773, 1, "RGB"),
        (8, 2, "RGB"),
    ],
)
def test_libtiff_coded_blocks_beyond_the_declared_image_are_blanked(
    tmp_path, tiled, compression, predictor, mode
):
    arr = _picture({"I;16": "uint16", "F": "float32"}.get(mode, "uint8"), 3 if mode == "RGB" else 1)
    data = _declare(_libtiff(arr, tiled, compression, predictor), tiled)
    out = _check_blanked(tmp_path, data, tiled, reader=_pillow_raised)
    assert _tag(out, "Compression").value == compression
    if predictor != 1:
        assert _tag(out, "Predictor").value == predictor


def _pillow_raised(data: bytes, tiled: bool) -> np.ndarray | None:
    """The whole coded picture decoded by libtiff (Pillow), the declared size raised back. A re-coded last
    strip holds only the image's rows: libtiff then fills the rest, which Pillow reads as truncated."""
    from PIL import ImageFile

    raised = _declare(data, tiled, FULL_W if tiled else W, FULL_H)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(io.BytesIO(raised)) as img:
            img.load()
            return np.asarray(img)
    except OSError as exc:  # libtiff: "Not enough data at scanline 64", the strip holds fewer rows
        assert not tiled and "decoder error" in str(exc)
        return None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


# ---------------------------------------------------------------- ordinary files keep their bytes


@pytest.mark.parametrize("tiled", [True, False], ids=["tiles", "strips"])
@pytest.mark.parametrize("coder", ["tifffile-zlib", "tifffile-zlib-pred", "lzw", "lzw-pred", "packbits"])
def test_ordinary_odd_sized_blocks_are_copied_byte_for_byte(tmp_path, tiled, coder):
    arr = np.ascontiguousarray(_picture("uint8", 3)[:H, :W])  # nothing beyond the image: encoders pad with 0
    if coder.startswith("tifffile"):
        data = _tifffile(arr, tiled, photometric="rgb", predictor=2 if coder.endswith("pred") else None)
    else:
        padded = np.zeros((FULL_H, FULL_W, 3), np.uint8)
        padded[:H, :W] = arr
        compression = 5 if coder.startswith("lzw") else 32773
        if tiled:
            data = _declare(_libtiff(padded, True, compression, 2 if coder.endswith("pred") else 1), True)
        else:
            data = _libtiff(arr, False, compression, 2 if coder.endswith("pred") else 1)
    out, kinds = _scrub(tmp_path, data)
    assert _segments(out) == _segments(data)
    assert not {"tiff.tiles", "tiff.strips"} & kinds
    assert np.array_equal(_shown(out), arr)


# ---------------------------------------------------------------- bytes after a stream's end


def _with_tail(data: bytes, tail: bytes) -> bytes:
    """``data`` whose last strip or tile is a copy at the file's end followed by ``tail``, its byte count
    raised to hold both (the stream itself ends where it did)."""
    segments = _segments(data)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        tiled = 324 in page.tags
        offsets, counts = page.tags[324 if tiled else 273], page.tags[325 if tiled else 279]
    last = len(segments) - 1
    out = bytearray(data)
    for tag, value in ((offsets, len(data)), (counts, len(segments[-1]) + len(tail))):
        size = 2 if tag.dtype.name == "SHORT" else 4
        at = tag.valueoffset + last * size
        out[at : at + size] = value.to_bytes(size, "little")
    return bytes(out) + segments[-1] + tail


@pytest.mark.parametrize("tiled", [True, False], ids=["tiles", "strips"])
@pytest.mark.parametrize("compression", [8, 5, 32773])
def test_bytes_after_a_coded_stream_are_not_copied(tmp_path, tiled, compression):
    arr = np.ascontiguousarray(_picture("uint8", 1)[:H, :W])
    if compression == 8:
        data = _tifffile(arr, tiled)
    elif tiled:
        padded = np.zeros((FULL_H, FULL_W), np.uint8)
        padded[:H, :W] = arr
        data = _declare(_libtiff(padded, True, compression), True)
    else:
        data = _libtiff(arr, False, compression)
    planted = _with_tail(data, SENTINEL * 3)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(planted))), arr)  # libtiff never reads the tail
    out, kinds = _scrub(tmp_path, planted)
    assert SENTINEL not in out and "tiff.strips" in kinds
    assert _segments(out)[:-1] == _segments(planted)[:-1]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), arr)


# ---------------------------------------------------------------- the codecs against libtiff


@pytest.mark.parametrize("compression", [5, 32773])
def test_lzw_and_packbits_as_deident_codes_them_are_what_libtiff_reads(compression):
    rng = np.random.default_rng(7)
    for arr in (
        rng.integers(0, 256, (300, 257), dtype=np.uint8),  # noise: LZW clears its table many times
        (np.arange(300 * 257) // 97 % 3).astype(np.uint8).reshape(300, 257),  # long runs
    ):
        stream = codecs.encode(compression, arr.tobytes())
        one = _one_strip(arr, compression, stream)  # libtiff decodes deident's stream

        assert np.array_equal(np.asarray(Image.open(io.BytesIO(one))), arr)
        assert codecs.decode(compression, _libtiff_block(arr, compression, 1), arr.size) == arr.tobytes()


def _one_strip(arr: np.ndarray, compression: int, stream: bytes) -> bytes:
    """A grey TIFF of ``arr`` in one strip holding ``stream``, laid out by tifffile."""
    buf = io.BytesIO()
    tifffile.imwrite(
        buf, iter([stream]), shape=arr.shape, dtype=arr.dtype, compression="zlib", rowsperstrip=arr.shape[0]
    )
    return _set(buf.getvalue(), "Compression", compression)


@pytest.mark.parametrize("compression", [5, 32773, 8])
def test_measured_stream_ends_are_where_libtiff_ends_them(compression):
    """The walk that spares decoding ordinary blocks (``codecs.measure``) agrees with libtiff: the decoded
    size is the strip's pixels and the stream ends at the byte count libtiff wrote, whatever follows."""
    rng = np.random.default_rng(11)
    photo = np.asarray(Image.open(io.BytesIO(_libtiff(_picture("uint8", 3), False, 8))).convert("RGB"))
    for arr in (photo, rng.integers(0, 256, (200, 301), dtype=np.uint8), np.zeros((90, 77), np.uint8)):
        stream = _libtiff_block(np.ascontiguousarray(arr), compression, 1)
        for tail in (b"", SENTINEL, b"\x80\x00"):
            assert codecs.measure(compression, stream + tail, arr.nbytes) == (arr.nbytes, len(stream))


def test_a_tile_stream_that_codes_more_than_its_tile_is_cut(tmp_path):
    """A Deflate tile whose stream goes on past the tile (stored, so the bytes stay readable): libtiff
    stops at the tile's end and never shows them; the output's tile holds exactly the tile."""
    arr = np.ascontiguousarray(_picture("uint8", 1)[:128, :128])
    more = arr.tobytes() + SENTINEL.ljust(128 * 4, b"!")  # four rows more than the tile
    buf = io.BytesIO()
    tiles = iter([zlib.compress(more, 0)])
    tifffile.imwrite(buf, tiles, shape=arr.shape, dtype=arr.dtype, tile=(128, 128), compression="zlib")
    data = buf.getvalue()
    assert SENTINEL in data and np.array_equal(np.asarray(Image.open(io.BytesIO(data))), arr)
    out, kinds = _scrub(tmp_path, data)
    assert SENTINEL not in out and "tiff.tiles" in kinds
    assert [len(zlib.decompress(s)) for s in _segments(out)] == [arr.nbytes]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), arr)


def test_a_zero_byte_an_old_lzw_encoder_codes_after_the_strip_is_let_be(tmp_path, shared_dir):
    """ExifTool's sample TIFF: its LZW strip decodes to its 57,600 pixel bytes and one zero more (libtiff
    reads the pixels and stops). Zeros carry nothing: the strip is copied as it is."""
    path = shared_dir / "corpora" / "exiftool-images" / "ExifTool.tif"
    if not path.is_file():
        pytest.skip("ExifTool.tif is not in ../shared")
    data = path.read_bytes()
    (segment,) = _segments(data)
    assert codecs.measure(5, segment, 120 * 160 * 3) == (120 * 160 * 3 + 1, len(segment))
    out, kinds = _scrub(tmp_path, data)
    assert _segments(out) == [segment] and not {"tiff.tiles", "tiff.strips"} & kinds


def test_check_finds_coded_blocks_beyond_the_image_and_passes_the_scrubbed_files(tmp_path):
    """The gate: a metadata-only ``check`` finds each dirty file (any name), and the scrub's outputs pass."""
    from deident.batch import check_paths, scrub_paths
    from deident.findings import Status
    from deident.options import Options

    arr = _picture("uint8", 3)
    small = np.ascontiguousarray(arr[:H, :W])
    dirty = {
        "tiles.deid.tif": _declare(_tifffile(arr, True, photometric="rgb", predictor=2), True),
        "rows.tif": _declare(_libtiff(arr, False, 5, 2), False),
        "tail.tif": _with_tail(_libtiff(small, False, 32773), SENTINEL),
    }
    paths = []
    for name, data in dirty.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    options = Options(jobs=1, output_dir=tmp_path / "out", **METADATA_ONLY)
    assert {r.status for r in check_paths(paths, options)} == {Status.UNSAFE}
    assert {r.status for r in scrub_paths(paths, options)} == {Status.SAFE}
    outputs = sorted((tmp_path / "out").iterdir())
    assert len(outputs) == 3
    assert {r.status for r in check_paths(outputs, Options(jobs=1, **METADATA_ONLY))} == {Status.CLEAN}


@pytest.mark.parametrize("tiled", [True, False], ids=["tiles", "strips"])
def test_big_endian_16_bit_with_predictor_is_blanked_in_its_own_byte_order(tmp_path, tiled):
    data = _tifffile(_picture("uint16", 1), tiled, predictor=2, byteorder=">")
    assert data[:2] == b"MM"
    _check_blanked(tmp_path, _declare(data, tiled), tiled)


# ---------------------------------------------------------------- JPEG (7) tiles


def _two_tiles(arr: np.ndarray, compression: int, code) -> bytes:
    """Two 128 x 128 tiles, each coded by ``code`` (a tile's pixels -> its stream); declared 180 x 100."""
    tiles = [code(Image.fromarray(np.ascontiguousarray(arr[:, x : x + 128]))) for x in (0, 128)]
    return _declare(_laid_out(tiles, arr, compression), True)


def _saved(tile: Image.Image, fmt: str, **options) -> bytes:
    tile.save(buf := io.BytesIO(), fmt, **options)
    return buf.getvalue()


def _jpeg_tiled(arr: np.ndarray) -> bytes:
    """Two 128 x 128 RGB tiles, each a complete JPEG stream (Pillow, 4:4:4), declared 180 x 100."""
    return _two_tiles(arr, 7, lambda tile: _saved(tile, "JPEG", quality=90, subsampling=0))


def _jpeg_raised(data: bytes, tiled: bool = True) -> np.ndarray:
    """The whole coded picture with the size raised back, decoded by libtiff (Pillow)."""
    raised = _declare(data, True, FULL_W, FULL_H)
    return np.asarray(Image.open(io.BytesIO(raised)).convert("RGB"))


def test_a_name_in_a_jpeg_edge_tile_padding_is_written_blank(tmp_path):
    data = _jpeg_tiled(_picture("uint8", 3))
    hidden = _jpeg_raised(data)
    assert NAME.split()[0] in _ocr(hidden)  # the leak is real
    out, kinds = _scrub(tmp_path, data)
    assert "tiff.tiles" in kinds
    whole = _jpeg_raised(out)
    assert NAME.split()[0] not in _ocr(whole)
    assert whole[H + 8 :].std(axis=(0, 1)).max() < 8  # below the last block row: flat, each channel
    shown = np.asarray(Image.open(io.BytesIO(out)).convert("RGB")).astype(int)
    before = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    rows, cols = H // 8 * 8, W // 8 * 8  # where the blocks across the image's edge begin
    assert np.abs(shown - before)[:rows, :cols].max() == 0  # every other block decodes as it did
    assert np.abs(shown - before).max() <= 24  # edge blocks: quantisation noise only


def test_ordinary_jpeg_edge_tiles_are_copied_byte_for_byte(tmp_path):
    picture = np.zeros((FULL_H, FULL_W, 3), np.uint8)
    picture[:H, :W] = _picture("uint8", 3)[:H, :W]
    picture[H:, :W] = picture[H - 1 : H, :W]  # the edge replicated into the padding, as libjpeg pads
    picture[:, W:] = picture[:, W - 1 : W]
    data = _jpeg_tiled(picture)
    out, kinds = _scrub(tmp_path, data)
    assert _segments(out) == _segments(data)
    assert "tiff.tiles" not in kinds


def test_bytes_past_an_uncompressed_edge_tile_are_reported(tmp_path):
    """An uncompressed edge tile whose byte count runs past its tile: the surplus is not copied and
    the report says so (the edge tile's own blanking is a separate finding)."""
    tifffile.imwrite(buf := io.BytesIO(), np.zeros((20, 20), np.uint8), tile=(16, 16))
    data = buf.getvalue()
    counts, offsets = _tag(data, "TileByteCounts"), _tag(data, "TileOffsets").value
    assert offsets[-1] + counts.value[-1] == len(data)  # the last tile ends the file
    grown = bytearray(data + SENTINEL)
    fmt = "<" + ("H" if counts.dtype.name == "SHORT" else "I")
    size = struct.calcsize(fmt)
    pos = counts.valueoffset + size * (len(counts.value) - 1)
    grown[pos : pos + size] = struct.pack(fmt, counts.value[-1] + len(SENTINEL))
    out, kinds = _scrub(tmp_path, bytes(grown))
    assert SENTINEL not in out
    assert "tiff.strips" in kinds  # "N bytes of image data beyond the declared image"


# ---------------------------------------------------------------- JPEG 2000 and WebP tiles, other codecs


def _picture_tiled(arr: np.ndarray, compression: int) -> bytes:
    """Two 128 x 128 tiles, each one picture of the codec (Pillow: OpenJPEG raw codestream, libwebp;
    lossless), declared 180 x 100."""
    if PICTURE[compression] == "WEBP":
        return _two_tiles(arr, compression, lambda tile: _saved(tile, "WEBP", lossless=True, exact=True))
    return _two_tiles(
        arr, compression, lambda tile: _saved(tile, "JPEG2000", no_jp2=True, irreversible=False)
    )


def _picture_raised(data: bytes, compression: int) -> np.ndarray:
    """The whole coded picture: each tile decoded by Pillow (OpenJPEG, libwebp), whatever the TIFF says."""
    fmt = PICTURE[compression]
    tiles = [np.asarray(Image.open(io.BytesIO(t), formats=[fmt])) for t in _segments(data)]
    return np.concatenate(tiles, axis=1)


@pytest.mark.parametrize(("compression", "spp"), [(34712, 1), (34712, 3), (33003, 3), (50001, 3)])
def test_a_name_in_jpeg2000_and_webp_edge_tiles_is_written_blank(tmp_path, compression, spp):
    data = _picture_tiled(_picture("uint8", spp), compression)
    hidden = _picture_raised(data, compression)
    assert NAME.split()[0] in _ocr(hidden)  # the leak is real
    out, kinds = _scrub(tmp_path, data)
    assert "tiff.tiles" in kinds
    assert _tag(out, "Compression").value == compression
    whole = _picture_raised(out, compression)
    assert np.array_equal(whole[:H, :W], hidden[:H, :W])  # the declared image, every pixel as it was
    beyond = whole.copy()
    beyond[:H, :W] = 0
    assert not beyond.any()
    assert NAME.split()[0] not in _ocr(whole)


def _without_comment(codestream: bytes) -> bytes:
    """The codestream without its main header's COM marker segment (OpenJPEG writes one naming itself)."""
    at = codestream.index(b"\xff\x64")
    return codestream[:at] + codestream[at + 2 + struct.unpack(">H", codestream[at + 2 : at + 4])[0] :]


def test_jpeg2000_edge_tiles_with_blank_padding_keep_their_coded_data(tmp_path):
    picture = _picture("uint8", 3)
    picture[H:] = 0
    picture[:, W:] = 0
    data = _picture_tiled(picture, 34712)
    out, kinds = _scrub(tmp_path, data)
    assert _segments(out) == [_without_comment(s) for s in _segments(data)]  # the comment alone goes
    assert "tiff.tiles" not in kinds and "j2k.com" in kinds


def _planted_tile(tile: Image.Image, compression: int) -> bytes:
    """A JPEG 2000 codestream with a COM and an unknown marker segment, or a WebP file with EXIF and XMP
    chunks, each holding SENTINEL, and SENTINEL after its end."""
    if PICTURE[compression] == "WEBP":
        exif = b"Exif\0\0II*\0" + SENTINEL
        return _saved(tile, "WEBP", lossless=True, exact=True, exif=exif, xmp=SENTINEL) + SENTINEL
    stream = _saved(tile, "JPEG2000", no_jp2=True, irreversible=False)
    siz_end = 4 + struct.unpack(">H", stream[4:6])[0]
    com = b"\xff\x64" + struct.pack(">H", 4 + len(SENTINEL)) + b"\0\1" + SENTINEL
    unknown = b"\xff\x6a" + struct.pack(">H", 2 + len(SENTINEL)) + SENTINEL
    return stream[:siz_end] + com + unknown + stream[siz_end:] + SENTINEL


@pytest.mark.parametrize(
    ("compression", "dropped"), [(34712, {"j2k.com", "j2k.marker", "trailer"}), (50001, {"xmp", "trailer"})]
)
def test_picture_tiles_keep_nothing_a_decoder_does_not_read(tmp_path, compression, dropped):
    """Every JPEG 2000 or WebP tile, interior ones too, kept what its decoder skips (COM marker segments,
    codes no decoder reads; EXIF and XMP chunks) and bytes after its end: a name there went into a safe
    output."""
    picture = _picture("uint8", 3)[:128]
    parts = [Image.fromarray(np.ascontiguousarray(picture[:, x : x + 128])) for x in (0, 128)]
    data = _laid_out([_planted_tile(p, compression) for p in parts], picture, compression)
    out, kinds = _scrub(tmp_path, data)
    assert SENTINEL not in out and SENTINEL[:8] not in out
    assert dropped <= kinds
    fmt = PICTURE[compression]
    for tile, part in zip(_segments(out), parts, strict=True):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(tile), formats=[fmt])), np.asarray(part))


def _zstd_raw(data: bytes) -> bytes:
    """One Zstandard frame (RFC 8878) holding ``data`` as a raw block: single segment, 2-byte size."""
    header = struct.pack("<IBH", 0xFD2FB528, 0x60, len(data) - 256)
    return header + (len(data) << 3 | 1).to_bytes(3, "little") + data


def test_zstd_tiles_keep_their_frames_only(tmp_path):
    """Interior ZSTD tiles were copied whole: a skippable frame (data every decoder skips) or bytes after
    the last frame carried a name into a safe output. Walked by block headers, nothing decoded."""
    picture = _picture("uint8", 1)[:128]
    frames = [_zstd_raw(np.ascontiguousarray(picture[:, x : x + 128]).tobytes()) for x in (0, 128)]
    skippable = struct.pack("<II", 0x184D2A50, len(SENTINEL)) + SENTINEL
    data = _laid_out([skippable + f + SENTINEL for f in frames], picture, 50000)
    out, kinds = _scrub(tmp_path, data)
    assert SENTINEL not in out and {"tiff.zstd", "trailer"} <= kinds
    assert _segments(out) == frames


@pytest.mark.parametrize("compression", [34887, 50002])  # LERC, JPEG XL
def test_interior_tiles_of_a_codec_that_cannot_be_checked_refuse_the_file(tmp_path, compression):
    """Tiles wholly inside the image were copied as they were: whatever their streams hold beside the
    picture (a JPEG XL container's Exif and XML boxes) went into a safe output unread."""
    from deident.errors import DeidentError

    data = _set(_tifffile(_picture()[:128, :256], True), "Compression", compression)
    with pytest.raises(DeidentError, match="cannot be checked"):
        _scrub(tmp_path, data)


@pytest.mark.parametrize("compression", [50000, 34887, 50002])  # ZSTD, LERC, JPEG XL
def test_edge_tiles_of_a_codec_that_cannot_be_checked_refuse_the_file(tmp_path, compression):
    from deident.errors import DeidentError

    data = _set(_declare(_tifffile(_picture(), True), True), "Compression", compression)
    with pytest.raises(DeidentError, match="cannot be checked"):
        _scrub(tmp_path, data)


@pytest.mark.parametrize("tiled", [True, False])
def test_subsampled_ycbcr_blocks_of_a_lossless_codec_refuse_the_file(tmp_path, tiled):
    """Their coded layout (luma and chroma in blocks) does not say where the image ends: refused, where
    they were copied unchecked. The same page not subsampled goes through the ordinary check."""
    from deident.errors import DeidentError

    buf = io.BytesIO()
    layout = {"tile": (128, 128)} if tiled else {"rowsperstrip": 64}
    tifffile.imwrite(buf, np.full((FULL_H, FULL_W, 3), 128, np.uint8), photometric="ycbcr", **layout)
    data = _declare(buf.getvalue(), tiled)
    tag = _tag(data, "YCbCrSubSampling")
    assert tag.value == (1, 1)
    _scrub(tmp_path, data)  # 1 x 1: an ordinary page
    sub = bytearray(data)
    sub[tag.valueoffset : tag.valueoffset + 4] = struct.pack("<HH", 2, 2)
    with pytest.raises(DeidentError, match="subsampled YCbCr"):
        _scrub(tmp_path, bytes(sub))


def _bilevel(width: int, rows: list[bytes], fill_order: int) -> bytes:
    """A little-endian 1-bit TIFF, one uncompressed strip of ``rows``."""
    strip = b"".join(rows)
    tags = [(256, width), (257, len(rows)), (258, 1), (259, 1), (262, 1), (266, fill_order), (273, 0)]
    tags += [(277, 1), (278, len(rows)), (279, len(strip))]
    at = 8 + 2 + 12 * len(tags) + 4
    ifd = b"".join(struct.pack("<HHII", t, 4, 1, at if t == 273 else v) for t, v in tags)
    return b"II*\0" + struct.pack("<IH", 8, len(tags)) + ifd + b"\0\0\0\0" + strip


@pytest.mark.parametrize("coder", ["raw", "tiff_lzw", "packbits", "fill-order-2"])
def test_bits_past_the_last_pixel_of_a_1_bit_row_are_cleared(tmp_path, coder):
    """9 pixels of 1 bit: each row's second byte holds 7 bits no decoder shows. Declared 16 wide again,
    Pillow (libtiff) shows them: random bits in the input, nothing but zeros in the output."""
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 2, (20, 16), dtype=np.uint8).astype(bool)
    if coder == "fill-order-2":
        bits = np.packbits(arr, axis=1, bitorder="little")
        data = _bilevel(9, [bytes(r) for r in bits], 2)
        wide = _bilevel(16, [bytes(r) for r in bits], 2)
    else:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "TIFF", compression=coder)
        wide = buf.getvalue()
        data = _set(wide, "ImageWidth", 9)
    hidden = np.asarray(Image.open(io.BytesIO(wide)))[:, 9:]
    assert hidden.any() and not hidden.all()  # the leak is real
    out, kinds = _scrub(tmp_path, data)
    assert "tiff.strips" in kinds
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(io.BytesIO(data))))
    shown = np.asarray(Image.open(io.BytesIO(_set(out, "ImageWidth", 16))))
    assert shown.shape == (20, 16) and not shown[:, 9:].any()
    assert np.array_equal(shown[:, :9], arr[:, :9])
