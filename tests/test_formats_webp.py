"""WebP: EXIF and XMP chunks go, the VP8X flags say so, image chunks are copied unchanged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deident.formats.base import Source, open_document
from deident.formats.webp import walk
from support.photos import loaded_webp
from support.planted import (
    OWNER,
    XMP_CREATOR,
    assert_same_pixels,
    ctx,
    filled_bytes,
    leaked,
    picture,
    reopen_findings,
    scrub_bytes,
)


@pytest.mark.parametrize("save", [{"lossless": True}, {"quality": 80}])
def test_scrub_drops_exif_xmp_and_fixes_flags(tmp_path, save):
    path, original = loaded_webp(tmp_path, **save)
    kinds = {f.kind for f in open_document(Source(path)).metadata_findings()}
    assert {"exif.owner", "exif.gps", "xmp", "webp.chunk", "trailer"} <= kinds
    out, _ = scrub_bytes(path)
    assert leaked(out) == []
    assert_same_pixels(original, out)
    chunks = walk(out).chunks
    assert [c.fourcc for c in chunks if c.fourcc in (b"EXIF", b"XMP ", b"MRKZ")] == []
    flags = next(c for c in chunks if c.fourcc == b"VP8X").data[0]
    assert flags & 0x0C == 0 and flags & 0x20  # no EXIF/XMP announced, ICC still there
    image_chunks = [c.data for c in walk(original).chunks if c.fourcc in (b"VP8 ", b"VP8L", b"ALPH")]
    assert image_chunks == [c.data for c in chunks if c.fourcc in (b"VP8 ", b"VP8L", b"ALPH")]
    assert reopen_findings(tmp_path, out, "a.webp") == []


def test_identifiers_and_lossless_redaction(tmp_path):
    path, _ = loaded_webp(tmp_path, lossless=True)
    doc = open_document(Source(path))
    assert {OWNER, XMP_CREATOR} <= set(doc.identifiers())
    c = ctx()
    doc.scrub_metadata(c)
    out = filled_bytes(doc, 0, (10, 10, 30, 20), c)
    assert leaked(out) == []
    arr = np.asarray(Image.open(io.BytesIO(out)).convert("RGB"))
    orig = np.asarray(picture())
    assert (arr[11:20, 11:30] == 0).all()
    assert (arr[30:, 40:] == orig[30:, 40:]).all()  # lossless outside the box
    assert reopen_findings(tmp_path, out, "r.webp") == []
