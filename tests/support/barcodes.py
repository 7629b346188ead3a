"""Barcodes for the tests and benches: every family of symbology zxing writes, turned and read back."""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

# (zxing format name, content): identifying-looking and harmless contents, every family of symbology.
CODES = [
    ("QRCode", "MRN 00123456 SMITH^JOHN"),
    ("DataMatrix", "S17-04522"),
    ("Aztec", "ACC 7741023"),
    ("PDF417", "SMITH JOHN 19600101"),
    ("MicroQRCode", "88123456"),
    ("Code128", "S17-04522"),
    ("Code39", "MRN12345"),
    ("EAN13", "4006381333931"),
    ("UPCA", "036000291452"),
    ("ITF", "12345678"),
    ("Codabar", "A40156B"),
]
LINEAR = {"Code128", "Code39", "EAN13", "UPCA", "ITF", "Codabar"}


def symbol(fmt: str, value: str, module: int) -> np.ndarray:
    """A generated symbol (grey, with its quiet zone), linear codes cut to a label-like bar height."""
    img = np.asarray(
        zxingcpp.create_barcode(value, getattr(zxingcpp.BarcodeFormat, fmt)).to_image(scale=module)
    )
    if fmt in LINEAR:
        img = img[: 30 * module]
    return img


def rotate(img: np.ndarray, angle: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 1, int(h * cos + w * sin) + 1
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=255)


def decodes_anything(rgb: np.ndarray) -> bool:
    """zxing at its most thorough, two binarisers, plus a 2x upscale: what a determined reader would try."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for img in (gray, cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)):
        for binarizer in (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram):
            found = zxingcpp.read_barcodes(
                img, try_rotate=True, try_downscale=True, try_invert=True, binarizer=binarizer
            )
            if found:
                return True
    return False
