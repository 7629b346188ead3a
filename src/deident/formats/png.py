"""PNG (and APNG): a chunk walker with CRC checks, keeping only the chunks that decode and display.

Text chunks, eXIf, tIME, unknown chunks and anything after IEND (aCropalypse) are dropped; image data
chunks are copied unchanged, so the decoded pixels are identical.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from deident.errors import CorruptFile
from deident.formats._pillow import Item, WholeFileDocument, clean_values, xmp_identifiers
from deident.formats.base import Context, ImageDims, Source
from deident.formats.tiff import exif_items

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks needed to decode and display (PNG 3rd edition): header, palette, data, transparency, colour.
KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs"}
KEEP |= {b"bKGD", b"cICP", b"mDCv", b"cLLi"}  # background colour, HDR colour signalling: display only
KEEP |= {b"acTL", b"fcTL", b"fdAT"}  # APNG animation
TEXT = {b"tEXt", b"zTXt", b"iTXt"}
VALUE_KEYWORDS = {b"Author", b"Copyright", b"Creation Time", b"Source", b"Title", b"Disclaimer"}
# Kept chunks whose body has one size (PNG 3rd edition, APNG): a longer body could smuggle bytes
# through the filter, so such a chunk is dropped (and reported) instead of copied.
FIXED_SIZE = {b"gAMA": 4, b"cHRM": 32, b"sRGB": 1, b"pHYs": 9, b"cICP": 4, b"mDCv": 24, b"cLLi": 8}
FIXED_SIZE |= {b"acTL": 8, b"fcTL": 26}
MAX_SIZE = {b"sBIT": 4, b"bKGD": 6, b"tRNS": 256, b"PLTE": 768}
# Decompressed text read for the deny-list: values are short; a zTXt "bomb" must not fill memory.
MAX_TEXT = 1 << 20


@dataclass(frozen=True)
class Chunk:
    type: bytes
    start: int
    data: bytes

    def raw(self) -> bytes:
        return (
            struct.pack(">I", len(self.data))
            + self.type
            + self.data
            + struct.pack(">I", zlib.crc32(self.type + self.data))
        )


@dataclass
class Parsed:
    chunks: list[Chunk]
    end: int  # offset after IEND
    trailer: int


def walk(data: bytes) -> Parsed:
    if data[:8] != SIGNATURE:
        raise CorruptFile("not a PNG (bad signature)")
    chunks: list[Chunk] = []
    pos, n = 8, len(data)
    while True:
        if pos + 12 > n:
            raise CorruptFile("PNG is truncated (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if length > n - pos - 12:
            raise CorruptFile(f"PNG: chunk {ctype!r} at {pos} runs past the end of the file")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(ctype + body) != crc:
            raise CorruptFile(f"PNG: CRC mismatch in chunk {ctype!r} at {pos}")
        if not chunks and (ctype != b"IHDR" or length != 13):
            raise CorruptFile("PNG: first chunk is not a 13-byte IHDR")
        chunks.append(Chunk(ctype, pos, body))
        pos += 12 + length
        if ctype == b"IEND":
            return Parsed(chunks, pos, n - pos)


def _text_keyword(chunk: Chunk) -> bytes:
    return chunk.data.split(b"\0", 1)[0][:79]


def _inflate(data: bytes) -> bytes:
    """At most ``MAX_TEXT`` bytes of a zlib stream (a few hundred kB can inflate to gigabytes)."""
    return zlib.decompressobj().decompress(data, MAX_TEXT)


def _text_value(chunk: Chunk) -> bytes:
    """Value of a tEXt/zTXt/iTXt chunk (decompressed, bounded); empty when it cannot be read."""
    rest = chunk.data.split(b"\0", 1)[1] if b"\0" in chunk.data else b""
    try:
        if chunk.type == b"zTXt":
            return _inflate(rest[1:])
        if chunk.type == b"iTXt":
            flag, _method, rest = rest[0], rest[1], rest[2:]
            rest = rest.split(b"\0", 2)[-1]  # skip language tag and translated keyword
            return _inflate(rest) if flag else rest
    except (zlib.error, IndexError):
        return b""
    return rest


def _well_formed(c: Chunk) -> bool:
    """A kept chunk whose size fits its type; anything else is not copied."""
    if c.type in FIXED_SIZE:
        return len(c.data) == FIXED_SIZE[c.type]
    return len(c.data) <= MAX_SIZE.get(c.type, len(c.data))


def _kept(c: Chunk) -> bool:
    return c.type == b"IEND" or (c.type in KEEP and _well_formed(c))


def _canonical(c: Chunk) -> Chunk:
    """What is written for a kept chunk: IEND always empty; the ICC profile under a neutral name (the
    name is free Latin-1 text, up to 79 bytes)."""
    if c.type == b"IEND":
        return Chunk(c.type, c.start, b"")
    if c.type == b"iCCP" and b"\0" in c.data[:80]:
        return Chunk(c.type, c.start, b"ICC profile" + c.data[c.data.index(b"\0") :])
    return c


def chunk_items(parsed: Parsed) -> Iterator[Item]:
    for c in parsed.chunks:
        if c.type == b"IEND" and c.data:
            yield Item("png.IEND", f"IEND chunk at {c.start}", f"{len(c.data)} bytes inside IEND")
        if _kept(c):
            continue
        where, name = f"{c.type.decode('latin-1')} chunk at {c.start}", c.type.decode("latin-1")
        if c.type in KEEP:  # a kept type with the wrong size: not copied
            if c.type == b"PLTE":
                raise CorruptFile(f"PNG: palette chunk at {c.start} is too long ({len(c.data)} bytes)")
            yield Item(f"png.{name}", where, f"malformed {name} chunk, {len(c.data)} bytes")
        elif c.type in TEXT:
            key = _text_keyword(c)
            if key == b"XML:com.adobe.xmp":
                yield Item("xmp", where, f"XMP packet, {len(c.data)} bytes")
            elif key.startswith(b"Raw profile type"):
                yield Item("png.profile", where, f"{key.decode('latin-1')}, {len(c.data)} bytes")
            else:
                yield Item(f"png.{name}", where, f"text field '{key.decode('latin-1')}', {len(c.data)} bytes")
        elif c.type == b"eXIf":
            items, _ = exif_items(c.data, where)
            yield from items or [Item("exif", where, f"EXIF block, {len(c.data)} bytes")]
        elif c.type == b"tIME":
            yield Item("png.tIME", where, "last-modification time")
        else:
            yield Item(f"png.{name}", where, f"unknown chunk, {len(c.data)} bytes")
    if parsed.trailer:
        yield Item("trailer", f"after IEND at {parsed.end}", f"{parsed.trailer} bytes after the image")


def clean_png(data: bytes) -> bytes:
    parsed = walk(data)
    return SIGNATURE + b"".join(_canonical(c).raw() for c in parsed.chunks if _kept(c))


class PngDocument(WholeFileDocument):
    format = "png"

    def _items(self, data: bytes) -> list[Item]:
        return list(chunk_items(walk(data)))

    def _clean(self, data: bytes) -> bytes:
        return clean_png(data)

    def _dims(self) -> ImageDims:
        parsed = walk(self.data)
        w, h = struct.unpack(">II", parsed.chunks[0].data[:8])
        actl = next((c for c in parsed.chunks if c.type == b"acTL"), None)
        frames = struct.unpack(">I", actl.data[:4])[0] if actl and len(actl.data) >= 8 else 1
        return ImageDims(w, h, max(1, frames))

    def _encode(self, ctx: Context) -> bytes:
        if self._dims().frames > 1:
            from deident.errors import UnsupportedFormat

            raise UnsupportedFormat("PNG: redacting frames of an animated PNG is not supported")
        from deident.formats._pillow import open_image

        src = open_image(self.data)
        img = self.edited[0]
        kwargs = {k: src.info[k] for k in ("icc_profile", "transparency", "gamma", "dpi") if k in src.info}
        if src.mode != img.mode:
            img = img.convert(src.mode)
        buf = io.BytesIO()
        img.save(buf, "PNG", optimize=False, **kwargs)
        return buf.getvalue()

    def identifiers(self) -> list[str]:
        values: list[str] = []
        for c in walk(self.data).chunks:
            if c.type in TEXT:
                key, value = _text_keyword(c), _text_value(c)
                if key == b"XML:com.adobe.xmp":
                    values += xmp_identifiers(value)
                elif key in VALUE_KEYWORDS:
                    values.append(value.decode("utf-8", "replace"))
            elif c.type == b"eXIf":
                values += exif_items(c.data, "")[1].identifiers
        return clean_values(values)


def open_png(source: Source) -> PngDocument:
    return PngDocument(source)
