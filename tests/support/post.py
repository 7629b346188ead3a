"""Post-ready inputs: a slide photo with a caption and credit, and ICC profiles with swapped primaries."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# sRGB primaries adapted to D50, as an ICC v2 matrix/TRC profile stores them.

SRGB_D50 = {"r": (0.4361, 0.2225, 0.0139), "g": (0.3851, 0.7169, 0.0971), "b": (0.1431, 0.0606, 0.7141)}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def icc_profile(
    primaries: dict[str, tuple[float, float, float]], gamma: float = 2.2, desc: str = "test"
) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile, built by hand (ICC.1:2001-04 layout)."""
    text = desc.encode("ascii") + b"\0"
    desc_tag = (
        b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 4 + b"\0" * 4 + b"\0\0\0" + b"\0" * 67
    )
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", desc_tag),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(*primaries["r"])),
        (b"gXYZ", _xyz(*primaries["g"])),
        (b"bXYZ", _xyz(*primaries["b"])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0" + b"public domain\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12
    header += b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def swapped_profile() -> bytes:
    """A profile whose red channel is sRGB's blue and vice versa: conversion must show it."""
    return icc_profile({"r": SRGB_D50["b"], "g": SRGB_D50["g"], "b": SRGB_D50["r"]})


LABEL_LINES = ("SMITH JANE", "S17-04522", "03/04/2017")


CAPTION = (
    "Mrs. Jane Smith, 93, MRN 4455667, seen on 03/04/2017 (call 555-123-4567). Skin biopsy showed a "
    "basal cell carcinoma next to a dermatofibroma."
)


PHI_IN_CAPTION = ("Smith", "Jane", "4455667", "03/04/2017", "2017", "555", "4567", "93")


CREDIT = "@path_doc42"


def _font(px: int):
    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ):
        if Path(path).exists():
            return ImageFont.truetype(path, px)
    return ImageFont.load_default(size=px)


def slide_photo(path: Path, size=(800, 450)) -> Path:
    """A photo of a glass slide: tissue on the left, a printed label with a name, accession and date."""
    w, h = size
    img = Image.new("RGB", size, (58, 62, 72))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((40, 80, w - 40, h - 80), 8, fill=(216, 222, 226))
    rng = np.random.default_rng(1)
    for _ in range(400):
        x, y = rng.normal(0.3 * w, 0.09 * w), rng.normal(h / 2, 0.12 * h)
        r = rng.uniform(3, 7)
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=(int(rng.uniform(90, 140)), 60, int(rng.uniform(150, 200)))
        )
    draw.rectangle((int(0.6 * w), 95, w - 55, h - 95), fill=(250, 250, 246))
    for i, line in enumerate(LABEL_LINES):
        draw.text((int(0.62 * w), 110 + 52 * i), line, font=_font(34), fill=(10, 10, 10))
    exif = Image.Exif()
    exif[0x013B] = "SMITH JANE"  # Artist
    exif[0x010E] = "S17-04522"  # ImageDescription
    img.save(path, "JPEG", quality=95, exif=exif.tobytes(), comment=b"SMITH JANE S17-04522")
    return path
