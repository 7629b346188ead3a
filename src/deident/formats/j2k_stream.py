"""JPEG 2000 codestreams (T.800) and JP2 files: only what a decoder reads.

A codestream keeps its main header and tile-part headers' marker segments a decoder reads (T.800, T.801
Part 2, T.814 HTJ2K), SOD and the packet data as they are; COM, TLM (its tile-part lengths would be stale)
and any other code go, Psot adjusted. A JP2 file keeps its signature, a file type of brand jp2 alone, the
header boxes a decoder reads at their sizes, and the codestream box, filtered. Bytes after the end go.
Used by DICOM encapsulated frames (``dicom.fragments``) and TIFF JPEG 2000 blocks (``formats.tiff``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from deident.errors import CorruptFile
from deident.formats.items import Item, type_name

PADDING = (b"", b"\0", b"\xff")  # one byte a container may pad with (DICOM fragments are even)


J2K_COM, J2K_TLM = 0x64, 0x55
J2K_DROPPED = {J2K_COM: ("com", "COM"), J2K_TLM: ("tlm", "TLM")}
# Marker segments a decoder reads (T.800 A.2, T.801 A.2 for Part 2, T.814 for HTJ2K's CAP and CPF); any
# other (a COM, TLM with stale lengths, a code no decoder knows) goes. Tile-part headers hold fewer.
J2K_TILE_PART = {0x52, 0x53, 0x5C, 0x5D, 0x5E, 0x5F, 0x58, 0x61}  # COD COC QCD QCC RGN POC PLT PPT
J2K_TILE_PART |= {0x70, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79}  # Part 2: DCO MCT MCC NLT MCO CBD ATK
J2K_MAIN = (J2K_TILE_PART - {0x58, 0x61}) | {0x51, 0x57, 0x60, 0x63, 0x50, 0x56, 0x59, 0x71, 0x72, 0x73}
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
JP2_KEEP_BOXES = {b"jP  ", b"ftyp", b"jp2h"}  # the codestream box (jp2c) is filtered, everything else goes
# Box types of T.800 Annex I and T.801 a report may name; any other is four bytes the file chose.
JP2_BOX_TYPES = JP2_KEEP_BOXES | {b"jp2c", b"jp2i", b"xml ", b"uuid", b"uinf", b"ulst", b"url ", b"res "}
JP2_BOX_TYPES |= {b"rreq", b"asoc", b"lbl ", b"ftbl", b"dtbl", b"jpch", b"jplh", b"cgrp", b"free"}


JP2_FTYP = struct.pack(">I4s4sI4s", 20, b"ftyp", b"jp2 ", 0, b"jp2 ")  # brand, version, one compatible


def _ihdr_components(body: bytes) -> int | None:
    return struct.unpack(">H", body[8:10])[0] if len(body) == 14 else None


def _pclr_size(body: bytes) -> int | None:
    """Bytes a palette box needs (T.800 I.5.3.4): entries x the bytes of each column's depth."""
    if len(body) < 3:
        return None
    entries, columns = struct.unpack(">HB", body[:3])
    depths = body[3 : 3 + columns]
    return 3 + columns + entries * sum((d & 0x7F) // 8 + 1 for d in depths)


# The boxes of a JP2 header a decoder reads (T.800 I.5.3), each the size its fields give it (components:
# from ihdr); a colour box only as an enumerated colour space (method 1: an ICC profile is free text).
JP2_HEADER_SIZES: dict[bytes, Callable[[bytes, int], int | None]] = {
    b"ihdr": lambda body, nc: 14,
    b"bpcc": lambda body, nc: nc,
    b"colr": lambda body, nc: 7 if body[:1] == b"\x01" else None,
    b"pclr": lambda body, nc: _pclr_size(body),
    b"cmap": lambda body, nc: len(body) - len(body) % 4 if body else None,
    b"cdef": lambda body, nc: 2 + 6 * struct.unpack(">H", body[:2])[0] if len(body) >= 2 else None,
}


def _jp2_header(data: bytes, base: int) -> tuple[bytes, list[Item]]:
    """The JP2 header box's contents with only ``JP2_HEADER_SIZES`` boxes, each at its size: any other
    box (XML, UUID, resolution), an ICC colour box and bytes past a box's fields go."""
    out, dropped, pos, components = [], [], 0, 0
    while pos + 8 <= len(data):
        size, box = struct.unpack(">I4s", data[pos : pos + 8])
        if size < 8 or pos + size > len(data):
            raise CorruptFile(f"JPEG 2000 frame: JP2 header box at byte {base + pos} runs past its end")
        body = data[pos + 8 : pos + size]
        if box == b"ihdr":
            components = _ihdr_components(body) or 0
        sized = JP2_HEADER_SIZES.get(box)
        wanted = sized(body, components) if sized is not None else None
        if wanted is not None and wanted == len(body):
            out.append(data[pos : pos + size])
        else:
            name = type_name(box, set(JP2_HEADER_SIZES) | JP2_BOX_TYPES)
            detail = f"{size} bytes a decoder does not read"
            dropped.append(Item("jp2.box", f"JP2 '{name}' box at {base + pos}", detail))
        pos += size
    if pos != len(data):
        dropped.append(Item("jp2.box", f"JP2 header at {base + pos}", "trailing bytes"))
    return b"".join(out), dropped


def filter_jpeg2000(frame: bytes) -> tuple[bytes, list[Item]]:
    if frame.startswith(JP2_SIGNATURE):
        return _filter_jp2(frame)
    return _filter_codestream(frame)


def _filter_codestream(data: bytes, base: int = 0) -> tuple[bytes, list[Item]]:
    """Main header and tile-parts, without COM (and TLM, whose tile-part lengths would be stale)."""
    if data[:2] != b"\xff\x4f":
        raise CorruptFile("JPEG 2000 frame has no start-of-codestream marker")
    out, dropped, pos, n = [b"\xff\x4f"], [], 2, len(data)

    def segment(pos: int) -> tuple[int, int, bytes]:
        if pos + 4 > n or data[pos] != 0xFF:
            raise CorruptFile(
                f"JPEG 2000 frame: expected a marker at byte {base + pos} (truncated or damaged)"
            )
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if length < 2 or pos + 2 + length > n:
            raise CorruptFile(f"JPEG 2000 frame: segment 0xFF{data[pos + 1]:02X} runs past the end")
        return data[pos + 1], pos + 2 + length, data[pos + 4 : pos + 2 + length]

    def drop(marker: int, at: int, payload: bytes) -> None:
        kind, label = J2K_DROPPED.get(marker, ("marker", f"0xFF{marker:02X}"))
        dropped.append(Item(f"j2k.{kind}", f"{label} marker at {base + at}", f"{len(payload)} bytes"))

    while pos + 2 <= n and data[pos : pos + 2] != b"\xff\x90":  # main header, up to the first SOT
        marker, end, payload = segment(pos)
        if marker not in J2K_MAIN:
            drop(marker, pos, payload)
        else:
            out.append(data[pos:end])
        pos = end
    while pos + 2 <= n and data[pos : pos + 2] == b"\xff\x90":  # tile-parts: SOT header ... SOD data
        marker, header_end, sot = segment(pos)
        if len(sot) != 8:
            raise CorruptFile(f"JPEG 2000 frame: malformed SOT at byte {base + pos}")
        psot = struct.unpack(">I", sot[2:6])[0]
        part_end = pos + psot if psot else _j2k_last_part_end(data)
        if part_end > n or part_end <= header_end:
            raise CorruptFile(f"JPEG 2000 frame: tile-part at byte {base + pos} runs past the end")
        kept, at = [], header_end
        while data[at : at + 2] != b"\xff\x93":
            marker, end, payload = segment(at)
            if marker not in J2K_TILE_PART:
                drop(marker, at, payload)
            else:
                kept.append(data[at:end])
            at = end
        body = b"".join(kept) + data[at:part_end]  # SOD and the packet data, as they are
        new_psot = 12 + len(body) if psot else 0
        out.append(data[pos : pos + 6] + struct.pack(">I", new_psot) + sot[6:] + body)
        pos = part_end
    if data[pos : pos + 2] != b"\xff\xd9":
        raise CorruptFile(f"JPEG 2000 frame: no end-of-codestream marker at byte {base + pos}")
    out.append(b"\xff\xd9")
    return b"".join(out), dropped + _trailer(data, pos + 2)


def _j2k_last_part_end(data: bytes) -> int:
    """Psot 0: the last tile-part runs to the EOC marker that ends the codestream."""
    end = data.rfind(b"\xff\xd9")
    if end < 0:
        raise CorruptFile("JPEG 2000 frame: no end-of-codestream marker")
    return end


def _filter_jp2(data: bytes) -> tuple[bytes, list[Item]]:
    """A JP2 file in a fragment: the boxes a decoder needs, the codestream filtered, nothing after it."""
    out, dropped, pos, n = [], [], 0, len(data)
    while pos + 8 <= n:
        size, box = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1 and pos + 16 <= n:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = n - pos
        if size < header or pos + size > n:
            raise CorruptFile(f"JPEG 2000 frame: JP2 box at byte {pos} runs past the end")
        if box == b"jp2c":
            stream, found = _filter_codestream(data[pos + header : pos + size], pos + header)
            out.append(struct.pack(">I4s", 8 + len(stream), box) + stream)
            return b"".join(out), dropped + found + _trailer(data, pos + size)
        if box == b"ftyp":
            out.append(JP2_FTYP)
            if data[pos + header : pos + size] != JP2_FTYP[8:]:
                detail = f"{size} bytes (written as brand jp2, nothing else)"
                dropped.append(Item("jp2.box", f"JP2 'ftyp' box at {pos}", detail))
        elif box == b"jp2h":
            kept, lost = _jp2_header(data[pos + header : pos + size], pos + header)
            out.append(struct.pack(">I4s", 8 + len(kept), box) + kept)
            dropped += lost
        elif box in JP2_KEEP_BOXES:
            out.append(data[pos : pos + size])
        else:
            name = type_name(box, JP2_BOX_TYPES)
            dropped.append(Item("jp2.box", f"JP2 '{name}' box at {pos}", f"{size} bytes"))
        pos += size
    raise CorruptFile("JPEG 2000 frame: JP2 file without a codestream box")


def _trailer(data: bytes, end: int) -> list[Item]:
    rest = data[end:]
    if rest in PADDING:
        return []
    return [Item("trailer", f"after the end marker at {end}", f"{len(rest)} bytes")]
