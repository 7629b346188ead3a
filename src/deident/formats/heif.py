"""HEIF / HEIC and AVIF: an ISOBMFF box walker plus a re-encode of the primary picture alone.

The walker (``walk``) reads the container in the words of ISO/IEC 23008-12: top-level boxes, and inside
``meta`` the primary item (pitm), item infos (iinf), locations (iloc), references (iref) and properties
(iprp). It lists every identifying item (EXIF, XMP, other metadata items, thumbnails, depth and auxiliary
images, extra images, unknown boxes, unreferenced media data) without decoding anything.

Cleaning cannot copy the coded picture the way the JPEG walker copies its scans without rebuilding the
item tables, so the primary image is decoded (libheif applies clap/irot/imir: the pixels come out as a
viewer shows them) and re-encoded by pillow-heif with only the ICC profile, or converted to JPEG/PNG with
``--format``. HEVC is lossy: the re-encode is one generation at ``HEIC_QUALITY``; redactions are applied
to the decoded original so repeated writes never stack generations. pillow-heif is imported inside
functions so that ``deident --help`` stays fast.

AVIF has the same boxes (so the same walker and findings), but this pillow-heif build has no AV1 decoder:
Pillow's own AVIF plugin (libavif) decodes and encodes it. libavif leaves clap/irot/imir to the caller
(Pillow only reports them as an EXIF Orientation in ``info``), so ``_display`` applies them to the pixels
in ipma order from the walker's boxes. The clean AVIF is written by Pillow at ``AVIF_QUALITY`` with only
the ICC profile; every ``info`` key Pillow filled (EXIF, XMP, ...) is dropped before any encoder sees the
image.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from deident.errors import CorruptFile, DeidentError, UnsupportedFormat
from deident.findings import Action, Finding
from deident.formats import icc
from deident.formats.base import Context, Frame, ImageDims, Source
from deident.formats.exif import exif_items
from deident.formats.items import Item, clean_values, type_name
from deident.formats.photo import WholeFileDocument
from deident.formats.pixels import CONTRAST_RAISING_TRANSFERS, DECODE_ERRORS
from deident.formats.xmp import xmp_identifiers

# x265 quality for the one lossy generation a clean HEIC costs: visually transparent, 1.5-2.6x the size
# of the input (measured in docs/formats.md). ``--format png`` is the lossless way out.
HEIC_QUALITY = 92
JPEG_QUALITY = 95
# x265 preset "fast": 4-5x quicker than the default "slow" at the same PSNR, files about 7% larger.
X265 = {"preset": "fast"}

# libaom quality for the one lossy generation a clean AVIF costs (4:4:4; measured in docs/formats.md), at
# libavif's default speed 6; one encoder thread, because libaom's output bytes depend on the thread count
# and the same input must give the same bytes on every machine.
AVIF_QUALITY = 90
AVIF_SPEED = 6
AVIF_THREADS = 1

# Top-level boxes a still image needs; free/skip count only when they hold something other than zeros.
TOP_KEEP = {b"ftyp", b"meta", b"mdat"}
FREE = {b"free", b"skip"}
# Children of meta that decode the images; others (grpl entity groups, uuid, ...) are reported.
META_KEEP = {b"hdlr", b"pitm", b"iloc", b"iinf", b"iref", b"iprp", b"idat", b"dinf"}
# Item properties that describe how to decode and display an image; anything else is reported.
PROPERTY_KEEP = {b"hvcC", b"av1C", b"vvcC", b"jpgC", b"ispe", b"colr", b"pixi", b"irot", b"imir", b"clap"}
PROPERTY_KEEP |= {b"auxC", b"pasp", b"clli", b"mdcv", b"amve", b"cclv", b"a1op", b"a1lx", b"lsel", b"rloc"}
PROPERTY_KEEP |= {b"ndwt", b"iscl", b"uncC", b"cmpd", b"altt"}
IMAGE_TYPES = {b"hvc1", b"av01", b"grid", b"iden", b"iovl", b"jpeg", b"vvc1", b"unci", b"tmap", b"hvt1"}
HEVC_TYPES = {b"hvc1", b"grid", b"iden", b"iovl"}
AVIF_TYPES = {b"av01", b"grid"}  # what libavif decodes as a primary item
QUARTER_TURNS = ("", "ROTATE_90", "ROTATE_180", "ROTATE_270")  # irot angle -> Pillow (anticlockwise)
# Box, item and property types reports name (ISO/IEC 14496-12, 23008-12, AV1-ISOBMFF); any other is
# "unknown": a type the file chose is four bytes of anything.
BOX_TYPES = TOP_KEEP | FREE | META_KEEP | PROPERTY_KEEP | IMAGE_TYPES | {b"moov", b"moof", b"mfra", b"uuid"}
BOX_TYPES |= {b"styp", b"sidx", b"wide", b"pdin", b"meco", b"grpl", b"ipco", b"ipma", b"infe", b"Exif"}
BOX_TYPES |= {b"mime", b"uri ", b"auxC", b"pasp", b"clli", b"mdcv", b"cclv", b"amve", b"lsel", b"a1op"}
BOX_TYPES |= {b"a1lx", b"udes", b"iscl", b"rloc", b"jumb", b"altr", b"ster", b"xml ", b"bxml", b"iloc"}
XMP_TYPES = {"application/rdf+xml", "application/xmp+xml"}
ALPHA_AUX = {"urn:mpeg:hevc:2015:auxid:1", "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"}
DEPTH_AUX = {"urn:mpeg:hevc:2015:auxid:2", "urn:mpeg:mpegB:cicp:systems:auxiliary:depth"}
# Auxiliary and content types reports name; the file may write anything there, so others are not quoted.
APPLE_AUX = "urn:com:apple:photo:"
AUX_TYPES = ALPHA_AUX | {APPLE_AUX + "2020:aux:hdrgainmap", APPLE_AUX + "2018:aux:portraiteffectsmatte"}
AUX_TYPES |= {f"{APPLE_AUX}2019:aux:semantic{part}matte" for part in ("skin", "hair", "teeth", "glasses")}
CONTENT_TYPES = XMP_TYPES | {"application/json", "text/plain", "application/octet-stream", "image/jpeg"}


@dataclass(frozen=True)
class Box:
    type: bytes
    start: int  # offset of the box header in the file
    body: int  # offset of the payload
    end: int


def boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    """Boxes laid end to end in ``data[start:end]``; any size that runs outside raises ``CorruptFile``."""
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise CorruptFile(f"HEIF: truncated box header at {pos}")
        size, btype = struct.unpack(">I4s", data[pos : pos + 8])
        body = pos + 8
        if size == 1:
            if pos + 16 > end:
                raise CorruptFile(f"HEIF: truncated box header at {pos}")
            size, body = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            raise CorruptFile(f"HEIF: {_name(btype)} box at {pos} runs past its container")
        yield Box(btype, pos, body, pos + size)
        pos += size


class _Reader:
    """Big-endian fields of one box payload; reading past its end is ``CorruptFile``."""

    def __init__(self, data: bytes, pos: int, end: int, what: str):
        self.data, self.pos, self.end, self.what = data, pos, end, what

    def uint(self, n: int) -> int:
        if self.pos + n > self.end:
            raise CorruptFile(f"HEIF: {self.what} box is truncated")
        value = int.from_bytes(self.data[self.pos : self.pos + n], "big") if n else 0
        self.pos += n
        return value

    def fourcc(self) -> bytes:
        return self.uint(4).to_bytes(4, "big")

    def cstring(self) -> str:
        stop = self.data.find(b"\0", self.pos, self.end)
        stop = self.end if stop < 0 else stop
        text = self.data[self.pos : stop].decode("utf-8", "replace")
        self.pos = min(stop + 1, self.end)
        return text

    def full_box(self) -> tuple[int, int]:
        return self.uint(1), self.uint(3)


@dataclass
class ItemInfo:
    id: int
    type: bytes
    hidden: bool = False
    content_type: str = ""
    extents: list[tuple[int, int, int]] = field(default_factory=list)  # (construction method, offset, length)
    properties: list[int] = field(default_factory=list)  # 1-based indices into Parsed.properties

    @property
    def size(self) -> int:
        return sum(length for _, _, length in self.extents)


@dataclass
class Parsed:
    brand: bytes
    top: list[Box]
    meta_children: list[Box]
    primary: int
    items: dict[int, ItemInfo]
    refs: list[tuple[bytes, int, list[int]]]  # (type, from item, to items)
    properties: list[Box]
    idat: Box | None
    data: bytes

    def item_data(self, item: ItemInfo) -> bytes:
        out = b""
        for method, offset, length in item.extents:
            if method == 1 and self.idat is not None:
                offset += self.idat.body
            elif method != 0:
                raise CorruptFile(f"HEIF: item {item.id} uses an unsupported construction method {method}")
            if length == 0 and len(item.extents) == 1:  # 0 = "to the end of the file"
                length = len(self.data) - offset
            if offset + length > len(self.data):
                raise CorruptFile(f"HEIF: item {item.id} data runs past the end of the file")
            out += self.data[offset : offset + length]
        return out

    def targets(self, ref: bytes, source: int) -> list[int]:
        return [t for r, f, to in self.refs if r == ref and f == source for t in to]

    def sources(self, ref: bytes, target: int) -> list[int]:
        return [f for r, f, to in self.refs if r == ref and target in to]

    def aux_type(self, item: ItemInfo) -> str:
        for index in item.properties:
            box = self.properties[index - 1] if 0 < index <= len(self.properties) else None
            if box is not None and box.type == b"auxC":
                r = _Reader(self.data, box.body, box.end, "auxC")
                r.full_box()
                return r.cstring()
        return ""

    def property_box(self, item: ItemInfo, ptype: bytes) -> Box | None:
        for index in item.properties:
            if 0 < index <= len(self.properties) and self.properties[index - 1].type == ptype:
                return self.properties[index - 1]
        return None

    def picture(self) -> set[int]:
        """The primary item and what it is made of (grid tiles, derived inputs, its alpha plane)."""
        return {self.primary} | self.parts_of(self.primary)

    def parts_of(self, item_id: int) -> set[int]:
        """Items that belong to ``item_id`` (tiles, their inputs, alpha planes): kept or dropped with it."""
        parts, todo = set(), [item_id]
        while todo:
            current = todo.pop()
            alpha = [a for a in self.sources(b"auxl", current) if self._is_alpha(a)]
            for part in self.targets(b"dimg", current) + alpha:
                if part != item_id and part not in parts:
                    parts.add(part)
                    todo.append(part)
        return parts

    def _is_alpha(self, item_id: int) -> bool:
        item = self.items.get(item_id)
        return item is not None and self.aux_type(item) in ALPHA_AUX


def walk(data: bytes) -> Parsed:
    """Parse the container; raises ``CorruptFile`` on any structure a decoder would refuse."""
    n = len(data)
    top = list(boxes(data, 0, n))
    if not top or top[0].type != b"ftyp" or top[0].end - top[0].body < 8:
        raise CorruptFile("not a HEIF file (no ftyp box first)")
    brand = data[top[0].body : top[0].body + 4]
    meta = next((b for b in top if b.type == b"meta"), None)
    if meta is None:
        if any(b.type == b"moov" for b in top):
            raise UnsupportedFormat("HEIF: an image sequence without a still image is not supported")
        raise CorruptFile("HEIF: no meta box")
    children = list(boxes(data, meta.body + 4, meta.end))
    kids = {c.type: c for c in children}
    for needed in (b"pitm", b"iinf", b"iloc", b"iprp"):
        if needed not in kids:
            raise CorruptFile(f"HEIF: the meta box has no {needed.decode()} box")
    parsed = Parsed(brand, top, children, _pitm(data, kids[b"pitm"]), {}, [], [], kids.get(b"idat"), data)
    parsed.items = _iinf(data, kids[b"iinf"])
    _iloc(data, kids[b"iloc"], parsed.items)
    if b"iref" in kids:
        parsed.refs = _iref(data, kids[b"iref"])
    parsed.properties = _iprp(data, kids[b"iprp"], parsed.items)
    if parsed.primary not in parsed.items:
        raise CorruptFile("HEIF: the primary item is not listed in iinf")
    for item in parsed.items.values():
        for method, offset, length in item.extents:
            base = parsed.idat.body if method == 1 and parsed.idat else 0
            limit = parsed.idat.end if method == 1 and parsed.idat else n
            if base + offset + length > limit:
                raise CorruptFile(f"HEIF: item {item.id} data runs past the end of its container")
    return parsed


def _pitm(data: bytes, box: Box) -> int:
    r = _Reader(data, box.body, box.end, "pitm")
    version, _ = r.full_box()
    return r.uint(2 if version == 0 else 4)


def _iinf(data: bytes, box: Box) -> dict[int, ItemInfo]:
    r = _Reader(data, box.body, box.end, "iinf")
    version, _ = r.full_box()
    r.uint(2 if version == 0 else 4)
    items: dict[int, ItemInfo] = {}
    for infe in boxes(data, r.pos, box.end):
        if infe.type != b"infe":
            continue
        e = _Reader(data, infe.body, infe.end, "infe")
        v, flags = e.full_box()
        item_id = e.uint(4 if v >= 3 else 2)
        e.uint(2)  # protection index
        if v >= 2:
            itype = e.fourcc()
            e.cstring()  # item name
            ctype = e.cstring() if itype == b"mime" else ""
        else:
            itype, ctype = b"mime", (e.cstring(), e.cstring())[1]
        items[item_id] = ItemInfo(item_id, itype, bool(flags & 1), ctype)
    return items


def _iloc(data: bytes, box: Box, items: dict[int, ItemInfo]) -> None:
    r = _Reader(data, box.body, box.end, "iloc")
    version, _ = r.full_box()
    sizes = r.uint(2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    for _ in range(r.uint(2 if version < 2 else 4)):
        item_id = r.uint(2 if version < 2 else 4)
        method = r.uint(2) & 15 if version in (1, 2) else 0
        r.uint(2)  # data reference index
        base = r.uint(base_size)
        extents = []
        for _ in range(r.uint(2)):
            r.uint(index_size)
            extents.append((method, base + r.uint(offset_size), r.uint(length_size)))
        if item_id in items:
            items[item_id].extents = extents


def _iref(data: bytes, box: Box) -> list[tuple[bytes, int, list[int]]]:
    r = _Reader(data, box.body, box.end, "iref")
    version, _ = r.full_box()
    width = 2 if version == 0 else 4
    refs = []
    for ref in boxes(data, r.pos, box.end):
        e = _Reader(data, ref.body, ref.end, "iref")
        source = e.uint(width)
        refs.append((ref.type, source, [e.uint(width) for _ in range(e.uint(2))]))
    return refs


def _iprp(data: bytes, box: Box, items: dict[int, ItemInfo]) -> list[Box]:
    kids = list(boxes(data, box.body, box.end))
    ipco = next((k for k in kids if k.type == b"ipco"), None)
    properties = list(boxes(data, ipco.body, ipco.end)) if ipco else []
    for ipma in (k for k in kids if k.type == b"ipma"):
        r = _Reader(data, ipma.body, ipma.end, "ipma")
        version, flags = r.full_box()
        for _ in range(r.uint(4)):
            item_id = r.uint(2 if version < 1 else 4)
            for _ in range(r.uint(1)):
                index = r.uint(2) & 0x7FFF if flags & 1 else r.uint(1) & 0x7F
                if item_id in items and index:
                    items[item_id].properties.append(index)
    return properties


# ---------------------------------------------------------------- findings


def exif_payload(parsed: Parsed, item: ItemInfo) -> bytes:
    """The TIFF-structured EXIF of an Exif item: after its 4-byte offset to the header ("Exif\\0\\0" ...)."""
    blob = parsed.item_data(item)
    skip = 4 + int.from_bytes(blob[:4], "big") if len(blob) >= 4 else len(blob)
    return blob[skip:]


def _name(code: bytes) -> str:
    return type_name(code, BOX_TYPES)


def _item_where(item: ItemInfo) -> str:
    return f"item {item.id} ({_name(item.type)})"


def heif_items(parsed: Parsed) -> Iterator[Item]:
    """Everything a clean file would not carry: one ``Item`` per metadata item, image or box."""
    data = parsed.data
    for box in parsed.top:
        if box.type in TOP_KEEP:
            continue
        name = _name(box.type)
        if box.type in FREE:
            if data[box.body : box.end].strip(b"\0"):
                yield Item(
                    "heif.free", f"{name} box at {box.start}", f"{box.end - box.body} bytes, not empty"
                )
        elif box.type == b"moov":
            yield Item("heif.sequence", f"moov box at {box.start}", "image sequence / video tracks")
        else:
            yield Item("heif.box", f"{name} box at {box.start}", f"unknown box, {box.end - box.body} bytes")
    for box in parsed.meta_children:
        if box.type not in META_KEEP:
            name = _name(box.type)
            yield Item("heif.box", f"{name} box in meta", f"{box.end - box.body} bytes")
    picture = parsed.picture()
    reported: set[int] = set(picture)
    for item in sorted(parsed.items.values(), key=lambda i: i.id):
        if item.id in reported:
            continue
        where = _item_where(item)
        if item.type == b"Exif":
            found, _ = exif_items(exif_payload(parsed, item), where)
            yield from found or [Item("exif", where, f"EXIF block, {item.size} bytes")]
        elif item.type == b"mime" and item.content_type in XMP_TYPES:
            yield Item("xmp", where, f"XMP packet, {item.size} bytes")
        elif item.type in (b"mime", b"uri "):
            label = item.content_type if item.content_type in CONTENT_TYPES else "a private content type"
            yield Item("heif.metadata", where, f"metadata item ({label}), {item.size} bytes")
        elif item.type in IMAGE_TYPES:
            parts = parsed.parts_of(item.id)
            reported |= parts
            size = item.size + sum(parsed.items[p].size for p in parts if p in parsed.items)
            aux = parsed.aux_type(item)
            if parsed.targets(b"thmb", item.id):
                yield Item("heif.thumbnail", where, f"thumbnail image, {size} bytes")
            elif aux in DEPTH_AUX:
                yield Item("heif.depth", where, f"depth map, {size} bytes")
            elif aux:
                label = aux if aux in AUX_TYPES else "a private type"
                yield Item("heif.aux", where, f"auxiliary image ({label}), {size} bytes")
            else:
                yield Item("heif.image", where, f"another image in the file, {size} bytes")
        else:
            yield Item("heif.item", where, f"item of unknown type, {item.size} bytes")
        reported.add(item.id)
    for item_id in sorted(picture):
        for index in parsed.items[item_id].properties if item_id in parsed.items else []:
            box = parsed.properties[index - 1] if index <= len(parsed.properties) else None
            if box is not None and box.type not in PROPERTY_KEEP:
                name = _name(box.type)
                yield Item(
                    "heif.property", f"{name} property of item {item_id}", f"{box.end - box.body} bytes"
                )
            elif box is not None and box.type == b"colr" and data[box.body : box.body + 4] == b"nclx":
                transfer = int.from_bytes(data[box.body + 6 : box.body + 8], "big")
                if transfer in CONTRAST_RAISING_TRANSFERS:  # viewers would show levels no stage saw apart
                    detail = f"colour description with a {CONTRAST_RAISING_TRANSFERS[transfer]} transfer"
                    yield Item("heif.nclx", f"colr property of item {item_id}", detail)
    unreferenced = _unreferenced(parsed)
    if unreferenced:
        yield Item("heif.unreferenced", "mdat box", f"{unreferenced} bytes of media data no item points to")


def _unreferenced(parsed: Parsed) -> int:
    """Bytes inside mdat boxes not covered by any item (editors leave stripped metadata there)."""
    spans = sorted(
        (off, off + length) for item in parsed.items.values() for m, off, length in item.extents if m == 0
    )
    total = 0
    for box in (b for b in parsed.top if b.type == b"mdat"):
        pos = box.body
        for lo, hi in spans:
            if hi <= pos or lo >= box.end:
                continue
            total += max(0, lo - pos)
            pos = max(pos, hi)
        total += max(0, box.end - pos)
    return total


# ---------------------------------------------------------------- the document


def _pillow_heif():
    """pillow-heif, imported only when a HEIF file is decoded; missing means the file cannot be made safe."""
    try:
        import pillow_heif
    except ImportError as exc:
        raise UnsupportedFormat(f"HEIF: pillow-heif is not installed or cannot load ({exc})") from None
    return pillow_heif


AV1_DECODERS = ("dav1d", "aom", "libgav1")
AV1_ENCODERS = ("aom", "rav1e", "svt")


def _pillow_avif():
    """Pillow's libavif binding, or None when this Pillow has no AVIF plugin."""
    try:
        from PIL import AvifImagePlugin
    except ImportError:
        return None
    if not AvifImagePlugin.SUPPORTED:
        return None
    from PIL import _avif

    return _avif


def pillow_avif_decodes() -> bool:
    """Pillow's AVIF plugin is built with an AV1 decoder (a Pillow built with libavif)."""
    avif = _pillow_avif()
    return avif is not None and any(avif.decoder_codec_available(c) for c in AV1_DECODERS)


def pillow_avif_encodes() -> bool:
    avif = _pillow_avif()
    return avif is not None and any(avif.encoder_codec_available(c) for c in AV1_ENCODERS)


def heif_avif_decodes() -> bool:
    """pillow-heif's libheif has an AV1 decoder (this project's wheel has only libde265)."""
    try:
        decoders = _pillow_heif().libheif_info().get("decoders", {})
    except UnsupportedFormat:
        return False
    return any(name in key for key in decoders for name in AV1_DECODERS)


def _full_box_byte(data: bytes, box: Box | None) -> int | None:
    return data[box.body] if box is not None and box.end > box.body else None


def clap_rect(data: bytes, box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The clean-aperture crop (left, top, right, bottom) of a picture of ``size``, as libavif computes it."""
    if box.end - box.body < 32:
        raise CorruptFile("HEIF: the clap property is truncated")
    wn, wd, hn, hd, xn, xd, yn, yd = struct.unpack(">IIIIiIiI", data[box.body : box.body + 32])
    if 0 in (wd, hd, xd, yd):
        raise CorruptFile("HEIF: the clap property divides by zero")
    w, h = Fraction(wn, wd), Fraction(hn, hd)
    left = Fraction(xn, xd) + (size[0] - w) / 2
    top = Fraction(yn, yd) + (size[1] - h) / 2
    rect = (left, top, left + w, top + h)
    if any(v.denominator != 1 for v in rect) or w < 1 or h < 1 or left < 0 or top < 0:
        raise CorruptFile("HEIF: the clap crop is not a whole-pixel rectangle inside the picture")
    if rect[2] > size[0] or rect[3] > size[1]:
        raise CorruptFile("HEIF: the clap crop is not a whole-pixel rectangle inside the picture")
    return tuple(int(v) for v in rect)  # type: ignore[return-value]


class HeifDocument(WholeFileDocument):
    """The primary picture, decoded once; every write encodes it (with redactions) from that decode."""

    format = "heif"

    def __init__(self, source: Source):
        super().__init__(source)
        parsed = walk(self.data)
        primary = parsed.items[parsed.primary]
        self.avif = primary.type == b"av01" or parsed.brand in (b"avif", b"avis")
        self.decoder = "pillow-heif"  # or "pillow": Pillow's AVIF plugin
        if self.avif:
            self.format = "avif"
            if primary.type not in AVIF_TYPES:
                raise UnsupportedFormat(f"AVIF: primary image of type {_name(primary.type)} is not supported")
            if pillow_avif_decodes():
                self.decoder = "pillow"
                # libavif decodes the track, not the still image, of a sequence not branded avif
                if parsed.brand != b"avif" and any(b.type == b"moov" for b in parsed.top):
                    raise UnsupportedFormat("AVIF: an image sequence is not supported")
            elif not heif_avif_decodes():
                raise UnsupportedFormat(
                    "AVIF: neither Pillow's AVIF plugin nor pillow-heif can decode AV1 here, cannot check it"
                )
        elif primary.type not in HEVC_TYPES:
            raise UnsupportedFormat(f"HEIF: primary image of type {_name(primary.type)} is not supported")
        ispe = parsed.property_box(primary, b"ispe")
        if ispe is None or ispe.end - ispe.body < 12:
            raise CorruptFile("HEIF: the primary image has no size (ispe) property")
        w, h = struct.unpack(">II", self.data[ispe.body + 4 : ispe.body + 12])
        self.size = (w, h)
        # clap/irot/imir in ipma order: what a viewer does to the decoded picture before showing it
        props = [parsed.properties[i - 1] for i in primary.properties if 0 < i <= len(parsed.properties)]
        self.transforms = [b for b in props if b.type in (b"clap", b"irot", b"imir")]
        self.transformed = any(b.type in (b"irot", b"imir") for b in self.transforms)
        self.cropped = any(b.type == b"clap" for b in self.transforms)
        self.depth, self.subsampling = _av1_config(parsed) if self.avif else (8, "4:2:0")
        self.icc: bytes | None = None
        self.icc_item: Item | None = None  # the profile's text reset, or the profile dropped (not one)
        self.nclx: dict | None = None
        self.decoded = None  # PIL image of the primary picture as displayed, without any info
        self._heif = None  # pillow-heif's HeifFile, opened on first need
        self._pil = None  # Pillow's AvifImageFile, opened on first need

    # -- WholeFileDocument hooks
    def _items(self, data: bytes) -> list[Item]:
        return list(heif_items(walk(data)))

    def _dims(self) -> ImageDims:
        return ImageDims(*self.size)

    def _kept(self, output_format: str | None = None) -> list[Item]:
        kept = [Item("heif.reencoded", "primary image", self._encoding(output_format), Action.REPLACED)]
        if self.transformed:
            kept.append(
                Item(
                    "heif.orientation", "irot/imir", "display orientation applied to the pixels", Action.KEPT
                )
            )
        if self.cropped:
            detail = "clean-aperture crop applied: the hidden border is not written"
            kept.append(Item("heif.crop", "clap property", detail, Action.REMOVED))
        self._decode_header()
        if self.icc_item:
            kept.append(self.icc_item)
        if self.icc:
            kept.append(Item("heif.icc", "colr box", "ICC colour profile (colour fidelity)", Action.KEPT))
        return kept

    def _encoding(self, fmt: str | None) -> str:
        if fmt == "png":
            done = "converted to PNG (lossless from the decoded picture)"
        elif fmt == "jpeg":
            done = f"converted to JPEG (quality {JPEG_QUALITY}, 4:4:4, lossy)"
        elif self.avif:
            layout = self.subsampling
            done = f"re-encoded as AVIF (AV1 quality {AVIF_QUALITY}, {layout}: one lossy generation)"
        else:
            done = f"re-encoded as HEIC (HEVC quality {HEIC_QUALITY}: one lossy generation)"
        header = self._decode_header()
        depth = header.info.get("bit_depth", 8) if self.decoder == "pillow-heif" else self.depth
        return done + (f"; {depth}-bit samples written as 8-bit" if depth > 8 else "")

    # -- Document
    def metadata_findings(self) -> list[Finding]:
        return [] if self.scrubbed else super().metadata_findings()

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        items = self._items(self.data) + self._kept(ctx.options.output_format)
        self.scrubbed = True  # the bytes stay: write() encodes the picture alone from them
        return [it.finding() for it in items]

    def output_suffix(self, ctx: Context) -> str | None:
        return {"jpeg": ".jpg", "png": ".png"}.get(ctx.options.output_format or "")

    def _decode_header(self):
        """Open the file without decoding pixels yet: colour profile, and whether the decoder accepts it."""
        if self.decoder == "pillow":
            return self._pillow_header()
        if self._heif is not None:
            return self._heif
        ph = _pillow_heif()
        try:
            heif = ph.open_heif(io.BytesIO(self.data), convert_hdr_to_8bit=True)
            info = heif.info
        except (*DECODE_ERRORS, RuntimeError) as exc:
            raise CorruptFile(f"HEIF: cannot decode ({exc})") from None
        if info.get("icc_profile"):
            self.icc, self.icc_item = icc.profile_item(bytes(info["icc_profile"]), "colr box")
        elif isinstance(info.get("nclx_profile"), dict):
            self.nclx = dict(info["nclx_profile"])
            if self.nclx.get("transfer_characteristics") in CONTRAST_RAISING_TRANSFERS:  # heif_items said so
                self.nclx = None
        self._heif = heif
        return heif

    def _pillow_header(self):
        """Pillow's AVIF plugin parses the file (libavif) and reads the ICC profile; pixels come later."""
        if self._pil is not None:
            return self._pil
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # our own limit (ctx.options.max_pixels) is checked before decoding
        try:
            img = Image.open(io.BytesIO(self.data), formats=["AVIF"])
        except (*DECODE_ERRORS, RuntimeError) as exc:
            raise CorruptFile(f"AVIF: cannot decode ({exc})") from None
        if getattr(img, "n_frames", 1) != 1 or img.size != self.size:
            raise CorruptFile(f"AVIF: libavif decodes {img.size}, not the primary image's {self.size}")
        if img.info.get("icc_profile"):
            self.icc, self.icc_item = icc.profile_item(bytes(img.info["icc_profile"]), "colr box")
        self._pil = img
        return img

    def frames(self, ctx: Context) -> Iterator[Frame]:
        """The one picture's views; the ICC profile the output keeps (never in the picture's info) is
        applied as viewers apply it (``pixels.managed_view``): a curve steep near black lifts a name."""
        from deident.formats.pixels import shown_frames

        picture = self.stored(0, ctx)  # reads the header, and so self.icc, first
        yield from shown_frames(0, picture, "image", self.icc)

    def stored(self, index: int, ctx: Context):
        """The displayed picture (clap/irot/imir applied), so display and stored coordinates agree."""
        if index in self.edited:
            return self.edited[index]
        if index != 0:
            raise IndexError(f"{self.format}: only the primary image is decoded")
        if self.decoded is None:
            self.check_size(ctx)
            header = self._decode_header()
            try:
                if self.decoder == "pillow":
                    header.load()
                    img = self._display(header)
                else:  # libheif applied the transforms itself
                    img = header.to_pillow()
                    img.load()
            except (*DECODE_ERRORS, RuntimeError) as exc:
                raise CorruptFile(f"{self.format.upper()}: cannot decode the primary image ({exc})") from None
            if img.mode not in ("RGB", "RGBA"):
                img = img.convert("RGBA" if "A" in img.mode else "RGB")
            img.info = {}  # pixels only: EXIF/XMP/ICC a decoder copied into info must never reach an encoder
            self.decoded = img
        return self.decoded

    def _display(self, img):
        """libavif's decode as a viewer shows it: clap, irot and imir applied in the order ipma lists them."""
        from PIL import Image

        for box in self.transforms:
            if box.type == b"clap":
                img = img.crop(clap_rect(self.data, box, img.size))
            elif box.type == b"irot":
                angle = _full_box_byte(self.data, box)
                if angle is None:
                    raise CorruptFile("AVIF: the irot property is truncated")
                turn = QUARTER_TURNS[angle & 3]  # anticlockwise quarter turns
                if turn:
                    img = img.transpose(getattr(Image.Transpose, turn))
            else:
                axis = _full_box_byte(self.data, box)
                if axis is None:
                    raise CorruptFile("AVIF: the imir property is truncated")
                # as libavif and libheif write it: axis 1 mirrors left-right, 0 top-bottom
                flip = Image.Transpose.FLIP_LEFT_RIGHT if axis & 1 else Image.Transpose.FLIP_TOP_BOTTOM
                img = img.transpose(flip)
        return img

    def _output(self, ctx: Context) -> bytes:
        img = self.stored(0, ctx)
        fmt = ctx.options.output_format
        try:
            if fmt == "png":
                return self._png(img)
            if fmt == "jpeg":
                return self._jpeg(img)
            return self._avif(img) if self.avif else self._heic(img)
        except DeidentError:
            raise
        except (*DECODE_ERRORS, RuntimeError) as exc:
            raise UnsupportedFormat(f"{self.format}: cannot encode the clean copy ({exc})") from None

    def _heic(self, img) -> bytes:
        ph = _pillow_heif()
        extra: dict = {"icc_profile": self.icc} if self.icc else {}
        if self.nclx and not self.icc:
            extra["nclx_profile"] = self.nclx
        buf = io.BytesIO()
        ph.encode(img.mode, img.size, img.tobytes(), buf, quality=HEIC_QUALITY, enc_params=X265, **extra)
        return buf.getvalue()

    def _avif(self, img) -> bytes:
        """Pillow's AVIF encoder with the pixels and the ICC profile alone: no exif, no xmp, no info."""
        if not pillow_avif_encodes():
            raise UnsupportedFormat("AVIF: Pillow has no AV1 encoder here; use --format jpeg or png")
        clean = img.copy()
        clean.info = {}
        kwargs: dict = {"icc_profile": self.icc} if self.icc else {}
        buf = io.BytesIO()
        clean.save(
            buf,
            "AVIF",
            quality=AVIF_QUALITY,
            speed=AVIF_SPEED,
            max_threads=AVIF_THREADS,
            subsampling=self.subsampling,
            **kwargs,
        )
        return buf.getvalue()

    def _jpeg(self, img) -> bytes:
        from deident.formats.jpeg import clean_jpeg

        if img.mode == "RGBA":  # JPEG has no alpha: flatten onto white, as viewers show it
            from PIL import Image

            flat = Image.new("RGB", img.size, (255, 255, 255))
            flat.paste(img, mask=img.getchannel("A"))
            img = flat
        buf = io.BytesIO()
        kwargs = {"icc_profile": self.icc} if self.icc else {}
        # 4:4:4: the decoded picture's chroma was already subsampled once by HEVC; do not halve it again.
        img.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0, **kwargs)
        return clean_jpeg(buf.getvalue())

    def _png(self, img) -> bytes:
        from deident.formats.png import clean_png

        buf = io.BytesIO()
        kwargs = {"icc_profile": self.icc} if self.icc else {}
        img.save(buf, "PNG", **kwargs)
        return clean_png(buf.getvalue())

    def identifiers(self) -> list[str]:
        parsed = walk(self.data)
        values: list[str] = []
        for item in parsed.items.values():
            if item.type == b"Exif":
                values += exif_items(exif_payload(parsed, item), "")[1].identifiers
            elif item.type == b"mime" and item.content_type in XMP_TYPES:
                values += xmp_identifiers(parsed.item_data(item))
        return clean_values(values)


def _av1_config(parsed: Parsed) -> tuple[int, str]:
    """Bit depth from the av1C of the primary item (or its first grid tile), and the chroma layout to write.

    4:4:4 unless the source is monochrome: the decoded chroma was already subsampled once by the source
    encoder, and libavif's 4:2:0 down/up-sampling is not idempotent (on colour noise a 4:2:0 re-encode
    loses 7 dB more than 4:4:4; on a photograph both give 46 dB, 4:4:4 about 3% larger).
    """
    for item_id in [parsed.primary, *sorted(parsed.parts_of(parsed.primary))]:
        item = parsed.items.get(item_id)
        box = parsed.property_box(item, b"av1C") if item is not None else None
        if box is not None and box.end - box.body >= 4:
            flags = parsed.data[box.body + 2]
            depth = (12 if flags & 0x20 else 10) if flags & 0x40 else 8
            return depth, "4:0:0" if flags & 0x10 else "4:4:4"
    raise CorruptFile("AVIF: the primary image has no AV1 configuration (av1C)")


def open_heif(source: Source) -> HeifDocument:
    return HeifDocument(source)


__all__ = ["HeifDocument", "heif_items", "open_heif", "walk"]
