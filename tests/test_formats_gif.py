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
