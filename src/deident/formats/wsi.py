"""Whole-slide images (Aperio SVS, Hamamatsu NDPI, generic tiled pyramids): a page policy for rewrite_tiff.

A scanned slide is a TIFF whose pages are the tissue pyramid plus *associated images*: the label (a photo of
the slide label: accession number, patient name, barcode), the macro (the whole glass slide, label
included) and sometimes a thumbnail of the tissue. What identifies is in the associated images and in the
text tags (SVS ``ImageDescription`` carries Date, Time, User, Filename, ScanScope ID; NDPI a slide
reference and scanner serial).

Roles come from structure, not from words (``page_roles``): a page is tissue only when it is tiled, of the
base's aspect, no larger than the level before it and in the pyramid's run of pages; anything else is an
associated image and goes, whether or not its description says "label".

The policy, per page:

- tissue levels and the SVS thumbnail: kept, only ``DECODE_TAGS`` (+ the NDPI tags a reader needs), tiles
  copied byte for byte by ``rewrite_tiff`` in 4 MiB chunks (never re-encoded, never held in memory);
- SVS ``ImageDescription``: rebuilt from a keep-list (header words, the dimension line, numeric
  ``AppMag``/``MPP``/... fields); everything else in it is dropped and reported field by field;
- label and unidentified associated pages: dropped;
- macro: dropped, or with ``--keep-macro`` decoded (it is small), its label end filled and re-encoded
  losslessly; its description records the filled columns so a later check can verify the fill.

Pixel stages see the kept macro, one bounded *tissue overview* (the largest kept level or thumbnail of
at most ``OVERVIEW_MAX_PIXELS``) and every other kept page that is not a level (the thumbnail), never the
base level. Text or faces found in the overview cannot be redacted without re-encoding the pyramid, so
``redact`` refuses (the file fails closed); in the macro or the thumbnail they are filled and the page
re-encoded losslessly.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action, Finding
from deident.formats.base import Context, Document, Frame, Source
from deident.formats.tiff import (
    ASCII,
    DECODE_TAGS,
    IFD,
    Page,
    PagePlan,
    TiffDocument,
    TiffReader,
    rewrite_tiff,
)
from deident.regions import Redaction

# Hamamatsu NDPI private tags a reader needs (format flag, source lens = magnification or -1 macro / -2 map,
# slide offsets, focal plane, JPEG restart offsets relative to the strip and their high words).
NDPI_FORMAT_FLAG, NDPI_SOURCELENS, NDPI_REFERENCE = 65420, 65421, 65427
NDPI_KEEP = {65420, 65421, 65422, 65423, 65424, 65426, 65432}
NDPI_NAMES = {65427: "NDPI slide reference", 65442: "NDPI scanner serial", 65449: "NDPI property map"}

OVERVIEW_MAX_PIXELS = 4_000_000  # the tissue overview the pixel stages see (OCR cost on 2 cores: seconds)
MACRO_MAX_PIXELS = 50_000_000  # a macro larger than this is not a photo of a slide; refuse to decode it
LABEL_FRACTION = 0.36  # the label end of a 75 mm slide is at most ~26 mm: fill at least this share
FILL_VALUE = 0

# The ``|Key = Value`` fields an Aperio description keeps, each with the only form its value may take: a
# bounded number ("dim": digits no larger than the slide, see ``clean_svs_description``), never free digits.
SVS_KEEP_FIELDS = {
    "AppMag": r"\d{1,3}(\.\d{1,2})?",
    "MPP": r"\d{1,2}(\.\d{1,6})?",
    "StripeWidth": "dim",
    "OriginalWidth": "dim",
    "OriginalHeight": "dim",
    "Originalheight": "dim",
    "Filtered": r"\d{1,2}",
    "Gamma": r"\d(\.\d{1,4})?",
    "Exposure Time": r"\d{1,5}",
    "Exposure Scale": r"\d(\.\d{1,6})?",
}
DIM_BOUND = 1_000_000  # without a file: no slide side is a million pixels; with one, twice its largest side
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")
_HEADER_WORDS = {"Aperio", "Image", "Library", "Format", "Leica", "Biosystems", "GT450", "AT2", "CS2"}
_VERSION = re.compile(r"v\d{1,2}(\.\d{1,3}){0,3}")  # v12.0.15; a bare number or a date is not a version
# Tokens of the dimension line; a bare number is none of them (it would carry an accession number or a date).
_DIM_TOKEN = re.compile(
    r"\d+x\d+|\[\d+,\d+|\d+x\d+\]|\(\d+x\d+\)|->|-"
    r"|(JPEG|J2K|JP2K|LZW|RAW|NONE|DEFLATE|ZIP)/(RGB|YCBCR|YCbCr|GRAY|GREY)"
    r"|[QR]=\d{1,3}|label|macro|thumbnail|label-filled|x=\d+-\d+(,\d+-\d+)*"
)
_FILLED = re.compile(r"label-filled x=(\d+-\d+(?:,\d+-\d+)*)")


# ---------------------------------------------------------------- the SVS ImageDescription


@dataclass
class CleanDescription:
    text: str  # what is written back
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (safe name of what went, its value)
    kept: list[str] = field(default_factory=list)  # field names kept


def clean_svs_description(desc: str, bound: int = DIM_BOUND) -> CleanDescription:
    """Rebuild an Aperio description from a keep-list: header words, dimension tokens, bounded numeric fields.

    ``Aperio Image Library v11.2.1\\r\\n46000x32914 [0,100 46000x32814] (240x240) JPEG/RGB Q=30|AppMag = 20|
    Date = 12/29/09|User = jdoe|MPP = 0.499`` keeps everything but Date and User. No free digits pass: a
    bare number, a date or a number larger than ``bound`` (twice the slide's largest side) drops its line
    or field. The result is a fixed point (cleaning it again drops nothing), which is what lets the output
    pass its own check.
    """

    def small(text: str) -> bool:
        return all(int(n) <= bound for n in re.findall(r"\d+", text))

    out = CleanDescription("")
    head, *fields = desc.replace("\0", "").split("|")
    lines = [ln.strip() for ln in re.split(r"\r?\n", head) if ln.strip()]
    kept_lines = []
    for n, line in enumerate(lines):
        words = line.split()
        if n == 0:
            good = [w for w in words if w in _HEADER_WORDS or _VERSION.fullmatch(w)]
            if len(good) != len(words):
                out.dropped.append(("header words", " ".join(w for w in words if w not in good)))
            kept_lines.append(" ".join(good) or "Aperio")
        elif all(_DIM_TOKEN.fullmatch(w) for w in words) and small(line):
            kept_lines.append(line)
        else:
            out.dropped.append((f"header line {n + 1}", line))
    kept_fields = []
    for f in fields:
        key, sep, value = f.partition("=")
        key, value = key.strip(), value.strip()
        form = SVS_KEEP_FIELDS.get(key) if sep else None
        if form == "dim":
            fits = re.fullmatch(r"\d{1,7}", value) is not None and small(value)
        else:
            fits = form is not None and re.fullmatch(form, value) is not None
        if fits:
            kept_fields.append(f"{key} = {value}")
            out.kept.append(key)
        elif f.strip():
            name = key if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9 ._]{0,30}", key) else "unnamed field"
            out.dropped.append((name, value if sep else f))
    out.text = "\r\n".join(kept_lines) + "".join("|" + f for f in kept_fields)
    return out


# ---------------------------------------------------------------- page roles


@dataclass
class SlidePage:
    index: int
    role: str  # level | thumbnail | label | macro | associated (an image nobody could name: removed)
    width: int
    height: int
    tiled: bool
    description: str | None
    info: dict  # TiffDocument._page_info: tags outside the keep-list, identifying values


def _first(reader: TiffReader, ifd: IFD, tag: int, default=0):
    e = ifd.entries.get(tag)
    if e is None or not e.count:
        return default
    return reader.values(e)[0]


def _description(reader: TiffReader, ifd: IFD) -> str | None:
    e = ifd.entries.get(270)
    return reader.text(e) if e is not None and e.type == ASCII else None


def _named(desc: str | None) -> str | None:
    """'label' or 'macro' when a description names the page (SVS: second line; others: any word)."""
    if not desc:
        return None
    lines = [ln.strip() for ln in re.split(r"[\r\n|]+", desc) if ln.strip()]
    for line in lines[:3]:
        word = line.split()[0].lower() if line.split() else ""
        if word in ("label", "macro"):
            return word
    return None


@dataclass(frozen=True)
class PageShape:
    """What a page's role is decided from: its structure; a description naming it is one hint among them."""

    width: int
    height: int
    tiled: bool
    subfile: int  # NewSubfileType: 1 reduced resolution, 4 transparency mask, 8 Aperio's macro bit
    named: str | None  # "label" / "macro" when a description says so
    lens: float = 1.0  # NDPI SourceLens: magnification, -1 macro, -2 map


ASPECT_SLACK = 0.02  # a level's height is the base's scaled to its width, within 2 % and 2 px (rounding)


def fits_pyramid(page: PageShape, base: PageShape) -> bool:
    """No larger than the base and of its aspect: what every reduced level of a pyramid is."""
    if not (0 < page.width <= base.width and 0 < page.height <= base.height):
        return False
    expected = base.height * page.width / base.width
    return abs(page.height - expected) <= 2 + ASPECT_SLACK * expected


def _shape(reader: TiffReader, ifd: IFD, vendor: str) -> PageShape:
    desc = _description(reader, ifd)
    if vendor == "svs":  # the first line is the library's name: the role is named on the second
        desc = "\n".join((desc or "").splitlines()[1:])
    return PageShape(
        _first(reader, ifd, 256),
        _first(reader, ifd, 257),
        322 in ifd.entries and 324 in ifd.entries,
        _first(reader, ifd, 254),
        _named(desc),
        _first(reader, ifd, NDPI_SOURCELENS, 1.0) if vendor == "ndpi" else 1.0,
    )


def page_roles(vendor: str, shapes: list[PageShape]) -> list[str]:
    """Role per page, by structure: a level must look like one, whatever its description says.

    A level is tiled (NDPI: any page with a positive source lens), not a transparency mask, no larger than
    the base and of its aspect (``fits_pyramid``); SVS and generic levels also come in one run from page
    0, none larger than the one before (planes repeat a size). The SVS thumbnail is page 1, untiled, of the
    base's aspect.
    Anything else is an associated image: named label or macro when it says so or carries the macro bit
    (NewSubfileType 8, NDPI lens -1), otherwise unidentified. None of them is kept as tissue.
    """
    base = shapes[0]
    roles: list[str] = []
    smallest = None  # area of the last level while the run of levels lasts (SVS, generic)
    for i, s in enumerate(shapes):
        macro = s.lens == -1 if vendor == "ndpi" else bool(s.subfile & 8)
        looks = s.lens > 0 if vendor == "ndpi" else s.tiled and (i == 0 or smallest is not None)
        if vendor != "ndpi" and smallest is not None:
            looks = looks and s.width * s.height <= smallest  # planes (channels, focus) repeat a size
        if s.named or macro:
            role = s.named or "macro"
        elif looks and not s.subfile & 4 and fits_pyramid(s, base):
            role = "level"
        elif vendor == "svs" and i == 1 and not s.tiled and fits_pyramid(s, base) and s.width < base.width:
            role = "thumbnail"
        else:
            role = "associated"
        if role == "level":
            smallest = s.width * s.height
        elif role != "thumbnail" and (i > 1 or s.named or macro):
            smallest = None  # the run of levels is over (page 1 is where SVS keeps its thumbnail)
        roles.append(role)
    return roles


def classify(reader: TiffReader, ifds: list[IFD]) -> tuple[str, list[str]] | None:
    """(vendor, role per page) for a slide, None for an ordinary TIFF."""
    desc0 = _description(reader, ifds[0]) or ""
    if NDPI_FORMAT_FLAG in ifds[0].entries:
        vendor = "ndpi"
    elif desc0.startswith("Aperio"):
        vendor = "svs"
    else:
        vendor = "generic"
    shapes = [_shape(reader, ifd, vendor) for ifd in ifds]
    if vendor == "generic":
        tiled = sum(s.tiled for s in shapes)
        if not shapes[0].tiled or not (tiled >= 2 or any(s.named or s.subfile & 8 for s in shapes)):
            return None
    return vendor, page_roles(vendor, shapes)


def open_slide(source: Source) -> SlideDocument | None:
    with open(source.path, "rb") as fh:
        if not fh.read(8):
            raise CorruptFile("empty file")
        reader = TiffReader(fh)
        ifds = list(reader.chain())
        if not ifds:
            raise CorruptFile("TIFF has no pages")
        found = classify(reader, ifds)
        if found is None:
            return None
        vendor, roles = found
        if vendor == "ndpi" and reader.size > 0xFFFF_FFFF and not reader.big:
            raise UnsupportedFormat(
                "NDPI over 4 GiB stores non-standard 64-bit offsets (high words outside the TIFF "
                "structure); not supported: export the slide to SVS/OME-TIFF first"
            )
        keep = DECODE_TAGS.keys() | {270} | (NDPI_KEEP if vendor == "ndpi" else set())
        pages = []
        for i, (ifd, role) in enumerate(zip(ifds, roles, strict=True)):
            info = TiffDocument._page_info(reader, ifd, keep)
            if (
                vendor == "ndpi"
                and 305 in ifd.entries
                and reader.text(ifd.entries[305]).startswith("NDP.scan")
            ):
                info["items"] = [it for it in info["items"] if it.kind != "tiff.Software"]
            pages.append(
                SlidePage(
                    i,
                    role,
                    _first(reader, ifd, 256),
                    _first(reader, ifd, 257),
                    322 in ifd.entries,
                    _description(reader, ifd),
                    info,
                )
            )
    return SlideDocument(source, vendor, pages)


# ---------------------------------------------------------------- the macro's label end


def _grey(arr: np.ndarray) -> np.ndarray:
    a = arr.astype(np.float32)
    return a.mean(axis=2) if a.ndim == 3 else a


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def label_columns(macro: np.ndarray, label: np.ndarray | None) -> tuple[list[tuple[int, int]], str]:
    """Column ranges of the macro to fill, and why.

    With a label image, each of its four rotations is scaled to the macro's height and compared (normalised
    cross-correlation) with both ends; a clear winner (score >= 0.5, 0.2 above the other end) names the
    end, filled over the matched width plus 10 % and never less than ``LABEL_FRACTION`` of the slide.
    Otherwise both ends are filled: losing some glass is better than keeping a name.
    """
    from PIL import Image

    h, w = macro.shape[:2]
    minimum = int(np.ceil(LABEL_FRACTION * w))
    if label is not None and label.size:
        grey = _grey(macro)
        best = {"left": (-1.0, 0), "right": (-1.0, 0)}
        for k in range(4):
            lab = np.rot90(_grey(label), k)
            tw = max(1, round(h * lab.shape[1] / lab.shape[0]))
            if tw > w:
                continue
            scaled = np.asarray(Image.fromarray(lab).resize((tw, h), Image.BILINEAR), np.float32)
            for side, part in (("left", grey[:, :tw]), ("right", grey[:, w - tw :])):
                score = _ncc(scaled, part)
                if score > best[side][0]:
                    best[side] = (score, tw)
        side = max(best, key=lambda s: best[s][0])
        other = "left" if side == "right" else "right"
        score, tw = best[side]
        if score >= 0.5 and score - best[other][0] >= 0.2:
            width = min(w, max(minimum, int(np.ceil(1.1 * tw))))
            cols = (0, width) if side == "left" else (w - width, w)
            return [cols], f"label found at the {side} end (match {score:.2f})"
        reason = "label image matched neither end clearly"
    else:
        reason = "no label image to locate it"
    width = min(w // 2, minimum)
    return [(0, width), (w - width, w)], f"{reason}: both ends filled"


def _filled_ok(desc: str | None, pixels: np.ndarray) -> bool:
    """A macro is clean when its description names filled columns, each wide enough, all exactly filled."""
    m = _FILLED.search(desc or "")
    if not m:
        return False
    w = pixels.shape[1]
    for part in m.group(1).split(","):
        a, b = (int(x) for x in part.split("-"))
        if b - a < int(np.ceil(LABEL_FRACTION * w)) - 1 or not (pixels[:, a:b] == FILL_VALUE).all():
            return False
    return True


# ---------------------------------------------------------------- the document


class SlideDocument(Document):
    """A whole-slide image: structure from the path, pixels only of small pages, output streamed."""

    format = "wsi"

    def __init__(self, source: Source, vendor: str, pages: list[SlidePage]):
        self.source, self.vendor, self.pages = source, vendor, pages
        self.format = f"wsi-{vendor}"
        self.scrubbed = False
        self.keep_macro = False
        self.edited: dict[int, object] = {}  # page index -> PIL image written instead (macro, redactions)
        self.macro_cols: list[tuple[int, int]] = []
        bound = 2 * max((max(p.width, p.height) for p in pages), default=0) or DIM_BOUND
        self.descriptions = {
            p.index: clean_svs_description(p.description, bound)
            for p in pages
            if vendor == "svs" and p.description is not None
        }

    # -- what is there
    def _where(self, p: SlidePage) -> str:
        return f"page {p.index} ({p.role})"

    def _macro_clean(self, p: SlidePage) -> bool:
        return _FILLED.search(p.description or "") is not None and _filled_ok(
            p.description, np.asarray(self._decode(p.index, MACRO_MAX_PIXELS).convert("RGB"))
        )

    def _marked(self, p: SlidePage) -> bool:
        """A macro a previous scrub kept (label end filled): its other pixels are scanned like any photo."""
        return not self.scrubbed and _FILLED.search(p.description or "") is not None

    def _findings(self, action_for_tags: Action) -> list[Finding]:
        out = []
        for p in self.pages:
            where = self._where(p)
            if p.role == "label":
                out.append(
                    Finding(
                        "metadata",
                        "wsi.label",
                        where,
                        Action.REMOVED,
                        f"label image {p.width}x{p.height} (photo of the slide label)",
                    )
                )
                continue
            if p.role == "associated":
                out.append(
                    Finding(
                        "metadata",
                        "wsi.associated",
                        where,
                        Action.REMOVED,
                        f"unidentified associated image {p.width}x{p.height} (not a pyramid level by "
                        "tiling, size, aspect or position)",
                    )
                )
                continue
            if p.role == "macro" and not (action_for_tags is Action.FOUND and self._macro_clean(p)):
                out.append(
                    Finding(
                        "metadata",
                        "wsi.macro",
                        where,
                        Action.REMOVED,
                        f"macro image {p.width}x{p.height} (whole slide, label included)",
                    )
                )
                if action_for_tags is Action.FOUND:
                    continue
            for it in p.info["items"]:
                out.append(
                    Finding("metadata", it.kind, it.where.format(page=p.index), action_for_tags, it.detail)
                )
            if p.description is None:
                continue
            if self.vendor != "svs":
                if p.role != "macro" or not _FILLED.search(p.description):
                    out.append(
                        Finding(
                            "metadata",
                            "tiff.ImageDescription",
                            where,
                            action_for_tags,
                            f"ImageDescription, {len(p.description)} chars",
                        )
                    )
                continue
            for name, value in self.descriptions[p.index].dropped:
                out.append(
                    Finding(
                        "metadata",
                        "svs.description",
                        where,
                        action_for_tags,
                        f"ImageDescription {name}, {len(value)} chars",
                    )
                )
        return out

    def metadata_findings(self) -> list[Finding]:
        if self.scrubbed:
            return []
        return [f.as_found() for f in self._findings(Action.FOUND)]

    def identifiers(self) -> list[str]:
        from deident.formats._pillow import clean_values

        values = [v for p in self.pages for v in p.info["ids"]]
        for d in self.descriptions.values():
            for name, value in d.dropped:
                if name != "header line 2" or not value.startswith(("label", "macro")):
                    values += [value] + ([value.replace("/", "-")] if name == "Date" else [])
        return clean_values(v for v in values if not _NUMBER.fullmatch(v.strip()))

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        found = self._findings(Action.REMOVED)
        self.keep_macro = ctx.options.keep_macro
        if self.keep_macro:
            found = [self._fill_macro(f) if f.kind == "wsi.macro" else f for f in found]
        kept = sorted({k for d in self.descriptions.values() for k in d.kept})
        levels = [p for p in self.pages if p.role == "level"]
        base = max(levels, key=lambda p: p.width * p.height, default=None)
        overview = self._overview()
        scanned = (
            f"pixel stages see only the tissue overview {overview.width}x{overview.height} "
            f"(page {overview.index})"
            if ctx.options.pixel_stages and overview
            else "tissue pixels not scanned (pixel stages off)"
            if not ctx.options.pixel_stages
            else "no level small enough to scan"
        )
        detail = f"{len(levels)} tissue levels copied byte for byte"
        if base:
            detail += f" (base {base.width}x{base.height})"
        found.append(Finding("metadata", "wsi.tissue", "pyramid", Action.KEPT, f"{detail}; {scanned}"))
        if kept:
            found.append(
                Finding(
                    "metadata",
                    "svs.description",
                    "ImageDescription",
                    Action.KEPT,
                    "fields kept for viewers: " + ", ".join(kept),
                )
            )
        self.scrubbed = True
        return found

    def _fill_macro(self, finding: Finding) -> Finding:
        macro = next(p for p in self.pages if p.role == "macro")
        if macro.index not in self.edited:
            from PIL import Image

            img = self._decode(macro.index, MACRO_MAX_PIXELS).convert("RGB")
            label = next((p for p in self.pages if p.role == "label"), None)
            label_px = (
                np.asarray(self._decode(label.index, MACRO_MAX_PIXELS).convert("RGB")) if label else None
            )
            arr = np.asarray(img).copy()
            self.macro_cols, self.macro_reason = label_columns(arr, label_px)
            for a, b in self.macro_cols:
                arr[:, a:b] = FILL_VALUE
            self.edited[macro.index] = Image.fromarray(arr)
        cols = ",".join(f"{a}-{b}" for a, b in self.macro_cols)
        return Finding(
            "metadata",
            "wsi.macro",
            finding.where,
            Action.REDACTED,
            f"macro image kept, columns {cols} filled ({self.macro_reason})",
        )

    # -- pixels
    def _decode(self, index: int, limit: int):
        from deident.formats._pillow import decode_frame

        p = self.pages[index]
        if p.width * p.height > limit:
            raise UnsupportedFormat(f"page {index} ({p.width}x{p.height}) is too large to decode here")
        return decode_frame(str(self.source.path), index, "slide page")

    def removed_picture(self, finding: Finding) -> np.ndarray | None:
        from deident.formats._pillow import to_rgb8

        if finding.action is not Action.REMOVED or not finding.kind.startswith("wsi."):
            return None
        page = next((p for p in self.pages if self._where(p) == finding.where), None)
        return None if page is None else to_rgb8(self._decode(page.index, MACRO_MAX_PIXELS))

    def _overview(self) -> SlidePage | None:
        small = [
            p
            for p in self.pages
            if p.role in ("level", "thumbnail") and 0 < p.width * p.height <= OVERVIEW_MAX_PIXELS
        ]
        return max(small, key=lambda p: p.width * p.height, default=None)

    def _scanned(self) -> list[tuple[int, SlidePage, str]]:
        """(frame index, page, label) of every page the pixel stages see.

        Frame 0 is the kept macro, frame 1 the tissue overview, frames 2... every other kept page that is not
        a pyramid level (the thumbnail), in page order. The numbering depends only on the kept pages, so the
        output (from which label and macro are gone) numbers its frames the same way for verification.
        """
        out = []
        kept = [p for p in self.pages if p.role == "macro" and (p.index in self.edited or self._marked(p))]
        macro = kept[0] if kept else None
        if macro is not None:
            out.append((0, macro, "macro image"))
        overview = self._overview()
        if overview is None:
            raise UnsupportedFormat(
                f"whole-slide image has no tissue level or thumbnail of at most {OVERVIEW_MAX_PIXELS} pixels "
                "for the pixel stages; run with --text off --faces off to scrub metadata and associated "
                "images only"
            )
        out.append((1, overview, f"tissue overview {overview.width}x{overview.height}"))
        others = [p for p in self.pages if p.role == "thumbnail" and p is not overview]
        for n, p in enumerate(others):
            out.append((2 + n, p, f"{p.role} {p.width}x{p.height} (page {p.index})"))
        return out

    def frames(self, ctx: Context) -> Iterator[Frame]:
        """The kept macro, the bounded tissue overview, and every other kept page that is not a level."""
        from deident.formats._pillow import to_rgb8

        for index, page, label in self._scanned():
            img = self.edited.get(page.index) or self._decode(page.index, OVERVIEW_MAX_PIXELS)
            yield Frame(index, to_rgb8(img), False, label)

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        """The macro and the thumbnail are small: redacted and re-encoded. The tissue overview is refused."""
        from deident.formats._pillow import redact_image

        page = next((p for i, p, _ in self._scanned() if i == frame_index), None)
        if page is None or frame_index == 1:
            raise UnsupportedFormat(
                "text or a face was found in the tissue overview of a whole-slide image; redacting it would "
                "mean re-encoding every pyramid level: crop or re-scan the slide, or check it by eye and use "
                "--text off"
            )
        img = self.edited.get(page.index) or self._decode(page.index, MACRO_MAX_PIXELS).convert("RGB")
        self.edited[page.index] = redact_image(img, redactions)
        return []

    # -- output
    def _edited_page(self, page: Page) -> PagePlan:
        """A page whose pixels were changed: re-encoded losslessly (deflate), its description rebuilt."""
        buf = io.BytesIO()
        self.edited[page.index].save(buf, "TIFF", compression="tiff_adobe_deflate")
        reader = TiffReader.from_bytes(buf.getvalue())
        m = self.pages[page.index]
        text = None
        if m.role == "macro":
            cols = ",".join(f"{a}-{b}" for a, b in self.macro_cols)
            text = f"macro {m.width}x{m.height} label-filled x={cols}"
            if self.vendor == "svs":
                text = self.descriptions[page.index].text.split("\r\n")[0] + "\r\n" + text
        plan = self._plan(page, description=text)
        plan.pixels = Page(0, reader, next(reader.chain()))
        return plan

    def _plan(self, page: Page, description: str | None = None) -> PagePlan:
        keep = DECODE_TAGS.keys() | (NDPI_KEEP if self.vendor == "ndpi" else set())
        plan = PagePlan({t for t in page.ifd.entries if t in keep})
        if description is None and self.vendor == "svs" and page.index in self.descriptions:
            description = self.descriptions[page.index].text
        if description is not None:
            raw = description.encode("ascii", "replace") + b"\0"
            plan.extra[270] = (ASCII, raw, len(raw))
        software = page.ifd.entries.get(305)
        if self.vendor == "ndpi" and software and page.reader.text(software).startswith("NDP.scan"):
            plan.extra[305] = (ASCII, b"NDP.scan\0", 9)  # the vendor signature readers look for
        return plan

    def write(self, out, ctx: Context) -> None:
        def policy(page: Page) -> PagePlan | None:
            role = self.pages[page.index].role
            if page.index in self.edited:
                return self._edited_page(page)
            if role in ("level", "thumbnail"):
                return self._plan(page)
            return None

        if not self.scrubbed:
            raise UnsupportedFormat("whole-slide image: write() before scrub_metadata()")
        try:
            rewrite_tiff(self.source.path, out, policy, ndpi=self.vendor == "ndpi")
        except struct.error as exc:
            raise CorruptFile(f"TIFF structure is damaged: {exc}") from None
