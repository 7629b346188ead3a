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
