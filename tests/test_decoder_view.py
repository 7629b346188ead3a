"""Issue 18: every kept byte is one a decoder uses; pixels hidden behind a smaller declared size are not
copied; truncated image data is refused in every mode.

Each case is built here; the assertions use Pillow, zlib and planted sentinels, never deident's check.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageFile

from deident.findings import Status
from deident.formats import jpeg
from deident.options import FaceMode, Options, TextMode
from deident.pipeline import check_paths
from test_formats_common import ctx, scrub_bytes

SENTINEL = b"MRK-HIDDEN-Doe-Jane-MRN4455667"
METADATA_ONLY = {"text": TextMode.OFF, "faces": FaceMode.OFF}


def _bars(w: int = 64, h: int = 64, split: int = 32) -> Image.Image:
    """White above ``split``, black below: what a hidden part of the image would show is obvious."""
    arr = np.full((h, w, 3), 255, np.uint8)
    arr[split:] = 0
    return Image.fromarray(arr)


# ---------------------------------------------------------------- JPEG


def _jpeg(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def _with_height(data: bytes, height: int) -> bytes:
    """The same JPEG with its SOF0 height set to ``height`` (the crop an editor might write)."""
    i = data.index(b"\xff\xc0")
    return data[: i + 5] + struct.pack(">H", height) + data[i + 7 :]


def _decode(data: bytes) -> np.ndarray:
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.int16)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_jpeg_rows_below_the_declared_height_are_not_copied(tmp_path):
    full = _jpeg(_bars())
    cropped = _with_height(full, 32)  # the black half is still coded after the white half
    assert _decode(_with_height(cropped, 64))[40:].mean() < 40  # the leak: restore the height, see it
    path = tmp_path / "crop.jpg"
    path.write_bytes(cropped)
    out, findings = scrub_bytes(path)
    assert "jpeg.scan" in {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(cropped))  # the declared picture is untouched
    assert _decode(_with_height(out, 64))[40:].mean() > 100  # nothing of the black half is left


def test_jpeg_bytes_after_the_last_coded_unit_are_dropped(tmp_path):
    data = _jpeg(_bars())
    eoi = data.rindex(b"\xff\xd9")
    path = tmp_path / "tail.jpg"
    path.write_bytes(data[:eoi] + SENTINEL + data[eoi:])
    out, findings = scrub_bytes(path)
    assert SENTINEL not in out and "jpeg.scan" in {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(data))


def test_jpeg_extra_restart_intervals_are_cut_even_in_a_metadata_only_run(tmp_path):
    full = _jpeg(_bars(), restart_marker_rows=1)
    cropped = _with_height(full, 32)
    path = tmp_path / "rst.jpg"
    path.write_bytes(cropped)
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert "jpeg.scan" in {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(cropped))
    assert _decode(_with_height(out, 64))[40:].mean() > 100


def test_jpeg_unused_tables_and_dnl_are_dropped(tmp_path):
    data = _jpeg(_bars())
    sos = data.index(b"\xff\xda")
    unused_dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x03" + SENTINEL.ljust(64, b"!")
    dnl = b"\xff\xdc\x00\x04\x00\x40"
    eoi = data.rindex(b"\xff\xd9")
    path = tmp_path / "tables.jpg"
    path.write_bytes(data[:sos] + unused_dqt + data[sos:eoi] + dnl + data[eoi:])
    out, findings = scrub_bytes(path, ctx(**METADATA_ONLY))
    assert SENTINEL not in out and b"\xff\xdc" not in out
    assert {"jpeg.table", "jpeg.dnl"} <= {f.kind for f in findings}
    assert np.array_equal(_decode(out), _decode(data))


def test_filter_segments_is_the_public_jpeg_filter():
    data = _jpeg(_bars())
    eoi = data.rindex(b"\xff\xd9")
    out, findings = jpeg.filter_segments(data[:eoi] + SENTINEL + data[eoi:])
    assert SENTINEL not in out and [f.kind for f in findings] == ["jpeg.scan"]
    assert jpeg.filter_segments(out)[1] == []


@pytest.mark.slow
def test_check_finds_hidden_rows_when_it_looks_at_pixels(tmp_path):
    path = tmp_path / "crop.jpg"
    path.write_bytes(_with_height(_jpeg(_bars()), 32))
    (result,) = check_paths([path], Options(faces=FaceMode.OFF, jobs=1))
    assert result.status is Status.UNSAFE
    assert "jpeg.scan" in {f.kind for f in result.findings}
