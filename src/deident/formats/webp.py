"""WebP: a RIFF chunk walker. EXIF, XMP and unknown chunks go, VP8X flags are fixed, image chunks stay,
each bitstream cut to the bytes libwebp reads (``webp_stream``) once the pixel limit is known."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from deident.errors import CorruptFile
from deident.findings import Finding
from deident.formats import webp_stream
from deident.formats.base import Context, Frame, ImageDims, Source
from deident.formats.exif import exif_block_items
from deident.formats.items import Item, Parsed, type_name
from deident.formats.photo import WholeFileDocument
from deident.formats.xmp import xmp_identifiers

KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
VP8X_ICC, VP8X_EXIF, VP8X_XMP = 0x20, 0x08, 0x04
VP8X_FLAGS = 0x3E  # ICC, alpha, EXIF, XMP, animation; the other bits are reserved (written as 0)
# Kept chunks of one size (WebP container spec): the canonical form is written, so no extra or
# reserved bytes travel through the filter. ANMF is a 16-byte frame header followed by frame chunks.
FIXED = {b"VP8X": 10, b"ANIM": 6}
CHUNK_TYPES = KEEP | {b"EXIF", b"XMP ", b"FRGM"}  # chunk types reports name; any other is "unknown"
ANMF_HEADER = 16


@dataclass(frozen=True)
class Chunk:
    fourcc: bytes
    start: int
    data: bytes

    def raw(self) -> bytes:
        return self.fourcc + struct.pack("<I", len(self.data)) + self.data + b"\0" * (len(self.data) & 1)


def _name(fourcc: bytes) -> str:
    return type_name(fourcc, CHUNK_TYPES)


def _chunks(data: bytes, pos: int, end: int, base: int = 0) -> list[Chunk]:
    """The chunks in ``data[pos:end]``; ``base`` makes offsets absolute for nested (ANMF) chunks."""
    chunks = []
    while pos < end:
        if pos + 8 > end:
            raise CorruptFile(f"WebP: truncated chunk header at {base + pos}")
        fourcc, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if pos + 8 + size > end:
            where = f"{_name(fourcc)} chunk at {base + pos}"
            raise CorruptFile(f"WebP: {where} runs past the end of the RIFF data")
        chunks.append(Chunk(fourcc, base + pos, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def frame_chunks(anmf: Chunk) -> list[Chunk]:
    """The chunks inside an ANMF frame, after its 16-byte header."""
    if len(anmf.data) < ANMF_HEADER:
        raise CorruptFile(f"WebP: ANMF chunk at {anmf.start} is shorter than its header")
    return _chunks(anmf.data, ANMF_HEADER, len(anmf.data), anmf.start + 8)


def walk(data: bytes) -> Parsed[Chunk]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise CorruptFile("not a WebP (bad RIFF header)")
    riff_end = 8 + struct.unpack("<I", data[4:8])[0]
    if riff_end > len(data):
        raise CorruptFile("WebP is truncated (RIFF size runs past the end of the file)")
    chunks = _chunks(data, 12, riff_end)
    for c in chunks:
        if c.fourcc in FIXED and len(c.data) < FIXED[c.fourcc]:
            raise CorruptFile(f"WebP: {_name(c.fourcc)} chunk at {c.start} is too short")
        if c.fourcc == b"ANMF":
            frame_chunks(c)  # raises when damaged
    if not any(c.fourcc in (b"VP8 ", b"VP8L", b"ANMF") for c in chunks):
        raise CorruptFile("WebP has no image data")
    return Parsed(chunks, riff_end, len(data) - riff_end)


def _profile(c: Chunk) -> tuple[bytes | None, Item | None]:
    from deident.formats import icc

    return icc.profile_item(c.data, f"ICCP chunk at {c.start}")


def _kept(c: Chunk) -> bool:
    return c.fourcc in KEEP and (c.fourcc != b"ICCP" or _profile(c)[0] is not None)


VP8X_ANIMATION, VP8X_ALPHA = 0x02, 0x10


def unread(chunks: list[Chunk]) -> set[int]:
    """Starts of kept-type chunks a decoder never reads (WebP container spec): in a simple file all but
    the first image chunk; in an extended one, the image chunks of the other kind (still or animated),
    ALPH without a following VP8 or without the alpha flag, ICCP without the ICC flag, any repeat."""
    if not chunks or chunks[0].fourcc != b"VP8X":
        return {c.start for c in chunks[1:] if c.fourcc in KEEP} | (
            {chunks[0].start} if chunks and chunks[0].fourcc not in (b"VP8 ", b"VP8L") else set()
        )
    flags = chunks[0].data[0]
    read: set[int] = {chunks[0].start}
    if flags & VP8X_ANIMATION:
        read |= {c.start for c in chunks if c.fourcc == b"ANMF"}
        read |= {c.start for c in chunks if c.fourcc == b"ANIM"}
    else:
        read |= _still(chunks[1:], flags & VP8X_ALPHA)
    icc = next((c for c in chunks if c.fourcc == b"ICCP"), None)
    if icc is not None and flags & VP8X_ICC:
        read.add(icc.start)
    if (anim := next((c for c in chunks if c.fourcc == b"ANIM"), None)) is not None:
        read -= {c.start for c in chunks if c.fourcc == b"ANIM" and c is not anim}
    return {c.start for c in chunks if c.fourcc in KEEP} - read


def _still(chunks: list[Chunk], alpha: int) -> set[int]:
    """The chunks of one still picture: the first VP8/VP8L, and the ALPH just before a VP8."""
    for i, c in enumerate(chunks):
        if c.fourcc in (b"VP8 ", b"VP8L"):
            before = chunks[i - 1] if i else None
            lossy_alpha = c.fourcc == b"VP8 " and alpha and before is not None and before.fourcc == b"ALPH"
            return {c.start} | ({before.start} if lossy_alpha else set())
    return set()


def canvas(chunks: list[Chunk]) -> tuple[int, int] | None:
    """Width and height the VP8X chunk declares (the size of a still picture's alpha plane)."""
    vp8x = next((c for c in chunks if c.fourcc == b"VP8X"), None)
    if vp8x is None:
        return None
    return int.from_bytes(vp8x.data[4:7], "little") + 1, int.from_bytes(vp8x.data[7:10], "little") + 1


def _alpha(c: Chunk, size: tuple[int, int] | None, limit: int | None) -> Chunk:
    """An ALPH chunk cut to what libwebp reads of a ``size`` picture: one byte a pixel when stored raw,
    the compressed plane (a VP8L stream) to its decoded end once ``limit`` (pixels) allows decoding it.

    The header byte stays: libwebp refuses a plane whose reserved bits are set, so they cannot hide a
    picture; it refuses the compression methods 2 and 3 too, so such a plane is a damaged file.
    """
    if not c.data:
        raise CorruptFile(f"WebP: empty ALPH chunk at {c.start}")
    header, body = c.data[0], c.data[1:]
    if header & 3 == 0 and size is not None:  # uncompressed
        need = size[0] * size[1]
        if len(body) < need:
            raise CorruptFile(f"WebP: ALPH chunk at {c.start} holds fewer bytes than its picture")
        return Chunk(c.fourcc, c.start, bytes([header]) + body[:need])
    if header & 3 > 1:
        raise CorruptFile(f"WebP: ALPH chunk at {c.start} has an unknown compression method")
    return _bitstream(c, limit, size)


def _bitstream(c: Chunk, limit: int | None, size: tuple[int, int] | None = None) -> Chunk:
    if limit is None:
        return c
    try:
        return Chunk(c.fourcc, c.start, webp_stream.trimmed(c.fourcc, c.data, limit, size))
    except CorruptFile as exc:
        raise CorruptFile(f"{exc} ({_name(c.fourcc)} chunk at {c.start})") from None


def canonical(
    c: Chunk, icc: bool = True, size: tuple[int, int] | None = None, limit: int | None = None
) -> Chunk:
    """What is written for a kept chunk (VP8X without the EXIF/XMP flags, and without the ICC flag when
    no profile is written; the ICC profile cleaned by ``formats.icc``; ALPH as ``_alpha`` makes it, of a
    picture of ``size``; VP8 and VP8L cut to what libwebp reads when ``limit`` is given)."""
    if c.fourcc == b"ALPH":
        return _alpha(c, size, limit)
    if c.fourcc in (b"VP8 ", b"VP8L"):
        return _bitstream(c, limit)
    if c.fourcc == b"VP8X":
        flags = c.data[0] & VP8X_FLAGS & ~(VP8X_EXIF | VP8X_XMP) & ~(0 if icc else VP8X_ICC)
        return Chunk(c.fourcc, c.start, bytes([flags, 0, 0, 0]) + c.data[4:10])
    if c.fourcc == b"ICCP":
        return Chunk(c.fourcc, c.start, _profile(c)[0] or b"")
    if c.fourcc in FIXED:
        return Chunk(c.fourcc, c.start, c.data[: FIXED[c.fourcc]])
    if c.fourcc == b"ANMF":
        inner = b"".join(canonical(f, size=size, limit=limit).raw() for f, size in frame_pictures(c))
        return Chunk(c.fourcc, c.start, c.data[:ANMF_HEADER] + inner)
    return c


def frame_pictures(anmf: Chunk) -> list[tuple[Chunk, tuple[int, int]]]:
    """The chunks of an ANMF frame that libwebp reads, each with the frame's size."""
    frame = frame_chunks(anmf)
    read = _still(frame, VP8X_ALPHA)
    size = (int.from_bytes(anmf.data[6:9], "little") + 1, int.from_bytes(anmf.data[9:12], "little") + 1)
    return [(f, size) for f in frame if f.start in read]


def _extra_bytes(c: Chunk) -> int:
    """Bytes of a kept chunk that its canonical form leaves out, bitstreams whole (flags for EXIF/XMP not
    counted)."""
    if c.fourcc == b"VP8X":
        return len(c.data) - 10 + (c.data[1:4] != b"\0\0\0") + bool(c.data[0] & ~VP8X_FLAGS & 0xFF)
    if c.fourcc == b"ALPH":
        return 0  # counted by _slack
    if c.fourcc == b"ANMF":  # what its pictures hold after their bitstreams is counted by _slack
        return len(c.data) - ANMF_HEADER - sum(len(f.raw()) for f, _ in frame_pictures(c))
    return len(c.data) - len(canonical(c).data)


def _slack(c: Chunk, size: tuple[int, int] | None, limit: int | None) -> Iterator[Item]:
    """Bytes after the end of what libwebp reads in an image chunk (or in those of an ANMF frame)."""
    if c.fourcc == b"ANMF":
        for f, frame_size in frame_pictures(c):
            yield from _slack(f, frame_size, limit)
        return
    if c.fourcc not in (b"VP8 ", b"VP8L", b"ALPH"):
        return
    cut = len(c.data) - len(canonical(c, size=size, limit=limit).data)
    if cut:
        where = f"{_name(c.fourcc)} chunk at {c.start}"
        yield Item("webp.slack", where, f"bytes after the end of its bitstream ({cut} bytes)")


def chunk_items(parsed: Parsed, limit: int | None = None) -> Iterator[Item]:
    """The items of a walk; bitstreams are decoded to find their ends only when ``limit`` is given."""
    skipped, size = unread(parsed.chunks), canvas(parsed.chunks)
    for c in parsed.chunks:
        if c.start in skipped:
            where = f"{_name(c.fourcc)} chunk at {c.start}"
            yield Item("webp.chunk", where, f"chunk a decoder does not read, {len(c.data)} bytes")
            continue
        if c.fourcc == b"ICCP":
            item = _profile(c)[1]
            if item is not None:
                yield item
            continue
        if c.fourcc in KEEP:
            extra = _extra_bytes(c)
            if extra:
                where = f"{_name(c.fourcc)} chunk at {c.start}"
                yield Item("webp.chunk", where, f"extra or reserved data in a kept chunk ({extra} bytes)")
            yield from _slack(c, size, limit)
            continue
        where = f"{_name(c.fourcc)} chunk at {c.start}"
        if c.fourcc == b"EXIF":
            data = c.data[6:] if c.data.startswith(b"Exif\0\0") else c.data
            yield from exif_block_items(data, where, len(c.data))
        elif c.fourcc == b"XMP ":
            yield Item(
                "xmp", where, f"XMP packet, {len(c.data)} bytes", values=tuple(xmp_identifiers(c.data))
            )
        else:
            yield Item("webp.chunk", where, f"unknown chunk, {len(c.data)} bytes")
    if parsed.trailer:
        yield Item("trailer", f"after RIFF data at {parsed.end}", f"{parsed.trailer} bytes after the image")


def clean_webp(data: bytes, limit: int | None = None) -> bytes:
    """The file with only what a decoder reads; bitstreams cut to their ends only when ``limit`` is given."""
    parsed = walk(data)
    skipped = unread(parsed.chunks)
    chunks = [c for c in parsed.chunks if _kept(c) and c.start not in skipped]
    icc, size = any(c.fourcc == b"ICCP" for c in chunks), canvas(parsed.chunks)
    body = [canonical(c, icc, size, limit).raw() for c in chunks]
    payload = b"WEBP" + b"".join(body)
    out = b"RIFF" + struct.pack("<I", len(payload)) + payload
    if limit is not None and _streams(out) != _streams(data):
        _same_pictures(data, out)
    return out


def _streams(data: bytes) -> list[bytes]:
    parsed = walk(data)
    frames = [f for c in parsed.chunks if c.fourcc == b"ANMF" for f in frame_chunks(c)]
    return [c.data for c in parsed.chunks + frames if c.fourcc in (b"VP8 ", b"VP8L", b"ALPH")]


def _same_pictures(data: bytes, out: bytes) -> None:
    """Refuse an output whose frames (alpha included) do not decode to those of the input: each stream was
    checked alone, this checks them in the file."""
    from deident.formats.pixels import DECODE_ERRORS, open_image

    before, after = open_image(data), open_image(out)
    try:
        for i in range(getattr(before, "n_frames", 1)):
            before.seek(i)
            after.seek(i)
            a, b = before.convert("RGBA"), after.convert("RGBA")
            if a.size != b.size or a.tobytes() != b.tobytes():
                raise CorruptFile(f"WebP: frame {i} does not decode the same once its bitstreams are cut")
    except DECODE_ERRORS as exc:
        raise CorruptFile(f"WebP: cannot decode the file with its bitstreams cut: {exc}") from None


class WebpDocument(WholeFileDocument):
    """``limit``: --max-pixels once the size was checked; until then no bitstream is decoded (opening
    a file only walks its chunks), after it each is cut to what libwebp reads."""

    format = "webp"
    limit: int | None = None

    def prepare(self, ctx: Context) -> None:
        super().prepare(ctx)
        self._decode_up_to(ctx)

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        self._decode_up_to(ctx)
        return super().scrub_metadata(ctx)

    def _decode_up_to(self, ctx: Context) -> None:
        if self.limit != ctx.options.max_pixels:
            self.limit, self._parsed = ctx.options.max_pixels, None

    def _items(self, data: bytes) -> list[Item]:
        items = list(chunk_items(parsed := walk(data), self.limit))
        vp8x = next((c for c in parsed.chunks if c.fourcc == b"VP8X"), None)
        if vp8x and vp8x.data and vp8x.data[0] & (VP8X_EXIF | VP8X_XMP) and not items:
            items.append(Item("webp.flags", "VP8X chunk", "flags announce EXIF/XMP"))
        return items

    def _clean(self, data: bytes) -> bytes:
        return clean_webp(data, self.limit)

    def _dims(self) -> ImageDims:
        parsed = walk(self.data)
        frames = sum(c.fourcc == b"ANMF" for c in parsed.chunks) or 1
        size = canvas(parsed.chunks)  # walk refused a VP8X shorter than its 10 bytes
        if size:
            return ImageDims(*size, frames)
        from deident.formats.pixels import open_image

        img = open_image(self.data)
        return ImageDims(img.width, img.height, frames)

    def frames(self, ctx: Context) -> Iterator[Frame]:
        """Each frame as libwebp composes it, and after each frame blended onto the canvas (ANMF blending
        bit 0) what blending hides and a frame extractor (anim_dump, webpmux -get frame) hands out
        (``animation_frames``)."""
        from deident.formats.pixels import animation_frames

        yield from animation_frames(self, ctx, dict(_blended_frames(self.data)), "WebP frame")

    def _encode(self, ctx: Context) -> bytes:
        """Lossless WebP (no second generation of lossy artefacts), every frame with its timing."""
        return self._encode_frames(ctx, "WEBP", _save_options)


def _blended_frames(data: bytes) -> Iterator[tuple[int, tuple[bytes, tuple[int, int]]]]:
    """(frame index, (the frame as a still WebP, its place)) for every ANMF frame blended onto the canvas;
    the still is a VP8X file of the frame's size holding the chunks libwebp reads of the frame."""
    anmfs = [c for c in walk(data).chunks if c.fourcc == b"ANMF"]
    for i, anmf in enumerate(anmfs):
        if anmf.data[15] & 2:  # "do not blend": the frame replaces its area, colours and alpha as stored
            continue
        pictures = frame_pictures(anmf)
        if not pictures:
            continue
        w, h = pictures[0][1]
        size = (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
        vp8x = Chunk(b"VP8X", 0, bytes([VP8X_ALPHA, 0, 0, 0]) + size)
        body = b"WEBP" + vp8x.raw() + b"".join(c.raw() for c, _ in pictures)
        x, y = (2 * int.from_bytes(anmf.data[k : k + 3], "little") for k in (0, 3))
        yield i, (b"RIFF" + struct.pack("<I", len(body)) + body, (x, y))


def _save_options(info: dict, animated: bool) -> dict:
    options = {"lossless": True, "exact": True}
    if info.get("icc_profile"):
        options["icc_profile"] = info["icc_profile"]
    return options | ({"loop": info.get("loop", 0)} if animated else {})


def open_webp(source: Source) -> WebpDocument:
    return WebpDocument(source)
