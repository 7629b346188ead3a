"""TIFF (classic and BigTIFF, stripped and tiled, multi-page): a streaming rewriter keeping only what decodes.

The same IFD reader serves EXIF blocks found in JPEG, PNG and WebP (an EXIF block is a small TIFF).

Layout of what ``rewrite_tiff`` writes, with every offset known before the first byte goes out (no seeks,
so it can write to a pipe and never holds a slide in memory)::

    header -> page 0: IFD, out-of-line tag values, strip/tile data -> page 1: ... -> next-IFD 0

A page policy decides per page what survives: ``structural_page`` (the default) keeps the tags in
``DECODE_TAGS``; the whole-slide module (``formats.wsi``) drops label/macro pages and adds a cleaned
ImageDescription with its own policy. ``open_tiff`` hands slides to it.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action, Finding
from deident.formats._pillow import Item, WholeFileDocument, clean_values, plural
from deident.formats.base import Context, Document, Frame, ImageDims, Source
from deident.regions import Redaction

# TIFF 6.0 / BigTIFF field types: type -> (size of one value, struct code)
TYPES = {1: (1, "B"), 2: (1, "B"), 3: (2, "H"), 4: (4, "I"), 5: (8, "II"), 6: (1, "b"), 7: (1, "B")}
TYPES |= {8: (2, "h"), 9: (4, "i"), 10: (8, "ii"), 11: (4, "f"), 12: (8, "d"), 13: (4, "I")}
TYPES |= {16: (8, "Q"), 17: (8, "q"), 18: (8, "Q")}
ASCII, SHORT, LONG, LONG8 = 2, 3, 4, 16

MAX_PAGES = 100_000
MAX_ENTRIES = 4096

# ---------------------------------------------------------------- tag tables

# Tags needed to decode and display a page: the rewriter keeps these and nothing else.
DECODE_TAGS = {
    254: "NewSubfileType",
    255: "SubfileType",
    256: "ImageWidth",
    257: "ImageLength",
    258: "BitsPerSample",
    259: "Compression",
    262: "PhotometricInterpretation",
    263: "Threshholding",
    266: "FillOrder",
    273: "StripOffsets",
    274: "Orientation",
    277: "SamplesPerPixel",
    278: "RowsPerStrip",
    279: "StripByteCounts",
    280: "MinSampleValue",
    281: "MaxSampleValue",
    282: "XResolution",
    283: "YResolution",
    284: "PlanarConfiguration",
    290: "GrayResponseUnit",
    291: "GrayResponseCurve",
    296: "ResolutionUnit",
    301: "TransferFunction",
    317: "Predictor",
    318: "WhitePoint",
    319: "PrimaryChromaticities",
    320: "ColorMap",
    321: "HalftoneHints",
    322: "TileWidth",
    323: "TileLength",
    324: "TileOffsets",
    325: "TileByteCounts",
    332: "InkSet",
    338: "ExtraSamples",
    339: "SampleFormat",
    340: "SMinSampleValue",
    341: "SMaxSampleValue",
    347: "JPEGTables",
    529: "YCbCrCoefficients",
    530: "YCbCrSubSampling",
    531: "YCbCrPositioning",
    532: "ReferenceBlackWhite",
    32997: "ImageDepth",  # SGI: volumetric pages (private, but needed to decode)
    32998: "TileDepth",
    34675: "InterColorProfile",
}
OFFSET_TAGS = {273: 279, 324: 325}  # data offsets -> their byte counts

# The standard form of every tag the rewriter copies: (allowed field types, count). A count is a number,
# "any" (a byte blob or one value per strip/tile), "spp" (1 to SamplesPerPixel values) or, for tables
# indexed by sample value, "curve" (2**BitsPerSample), "transfer" (1 or 3 such tables), "colormap" (3).
# A kept tag in another form is refused: its count decides how many bytes are copied, so an inflated one
# would carry whatever lies after its value into the output.
_INT, _RATIONAL = (SHORT, LONG, LONG8), (5,)
_NUMERIC = (1, SHORT, LONG, 5, 6, 8, 9, 10, 11, 12, LONG8, 17)
_BLOB = (1, 7)
TAG_FORMS: dict[int, tuple[tuple[int, ...], int | str]] = {
    **dict.fromkeys((254, 255, 256, 257, 259, 262, 263, 266, 274, 277, 278), (_INT, 1)),
    **dict.fromkeys((284, 290, 296, 317, 322, 323, 332, 531, 32997, 32998), (_INT, 1)),
    **dict.fromkeys((273, 279, 324, 325), (_INT, "any")),
    **dict.fromkeys((258, 280, 281, 338, 339), (_INT, "spp")),
    **dict.fromkeys((340, 341), (_NUMERIC, "spp")),
    **dict.fromkeys((282, 283), (_RATIONAL, 1)),
    291: (_INT, "curve"),
    301: (_INT, "transfer"),
    318: (_RATIONAL, 2),
    319: (_RATIONAL, 6),
    320: (_INT, "colormap"),
    321: (_INT, 2),
    347: (_BLOB, "any"),
    529: (_RATIONAL, 3),
    530: (_INT, 2),
    532: (_RATIONAL, 6),
    34675: (_BLOB, "any"),
    # Hamamatsu NDPI tags formats.wsi keeps: format flag, source lens, slide offsets, focal plane, MCU starts
    65420: (_INT, 1),
    65421: ((11,), 1),
    **dict.fromkeys((65422, 65423, 65424), ((LONG, 9), 1)),
    **dict.fromkeys((65426, 65432), ((LONG, LONG8), "any")),
}

# Names for what gets dropped, so a report says "tiff.Artist" instead of a number.
TAG_NAMES = {
    269: "DocumentName",
    270: "ImageDescription",
    271: "Make",
    272: "Model",
    285: "PageName",
    305: "Software",
    306: "DateTime",
    315: "Artist",
    316: "HostComputer",
    330: "SubIFDs",
    513: "JPEGInterchangeFormat",
    514: "JPEGInterchangeFormatLength",
    700: "XMP",
    33432: "Copyright",
    33550: "ModelPixelScale",
    33723: "IPTC",
    33922: "ModelTiepoint",
    34264: "ModelTransformation",
    34377: "Photoshop",
    34665: "ExifIFD",
    34735: "GeoKeyDirectory",
    34736: "GeoDoubleParams",
    34737: "GeoAsciiParams",
    34853: "GPSIFD",
    37724: "ImageSourceData",
    40965: "InteropIFD",
    50706: "DNGVersion",
    50708: "UniqueCameraModel",
    50735: "CameraSerialNumber",
}
GEO_TAGS = {33550, 33922, 34264, 34735, 34736, 34737}
TAG_KIND = {700: "xmp", 33723: "iptc", 34853: "exif.gps"} | dict.fromkeys(GEO_TAGS, "tiff.geo")

# EXIF tags by what they reveal. Orientation (274) is display information, not identifying.
EXIF_KIND = {
    **dict.fromkeys((306, 36867, 36868, 36880, 36881, 36882, 37520, 37521, 37522), "exif.datetime"),
    **dict.fromkeys((315, 33432, 40093, 42032), "exif.owner"),
    **dict.fromkeys((269, 270, 285, 316, 37510, 40091, 40092, 40094, 40095), "exif.text"),
    **dict.fromkeys((42016, 42033, 42037, 50735), "exif.serial"),
    **dict.fromkeys((11, 271, 272, 305, 42034, 42035, 42036), "exif.device"),
    37500: "exif.makernote",
}
EXIF_LABEL = {
    "exif.datetime": "dates and times",
    "exif.owner": "owner, artist or copyright",
    "exif.text": "descriptions and comments",
    "exif.serial": "serial numbers and unique IDs",
    "exif.device": "make, model and software",
    "exif.makernote": "maker note",
    "exif.gps": "GPS position",
    "exif.thumbnail": "embedded thumbnail",
    "exif.settings": "other camera fields",
}
EXIF_POINTERS = {34665: "exif", 34853: "gps", 40965: "interop"}
ORIENTATION = 274
# Values worth putting on the batch deny-list (names, serials, dates), as (kind) whose values we collect.
VALUE_KINDS = {"exif.owner", "exif.serial", "exif.datetime", "exif.text"}


# ---------------------------------------------------------------- reading


@dataclass
class Entry:
    tag: int
    type: int
    count: int
    offset: int  # absolute position of the value bytes (inline or not)

    @property
    def size(self) -> int:
        return TYPES.get(self.type, (1, "B"))[0] * self.count


@dataclass
class IFD:
    offset: int
    entries: dict[int, Entry]
    next: int
    size: int = 0  # bytes of the IFD itself: entry count, entries, next-IFD offset
    shadowed: list[Entry] = field(default_factory=list)  # earlier entries of a tag listed twice


class TiffReader:
    """Random access to the IFDs and values of a TIFF held in a file object; every offset bounds-checked."""

    def __init__(self, fh: BinaryIO, size: int | None = None, base: int = 0):
        self.fh, self.base = fh, base
        if size is None:
            fh.seek(0, io.SEEK_END)
            size = fh.tell() - base
        self.size = size
        head = self.read(0, 16 if size >= 16 else 8)
        if head[:2] not in (b"II", b"MM"):
            raise CorruptFile("not a TIFF structure (bad byte-order mark)")
        self.bo = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(self.bo + "H", head[2:4])[0]
        if magic == 42:
            self.big, self.first = False, struct.unpack(self.bo + "I", head[4:8])[0]
        elif magic == 43:
            if len(head) < 16 or struct.unpack(self.bo + "HH", head[4:8]) != (8, 0):
                raise CorruptFile("BigTIFF header is damaged")
            self.big, self.first = True, struct.unpack(self.bo + "Q", head[8:16])[0]
        else:
            raise CorruptFile(f"not a TIFF structure (magic {magic})")

    @classmethod
    def from_bytes(cls, data: bytes) -> TiffReader:
        return InMemoryTiffReader(data)

    def read(self, pos: int, n: int) -> bytes:
        self._check(pos, n)
        self.fh.seek(self.base + pos)
        data = self.fh.read(n)
        if len(data) != n:
            raise CorruptFile("TIFF data is truncated")
        return data

    def _check(self, pos: int, n: int) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise CorruptFile(f"TIFF structure points past the end of the data ({pos}+{n} > {self.size})")

    def ifd(self, offset: int) -> IFD:
        count_fmt, entry_size, off_fmt = ("Q", 20, "Q") if self.big else ("H", 12, "I")
        csize = struct.calcsize(count_fmt)
        n = struct.unpack(self.bo + count_fmt, self.read(offset, csize))[0]
        if n > MAX_ENTRIES:
            raise CorruptFile(f"IFD at {offset} claims {n} entries")
        raw = self.read(offset + csize, n * entry_size + struct.calcsize(off_fmt))
        entries: dict[int, Entry] = {}
        shadowed: list[Entry] = []
        inline = 8 if self.big else 4
        value_at = offset + csize + entry_size - inline  # where the first entry's value field starts
        layout = self.bo + ("HHQ8s" if self.big else "HHI4s")  # tag, type, count, value or offset
        for tag, typ, count, value in struct.iter_unpack(layout, raw[: n * entry_size]):
            entry = Entry(tag, typ, count, value_at)
            if entry.size > inline:
                entry.offset = struct.unpack(self.bo + off_fmt, value)[0]
            if tag in entries:
                shadowed.append(entries[tag])
            entries[tag] = entry
            value_at += entry_size
        nxt = struct.unpack(self.bo + off_fmt, raw[n * entry_size :])[0]
        return IFD(offset, entries, nxt, csize + len(raw), shadowed)

    def chain(self, offset: int | None = None) -> Iterator[IFD]:
        """Every IFD of a next-pointer chain (pages), refusing loops."""
        seen: set[int] = set()
        offset = self.first if offset is None else offset
        while offset:
            if offset in seen or len(seen) >= MAX_PAGES:
                raise CorruptFile("TIFF page chain loops back on itself")
            seen.add(offset)
            ifd = self.ifd(offset)
            yield ifd
            offset = ifd.next

    def raw(self, entry: Entry) -> bytes:
        return self.read(entry.offset, entry.size)

    def values(self, entry: Entry) -> tuple:
        if entry.type not in TYPES:
            raise CorruptFile(f"tag {entry.tag} has unknown field type {entry.type}")
        code = TYPES[entry.type][1]
        return struct.unpack(f"{self.bo}{entry.count * len(code)}{code[0]}", self.raw(entry))

    def text(self, entry: Entry) -> str:
        raw = self.raw(entry)
        if entry.tag in (40091, 40092, 40093, 40094, 40095):  # Windows XP* tags: UTF-16LE in BYTE arrays
            return raw.decode("utf-16-le", "replace")
        if entry.tag == 37510:  # UserComment: 8-byte character code, then the text
            code, raw = raw[:8], raw[8:]
            return raw.decode("utf-16-be" if code.startswith(b"UNICODE") else "latin-1", "replace")
        return raw.split(b"\0")[0].decode("utf-8", "replace")


class InMemoryTiffReader(TiffReader):
    """The same reader over bytes in memory (EXIF blocks): a slice per value, not a seek and a read."""

    def __init__(self, data: bytes):
        self.data = data
        super().__init__(io.BytesIO(data), len(data))

    def read(self, pos: int, n: int) -> bytes:
        self._check(pos, n)
        return self.data[pos : pos + n]


# ---------------------------------------------------------------- EXIF blocks (JPEG, PNG, WebP)


@dataclass
class ExifSummary:
    """What an EXIF block holds, by category, without values (except ``identifiers``, memory only)."""

    counts: dict[str, list[int]] = field(default_factory=dict)  # kind -> [fields, bytes]
    orientation: int = 1
    gps_position: bool = False
    identifiers: list[str] = field(default_factory=list)

    def add(self, kind: str, nbytes: int) -> None:
        c = self.counts.setdefault(kind, [0, 0])
        c[0] += 1
        c[1] += nbytes

    def items(self, where: str) -> list[Item]:
        out = []
        for kind, (n, nbytes) in self.counts.items():
            label = EXIF_LABEL[kind]
            if kind == "exif.gps" and not self.gps_position:
                label = "GPS data"
            out.append(Item(kind, where, f"{label}: {plural(n, 'field')}, {nbytes} bytes"))
        return out


def read_exif(data: bytes) -> ExifSummary:
    """Summarise a TIFF-structured EXIF block; damage in it is reported as a whole-block finding."""
    summary = ExifSummary()
    reader = TiffReader.from_bytes(data)
    ifds = list(reader.chain())
    for n, ifd in enumerate(ifds[:2]):
        _walk_exif_ifd(reader, ifd, summary, thumbnail=n == 1)
    for _ in ifds[2:]:
        summary.add("exif.settings", 0)
    return summary


def _walk_exif_ifd(reader: TiffReader, ifd: IFD, summary: ExifSummary, thumbnail=False, depth=0) -> None:
    for tag, entry in ifd.entries.items():
        if thumbnail:
            size = entry.size + (reader.values(entry)[0] if tag == 514 and entry.count else 0)
            summary.add("exif.thumbnail", size)
            continue
        if tag == ORIENTATION:
            if entry.type == SHORT and entry.count >= 1:
                summary.orientation = reader.values(entry)[0]
            continue
        if tag in EXIF_POINTERS:
            if depth < 2 and entry.type in (LONG, 13, LONG8) and entry.count >= 1:
                sub = reader.ifd(reader.values(entry)[0])
                if tag == 34853:
                    summary.gps_position = 2 in sub.entries and 4 in sub.entries
                    for e in sub.entries.values():
                        summary.add("exif.gps", e.size)
                else:
                    _walk_exif_ifd(reader, sub, summary, depth=depth + 1)
            continue
        kind = EXIF_KIND.get(tag, "exif.settings")
        summary.add(kind, entry.size)
        if kind in VALUE_KINDS and entry.type in (ASCII, 1, 7):
            value = reader.text(entry)
            summary.identifiers += clean_values([value, value[:10]] if kind == "exif.datetime" else [value])


def exif_items(data: bytes, where: str) -> tuple[list[Item], ExifSummary]:
    """Items of one EXIF block; a block we cannot parse is still one item (it gets dropped whole)."""
    global _last_exif
    last = _last_exif  # one read: another thread may replace it meanwhile
    if last is not None and last[0] == data:
        return last[1].items(where), last[1]  # the same block again (orientation, then findings)
    try:
        summary = read_exif(data)
    except (CorruptFile, struct.error) as exc:
        return [Item("exif", where, f"EXIF block, {len(data)} bytes (unreadable: {exc})")], ExifSummary()
    _last_exif = (data, summary)
    return summary.items(where), summary


_last_exif: tuple[bytes, ExifSummary] | None = None


def orientation_exif(orientation: int) -> bytes:
    """A minimal little-endian EXIF block holding only Orientation: what a viewer needs, nothing else."""
    return b"II*\x00" + struct.pack("<IHHHIHHI", 8, 1, ORIENTATION, SHORT, 1, orientation, 0, 0)


# ---------------------------------------------------------------- rewriting


@dataclass
class Page:
    """One page as read: where its tags are and how to fetch them."""

    index: int
    reader: TiffReader
    ifd: IFD

    def tag_values(self, tag: int) -> tuple:
        return self.reader.values(self.ifd.entries[tag])


@dataclass
class PagePlan:
    """What a policy decided for a page: the tags to write and, optionally, replacement tags/pixels.

    ``extra`` adds or overrides tags: tag -> (type, raw value bytes in the output byte order, count).
    ``pixels`` replaces the page's image data by the first page of another TIFF (a re-encoded redaction).
    """

    keep_tags: set[int]
    extra: dict[int, tuple[int, bytes, int]] = field(default_factory=dict)
    pixels: Page | None = None


PagePolicy = Callable[[Page], PagePlan | None]


def structural_page(page: Page) -> PagePlan | None:
    """Default policy: keep every page, only the tags needed to decode and display it (the ICC profile
    cleaned by ``formats.icc``)."""
    plan = PagePlan({t for t in page.ifd.entries if t in DECODE_TAGS} - unused_tables(page.reader, page.ifd))
    clean_icc(page, plan)
    colormap = used_colormap(page.reader, page.ifd, page.index)
    if colormap is not None and 320 in plan.keep_tags:
        values = struct.pack(f"{page.reader.bo}{len(colormap)}H", *colormap)
        plan.extra[320] = (SHORT, values, len(colormap))
    return plan


def used_colormap(reader: TiffReader, ifd: IFD, index: int) -> list[int] | None:
    """A palette page's ColorMap with the entries no pixel uses set to black, or None when every entry is
    used (or this is no 8-bit-or-less palette page). Unused entries are free numbers that can spell text;
    finding them decodes the page (Pillow), which only palette pages pay for."""
    e = ifd.entries.get(320)
    if e is None or 320 in unused_tables(reader, ifd) or e.type != SHORT or e.count > 3 * 256:
        return None
    from deident.formats._pillow import DECODE_ERRORS, open_image

    reader.fh.seek(reader.base)
    try:
        img = open_image(reader.fh.read(reader.size))
        img.seek(index)
        counts = img.histogram() if img.mode == "P" else None
    except DECODE_ERRORS as exc:
        raise CorruptFile(f"TIFF page {index}: cannot decode the palette image ({exc})") from None
    if counts is None:
        return None
    values = list(reader.values(e))
    n = len(values) // 3
    blanked = [v if counts[i % n] or i % n >= len(counts) else 0 for i, v in enumerate(values)]
    return None if blanked == values else blanked


def unused_tables(reader: TiffReader, ifd: IFD) -> set[int]:
    """Table tags a decoder ignores on this page: JPEGTables unless the page is JPEG (7), ColorMap unless
    it is a palette page (photometric 3). Their bytes would travel through the filter unread."""

    def first(tag: int) -> int | None:
        e = ifd.entries.get(tag)
        try:
            return reader.values(e)[0] if e is not None and e.count else None
        except (CorruptFile, struct.error):
            return None

    unused = set()
    if 347 in ifd.entries and first(259) != 7:
        unused.add(347)
    if 320 in ifd.entries and first(262) != 3:
        unused.add(320)
    return unused


def clean_icc(page: Page, plan: PagePlan) -> None:
    """InterColorProfile (34675) written cleaned, or dropped when its bytes are not an ICC profile."""
    from deident.formats import icc

    entry = page.ifd.entries.get(34675)
    if entry is None or 34675 not in plan.keep_tags:
        return
    raw = page.reader.raw(entry)
    profile = icc.neutral(raw)
    if profile is None:
        plan.keep_tags.discard(34675)
    elif profile != raw:
        plan.extra[34675] = (7, profile, len(profile))


def rewrite_tiff(
    src: Path | BinaryIO, out: BinaryIO, policy: PagePolicy = structural_page, ndpi: bool = False
) -> int:
    """Write a new TIFF with the pages and tags ``policy`` keeps; image data is copied byte for byte.

    Returns the number of pages written. The output keeps the source's byte order (uncompressed samples
    depend on it) and is BigTIFF when the source was or when it would not fit in 4 GiB. ``ndpi`` writes
    Hamamatsu's variant: classic TIFF whose IFD offsets (header and next-IFD) are 8 bytes wide.
    """
    fh = open(src, "rb") if isinstance(src, (str, Path)) else src  # noqa: SIM115 - closed below
    try:
        reader = TiffReader(fh)
        pages = [Page(i, reader, ifd) for i, ifd in enumerate(reader.chain())]
        decided = [(page, policy(page)) for page in pages]  # every page: dropped ones are protected below
        plans = [(page, plan) for page, plan in decided if plan is not None]
        if not plans:
            raise UnsupportedFormat("TIFF: no page left to write")
        layouts = [_layout(page, plan) for page, plan in plans]
        _refuse_overlaps(reader, decided, layouts)
        for lay in layouts:
            lay.tail = 4 if ndpi else 0
        big = reader.big or sum(lay.size(False) for lay in layouts) > 0xFFFF_FF00
        if ndpi and big:
            raise UnsupportedFormat("NDPI output would need more than 4 GiB")
        writer = _Writer(out, reader.bo, big, tail=4 if ndpi else 0)
        writer.header(16 if big or ndpi else 8)
        writer.put(b"\0" * (8 if ndpi else 0))
        pos = writer.pos
        for n, lay in enumerate(layouts):
            nxt = pos + lay.size(big) if n + 1 < len(layouts) else 0
            lay.write(writer, pos, nxt)
            pos = writer.pos
        return len(layouts)
    finally:
        if fh is not src:
            fh.close()


@dataclass
class _Layout:
    """A page about to be written: its tags (type, raw, count) and the image data blocks to copy."""

    reader: TiffReader
    tags: dict[int, tuple[int, bytes, int]]
    data_tag: int | None  # 273 or 324
    blocks: list[tuple[int, int]]  # (source offset, byte count)
    tail: int = 0  # bytes after the next-IFD offset (NDPI: its upper half)
    copied: list[tuple[int, int]] = field(default_factory=list)  # (start, end) read from the source file
    padding: dict[int, EdgePadding] = field(default_factory=dict)  # block index -> edge tile padding

    def value_bytes(self, big: bool) -> int:
        inline = 8 if big else 4
        offsets = len(self.blocks) * (8 if big else 4)
        return sum(_even(len(raw)) for _, raw, _ in self.tags.values() if len(raw) > inline) + (
            _even(offsets) if offsets > inline else 0
        )

    def size(self, big: bool) -> int:
        return (
            _even(self.ifd_size(big, self.tail))
            + self.value_bytes(big)
            + sum(_even(c) for _, c in self.blocks)
        )

    def ifd_size(self, big: bool, tail: int = 0) -> int:
        n = len(self.tags) + (1 if self.data_tag else 0)
        return (8 + n * 20 + 8) if big else (2 + n * 12 + 4 + tail)

    def write(self, w: _Writer, pos: int, nxt: int) -> None:
        big = w.big
        inline = 8 if big else 4
        n = len(self.tags) + (1 if self.data_tag else 0)
        ifd_size = _even(self.ifd_size(big, w.tail))
        values_at = pos + ifd_size
        data_at = values_at + self.value_bytes(big)
        offsets, at = [], data_at
        for _, count in self.blocks:
            offsets.append(at)
            at += _even(count)
        off_type = LONG8 if big else LONG
        tags = dict(self.tags)
        if self.data_tag:
            tags[self.data_tag] = (off_type, w.pack_ints(offsets, off_type), len(offsets))
        entries, values, vpos = [], [], values_at
        for tag in sorted(tags):
            typ, raw, count = tags[tag]
            if len(raw) > inline:
                entries.append(w.entry(tag, typ, count, w.pack_ints([vpos], off_type)))
                values.append(raw + b"\0" * (len(raw) & 1))
                vpos += _even(len(raw))
            else:
                entries.append(w.entry(tag, typ, count, raw.ljust(inline, b"\0")))
        head = w.pack_ints([n], LONG8 if big else SHORT)
        ifd = head + b"".join(entries) + w.pack_ints([nxt], off_type) + b"\0" * w.tail
        w.put(ifd + b"\0" * (ifd_size - len(ifd)))
        for v in values:
            w.put(v)
        assert w.pos == data_at, "TIFF layout mismatch"
        for i, (off, count) in enumerate(self.blocks):
            if i in self.padding:  # an edge tile: what lies beyond the image is written blank
                w.put(self.padding[i].blank(self.reader.read(off, count)))
            else:
                w.copy(self.reader, off, count)
            if count & 1:
                w.put(b"\0")


def _even(n: int) -> int:
    return n + (n & 1)


def _layout(page: Page, plan: PagePlan) -> _Layout:
    src = plan.pixels or page
    reader, entries = src.reader, src.ifd.entries
    where = f"TIFF page {page.index}"
    spp, bits = _samples(where, reader, entries)
    for tag in (259, *OFFSET_TAGS, *OFFSET_TAGS.values()):
        if tag in entries:
            _check_form(where, entries[tag], spp, bits)
    if 259 in entries and reader.values(entries[259])[0] == 6:
        raise UnsupportedFormat("TIFF: old-style JPEG compression (6) is not supported")
    data_tag = next((t for t in OFFSET_TAGS if t in entries), None)
    if data_tag is None:
        raise CorruptFile(f"TIFF page {page.index} has no strip or tile offsets")
    offsets = reader.values(entries[data_tag])
    counts = reader.values(entries[OFFSET_TAGS[data_tag]]) if OFFSET_TAGS[data_tag] in entries else ()
    if len(counts) != len(offsets):
        raise CorruptFile(f"TIFF page {page.index}: offsets and byte counts disagree")
    for off, count in zip(offsets, counts, strict=True):
        if off + count > reader.size:
            raise CorruptFile(f"TIFF page {page.index}: image data points past the end of the file")
    offsets, counts, padding = declared_blocks(where, reader, entries, offsets, counts, spp, bits)
    tags: dict[int, tuple[int, bytes, int]] = {}
    copied: list[tuple[int, int]] = []
    inline = 8 if page.reader.big else 4
    # Pixel-defining tags come from the pixel source; display tags (orientation, resolution) from the page.
    keep = plan.keep_tags if plan.pixels is None else plan.keep_tags - _PIXEL_TAGS
    for tag in sorted(keep):
        if tag in OFFSET_TAGS or tag in OFFSET_TAGS.values() or tag not in page.ifd.entries:
            continue
        e = page.ifd.entries[tag]
        _check_form(where, e, spp, bits)
        tags[tag] = (e.type, _reorder(page.reader, e), e.count)
        if e.size > inline and tag not in plan.extra:
            copied.append((e.offset, e.offset + e.size))
    if plan.pixels is not None:
        for tag, e in entries.items():
            if tag in _PIXEL_TAGS and tag not in OFFSET_TAGS and tag not in OFFSET_TAGS.values():
                _check_form(where, e, spp, bits)
                tags[tag] = (e.type, _reorder(reader, e, page.reader.bo), e.count)
    else:
        copied += [(off, off + count) for off, count in zip(offsets, counts, strict=True) if count]
    count_type = LONG if max(counts, default=0) <= 0xFFFF_FFFF else LONG8
    packed = struct.pack(f"{page.reader.bo}{len(counts)}{TYPES[count_type][1]}", *counts)
    tags[OFFSET_TAGS[data_tag]] = (count_type, packed, len(counts))
    tags |= plan.extra
    blocks = list(zip(offsets, counts, strict=True))
    return _Layout(reader, tags, data_tag, blocks, copied=copied, padding=padding)


def declared_blocks(
    where: str,
    reader: TiffReader,
    entries: dict[int, Entry],
    offsets: tuple,
    counts: tuple,
    spp: int,
    bits: int,
) -> tuple[tuple, tuple]:
    """The strips or tiles the declared image uses, and for uncompressed data the bytes each one uses.

    ImageLength (or ImageWidth) smaller than the data: the strips or tiles beyond the declared image and
    the bytes of an uncompressed strip beyond its rows are never decoded, so they are not copied. Fewer
    than the image needs is a truncated file.
    """

    def first(tag: int, default: int) -> int:
        e = entries.get(tag)
        return reader.values(e)[0] if e is not None and e.count else default

    width, length = first(256, 0), first(257, 0)
    if not width or not length or 32997 in entries:
        return offsets, counts, {}  # no size to hold the data to, or a volume (ImageDepth): left as it is
    planar, compression, photometric = first(284, 1), first(259, 1), first(262, 1)
    planes = spp if planar == 2 else 1
    per_pixel = (1 if planar == 2 else spp) * bits
    padding: dict[int, EdgePadding] = {}
    tiled = 322 in entries and 323 in entries
    if tiled:
        tw, tl = first(322, 0), first(323, 0)
        if not tw or not tl:
            raise CorruptFile(f"{where}: zero tile size")
        across, down = -(-width // tw), -(-length // tl)
        needed = across * down * planes
    else:
        rps = min(first(278, length), length) or length
        needed = -(-length // rps) * planes
    if len(counts) != len(offsets):
        raise CorruptFile(f"{where}: strip or tile offsets and byte counts disagree")
    if len(offsets) < needed:  # before any list of that length is made: the size fields can be anything
        raise CorruptFile(f"{where} is truncated: {len(offsets)} of the {needed} strips or tiles it declares")
    if tiled:
        row = -(-tw * per_pixel // 8)
        sizes = [tl * row] * needed
        for i in range(needed):
            cols, rows = min(tw, width - (i % across) * tw), min(tl, length - (i // across % down) * tl)
            if cols < tw or rows < tl:
                padding[i] = EdgePadding(row, -(-cols * per_pixel // 8), rows)
    else:
        rows = [min(rps, length - k) for k in range(0, length, rps)]
        sizes = [r * -(-width * per_pixel // 8) for r in rows] * planes
    offsets, counts = offsets[: len(sizes)], counts[: len(sizes)]
    if compression != 1 or photometric == 6:  # coded data (or subsampled YCbCr): sizes unknown here
        return offsets, counts, {}
    if any(c < n for c, n in zip(counts, sizes, strict=True)):
        raise CorruptFile(f"{where} is truncated: a strip or tile holds fewer bytes than its pixels need")
    return offsets, tuple(sizes), padding


@dataclass(frozen=True)
class EdgePadding:
    """Where an uncompressed edge tile's pixels end: bytes per tile row, image bytes per row, image rows."""

    row: int
    used: int
    rows: int

    def blank(self, tile: bytes) -> bytes:
        out = bytearray(tile)
        for r in range(len(out) // self.row if self.row else 0):
            start = r * self.row + (self.used if r < self.rows else 0)
            out[start : (r + 1) * self.row] = bytes((r + 1) * self.row - start)
        return bytes(out)


def _beyond_declared(reader: TiffReader, entries: dict[int, Entry]) -> list[Item]:
    """The finding for image data beyond the declared image (``declared_blocks``), if any."""
    data_tag = next((t for t in OFFSET_TAGS if t in entries), None)
    if data_tag is None or OFFSET_TAGS[data_tag] not in entries:
        return []
    try:
        spp, bits = _samples("TIFF page", reader, entries)
        offsets, counts = reader.values(entries[data_tag]), reader.values(entries[OFFSET_TAGS[data_tag]])
    except (CorruptFile, struct.error):
        return []  # refused with its reason when the page is written
    kept_offsets, kept, padding = declared_blocks("TIFF page", reader, entries, offsets, counts, spp, bits)
    items = []
    extra = sum(counts) - sum(kept)
    if extra:
        detail = f"{extra} bytes of image data beyond the declared image"
        items.append(Item("tiff.strips", "page {page} image data", detail))
    held = 0
    for i, pad in padding.items():
        tile = reader.read(kept_offsets[i], kept[i])
        held += pad.blank(tile) != tile
    if held:
        items.append(
            Item("tiff.tiles", "page {page} edge tiles", f"{held} edge tiles hold data beyond the image")
        )
    return items


def _samples(where: str, reader: TiffReader, entries: dict[int, Entry]) -> tuple[int, int]:
    """SamplesPerPixel and the first BitsPerSample (defaults 1), their own forms checked first."""
    spp = bits = 1
    if 277 in entries:
        _check_form(where, entries[277], 1, 1)
        spp = max(1, reader.values(entries[277])[0])
    if 258 in entries:
        _check_form(where, entries[258], spp, 1)
        bits = reader.values(entries[258])[0]
    return spp, bits


def _check_form(where: str, e: Entry, spp: int, bits: int) -> None:
    """Refuse a kept tag whose field type or count is not its standard one (``TAG_FORMS``)."""
    form = TAG_FORMS.get(e.tag)
    if form is None:
        return
    types, count = form
    name = DECODE_TAGS.get(e.tag, f"tag {e.tag}")
    if e.type not in types:
        raise CorruptFile(f"{where}: {name} has field type {e.type} (allowed: {', '.join(map(str, types))})")
    table = 1 << bits if 0 < bits <= 16 else -1  # a table indexed by sample value
    allowed = {
        "any": None,
        "spp": range(1, spp + 1),
        "curve": (table,),
        "transfer": (table, 3 * table),
        "colormap": (3 * table,),
    }.get(count, (count,))
    if allowed is not None and e.count not in allowed:
        raise CorruptFile(f"{where}: {name} has {e.count} values, not the standard number")


def _refuse_overlaps(reader: TiffReader, decided: list[tuple[Page, PagePlan | None]], layouts) -> None:
    """Refuse when bytes the output copies (kept values, strips, tiles) overlap what it drops.

    Protected: every IFD (with the values held inline in it), the values of dropped tags, the EXIF, GPS,
    Interop and SubIFD structures, and the image data of dropped or replaced pages. Real encoders never
    share those bytes with kept data; a file that does would smuggle them into a "clean" output.
    Sorted intervals and a binary search per copied range: O(n log n) however many tiles a pyramid has.
    """
    import bisect

    protected: list[tuple[int, int]] = []
    seen: set[int] = set()
    inline = 8 if reader.big else 4
    for page, plan in decided:
        copied = (plan.keep_tags - plan.extra.keys()) if plan is not None else set()
        protected += _ifd_spans(reader, page.ifd, seen, depth=0)
        for tag, e in page.ifd.entries.items():
            if tag not in copied and tag not in DECODE_TAGS and e.size > inline:
                protected.append((e.offset, e.offset + e.size))
        if plan is None or plan.pixels is not None:
            protected += _data_spans(reader, page.ifd)
    spans = sorted((a, b) for a, b in protected if b > a)
    starts, ends = [], []
    for a, b in spans:
        if ends and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    for n, lay in enumerate(layouts):
        for a, b in lay.copied:
            i = bisect.bisect_right(starts, a) - 1
            if (i >= 0 and ends[i] > a) or (i + 1 < len(starts) and starts[i + 1] < b):
                raise CorruptFile(
                    f"TIFF output page {n}: kept data at {a}-{b} overlaps an IFD or a dropped value "
                    "(refused: it would copy removed metadata)"
                )


_SUB_IFD_TAGS = {*EXIF_POINTERS, 330}


def _ifd_spans(reader: TiffReader, ifd: IFD, seen: set[int], depth: int) -> list[tuple[int, int]]:
    """The IFD itself, its shadowed entries' values and, walked, its EXIF/GPS/Interop/SubIFD structures."""
    inline = 8 if reader.big else 4
    out = [(ifd.offset, ifd.offset + ifd.size)]
    out += [(e.offset, e.offset + e.size) for e in ifd.shadowed if e.size > inline]
    for tag in _SUB_IFD_TAGS & ifd.entries.keys():
        e = ifd.entries[tag]
        if depth >= 3 or e.type not in (LONG, 13, LONG8, 18) or not 0 < e.count <= MAX_ENTRIES:
            continue
        try:
            offsets = reader.values(e)
        except CorruptFile:
            continue
        for offset in offsets:
            if offset in seen:
                continue
            seen.add(offset)
            try:
                sub = reader.ifd(offset)
            except (CorruptFile, struct.error):
                continue  # unreadable: nothing there can be located (and it is not written)
            out += _ifd_spans(reader, sub, seen, depth + 1)
            out += [(x.offset, x.offset + x.size) for x in sub.entries.values() if x.size > inline]
            out += _data_spans(reader, sub)
    return out


def _data_spans(reader: TiffReader, ifd: IFD) -> list[tuple[int, int]]:
    """Strip/tile byte ranges of a page that is not written (best effort: damage there is not fatal)."""
    out = []
    for off_tag, count_tag in OFFSET_TAGS.items():
        offs, counts = ifd.entries.get(off_tag), ifd.entries.get(count_tag)
        if offs is None or counts is None or offs.type not in _INT or counts.type not in _INT:
            continue
        try:
            out += [(o, o + c) for o, c in zip(reader.values(offs), reader.values(counts), strict=False)]
        except CorruptFile:
            continue
    return out


_PIXEL_TAGS = {256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339, 347}
_PIXEL_TAGS |= {529, 530, 531, 532, 32997, 32998, 266, 280, 281, 340, 341}


def _reorder(reader: TiffReader, e: Entry, bo: str | None = None) -> bytes:
    """Raw value bytes in byte order ``bo`` (default: the reader's own)."""
    if e.type in (1, 2, 6, 7) or (bo or reader.bo) == reader.bo:
        return reader.raw(e)
    code = TYPES.get(e.type, (1, "B"))[1]
    vals = reader.values(e)
    return struct.pack(f"{bo}{len(vals)}{code[0]}", *vals)


class _Writer:
    def __init__(self, out: BinaryIO, bo: str, big: bool, tail: int = 0):
        self.out, self.bo, self.big, self.pos, self.tail = out, bo, big, 0, tail

    def put(self, data: bytes) -> None:
        self.out.write(data)
        self.pos += len(data)

    def header(self, size: int) -> None:
        mark = b"II" if self.bo == "<" else b"MM"
        if self.big:
            self.put(mark + struct.pack(self.bo + "HHHQ", 43, 8, 0, size))
        else:
            self.put(mark + struct.pack(self.bo + "HI", 42, size))

    def pack_ints(self, values, typ: int) -> bytes:
        return struct.pack(f"{self.bo}{len(values)}{TYPES[typ][1]}", *values)

    def entry(self, tag: int, typ: int, count: int, value: bytes) -> bytes:
        return struct.pack(self.bo + ("HHQ" if self.big else "HHI"), tag, typ, count) + value

    def copy(self, reader: TiffReader, offset: int, count: int, chunk: int = 1 << 22) -> None:
        done = 0
        while done < count:
            n = min(chunk, count - done)
            self.put(reader.read(offset + done, n))
            done += n


# ---------------------------------------------------------------- the document

# SubIFDs (330) hold reduced-resolution or raw images: not carried over (reported as removed).
_PILLOW_LOSSLESS = {
    1: "raw",
    5: "tiff_lzw",
    8: "tiff_adobe_deflate",
    32946: "tiff_deflate",
    32773: "packbits",
}


class TiffDocument(WholeFileDocument):
    """Reads structure from the path (never the whole file); pixels via Pillow only when asked."""

    format = "tiff"

    def __init__(self, source: Source):
        self.source = source
        self.scrubbed = False
        self.edited = {}
        with open(source.path, "rb") as fh:
            if not fh.read(8):
                raise CorruptFile("empty file")
            reader = TiffReader(fh)
            self.byte_order = reader.bo
            self.pages = [self._page_info(reader, ifd, index=n) for n, ifd in enumerate(reader.chain())]
        if not self.pages:
            raise CorruptFile("TIFF has no pages")

    @staticmethod
    def _page_info(
        reader: TiffReader, ifd: IFD, keep: set[int] | dict = DECODE_TAGS, index: int | None = None
    ) -> dict:
        """Size, orientation and one item per tag outside ``keep`` (what a scrub drops), with its values."""
        e = ifd.entries
        info = {"tags": {t: (x.type, x.size) for t, x in e.items()}, "items": [], "ids": []}

        def first(tag, default=0):
            return reader.values(e[tag])[0] if tag in e and e[tag].count else default

        info.update(width=first(256), height=first(257), orientation=first(274, 1))
        info["items"] += _beyond_declared(reader, e)
        if index is not None and 320 in keep and used_colormap(reader, ifd, index) is not None:
            info["items"].append(
                Item("tiff.ColorMap", "page {page} tag 320", "colour-map entries no pixel uses")
            )
        for tag in unused_tables(reader, ifd) & set(keep):
            name = DECODE_TAGS[tag]
            info["items"].append(
                Item(f"tiff.{name}", f"page {{page}} tag {tag}", f"{name} this page does not use")
            )
        for tag, entry in e.items():
            if tag == 34675 and tag in keep:
                from deident.formats import icc

                item = icc.profile_item(reader.raw(entry), "page {page} tag 34675")[1]
                info["items"] += [item] if item is not None else []
            if tag in keep:
                continue
            name = TAG_NAMES.get(tag, f"tag{tag}")
            kind = TAG_KIND.get(tag, f"tiff.{name}" if tag < 32768 or tag in TAG_NAMES else "tiff.private")
            detail = f"{name}, {entry.size} bytes"
            if tag == 34665:
                try:
                    summary = ExifSummary()
                    _walk_exif_ifd(reader, reader.ifd(reader.values(entry)[0]), summary)
                    info["items"] += summary.items("page {page} EXIF IFD")
                    info["ids"] += summary.identifiers
                    continue
                except (CorruptFile, struct.error, IndexError):
                    detail = "EXIF IFD (unreadable)"
            if tag in (315, 33432, 306, 269, 316) and entry.type == ASCII:
                value = reader.text(entry)
                info["ids"] += clean_values([value, value[:10]] if tag == 306 else [value])
            if tag in (700, 33723):
                from deident.formats._pillow import iptc_identifiers, xmp_identifiers

                raw = reader.raw(entry)
                info["ids"] += xmp_identifiers(raw) if tag == 700 else iptc_identifiers(raw)
            info["items"].append(Item(kind, f"page {{page}} tag {tag}", detail))
        return info

    def _items(self, data=None) -> list[Item]:
        if self.scrubbed:
            return []
        return [
            Item(it.kind, it.where.format(page=n), it.detail)
            for n, p in enumerate(self.pages)
            for it in p["items"]
        ]

    def metadata_findings(self) -> list[Finding]:
        return [it.finding(Action.FOUND) for it in self._items()]

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        found = [it.finding() for it in self._items()]
        self.scrubbed = True
        return found

    def identifiers(self) -> list[str]:
        return clean_values(v for p in self.pages for v in p["ids"])

    def _dims(self) -> ImageDims:
        return ImageDims(
            max(p["width"] for p in self.pages),
            max(p["height"] for p in self.pages),
            len(self.pages),
            {"pixels": sum(p["width"] * p["height"] for p in self.pages)},
        )

    def check_size(self, ctx: Context) -> ImageDims:
        from deident.formats._pillow import refuse_above_limit

        dims = self._dims()
        pixels = dims.extra["pixels"]
        refuse_above_limit(pixels, f"{pixels} pixels over {dims.frames} pages", ctx)
        return dims

    def stored(self, index: int, ctx: Context):
        from deident.formats._pillow import decode_frame

        if index in self.edited:
            return self.edited[index]
        self.check_size(ctx)
        return decode_frame(str(self.source.path), index, "TIFF page")

    def frames(self, ctx: Context) -> Iterator[Frame]:
        from deident.formats._pillow import orient, shown_frames

        self.check_size(ctx)
        for i, p in enumerate(self.pages):
            shown = orient(self.stored(i, ctx), p["orientation"])
            yield from shown_frames(i, shown, f"page {i + 1}" if len(self.pages) > 1 else "image")

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        from deident.formats._pillow import redact_image, to_stored

        img = self.stored(frame_index, ctx)
        orientation = self.pages[frame_index]["orientation"]
        self.edited[frame_index] = redact_image(img, to_stored(redactions, orientation, img.size))
        return []

    def _reencoded(self) -> dict[int, Page]:
        """Each edited page as the first page of a small lossless TIFF in memory."""
        out = {}
        for i, img in self.edited.items():
            typ_size = self.pages[i]["tags"].get(259)
            compression = 1
            if typ_size:
                with open(self.source.path, "rb") as fh:
                    reader = TiffReader(fh)
                    ifd = list(reader.chain())[i]
                    compression = (reader.values(ifd.entries[259]) or (1,))[0]
            if self.byte_order == ">" and img.mode.startswith("I;16"):
                # Pillow writes little-endian files; pre-swap so the bytes read right under our 'MM' header.
                import numpy as np
                from PIL import Image

                img = Image.fromarray(np.asarray(img).astype("<u2").byteswap())
            buf = io.BytesIO()
            img.save(buf, "TIFF", compression=_PILLOW_LOSSLESS.get(compression, "tiff_adobe_deflate"))
            reader = TiffReader.from_bytes(buf.getvalue())
            out[i] = Page(0, reader, next(reader.chain()))
        return out

    def to_bytes(self, ctx: Context) -> bytes:
        return Document.to_bytes(self, ctx)  # through the streaming writer below, never the input bytes

    def write(self, out, ctx: Context) -> None:
        if not self.scrubbed and not self.edited:
            with open(self.source.path, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    out.write(chunk)
            return
        replaced = self._reencoded()

        def policy(page: Page) -> PagePlan | None:
            plan = structural_page(page)
            if not self.scrubbed:
                plan = PagePlan(set(page.ifd.entries) - {330, 34665, 34853, 40965})
            if page.index in replaced:
                plan.pixels = replaced[page.index]
            return plan

        rewrite_tiff(self.source.path, out, policy)


def open_tiff(source: Source):
    """A TIFF document; a DICOM file whose 128-byte preamble holds a TIFF header goes to the DICOM opener.

    PS3.10 allows such dual-personality files (pydicom's CT_small.dcm is one). As TIFF, the patient's
    header would be invisible, so they must be read as DICOM whatever the registry order.
    """
    if source.head(132)[128:132] == b"DICM":
        import importlib

        from deident.formats.base import registered

        spec = next((s for s in registered() if s.name == "dicom"), None)
        if spec is None:
            raise UnsupportedFormat("DICOM file with a TIFF preamble, and DICOM support is not installed")
        module, func = spec.opener.split(":")
        return getattr(importlib.import_module(module), func)(source)
    try:
        from deident.formats.wsi import open_slide

        return open_slide(source) or TiffDocument(source)
    except struct.error as exc:
        raise CorruptFile(f"TIFF structure is damaged: {exc}") from None
