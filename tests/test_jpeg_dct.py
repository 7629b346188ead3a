"""DCT-domain JPEG redaction: only the redacted MCUs change, everything else keeps its exact coefficients."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from deident.errors import CorruptFile
from deident.formats.jpeg_dct import (
    MARGIN_PX,
    DctUnsupported,
    fill_dc,
    read_layout,
    redact_dct,
    unsupported_reason,
)
from deident.regions import Redaction, Region
from support import need

jpeglib = pytest.importorskip("jpeglib")

LABEL = "PATIENT DOE 1234"


@dataclass
class Coefs:
    planes: list[np.ndarray]
    factors: list[tuple[int, int]]  # (v, h) per component
    qt: list[np.ndarray]
    progressive: bool

    @property
    def mcu(self) -> tuple[int, int]:  # (height, width) in pixels
        return 8 * max(v for v, _ in self.factors), 8 * max(h for _, h in self.factors)


def _photos():
    return need("skimage.data", "scikit-image's sample photos")


def read_coefs(data: bytes, tmp_path) -> Coefs:
    path = tmp_path / f"c{abs(hash(data))}.jpg"
    path.write_bytes(data)
    j = jpeglib.read_dct(str(path))
    planes = [p.copy() for p in (j.Y, j.Cb, j.Cr) if p is not None]
    factors = [tuple(int(x) for x in f) for f in np.asarray(j.samp_factor)[: len(planes)]]
    qt = [j.get_component_qt(i).copy() for i in range(len(planes))]
    return Coefs(planes, factors, qt, bool(j.progressive_mode))


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im).astype(np.int32)


def encode(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def labelled(photo: np.ndarray, mode: str = "RGB", at=(100, 300)):
    """(photo with a white label, the same photo without it, the label's box)."""
    base = Image.fromarray(photo).convert(mode)
    lab = base.copy()
    draw = ImageDraw.Draw(lab)
    draw.text(at, LABEL, fill="white", font_size=24)
    return lab, base, draw.textbbox(at, LABEL, font_size=24)


def mcu_window(box, mcu, shape) -> tuple[int, int, int, int]:
    """MCU rows/columns [r0, r1) x [c0, c1) that a box grown by the margin reaches."""
    mh, mw = mcu
    x0, y0, x1, y1 = box
    r0, c0 = max(0, y0 - MARGIN_PX) // mh, max(0, x0 - MARGIN_PX) // mw
    r1 = math.ceil(min(shape[0], y1 + MARGIN_PX + 1) / mh)
    c1 = math.ceil(min(shape[1], x1 + MARGIN_PX + 1) / mw)
    return r0, r1, c0, c1


def outside(plane: np.ndarray, window, factor) -> np.ndarray:
    """Boolean block mask of a component: True for blocks outside the MCU window."""
    r0, r1, c0, c1 = window
    v, h = factor
    keep = np.ones(plane.shape[:2], bool)
    keep[r0 * v : r1 * v, c0 * h : c1 * h] = False
    return keep


def assert_only_window_changed(src: Coefs, out: Coefs, window) -> None:
    assert out.factors == src.factors
    for a, b in zip(src.qt, out.qt, strict=True):
        np.testing.assert_array_equal(a, b)
    for p_in, p_out, f in zip(src.planes, out.planes, src.factors, strict=True):
        assert p_in.shape == p_out.shape
        keep = outside(p_in, window, f)
        np.testing.assert_array_equal(p_in[keep], p_out[keep])


def stroke_contrast(with_text: np.ndarray, without: np.ndarray, box, strokes: np.ndarray) -> float:
    """Mean of text strokes minus mean of the rest of the box, on the difference to a text-free twin."""
    x0, y0, x1, y1 = box
    diff = (with_text - without)[y0:y1, x0:x1]
    if diff.ndim == 3:
        diff = diff.mean(axis=2)
    return float(diff[strokes].mean() - diff[~strokes].mean())


def check_redaction(tmp_path, lab, base, box, style: str, **save) -> bytes:
    """Redact the label; assert every acceptance property; return the output."""
    src, twin = encode(lab, **save), encode(base, **save)
    red = [Redaction(Region.box(*box, "text"), style)]
    out, twin_out = redact_dct(src, red), redact_dct(twin, red)

    c_in, c_out = read_coefs(src, tmp_path), read_coefs(out, tmp_path)
    assert c_out.progressive == c_in.progressive
    assert read_layout(out).process == read_layout(src).process
    px_in, px_out = decode(src), decode(out)
    window = mcu_window(box, c_in.mcu, px_in.shape)
    assert_only_window_changed(c_in, c_out, window)

    # Decoded pixels beyond one MCU around the window are identical (chroma upsampling reaches 1 px out).
    mh, mw = c_in.mcu
    r0, r1, c0, c1 = window
    keep = np.ones(px_in.shape[:2], bool)
    keep[max(0, (r0 - 1) * mh) : (r1 + 1) * mh, max(0, (c0 - 1) * mw) : (c1 + 1) * mw] = False
    np.testing.assert_array_equal(px_in[keep], px_out[keep])
    assert not np.array_equal(px_in, px_out)

    # Inside: the label keeps under 5% of its contrast against its own surroundings.
    x0, y0, x1, y1 = box
    d0 = (decode(src) - decode(twin))[y0:y1, x0:x1]
    strokes = (d0.mean(axis=2) if d0.ndim == 3 else d0) > 40
    assert strokes.mean() > 0.05
    before = stroke_contrast(decode(src), decode(twin), box, strokes)
    after = stroke_contrast(decode(out), decode(twin_out), box, strokes)
    assert before > 100
    assert abs(after) < 0.05 * before
    if style == "fill":
        # Black, neutral chroma; a flat MCU the fill only grazes is left as it was, and chroma upsampling
        # from it tints the box's outer row by a level or two.
        assert px_out[y0:y1, x0:x1].max() <= 4
    return out


@pytest.mark.parametrize("style", ["fill", "pixelate"])
@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_colour_redaction_changes_only_its_mcus(tmp_path, subsampling, progressive, style):
    lab, base, box = labelled(_photos().astronaut())
    check_redaction(tmp_path, lab, base, box, style, subsampling=subsampling, progressive=progressive)


@pytest.mark.parametrize("progressive", [False, True])
def test_grayscale(tmp_path, progressive):
    lab, base, box = labelled(_photos().camera(), mode="L", at=(60, 420))
    out = check_redaction(tmp_path, lab, base, box, "pixelate", progressive=progressive)
    assert len(read_layout(out).factors) == 1


def test_restart_intervals_are_read(tmp_path):
    lab, base, box = labelled(_photos().coffee())
    src = encode(lab, subsampling=2, restart_marker_blocks=7)
    assert read_layout(src).restart_interval == 7
    check_redaction(tmp_path, lab, base, box, "fill", subsampling=2, restart_marker_blocks=7)


def test_partial_edge_mcus(tmp_path):
    """A size that is no multiple of the MCU, redacted at the bottom-right corner."""
    photo = _photos().coffee()[:389, :583]
    lab, base, box = labelled(photo, at=(390, 360))
    check_redaction(tmp_path, lab, base, box, "fill", subsampling=2)


@pytest.mark.parametrize("progressive", [False, True])
def test_second_scrub_has_no_generation_loss(tmp_path, progressive):
    lab, _, box = labelled(_photos().astronaut())
    first = redact_dct(
        encode(lab, subsampling=2, progressive=progressive), [Redaction(Region.box(*box, "text"), "fill")]
    )
    face = (170, 60, 300, 200)
    second = redact_dct(first, [Redaction(Region.box(*face, "face"), "pixelate")])
    c1, c2 = read_coefs(first, tmp_path), read_coefs(second, tmp_path)
    assert_only_window_changed(c1, c2, mcu_window(face, c1.mcu, decode(first).shape))
    assert not all(np.array_equal(a, b) for a, b in zip(c1.planes, c2.planes, strict=True))


@pytest.mark.parametrize("progressive", [False, True])
def test_empty_list_keeps_pixels(tmp_path, progressive):
    src = encode(Image.fromarray(_photos().chelsea()), subsampling=1, progressive=progressive)
    out = redact_dct(src, [])
    np.testing.assert_array_equal(decode(src), decode(out))
    c_in, c_out = read_coefs(src, tmp_path), read_coefs(out, tmp_path)
    for a, b in zip(c_in.planes, c_out.planes, strict=True):
        np.testing.assert_array_equal(a, b)


def test_rotated_polygon_touches_only_its_mcus(tmp_path):
    src = encode(Image.fromarray(_photos().astronaut()), subsampling=2)
    poly = Region(((200.0, 100.0), (260.0, 160.0), (200.0, 220.0), (140.0, 160.0)), "text")
    out = redact_dct(src, [Redaction(poly, "fill")])
    c_in, c_out = read_coefs(src, tmp_path), read_coefs(out, tmp_path)
    assert_only_window_changed(c_in, c_out, mcu_window(poly.bbox(), c_in.mcu, (512, 512)))
    # The diamond's corners of the bounding box are not redacted: the polygon is followed, not its box.
    corner = decode(out)[100:112, 140:152]
    np.testing.assert_array_equal(corner, decode(src)[100:112, 140:152])
    assert decode(out)[155:165, 195:205].max() <= 2


def test_metadata_segments_are_carried(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    icc = b"\x00" * 128 + b"fake profile body"
    lab, _, box = labelled(_photos().astronaut())
    for progressive in (False, True):
        src = encode(lab, exif=exif, icc_profile=icc, progressive=progressive)
        out = redact_dct(src, [Redaction(Region.box(*box, "text"), "fill")])
        with Image.open(io.BytesIO(out)) as im:
            assert im.getexif()[0x0112] == 6
            assert im.info.get("icc_profile") == icc
        assert out.count(b"JFIF\x00") == 1


def test_blur_is_refused():
    src = encode(Image.fromarray(_photos().astronaut()))
    with pytest.raises(DctUnsupported):
        redact_dct(src, [Redaction(Region.box(10, 10, 50, 50, "face"), "blur")])


def _patched_sof(data: bytes, marker: int | None = None, precision: int | None = None) -> bytes:
    pos = data.index(b"\xff\xc0")
    out = bytearray(data)
    if marker is not None:
        out[pos + 1] = marker
    if precision is not None:
        out[pos + 4] = precision
    return bytes(out)


@pytest.mark.parametrize(
    "patch",
    [
        {"marker": 0xC9},  # arithmetic coding
        {"marker": 0xCA},  # arithmetic progressive
        {"marker": 0xC3},  # lossless
        {"marker": 0xC5},  # hierarchical
        {"precision": 12},
    ],
)
def test_unsupported_flavours_are_refused(patch):
    src = encode(Image.fromarray(_photos().astronaut()))
    assert unsupported_reason(src) is None
    bad = _patched_sof(src, **patch)
    assert unsupported_reason(bad)
    with pytest.raises(DctUnsupported):
        redact_dct(bad, [Redaction(Region.box(10, 10, 50, 50, "text"), "fill")])


def test_an_rgb_jpeg_is_filled_black_in_every_component(tmp_path):
    """A JPEG without a colour transform (Adobe flag 0: R, G and B coded as they are) was re-encoded
    whole; on coefficients each component takes the black DC, not the first alone (that made green)."""
    src = encode(Image.fromarray(_photos().astronaut()), keep_rgb=True)
    assert read_layout(src).color == "rgb"
    out = redact_dct(src, [Redaction(Region.box(100, 100, 199, 139, "text"), "fill")])
    after, before = decode(out), decode(src)
    assert after.shape == before.shape and after[100:140, 100:200].max() <= 4
    a, b = read_coefs(src, tmp_path), read_coefs(out, tmp_path)
    far = np.ones(a.planes[0].shape[:2], bool)
    far[10:20, 10:28] = False  # the redacted blocks and their margin (x 96-207, y 96-143), blocks of 8 px
    assert all(np.array_equal(p[far], q[far]) for p, q in zip(a.planes, b.planes, strict=True))


def test_cmyk_is_refused():
    src = encode(Image.fromarray(_photos().astronaut()).convert("CMYK"))
    assert read_layout(src).color == "cmyk"
    assert unsupported_reason(src)
    with pytest.raises(DctUnsupported):
        redact_dct(src, [])


@pytest.mark.parametrize(
    "data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\xff\xd8\xff\xda\x00\x02"]
)
def test_corrupt_headers(data):
    assert unsupported_reason(data)
    with pytest.raises(CorruptFile):
        redact_dct(data, [])


@given(st.integers(min_value=1, max_value=255))
def test_fill_dc_decodes_to_black_and_neutral(q):
    mean = fill_dc(q, dark=True) * q / 8 + 128  # block mean after the level shift
    assert -q / 8 < mean <= 0
    assert fill_dc(q, dark=False) == 0


def test_deterministic_and_ignores_regions_off_the_frame(tmp_path):
    src = encode(Image.fromarray(_photos().astronaut()), subsampling=2, progressive=True)
    reds = [Redaction(Region.box(40, 40, 90, 70, "text"), "pixelate")]
    assert redact_dct(src, reds) == redact_dct(src, reds)
    off = redact_dct(src, [Redaction(Region.box(600, 600, 700, 650, "text"), "fill")])
    for a, b in zip(read_coefs(src, tmp_path).planes, read_coefs(off, tmp_path).planes, strict=True):
        np.testing.assert_array_equal(a, b)


def test_shared_corpus_jpegs(shared_dir):
    """Camera JPEGs with maker notes, odd sizes and trailers: redacted or refused, never a crash."""
    paths = sorted(p for p in (shared_dir / "corpora").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not paths:
        pytest.skip("no JPEGs in the shared corpora")
    done = 0
    for path in paths:
        data = path.read_bytes()
        try:
            out = redact_dct(data, [Redaction(Region.box(0, 0, 6, 6, "text"), "fill")])
        except (DctUnsupported, CorruptFile):  # a clear refusal: the caller re-encodes or fails the file
            continue
        src_px, out_px = decode(data), decode(out)
        assert src_px.shape == out_px.shape
        np.testing.assert_array_equal(src_px[40:, 40:], out_px[40:, 40:])
        done += 1
    assert done >= len(paths) // 2


def test_report_says_when_and_why_pixels_were_re_encoded(tmp_path):
    """Fill stays in the DCT domain and says nothing; blur and --reencode decode, and the report says so."""
    from deident.formats.base import Context, Source, open_document
    from deident.keys import Keyring
    from deident.options import Options
    from deident.regions import Redaction, Region

    path = tmp_path / "photo.jpg"
    Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(path, quality=90)
    box = Region(((8.0, 8.0), (40.0, 8.0), (40.0, 30.0), (8.0, 30.0)), "text", "text line")
    for style, options, expected in (
        ("fill", Options(jobs=1), None),
        ("blur", Options(jobs=1), "blur needs decoded pixels"),
        ("fill", Options(jobs=1, reencode=True), "--reencode"),
    ):
        doc = open_document(Source(path))
        ctx = Context(options, Keyring(b"k" * 32))
        found = doc.redact(0, [Redaction(box, style)], ctx) + doc.redact(0, [Redaction(box, style)], ctx)
        notes = [f.detail for f in found if f.kind == "jpeg.reencoded"]  # once per file, however many calls
        why = f"decoded and re-encoded with the input's quantisation tables ({expected})"
        assert notes == ([] if expected is None else [why])


# ---------------------------------------------------------------- fill: no colour left, no padding left


PLANTED = "DOE 4853"


@pytest.mark.parametrize("subsampling", [0, 2])
def test_fill_leaves_no_colour_of_the_text(tmp_path, subsampling):
    """Red text on grey: inside the polygon Cb and Cr decode flat and neutral, so no colour of the glyphs
    is left under the black (read as raw YCbCr by Pillow's draft mode, no colour conversion)."""
    grey = np.full((512, 512, 3), 128, np.uint8)
    img = Image.fromarray(grey)
    draw = ImageDraw.Draw(img)
    draw.text((37, 301), PLANTED, fill=(230, 20, 20), font_size=40)
    x0, y0, x1, y1 = draw.textbbox((37, 301), PLANTED, font_size=40)
    poly = Region.box(x0 - 1, y0 - 1, x1 + 1, y1 + 1, "text")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, subsampling=subsampling)
    out = redact_dct(buf.getvalue(), [Redaction(poly, "fill")])

    def ycc(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("YCbCr", im.size)
            assert im.mode == "YCbCr"
            return np.asarray(im).astype(np.int32)

    before, after = ycc(buf.getvalue()), ycc(out)
    box = (slice(y0 - 1, y1 + 2), slice(x0 - 1, x1 + 2))
    assert np.ptp(before[box][..., 2]) > 60  # the planted text's red is in Cr
    assert np.abs(after[box][..., 1:] - 128).max() <= 2
    # Luma: black over every glyph; a flat MCU the polygon only grazes may stay the plain grey it was.
    luma, ink = after[box][..., 0], np.abs(before[box] - 128).max(axis=2) > 12
    assert luma[ink].max() <= 2
    assert ((luma <= 2) | (np.abs(luma - 128) <= 2)).all()


@pytest.mark.parametrize("subsampling", [0, 2])
def test_a_fill_at_the_edge_hides_the_coded_padding_too(subsampling):
    """A frame 101 px wide codes its last blocks beyond the edge, where libjpeg repeats the edge pixels: a
    raised frame header shows them. A fill whose margin reaches the edge leaves nothing of what it covers
    there either (judged by Pillow on the header raised to whole blocks): painted blocks re-coded the
    covered stripes into the padding before the padding was painted with its edge."""
    import struct

    from deident.formats.jpeg import SOF, walk

    img = np.full((64, 101, 3), 200, np.uint8)
    img[20:44:4, 90:] = 0  # dark stripes running into the edge: what the fill covers
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=95, subsampling=subsampling)
    out = redact_dct(buf.getvalue(), [Redaction(Region.box(80, 16, 99, 48, "text"), "fill")])  # + margin
    coded = 104 if subsampling == 0 else 112  # whole MCUs: 8 px, or 16 px across in 4:2:0
    sof = next(s for s in walk(out).chunks if s.marker in SOF)
    raised = out[: sof.start + 5] + struct.pack(">HH", 64, coded) + out[sof.start + 9 :]
    shown = np.asarray(Image.open(io.BytesIO(raised)).convert("L"), dtype=np.int16)
    assert shown.shape == (64, coded)
    assert shown[18:46, 80:].max() <= 12  # the fill and the padding beyond it: black, no stripes


# ---------------------------------------------------------------- fill: MCUs a fill only grazes


def _ink(rows: slice, cols: slice, size=(128, 256)) -> Image.Image:
    """Plain grey with a black block of 'ink' (stands for a line of text)."""
    grey = np.full((*size, 3), 128, np.uint8)
    grey[rows, cols] = 0
    return Image.fromarray(grey)


@pytest.mark.parametrize("subsampling, mcu", [(0, 8), (2, 16)])
def test_a_flat_mcu_row_the_fill_only_grazes_is_left_as_it_was(subsampling, mcu):
    """The box reaches 2 px (4 with the margin) into the plain MCU row under the ink: that row is not
    blackened, while every MCU holding ink is."""
    below = 3 * mcu  # first row of the MCU row under the ink
    img = _ink(slice(mcu, below), slice(40, 200))
    src = encode(img, subsampling=subsampling)
    out = redact_dct(src, [Redaction(Region.box(36, mcu - 2, 204, below + 2, "text"), "fill")])
    before, after = decode(src), decode(out)
    assert after[mcu:below, 40:200].max() <= 4  # the ink is black
    np.testing.assert_array_equal(after[below + mcu :], before[below + mcu :])
    assert np.abs(after[below : below + mcu] - before[below : below + mcu]).max() <= 2  # grazed, kept


@pytest.mark.parametrize("subsampling, mcu", [(0, 8), (2, 16)])
def test_a_grazed_mcu_row_holding_ink_is_filled(subsampling, mcu):
    """The same box, but a descender reaches into the grazed row: the MCUs it touches are filled."""
    below = 3 * mcu
    img = _ink(slice(mcu, below), slice(40, 200))
    pixels = np.asarray(img).copy()
    pixels[below : below + 2, 100:104] = 0  # a descender's tip, inside the box
    src = encode(Image.fromarray(pixels), subsampling=subsampling)
    out = redact_dct(src, [Redaction(Region.box(36, mcu - 2, 204, below + 2, "text"), "fill")])
    assert decode(out)[below : below + 2, 100:104].max() <= 4


def test_a_grazed_flat_mcu_inside_a_fill_is_filled_no_hole():
    """Two stacked lines graze the MCU row between them under half each, but together over half: filled.
    And the flat MCUs of a grazed row walled in by filled ones are filled too (no hole)."""
    img = _ink(slice(16, 36), slice(32, 224))
    pixels = np.asarray(img).copy()
    pixels[36:46, 32:48] = pixels[36:46, 208:224] = 0  # descenders at both ends reach the next row
    pixels[52:76, 32:224] = 0  # the second line
    src = encode(Image.fromarray(pixels), subsampling=2)
    reds = [
        Redaction(Region.box(30, 14, 226, 38, "text"), "fill"),
        Redaction(Region.box(30, 50, 226, 78, "text"), "fill"),
    ]
    after = decode(redact_dct(src, reds))
    assert after[16:76, 48:208].max() <= 4  # one black patch from the first line's top to the second's foot


def test_faint_text_astride_an_mcu_row_is_filled():
    """A line 8 grey levels off its ground, across the boundary of two 16-px MCU rows: every MCU is under
    half inside the box, so only the flatness test keeps it in the fill. Its blocks span more than the
    text stage's no-ink level; none of its ink may stay as it was (a level of 12 left 101 pixels)."""
    img = Image.new("RGB", (256, 64), (12, 12, 12))
    draw = ImageDraw.Draw(img)
    draw.text((20, 7), "JOHN SMITH 12345", fill=(20, 20, 20), font_size=12)
    box = draw.textbbox((20, 7), "JOHN SMITH 12345", font_size=12)
    src = _jpeg(img, quality=95, subsampling=2)
    before = decode(src)
    ink = np.abs(np.asarray(img).astype(int) - 12).max(axis=2) >= 6
    assert ink.sum() > 150
    after = decode(redact_dct(src, [Redaction(Region.box(*box, "text"), "fill")]))
    assert (after[ink] == before[ink]).all(axis=1).sum() == 0


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()
