"""JPEG (compression 7) data in a TIFF through the JPEG segment filter.

libtiff hands each strip or tile to libjpeg as a stream of its own, with the page's JPEGTables read first,
so both can carry what any JPEG can: APPn segments (EXIF, XMP, Photoshop), comments, bytes after EOI.
Decoders skip them, exiftool and viewers read them (a strip's EXIF shows as exiftool's PreviewImage).
Each block keeps what ``formats.jpeg.clean_jpeg`` keeps (coding tables, frame and scan headers, the
entropy-coded data byte for byte, JFIF/ICC/Adobe in their standard form); JPEGTables keeps its DQT, DHT and
DRI segments only (T.81 B.5: what an abbreviated tables stream is for).
"""

from __future__ import annotations

from deident.formats.items import Item
from deident.formats.jpeg_segments import COM, DRI, Segment, segment_bytes, walk

DQT, DHT = 0xDB, 0xC4
TABLE_SEGMENTS = {DQT, DHT, DRI}  # what JPEGTables keeps


def clean_tables(raw: bytes, where: str) -> tuple[bytes, list[Item]]:
    """JPEGTables as SOI, its DQT, DHT and DRI segments, EOI; an item for every other segment and for bytes
    after its EOI. A value that is no JPEG stream raises CorruptFile (libjpeg could not read it either)."""
    parsed = walk(raw)
    kept = [s for s in parsed.chunks if s.marker in TABLE_SEGMENTS]
    items = [
        Item(_kind(s), f"{where} {s.name} segment at {s.start}", f"{len(s.payload)} bytes in JPEGTables")
        for s in parsed.chunks
        if s.marker not in TABLE_SEGMENTS
    ]
    if parsed.trailer:
        items.append(Item("trailer", where, f"{parsed.trailer} bytes after the end of JPEGTables"))
    return b"\xff\xd8" + b"".join(segment_bytes(s) for s in kept) + b"\xff\xd9", items


def filter_block(stream: bytes) -> tuple[bytes, list[Item]]:
    """A strip or tile with only what a decoder reads, and an item for each thing that went. Nothing is
    decoded (the coding tables may be in JPEGTables): scans are copied, save for restart intervals beyond
    the frame. Arithmetic-coded, lossless and hierarchical frames raise UnsupportedFormat."""
    from deident.formats.jpeg import clean_jpeg, segment_items

    items = list(segment_items(stream, walk(stream), decode=False))
    return clean_jpeg(stream, 1, decode=False), items


def _kind(seg: Segment) -> str:
    if seg.marker == COM:
        return "jpeg.com"
    return f"jpeg.app{seg.marker - 0xE0}" if 0xE0 <= seg.marker <= 0xEF else "jpeg.marker"
