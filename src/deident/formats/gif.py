"""GIF: a block walker (GIF89a: header, screen descriptor, extensions, images, trailer).

Comments, plain-text extensions (text drawn over the picture), XMP and other application extensions
are dropped; looping (NETSCAPE2.0 / ANIMEXTS1.0) and ICC colour data stay; image blocks are copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from deident.errors import CorruptFile
from deident.formats.base import Context, Frame, ImageDims, Source
from deident.formats.items import Item, per_bytes
from deident.formats.photo import WholeFileDocument
from deident.formats.xmp import xmp_identifiers

EXTENSION, IMAGE, TRAILER = 0x21, 0x2C, 0x3B
GRAPHIC_CONTROL, COMMENT, PLAIN_TEXT, APPLICATION = 0xF9, 0xFE, 0x01, 0xFF
LOOPING_APPS = {b"NETSCAPE2.0", b"ANIMEXTS1.0"}
KEEP_APPS = LOOPING_APPS | {b"ICCRGBG1012"}
# Application identifiers a report may name (any other is free text and is never quoted).
KNOWN_APPS = KEEP_APPS | {b"XMP DataXMP", b"MGK8BIM0000", b"MGKIPTC0000", b"MGLK_IPTC0000", b"ImageMagick"}
EXT_KIND = {COMMENT: ("gif.comment", "comment"), PLAIN_TEXT: ("gif.plaintext", "plain-text overlay")}


@dataclass(frozen=True)
class Block:
    kind: int  # EXTENSION | IMAGE
    label: int  # extension label (0 for images)
    start: int
    end: int
    app: bytes = b""  # application identifier + authentication code

    def body(self, data: bytes) -> bytes:
        return data[self.start : self.end]


@dataclass
class Parsed:
    header_end: int
    blocks: list[Block]
    end: int
    trailer: int
    width: int
    height: int


def _table_size(flags: int) -> int:
    """Bytes of the colour table a screen or image descriptor's flags announce (none without bit 7)."""
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _sub_blocks(data: bytes, pos: int) -> int:
    """Skip a chain of data sub-blocks; return the offset after the terminator."""
    n = len(data)
    while True:
        if pos >= n:
            raise CorruptFile("GIF is truncated inside a data block")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def walk(data: bytes) -> Parsed:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise CorruptFile("not a GIF (bad header)")
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    flags = data[10]
    pos = 13 + _table_size(flags)
    header_end, blocks, n = pos, [], len(data)
    while True:
        if pos >= n:
            raise CorruptFile("GIF is truncated (no trailer)")
        kind, start = data[pos], pos
        if kind == TRAILER:
            return Parsed(header_end, blocks, pos + 1, n - pos - 1, width, height)
        if kind == EXTENSION:
            if pos + 2 > n:
                raise CorruptFile("GIF is truncated inside an extension")
            label = data[pos + 1]
            app = data[pos + 3 : pos + 14] if label == APPLICATION else b""
            pos = _sub_blocks(data, pos + 2)
            blocks.append(Block(kind, label, start, pos, app))
        elif kind == IMAGE:
            if pos + 11 > n:
                raise CorruptFile("GIF is truncated inside an image descriptor")
            flags = data[pos + 9]
            pos += 10 + _table_size(flags) + 1  # descriptor, local table, LZW size
            pos = _sub_blocks(data, pos)
            blocks.append(Block(kind, 0, start, pos))
        else:
            raise CorruptFile(f"GIF: unknown block 0x{kind:02X} at {pos}")


def _kept_bytes(block: Block, data: bytes) -> bytes | None:
    """What is written for a block, or None when it goes.

    Kept extensions are written in their canonical form, so no extra sub-block (or a longer one) can
    carry bytes through the filter: a graphic control block of exactly 4 bytes, a looping block with
    only its loop count, an ICC profile (signature 'acsp') as it is.
    """
    body = block.body(data)
    if block.kind == IMAGE:
        return body
    if block.label == GRAPHIC_CONTROL:
        return body if len(body) == 8 and body[2] == 4 and body[7] == 0 else None
    if block.app in LOOPING_APPS and body[2] == 11:
        sub = _sub_block_data(data, block.start + 14, first_only=True)
        if len(sub) >= 3 and sub[0] == 1:
            return b"!\xff\x0b" + block.app + b"\x03\x01" + sub[1:3] + b"\x00"
        return None
    if _is_icc(block, data):
        profile = _profile(block, data)[0]  # an ICC profile, cleaned; other data under its name goes
        return None if profile is None else b"!\xff\x0b" + block.app + _as_sub_blocks(profile)
    return None


def _profile(block: Block, data: bytes) -> tuple[bytes | None, Item | None]:
    from deident.formats import icc

    where = f"extension 0x{block.label:02X} at {block.start}"
    return icc.profile_item(_sub_block_data(data, block.start + 14), where)


def _is_icc(block: Block, data: bytes) -> bool:
    """An ICC profile's application extension (identifier and code, 11 bytes)."""
    return block.app == b"ICCRGBG1012" and block.body(data)[2] == 11


def kept_profile(data: bytes) -> bytes | None:
    """The first ICC profile as the output keeps it (cleaned), or None: what a colour-managed viewer
    applies, and Pillow does not hand on (``pixels.managed_view``)."""
    profiles = (_profile(b, data)[0] for b in walk(data).blocks if _is_icc(b, data))
    return next((p for p in profiles if p is not None), None)


def _kept_profile_block(data: bytes) -> bytes | None:
    """The extension of that first profile as the metadata filter writes it (``_kept_bytes``), or None."""
    blocks = (_kept_bytes(b, data) for b in walk(data).blocks if _is_icc(b, data))
    return next((kept for kept in blocks if kept is not None), None)


def _as_sub_blocks(payload: bytes) -> bytes:
    """Data sub-blocks of at most 255 bytes each, then the terminator."""
    return (
        b"".join(bytes([len(p)]) + p for p in (payload[i : i + 255] for i in range(0, len(payload), 255)))
        + b"\0"
    )


def block_items(parsed: Parsed, data: bytes) -> Iterator[Item]:
    yield from image_view(data, parsed).items
    for b in parsed.blocks:
        if _is_icc(b, data):
            item = _profile(b, data)[1]
            if item is not None:
                yield item
            continue
        kept = _kept_bytes(b, data)
        if kept == b.body(data):
            continue
        if kept is not None:  # a looping block written back without its extra bytes
            where, extra = f"extension 0x{b.label:02X} at {b.start}", b.end - b.start - len(kept)
            yield Item("gif.app", where, f"extra data in the looping extension, {extra} bytes")
            continue
        where, size = f"extension 0x{b.label:02X} at {b.start}", b.end - b.start
        if b.label == APPLICATION:
            xmp = b.app == b"XMP DataXMP"
            name = f"'{b.app[:8].decode('latin-1')}'" if b.app in KNOWN_APPS else "under a private identifier"
            values = tuple(xmp_identifiers(b.body(data)[14:])) if xmp else ()
            yield Item(
                "xmp" if xmp else "gif.app",
                where,
                f"application extension {name}, {size} bytes",
                values=values,
            )
        else:
            kind, label = EXT_KIND.get(b.label, ("gif.extension", "unknown extension"))
            text = _sub_block_data(data, b.start + 2).decode("latin-1") if b.label == COMMENT else None
            yield Item(kind, where, f"{label}, {size} bytes", values=() if text is None else (text,))
    if parsed.trailer:
        yield Item("trailer", f"after trailer at {parsed.end}", f"{parsed.trailer} bytes after the image")


def clean_gif(data: bytes) -> bytes:
    parsed = walk(data)
    view = image_view(data, parsed)
    body = b"".join(
        view.images.get(b.start, k) for b in parsed.blocks if (k := _kept_bytes(b, data)) is not None
    )
    return view.header + body + b";"


@lru_cache(maxsize=32)
def lzw_extent(lzw: bytes, min_size: int, pixels: int) -> tuple[int, int, bytes]:
    """Decode a GIF LZW stream (GIF89a appendix F) only as far as a decoder does: until ``pixels`` pixels
    or the end code. Returns (pixels decoded, bytes those codes take, the colour indices decoded).

    Remembered: the metadata scrub (``image_view``) and the pixel stages (``_stored_indices``) decode
    each frame, and this decoder is Python's (0.07 s a 300x250 frame)."""
    if not 2 <= min_size <= 8:
        raise CorruptFile(f"GIF: invalid LZW code size {min_size}")
    clear, end = 1 << min_size, (1 << min_size) + 1
    table: list[bytes] = [bytes([i]) for i in range(clear)] + [b"", b""]
    size, pos, prev = min_size + 1, 0, b""
    out = bytearray()
    padded, limit = lzw + b"\0\0\0", 8 * len(lzw)
    while len(out) < pixels and pos + size <= limit:
        code = (int.from_bytes(padded[pos >> 3 : (pos >> 3) + 3], "little") >> (pos & 7)) & ((1 << size) - 1)
        pos += size
        if code == clear:
            del table[end + 1 :]
            size, prev = min_size + 1, b""
            continue
        if code == end:
            break
        if code < len(table):
            entry = table[code]
            if prev and len(table) < 4096:
                table.append(prev + entry[:1])
        elif code == len(table) and prev and len(table) < 4096:
            entry = prev + prev[:1]
            table.append(entry)
        else:
            raise CorruptFile("GIF: invalid LZW code in the image data")
        out += entry
        prev = entry
        if len(table) == 1 << size and size < 12:
            size += 1
    while len(out) >= pixels and pos + size <= limit:  # the codes that close a full frame: clear, end
        code = (int.from_bytes(padded[pos >> 3 : (pos >> 3) + 3], "little") >> (pos & 7)) & ((1 << size) - 1)
        if code not in (clear, end):
            break
        pos += size
        if code == end:
            break
        size = min_size + 1
    return min(len(out), pixels), (pos + 7) // 8, bytes(out[:pixels])


@dataclass
class ImageView:
    """The header and image blocks as a decoder reads them; what changed, as findings."""

    header: bytes  # header, screen descriptor, global colour table (entries no pixel uses set to 0)
    images: dict[int, bytes]  # image block start -> the block rewritten (LZW data cut, unused entries 0)
    items: list[Item]


@per_bytes
def image_view(data: bytes, parsed: Parsed) -> ImageView:
    """Each frame's LZW data is decoded as far as its declared size: codes beyond it (hidden rows) and
    bytes after the end code are cut; fewer pixels than declared is a truncated file. Colour-table
    entries no pixel, transparency or background index uses are set to black (their bytes can spell text).
    """
    items: list[Item] = []
    images: dict[int, bytes] = {}
    global_used: set[int] = {data[11]} if data[10] & 0x80 else set()  # background colour index
    transparent: int | None = None
    for b in parsed.blocks:
        if b.kind == EXTENSION and b.label == GRAPHIC_CONTROL and len(b.body(data)) == 8:
            transparent = data[b.start + 6] if data[b.start + 3] & 1 else None
            continue
        if b.kind != IMAGE:
            continue
        w, h = (
            int.from_bytes(data[b.start + 5 : b.start + 7], "little"),
            int.from_bytes(data[b.start + 7 : b.start + 9], "little"),
        )
        flags = data[b.start + 9]
        table_end = b.start + 10 + _table_size(flags)
        lzw = _sub_block_data(data, table_end + 1)
        count, used_bytes, indices = lzw_extent(lzw, data[table_end], w * h)
        where = f"image at {b.start}"
        if count < w * h:
            raise CorruptFile(f"GIF is truncated: the {where} holds {count} of its {w * h} pixels")
        used = set(indices) | ({transparent} if transparent is not None else set())
        transparent = None  # a graphic control applies to the next image only
        table = bytearray(data[b.start + 10 : table_end])
        if flags & 0x80:
            _blank_unused(table, used, where, items)
        else:
            global_used |= used
        if used_bytes < len(lzw):
            items.append(
                Item("gif.image", where, f"{len(lzw) - used_bytes} bytes of image data beyond the frame")
            )
        if used_bytes < len(lzw) or bytes(table) != data[b.start + 10 : table_end]:
            images[b.start] = (
                data[b.start : b.start + 10]
                + bytes(table)
                + data[table_end : table_end + 1]
                + _as_sub_blocks(lzw[:used_bytes])
            )
    header = bytearray(data[: parsed.header_end])
    if data[10] & 0x80:
        table = bytearray(header[13:])
        _blank_unused(table, global_used, "global colour table", items)
        header[13:] = table
    return ImageView(bytes(header), images, items)


def _blank_unused(table: bytearray, used: set[int], where: str, items: list[Item]) -> None:
    unused = [i for i in range(len(table) // 3) if i not in used and table[3 * i : 3 * i + 3] != b"\0\0\0"]
    for i in unused:
        table[3 * i : 3 * i + 3] = b"\0\0\0"
    if unused:
        items.append(
            Item("gif.palette", where, f"{len(unused)} colour-table entries no pixel uses (set to black)")
        )


def _sub_block_data(data: bytes, pos: int, first_only: bool = False) -> bytes:
    out = []
    while pos < len(data) and data[pos]:
        out.append(data[pos + 1 : pos + 1 + data[pos]])
        pos += 1 + data[pos]
        if first_only:
            break
    return b"".join(out)


class GifDocument(WholeFileDocument):
    format = "gif"

    def _items(self, data: bytes) -> list[Item]:
        return list(block_items(walk(data), data))

    def _clean(self, data: bytes) -> bytes:
        return clean_gif(data)

    def _dims(self) -> ImageDims:
        parsed = walk(self.data)
        return ImageDims(parsed.width, parsed.height, max(1, sum(b.kind == IMAGE for b in parsed.blocks)))

    def frames(self, ctx: Context) -> Iterator[Frame]:
        """Each frame as Pillow composes it; after every frame but the first (which Pillow keeps as
        indices, so ``shown_frames`` looks at them) which of several colour-table entries of one colour
        its pixels store, since Pillow gives those frames as colours only, and the frame as stored when it
        has transparent pixels (text drawn in the colour under it is flat once composed)."""
        from deident.formats.pixels import shown_frames, to_rgb8, unblended_frame

        dims = self.check_size(ctx)
        stored = dict(enumerate(_stored_indices(self.data)))
        under = None  # the canvas the next frame is drawn onto: this frame as composed
        profile = kept_profile(self.data)
        for i in range(dims.frames):
            label = f"frame {i}" if dims.frames > 1 else "image"
            shown = self.stored(i, ctx)
            yield from shown_frames(i, shown, label, profile)
            if i and i in stored and stored[i].width and stored[i].height:
                yield from _duplicate_frame(i, stored[i], dims, f"{label} palette entries")
                yield from unblended_frame(
                    i, stored[i].image(), stored[i].at, dims, f"{label} as stored", under, False
                )
            under = to_rgb8(shown)

    def _encode(self, ctx: Context) -> bytes:
        """All frames again (GIF frames depend on each other), with the original timing and looping, and
        the profile the filter keeps: Pillow writes none, and a redacted copy was shown in other colours
        than the original by a colour-managed viewer."""
        encoded = self._encode_frames(ctx, "GIF", _save_options)
        profile = _kept_profile_block(self.data)
        if profile is None:
            return encoded
        at = walk(encoded).header_end
        return encoded[:at] + profile + encoded[at:]


@dataclass(frozen=True)
class StoredImage:
    """One image block as stored: its colour indices (rows in display order), colours and place."""

    indices: bytes
    width: int
    height: int
    left: int
    top: int
    colours: bytes  # the local colour table, else the global one
    transparent: int | None

    @property
    def at(self) -> tuple[int, int]:
        return self.left, self.top

    def image(self):
        """The block alone as a Pillow palette image, its transparency index applied."""
        from PIL import Image

        img = Image.frombytes("P", (self.width, self.height), self.indices)
        img.putpalette(self.colours or b"\0\0\0")
        if self.transparent is not None:
            img.info["transparency"] = self.transparent
        return img


def _stored_indices(data: bytes) -> Iterator[StoredImage]:
    parsed = walk(data)
    transparent: int | None = None
    for b in parsed.blocks:
        if b.kind == EXTENSION and b.label == GRAPHIC_CONTROL and len(b.body(data)) == 8:
            transparent = data[b.start + 6] if data[b.start + 3] & 1 else None
        if b.kind != IMAGE:
            continue
        left, top, w, h = (
            int.from_bytes(data[b.start + k : b.start + k + 2], "little") for k in (1, 3, 5, 7)
        )
        flags = data[b.start + 9]
        table_end = b.start + 10 + _table_size(flags)
        _, _, indices = lzw_extent(_sub_block_data(data, table_end + 1), data[table_end], w * h)
        if flags & 0x40:  # interlaced: rows stored by pass (every 8th from 0, 8th from 4, 4th from 2, odd)
            order = [r for start, step in ((0, 8), (4, 8), (2, 4), (1, 2)) for r in range(start, h, step)]
            rows = [bytes(indices[n * w : (n + 1) * w]) for n in range(h)]
            shown = [b""] * h
            for n, r in enumerate(order):
                shown[r] = rows[n]
            indices = bytearray(b"".join(shown))
        colours = data[b.start + 10 : table_end] if flags & 0x80 else data[13 : parsed.header_end]
        yield StoredImage(bytes(indices), w, h, left, top, bytes(colours), transparent)
        transparent = None


def _duplicate_frame(index: int, image: StoredImage, dims: ImageDims, label: str) -> Iterator[Frame]:
    import numpy as np

    from deident.formats.pixels import duplicate_view, on_canvas, palette_rgba

    if not image.width or not image.height:
        return
    indices = np.frombuffer(image.indices, np.uint8).reshape(image.height, image.width)
    view = duplicate_view(indices, palette_rgba(image.colours, image.transparent))
    if view is None:
        return
    yield Frame(index, on_canvas(view, image.at, dims), False, label, revealed=True)


def _save_options(info: dict, animated: bool) -> dict:
    return {"optimize": False} | ({"loop": info["loop"]} if "loop" in info else {})


def open_gif(source: Source) -> GifDocument:
    return GifDocument(source)
