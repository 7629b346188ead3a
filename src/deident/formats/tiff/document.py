"""The TIFF document: what each page holds (``PageInfo``), pixels through Pillow, output through the rewriter.

Structure is read from the path, never the whole file. Whole-slide images (``formats.wsi``) read their
pages through the same ``PageInfo``; ``formats.tiff.opener`` decides which document a TIFF becomes.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action, Finding
from deident.formats.base import Context, Document, Frame, ImageDims, Source
from deident.formats.exif import ExifSummary, walk_exif_ifd
from deident.formats.items import Item, clean_values, plural
from deident.formats.tiff.reader import IFD, Entry, TiffReader, samples
from deident.formats.tiff.rewrite import (
    Blocks,
    Page,
    PagePlan,
    Recoded,
    blank_colormap,
    check_data_tags,
    declared_blocks,
    rewrite_tiff,
    structural_page,
    unused_tags,
    used_colormap,
)
from deident.formats.tiff.tags import (
    ASCII,
    DECODE_TAGS,
    OFFSET_TAGS,
    SUB_IFD_TAGS,
    TAG_KIND,
    TAG_NAMES,
    Tag,
)
from deident.regions import Redaction

# Identifying text tags whose values go to the batch deny-list (DateTime also by its date alone).
_VALUE_TAGS = {Tag.Artist, Tag.Copyright, Tag.DateTime, Tag.DocumentName, Tag.HostComputer}


@dataclass
class PageInfo:
    """One page before a scrub: its size and orientation, and what dropping its tags outside a keep-list
    removes (one item per tag, plus the identifying values among them, kept in memory for the deny-list)."""

    index: int
    width: int
    height: int
    orientation: int = 1
    samples: int = 1  # SamplesPerPixel: how many the decoded picture must show (``shown_samples``)
    bits: int = 8  # the first BitsPerSample: Pillow keeps the high byte of 16-bit samples of more than one
    items: list[Item] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    blocks: Blocks | None = None  # declared_blocks, for the rewriter (None: unreadable, refused there)

    @classmethod
    def read(
        cls,
        reader: TiffReader,
        ifd: IFD,
        index: int,
        keep: set[int] | dict = DECODE_TAGS,
        palette=True,
        blocks=True,
    ) -> PageInfo:
        """The page's findings when only ``keep`` survives; ``palette`` reports colour-map entries no pixel
        uses (``structural_page`` blanks them; the whole-slide policy copies the table as it is);
        ``blocks`` False leaves the image data's check to ``read_blocks`` (it decodes edge blocks)."""
        e = ifd.entries

        info = cls(
            index,
            reader.first_value(e, Tag.ImageWidth),
            reader.first_value(e, Tag.ImageLength),
            reader.first_value(e, Tag.Orientation, 1),
            reader.first_value(e, Tag.SamplesPerPixel, 1),
            reader.first_value(e, Tag.BitsPerSample, 1),
        )
        where = f"page {index}"
        if blocks:
            info.read_blocks(reader, ifd)
        if palette and Tag.ColorMap in keep and used_colormap(reader, ifd, index) is not None:
            info.items.append(Item("tiff.ColorMap", f"{where} tag 320", "colour-map entries no pixel uses"))
        unused = unused_tags(reader, ifd)
        for tag in unused & set(keep):
            name = DECODE_TAGS[tag]
            info.items.append(
                Item(f"tiff.{name}", f"{where} tag {int(tag)}", f"{name} this page does not use")
            )
        if Tag.JPEGTables in e and Tag.JPEGTables in keep and Tag.JPEGTables not in unused:
            from deident.formats.tiff.jpeg_streams import clean_tables

            info.items += clean_tables(reader.raw(e[Tag.JPEGTables]), f"{where} tag 347")[1]
        for tag, entry in e.items():
            if tag == Tag.InterColorProfile and tag in keep:
                from deident.formats import icc

                item = icc.profile_item(reader.raw(entry), f"{where} tag {tag}")[1]
                info.items += [item] if item is not None else []
            if tag in keep:
                continue
            info._dropped(reader, tag, entry)
        return info

    def read_blocks(self, reader: TiffReader, ifd: IFD) -> None:
        """Image data beyond the declared image or past a stream's end (``declared_blocks``), found first."""
        items, self.blocks = _beyond_declared(reader, ifd.entries, f"page {self.index}")
        self.items[:0] = items

    def _dropped(self, reader: TiffReader, tag: int, entry: Entry) -> None:
        """The item for a tag the scrub drops, and its identifying values."""
        name = TAG_NAMES.get(tag, f"tag{tag}")
        kind = TAG_KIND.get(tag, f"tiff.{name}" if tag < 32768 or tag in TAG_NAMES else "tiff.private")
        detail = f"{name}, {entry.size} bytes"
        if tag == Tag.ExifIFD:
            try:
                summary = ExifSummary()
                walk_exif_ifd(reader, reader.ifd(reader.values(entry)[0]), summary)
                self.items += summary.items(f"page {self.index} EXIF IFD")
                self.identifiers += summary.identifiers
                return
            except (CorruptFile, struct.error, IndexError):
                detail = "EXIF IFD (unreadable)"
        if tag in _VALUE_TAGS and entry.type == ASCII:
            value = reader.text(entry)
            self.identifiers += clean_values([value, value[:10]] if tag == Tag.DateTime else [value])
        if tag in (Tag.XMP, Tag.IPTC):
            from deident.formats.iptc import iptc_identifiers
            from deident.formats.xmp import xmp_identifiers

            raw = reader.raw(entry)
            self.identifiers += xmp_identifiers(raw) if tag == Tag.XMP else iptc_identifiers(raw)
        self.items.append(Item(kind, f"page {self.index} tag {tag}", detail))


def _beyond_declared(
    reader: TiffReader, entries: dict[int, Entry], where: str
) -> tuple[list[Item], Blocks | None]:
    """The findings for image data beyond the declared image or a coded stream's end, and for blocks
    whose padding or rows below the image hold something (``declared_blocks``)."""
    data_tag = next((t for t in OFFSET_TAGS if t in entries), None)
    if data_tag is None or OFFSET_TAGS[data_tag] not in entries:
        return [], None
    try:
        spp, bits = samples("TIFF page", reader, entries)
        check_data_tags("TIFF page", entries, spp, bits)
        offsets, counts = reader.values(entries[data_tag]), reader.values(entries[OFFSET_TAGS[data_tag]])
    except (CorruptFile, struct.error):
        return [], None  # refused with its reason when the page is written
    blocks = declared_blocks("TIFF page", reader, entries, offsets, counts, spp, bits)
    kept_offsets, kept, fixes = blocks
    items = []
    changed = [i for i, fix in fixes.items() if fix.changes(reader, kept_offsets[i], kept[i])]
    # a re-coded block is counted whole (its change is its own finding); an edge tile at its trimmed size
    written = [counts[i] if isinstance(fixes.get(i), Recoded) else k for i, k in enumerate(kept)]
    extra = sum(counts) - sum(written)
    if extra:
        detail = f"{extra} bytes of image data beyond the declared image or a coded stream's end"
        items.append(Item("tiff.strips", f"{where} image data", detail))
    if changed:
        what = "edge tiles" if data_tag == Tag.TileOffsets else "strips"
        kind = "tiff.tiles" if data_tag == Tag.TileOffsets else "tiff.strips"
        detail = f"{len(changed)} {what} hold data beyond the image"
        items.append(Item(kind, f"{where} {what}", detail))
    items += _filtered_segments(fixes, f"{where} JPEG {'tile' if data_tag == Tag.TileOffsets else 'strip'}")
    return items, blocks


def _filtered_segments(fixes: dict, where: str) -> list[Item]:
    """What the JPEG filter took out of the blocks, one item per kind (a slide has thousands of tiles):
    the first block's detail and how many blocks held that kind."""
    found: dict[str, list[Item]] = {}
    for fix in fixes.values():
        dropped = fix.dropped if isinstance(fix, Recoded) else ()
        for kind, item in {it.kind: it for it in reversed(dropped)}.items():
            found.setdefault(kind, []).append(item)
    block = where.split()[-1]
    return [
        Item(kind, f"{where}s", f"{its[0].detail} ({plural(len(its), block)})") for kind, its in found.items()
    ]


def shown_samples(img, page: PageInfo):
    """``img`` when it holds every sample the page stores, else UnsupportedFormat.

    Pillow decodes the colour samples and a first extra sample that is alpha (the text stage sees it as
    ``alpha_view``) and silently drops the rest: an unspecified extra sample (ExtraSamples 0) or any extra
    sample after the first. A name drawn there would be copied unchecked, and deident has no decoder of its
    own for them, so the file is refused.
    """
    decoded = len(img.getbands())
    if decoded < page.samples:
        raise UnsupportedFormat(
            f"TIFF page {page.index}: {page.samples - decoded} of its {page.samples} samples per pixel "
            "(extra samples other than a first alpha) cannot be decoded for the text and face checks"
        )
    return img


# Pillow's encoder for each lossless TIFF compression; an edited page is re-encoded with its own.
_PILLOW_LOSSLESS = {
    1: "raw",
    5: "tiff_lzw",
    8: "tiff_adobe_deflate",
    32946: "tiff_deflate",
    32773: "packbits",
}


class TiffDocument(Document):
    """Reads structure from the path (never the whole file); pixels via Pillow only when asked.

    SubIFDs hold reduced-resolution or raw images: not carried over (reported as removed).
    """

    format = "tiff"

    def __init__(self, source: Source):
        self.source = source
        self.scrubbed = False
        self.edited: dict[int, object] = {}  # page index -> stored pixels (PIL image) after redaction
        with open(source.path, "rb") as fh:
            if not fh.read(8):
                raise CorruptFile("empty file")
            reader = TiffReader(fh)
            self.byte_order = reader.bo
            # the image data is checked once the size is (``_read_blocks``): it decodes edge blocks, and
            # the batch's deny-list opens every file only for its identifiers
            self.pages = [PageInfo.read(reader, ifd, n, blocks=False) for n, ifd in enumerate(reader.chain())]
        if not self.pages:
            raise CorruptFile("TIFF has no pages")
        self._blocks_read = False

    def _read_blocks(self) -> None:
        if self._blocks_read:
            return
        with open(self.source.path, "rb") as fh:
            reader = TiffReader(fh)
            for info, ifd in zip(self.pages, reader.chain(), strict=True):
                info.read_blocks(reader, ifd)
        self._blocks_read = True

    def _items(self) -> list[Item]:
        if self.scrubbed:
            return []
        self._read_blocks()
        return [it for p in self.pages for it in p.items]

    def metadata_findings(self) -> list[Finding]:
        return [it.finding(Action.FOUND) for it in self._items()]

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        found = [it.finding() for it in self._items()]
        self.scrubbed = True
        return found

    def identifiers(self) -> list[str]:
        return clean_values(v for p in self.pages for v in p.identifiers)

    def check_size(self, ctx: Context) -> ImageDims:
        from deident.formats.pixels import refuse_above_limit

        pixels = sum(p.width * p.height for p in self.pages)
        dims = ImageDims(
            max(p.width for p in self.pages),
            max(p.height for p in self.pages),
            len(self.pages),
            {"pixels": pixels},
        )
        refuse_above_limit(pixels, f"{pixels} pixels over {dims.frames} pages", ctx)
        return dims

    def stored(self, index: int, ctx: Context):
        from deident.formats.pixels import decode_frame

        if index in self.edited:
            return self.edited[index]
        self.check_size(ctx)
        return decode_frame(str(self.source.path), index, "TIFF page")

    def frames(self, ctx: Context) -> Iterator[Frame]:
        from deident.formats.pixels import deep_colour_frames, deep_samples, orient, shown_frames

        self.check_size(ctx)
        for i, p in enumerate(self.pages):
            stored = shown_samples(self.stored(i, ctx), p)
            label = f"page {i + 1}" if len(self.pages) > 1 else "image"
            yield from shown_frames(i, orient(stored, p.orientation), label)
            if p.bits == 16 and p.samples > 1 and i not in self.edited:  # redacted: written at 8 bits
                deep = deep_samples(str(self.source.path), stored, p.orientation, i)
                yield from deep_colour_frames(i, deep, label)

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        from deident.formats.pixels import redact_image, to_stored

        img = self.stored(frame_index, ctx)
        orientation = self.pages[frame_index].orientation
        self.edited[frame_index] = redact_image(img, to_stored(redactions, orientation, img.size))
        return []

    def _reencoded(self) -> dict[int, Page]:
        """Each edited page as the first page of a small lossless TIFF in memory."""
        out = {}
        with open(self.source.path, "rb") as fh:
            reader = TiffReader(fh)
            ifds = list(reader.chain())
            compressions = {
                i: (reader.values(ifds[i].entries[Tag.Compression]) or (1,))[0]
                for i in self.edited
                if Tag.Compression in ifds[i].entries
            }
        for i, img in self.edited.items():
            if self.byte_order == ">" and img.mode.startswith("I;16"):
                # Pillow writes little-endian files; pre-swap so the bytes read right under our 'MM' header.
                import numpy as np
                from PIL import Image

                img = Image.fromarray(np.asarray(img).astype("<u2").byteswap())
            buf = io.BytesIO()
            compression = _PILLOW_LOSSLESS.get(compressions.get(i, 1), "tiff_adobe_deflate")
            img.save(buf, "TIFF", compression=compression)
            reader = TiffReader.from_bytes(buf.getvalue())
            out[i] = Page(0, reader, next(reader.chain()))
        return out

    def write(self, out, ctx: Context) -> None:
        """The input as it is when nothing changed; otherwise through the streaming rewriter."""
        if not self.scrubbed and not self.edited:
            with open(self.source.path, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    out.write(chunk)
            return
        self._read_blocks()
        replaced = self._reencoded()

        def policy(page: Page) -> PagePlan | None:
            plan = structural_page(page)
            if not self.scrubbed:
                plan = PagePlan(set(page.ifd.entries) - SUB_IFD_TAGS)
            plan.blocks = self.pages[page.index].blocks
            if page.index in replaced:
                plan.pixels = replaced[page.index]
                blank_colormap(plan, page, plan.pixels)
            return plan

        rewrite_tiff(self.source.path, out, policy)
