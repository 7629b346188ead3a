"""Issue 18: every kept byte is one a decoder uses; pixels hidden behind a smaller declared size are not
copied; truncated image data is refused in every mode.

Each case is built here; the assertions use Pillow, zlib and planted sentinels, never deident's check.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from deident.batch import check_paths, scrub_paths
from deident.findings import Status
from deident.formats.base import Source, open_document
from deident.options import FaceMode, Options, TextMode
from support import need
from support.photos import (
    bars,
    gif_icc_profile,
    grey_tiff,
    png_chunks,
    png_file,
    riff,
    riff_body,
    riff_chunks,
    sub_blocks,
)
from support.planted import SRGB_ICC, ctx, scrub_bytes

SENTINEL = b"MRK-HIDDEN-Doe-Jane-MRN4455667"
METADATA_ONLY = {"text": TextMode.OFF, "faces": FaceMode.OFF}


# ---------------------------------------------------------------- JPEG


def _jpeg(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def _with_height(data: bytes, height: int) -> bytes:
    """The same JPEG with its SOF0 height set to ``height`` (the crop an editor might write)."""
    i = data.index(b"\xff\xc2") if b"\xff\xc2" in data else data.index(b"\xff\xc0")  # SOF2 or SOF0
    return data[: i + 5] + struct.pack(">H", height) + data[i + 7 :]


def _decode(data: bytes) -> np.ndarray:
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.int16)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


@pytest.mark.parametrize("metadata_only", [False, True])
@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_rows_below_the_declared_height_are_not_copied(tmp_path, progressive, metadata_only):
    full = _jpeg(bars(), progressive=progressive)  # no restart markers: only decoding finds the end
    cropped = _with_height(full, 32)  # the black half is still coded after the white half
    assert _decode(_with_height(cropped, 64))[40:].mean() < 40  # the leak: restore the height, see it
    path = tmp_path / "crop.jpg"
    path.write_bytes(cropped)
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY) if metadata_only else None)
    assert "jpeg.scan" in {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(cropped))  # the declared picture is untouched
    assert _decode(_with_height(out, 64))[40:].mean() > 100  # nothing of the black half is left


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_bytes_after_the_last_coded_unit_are_dropped(tmp_path, progressive):
    data = _jpeg(bars(), progressive=progressive)
    eoi = data.rindex(b"\xff\xd9")
    path = tmp_path / "tail.jpg"
    path.write_bytes(data[:eoi] + SENTINEL + data[eoi:])
    out, findings = scrub_bytes(path)
    assert SENTINEL not in out and "jpeg.scan" in {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(data))


def test_jpeg_extra_restart_intervals_are_cut_even_in_a_metadata_only_run(tmp_path):
    full = _jpeg(bars(), restart_marker_rows=1)
    cropped = _with_height(full, 32)
    path = tmp_path / "rst.jpg"
    path.write_bytes(cropped)
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert "jpeg.scan" in {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(cropped))
    assert _decode(_with_height(out, 64))[40:].mean() > 100


def test_jpeg_unused_tables_and_dnl_are_dropped(tmp_path):
    data = _jpeg(bars())
    sos = data.index(b"\xff\xda")
    unused_dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x03" + SENTINEL.ljust(64, b"!")
    dnl = b"\xff\xdc\x00\x04\x00\x40"
    dac = b"\xff\xcc" + struct.pack(">H", 2 + 2 * len(SENTINEL)) + SENTINEL * 2  # arithmetic-only table
    eoi = data.rindex(b"\xff\xd9")
    path = tmp_path / "tables.jpg"
    path.write_bytes(data[:sos] + unused_dqt + dac + data[sos:eoi] + dnl + data[eoi:])
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and b"\xff\xdc" not in out and b"\xff\xcc" not in out
    assert {"jpeg.table", "jpeg.dnl"} <= {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(data))


def test_a_dicom_fragments_jpeg_filter_cuts_what_follows_the_coded_data():
    from deident.dicom.fragments import filter_jpeg

    data = _jpeg(bars())
    eoi = data.rindex(b"\xff\xd9")
    out, dropped = filter_jpeg(data[:eoi] + SENTINEL + data[eoi:])
    assert SENTINEL not in out and [d.kind for d in dropped] == ["dicom.pixel-data.jpeg.scan"]
    assert filter_jpeg(out)[1] == []
    assert np.array_equal(_decode(out), _decode(data))


@pytest.mark.parametrize(
    "how",
    [
        "arithmetic (SOF9)",
        "arithmetic progressive (SOF10)",
        "lossless (SOF3)",
        "hierarchical (DHP)",
        "two frames",
    ],
)
def test_jpeg_whose_coded_data_cannot_be_walked_is_refused(tmp_path, how):
    data = _jpeg(bars())
    sof = data.index(b"\xff\xc0")
    sof_segment = data[sof : sof + 2 + struct.unpack(">H", data[sof + 2 : sof + 4])[0]]
    made = {
        "arithmetic (SOF9)": data.replace(b"\xff\xc0", b"\xff\xc9", 1),
        "arithmetic progressive (SOF10)": data.replace(b"\xff\xc0", b"\xff\xca", 1),
        "lossless (SOF3)": data.replace(b"\xff\xc0", b"\xff\xc3", 1),
        "hierarchical (DHP)": data[:sof] + b"\xff\xde" + sof_segment[2:] + data[sof:],
        "two frames": data[:sof] + sof_segment + data[sof:],
    }[how]
    path = tmp_path / "odd.jpg"
    path.write_bytes(made[:-2] + SENTINEL + made[-2:])  # after the scan: copied unchecked, it would stay
    out_dir = tmp_path / "out"
    for options in (
        Options(jobs=1, output_dir=out_dir, **METADATA_ONLY),
        Options(jobs=1, output_dir=out_dir),
    ):
        (result,) = scrub_paths([path], options)
        assert result.status is Status.FAILED and "not supported" in result.reason
    assert not out_dir.exists() or not any(out_dir.iterdir())
    (checked,) = check_paths([path], Options(jobs=1, **METADATA_ONLY))
    assert checked.status is Status.FAILED


@pytest.mark.parametrize("marker", [0xC0, 0xDA, 0xDD], ids=["SOF0", "SOS", "DRI"])
def test_a_jpeg_header_segment_longer_than_its_fields_is_refused(tmp_path, marker):
    """SOF, SOS and DRI segments were copied at their declared length: bytes after their fields (a name)
    went into a metadata-only output reported safe, which no decoder opens (libjpeg: "Bogus marker
    length"). Such a file is refused in every mode, nothing written."""
    from support.runs import cli

    data = _jpeg(bars())
    if marker == 0xDD:
        data = data[:2] + b"\xff\xdd\x00\x04\x00\x00" + data[2:]
    at = data.index(bytes([0xFF, marker]))
    length = struct.unpack(">H", data[at + 2 : at + 4])[0]
    body = data[at + 4 : at + 2 + length] + SENTINEL
    path = tmp_path / "long.jpg"
    path.write_bytes(
        data[:at] + bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body + data[at + 2 + length :]
    )
    out = tmp_path / "out"
    for mode in (("--text", "off", "--faces", "off"), ("--faces", "off")):
        run = cli("scrub", path, "-o", out, *mode)
        assert run.returncode == 1 and b"longer than its fields" in run.stdout, run.stdout
    assert not out.exists() or not [p for p in out.rglob("*") if SENTINEL in p.read_bytes()]
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


@pytest.mark.slow
def test_check_finds_hidden_rows_when_it_looks_at_pixels(tmp_path):
    path = tmp_path / "crop.jpg"
    path.write_bytes(_with_height(_jpeg(bars()), 32))
    (result,) = check_paths([path], Options(faces=FaceMode.OFF, jobs=1))
    assert result.status is Status.UNSAFE
    assert "jpeg.scan" in {f.kind for f in result.findings}


# ---------------------------------------------------------------- PNG


def _png_of(img: Image.Image, **save) -> list[tuple[bytes, bytes]]:
    buf = io.BytesIO()
    img.save(buf, "PNG", **save)
    return png_chunks(buf.getvalue())


def _with_ihdr(chunks, width: int, height: int):
    (_, ihdr), *rest = chunks
    return [(b"IHDR", struct.pack(">II", width, height) + ihdr[8:]), *rest]


def _idat(data: bytes) -> bytes:
    return b"".join(b for t, b in png_chunks(data) if t == b"IDAT")


def test_png_rows_below_the_declared_height_are_not_copied(tmp_path):
    chunks = _png_of(bars())
    path = tmp_path / "crop.png"
    path.write_bytes(png_file(_with_ihdr(chunks, 64, 32)))
    assert len(zlib.decompress(_idat(path.read_bytes()))) == 64 * (1 + 64 * 3)  # the leak
    out, findings = scrub_bytes(path)
    assert "png.IDAT" in {f.kind for f in findings}
    assert len(zlib.decompress(_idat(out))) == 32 * (1 + 64 * 3)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(bars())[:32])


def test_png_bytes_after_the_zlib_stream_are_cut(tmp_path):
    chunks = _png_of(bars())
    chunks = [(t, b + SENTINEL if t == b"IDAT" else b) for t, b in chunks]
    path = tmp_path / "tail.png"
    path.write_bytes(png_file(chunks))
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and "png.IDAT" in {f.kind for f in findings}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(bars()))


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _passes(pixels: np.ndarray, interlace: bool) -> list[np.ndarray]:
    return [pixels[y::dy, x::dx] for x, y, dx, dy in _ADAM7] if interlace else [pixels]


def _filtered(rows: np.ndarray) -> bytes:
    """Scanlines of one reduced image, filter types 0-4 in turn (PNG 9.2; one byte per filter unit)."""
    out, prior = [], np.zeros(rows.shape[1], np.int16)
    for y, row in enumerate(rows.astype(np.int16)):
        kind, left = y % 5, np.concatenate([[0], row[:-1]])
        upleft = np.concatenate([[0], prior[:-1]])
        p = left + prior - upleft
        pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upleft)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        guess = [0, left, prior, (left + prior) // 2, paeth][kind]
        out.append(bytes([kind]) + ((row - guess) % 256).astype(np.uint8).tobytes())
        prior = row
    return b"".join(out)


def _unfiltered(data: bytes, widths: list[tuple[int, int]], bits: int) -> list[np.ndarray]:
    """The scanline bytes of each reduced image (an independent reader: PNG 9.2 by hand)."""
    images, at = [], 0
    for w, h in widths:
        stride = (w * bits + 7) // 8
        prior, rows = [0] * stride, []
        for _ in range(h if w else 0):
            kind, line, at = data[at], data[at + 1 : at + 1 + stride], at + 1 + stride
            row: list[int] = []
            for x, value in enumerate(line):
                a, b, c = (row[x - 1] if x else 0), prior[x], (prior[x - 1] if x else 0)
                p = a + b - c
                paeth = (
                    a
                    if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c)
                    else b
                    if abs(p - b) <= abs(p - c)
                    else c
                )
                row.append((value + [0, a, b, (a + b) // 2, paeth][kind]) % 256)
            rows.append(row)
            prior = row
        images.append(np.array(rows, np.uint8).reshape(-1, stride))
    return images


@pytest.mark.parametrize("interlace", [False, True])
def test_png_bits_past_the_last_pixel_of_each_row_are_cleared(tmp_path, interlace):
    """A 1-bit image 9 pixels wide codes 7 bits a row that no decoder shows: room for a name."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 2, (20, 9), dtype=np.uint8)
    hidden = np.unpackbits(np.frombuffer(SENTINEL * 4, np.uint8))
    scan, widths, used = b"", [], 0
    for part in _passes(pixels, interlace):
        packed = np.packbits(part, axis=1)  # spare bits zero
        spare = packed.shape[1] * 8 - part.shape[1]
        for row in packed:
            row[-1] |= np.packbits(hidden[used : used + spare], bitorder="big")[0] >> (8 - spare)
            used += spare
        widths.append(part.shape[1::-1])
        scan += _filtered(packed) if part.size else b""
    ihdr = struct.pack(">IIBBBBB", 9, 20, 1, 0, 0, 0, int(interlace))
    path = tmp_path / "bits.png"
    path.write_bytes(png_file([(b"IHDR", ihdr), (b"IDAT", zlib.compress(scan)), (b"IEND", b"")]))
    spare = [0xFF >> (w % 8) if w % 8 else 0 for w, _ in widths]  # the low bits of a row's last byte

    def planted(data: bytes) -> int:
        rows = _unfiltered(zlib.decompress(_idat(data)), widths, 1)
        return sum(
            int(np.count_nonzero(img[:, -1] & m)) for img, m in zip(rows, spare, strict=True) if img.size
        )

    assert planted(path.read_bytes()) > 10
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert any(f.kind == "png.IDAT" and "past the last pixel" in f.detail for f in findings)
    assert planted(out) == 0
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(path)))
    # a 1-bit image whose spare bits are clear already is copied as it was
    clean = tmp_path / "clean.png"
    Image.fromarray(pixels.astype(bool)).save(clean)
    out, findings = scrub_bytes(clean, ctx(**METADATA_ONLY))
    assert _idat(out) == _idat(clean.read_bytes()) and not findings


def test_an_apng_frame_with_bits_past_its_rows_is_refused(tmp_path):
    def control(seq: int) -> bytes:
        return struct.pack(">IIIIIHHBB", seq, 9, 4, 0, 0, 1, 10, 0, 0)

    clean, marked = b"\0\xff\x80" * 4, b"\0\xff\x80" * 3 + b"\0\xff\xc0"  # one spare bit set
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", 9, 4, 1, 0, 0, 0, 0)), (b"acTL", struct.pack(">II", 2, 0))]
    chunks += [(b"fcTL", control(0)), (b"IDAT", zlib.compress(clean)), (b"fcTL", control(1))]
    chunks += [(b"fdAT", struct.pack(">I", 2) + zlib.compress(marked)), (b"IEND", b"")]
    path = tmp_path / "anim.png"
    path.write_bytes(png_file(chunks))
    assert Image.open(path).n_frames == 2
    (result,) = scrub_paths([path], Options(jobs=1, output_dir=tmp_path / "out", **METADATA_ONLY))
    assert result.status is Status.FAILED and "past the last pixel" in result.reason
    assert not (tmp_path / "out" / "anim.png").exists()


def test_png_tables_are_kept_only_at_the_size_a_decoder_uses(tmp_path):
    planted = np.frombuffer(SENTINEL.ljust(30, b"!"), np.uint8)
    chunks = _png_of(bars())
    extra = [(b"PLTE", planted.tobytes()), (b"mDCv", SENTINEL[:24]), (b"cLLi", SENTINEL[:8])]
    path = tmp_path / "rgb-plte.png"
    path.write_bytes(png_file(chunks[:1] + extra + chunks[1:]))
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL[:8] not in out
    assert {"png.PLTE", "png.mDCv", "png.cLLi"} <= {f.kind for f in findings}
    # A 1-bit palette image: two palette entries reachable, transparency for those two only.
    pal = _png_of(bars().convert("1").convert("P"), bits=1)
    pal = [(t, (b[:6] + SENTINEL) if t == b"PLTE" else b) for t, b in pal]
    pal.insert(2, (b"tRNS", b"\xff\x00" + SENTINEL))
    path = tmp_path / "pal.png"
    path.write_bytes(png_file(pal))
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL[:3] not in out and {"png.PLTE", "png.tRNS"} <= {f.kind for f in findings}
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(out)).convert("RGBA")), np.asarray(Image.open(path).convert("RGBA"))
    )


@pytest.mark.parametrize("mode", ["scrub", "check"])
def test_a_header_larger_than_its_image_data_is_a_truncated_file_in_every_mode(tmp_path, mode):
    chunks = _with_ihdr(_png_of(bars()), 40000, 40000)
    path = tmp_path / "big.png"
    path.write_bytes(png_file(chunks))
    options = Options(jobs=1, max_pixels=2_000_000_000, output_dir=tmp_path / "out", **METADATA_ONLY)
    (result,) = (scrub_paths if mode == "scrub" else check_paths)([path], options)
    assert result.status is Status.FAILED and "truncated" in result.reason
    assert not (tmp_path / "out" / "big.png").exists()


@pytest.mark.parametrize("fmt", ["png", "jpeg", "gif", "webp", "tiff"])
def test_max_pixels_is_checked_from_the_header_in_a_metadata_only_run(tmp_path, fmt):
    path = tmp_path / f"x.{fmt}"
    bars(64, 64).save(path, fmt.upper())
    options = Options(jobs=1, max_pixels=1000, output_dir=tmp_path / "out", **METADATA_ONLY)
    (result,) = scrub_paths([path], options)
    assert result.status is Status.FAILED and "--max-pixels" in result.reason
    (result,) = check_paths([path], options)
    assert result.status is Status.FAILED


def test_an_apng_default_image_outside_the_animation_is_scanned(tmp_path):
    frames = [bars(), Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue")]
    path = tmp_path / "anim.png"
    frames[0].save(path, save_all=True, append_images=frames[1:], default_image=True)
    assert Image.open(path).n_frames == 3  # a viewer shows the default image too
    doc = open_document(Source(path))
    shown = [f.rgb for f in doc.frames(ctx()) if not f.revealed]  # not the grey bars' local contrast
    assert len(shown) == 3 and shown[0][40:].mean() < 5  # the black half of the default image


# ---------------------------------------------------------------- ICC profiles (item 5)


def _mluc(text: bytes) -> bytes:
    utf16 = text.decode().encode("utf-16-be")
    return b"mluc\0\0\0\0" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(utf16), 28) + utf16


def _planted_profile() -> bytes:
    """A real sRGB profile whose description, device tags, a private tag and header name a patient."""
    base = SRGB_ICC
    (n,) = struct.unpack(">I", base[128:132])
    tags = [struct.unpack(">4sII", base[132 + 12 * i : 144 + 12 * i]) for i in range(n)]
    elements = [(sig, base[off : off + size]) for sig, off, size in tags if sig != b"desc"]
    elements += [
        (b"desc", _mluc(SENTINEL)),
        (b"dmnd", _mluc(SENTINEL)),
        (b"zzzz", b"text\0\0\0\0" + SENTINEL),
    ]
    header = base[4:48] + SENTINEL[:4] + base[52:80] + SENTINEL[4:8] + base[84:128]  # maker, creator
    return _assembled(header, elements)


def _assembled(header: bytes, elements: list[tuple[bytes, bytes]]) -> bytes:
    """A profile of ``header`` (bytes 4-127) and the tag elements, in order."""
    at, table, body = 132 + 12 * len(elements), [], b""
    for sig, element in elements:
        element += b"\0" * (-len(element) % 4)
        table.append(struct.pack(">4sII", sig, at + len(body), len(element)))
        body += element
    rest = struct.pack(">I", len(elements)) + b"".join(table) + body
    return struct.pack(">I", 128 + len(rest)) + header + rest


def _leaks(data: bytes) -> bool:
    return SENTINEL in data or SENTINEL.decode().encode("utf-16-be") in data or SENTINEL[:8] in data


def _gif_with_icc(profile: bytes) -> bytes:
    buf = io.BytesIO()
    bars().convert("P").save(buf, "GIF")
    data = buf.getvalue()
    at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    return data[:at] + b"!\xff\x0bICCRGBG1012" + sub_blocks(profile) + data[at:]


def _saved(fmt: str, profile: bytes) -> bytes:
    if fmt == "gif":
        return _gif_with_icc(profile)
    buf = io.BytesIO()
    bars().save(buf, fmt.upper(), icc_profile=profile, **({"lossless": True} if fmt == "webp" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "tiff", "webp", "gif"])
def test_icc_text_is_made_neutral_and_the_profile_still_parses(tmp_path, fmt):
    from PIL import ImageCms

    planted = _planted_profile()
    ImageCms.ImageCmsProfile(io.BytesIO(planted))  # a valid profile, as LittleCMS reads it
    data = _saved(fmt, planted)
    assert _leaks(data if fmt != "png" else zlib.decompress(png_chunks(data)[1][1].split(b"\0", 1)[1][1:]))
    path = tmp_path / f"icc.{fmt}"
    path.write_bytes(data)
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert "icc" in {f.kind for f in findings}
    written = _raw_profile(fmt, out)
    assert not _leaks(out) and not _leaks(written)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(written))
    assert ImageCms.getProfileDescription(profile).strip() == "ICC profile"
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(out)).convert("RGB")), np.asarray(Image.open(path).convert("RGB"))
    )


def _mab_profile() -> bytes:
    """The sRGB profile with an A2B0 lutAtoB (curves, a 2x2x2 grid from its primaries, curves) and
    the planted name in the room between the parts, where nothing reads."""
    base = SRGB_ICC
    (n,) = struct.unpack(">I", base[128:132])
    tags = [struct.unpack(">4sII", base[132 + 12 * i : 144 + 12 * i]) for i in range(n)]
    elements = [(sig, base[off : off + size]) for sig, off, size in tags]
    xyz = {sig: np.array(struct.unpack(">3i", el[8:20])) / 65536 for sig, el in elements if sig[1:] == b"XYZ"}
    corners = [
        r * xyz[b"rXYZ"] + g * xyz[b"gXYZ"] + b * xyz[b"bXYZ"] for r in (0, 1) for g in (0, 1) for b in (0, 1)
    ]
    grid = b"".join(struct.pack(">3H", *(min(0xFFFF, round(v * 0x8000)) for v in c)) for c in corners)
    curve = b"curv\0\0\0\0\0\0\0\0"  # identity
    gap = SENTINEL + b"\0" * (-len(SENTINEL) % 4)
    b_at = 32
    clut_at = b_at + 3 * len(curve) + len(gap)
    clut = bytes([2, 2, 2]) + b"\0" * 13 + b"\x02\0\0\0" + grid
    a_at = clut_at + len(clut) + (-len(clut) % 4) + len(gap)
    mab = (
        b"mAB \0\0\0\0\x03\x03\0\0"
        + struct.pack(">5I", b_at, 0, 0, clut_at, a_at)
        + curve * 3
        + gap
        + clut
        + b"\0" * (-len(clut) % 4)
        + gap
        + curve * 3
    )
    return _assembled(base[4:128], [*elements, (b"A2B0", mab)])


def _lut_profile(name: str) -> bytes:
    """LittleCMS's own profile for ``name`` (Lab: a lut16 A2B0) or the lutAtoB above, its last tag a
    look-up table: planted bytes in its reserved field and after its tables, inside the tag's size."""
    from PIL import ImageCms

    base = (
        _mab_profile() if name == "RGB" else ImageCms.ImageCmsProfile(ImageCms.createProfile(name)).tobytes()
    )
    (n,) = struct.unpack(">I", base[128:132])
    _, offset, size = struct.unpack(">4sII", base[132 + 12 * (n - 1) : 144 + 12 * (n - 1)])
    assert base[offset : offset + 4] in (b"mft2", b"mAB ") and offset + size == len(base)
    grown = bytearray(base + SENTINEL)
    grown[:4] = struct.pack(">I", len(grown))
    grown[132 + 12 * (n - 1) + 8 : 144 + 12 * (n - 1)] = struct.pack(">I", size + len(SENTINEL))
    grown[offset + 4 : offset + 8] = SENTINEL[:4]
    return bytes(grown)


@pytest.mark.parametrize("name", ["LAB", "RGB"])
def test_icc_look_up_tables_keep_only_what_a_colour_engine_reads(tmp_path, name):
    from PIL import ImageCms

    planted = _lut_profile(name)
    path = tmp_path / "lut.png"
    path.write_bytes(_saved("png", planted))
    out, _ = scrub_bytes(path, ctx(**METADATA_ONLY))
    written = _raw_profile("png", out)
    assert SENTINEL not in written and SENTINEL[:4] not in written and SENTINEL in planted
    srgb = ImageCms.createProfile("sRGB")
    mode = name
    sample = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8), mode)
    before, after = (
        ImageCms.applyTransform(
            sample, ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(p)), srgb, mode, "RGB")
        )
        for p in (planted, written)
    )
    assert np.array_equal(np.asarray(before), np.asarray(after))  # the same colours, table for table


def _raw_profile(fmt: str, data: bytes) -> bytes:
    """The profile as written, read without deident: Pillow, or the GIF extension's sub-blocks."""
    if fmt != "gif":
        return Image.open(io.BytesIO(data)).info["icc_profile"]
    return gif_icc_profile(data)


def _with_tone_curves(curve: bytes) -> bytes:
    """The sRGB profile with ``curve`` as its red, green and blue tone curves (one shared element)."""
    (n,) = struct.unpack(">I", SRGB_ICC[128:132])
    tags = [struct.unpack(">4sII", SRGB_ICC[132 + 12 * i : 144 + 12 * i]) for i in range(n)]
    elements = [
        (sig, curve if sig.endswith(b"TRC") else SRGB_ICC[off : off + size]) for sig, off, size in tags
    ]
    return _assembled(SRGB_ICC[4:128], elements)


def _curv(values: list[int]) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(f">I{len(values)}H", len(values), *values)


CARRIERS = {  # tone curves whose numbers are the planted name
    "curv": _curv([int.from_bytes(SENTINEL[i : i + 2], "big") for i in range(0, len(SENTINEL), 2)]),
    "para": b"para\0\0\0\0\0\4\0\0" + SENTINEL[:28],  # function 4: seven s15Fixed16 parameters
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
@pytest.mark.parametrize("fmt", ["jpeg", "png", "tiff", "webp", "gif"])
def test_a_tone_curve_that_is_no_tone_curve_drops_the_profile(tmp_path, fmt, carrier):
    """A curve whose entries rise and fall (or whose parameters no curve uses) is text, not colour."""
    from PIL import ImageCms

    planted = _with_tone_curves(CARRIERS[carrier])
    ImageCms.ImageCmsProfile(io.BytesIO(planted))  # LittleCMS reads it as a profile
    data = _saved(fmt, planted)
    assert SENTINEL[:16] in _raw_profile(fmt, data)
    path = tmp_path / f"curve.{fmt}"
    path.write_bytes(data)
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL[:4] not in out and b"HIDD" not in out
    assert "icc_profile" not in Image.open(io.BytesIO(out)).info or fmt == "gif"
    assert b"ICCRGBG1012" not in out
    assert [f.kind for f in findings if "tone curve" in f.detail] == ["icc"]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(path)))


def test_a_monotone_tone_curve_keeps_the_profile(tmp_path):
    """A 256-entry gamma curve, as camera and monitor profiles carry, is kept entry for entry."""
    curve = _curv([round(65535 * (i / 255) ** 2.2) for i in range(256)])
    path = tmp_path / "gamma.png"
    path.write_bytes(_saved("png", _with_tone_curves(curve)))
    out, _ = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert curve in Image.open(io.BytesIO(out)).info["icc_profile"]


@pytest.mark.parametrize("fmt", ["jpeg", "gif"])
def test_other_data_under_the_icc_name_is_dropped(tmp_path, fmt):
    fake = b"\0" * 36 + b"acsp" + SENTINEL * 4  # passes a look at the signature, parses as nothing
    path = tmp_path / f"fake.{fmt}"
    if fmt == "gif":
        path.write_bytes(_gif_with_icc(fake))
    else:
        data = _jpeg(bars())
        path.write_bytes(
            data[:2]
            + b"\xff\xe2"
            + struct.pack(">H", 16 + len(fake))
            + b"ICC_PROFILE\0\1\1"
            + fake
            + data[2:]
        )
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and "icc" in {f.kind for f in findings}
    assert "icc_profile" not in Image.open(io.BytesIO(out)).info


@pytest.mark.slow
def test_heic_icc_text_is_made_neutral(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    from PIL import ImageCms

    heif = pillow_heif.from_pillow(bars())
    buf = io.BytesIO()
    heif.save(buf, quality=90, icc_profile=_planted_profile())
    assert _leaks(buf.getvalue())
    path = tmp_path / "icc.heic"
    path.write_bytes(buf.getvalue())
    out, _ = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert not _leaks(out)
    written = pillow_heif.open_heif(io.BytesIO(out)).info["icc_profile"]
    assert (
        ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(written))).strip() == "ICC profile"
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["heic", "avif"])
def test_heif_tone_curve_that_is_no_tone_curve_drops_the_profile(tmp_path, fmt):
    """HEIC and AVIF are re-encoded with the profile alone: one that is no profile is not handed on."""
    pillow_heif = pytest.importorskip("pillow_heif")
    if fmt == "avif" and "AVIF" not in Image.registered_extensions().values():
        pytest.skip("Pillow writes no AVIF here")
    buf = io.BytesIO()
    planted = _with_tone_curves(CARRIERS["curv"])
    if fmt == "heic":
        pillow_heif.from_pillow(bars()).save(buf, quality=90, icc_profile=planted)
    else:
        bars().save(buf, "AVIF", quality=90, icc_profile=planted)
    assert SENTINEL[:16] in buf.getvalue()
    path = tmp_path / f"curve.{fmt}"
    path.write_bytes(buf.getvalue())
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL[:4] not in out and b"HIDD" not in out
    assert [f.kind for f in findings if "tone curve" in f.detail] == ["icc"]
    reread = pillow_heif.open_heif(io.BytesIO(out)) if fmt == "heic" else Image.open(io.BytesIO(out))
    assert not reread.info.get("icc_profile")


# ---------------------------------------------------------------- text in the alpha channel (item 3)


def _alpha_text(mode: str) -> Image.Image:
    """Uniform colour; a name and number drawn only in the alpha channel (a viewer shows them)."""
    from PIL import ImageDraw, ImageFont

    alpha = Image.new("L", (520, 90), 0)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", 40)
    ImageDraw.Draw(alpha).text((12, 18), "DOE JANE 4455667", fill=255, font=font)
    colour = Image.new("RGB" if mode == "RGBA" else "L", alpha.size, 0)
    return Image.merge(mode, (*colour.split(), alpha))


def _opened(data: bytes) -> Image.Image:
    if data[4:8] == b"ftyp":
        import pillow_heif

        return pillow_heif.open_heif(io.BytesIO(data)).to_pillow()
    return Image.open(io.BytesIO(data))


def _alpha_ocr(data: bytes) -> str:
    import pytesseract

    alpha = np.asarray(_opened(data).convert("RGBA"))[:, :, 3]
    return pytesseract.image_to_string(Image.fromarray(255 - alpha), config="--psm 7")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "mode"), [("png", "RGBA"), ("png", "LA"), ("webp", "RGBA"), ("tiff", "RGBA"), ("heic", "RGBA")]
)
def test_text_drawn_only_in_alpha_is_redacted(tmp_path, fmt, mode):
    path = tmp_path / f"alpha.{fmt}"
    if fmt == "heic":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.from_pillow(_alpha_text(mode)).save(path, quality=95)
    else:
        _alpha_text(mode).save(path, fmt.upper(), **({"lossless": True} if fmt == "webp" else {}))
    assert "4455667" in _alpha_ocr(path.read_bytes())
    assert np.ptp(np.asarray(_opened(path.read_bytes()).convert("RGB"))) <= 2  # nothing in the colours
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    assert result.status is Status.SAFE, result.reason
    text = _alpha_ocr((tmp_path / "o" / path.name).read_bytes())
    assert "4455667" not in text and "DOE" not in text and "JANE" not in text


def _name_mask(size: tuple[int, int] = (520, 90)) -> np.ndarray:
    from PIL import ImageDraw, ImageFont

    img = Image.new("L", size, 0)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", 40)
    ImageDraw.Draw(img).text((12, 18), "DOE JANE 4455667", fill=255, font=font)
    return np.asarray(img) > 127


def _ocr(grey: np.ndarray) -> str:
    import pytesseract

    padded = np.pad(grey.astype(np.uint8), 20, constant_values=255)
    return pytesseract.image_to_string(Image.fromarray(padded), config="--psm 7")


def _apng_frame_as_stored(data: bytes, n: int) -> np.ndarray:
    """Frame ``n`` (after the default image) as a frame extractor gives it: its fdAT data alone."""
    chunks = png_chunks(data)
    ihdr = chunks[0][1]
    controls = [i for i, (t, _) in enumerate(chunks) if t == b"fcTL"]
    at = controls[n]
    body = b"".join(b[4:] for t, b in chunks[at + 1 :] if t == b"fdAT")  # the last frame here
    w, h = struct.unpack(">II", chunks[at][1][4:12])
    single = png_file([(b"IHDR", struct.pack(">II", w, h) + ihdr[8:]), (b"IDAT", body), (b"IEND", b"")])
    return np.asarray(Image.open(io.BytesIO(single)).convert("RGBA"))


def _animated_webp(first: Image.Image, frame: Image.Image) -> bytes:
    """Two ANMF frames of lossless, exact data (colours under alpha 0 kept); the second blended."""

    def vp8l(img: Image.Image) -> tuple[bytes, bytes]:
        buf = io.BytesIO()
        img.save(buf, "WEBP", lossless=True, exact=True)
        return riff_chunks(buf.getvalue())[0]

    w, h = (v - 1 for v in first.size)
    size = w.to_bytes(3, "little") + h.to_bytes(3, "little")
    frames = [
        (b"ANMF", b"\0" * 6 + size + (500).to_bytes(3, "little") + bytes([flags]) + riff_body([vp8l(img)]))
        for img, flags in ((first, 2), (frame, 0))  # 2: do not blend, 0: blend
    ]
    return riff([(b"VP8X", bytes([0x12, 0, 0, 0]) + size), (b"ANIM", b"\0" * 6), *frames])


def _stored_frame(data: bytes, fmt: str) -> np.ndarray:
    """The second frame as a frame extractor gives it: its own image data alone."""
    if fmt == "webp":
        anmf = [b for t, b in riff_chunks(data) if t == b"ANMF"][1]
        return np.asarray(Image.open(io.BytesIO(riff(riff_chunks(anmf, 16)))).convert("RGBA"))
    return _apng_frame_as_stored(data, 1)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["png", "webp"])
@pytest.mark.parametrize("hidden", [True, False])
def test_an_animation_frame_blended_over_its_canvas_is_read_as_stored(tmp_path, hidden, fmt):
    """Blending OVER hides a frame's colours where its alpha is 0; a frame extractor shows them."""
    mask = _name_mask()
    first = Image.new("RGBA", (520, 90), (200, 200, 200, 255))
    colours = np.zeros((90, 520, 4), np.uint8)
    colours[..., :3] = 255
    colours[mask, :3] = 0 if hidden else 255
    frame = Image.fromarray(colours, "RGBA")
    path = tmp_path / f"anim.{fmt}"
    if fmt == "webp":
        path.write_bytes(_animated_webp(first, frame))
    else:
        first.save(path, save_all=True, append_images=[frame], blend=[0, 1], default_image=False)
    assert ("4455667" in _ocr(_stored_frame(path.read_bytes(), fmt)[..., 0])) is hidden
    img = Image.open(path)
    img.seek(1)
    assert np.ptp(np.asarray(img.convert("RGB"))) == 0  # a viewer shows the grey canvas only
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    out = tmp_path / "o" / path.name
    if hidden and fmt == "png":  # redacting an APNG is refused: the file fails, nothing is written
        assert result.status is Status.FAILED and not out.exists()
    elif hidden:
        assert result.status is Status.SAFE, result.reason
        assert "4455667" not in _ocr(_stored_frame(out.read_bytes(), fmt)[..., 0])
    else:
        assert result.status is Status.SAFE, result.reason
        assert out.read_bytes() == path.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_a_faint_label_in_a_deep_grey_picture_is_redacted(tmp_path, fmt):
    """A label 100 levels above a 16-bit field: flat in the min..max stretch (one pixel at 65535), plain
    under the window any viewer's contrast control sets."""
    mask = _name_mask((520, 120))
    values = np.full(mask.shape, 3000, np.uint16) + np.random.default_rng(0).integers(
        0, 20, mask.shape, np.uint16
    )
    values[mask] += 100
    values[0, 0] = 65535
    path = tmp_path / f"faint.{fmt}"
    Image.fromarray(values).save(path)

    def windowed(data: bytes) -> str:
        shown = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)
        return _ocr(np.clip((shown - 2950) * 255 / 250, 0, 255))

    assert "4455667" in windowed(path.read_bytes())
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    assert result.status is Status.SAFE, result.reason
    assert "4455667" not in windowed((tmp_path / "o" / path.name).read_bytes())


@pytest.mark.slow
def test_a_gif_frame_drawn_in_the_colour_under_it_is_read_as_stored(tmp_path):
    """A later frame, transparent but for a name in the very grey of the frame under it: flat once
    composed, plain in the frame a GIF frame extractor (gifsicle --explode, giflib) hands out alone."""
    mask = _name_mask()
    first = Image.fromarray(np.full(mask.shape, 2, np.uint8), "P")
    first.putpalette([0, 0, 0, 128, 128, 128, 128, 128, 128])
    frame = Image.fromarray(mask.astype(np.uint8), "P")
    frame.putpalette([0, 0, 0, 128, 128, 128])
    path = tmp_path / "anim.gif"
    first.save(path, save_all=True, append_images=[frame], optimize=False, disposal=1, transparency=0)
    img = Image.open(path)
    img.seek(1)
    assert np.ptp(np.asarray(img.convert("RGB"))) == 0  # a viewer shows one grey
    stored = np.asarray(_gif_image_alone(path.read_bytes(), 1))
    assert "4455667" in _ocr(np.where(stored == 0, 255, 0))  # the frame alone: grey text, transparent field
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    assert result.status is Status.SAFE, result.reason
    out = (tmp_path / "o" / path.name).read_bytes()
    for n in range(1, Image.open(io.BytesIO(out)).n_frames):
        stored = np.asarray(_gif_image_alone(out, n))
        assert all("4455667" not in _ocr(np.where(stored == u, 0, 255)) for u in np.unique(stored))


def _palette_image(mask: np.ndarray) -> Image.Image:
    """Entries 0 and 1 of one grey: every viewer shows a flat picture, the indices spell a name."""
    img = Image.fromarray(mask.astype(np.uint8), "P")
    img.putpalette([128, 128, 128] * 2)
    return img


def _gif_image_alone(data: bytes, n: int) -> Image.Image:
    """Image block ``n`` as a one-frame GIF (header, global table, the block): Pillow's indices of it."""
    from deident.formats import gif

    parsed = gif.walk(data)
    block = [b for b in parsed.blocks if b.kind == gif.IMAGE][n]
    end = next((b.start for b in parsed.blocks if b.start > block.start), len(data) - 1)
    head = bytearray(data[: parsed.header_end])
    head[6:10] = data[block.start + 5 : block.start + 9]  # the screen is the block's size
    return Image.open(io.BytesIO(bytes(head) + b"\x2c\0\0\0\0" + data[block.start + 5 : end] + b";"))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["png", "gif", "gif frame 1", "tif"])
def test_a_name_drawn_between_palette_entries_of_one_colour_is_redacted(tmp_path, where):
    mask = _name_mask()
    path = tmp_path / f"flat.{where[:3]}"
    if where == "gif frame 1":
        blank = _palette_image(np.zeros_like(mask))
        blank.save(path, save_all=True, append_images=[_palette_image(mask)], optimize=False, disposal=1)
    else:
        _palette_image(mask).save(path)

    def indices(data: bytes) -> np.ndarray:
        img = _gif_image_alone(data, 1) if where == "gif frame 1" else Image.open(io.BytesIO(data))
        return np.asarray(img)

    source = _gif_image_alone(path.read_bytes(), 1) if where == "gif frame 1" else Image.open(path)
    assert np.ptp(np.asarray(source.convert("RGB"))) == 0  # nothing a viewer can show
    assert "4455667" in _ocr(255 - 255 * (indices(path.read_bytes()) == 1))
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    assert result.status is Status.SAFE, result.reason
    out = indices((tmp_path / "o" / path.name).read_bytes())
    text = " ".join(_ocr(255 - 255 * (out == u)) for u in np.unique(out))
    assert "4455667" not in text and "DOE" not in text and "JANE" not in text


@pytest.mark.slow
def test_a_palette_tiff_page_redacted_in_a_colour_the_fill_leaves_unused_is_written(tmp_path):
    """The fill covers every pixel of the text's colour: the re-encoded page kept that colour-map entry,
    unused, and the re-check of the output failed the file (an ordinary palette scan with a label)."""
    img = Image.fromarray(_name_mask().astype(np.uint8), "P")
    img.putpalette([200, 200, 200, 20, 20, 200, 0, 0, 0])
    path = tmp_path / "label.tif"
    img.save(path)
    assert "4455667" in _ocr(np.asarray(img.convert("L")))
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    assert result.status is Status.SAFE, result.reason
    out = Image.open(tmp_path / "o" / path.name)
    assert out.mode == "P" and "4455667" not in _ocr(np.asarray(out.convert("L")))
    used = set(np.unique(np.asarray(out)).tolist())
    palette = out.getpalette()
    assert all(palette[3 * i : 3 * i + 3] == [0, 0, 0] for i in range(len(palette) // 3) if i not in used)


# ---------------------------------------------------------------- reports never quote a value (item 8)


def test_reports_do_not_quote_private_png_keywords_or_gif_application_names(tmp_path):
    png = _png_of(bars())
    png.insert(1, (b"tEXt", b"Jane Doe MRN4455667\0x"))
    png.insert(1, (b"tEXt", b"Title\0x"))
    (tmp_path / "a.png").write_bytes(png_file(png))
    gif = io.BytesIO()
    bars().convert("P").save(gif, "GIF")
    data = gif.getvalue()
    at = 13 + (3 << ((data[10] & 7) + 1))
    (tmp_path / "a.gif").write_bytes(data[:at] + b"!\xff\x0bJANEDOE4455\x01x\0" + data[at:])
    options = Options(jobs=1, output_dir=tmp_path / "out", **METADATA_ONLY)
    results = scrub_paths([tmp_path / "a.png", tmp_path / "a.gif"], options) + check_paths(
        [tmp_path / "a.png", tmp_path / "a.gif"], options
    )
    shown = " ".join(f"{f.kind} {f.where} {f.detail}" for r in results for f in r.findings)
    assert "'Title'" in shown and "private" in shown
    assert "Jane" not in shown and "4455" not in shown and "JANEDOE" not in shown


# ---------------------------------------------------------------- TIFF


def test_tiff_strip_data_beyond_the_declared_image_is_not_copied(tmp_path):
    rows = bytearray(b"\xff" * 64 * 64)
    rows[40 * 64 : 40 * 64 + len(SENTINEL)] = SENTINEL  # row 40: below a declared height of 32
    path = tmp_path / "crop.tif"
    path.write_bytes(grey_tiff(64, 64, bytes(rows), declared=32) + SENTINEL)  # and bytes after the strip
    with Image.open(path) as img:
        assert img.size == (64, 32)
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and "tiff.strips" in {f.kind for f in findings}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(path)))


def test_tiff_tables_a_page_does_not_use_are_dropped(tmp_path):
    pixels = bytes(range(64)) * 64
    extra = ((347, 7, SENTINEL), (320, 3, SENTINEL.ljust(2 * 3 * 256, b"!")))  # JPEG tables, colour map
    path = tmp_path / "tables.tif"
    path.write_bytes(grey_tiff(64, 64, pixels, extra))
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and {"tiff.JPEGTables", "tiff.ColorMap"} <= {f.kind for f in findings}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(path)))


def test_tiff_with_fewer_strip_bytes_than_its_image_needs_is_refused(tmp_path):
    path = tmp_path / "short.tif"
    path.write_bytes(grey_tiff(64, 64, b"\x80" * 64 * 10))
    options = Options(jobs=1, output_dir=tmp_path / "out", **METADATA_ONLY)
    (result,) = scrub_paths([path], options)
    assert result.status is Status.FAILED and "truncated" in result.reason


# ---------------------------------------------------------------- GIF


def _gif_image_at(data: bytes) -> int:
    """Offset of the first image descriptor: after the screen, its colour table and any extensions."""
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[pos] == 0x21:
        pos += 2
        while data[pos]:
            pos += 1 + data[pos]
        pos += 1
    return pos


def _gif(img: Image.Image, height: int | None = None) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "GIF", optimize=False, interlace=False)
    data = bytearray(buf.getvalue())
    if height is not None:  # the screen and the frame declare fewer rows than the LZW data holds
        at = _gif_image_at(data)
        data[8:10] = data[at + 7 : at + 9] = struct.pack("<H", height)
    return bytes(data)


def test_gif_rows_below_the_declared_height_are_not_copied(tmp_path):
    arr = np.full((64, 64), 255, np.uint8)
    arr[32:] = np.random.default_rng(1).integers(0, 255, (32, 64))  # what the hidden rows show
    bars = Image.fromarray(arr)
    path = tmp_path / "crop.gif"
    path.write_bytes(_gif(bars, height=32))
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert "gif.image" in {f.kind for f in findings}
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(out)).convert("L")), np.asarray(bars.convert("L"))[:32]
    )
    restored = bytearray(out)  # give the frame its 64 rows back: nothing is left to fill them
    at = _gif_image_at(restored)
    restored[8:10] = restored[at + 7 : at + 9] = struct.pack("<H", 64)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        bottom = np.asarray(Image.open(io.BytesIO(bytes(restored))).convert("L"))[40:]
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    assert np.ptp(bottom) == 0  # nothing of the hidden rows is left, only a decoder's fill


def test_gif_colour_table_entries_no_pixel_uses_are_blanked(tmp_path):
    img = Image.fromarray((np.asarray(bars().convert("L")) // 255).astype(np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 255, 255, *SENTINEL.ljust(3 * 254, b"!")])
    path = tmp_path / "palette.gif"
    path.write_bytes(_gif(img))
    assert SENTINEL in path.read_bytes()
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL[:6] not in out and "gif.palette" in {f.kind for f in findings}
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(out)).convert("RGB")), np.asarray(Image.open(path).convert("RGB"))
    )


def test_tiff_edge_tile_padding_is_written_blank(tmp_path):
    tifffile = need("tifffile", "writes the tiled and palette TIFF files")

    path = tmp_path / "tiled.tif"
    arr = np.full((40, 40), 200, np.uint8)
    tifffile.imwrite(path, arr, tile=(32, 32))
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        bottom = tif.pages[0].dataoffsets[2]  # tile 2: rows 32..39 are the image, its rows 8..31 padding
        right = tif.pages[0].dataoffsets[1]  # tile 1: columns 32..39 are the image, 40..63 padding
    data[bottom + 8 * 32 : bottom + 8 * 32 + len(SENTINEL)] = SENTINEL
    data[right + 8 : right + 8 + 24] = SENTINEL[:24]
    path.write_bytes(bytes(data))
    assert np.array_equal(tifffile.imread(path), arr)  # the padding is not part of the picture
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and "tiff.tiles" in {f.kind for f in findings}
    assert np.array_equal(tifffile.imread(io.BytesIO(out)), arr)


# ---------------------------------------------------------------- the gate


def _dirty_files(tmp_path) -> dict[str, bytes]:
    """One file per class that a metadata-only check must find (no pixel stage needed)."""
    data = _jpeg(bars())
    sos = data.index(b"\xff\xda")
    unused_dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x03" + SENTINEL.ljust(64, b"!")
    png = _png_of(bars())
    return {
        "crop.png": png_file(_with_ihdr(png, 64, 32)),
        "idat-tail.png": png_file([(t, b + SENTINEL if t == b"IDAT" else b) for t, b in png]),
        "icc.png": _saved("png", _planted_profile()),
        "icc.webp": _saved("webp", _planted_profile()),
        "table.jpg": data[:sos] + unused_dqt + data[sos:],
        "rst.jpg": _with_height(_jpeg(bars(), restart_marker_rows=1), 32),
        "crop.jpg": _with_height(_jpeg(bars()), 32),
        "crop-progressive.jpg": _with_height(_jpeg(bars(), progressive=True), 32),
        "crop.gif": _gif(bars().convert("P"), height=32),
        "strips.tif": grey_tiff(64, 64, b"\x80" * 64 * 64, declared=32),
    }


def test_check_finds_every_class_in_a_metadata_only_run(tmp_path):
    names = []
    for name, data in _dirty_files(tmp_path).items():
        path = tmp_path / name
        path.write_bytes(data)
        names.append(path)
    results = check_paths(names, Options(jobs=1, **METADATA_ONLY))
    assert {Path(r.input).name: r.status for r in results} == dict.fromkeys(
        (p.name for p in names), Status.UNSAFE
    )


def test_tiff_colour_map_entries_no_pixel_uses_are_blanked(tmp_path):
    tifffile = need("tifffile", "writes the tiled and palette TIFF files")

    img = Image.fromarray((np.asarray(bars().convert("L")) // 255).astype(np.uint8), "P")
    planted = np.frombuffer(SENTINEL.ljust(3 * 254, b"!"), np.uint8)
    img.putpalette([0, 0, 0, 255, 255, 255, *planted])  # entries 2..255: text no pixel shows
    path = tmp_path / "palette.tif"
    img.save(path, "TIFF")
    with tifffile.TiffFile(path) as tif:
        assert (tif.pages[0].colormap[:, 2:] >> 8).any()
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert "tiff.ColorMap" in {f.kind for f in findings}
    with tifffile.TiffFile(io.BytesIO(out)) as tif:
        assert not tif.pages[0].colormap[:, 2:].any()
    with Image.open(io.BytesIO(out)) as clean, Image.open(path) as original:
        assert np.array_equal(np.asarray(clean.convert("RGB")), np.asarray(original.convert("RGB")))


def test_png_palette_entries_no_pixel_uses_are_blanked(tmp_path):
    img = Image.fromarray((np.asarray(bars().convert("L")) // 255).astype(np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 255, 255, *SENTINEL.ljust(3 * 254, b"!")])
    img.info["transparency"] = bytes([255, 255]) + SENTINEL[:20]
    path = tmp_path / "palette.png"
    img.save(path, "PNG", transparency=img.info["transparency"])
    assert SENTINEL in path.read_bytes()
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL[:6] not in out and {"png.PLTE", "png.tRNS"} <= {f.kind for f in findings}
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(out)).convert("RGBA")), np.asarray(Image.open(path).convert("RGBA"))
    )


# ---------------------------------------------------------------- WebP alpha


def test_webp_raw_alpha_keeps_one_byte_a_pixel(tmp_path):
    img = bars().convert("RGBA")
    img.putalpha(Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))))
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=90)  # lossy with alpha: VP8X, ALPH, VP8
    raw_alpha = b"\0" + img.getchannel("A").tobytes() + SENTINEL  # raw plane, then bytes no one reads
    chunks = [(t, raw_alpha if t == b"ALPH" else b) for t, b in riff_chunks(buf.getvalue())]
    assert [t for t, _ in chunks] == [b"VP8X", b"ALPH", b"VP8 "]
    path = tmp_path / "alpha.webp"
    path.write_bytes(riff(chunks))
    before = np.asarray(Image.open(path).convert("RGBA"))
    assert np.array_equal(before[..., 3], np.asarray(img.getchannel("A")))  # libwebp reads the raw plane
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and "webp.slack" in {f.kind for f in findings}
    assert len(dict(riff_chunks(out))[b"ALPH"]) == 1 + 64 * 64
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out)).convert("RGBA")), before)


def _sprite_webp(path: Path) -> None:
    """A square moving over a real photo, encoded as libwebp's animation encoder writes deltas: each
    frame the changed rectangle, its unchanged pixels cleared to alpha 0 and blended."""
    skimage_data = need("skimage.data", "scikit-image's sample photos")
    background = skimage_data.coffee()[::2, ::2].copy()
    frames = []
    for k in range(10):
        f = background.copy()
        y, x = 40 + 5 * k, 60 + 12 * k
        f[y : y + 40, x : x + 40] = (np.array([200, 60, 60]) * (0.7 + 0.03 * k)).astype(np.uint8)
        frames.append(Image.fromarray(f))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0, lossless=True)


def _focus_stack_webp(path: Path) -> None:
    """A histology micrograph through focus, lossy, as a microscope camera's clip is shared."""
    import cv2

    skimage_data = need("skimage.data", "scikit-image's sample photos")
    ihc = skimage_data.immunohistochemistry()[::2, ::2]
    frames = [Image.fromarray(cv2.GaussianBlur(ihc, (0, 0), 0.5 + abs(k - 4) * 0.6)) for k in range(9)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=120, loop=0, quality=85)


def _tiny_gif(path: Path) -> None:
    """scikit-image's animated GIF: a figure walking, each later frame a delta with transparency."""
    skimage_data = need("skimage.data", "scikit-image's sample photos")
    path.write_bytes((Path(skimage_data.__file__).parent / "no_time_for_that_tiny.gif").read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("make", [_tiny_gif, _sprite_webp, _focus_stack_webp])
def test_an_ordinary_animation_keeps_its_frames(tmp_path, make):
    """The frames an animation encoder writes (deltas: changed pixels opaque, the rest transparent) are
    not text: showing their whole alpha, or their cleared colours, drew each delta's outline, and the
    walking figure had 21 of its 23 later frames filled, the sprite and the focus stack a block each."""
    from PIL import ImageSequence

    path = tmp_path / f"{make.__name__.strip('_')}.{'gif' if 'gif' in make.__name__ else 'webp'}"
    make(path)
    (result,) = scrub_paths(
        [path], Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    )
    assert result.status is Status.SAFE, result.reason
    assert not [f for f in result.findings if f.stage == "text"]

    def composed(p: Path) -> list[np.ndarray]:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(Image.open(p))]

    before, after = composed(path), composed(tmp_path / "o" / path.name)
    assert len(before) == len(after)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
