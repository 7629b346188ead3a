"""The streaming TIFF rewriter: a new file with the pages and tags a page policy keeps.

Layout of what ``rewrite_tiff`` writes, with every offset known before the first byte goes out (no seeks,
so it can write to a pipe and never holds a slide in memory)::

    header -> page 0: IFD, out-of-line tag values, strip/tile data -> page 1: ... -> next-IFD 0

A page policy decides per page what survives: ``structural_page`` (the default) keeps the tags in
``DECODE_TAGS``; the whole-slide module (``formats.wsi``) drops label/macro pages and adds a cleaned
ImageDescription with its own policy. Image data is copied byte for byte, save for the blocks that hold
something beyond the declared image (``declared_blocks``): those are written with it blank.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from deident.errors import CorruptFile, UnsupportedFormat
from deident.formats.items import Item
from deident.formats.tiff import codecs
from deident.formats.tiff.picture_codecs import PICTURE, BlockShape, blank_beyond
from deident.formats.tiff.reader import IFD, Entry, TiffReader, check_form, samples
from deident.formats.tiff.tags import (
    BYTE_TYPES,
    COMPRESSION_JPEG,
    COMPRESSION_NONE,
    COMPRESSION_OLD_JPEG,
    CURVE_TAGS,
    DECODE_TAGS,
    INT_TYPES,
    LONG,
    LONG8,
    MAX_ENTRIES,
    NDPI_MCU_STARTS,
    OFFSET_TAGS,
    PHOTOMETRIC_YCBCR,
    PIXEL_TAGS,
    POINTER_TYPES,
    SHORT,
    SUB_IFD_TAGS,
    TYPES,
    UNDEFINED,
    USED_ONLY_WITH,
    Tag,
    compression_unchecked,
)


@dataclass
class Page:
    """One page as read: where its tags are and how to fetch them."""

    index: int
    reader: TiffReader
    ifd: IFD


@dataclass
class PagePlan:
    """What a policy decided for a page: the tags to write and, optionally, replacement tags/pixels.

    ``extra`` adds or overrides tags: tag -> (type, raw value bytes in the output byte order, count).
    ``pixels`` replaces the page's image data by the first page of another TIFF (a re-encoded redaction).
    ``blocks``: ``declared_blocks`` as found when the document was opened (checking coded blocks decodes
    them: once per scrub is enough); None works them out here.
    """

    keep_tags: set[int]
    extra: dict[int, tuple[int, bytes, int]] = field(default_factory=dict)
    pixels: Page | None = None
    blocks: Blocks | None = None


PagePolicy = Callable[[Page], PagePlan | None]


def structural_page(page: Page) -> PagePlan | None:
    """Default policy: keep every page, only the tags needed to decode and display it (the ICC profile
    cleaned by ``formats.icc``, JPEGTables by ``tiff.jpeg_streams``)."""
    plan = PagePlan({t for t in page.ifd.entries if t in DECODE_TAGS} - unused_tags(page.reader, page.ifd))
    clean_icc(page, plan)
    clean_jpeg_tables(page, plan)
    blank_colormap(plan, page, page)
    return plan


def blank_colormap(plan: PagePlan, page: Page, pixels: Page) -> None:
    """``plan`` writes the ColorMap of ``pixels`` (the page, or its re-encoded redaction, whose fill can
    leave the colour it covered unused) with the entries its pixels do not use set to black."""
    plan.extra.pop(Tag.ColorMap, None)
    colormap = used_colormap(pixels.reader, pixels.ifd, pixels.index)
    if colormap is not None and Tag.ColorMap in plan.keep_tags:
        values = struct.pack(f"{page.reader.bo}{len(colormap)}H", *colormap)
        plan.extra[Tag.ColorMap] = (SHORT, values, len(colormap))


def used_colormap(reader: TiffReader, ifd: IFD, index: int) -> list[int] | None:
    """A palette page's ColorMap with the entries no pixel uses set to black, or None when every entry is
    used (or this is no 8-bit-or-less palette page). Unused entries are free numbers that can spell text;
    finding them decodes the page (Pillow), which only palette pages pay for."""
    e = ifd.entries.get(Tag.ColorMap)
    if e is None or Tag.ColorMap in unused_tags(reader, ifd) or e.type != SHORT or e.count > 3 * 256:
        return None
    from deident.formats.pixels import DECODE_ERRORS, open_image

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


def unused_tags(reader: TiffReader, ifd: IFD) -> set[int]:
    """Tags a decoder ignores on this page (``USED_ONLY_WITH``: JPEGTables unless the page is JPEG, ColorMap
    unless it is a palette page, the YCbCr fields unless it is YCbCr), and curves that are none
    (``_not_a_curve``). Their bytes would travel unread, or hold what no curve holds."""

    def first(tag: int) -> int | None:
        try:
            return reader.first_value(ifd.entries, tag, None)
        except (CorruptFile, struct.error):
            return None

    unused = {
        tag for tag, (by, values) in USED_ONLY_WITH.items() if tag in ifd.entries and first(by) not in values
    }
    return unused | {tag for tag in CURVE_TAGS if tag in ifd.entries and _not_a_curve(reader, ifd, tag)}


def _not_a_curve(reader: TiffReader, ifd: IFD, tag: int) -> bool:
    """True when a table indexed by sample value (TransferFunction: one or three of them) rises and falls.

    A transfer or grey response curve is monotone; one that is not carries free numbers (1,536 bytes for an
    8-bit page's three tables): a planted name survived in them. As with an ICC profile's tone curves
    (``formats.icc``), such a tag is dropped rather than mended."""
    try:
        values = reader.values(ifd.entries[tag])
    except (CorruptFile, struct.error):
        return True
    size = 1 << reader.first_value(ifd.entries, Tag.BitsPerSample, 1)
    tables = [values[i : i + size] for i in range(0, len(values), size)] if size < len(values) else [values]
    return not all(_monotone(t) for t in tables)


def _monotone(values) -> bool:
    steps = [b - a for a, b in itertools.pairwise(values)]
    return all(d >= 0 for d in steps) or all(d <= 0 for d in steps)


def clean_icc(page: Page, plan: PagePlan) -> None:
    """InterColorProfile written cleaned, or dropped when its bytes are not an ICC profile."""
    from deident.formats import icc

    entry = page.ifd.entries.get(Tag.InterColorProfile)
    if entry is None or Tag.InterColorProfile not in plan.keep_tags:
        return
    raw = page.reader.raw(entry)
    profile = icc.neutral(raw)
    if profile is None:
        plan.keep_tags.discard(Tag.InterColorProfile)
    elif profile != raw:
        plan.extra[Tag.InterColorProfile] = (UNDEFINED, profile, len(profile))


def clean_jpeg_tables(page: Page, plan: PagePlan) -> None:
    """JPEGTables written with its coding tables only (``jpeg_streams.clean_tables``)."""
    from deident.formats.tiff.jpeg_streams import clean_tables

    entry = page.ifd.entries.get(Tag.JPEGTables)
    if entry is None or Tag.JPEGTables not in plan.keep_tags:
        return
    raw = page.reader.raw(entry)
    tables = clean_tables(raw, f"page {page.index}")[0]
    if tables != raw:
        plan.extra[Tag.JPEGTables] = (entry.type, tables, len(tables))


def rewrite_tiff(
    src: Path | BinaryIO, out: BinaryIO, policy: PagePolicy = structural_page, ndpi: bool = False
) -> int:
    """Write a new TIFF with the pages and tags ``policy`` keeps; image data is copied byte for byte (save
    for what ``declared_blocks`` blanks).

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
    data_tag: int | None  # StripOffsets or TileOffsets
    blocks: list[tuple[int, int]]  # (source offset, byte count)
    tail: int = 0  # bytes after the next-IFD offset (NDPI: its upper half)
    copied: list[tuple[int, int]] = field(default_factory=list)  # (start, end) read from the source file
    padding: dict[int, BlockFix] = field(default_factory=dict)  # block index -> what is written blank

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
            if i in self.padding:  # an edge block: what lies beyond the image is written blank
                w.put(self.padding[i].block(self.reader, off, count))
            else:
                w.copy(self.reader, off, count)
            if count & 1:
                w.put(b"\0")


def _even(n: int) -> int:
    return n + (n & 1)


def check_data_tags(where: str, entries: dict[int, Entry], spp: int, bits: int) -> None:
    """The tags that place and code the image data have the form their values are read in."""
    for tag in (Tag.Compression, Tag.Predictor, *OFFSET_TAGS, *OFFSET_TAGS.values()):
        if tag in entries:
            check_form(where, entries[tag], spp, bits)


def _layout(page: Page, plan: PagePlan) -> _Layout:
    src = plan.pixels or page
    reader, entries = src.reader, src.ifd.entries
    where = f"TIFF page {page.index}"
    spp, bits = samples(where, reader, entries)
    check_data_tags(where, entries, spp, bits)
    compression = entries.get(Tag.Compression)
    if compression is not None and reader.values(compression)[0] == COMPRESSION_OLD_JPEG:
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
    if plan.blocks is not None and plan.pixels is None:
        offsets, counts, padding = plan.blocks
    else:
        offsets, counts, padding = declared_blocks(where, reader, entries, offsets, counts, spp, bits)
    tags: dict[int, tuple[int, bytes, int]] = {}
    copied: list[tuple[int, int]] = []
    inline = 8 if page.reader.big else 4
    # Pixel-defining tags come from the pixel source; display tags (orientation, resolution) from the page.
    keep = plan.keep_tags if plan.pixels is None else plan.keep_tags - PIXEL_TAGS
    for tag in sorted(keep):
        if tag in OFFSET_TAGS or tag in OFFSET_TAGS.values() or tag not in page.ifd.entries:
            continue
        e = page.ifd.entries[tag]
        check_form(where, e, spp, bits)
        tags[tag] = (e.type, _reorder(page.reader, e), e.count)
        if e.size > inline and tag not in plan.extra:
            copied.append((e.offset, e.offset + e.size))
    if plan.pixels is not None:
        for tag, e in entries.items():
            if tag in PIXEL_TAGS and tag not in OFFSET_TAGS and tag not in OFFSET_TAGS.values():
                check_form(where, e, spp, bits)
                tags[tag] = (e.type, _reorder(reader, e, page.reader.bo), e.count)
    else:
        copied += [
            (off, off + count)
            for i, (off, count) in enumerate(zip(offsets, counts, strict=True))
            if count and not isinstance(padding.get(i), Recoded)
        ]
    count_type = LONG if max(counts, default=0) <= 0xFFFF_FFFF else LONG8
    packed = struct.pack(f"{page.reader.bo}{len(counts)}{TYPES[count_type][1]}", *counts)
    tags[OFFSET_TAGS[data_tag]] = (count_type, packed, len(counts))
    # a pixel tag's new value only where the new pixels have that tag (a re-encoded page has no JPEGTables)
    tags |= {
        t: v for t, v in plan.extra.items() if plan.pixels is None or t not in PIXEL_TAGS or t in entries
    }
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
) -> Blocks:
    """The strips or tiles the declared image uses, the bytes of each one a decoder uses, and the blocks
    written changed (``BlockFix``: what a block holds beyond the image, written blank).

    ImageLength (or ImageWidth) smaller than the data: the strips or tiles beyond the declared image and
    the bytes of an uncompressed strip beyond its rows are never decoded, so they are not copied. Fewer
    than the image needs is a truncated file. Blocks coded with a codec of ``codecs.LOSSLESS`` are decoded:
    bytes after a stream's end are trimmed, and padding or rows beyond the image that are not blank are set
    to zero and the block coded again (``_coded_blocks``).
    """

    width, length = reader.first_value(entries, Tag.ImageWidth), reader.first_value(entries, Tag.ImageLength)
    if not width or not length or Tag.ImageDepth in entries:
        return offsets, counts, {}  # no size to hold the data to, or a volume (ImageDepth): left as it is
    planar = reader.first_value(entries, Tag.PlanarConfiguration, 1)
    compression = reader.first_value(entries, Tag.Compression, COMPRESSION_NONE)
    photometric = reader.first_value(entries, Tag.PhotometricInterpretation, 1)
    planes = spp if planar == 2 else 1
    per_pixel = (1 if planar == 2 else spp) * bits
    tiled = Tag.TileWidth in entries and Tag.TileLength in entries
    if tiled:
        tw, tl = reader.first_value(entries, Tag.TileWidth, 0), reader.first_value(entries, Tag.TileLength, 0)
        if not tw or not tl:
            raise CorruptFile(f"{where}: zero tile size")
        across, down = -(-width // tw), -(-length // tl)
        needed = across * down * planes
    else:
        rps = min(reader.first_value(entries, Tag.RowsPerStrip, length), length) or length
        needed = -(-length // rps) * planes
    if len(counts) != len(offsets):
        raise CorruptFile(f"{where}: strip or tile offsets and byte counts disagree")
    if len(offsets) < needed:  # before any list of that length is made: the size fields can be anything
        raise CorruptFile(f"{where} is truncated: {len(offsets)} of the {needed} strips or tiles it declares")
    low_first = reader.first_value(entries, Tag.FillOrder, 1) == 2
    if tiled:
        row = -(-tw * per_pixel // 8)
        full = tl * row
        cols = [min(tw, width - i % across * tw) for i in range(needed)]
        shapes = [
            EdgePadding(
                row,
                -(-c * per_pixel // 8),
                min(tl, length - i // across % down * tl),
                _last_byte_bits(c * per_pixel, low_first),
            )
            for i, c in enumerate(cols)
        ]
    else:
        row = -(-width * per_pixel // 8)
        full = rps * row
        last = _last_byte_bits(width * per_pixel, low_first)
        shapes = [EdgePadding(row, row, min(rps, length - k), last) for k in range(0, length, rps)] * planes
    offsets, counts = offsets[:needed], counts[:needed]
    if compression == COMPRESSION_JPEG:
        return _jpeg_blocks(
            where, reader, entries, (offsets, counts), shapes, per_pixel, full if tiled else 0
        )
    if photometric == PHOTOMETRIC_YCBCR and _subsampled(reader, entries):
        # the coded layout differs (blocks of luma and chroma): what lies beyond the image is not located
        if not tiled or any(s.outside(full) for s in shapes):
            raise UnsupportedFormat(
                f"{where}: what subsampled YCbCr blocks hold beyond the image is not checked"
            )
        return offsets, counts, {}
    if compression in codecs.LOSSLESS:
        predictor = codecs.Predictor(
            reader.first_value(entries, Tag.Predictor, 1) if compression != codecs.PACKBITS else 1,
            spp if planar == 1 else 1,
            bits,
            reader.bo,
        )
        if reader.first_value(entries, Tag.FillOrder, 1) != 1:
            raise UnsupportedFormat(f"{where}: FillOrder 2 with compression {compression} is not supported")
        predictor.check(where)
        return _coded_blocks(where, reader, compression, predictor, (offsets, counts), shapes, full, tiled)
    if compression != COMPRESSION_NONE:  # JPEG 2000, WebP: decoded; ZSTD and the rest: refused
        size = BlockShape(tw, tl, per_pixel) if tiled else BlockShape(width, None, per_pixel)
        clean = _stream_filter(compression)
        if clean is None:  # interior tiles too: nothing here reads what their streams hold
            raise UnsupportedFormat(compression_unchecked(compression))
        return _recoded_edges(
            reader,
            (offsets, counts),
            shapes,
            per_pixel,
            full if tiled else 0,
            lambda block, visible: blank_beyond(compression, block, size, visible),
            clean,
        )
    sizes = tuple(s.rows * s.row if not tiled else full for s in shapes)
    if any(c < n for c, n in zip(counts, sizes, strict=True)):
        raise CorruptFile(f"{where} is truncated: a strip or tile holds fewer bytes than its pixels need")
    padding = {i: s for i, s in enumerate(shapes) if (tiled and s.outside(full)) or s.last != 0xFF}
    return offsets, sizes, padding


def _last_byte_bits(bits: int, low_first: bool) -> int:
    """The bits of a row's last byte that hold pixels, when a row holds ``bits`` (under 8 bits a pixel,
    a row ends inside a byte: the rest of it is coded and never shown). FillOrder 2 fills a byte from its
    low bit."""
    spare = -bits % 8
    return (0xFF >> spare) if low_first else (0xFF << spare) & 0xFF


def _coded_blocks(
    where: str,
    reader: TiffReader,
    compression: int,
    predictor: codecs.Predictor,
    blocks: tuple[tuple, tuple],
    shapes: list[EdgePadding],
    full: int,
    tiled: bool,
) -> Blocks:
    """Each block counted to its stream's end, and coded again when it holds anything but zeros beyond the
    image (padding, rows below ImageLength, bytes after ``full``: a whole tile or strip). A
    re-coded tile keeps its size; a re-coded strip holds the image's rows only. Only blocks that reach
    outside the image are decoded to pixels; the others are measured (``codecs.measure``)."""
    offsets, counts = blocks
    kept, fixes, limit = list(counts), {}, codecs.reach(compression, full)
    for i, (off, count, shape) in enumerate(zip(offsets, counts, shapes, strict=True)):
        data = reader.read(off, count)
        n, used = codecs.measure(compression, data, limit)
        if n < shape.rows * shape.row:
            raise CorruptFile(f"{where} is truncated: a strip or tile decodes to fewer bytes than it needs")
        clean, raw = n <= limit, b""
        if clean and (n > full or n % shape.row or shape.outside(n)):
            raw = codecs.decode(compression, data, limit)
            body = raw[: min(n, full) // shape.row * shape.row]
            pixels = predictor.undo(body, shape.row)
            clean = shape.blank(pixels) == pixels and not raw[len(body) :].strip(b"\0")
        if clean:  # zeros after the block are let be: old LZW encoders code one more zero byte
            kept[i] = used
            continue
        raw = raw or codecs.decode(compression, data, limit)
        size = full if tiled else shape.rows * shape.row
        whole = min(len(raw), size) // shape.row * shape.row
        pixels = shape.blank(predictor.undo(raw[:whole], shape.row)).ljust(size, b"\0")
        fixes[i] = Recoded(codecs.encode(compression, predictor.apply(pixels, shape.row)))
        kept[i] = len(fixes[i].data)
    return offsets, tuple(kept), fixes


def _jpeg_blocks(
    where: str,
    reader: TiffReader,
    entries: dict[int, Entry],
    blocks: tuple[tuple, tuple],
    shapes: list[EdgePadding],
    per_pixel: int,
    tile_bytes: int,
) -> Blocks:
    """JPEG (7) blocks through the segment filter (``jpeg_streams.filter_block``), and strips and edge
    tiles with content coded beyond the image written blank.

    An edge tile's JPEG codes the whole tile, and a strip's may code more rows than the image has: what a
    reader crops is checked as a JPEG frame's MCU padding is (``formats.jpeg_padding``). A block with
    content there is written as the complete stream that function returns (its own tables, which TIFF
    readers take over JPEGTables); interior tiles code nothing outside. Every block loses what a decoder
    does not read (APPn, COM, bytes after EOI: ``Filtered``); its coded data stays byte for byte.
    """
    from deident.formats.jpeg_padding import padding_fix
    from deident.formats.tiff.jpeg_streams import clean_tables, filter_block

    entry = entries.get(Tag.JPEGTables)
    tables = clean_tables(reader.raw(entry), where)[0][2:-2] if entry is not None else b""
    offsets, counts = blocks
    kept, fixes = list(counts), {}
    for i, (off, count, shape) in enumerate(zip(offsets, counts, shapes, strict=True)):
        stream = reader.read(off, count)
        filtered, dropped = filter_block(stream)
        fix = None
        if not tile_bytes or shape.outside(tile_bytes):
            merged = stream[:2] + tables + stream[2:] if stream[:2] == b"\xff\xd8" else stream
            fix = padding_fix(merged, shape.used * 8 // per_pixel, shape.rows)
        if fix is not None:  # the block's own segments are reported from the block as it was
            fixes[i] = Recoded(filter_block(fix.data)[0], tuple(dropped))
        elif filtered != stream:
            fixes[i] = Filtered(filtered, tuple(dropped))
        kept[i] = len(fixes[i].data) if i in fixes else count
    if NDPI_MCU_STARTS in entries and any(isinstance(f, Filtered) for f in fixes.values()):
        raise UnsupportedFormat(
            f"{where}: an NDPI JPEG strip holds segments a decoder does not read; removing them would move "
            "the MCU starts (tag 65426) the file gives"
        )
    return offsets, tuple(kept), fixes


def _recoded_edges(
    reader: TiffReader,
    blocks: tuple[tuple, tuple],
    shapes: list[EdgePadding],
    per_pixel: int,
    tile_bytes: int,
    recode: Callable[[bytes, tuple[int, int]], bytes | None],
    clean: StreamFilter | None = None,
) -> Blocks:
    """Each strip, and each tile reaching beyond the image, through ``recode`` (its stream and visible
    columns and rows -> the block written anew, or None to copy it). Interior tiles code nothing outside;
    every strip may code rows below the image, so each is looked at. With ``clean`` (JPEG 2000: comments,
    marker segments no decoder reads, bytes after the end) every block, a recoded one too (OpenJPEG
    writes a comment naming itself), keeps only what a decoder reads."""
    offsets, counts = blocks
    kept, fixes = list(counts), {}
    for i, (off, count, shape) in enumerate(zip(offsets, counts, shapes, strict=True)):
        edge = not tile_bytes or shape.outside(tile_bytes)
        if not edge and clean is None:
            continue
        stream = reader.read(off, count)
        data = recode(stream, (shape.used * 8 // per_pixel, shape.rows)) if edge else None
        if data is not None:
            fixes[i] = Recoded(clean(data)[0] if clean else data)
        elif clean is not None:
            filtered, dropped = clean(stream)
            if filtered != stream:
                fixes[i] = Filtered(filtered, tuple(dropped))
        if i in fixes:
            kept[i] = len(fixes[i].data)
    return offsets, tuple(kept), fixes


StreamFilter = Callable[[bytes], tuple[bytes, list[Item]]]


def _stream_filter(compression: int) -> StreamFilter | None:
    """What keeps only the bytes a decoder reads of a block of a picture codec (``picture_codecs``):
    a JPEG 2000 codestream's headers (``formats.j2k_stream``), a WebP file's chunks and bitstreams
    (``formats.webp``: EXIF, XMP, bytes after the RIFF data; not the slack after a bitstream, which
    costs decodes a tile, and a slide has thousands); of a
    ZSTD block its Zstandard frames (``codecs.zstd_frames``: skippable frames and trailing bytes go)."""
    fmt = PICTURE.get(compression)
    if compression == codecs.ZSTD:
        return codecs.zstd_frames
    if fmt == "JPEG2000":
        from deident.formats.j2k_stream import filter_jpeg2000

        return filter_jpeg2000
    if fmt == "WEBP":
        from deident.formats.webp import chunk_items, clean_webp, walk

        return lambda stream: (clean_webp(stream), list(chunk_items(walk(stream))))
    return None


def _subsampled(reader: TiffReader, entries: dict[int, Entry]) -> bool:
    """YCbCrSubSampling other than 1 x 1 (TIFF's default is 2 x 2)."""
    entry = entries.get(Tag.YCbCrSubSampling)
    return (tuple(reader.values(entry))[:2] if entry is not None and entry.count >= 2 else (2, 2)) != (1, 1)


@dataclass(frozen=True)
class EdgePadding:
    """Where a block's image ends: bytes per block row, image bytes per row, image rows. What lies beyond
    (padding columns, rows below) is written blank."""

    row: int
    used: int
    rows: int
    last: int = 0xFF  # the bits of a row's last image byte that hold pixels (``_last_byte_bits``)

    def outside(self, size: int) -> bool:
        """Whether a block of ``size`` decoded bytes holds anything beyond the image."""
        return self.used < self.row or size > self.rows * self.row or self.last != 0xFF

    def blank(self, tile: bytes) -> bytes:
        out = bytearray(tile)
        for r in range(len(out) // self.row if self.row else 0):
            start = r * self.row + (self.used if r < self.rows else 0)
            out[start : (r + 1) * self.row] = bytes((r + 1) * self.row - start)
            if r < self.rows and self.used:
                out[start - 1] &= self.last
        return bytes(out)

    def block(self, reader: TiffReader, offset: int, count: int) -> bytes:
        return self.blank(reader.read(offset, count))

    def changes(self, reader: TiffReader, offset: int, count: int) -> bool:
        tile = reader.read(offset, count)
        return self.blank(tile) != tile


@dataclass(frozen=True)
class Recoded:
    """A coded block written anew (its padding blank), in place of the source's bytes; ``dropped``: the
    segments the JPEG filter took out of it (``tiff.jpeg_streams``)."""

    data: bytes
    dropped: tuple[Item, ...] = ()

    def block(self, reader: TiffReader, offset: int, count: int) -> bytes:
        return self.data

    def changes(self, reader: TiffReader, offset: int, count: int) -> bool:
        """Whether what the block codes beyond the image changed (its own finding: ``tiff.strips``)."""
        return True


@dataclass(frozen=True)
class Filtered(Recoded):
    """A JPEG block without the segments a decoder does not read; what it codes is as it was."""

    def changes(self, reader: TiffReader, offset: int, count: int) -> bool:
        return False


BlockFix = EdgePadding | Recoded | Filtered
Blocks = tuple[tuple, tuple, dict[int, BlockFix]]  # offsets, byte counts, blocks written changed


def _refuse_overlaps(reader: TiffReader, decided: list[tuple[Page, PagePlan | None]], layouts) -> None:
    """Refuse when bytes the output copies (kept values, strips, tiles) overlap what it drops.

    Protected: every IFD (with the values held inline in it), the values of dropped tags, the EXIF, GPS,
    Interop and SubIFD structures, and the image data of dropped or replaced pages. Real encoders never
    share those bytes with kept data; a file that does would smuggle them into a "clean" output.
    Sorted intervals and a binary search per copied range: O(n log n) however many tiles a pyramid has.
    """
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


def _ifd_spans(reader: TiffReader, ifd: IFD, seen: set[int], depth: int) -> list[tuple[int, int]]:
    """The IFD itself, its shadowed entries' values and, walked, its EXIF/GPS/Interop/SubIFD structures."""
    inline = 8 if reader.big else 4
    out = [(ifd.offset, ifd.offset + ifd.size)]
    out += [(e.offset, e.offset + e.size) for e in ifd.shadowed if e.size > inline]
    for tag in SUB_IFD_TAGS & ifd.entries.keys():
        e = ifd.entries[tag]
        if depth >= 3 or e.type not in POINTER_TYPES or not 0 < e.count <= MAX_ENTRIES:
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
        if offs is None or counts is None or offs.type not in INT_TYPES or counts.type not in INT_TYPES:
            continue
        try:
            out += [(o, o + c) for o, c in zip(reader.values(offs), reader.values(counts), strict=False)]
        except CorruptFile:
            continue
    return out


def _reorder(reader: TiffReader, e: Entry, bo: str | None = None) -> bytes:
    """Raw value bytes in byte order ``bo`` (default: the reader's own)."""
    if e.type in BYTE_TYPES or (bo or reader.bo) == reader.bo:
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
