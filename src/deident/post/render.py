"""A scrubbed file turned into a picture for social platforms: sRGB, bounded size, JPEG with no metadata.

The pixels come from the same ``Document.frames`` the pixel stages saw (display orientation, DICOM
windowing), so what is posted is what was checked. Colours embedded as an ICC profile are converted to
sRGB and the profile dropped: an untagged JPEG is read as sRGB everywhere, and a profile is one more
block of bytes that could carry a description or copyright string.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deident.findings import Action, Finding
from deident.formats.base import Context, Source, open_document

JPEG_QUALITY = 92
JPEG_SUBSAMPLING = 0  # 4:4:4: thin stain colours and fine text on scale bars survive


@dataclass
class Picture:
    image: object  # PIL.Image.Image, RGB, no info
    findings: list[Finding] = field(default_factory=list)


def first_frame(path: Path, ctx: Context) -> tuple[np.ndarray, bool]:
    """The first displayed frame of ``path`` and whether the file has more frames (posts use one)."""
    frames = open_document(Source(path)).frames(ctx)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path.name}: no picture to post")
    more = next((f for f in frames if f.index != first.index), None) is not None  # DICOM: renderings
    return first.rgb, more


def embedded_icc(path: Path) -> bytes | None:
    """The ICC profile Pillow sees in the file (JPEG APP2, PNG iCCP, TIFF, WebP ICCP), if any."""
    from PIL import Image, UnidentifiedImageError

    with contextlib.suppress(OSError, UnidentifiedImageError, ValueError), Image.open(path) as img:
        return img.info.get("icc_profile") or None
    return None


def to_srgb(image, icc: bytes | None, where: str) -> tuple[object, list[Finding]]:
    """Convert RGB pixels described by ``icc`` to sRGB; an unusable profile is dropped and reported."""
    if not icc:
        return image, []
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != "RGB":
            raise ImageCms.PyCMSError(f"{source.profile.xcolor_space.strip()} profile for RGB pixels")
        converted = ImageCms.profileToProfile(
            image,
            source,
            ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        detail = f"embedded ICC profile unusable ({exc}); colours taken as sRGB, profile dropped"
        return image, [Finding("post", "post.icc", where, Action.REMOVED, detail)]
    detail = "colours converted from the embedded ICC profile to sRGB; profile dropped"
    return converted, [Finding("post", "post.icc", where, Action.REPLACED, detail)]


def fit(image, long_side: int):
    """Scale down so the longer side is at most ``long_side``; never up."""
    from PIL import Image

    w, h = image.size
    if max(w, h) <= long_side:
        return image
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def picture_for_post(path: Path, ctx: Context, long_side: int, where: str) -> Picture:
    """The first frame of a scrubbed file, in sRGB and at most ``long_side`` pixels long."""
    from PIL import Image

    rgb, more = first_frame(path, ctx)
    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    image, findings = to_srgb(image, embedded_icc(path), where)
    if more:
        findings.append(
            Finding("post", "post.frames", where, Action.REMOVED, "only the first frame is posted")
        )
    return Picture(fit(image, long_side).convert("RGB"), findings)


def encode_jpeg(image) -> bytes:
    """Baseline JPEG with a JFIF header only: no EXIF, XMP, ICC, comment or thumbnail."""
    from PIL import Image

    bare = Image.frombytes("RGB", image.size, image.convert("RGB").tobytes())  # nothing in .info
    buf = io.BytesIO()
    bare.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=JPEG_SUBSAMPLING, optimize=True)
    return buf.getvalue()
