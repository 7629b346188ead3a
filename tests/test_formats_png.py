"""PNG: text, EXIF, time and unknown chunks and post-IEND data go; image chunks and pixels stay."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from deident.errors import CorruptFile
from deident.formats.base import Source, open_document
from deident.formats.png import walk
from support.photos import loaded_png
from support.planted import (
    ARTIST,
    OWNER,
    XMP_CREATOR,
    assert_same_pixels,
    leaked,
    picture,
    reopen_findings,
    scrub_bytes,
)


def test_scrub_drops_metadata_chunks_and_keeps_pixels(tmp_path):
    path, original = loaded_png(tmp_path)
    kinds = {f.kind for f in open_document(Source(path)).metadata_findings()}
    assert {
        "png.tEXt",
        "png.zTXt",
        "png.iTXt",
        "xmp",
        "png.tIME",
        "png.unknown",  # a private chunk: its type is the file's choosing, never quoted
        "trailer",
        "exif.owner",
    } <= kinds
    out, _ = scrub_bytes(path)
    assert leaked(out) == []
    assert_same_pixels(original, out)
    kept = [c.type for c in walk(out).chunks]
    assert kept[0] == b"IHDR" and kept[-1] == b"IEND" and b"iCCP" in kept
    assert not {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"prVt"} & set(kept)
    assert reopen_findings(tmp_path, out, "a.png") == []


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16"])
def test_every_colour_type_round_trips(tmp_path, mode):
    img = picture().convert("RGB")
    img = img.convert("I").point(lambda v: v * 200).convert("I;16") if mode == "I;16" else img.convert(mode)
    path, original = loaded_png(tmp_path, img)
    out, _ = scrub_bytes(path)
    assert leaked(out) == []
    assert_same_pixels(original, out)


def test_animated_png_keeps_every_frame(tmp_path):
    frames = [picture(seed=i) for i in range(3)]
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", ARTIST)
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=100, pnginfo=info)
    path = tmp_path / "anim.png"
    path.write_bytes(buf.getvalue())
    out, _ = scrub_bytes(path)
    assert ARTIST.encode() not in out
    assert Image.open(io.BytesIO(out)).n_frames == 3
    assert_same_pixels(buf.getvalue(), out, frames=3)


def test_bad_crc_is_refused(tmp_path):
    _, data = loaded_png(tmp_path)
    at = data.index(b"IDAT") + 6
    bad = tmp_path / "bad.png"
    bad.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    with pytest.raises(CorruptFile, match="CRC"):
        open_document(Source(bad))


def test_identifiers_come_from_text_xmp_and_exif(tmp_path):
    path, _ = loaded_png(tmp_path)
    ids = open_document(Source(path)).identifiers()
    assert {ARTIST, XMP_CREATOR, OWNER} <= set(ids)


def _with_chunk(ctype: bytes, body: bytes) -> bytes:
    """A small RGB PNG (Pillow's) with one more chunk after IHDR."""
    from support.photos import chunk

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buf, "PNG")
    data = buf.getvalue()
    end_of_ihdr = 8 + 12 + 13
    return data[:end_of_ihdr] + chunk(ctype, body) + data[end_of_ihdr:]


@pytest.mark.parametrize(
    ("ctype", "body", "planted"),
    [
        (b"cHRM", b"\0" * 5 + b"MRN 4455667 DOE J" + b"\0" * 10, b"4455667"),  # 32 bytes, the cHRM size
        (b"pHYs", b"MRN44556\x01", b"MRN44556"),  # 9 bytes, the pHYs size
        (b"gAMA", b"DOE1", b"DOE1"),
    ],
)
def test_a_colour_or_size_chunk_with_numbers_out_of_range_is_not_copied(tmp_path, ctype, body, planted):
    """The size check let a cHRM of the right size carry a planted ID (found by the inserted-structures
    property test); its numbers, read as chromaticities, are far above 1.0. Read by bytes and by Pillow."""
    path = tmp_path / "a.png"
    path.write_bytes(_with_chunk(ctype, body))
    out, findings = scrub_bytes(path)
    assert planted not in out and ctype not in [c.type for c in walk(out).chunks]
    assert any(f.kind == f"png.{ctype.decode()}" for f in findings)
    Image.open(io.BytesIO(out)).load()


def test_colour_and_size_chunks_in_range_are_kept(tmp_path):
    """sRGB's own chromaticities, gamma 1/2.2 and 300 dpi stay."""
    import struct

    chrm = struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
    data = _with_chunk(b"cHRM", chrm)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    out, _ = scrub_bytes(path)
    kept = {c.type: c.data for c in walk(out).chunks}
    assert kept[b"cHRM"] == chrm
    path.write_bytes(_with_chunk(b"pHYs", struct.pack(">IIB", 11811, 11811, 1)))
    assert b"pHYs" in {c.type for c in walk(scrub_bytes(path)[0]).chunks}
    path.write_bytes(_with_chunk(b"gAMA", struct.pack(">I", 45455)))
    assert b"gAMA" in {c.type for c in walk(scrub_bytes(path)[0]).chunks}


def test_a_redacted_png_is_shown_in_the_colours_of_the_original(tmp_path):
    """Pillow reads gAMA and cHRM but does not write them: a copy with a box filled lost both, and every
    mid-tone of it was shown darker or lighter than in the original (a gamma of 0.55 dropped). Read by
    exiftool and by Pillow."""
    import shutil
    import struct
    import subprocess

    from support.photos import chunk
    from support.planted import ctx, filled_bytes

    chrm = struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
    plain = _with_chunk(b"gAMA", struct.pack(">I", 55000))
    end_of_ihdr = 8 + 12 + 13
    path = tmp_path / "a.png"
    path.write_bytes(plain[:end_of_ihdr] + chunk(b"cHRM", chrm) + plain[end_of_ihdr:])
    out = tmp_path / "out.png"
    out.write_bytes(filled_bytes(open_document(Source(path)), 0, (2, 2, 8, 8), ctx()))
    shown = Image.open(out)
    assert shown.getpixel((4, 4)) != (200, 40, 40)  # the box was filled: Pillow wrote this file
    assert shown.info["gamma"] == 0.55 and shown.info["chromaticity"][:2] == (0.3127, 0.329)
    types = [c.type for c in walk(out.read_bytes()).chunks]
    assert types.index(b"gAMA") < types.index(b"IDAT") and types.count(b"gAMA") == 1
    if exiftool := shutil.which("exiftool"):
        args = [exiftool, "-s", "-Gamma", "-WhitePointX", str(out)]
        said = subprocess.run(args, capture_output=True, text=True)
        assert "1.8182" in said.stdout and "0.3127" in said.stdout
