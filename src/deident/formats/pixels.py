"""Pixels through Pillow for the photo formats: decoding (damage becomes ``CorruptFile``), display
orientation, the views the pixel stages see (colours, alpha), redaction in stored pixels, size limits.

Pillow and numpy are imported inside functions so that the CLI starts without them.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from deident.errors import CorruptFile, TooLarge, UnsupportedFormat
from deident.formats.base import Context, Frame
from deident.regions import Redaction

if TYPE_CHECKING:  # numpy only where pixels are touched: metadata-only runs start without it
    import numpy as np

# Everything Pillow (and struct/zlib underneath it) raises on a damaged file.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError)
DECODE_ERRORS += (OverflowError,)  # Pillow, on a fuzzed TIFF whose tile size overflows a C int
DEEP_MODES = ("I;16", "I;16B", "I;16L", "I", "F")  # deep grey: more levels than a screen shows

# ---------------------------------------------------------------- orientation (EXIF 0x0112 values)

# Pillow transpose method names that turn stored pixels into what a viewer shows.
_TRANSPOSE = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270"}
_TRANSPOSE |= {7: "TRANSVERSE", 8: "ROTATE_90"}

# Display point (x, y) -> stored point, for a stored picture of width w and height h.
_TO_STORED: dict[int, Callable[[float, float, int, int], tuple[float, float]]] = {
    1: lambda x, y, w, h: (x, y),
    2: lambda x, y, w, h: (w - x, y),
    3: lambda x, y, w, h: (w - x, h - y),
    4: lambda x, y, w, h: (x, h - y),
    5: lambda x, y, w, h: (y, x),
    6: lambda x, y, w, h: (y, h - x),
    7: lambda x, y, w, h: (w - y, h - x),
    8: lambda x, y, w, h: (w - y, x),
}


def orient(img, orientation: int):
    """The picture as a viewer shows it."""
    from PIL import Image

    name = _TRANSPOSE.get(orientation)
    return img.transpose(getattr(Image.Transpose, name)) if name else img


def to_stored(redactions: list[Redaction], orientation: int, size: tuple[int, int]) -> list[Redaction]:
    """Map polygons given in display coordinates back onto the stored pixel grid."""
    fn = _TO_STORED.get(orientation, _TO_STORED[1])
    w, h = size
    return [Redaction(r.region.mapped(lambda x, y: fn(x, y, w, h)), r.style) for r in redactions]


# ---------------------------------------------------------------- pixels


def open_image(data: bytes | str):
    """Pillow image, lazily decoded; any parse error becomes ``CorruptFile``."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # our own limit (ctx.options.max_pixels) is checked before decoding
    try:
        return Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    except DECODE_ERRORS as exc:
        raise CorruptFile(f"cannot decode image: {exc}") from None


def loaded(img):
    """Force decoding now, turning decoder errors into ``CorruptFile``."""
    try:
        img.load()
    except DECODE_ERRORS as exc:
        raise CorruptFile(f"cannot decode image data: {exc}") from None
    return img


def decode_frame(data: bytes | str, index: int, what: str = "frame"):
    """Frame ``index`` of an image (bytes, or a path for files too large to hold), decoded, detached."""
    img = open_image(data)
    try:
        img.seek(index)
        return loaded(img).copy()
    except DECODE_ERRORS as exc:
        raise CorruptFile(f"cannot decode {what} {index}: {exc}") from None


def to_rgb8(img) -> np.ndarray:
    """HxWx3 uint8: deep grey levels are stretched to their own min..max so faint text stays visible."""
    import numpy as np

    if img.mode in DEEP_MODES:
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        grey = (
            np.zeros(arr.shape, np.uint8) if hi <= lo else ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        )
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def local_contrast(values: np.ndarray, least: float = 0.0) -> np.ndarray:
    """Each value scaled between the lowest and highest value within ~1/16 of the frame around it, a span
    under ``least`` as if it were ``least`` (so that it stays dim)."""
    import cv2
    import numpy as np

    size = max(15, (max(values.shape) // 16) | 1)
    kernel = np.ones((size, size), np.uint8)
    v = values.astype(np.float32)
    low, high = (cv2.blur(f(v, kernel), (size, size)) for f in (cv2.erode, cv2.dilate))
    span = np.maximum(high - low, least)
    out = np.divide(v - low, span, out=np.zeros_like(v), where=span > 0)
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)


def is_grey(rgb: np.ndarray) -> bool:
    """Three equal channels: a grey picture, however it is stored (the text stage asks it too)."""
    import numpy as np

    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def grey_view(rgb: np.ndarray) -> np.ndarray | None:
    """An 8-bit grey picture (``is_grey``) with local contrast, or None for any other.

    Turned grey, coloured print keeps only its difference in brightness: print of a ground's own
    brightness, plain in colour and under a viewer's contrast control, is faint as displayed
    (bench_recall.py's seven seeds turned grey: 25 of 485 lines left legible, none in colour). A span
    under ``GREY_LEAST_SPAN`` levels stays dim: a retina's black surround (levels 0 and 1) read "4.π" at
    0.71 when stretched to full range."""
    import numpy as np

    if not is_grey(rgb):
        return None
    return np.repeat(local_contrast(rgb[..., 0], GREY_LEAST_SPAN)[:, :, None], 3, axis=2)


GREY_LEAST_SPAN = 8.0  # levels
# The view is a second text look: on a 12 MP grey photo it took the peak RSS from 800 to 1,066 MiB, over
# issue 24's 1 GB a worker (876 MiB at 6 MP), so larger grey pictures are looked at as displayed only
# (bench_recall's are 0.3-1.9 MP).
GREY_VIEW_PIXELS = 6_000_000


def deep_view(img) -> np.ndarray | None:
    """A deep grey picture (16-bit, 32-bit, float) with local contrast, or None for any other: a label a
    few levels above its field is flat in the min..max stretch (one bright pixel squashes the rest) and
    plain under a window any viewer's contrast control sets, as in DICOM (``dicom.pixels``)."""
    import numpy as np

    if img.mode not in DEEP_MODES:
        return None
    values = np.asarray(img, dtype=np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return np.repeat(local_contrast(values)[:, :, None], 3, axis=2)


def deep_colour_frames(index: int, values: np.ndarray, label: str) -> Iterator[Frame]:
    """Each sample of a picture of 16 bits a sample with more than one sample (colour, grey with alpha:
    HxWxC as ``deep_samples`` gives it) with local contrast, as ``deep_view`` shows a deep grey one.

    Pillow keeps only the high byte of each such sample, so every other view showed a name drawn in the
    low bytes (0x8000 against 0x80F0) as flat colour, while a reader at full depth (OpenCV, tifffile, any
    viewer's levels control) shows it plainly. One view per sample: a mix of them (luma) can be made to
    cancel by drawing a name in two samples with opposite signs."""
    import numpy as np

    for c in range(values.shape[2]):
        view = np.repeat(local_contrast(values[:, :, c])[:, :, None], 3, axis=2)
        yield Frame(index, view, False, f"{label} sample {c + 1}, 16 bits, local contrast", revealed=True)


def deep_samples(data: bytes | str, stored, orientation: int, page: int = 0) -> np.ndarray:
    """HxWxC uint16, as a viewer shows it: every sample of a 16-bit PNG (bytes) or TIFF page (a path) at
    full depth, read by OpenCV (libpng, libtiff) in Pillow's sample order. Pillow's ``stored`` picture
    holds the high bytes: OpenCV's must equal them, as stored or already turned by the orientation
    (``imreadmulti`` applies a TIFF's Orientation whatever its flags), or the file fails closed: the low
    bytes would go unread."""
    import cv2
    import numpy as np
    from PIL import Image

    if isinstance(data, bytes):
        values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        ok, mats = cv2.imreadmulti(data, page, 1, None, cv2.IMREAD_UNCHANGED)
        values = mats[0] if ok and mats else None
    if values is not None and values.dtype == np.uint16:
        values = values if values.ndim == 3 else values[:, :, None]
        if values.shape[2] >= 3:
            values = values[:, :, [2, 1, 0, *range(3, values.shape[2])]]  # OpenCV's BGR(A)
        high = (values >> 8).astype(np.uint8)
        if np.array_equal(high, np.asarray(orient(stored, orientation))):
            return values
        if np.array_equal(high, np.asarray(stored)):
            turned = [
                orient(Image.fromarray(np.ascontiguousarray(values[:, :, c])), orientation)
                for c in range(values.shape[2])
            ]
            return np.stack([np.asarray(t) for t in turned], axis=2)
    raise UnsupportedFormat(
        f"picture {page + 1} has 16 bits a sample, whose low bytes the text and face checks read with "
        "OpenCV, which decodes it otherwise or not at all (convert it to 8 bits a sample)"
    )


# Modes where filling/blurring native values makes sense; others go through RGB(A) and back.
_NATIVE_MODES = {"L", "RGB", "RGBA", "LA", "I;16", "I;16B", "I;16L", "I", "1"}
_OPAQUE_BLACK = {"RGBA": (0, 0, 0, 255), "LA": (0, 255), "1": False}


def alpha_view(img) -> np.ndarray | None:
    """The alpha channel as a picture (opaque = black, transparent = white), or None when every pixel is
    opaque. ``to_rgb8`` shows the colour channels only, so text drawn in alpha alone (the colour uniform)
    would never reach a detector, while a viewer shows it over its background. Redacting the stored
    pixels with an opaque fill covers both."""
    import numpy as np

    if img.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in img.info:
        return None
    alpha = np.asarray(img.convert("RGBA"), dtype=np.uint8)[:, :, 3]
    if alpha.min() == 255:
        return None
    return np.repeat((255 - alpha)[:, :, None], 3, axis=2)


# A colour-managed rendering is shown to the text stage when it spreads some 4 neighbouring levels of a
# grey ramp at least this far apart (3x the contrast the stored picture shows). Measured (ramp spread,
# LittleCMS to sRGB): sRGB 4, a gamma 2.2 curve (Adobe RGB's) 5, gamma 1.8 (ProPhoto's) 7; a linear
# profile 34 and a PNG gAMA of 1.0 39 (level 1 shown at 13 and 20), a curv of gamma 0.1 212.
MANAGED_SPREAD = 12

# Transfer characteristics (ITU-T H.273) a PNG cICP or a HEIF nclx may declare whose rendering to sRGB
# spreads 4 neighbouring levels MANAGED_SPREAD or more apart: linear 34, logarithmic 100:1 27 (BT.709's
# and log 316:1's 11, gamma 2.2/2.6/2.8 5, sRGB 4). Such a declaration is dropped rather than rendered:
# the stored levels are what every stage sees, and then what a viewer shows.
CONTRAST_RAISING_TRANSFERS = {8: "linear", 9: "logarithmic 100:1"}


def managed_view(img, profile: bytes | None = None) -> np.ndarray | None:
    """The picture as a colour-managed viewer shows it, or None when that raises no contrast 3x.

    Browsers and viewers apply the ICC profile (here LittleCMS, to sRGB) or, in a PNG without sRGB or
    iCCP, its gAMA (PNG 3rd edition 13.13: the sample to the power 1 / (gamma x 2.2) on a 2.2 display);
    the other views show the stored values. A profile whose tone curve is steep near black (a curv of
    gamma 0.1) shows a name drawn at level 2 on black at level 205, plain to any reader, while the stored
    picture is black to every stage. A profile LittleCMS cannot read is left to the stored views: a
    viewer then shows the stored colours. ``profile``: the one a decoder kept out of ``img.info``."""
    import numpy as np

    profile, gamma = profile or img.info.get("icc_profile"), img.info.get("gamma")
    if isinstance(profile, bytes) and profile:  # Pillow hands a TIFF's ICC tag of a wrong type as text
        from PIL import ImageCms

        mode = img.mode if img.mode in ("RGB", "L", "CMYK") else "RGB"
        transform = _to_srgb(profile, mode)
        if transform is None or not _lifts(transform, mode):
            return None
        return np.asarray(ImageCms.applyTransform(img.convert(mode), transform))
    if not gamma or gamma <= 0 or "srgb" in img.info:
        return None
    lut = np.rint(255 * (np.arange(256) / 255) ** (1 / (gamma * 2.2))).astype(np.uint8)
    if _spread(lut[:, None].astype(np.int16)) < MANAGED_SPREAD:
        return None
    return lut[to_rgb8(img)]


def _to_srgb(profile: bytes, mode: str):
    """LittleCMS's transform of ``mode`` pictures through ``profile`` to sRGB, or None when it cannot read
    the profile. Built once a picture, for the ramp ``_lifts`` shows and the picture itself."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None


def _lifts(transform, mode: str) -> bool:
    """Whether ``transform`` (``_to_srgb``) spreads some 4 neighbouring grey levels MANAGED_SPREAD apart
    (False when LittleCMS cannot apply it). 8 ms a picture or DICOM frame with a profile (remembering it
    per profile saves that, about 4 % of a cine frame's CPU: not kept)."""
    import numpy as np
    from PIL import Image, ImageCms

    ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :], 3, axis=0)).convert(mode)
    try:
        shown = np.asarray(ImageCms.applyTransform(ramp, transform), np.int16)[0]
    except (ImageCms.PyCMSError, OSError, ValueError):
        return False
    return _spread(shown) >= MANAGED_SPREAD


def _spread(shown: np.ndarray) -> int:
    """The widest any 4 neighbouring levels of a grey ramp (256 x channels, as shown) are shown apart."""
    return int(abs(shown[4:] - shown[:-4]).max())


def plate_views(img) -> Iterator[tuple[str, np.ndarray]]:
    """Each ink plate of a CMYK picture that is not flat, as a grey picture (ink dark), named by its
    letter. Pillow's composite (``to_rgb8``) is R = (255 - C)(255 - K) / 255: under full black the cyan
    plate adds nothing, so a name drawn in it alone was invisible to every stage while a separations view
    (or any reader of the stored plates) shows it plainly; a plate of one value everywhere shows nothing."""
    import numpy as np

    if img.mode != "CMYK":
        return
    for letter, plate in zip("CMYK", img.split(), strict=True):
        low, high = plate.getextrema()
        if low != high:
            yield letter, np.repeat((255 - np.asarray(plate, dtype=np.uint8))[:, :, None], 3, axis=2)


def palette_rgba(palette: list[int] | bytes, transparency: int | bytes | None = None) -> np.ndarray:
    """Nx4 uint8: each palette entry's colour and alpha (tRNS bytes, or one transparent index)."""
    import numpy as np

    rgb = np.frombuffer(bytes(palette), np.uint8)
    rgb = rgb[: len(rgb) // 3 * 3].reshape(-1, 3)
    alpha = np.full((len(rgb), 1), 255, np.uint8)
    if isinstance(transparency, int) and 0 <= transparency < len(rgb):
        alpha[transparency] = 0
    elif isinstance(transparency, bytes):
        given = np.frombuffer(transparency[: len(rgb)], np.uint8)
        alpha[: len(given), 0] = given
    return np.concatenate([rgb, alpha], axis=1)


def duplicate_view(indices: np.ndarray, colours: np.ndarray) -> np.ndarray | None:
    """Which of several palette entries of one colour each pixel stores, as a picture (the first entry
    white, the last black), or None when no two used entries look alike. A name drawn by switching
    between entries of the same colour is invisible in every viewer but read by any decoder that
    returns indices; shown this way it reaches the text stage, and a redaction maps it to one entry."""
    import numpy as np

    used = np.unique(indices)
    used = used[used < len(colours)]
    keys = colours[used].astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], np.uint32)
    _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if counts.max(initial=1) < 2:
        return None
    rank = np.zeros(len(used), np.int64)
    seen: dict[int, int] = {}
    for n, g in enumerate(group.tolist()):  # entries in index order: rank within their colour group
        rank[n] = seen.get(g, 0)
        seen[g] = rank[n] + 1
    shade = np.full(max(256, len(colours)), 255, np.uint8)
    size = counts[group]
    shade[used] = np.where(size > 1, 255 - rank * 255 // np.maximum(size - 1, 1), 255).astype(np.uint8)
    grey = shade[np.clip(indices, 0, len(shade) - 1)]
    return np.repeat(grey[:, :, None], 3, axis=2)


def shown_frames(index: int, shown, label: str, profile: bytes | None = None) -> Iterator[Frame]:
    """What a viewer may show of one picture: its colours, an 8-bit or deep grey picture with local
    contrast, its alpha channel when it has one, each ink plate of a CMYK picture, its colour-managed
    rendering when that lifts dark levels, and which of its palette entries of one colour it stores when
    it has such entries."""
    import numpy as np

    rgb = to_rgb8(shown)
    yield Frame(index, rgb, True, label)
    grey = grey_view(rgb) if shown.mode not in DEEP_MODES and rgb[..., 0].size <= GREY_VIEW_PIXELS else None
    if grey is not None:
        yield Frame(index, grey, False, f"{label}, local contrast", revealed=True)
    alpha = alpha_view(shown)
    if alpha is not None:
        yield Frame(index, alpha, False, f"{label} alpha")
    for letter, plate in plate_views(shown):
        yield Frame(index, plate, False, f"{label} {letter} plate")
    managed = managed_view(shown, profile)
    if managed is not None:
        yield Frame(index, managed, False, f"{label} as colour-managed")
    deep = deep_view(shown)
    if deep is not None:
        yield Frame(index, deep, False, f"{label}, local contrast", revealed=True)
    if shown.mode == "P":
        colours = palette_rgba(shown.getpalette() or [], shown.info.get("transparency"))
        entries = duplicate_view(np.asarray(shown), colours)
        if entries is not None:
            yield Frame(index, entries, False, f"{label} palette entries", revealed=True)


def unblended_frame(
    index: int, img, at: tuple[int, int], dims, label: str, under=None, colours: bool = True
) -> Iterator[Frame]:
    """What blending an animation frame OVER its canvas hides, while a frame extractor hands the frame
    out alone: the colours it stores under alpha 0 (``colours``; a GIF's transparent pixels store none),
    and any shape it draws in the very colour under it (``under``: the canvas it is blended onto, HxWx3,
    None when that is empty). Each is shown only where it is hidden: the frames an animation encoder
    writes are the changed pixels of a delta, and showing their whole alpha or their cleared colours drew
    each delta's outline, which an animated sprite and a focus stack had filled as text (skimage's
    no_time_for_that_tiny.gif had 21 of its 23 later frames filled). Further renderings: a line needs a
    letter read."""
    import numpy as np

    rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
    alpha, stored = rgba[:, :, 3], rgba[:, :, :3]
    if alpha.min() == 255:  # opaque: blending shows the frame as stored
        return
    x, y = at
    h, w = max(0, min(alpha.shape[0], dims.height - y)), max(0, min(alpha.shape[1], dims.width - x))
    alpha, stored = alpha[:h, :w], stored[:h, :w]
    views = []
    clear = alpha == 0
    if colours and clear.any():
        # the commonest cleared colour stands for the rest: an encoder's flat fill shows nothing
        found, counts = np.unique(stored[clear], axis=0, return_counts=True)
        if len(found) > 1:
            fill = found[counts.argmax()]
            views.append((np.where(clear[:, :, None], stored, fill), fill, label))
    if under is not None:
        same = (alpha > 0) & np.all(stored == under[y : y + h, x : x + w], axis=2)
        if same.any():
            white = np.array([255, 255, 255], np.uint8)
            views.append((np.where(same[:, :, None], np.uint8(0), white), white, f"{label} alpha"))
    for view, fill, what in views:
        yield Frame(index, on_canvas(view, at, dims, fill), False, what, revealed=True)


def on_canvas(view: np.ndarray, at: tuple[int, int], dims, fill=255) -> np.ndarray:
    """``view`` (HxWx3) placed at ``at`` on a canvas of the picture's size filled with ``fill``, cut at its
    edges: where a frame extractor's frame lies on the picture."""
    import numpy as np

    x, y = at
    part = view[: max(0, dims.height - y), : max(0, dims.width - x)]
    canvas = np.empty((dims.height, dims.width, 3), np.uint8)
    canvas[:] = fill
    canvas[y : y + part.shape[0], x : x + part.shape[1]] = part
    return canvas


def animation_frames(doc, ctx, blended: dict, what: str) -> Iterator[Frame]:
    """Each frame of an APNG or animated WebP as composed (``shown_frames``), and after each frame
    blended onto its canvas what blending hides (``unblended_frame``); ``blended``: frame index -> (the
    frame alone as a still file of its format, its place on the canvas)."""
    dims = doc.check_size(ctx)
    under = None  # the canvas the next frame is blended onto: this frame as composed
    for i in range(dims.frames):
        label = f"frame {i}" if dims.frames > 1 else "image"
        shown = doc.stored(i, ctx)
        yield from shown_frames(i, shown, label)
        if i in blended:
            alone, at = blended[i]
            img = decode_frame(alone, 0, what)
            yield from unblended_frame(i, img, at, dims, f"{label} before blending", under)
        under = to_rgb8(shown)


def redact_image(img, redactions: list[Redaction]):
    """A copy of ``img`` (stored pixels, native mode) with the redactions (stored coordinates) applied."""
    import numpy as np
    from PIL import Image

    from deident.regions import redact

    if img.mode in _NATIVE_MODES:
        arr = redact(np.asarray(img), redactions, _OPAQUE_BLACK.get(img.mode))
        out = Image.fromarray(arr)  # the mode follows from dtype and shape
        return out if out.mode == img.mode else out.convert(img.mode)
    if img.mode == "P":
        work = img.convert("RGBA" if "transparency" in img.info else "RGB")
        done = Image.fromarray(redact(np.asarray(work), redactions, _OPAQUE_BLACK.get(work.mode)))
        # Back onto the original palette: untouched pixels map to themselves, the rest to the nearest entry.
        return done.convert("RGB").quantize(palette=img, dither=Image.Dither.NONE)
    work = img.convert("RGB")
    return Image.fromarray(redact(np.asarray(work), redactions)).convert(img.mode)


def refuse_above_limit(pixels: int, described: str, ctx: Context) -> None:
    """Fail closed before decoding more pixels than ``--max-pixels`` allows (decompression bombs)."""
    if pixels > ctx.options.max_pixels:
        raise TooLarge(
            f"{described} exceeds the limit of {ctx.options.max_pixels} (raise --max-pixels to allow it)"
        )
