"""TIFF blocks coded as pictures of their own (JPEG 2000, WebP): what they code beyond the image, checked on
their pixels (issue 18, class 2).

An edge tile of these codecs codes the whole tile, and a reader crops it; a name drawn in the cropped part
is copied with the block and reads again once ImageWidth or ImageLength is raised. Their coefficients are
not ours to edit (wavelets, VP8L transforms), so an edge block is decoded (Pillow: OpenJPEG, libwebp) and,
when anything beyond the image is not zero, coded again without loss in the same codec with it zero: the
visible pixels are exactly what the source decodes to. A block of a codec Pillow cannot code here (ZSTD,
LERC, JPEG XL and the rest) refuses the file: what it holds beyond the image cannot be checked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from deident.errors import CorruptFile, UnsupportedFormat
from deident.formats.tiff.tags import compression_unchecked

# TIFF Compression values whose blocks are one JPEG 2000 codestream (Aperio 33003/33005 and 33004,
# tifffile/Leica 34712) or one WebP file (50001), by Pillow's format name.
PICTURE = {33003: "JPEG2000", 33004: "JPEG2000", 33005: "JPEG2000", 34712: "JPEG2000", 50001: "WEBP"}


@dataclass(frozen=True)
class BlockShape:
    """What the TIFF says a block decodes to: width, height (None: a strip, whose last one may code fewer
    rows) and bits a pixel."""

    width: int
    height: int | None
    bits: int


def blank_beyond(compression: int, block: bytes, shape: BlockShape, visible: tuple[int, int]) -> bytes | None:
    """``block`` coded again with every pixel beyond ``visible`` (columns, rows) zero, or None when those
    pixels are zero already (the block is copied as it is)."""
    fmt = PICTURE.get(compression)
    if fmt is None:
        raise UnsupportedFormat(compression_unchecked(compression))
    pixels = _decoded(block, fmt, shape, visible[1])
    columns, rows = visible
    if not pixels[rows:].any() and not pixels[:, columns:].any():
        return None
    blank = pixels.copy()
    blank[rows:] = 0
    blank[:, columns:] = 0
    from PIL import Image

    buf = io.BytesIO()
    if fmt == "WEBP":
        Image.fromarray(blank).save(buf, "WEBP", lossless=True, exact=True)
    else:
        Image.fromarray(blank).save(buf, "JPEG2000", no_jp2=True, irreversible=False)
    coded = buf.getvalue()
    if not np.array_equal(_decoded(coded, fmt, shape, visible[1]), blank):
        raise UnsupportedFormat(f"a {fmt} block could not be coded again without loss")
    return coded


def _decoded(block: bytes, fmt: str, shape: BlockShape, rows: int) -> np.ndarray:
    """The block's pixels, once its header shows the size and depth the TIFF gives it (at least ``rows``
    rows for a strip)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(block), formats=[fmt]) as img:
            width, height = img.size
            bits = {"L": 8, "RGB": 24, "RGBA": 32}.get(img.mode)
            if bits is None:
                raise UnsupportedFormat(f"a {fmt} block in mode {img.mode} is not supported")
            if (bits, width) != (shape.bits, shape.width) or height != (shape.height or max(height, rows)):
                raise CorruptFile(
                    f"a {fmt} block of {width}x{height}, {bits} bits a pixel, where the TIFF says"
                    f" {shape.width}x{shape.height or rows}, {shape.bits}"
                )
            return np.asarray(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptFile(f"a {fmt} block cannot be decoded: {exc}") from None
