"""What the photo formats share: a whole-file ``Document`` whose pixels go through Pillow.

Each format module only knows its own container (a walker that lists identifying items and a filter that
drops them); decoding, display orientation, redaction in stored pixels and the re-encode bookkeeping live
here once. Pillow is imported inside functions so that the CLI starts without it.
"""

from __future__ import annotations

import bisect
import functools
import io
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deident.errors import CorruptFile, TooLarge
from deident.findings import Action, Finding
from deident.formats.base import Context, Document, Frame, ImageDims, Source
from deident.regions import Redaction

if TYPE_CHECKING:  # numpy only where pixels are touched: metadata-only runs start without it
    import numpy as np

# Everything Pillow (and struct/zlib underneath it) raises on a damaged file.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError)
DECODE_ERRORS += (OverflowError,)  # Pillow, on a fuzzed TIFF whose tile size overflows a C int


@dataclass(frozen=True)
class Item:
    """One identifying thing found in a container, before it becomes a ``Finding``."""

    kind: str
    where: str
    detail: str
    action: Action = Action.REMOVED

    def finding(self, action: Action | None = None) -> Finding:
        return Finding("metadata", self.kind, self.where, action or self.action, self.detail)


def per_bytes(fn):
    """``fn(data, parsed, *flags)`` computed once for the last bytes object (by identity) and flags.

    Open, inspect, scrub and verify ask about the same bytes several times; one entry is enough, and it is
    replaced in one assignment, so threads at worst compute it twice.
    """
    last: tuple | None = None

    @functools.wraps(fn)
    def remembered(data, parsed, *flags):
        nonlocal last
        seen = last
        if seen is not None and seen[0] is data and seen[1] == flags:
            return seen[2]
        result = fn(data, parsed, *flags)
        last = (data, flags, result)
        return result

    return remembered


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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

    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        grey = (
            np.zeros(arr.shape, np.uint8) if hi <= lo else ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        )
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


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


def shown_frames(index: int, shown, label: str) -> Iterator[Frame]:
    """What a viewer may show of one picture: its colours, and its alpha channel when it has one."""
    yield Frame(index, to_rgb8(shown), True, label)
    alpha = alpha_view(shown)
    if alpha is not None:
        yield Frame(index, alpha, False, f"{label} alpha")


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


# ---------------------------------------------------------------- identifying values (deny-list)

_XMP_VALUE_TAGS = (
    "dc:creator",
    "dc:rights",
    "photoshop:City",
    "photoshop:State",
    "photoshop:Country",
    "photoshop:Credit",
    "photoshop:AuthorsPosition",
    "photoshop:DateCreated",
    "Iptc4xmpCore:Location",
    "Iptc4xmpCore:CountryCode",
    "xmp:CreateDate",
    "xmp:ModifyDate",
    "exif:DateTimeOriginal",
    "aux:SerialNumber",
    "exifEX:BodySerialNumber",
    "exifEX:CameraOwnerName",
    "tiff:Artist",
)
_XMP_TAGS_RE = b"|".join(re.escape(t.encode()) for t in _XMP_VALUE_TAGS)
# Opening and closing tags are found separately and paired by position: one regex with a lazy body,
# ``<(tag)[^>]*>(.*?)</\1>``, rescans to the end of the packet for every opening tag without a closing
# one, which made a crafted 500 kB packet take a minute (quadratic). Attributes are bounded for the
# same reason.
_XMP_OPEN_RE = re.compile(rb"<(" + _XMP_TAGS_RE + rb")\b[^<>]{0,4096}>")
_XMP_CLOSE_RE = re.compile(rb"</(" + _XMP_TAGS_RE + rb")>")
_XMP_ATTR_RE = re.compile(
    rb"\b(" + b"|".join(re.escape(t.encode()) for t in _XMP_VALUE_TAGS) + rb')="([^"]*)"'
)
_XML_TEXT_RE = re.compile(rb">([^<>]+)<")


def xmp_identifiers(xmp: bytes) -> list[str]:
    """Names, places, dates and serials from an XMP packet (element and attribute forms)."""
    values: list[bytes] = []
    for body in _xmp_element_bodies(xmp):
        inner = _XML_TEXT_RE.findall(b">" + body + b"<")
        values += inner or [body]
    values += [v for _, v in _XMP_ATTR_RE.findall(xmp)]
    return clean_values(v.decode("utf-8", "replace") for v in values)


def _xmp_element_bodies(xmp: bytes) -> Iterator[bytes]:
    """Bodies of the value elements, non-overlapping, left to right: linear in the packet size."""
    closes: dict[bytes, list[int]] = {}
    for m in _XMP_CLOSE_RE.finditer(xmp):
        closes.setdefault(m.group(1), []).append(m.start())
    consumed = 0
    for m in _XMP_OPEN_RE.finditer(xmp):
        ends = closes.get(m.group(1))
        if m.start() < consumed or not ends:
            continue
        i = bisect.bisect_left(ends, m.end())
        if i == len(ends):
            continue
        yield xmp[m.end() : ends[i]]
        consumed = ends[i] + len(m.group(1)) + 3


# IPTC IIM record 2 datasets that name people, places, dates or sources.
IPTC_VALUE_DATASETS = {5, 55, 60, 80, 85, 90, 92, 95, 100, 101, 110, 115, 116, 118, 122}


def iptc_datasets(iim: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(record, dataset, value) from an IPTC IIM block; stops quietly at the first malformed entry."""
    pos = 0
    while pos + 5 <= len(iim) and iim[pos] == 0x1C:
        record, dataset, size = iim[pos + 1], iim[pos + 2], struct.unpack(">H", iim[pos + 3 : pos + 5])[0]
        pos += 5
        if size & 0x8000:  # extended length: the next (size & 0x7fff) bytes hold the real length
            n = size & 0x7FFF
            size = int.from_bytes(iim[pos : pos + n], "big")
            pos += n
        yield record, dataset, iim[pos : pos + size]
        pos += size


def iptc_identifiers(iim: bytes) -> list[str]:
    return clean_values(
        v.decode("utf-8", "replace") for r, d, v in iptc_datasets(iim) if r == 2 and d in IPTC_VALUE_DATASETS
    )


def photoshop_resources(irb: bytes) -> Iterator[tuple[int, bytes]]:
    """(resource id, data) from Photoshop image resource blocks ('8BIM' ...)."""
    pos = 0
    while pos + 12 <= len(irb) and irb[pos : pos + 4] == b"8BIM":
        rid = struct.unpack(">H", irb[pos + 4 : pos + 6])[0]
        nlen = irb[pos + 6]
        pos += 6 + ((nlen + 2) & ~1)  # Pascal name padded to even length
        if pos + 4 > len(irb):
            return
        size = struct.unpack(">I", irb[pos : pos + 4])[0]
        pos += 4
        yield rid, irb[pos : pos + size]
        pos += size + (size & 1)


IPTC_RESOURCE = 0x0404


def clean_values(values) -> list[str]:
    """Trimmed, de-duplicated, short enough to be a name/date/serial (long prose is no deny-list term)."""
    out: list[str] = []
    for v in values:
        v = v.replace("\x00", "").strip()
        if 2 <= len(v) <= 80 and v not in out:
            out.append(v)
    return out


def refuse_above_limit(pixels: int, described: str, ctx: Context) -> None:
    """Fail closed before decoding more pixels than ``--max-pixels`` allows (decompression bombs)."""
    if pixels > ctx.options.max_pixels:
        raise TooLarge(
            f"{described} exceeds the limit of {ctx.options.max_pixels} (raise --max-pixels to allow it)"
        )


# ---------------------------------------------------------------- the shared document


class WholeFileDocument(Document):
    """A file small enough to hold in memory: scrub filters the bytes, pixels come from Pillow.

    Subclasses provide ``_items`` (identifying items in some bytes), ``_clean`` (those bytes without
    them), ``_dims`` (size before decoding) and ``_encode`` (the file re-encoded with edited frames).
    """

    format = ""

    def __init__(self, source: Source):
        self.source = source
        if not source.data:
            raise CorruptFile("empty file")
        self.data: bytes = source.data
        self.scrubbed = False
        self.edited: dict[int, object] = {}  # frame index -> stored pixels (PIL image) after redaction
        self._parsed: tuple[bytes, list[Item]] | None = None
        self._items_of(self.data)  # parse now: a damaged container fails at open, not half-way

    def _items_of(self, data: bytes) -> list[Item]:
        """``_items`` once per bytes object: open, inspect and scrub all ask about the same bytes."""
        if self._parsed is None or self._parsed[0] is not data:
            self._parsed = (data, self._items(data))
        return self._parsed[1]

    # -- format hooks
    def _items(self, data: bytes) -> list[Item]:
        raise NotImplementedError

    def _clean(self, data: bytes) -> bytes:
        raise NotImplementedError

    def _dims(self) -> ImageDims:
        raise NotImplementedError

    def _encode(self, ctx: Context) -> bytes:
        raise NotImplementedError

    def _kept(self) -> list[Item]:
        """What scrub deliberately leaves (reported as KEPT)."""
        return []

    @property
    def orientation(self) -> int:
        return 1

    # -- Document
    def metadata_findings(self) -> list[Finding]:
        return [it.finding(Action.FOUND) for it in self._items_of(self.data)]

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        items = self._items_of(self.data)
        kept = self._kept()
        self.data = self._clean(self.data)
        self.scrubbed = True
        return [it.finding() for it in items] + [it.finding(Action.KEPT) for it in kept]

    def check_size(self, ctx: Context) -> ImageDims:
        dims = self._dims()
        refuse_above_limit(dims.pixels, f"{dims.width}x{dims.height}x{dims.frames} pixels", ctx)
        return dims

    def stored(self, index: int, ctx: Context):
        """Stored (un-oriented) pixels of one frame in their native mode."""
        if index in self.edited:
            return self.edited[index]
        dims = self.check_size(ctx)
        if not 0 <= index < dims.frames:
            raise IndexError(f"{self.format}: no frame {index}")
        return decode_frame(self.data, index)

    def frames(self, ctx: Context) -> Iterator[Frame]:
        dims = self.check_size(ctx)
        for i in range(dims.frames):
            shown = orient(self.stored(i, ctx), self.orientation)
            yield from shown_frames(i, shown, f"frame {i}" if dims.frames > 1 else "image")

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        img = self.stored(frame_index, ctx)
        self.edited[frame_index] = redact_image(img, to_stored(redactions, self.orientation, img.size))
        return []

    def write(self, out, ctx: Context) -> None:
        out.write(self._output(ctx))

    def to_bytes(self, ctx: Context) -> bytes:
        return self._output(ctx)  # the very bytes: no copy through a buffer

    def _output(self, ctx: Context) -> bytes:
        """The whole output; a subclass that writes differently overrides this, never ``write`` alone."""
        if self.edited:
            # Re-encoded bytes carry only what the encoder wrote; the filter also restores the orientation.
            return self._clean(self._encode(ctx))
        return self.data
