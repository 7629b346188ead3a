"""Pictures for posting: size bound, sRGB conversion, metadata-free JPEG, legible corner credit."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image, ImageCms

from deident.findings import Action
from deident.post.render import encode_jpeg, fit, to_srgb
from deident.post.watermark import CORNERS, draw_credit, plan_credit
from support import need
from support.post import SRGB_D50, icc_profile, swapped_profile


def test_fit_never_upscales_and_bounds_long_side():
    small = Image.new("RGB", (300, 200))
    assert fit(small, 2048).size == (300, 200)
    wide = Image.new("RGB", (1600, 900))
    assert fit(wide, 800).size == (800, 450)
    tall = Image.new("RGB", (500, 1999))
    out = fit(tall, 1000)
    assert max(out.size) == 1000 and abs(out.size[0] / out.size[1] - 500 / 1999) < 0.01


def test_jpeg_has_no_metadata_even_if_the_image_carried_some():
    img = Image.new("RGB", (64, 48), (200, 100, 50))
    exif = Image.Exif()
    exif[0x013B] = "SMITH JANE"  # Artist
    img.info.update(exif=exif.tobytes(), icc_profile=swapped_profile(), comment=b"SMITH JANE")
    data = encode_jpeg(img)
    assert b"SMITH" not in data and b"Exif" not in data and b"ICC_PROFILE" not in data
    out = Image.open(io.BytesIO(data))
    assert out.format == "JPEG" and out.mode == "RGB"
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(out.info)
    assert out.layer == [(1, 1, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)]  # 4:4:4: no chroma subsampling


def test_lcms_reads_the_hand_built_profile():
    profile = ImageCms.ImageCmsProfile(io.BytesIO(swapped_profile()))
    assert profile.profile.xcolor_space.strip() == "RGB"


def test_embedded_profile_converted_to_srgb():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    out, findings = to_srgb(img, swapped_profile(), "image 1")
    r, g, b = out.getpixel((5, 5))
    assert b > 200 and r < 60, (r, g, b)  # "red" in the swapped profile is sRGB blue
    assert [f.action for f in findings] == [Action.REPLACED]
    same, _ = to_srgb(img, icc_profile(SRGB_D50), "image 1")
    assert max(abs(a - b) for a, b in zip(same.getpixel((5, 5)), (255, 0, 0), strict=True)) <= 3


@pytest.mark.parametrize(
    "icc", [b"not a profile at all", ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()]
)
def test_unusable_profile_dropped_and_reported(icc):
    img = Image.new("RGB", (10, 10), (10, 200, 30))
    out, findings = to_srgb(img, icc, "image 1")
    assert out.getpixel((1, 1)) == (10, 200, 30)
    assert [f.action for f in findings] == [Action.REMOVED]


def _plain_corner(rgb: np.ndarray, corner: str) -> np.ndarray:
    """A copy with one corner painted the flat colour of glass / background."""
    out = rgb.copy()
    h, w = out.shape[:2]
    ys = slice(0, h // 3) if corner.startswith("top") else slice(h - h // 3, h)
    xs = slice(0, w // 2) if corner.endswith("left") else slice(w - w // 2, w)
    out[ys, xs] = (236, 232, 240)
    return out


def _busy_except(corner: str) -> np.ndarray:
    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    return _plain_corner(noise, corner)


@pytest.mark.parametrize("corner", CORNERS)
def test_credit_goes_to_the_plainest_corner(corner):
    assert plan_credit(_busy_except(corner), "@pathdoc").corner == corner


def test_credit_size_scales_with_picture_and_stays_small():
    small = plan_credit(np.zeros((600, 800, 3), np.uint8), "@pathdoc")
    large = plan_credit(np.zeros((1152, 2048, 3), np.uint8), "@pathdoc")
    assert small.text_px >= 18 and large.text_px > small.text_px
    x0, y0, x1, y1 = large.box
    assert (x1 - x0) * (y1 - y0) < 0.02 * 2048 * 1152
    with pytest.raises(ValueError):
        plan_credit(np.zeros((20, 30, 3), np.uint8), "@pathdoc")


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
@pytest.mark.parametrize("corner", ["bottom-right", "top-left"])
def test_credit_readable_by_ocr(corner):
    import pytesseract

    data = need("skimage.data", "scikit-image's sample photos")

    tissue = np.asarray(Image.fromarray(data.immunohistochemistry()).resize((800, 600)))
    rgb = _plain_corner(tissue, corner)
    marked, place = draw_credit(Image.fromarray(rgb), "@path_doc42")
    assert place.corner == corner
    w, h = marked.size
    quarter = (
        0 if corner.endswith("left") else w // 2,
        0 if corner.startswith("top") else h // 2,
        w // 2 if corner.endswith("left") else w,
        h // 2 if corner.startswith("top") else h,
    )
    read = pytesseract.image_to_string(marked.crop(quarter), config="--psm 11")
    assert "path_doc42" in read, read
    # outside the plate nothing changed
    x0, y0, x1, y1 = place.box
    diff = np.abs(np.asarray(marked, np.int16) - rgb.astype(np.int16)).any(axis=2)
    diff[y0:y1, x0:x1] = False
    assert not diff.any()
