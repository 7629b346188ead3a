"""Page roles of a slide, by structure: a page is tissue only when it looks like a pyramid level; anything
else is an associated image (label, macro, or unidentified) and goes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deident.formats.tiff.reader import IFD, TiffReader
from deident.formats.tiff.tags import ASCII, Tag

# Hamamatsu NDPI private tags a reader needs (format flag, source lens = magnification or -1 macro / -2 map,
# slide offsets, focal plane, JPEG restart offsets relative to the strip and their high words).
NDPI_FORMAT_FLAG, NDPI_SOURCELENS = 65420, 65421
NDPI_KEEP = {65420, 65421, 65422, 65423, 65424, 65426, 65432}


def description_of(reader: TiffReader, ifd: IFD) -> str | None:
    e = ifd.entries.get(Tag.ImageDescription)
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
    desc = description_of(reader, ifd)
    if vendor == "svs":  # the first line is the library's name: the role is named on the second
        desc = "\n".join((desc or "").splitlines()[1:])
    return PageShape(
        reader.first_value(ifd.entries, Tag.ImageWidth),
        reader.first_value(ifd.entries, Tag.ImageLength),
        Tag.TileWidth in ifd.entries and Tag.TileOffsets in ifd.entries,
        reader.first_value(ifd.entries, Tag.NewSubfileType),
        _named(desc),
        reader.first_value(ifd.entries, NDPI_SOURCELENS, 1.0) if vendor == "ndpi" else 1.0,
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
    desc0 = description_of(reader, ifds[0]) or ""
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
