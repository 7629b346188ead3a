"""PNG (and APNG): a chunk walker with CRC checks, keeping only the chunks that decode and display.

Text chunks, eXIf, tIME, unknown chunks and anything after IEND (aCropalypse) are dropped; image data
chunks are copied unchanged, so the decoded pixels are identical. Every kept byte is one a decoder uses:
each image's data is inflated (counted, not kept) and must fill exactly the size its header declares:
less is a truncated file (refused), more is re-compressed without the excess, bytes after the zlib stream
are cut; bits past the last pixel of a row (under 8 bits a pixel) are cleared; a palette or transparency
table is kept only at the size the colour type uses.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from deident.errors import CorruptFile
from deident.formats.base import Context, Frame, ImageDims, Source
from deident.formats.exif import exif_block_items
from deident.formats.items import Item, Parsed, clean_values, per_bytes, type_name
from deident.formats.photo import WholeFileDocument
from deident.formats.pixels import CONTRAST_RAISING_TRANSFERS
from deident.formats.xmp import xmp_identifiers

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks needed to decode and display (PNG 3rd edition): header, palette, data, transparency, colour.
KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs"}
KEEP |= {b"bKGD", b"cICP"}  # background colour, colour signalling (mDCv/cLLi: free numbers, dropped)
KEEP |= {b"acTL", b"fcTL", b"fdAT"}  # APNG animation
TEXT = {b"tEXt", b"zTXt", b"iTXt"}
# Keywords a report may name: PNG 3rd edition 11.3.3.2, and those ImageMagick and exiftool write.
KEYWORDS = {b"Title", b"Author", b"Description", b"Copyright", b"Creation Time", b"Software", b"Disclaimer"}
KEYWORDS |= {b"Warning", b"Source", b"Comment", b"date:create", b"date:modify", b"date:timestamp", b"Label"}
KEYWORDS |= {b"Raw profile type " + t for t in (b"exif", b"iptc", b"xmp", b"8bim", b"icc", b"icm", b"APP1")}
VALUE_KEYWORDS = {b"Author", b"Copyright", b"Creation Time", b"Source", b"Title", b"Disclaimer"}
# Kept chunks whose body has one size (PNG 3rd edition, APNG): a longer body could smuggle bytes
# through the filter, so such a chunk is dropped (and reported) instead of copied.
FIXED_SIZE = {b"gAMA": 4, b"cHRM": 32, b"sRGB": 1, b"pHYs": 9, b"cICP": 4}
FIXED_SIZE |= {b"acTL": 8, b"fcTL": 26}
MAX_SIZE = {b"tRNS": 256, b"PLTE": 768}
# Chunks a decoder reads once, before the image data (PNG 3rd edition 5.6); acTL likewise (APNG).
ONCE_BEFORE_IDAT = {b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"bKGD", b"cICP"}
ONCE_BEFORE_IDAT |= {b"acTL"}
# Per colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA): samples per pixel, and the one size
# of sBIT, bKGD and tRNS (None: not allowed for that type; tRNS of a palette image: up to the palette).
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
TYPE_SIZE = {
    b"sBIT": {0: 1, 2: 3, 3: 3, 4: 2, 6: 4},
    b"bKGD": {0: 2, 2: 6, 3: 1, 4: 2, 6: 6},
    b"tRNS": {0: 2, 2: 6, 3: None, 4: None, 6: None},
}
# Adam7 passes: (first column, first row, column step, row step).
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
# Decompressed text read for the deny-list: values are short; a zTXt "bomb" must not fill memory.
# Registered chunk types (PNG 3rd edition and its extensions register): reports name these, no other.
CHUNK_TYPES = KEEP | TEXT | ONCE_BEFORE_IDAT | {b"eXIf", b"tIME", b"hIST", b"sPLT", b"acTL", b"fcTL", b"fdAT"}
CHUNK_TYPES |= {b"mDCv", b"cLLi", b"oFFs", b"pCAL", b"sCAL", b"sTER", b"gIFg", b"gIFx", b"gIFt", b"fRAc"}
CHUNK_TYPES |= {b"dSIG", b"iDOT", b"vpAg", b"orNT", b"caBX"}
MAX_TEXT = 1 << 20
MAX_ICC = 16 << 20


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


def walk(data: bytes) -> Parsed[Chunk]:
    if data[:8] != SIGNATURE:
        raise CorruptFile("not a PNG (bad signature)")
    chunks: list[Chunk] = []
    pos, n = 8, len(data)
    while True:
        if pos + 12 > n:
            raise CorruptFile("PNG is truncated (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if length > n - pos - 12:
            raise CorruptFile(f"PNG: {_name(ctype)} chunk at {pos} runs past the end of the file")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(ctype + body) != crc:
            raise CorruptFile(f"PNG: CRC mismatch in the {_name(ctype)} chunk at {pos}")
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


def _well_formed(c: Chunk, header: Header) -> bool:
    """A kept chunk whose size fits its type and the image's colour type, and whose numbers lie in their
    range; anything else is not copied."""
    if c.type in FIXED_SIZE:
        return len(c.data) == FIXED_SIZE[c.type] and _in_range(c)
    if c.type == b"tRNS" and header.colour == 3:
        return len(c.data) <= 256  # cut to the palette by decoder_view
    if c.type in TYPE_SIZE:
        return len(c.data) == TYPE_SIZE[c.type][header.colour]
    return len(c.data) <= MAX_SIZE.get(c.type, len(c.data))


# Ranges of the numbers in kept colour and size chunks (PNG 3rd edition 11.3.2, ITU-T H.273): chromaticities
# at most 1.0 (x 100000), a gamma at most 10, at most 10^8 pixels a metre (0.01 µm pixels). Out of range the
# numbers are no colour or size a decoder uses, but room for bytes: a cHRM's 32 bytes held a planted
# identifier that the size check let through.
MAX_CHROMATICITY = 100_000
MAX_GAMMA = 1_000_000
MAX_PIXELS_PER_METRE = 100_000_000


def _in_range(c: Chunk) -> bool:
    if c.type == b"cHRM":
        return max(struct.unpack(">8I", c.data)) <= MAX_CHROMATICITY
    if c.type == b"gAMA":
        return 0 < struct.unpack(">I", c.data)[0] <= MAX_GAMMA
    if c.type == b"pHYs":
        x, y, unit = struct.unpack(">IIB", c.data)
        return unit in (0, 1) and max(x, y) <= MAX_PIXELS_PER_METRE
    if c.type == b"cICP":
        primaries, transfer, matrix, full_range = c.data
        shown_as_stored = transfer not in CONTRAST_RAISING_TRANSFERS  # a name at level 3 shown at 28
        return primaries <= 22 and transfer <= 18 and shown_as_stored and matrix == 0 and full_range in (0, 1)
    return True


def _kept(c: Chunk, header: Header) -> bool:
    return c.type == b"IEND" or (c.type in KEEP and _well_formed(c, header))


def _canonical(c: Chunk) -> Chunk:
    """What is written for a kept chunk: IEND always empty; the ICC profile under a neutral name (the
    name is free Latin-1 text, up to 79 bytes)."""
    if c.type == b"IEND":
        return Chunk(c.type, c.start, b"")
    if c.type == b"iCCP" and b"\0" in c.data[:80]:
        return Chunk(c.type, c.start, b"ICC profile" + c.data[c.data.index(b"\0") :])
    return c


@dataclass(frozen=True)
class Header:
    """IHDR: what the image data must fill."""

    width: int
    height: int
    depth: int
    colour: int
    interlace: int

    @classmethod
    def parse(cls, ihdr: Chunk) -> Header:
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr.data)
        if (
            colour not in CHANNELS
            or interlace > 1
            or depth not in (1, 2, 4, 8, 16)
            or not width
            or not height
        ):
            raise CorruptFile("PNG: invalid image header (IHDR)")
        return cls(width, height, depth, colour, interlace)

    def raw_size(self, width: int, height: int) -> int:
        """Bytes of filtered scanlines an image of this size inflates to (PNG 3rd edition 7.2, 8.2)."""
        bits = CHANNELS[self.colour] * self.depth

        def rows(w: int, h: int) -> int:
            return h * (1 + (w * bits + 7) // 8) if w and h else 0

        return sum(rows(w, h) for w, h in self.passes(width, height))

    def passes(self, width: int, height: int) -> list[tuple[int, int]]:
        """(width, height) of each reduced image the scanlines are stored as: one, or Adam7's seven."""
        if not self.interlace:
            return [(width, height)]
        return [(-(-(width - x) // dx), -(-(height - y) // dy)) for x, y, dx, dy in ADAM7]

    def row_padding(self, width: int, height: int) -> bool:
        """Whether some scanline ends in bits no pixel uses (fewer than 8 bits a pixel)."""
        bits = CHANNELS[self.colour] * self.depth
        return any(w and h and w * bits % 8 for w, h in self.passes(width, height))


def _clear_row_padding(raw: bytes, header: Header, width: int, height: int) -> tuple[bytes, int] | None:
    """(``raw``'s scanlines with the bits past each row's last pixel cleared, rows that held any), or None
    when none did. A decoder never shows those bits, so they can carry a planted name as the coded
    padding of a JPEG can (``jpeg_padding``). Reduced images that held any are written unfiltered."""
    import numpy as np

    bits = CHANNELS[header.colour] * header.depth
    parts, held, at = [], 0, 0
    for w, h in header.passes(width, height):
        stride = (w * bits + 7) // 8
        block, at = raw[at : at + h * (stride + 1)], at + h * (stride + 1)
        spare = stride * 8 - w * bits
        if not (w and h and spare):
            parts.append(block)
            continue
        rows = _unfiltered(np.frombuffer(block, np.uint8).reshape(h, stride + 1))
        keep = (0xFF << spare) & 0xFF
        dirty = int(np.count_nonzero(rows[:, -1] & ~np.uint8(keep)))
        if not dirty:
            parts.append(block)
            continue
        held += dirty
        rows[:, -1] &= keep
        parts.append(np.hstack([np.zeros((h, 1), np.uint8), rows]).tobytes())  # filter type 0: none
    return (b"".join(parts), held) if held else None


def _unfiltered(lines):
    """The scanlines of one reduced image, filters undone (PNG 3rd edition 9.2; a pixel of under 8 bits
    filters byte by byte). None/Sub/Up by numpy, Average and Paeth byte by byte."""
    import numpy as np

    out = np.empty((lines.shape[0], lines.shape[1] - 1), np.uint8)
    prior = np.zeros(out.shape[1], np.uint8)
    for y, (kind, line) in enumerate(zip(lines[:, 0].tolist(), lines[:, 1:], strict=True)):
        if kind == 0:
            out[y] = line
        elif kind == 1:
            out[y] = np.cumsum(line, dtype=np.uint64) & 0xFF
        elif kind == 2:
            out[y] = line + prior
        elif kind in (3, 4):
            out[y] = np.frombuffer(_average_or_paeth(kind, line.tolist(), prior.tolist()), np.uint8)
        else:
            raise CorruptFile(f"PNG: unknown filter type {kind} in a scanline")
        prior = out[y]
    return out


def _average_or_paeth(kind: int, line: list[int], prior: list[int]) -> bytes:
    row, left, upleft = bytearray(len(line)), 0, 0
    for x, (value, up) in enumerate(zip(line, prior, strict=True)):
        if kind == 3:
            guess = (left + up) >> 1
        else:
            p = left + up - upleft
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
            guess = left if pa <= pb and pa <= pc else up if pb <= pc else upleft
        left = row[x] = (value + guess) & 0xFF
        upleft = up
    return bytes(row)


def inflated_size(compressed: bytes, limit: int) -> tuple[int, int, bool]:
    """(bytes the zlib stream inflates to, counted up to ``limit`` + 1 and not kept; compressed bytes
    after the end of the stream; whether the stream ends)."""
    d = zlib.decompressobj()
    total, rest = 0, compressed
    try:
        while rest and not d.eof and total <= limit:
            total += len(d.decompress(rest, 1 << 20))
            rest = d.unconsumed_tail
    except zlib.error as exc:
        raise CorruptFile(f"PNG: image data does not inflate ({exc})") from None
    return total, len(d.unused_data), d.eof


@dataclass
class View:
    """What a decoder reads of the image data and the tables: chunks rewritten or dropped, and why."""

    items: list[Item]
    replaced: dict[int, Chunk | None]  # chunk start -> chunk written instead (None: dropped)


@per_bytes
def decoder_view(data: bytes, parsed: Parsed) -> View:
    header = Header.parse(parsed.chunks[0])
    view = View([], {})
    streams: list[tuple[str, int, int, list[Chunk]]] = []  # (label, width, height, data chunks)
    default: list[Chunk] = []
    frame: list[Chunk] | None = None
    palette, used = 0, None
    first = next((i for i, c in enumerate(parsed.chunks) if c.type == b"IDAT"), len(parsed.chunks))
    animated = any(c.type == b"acTL" for c in parsed.chunks[:first])
    seen: set[bytes] = set()
    for c in parsed.chunks:
        name = _name(c.type)
        where = f"{name} chunk at {c.start}"
        if c.type in ONCE_BEFORE_IDAT:  # a second one, or one after the image data: a decoder ignores it
            if c.type in seen or default:
                view.replaced[c.start] = None
                view.items.append(
                    Item(f"png.{name}", where, f"{name} chunk a decoder ignores, {len(c.data)} bytes")
                )
                continue
            seen.add(c.type)
        if c.type in (b"fcTL", b"fdAT") and not animated:
            view.replaced[c.start] = None
            view.items.append(
                Item(f"png.{name}", where, f"animation chunk outside an animation, {len(c.data)} bytes")
            )
            continue
        if (
            c.type == b"fcTL"
            and not default
            and c.data[4:20] != struct.pack(">IIII", header.width, header.height, 0, 0)
        ):
            raise CorruptFile("APNG: the first frame control does not match the image header")
        if c.type == b"IDAT":
            default.append(c)
        elif c.type == b"fcTL" and len(c.data) == 26 and default:
            w, h = struct.unpack(">II", c.data[4:12])
            frame = []
            streams.append((f"APNG frame at {c.start}", w, h, frame))
        elif c.type == b"fdAT" and frame is not None:
            frame.append(c)
        elif c.type == b"PLTE":
            if len(c.data) % 3 or not c.data:
                raise CorruptFile(f"PNG: palette chunk at {c.start} is not a list of RGB entries")
            if header.colour != 3:
                view.replaced[c.start] = None
                view.items.append(
                    Item("png.PLTE", where, f"palette a decoder does not use, {len(c.data)} bytes")
                )
                continue
            palette = min(len(c.data) // 3, 1 << header.depth)
            _trim(view, c, 3 * palette, where, "palette entries no pixel value can reach")
            used = _used_indices(data) if not animated else None
            if used is not None:
                _blank(view, c, palette, used, 3, where)
        elif c.type == b"tRNS" and header.colour == 3:
            _trim(view, c, palette, where, "transparency entries beyond the palette")
            if used is not None:
                _blank(view, c, palette, used, 1, where)
        elif c.type == b"iCCP":
            _icc(view, c, where)
    if not default:
        raise CorruptFile("PNG has no image data (IDAT)")
    actl = next((c for c in parsed.chunks if c.type == b"acTL" and len(c.data) == 8), None)
    controls = sum(c.type == b"fcTL" for c in parsed.chunks)
    if actl is not None and struct.unpack(">I", actl.data[:4])[0] != controls:
        raise CorruptFile(
            f"APNG: acTL declares {struct.unpack('>I', actl.data[:4])[0]} frames, the file holds {controls}"
        )
    streams.insert(0, ("image data", header.width, header.height, default))
    for n, (label, w, h, chunks) in enumerate(streams):
        offset = 0 if n == 0 else 4  # fdAT bodies start with a sequence number
        compressed = b"".join(c.data[offset:] for c in chunks)
        expected = header.raw_size(w, h)
        total, after, ended = inflated_size(compressed, expected)
        if total < expected or (not ended and total == expected):
            raise CorruptFile(
                f"PNG is truncated: the {label} holds {total} of the {expected} bytes its header declares"
            )
        padded = header.row_padding(w, h) and _clear_row_padding(
            zlib.decompressobj().decompress(compressed, expected), header, w, h
        )
        if total == expected and not after and not padded:
            continue
        if n:
            what = "bits past the last pixel of its rows" if padded else "data beyond its declared size"
            raise CorruptFile(f"PNG: the {label} holds {what} (refused)")
        where = f"IDAT chunk at {chunks[0].start}"
        if padded:
            cleared, rows = padded
            recoded = zlib.compress(cleared, 9)
            detail = f"bits past the last pixel set in {rows} row(s) (cleared; every pixel as before)"
            if total > expected or after:
                detail += "; data beyond the declared size or the compressed stream (left out)"
        elif total > expected:
            recoded = zlib.compress(zlib.decompressobj().decompress(compressed, expected), 9)
            detail = "image data beyond the declared size (re-compressed without it)"
        else:
            recoded = compressed[: len(compressed) - after]
            detail = f"{after} bytes after the end of the compressed image data"
        view.items.append(Item("png.IDAT", where, detail))
        view.replaced |= dict.fromkeys((c.start for c in chunks[1:]), None)
        view.replaced[chunks[0].start] = Chunk(b"IDAT", chunks[0].start, recoded)
    return view


def _icc(view: View, c: Chunk, where: str) -> None:
    """iCCP: the profile cleaned by ``formats.icc`` under a neutral name, or dropped when it is not one."""
    from deident.formats import icc

    _, _, rest = c.data.partition(b"\0")
    d = zlib.decompressobj()
    try:
        raw = d.decompress(rest[1:], MAX_ICC) if rest[:1] == b"\0" else b""
    except zlib.error:
        raw = b""
    profile, item = icc.profile_item(raw if d.eof else b"", where)
    if item is not None:
        view.items.append(item)
    if profile is None:
        view.replaced[c.start] = None
    elif item is not None or d.unused_data:
        view.replaced[c.start] = Chunk(c.type, c.start, b"ICC profile\0\0" + zlib.compress(profile, 9))
        if item is None:
            view.items.append(
                Item("png.iCCP", where, f"{len(d.unused_data)} bytes after the compressed profile")
            )


def _used_indices(data: bytes) -> set[int] | None:
    """Palette indices the pixels use (Pillow decodes the image: only palette images pay for it)."""
    from deident.formats.pixels import DECODE_ERRORS, open_image

    try:
        img = open_image(data)
        return {i for i, n in enumerate(img.histogram()) if n} if img.mode == "P" else None
    except DECODE_ERRORS as exc:
        raise CorruptFile(f"PNG: cannot decode the palette image ({exc})") from None


def _blank(view: View, c: Chunk, entries: int, used: set[int], size: int, where: str) -> None:
    """Palette (size 3) or transparency (size 1) entries no pixel uses: black, or opaque."""
    current = view.replaced.get(c.start, c)
    if current is None:
        return
    body = bytearray(current.data)
    fill = b"\0\0\0" if size == 3 else b"\xff"
    for i in range(min(entries, len(body) // size)):
        if i not in used:
            body[i * size : (i + 1) * size] = fill
    if bytes(body) != current.data:
        view.replaced[c.start] = Chunk(c.type, c.start, bytes(body))
        what = "palette" if size == 3 else "transparency"
        view.items.append(Item(f"png.{_name(c.type)}", where, f"{what} entries no pixel uses (blanked)"))


def _trim(view: View, c: Chunk, size: int, where: str, what: str) -> None:
    if len(c.data) > size:
        view.replaced[c.start] = Chunk(c.type, c.start, c.data[:size]) if size else None
        view.items.append(Item(f"png.{_name(c.type)}", where, f"{what}, {len(c.data) - size} bytes"))


def _name(ctype: bytes) -> str:
    """A chunk type as a report names it: a registered one by its letters, any other "unknown"."""
    return type_name(ctype, CHUNK_TYPES)


def _keyword(key: bytes) -> str:
    """A keyword as a report may show it: a registered one by name, any other never (it is free text)."""
    if key in KEYWORDS:
        return f"'{key.decode('latin-1')}'"
    return f"under a private keyword ({len(key)} characters)"


def chunk_items(data: bytes, parsed: Parsed, image_data: bool = True) -> Iterator[Item]:
    """Every item a scrub removes or changes; ``image_data`` False leaves out the decoder view (which
    inflates the image data) when only the chunk structure is wanted."""
    header = Header.parse(parsed.chunks[0])
    if image_data:
        yield from decoder_view(data, parsed).items
    for c in parsed.chunks:
        if c.type == b"IEND" and c.data:
            yield Item("png.IEND", f"IEND chunk at {c.start}", f"{len(c.data)} bytes inside IEND")
        if _kept(c, header):
            continue
        name = _name(c.type)
        where = f"{name} chunk at {c.start}"
        if c.type in KEEP:  # a kept type with the wrong size or numbers out of range: not copied
            if c.type == b"PLTE":
                raise CorruptFile(f"PNG: palette chunk at {c.start} is too long ({len(c.data)} bytes)")
            yield Item(f"png.{name}", where, f"malformed {name} chunk, {len(c.data)} bytes")
        elif c.type in TEXT:
            key = _text_keyword(c)
            if key == b"XML:com.adobe.xmp":
                values = tuple(xmp_identifiers(_text_value(c)))
                yield Item("xmp", where, f"XMP packet, {len(c.data)} bytes", values=values)
            elif key.startswith(b"Raw profile type"):
                yield Item("png.profile", where, f"{_keyword(key)}, {len(c.data)} bytes")
            else:
                values = (_text_value(c).decode("utf-8", "replace"),) if key in VALUE_KEYWORDS else ()
                detail = f"text field {_keyword(key)}, {len(c.data)} bytes"
                yield Item(f"png.{name}", where, detail, values=values)
        elif c.type == b"eXIf":
            yield from exif_block_items(c.data, where)
        elif c.type == b"tIME":
            yield Item("png.tIME", where, "last-modification time")
        else:
            yield Item(f"png.{name}", where, f"unknown chunk, {len(c.data)} bytes")
    if parsed.trailer:
        yield Item("trailer", f"after IEND at {parsed.end}", f"{parsed.trailer} bytes after the image")


def clean_png(data: bytes) -> bytes:
    parsed = walk(data)
    header, replaced = Header.parse(parsed.chunks[0]), decoder_view(data, parsed).replaced
    kept = (replaced.get(c.start, c) for c in parsed.chunks if _kept(c, header))
    return SIGNATURE + b"".join(_canonical(c).raw() for c in kept if c is not None)


class PngDocument(WholeFileDocument):
    format = "png"
    _opening = False

    def __init__(self, source: Source):
        """Opening checks the chunks (CRCs, IHDR); the image data is inflated and counted on the first
        inspection, after ``prepare`` has held the header to ``--max-pixels`` (a bomb is refused unread)."""
        self._opening = True
        super().__init__(source)
        self._opening, self._parsed = False, None

    def _items(self, data: bytes) -> list[Item]:
        return list(chunk_items(data, walk(data), image_data=not self._opening))

    def _clean(self, data: bytes) -> bytes:
        return clean_png(data)

    def _dims(self) -> ImageDims:
        parsed = walk(self.data)
        w, h = struct.unpack(">II", parsed.chunks[0].data[:8])
        if not any(c.type == b"acTL" for c in parsed.chunks):
            return ImageDims(w, h, 1)
        # Every image a decoder shows: the default image (IDAT), then one per frame control after it;
        # a default image outside the animation is one more than acTL counts (Pillow shows it first).
        first = next(i for i, c in enumerate(parsed.chunks) if c.type == b"IDAT")
        return ImageDims(w, h, 1 + sum(c.type == b"fcTL" for c in parsed.chunks[first:]))

    def frames(self, ctx: Context) -> Iterator[Frame]:
        """Each picture as Pillow composes it, and after each frame an APNG blends OVER its canvas what
        blending hides and a frame extractor (apngdis, libpng) hands out (``animation_frames``): a name
        there must reach the text stage too (redacting an APNG is refused, so such text fails the file)."""
        from deident.formats.pixels import animation_frames, deep_colour_frames, deep_samples

        blended = {i: (f.png, (f.x, f.y)) for i, f in _blended_frames(self.data)}
        yield from animation_frames(self, ctx, blended, "APNG frame")
        head = Header.parse(walk(self.data).chunks[0])
        if head.depth < 16 or CHANNELS[head.colour] == 1 or 0 in self.edited:  # redacted: written at 8 bits
            return
        if self._dims().frames > 1:
            from deident.errors import UnsupportedFormat

            raise UnsupportedFormat(
                "PNG: an animated PNG of 16 bits a sample: the low bytes of its later frames cannot be read "
                "for the text and face checks (convert it to 8 bits a sample)"
            )
        deep = deep_samples(self.data, self.stored(0, ctx), self.orientation)
        yield from deep_colour_frames(0, deep, "image")

    def _encode(self, ctx: Context) -> bytes:
        if self._dims().frames > 1:
            from deident.errors import UnsupportedFormat

            raise UnsupportedFormat("PNG: redacting frames of an animated PNG is not supported")
        from deident.formats.pixels import open_image

        src = open_image(self.data)
        img = self.edited[0]
        kwargs = {k: src.info[k] for k in ("icc_profile", "transparency", "dpi") if k in src.info}
        if src.mode != img.mode:
            img = img.convert(src.mode)
        buf = io.BytesIO()
        img.save(buf, "PNG", optimize=False, **kwargs)
        return _with_colour_space(buf.getvalue(), self.data)

    def identifiers(self) -> list[str]:
        """From the chunk structure only: called right after opening, before ``check_size`` has held the
        header to ``--max-pixels``, so the image data is not inflated here."""
        items = chunk_items(self.data, walk(self.data), image_data=False)
        return clean_values(v for it in items for v in it.values)


# How the samples are to be shown, which Pillow reads but does not write: a redacted copy without them was
# shown with other tones and colours than the original (a gamma of 0.55 dropped: every mid-tone changed).
COLOUR_SPACE = (b"gAMA", b"cHRM", b"sRGB", b"cICP")


def _with_colour_space(encoded: bytes, source: bytes) -> bytes:
    """``encoded`` (Pillow's PNG of the redacted picture) with the colour-space chunks ``clean_png`` keeps
    of ``source``, right after the header, where the specification places them (before PLTE and IDAT)."""
    kept = [c.raw() for c in walk(clean_png(source)).chunks if c.type in COLOUR_SPACE]
    header_end = len(SIGNATURE) + len(walk(encoded).chunks[0].raw())
    return encoded[:header_end] + b"".join(kept) + encoded[header_end:]


@dataclass(frozen=True)
class StoredFrame:
    """An APNG frame as its own PNG (header at the frame's size, the palette and transparency of the
    file, its fdAT data as IDAT), and where the frame control places it on the canvas."""

    png: bytes
    x: int
    y: int


def _blended_frames(data: bytes) -> Iterator[tuple[int, StoredFrame]]:
    """(picture index as Pillow counts them, frame) for every APNG frame after the default image that is
    blended OVER (blend_op 1); the first picture has nothing under it and is decoded as stored."""
    parsed = walk(data)
    if not any(c.type == b"acTL" for c in parsed.chunks):
        return
    ihdr = parsed.chunks[0]
    tables = [c for c in parsed.chunks if c.type in (b"PLTE", b"tRNS")]
    first = next(i for i, c in enumerate(parsed.chunks) if c.type == b"IDAT")
    controls = [i for i, c in enumerate(parsed.chunks) if c.type == b"fcTL" and i > first]
    for index, at in enumerate(controls, start=1):
        control = parsed.chunks[at].data
        if len(control) != 26 or control[25] != 1:
            continue
        body = b""
        for c in parsed.chunks[at + 1 :]:
            if c.type == b"fcTL":
                break
            body += c.data[4:] if c.type == b"fdAT" else b""
        w, h, x, y = struct.unpack(">IIII", control[4:20])
        head = Chunk(b"IHDR", 0, struct.pack(">II", w, h) + ihdr.data[8:])
        chunks = [head, *tables, Chunk(b"IDAT", 0, body), Chunk(b"IEND", 0, b"")]
        yield index, StoredFrame(SIGNATURE + b"".join(k.raw() for k in chunks), x, y)


def open_png(source: Source) -> PngDocument:
    return PngDocument(source)
