"""Every document gives the same output through ``write`` and ``to_bytes``.

The pipeline writes in-memory formats with ``to_bytes`` (no copy through a buffer) and streaming ones
with ``write``; a subclass that overrode only one of the two would hand its *input* to the other path.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from deident.formats.base import Context, Source, open_document
from deident.keys import Keyring
from deident.options import FaceMode, Options, TextMode

MARKER = "DOE^JANE-MRN-4455667"
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "HEIF")


def _photo(path: Path, fmt: str) -> Path:
    img = Image.new("RGB", (64, 48), (120, 80, 60))
    exif = Image.Exif()
    exif[0x013B] = MARKER  # Artist
    if fmt == "HEIF":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
    kwargs = {} if fmt == "GIF" else {"exif": exif.tobytes()}
    img.save(path, fmt, **kwargs)
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_and_to_bytes_agree_and_carry_no_marker(tmp_path, fmt):
    path = _photo(tmp_path / f"photo.{fmt.lower()}", fmt)
    ctx = Context(Options(text=TextMode.OFF, faces=FaceMode.OFF, jobs=1), Keyring(b"k" * 32))
    doc = open_document(Source(path))
    doc.scrub_metadata(ctx)
    written = io.BytesIO()
    doc.write(written, ctx)
    in_memory = doc.to_bytes(ctx)
    assert MARKER.encode() not in in_memory
    assert written.getvalue() == in_memory
