"""GIF: a block walker (GIF89a: header, screen descriptor, extensions, images, trailer).

Comments, plain-text extensions (text drawn over the picture), XMP and other application extensions
are dropped; looping (NETSCAPE2.0 / ANIMEXTS1.0) and ICC colour data stay; image blocks are copied.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

from deident.errors import CorruptFile
from deident.formats._pillow import Item, WholeFileDocument, clean_values, xmp_identifiers
from deident.formats.base import Context, ImageDims, Source

EXTENSION, IMAGE, TRAILER = 0x21, 0x2C, 0x3B
GRAPHIC_CONTROL, COMMENT, PLAIN_TEXT, APPLICATION = 0xF9, 0xFE, 0x01, 0xFF
KEEP_APPS = {b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"}
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
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
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
            pos += (
                10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
            )  # descriptor, local table, LZW size
            pos = _sub_blocks(data, pos)
            blocks.append(Block(kind, 0, start, pos))
        else:
            raise CorruptFile(f"GIF: unknown block 0x{kind:02X} at {pos}")


LOOPING_APPS = {b"NETSCAPE2.0", b"ANIMEXTS1.0"}


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
    if block.app == b"ICCRGBG1012" and body[2] == 11:
        profile = _profile(block, data)[0]  # an ICC profile, cleaned; other data under its name goes
        return None if profile is None else b"!\xff\x0b" + block.app + _as_sub_blocks(profile)
    return None


def _profile(block: Block, data: bytes) -> tuple[bytes | None, Item | None]:
    from deident.formats import icc

    where = f"extension 0x{block.label:02X} at {block.start}"
    return icc.profile_item(_sub_block_data(data, block.start + 14), where)


def _as_sub_blocks(payload: bytes) -> bytes:
    """Data sub-blocks of at most 255 bytes each, then the terminator."""
    return (
        b"".join(bytes([len(p)]) + p for p in (payload[i : i + 255] for i in range(0, len(payload), 255)))
        + b"\0"
    )


def block_items(parsed: Parsed, data: bytes) -> Iterator[Item]:
    for b in parsed.blocks:
        if b.app == b"ICCRGBG1012" and b.body(data)[2] == 11:
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
            kind = "xmp" if b.app == b"XMP DataXMP" else "gif.app"
            name = f"'{b.app[:8].decode('latin-1')}'" if b.app in KNOWN_APPS else "under a private identifier"
            yield Item(kind, where, f"application extension {name}, {size} bytes")
        else:
            kind, label = EXT_KIND.get(b.label, ("gif.extension", "unknown extension"))
            yield Item(kind, where, f"{label}, {size} bytes")
    if parsed.trailer:
        yield Item("trailer", f"after trailer at {parsed.end}", f"{parsed.trailer} bytes after the image")


def clean_gif(data: bytes) -> bytes:
    parsed = walk(data)
    body = b"".join(k for b in parsed.blocks if (k := _kept_bytes(b, data)) is not None)
    return data[: parsed.header_end] + body + b";"


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

    def _encode(self, ctx: Context) -> bytes:
        """All frames again (GIF frames depend on each other), with the original timing and looping."""
        from deident.formats._pillow import open_image

        src = open_image(self.data)
        frames, durations = [], []
        for i in range(self._dims().frames):
            img = self.stored(i, ctx)
            src.seek(i)
            durations.append(src.info.get("duration", 0))
            frames.append(img)
        buf = io.BytesIO()
        kwargs = {"loop": src.info["loop"]} if "loop" in src.info else {}
        if len(frames) > 1:
            kwargs |= {"save_all": True, "append_images": frames[1:], "duration": durations}
        frames[0].save(buf, "GIF", optimize=False, **kwargs)
        return buf.getvalue()

    def identifiers(self) -> list[str]:
        values: list[str] = []
        for b in walk(self.data).blocks:
            if b.app == b"XMP DataXMP":
                values += xmp_identifiers(self.data[b.start + 14 : b.end])
            elif b.label == COMMENT:
                values.append(_sub_block_data(self.data, b.start + 2).decode("latin-1"))
        return clean_values(values)


def open_gif(source: Source) -> GifDocument:
    return GifDocument(source)
