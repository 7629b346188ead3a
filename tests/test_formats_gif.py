"""GIF: comments, plain-text overlays, XMP and foreign application blocks go; frames and looping stay."""

from __future__ import annotations

import io

from PIL import Image

from deident.formats.base import Source, open_document
from deident.formats.gif import walk
from support.photos import loaded_gif
from support.planted import (
    XMP_CREATOR,
    assert_same_pixels,
    ctx,
    filled_bytes,
    leaked,
    reopen_findings,
    scrub_bytes,
)


def test_scrub_drops_comments_and_foreign_blocks(tmp_path):
    path, original = loaded_gif(tmp_path)
    kinds = {f.kind for f in open_document(Source(path)).metadata_findings()}
    assert {"gif.comment", "gif.plaintext", "gif.app", "xmp", "trailer"} <= kinds
    out, _ = scrub_bytes(path)
    assert leaked(out) == [] and XMP_CREATOR.encode() not in out
    assert_same_pixels(original, out, frames=3)
    img = Image.open(io.BytesIO(out))
    assert img.n_frames == 3 and img.info.get("loop") == 0
    assert sum(b.kind == 0x2C for b in walk(out).blocks) == 3
    assert reopen_findings(tmp_path, out, "a.gif") == []


def test_redacting_one_frame_keeps_the_others(tmp_path):
    path, _ = loaded_gif(tmp_path)
    doc = open_document(Source(path))
    c = ctx()
    doc.scrub_metadata(c)
    before = _composed(doc.frames(c))
    out = filled_bytes(doc, 1, (2, 2, 15, 10), c)
    assert leaked(out) == []
    written = open_document(Source(_save(tmp_path, out)))
    after = _composed(written.frames(c))
    assert len(after) == 3
    assert (after[1][3:10, 3:15].max(axis=2) < 30).all()
    assert (after[0] == before[0]).all() and (after[2] == before[2]).all()
    assert written.metadata_findings() == []


def _composed(frames) -> dict:
    """Each frame as Pillow composes it: the first rendering of each index (further ones show a frame
    as stored, or its palette entries)."""
    shown: dict = {}
    for f in frames:
        shown.setdefault(f.index, f.rgb)
    return shown


def _save(tmp_path, data: bytes):
    p = tmp_path / "w.gif"
    p.write_bytes(data)
    return p


def test_a_redacted_gif_keeps_its_colour_profile(tmp_path):
    """Pillow neither reads nor writes a GIF's ICC profile: a copy with a box filled was written without
    the profile the metadata filter keeps, and a colour-managed viewer showed it in other colours. The
    profile is read from the output's sub-blocks and by LittleCMS (Pillow's ImageCms)."""
    from PIL import ImageCms

    from support.photos import gif_icc_profile, sub_blocks
    from support.planted import ctx, filled_bytes, scrub_bytes

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).convert("P").save(buf, "GIF")
    gif = buf.getvalue()
    at = 13 + (3 * (2 << (gif[10] & 7)) if gif[10] & 0x80 else 0)  # after the global colour table
    path = tmp_path / "a.gif"
    path.write_bytes(gif[:at] + b"\x21\xff\x0bICCRGBG1012" + sub_blocks(profile) + gif[at:])
    kept = gif_icc_profile(scrub_bytes(path)[0])  # what the metadata-only scrub keeps
    out = filled_bytes(open_document(Source(path)), 0, (4, 4, 12, 12), ctx())
    assert Image.open(io.BytesIO(out)).convert("RGB").getpixel((8, 8)) != (200, 40, 40)  # filled
    assert gif_icc_profile(out) == kept
    assert ImageCms.ImageCmsProfile(io.BytesIO(gif_icc_profile(out))).profile.xcolor_space.strip() == "Lab"
