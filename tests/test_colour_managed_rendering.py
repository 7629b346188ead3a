"""A name drawn a few levels above black, lifted into plain sight by the file's own tone curve: an ICC
profile whose curve is steep near black, a PNG gAMA. Browsers and viewers apply both; the text stage saw
the stored levels. Read back as LittleCMS (ICC) and the PNG rule (gAMA) show the output, with Tesseract."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFont

from deident.batch import check_paths, scrub_paths
from deident.findings import Status
from deident.options import FaceMode, Options, TextMode
from support import need
from support.photos import gif_icc_profile, sub_blocks

NAME, NUMBER = "QUIXOTEZ", "4455667"
SIZE = (520, 90)


def _name_at(level: int) -> np.ndarray:
    """Black, the name and number drawn at ``level``."""
    img = Image.new("L", SIZE, 0)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", 40)
    ImageDraw.Draw(img).text((12, 18), f"{NAME} {NUMBER}", fill=level, font=font)
    return np.asarray(img)


def _steep_profile(gamma_256: int = 26) -> bytes:
    """Pillow's sRGB profile with each tone curve replaced by one ``curv`` of gamma ``gamma_256``/256
    (26: about 0.1, monotone, so the ICC cleaner keeps it)."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    count = struct.unpack(">I", profile[128:132])[0]
    body = bytearray(profile)
    at = len(body)
    body += b"curv" + b"\0" * 4 + struct.pack(">IH", 1, gamma_256) + b"\0\0"
    for i in range(count):
        signature = profile[132 + 12 * i : 136 + 12 * i]
        if signature in (b"rTRC", b"gTRC", b"bTRC"):
            struct.pack_into(">4sII", body, 132 + 12 * i, signature, at, 14)
    struct.pack_into(">I", body, 0, len(body))
    return bytes(body)


def _with_gama(png: bytes, gamma: float) -> bytes:
    body = b"gAMA" + struct.pack(">I", round(gamma * 100000))
    chunk = struct.pack(">I", 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[:33] + chunk + png[33:]  # after the signature and IHDR


def _as_shown(path) -> np.ndarray:
    """Grey, as a colour-managed viewer shows the file: its profile to sRGB, or its gAMA on a 2.2 display."""
    img = Image.open(path)
    profile = img.info.get("icc_profile")
    if profile:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        shown = ImageCms.profileToProfile(img.convert("RGB"), source, ImageCms.createProfile("sRGB"))
        return np.asarray(shown.convert("L"))
    values = np.asarray(img.convert("L"), np.float64) / 255
    gamma = img.info.get("gamma", 1 / 2.2)
    return np.rint(255 * values ** (1 / (gamma * 2.2))).astype(np.uint8)


def _legible(grey: np.ndarray) -> bool:
    need("pytesseract", "reads the planted name back")
    import pytesseract

    padded = np.pad(255 - grey, 20, constant_values=255)  # light text on black, read as dark on light
    text = pytesseract.image_to_string(Image.fromarray(padded), config="--psm 7")
    return NAME in text.replace(" ", "") or NUMBER in text


CASES = {
    "png, gAMA 10": ("png", 2, None, 10.0),
    "png, gAMA 1.0": ("png", 3, None, 1.0),
    "png, steep profile": ("png", 2, _steep_profile, None),
    "jpeg, steep profile": ("jpg", 2, _steep_profile, None),
    "tiff, steep profile": ("tif", 2, _steep_profile, None),
    "webp, steep profile": ("webp", 2, _steep_profile, None),
}
SAVE = {"jpg": {"quality": 100, "subsampling": 0}, "webp": {"lossless": True}}


def _found_then_filled(path, tmp_path, as_shown) -> None:
    """A viewer (``as_shown``: the picture as it shows it, grey) reads the name on ``path``; a check finds
    text there; the scrub writes it safe, and the viewer reads no name on the output."""
    assert _legible(as_shown(path))
    (checked,) = check_paths([path], Options(faces=FaceMode.OFF, jobs=1, cache=False, all_stages=True))
    assert "text" in {f.stage for f in checked.findings}
    options = Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "o")
    (result,) = scrub_paths([path], options)
    assert result.status is Status.SAFE, result.reason
    assert not _legible(as_shown(tmp_path / "o" / path.name))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_a_name_a_tone_curve_lifts_into_sight_is_redacted(tmp_path, case):
    fmt, level, profile, gamma = CASES[case]
    path = tmp_path / f"lifted.{fmt}"
    img = Image.fromarray(np.repeat(_name_at(level)[:, :, None], 3, axis=2))
    img.save(path, icc_profile=profile() if profile else None, **SAVE.get(fmt, {}))
    if gamma is not None:
        path.write_bytes(_with_gama(path.read_bytes(), gamma))
    assert np.asarray(Image.open(path).convert("L")).max() <= level + 1  # stored: black to the eye
    _found_then_filled(path, tmp_path, _as_shown)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["top level", "optical path"])
def test_a_name_a_dicom_frames_icc_profile_lifts_into_sight_is_redacted(tmp_path, where):
    """A VL photograph's ICC Profile (0028,2000), or a slide's in its Optical Path Sequence, is applied
    by viewers as a photo's is."""
    import pydicom
    from pydicom.dataset import Dataset

    from support.dicom import colour_capture

    def as_shown(path) -> np.ndarray:
        ds = pydicom.dcmread(path)
        profile = ds.ICCProfile if where == "top level" else ds.OpticalPathSequence[0].ICCProfile
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        shown = ImageCms.profileToProfile(
            Image.fromarray(ds.pixel_array), source, ImageCms.createProfile("sRGB")
        )
        return np.asarray(shown.convert("L"))

    rgb = np.repeat(_name_at(2)[:, :, None], 3, axis=2)
    if where == "top level":
        path = colour_capture(tmp_path / "lifted.dcm", rgb, ICCProfile=_steep_profile())
    else:
        path_item = Dataset()
        path_item.OpticalPathIdentifier = "1"
        path_item.ICCProfile = _steep_profile()
        path = colour_capture(tmp_path / "lifted.dcm", rgb, OpticalPathSequence=[path_item])
    _found_then_filled(path, tmp_path, as_shown)


def _png_chunk_types(data: bytes) -> list[bytes]:
    types, at = [], 8
    while at < len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        types.append(data[at + 4 : at + 8])
        at += 12 + length
    return types


@pytest.mark.parametrize(("transfer", "kept"), [(8, False), (9, False), (13, True), (1, True)])
def test_a_png_cicp_whose_transfer_raises_contrast_is_dropped(tmp_path, transfer, kept):
    """cICP 8 (linear) shows level 3 at 28 and 9 (log 100:1) at 26; sRGB (13) and BT.709 (1) keep them
    within 11. A browser honours cICP first; dropped, the stored levels every stage saw are shown."""
    buf = io.BytesIO()
    Image.fromarray(np.repeat(_name_at(3)[:, :, None], 3, axis=2)).save(buf, "PNG")
    body = b"cICP" + bytes([1, transfer, 0, 1])
    chunk = struct.pack(">I", 4) + body + struct.pack(">I", zlib.crc32(body))
    path = tmp_path / "signalled.png"
    path.write_bytes(buf.getvalue()[:33] + chunk + buf.getvalue()[33:])
    fast = Options(text=TextMode.OFF, faces=FaceMode.OFF, jobs=1, cache=False)
    (checked,) = check_paths([path], fast)
    assert (checked.status is Status.CLEAN) is kept
    (result,) = scrub_paths([path], dataclasses.replace(fast, output_dir=tmp_path / "o"))
    assert result.status is Status.SAFE, result.reason
    assert (b"cICP" in _png_chunk_types((tmp_path / "o" / path.name).read_bytes())) is kept


def test_a_heic_colour_description_whose_transfer_raises_contrast_is_dropped(tmp_path):
    pillow_heif = need("pillow_heif", "writes and reads the HEIC")
    img = Image.fromarray(np.repeat(_name_at(3)[:, :, None], 3, axis=2))
    nclx = {
        "color_primaries": 1,
        "transfer_characteristics": 8,
        "matrix_coefficients": 1,
        "full_range_flag": 1,
    }
    path = tmp_path / "linear.heic"
    with path.open("wb") as out:
        pillow_heif.encode("RGB", img.size, img.tobytes(), out, quality=100, nclx_profile=nclx)
    assert pillow_heif.open_heif(path).info["nclx_profile"]["transfer_characteristics"] == 8
    fast = Options(text=TextMode.OFF, faces=FaceMode.OFF, jobs=1, cache=False)
    (checked,) = check_paths([path], fast)
    assert checked.status is Status.UNSAFE
    (result,) = scrub_paths([path], dataclasses.replace(fast, output_dir=tmp_path / "o"))
    assert result.status is Status.SAFE, result.reason
    written = pillow_heif.open_heif(tmp_path / "o" / path.name).info.get("nclx_profile") or {}
    assert written.get("transfer_characteristics") != 8


@pytest.mark.slow
def test_a_name_a_heic_icc_profile_lifts_into_sight_is_redacted(tmp_path):
    """The profile the re-encoded HEIC keeps was never in the decoded picture's info: no view applied it."""
    pillow_heif = need("pillow_heif", "writes and reads the HEIC")

    def as_shown(path) -> np.ndarray:
        heif = pillow_heif.open_heif(path)
        source = ImageCms.ImageCmsProfile(io.BytesIO(heif.info["icc_profile"]))
        shown = ImageCms.profileToProfile(
            heif.to_pillow().convert("RGB"), source, ImageCms.createProfile("sRGB")
        )
        return np.asarray(shown.convert("L"))

    img = Image.fromarray(np.repeat(_name_at(2)[:, :, None], 3, axis=2))
    path = tmp_path / "lifted.heic"
    with path.open("wb") as out:
        pillow_heif.encode("RGB", img.size, img.tobytes(), out, quality=100, icc_profile=_steep_profile())
    _found_then_filled(path, tmp_path, as_shown)


@pytest.mark.slow
def test_a_name_a_gif_icc_profile_lifts_into_sight_is_redacted(tmp_path):
    """Pillow neither reads nor writes a GIF's profile, which the GIF filter keeps (cleaned)."""

    def as_shown(path) -> np.ndarray:
        stored = Image.open(path).convert("RGB")  # a redacted GIF keeps the profile as well
        source = ImageCms.ImageCmsProfile(io.BytesIO(gif_icc_profile(path.read_bytes())))
        shown = ImageCms.profileToProfile(stored, source, ImageCms.createProfile("sRGB"))
        return np.asarray(shown.convert("L"))

    buf = io.BytesIO()
    Image.fromarray(_name_at(2)).convert("P").save(buf, "GIF")
    gif = buf.getvalue()
    flags = gif[10]
    at = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)  # after the global colour table
    extension = b"\x21\xff\x0bICCRGBG1012" + sub_blocks(_steep_profile())
    path = tmp_path / "lifted.gif"
    path.write_bytes(gif[:at] + extension + gif[at:])
    _found_then_filled(path, tmp_path, as_shown)
