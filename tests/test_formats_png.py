"""PNG: text, EXIF, time and unknown chunks and post-IEND data go; image chunks and pixels stay."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from deident.errors import CorruptFile
from deident.formats.base import Source, open_document
from deident.formats.png import walk
from test_formats_common import (
    ARTIST,
    COMMENT,
    DESCRIPTION,
    OWNER,
    SRGB_ICC,
    TRAILER,
    UNKNOWN,
    XMP_CREATOR,
    assert_same_pixels,
    exif_block,
    leaked,
    picture,
    reopen_findings,
    scrub_bytes,
    xmp_packet,
)


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def loaded_png(tmp_path, img: Image.Image | None = None, **save) -> tuple:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", ARTIST)
    info.add_text("Comment", COMMENT.decode(), zip=True)
    info.add_itxt("Description", DESCRIPTION)
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2019, 4, 21, 9, 31, 7))
    info.add(b"prVt", UNKNOWN)
    buf = io.BytesIO()
    (img or picture()).save(buf, "PNG", pnginfo=info, exif=exif_block(1), icc_profile=SRGB_ICC, **save)
    data = buf.getvalue() + TRAILER
    path = tmp_path / "in.png"
    path.write_bytes(data)
    return path, data


def test_scrub_drops_metadata_chunks_and_keeps_pixels(tmp_path):
    path, original = loaded_png(tmp_path)
    kinds = {f.kind for f in open_document(Source(path)).metadata_findings()}
    assert {
        "png.tEXt",
        "png.zTXt",
        "png.iTXt",
        "xmp",
        "png.tIME",
        "png.prVt",
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
