"""Random access to a TIFF's IFDs and values (classic and BigTIFF), every offset bounds-checked.

The same reader serves EXIF blocks found in JPEG, PNG, WebP and HEIF (an EXIF block is a small TIFF),
through ``InMemoryTiffReader``. ``check_form`` refuses a tag not in its standard form before its count
decides how many bytes are copied.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from deident.errors import CorruptFile
from deident.formats.tiff.tags import DECODE_TAGS, MAX_ENTRIES, MAX_PAGES, TAG_FORMS, TYPES, XP_TAGS, Tag


@dataclass
class Entry:
    tag: int
    type: int
    count: int
    offset: int  # absolute position of the value bytes (inline or not)

    @property
    def size(self) -> int:
        return TYPES.get(self.type, (1, "B"))[0] * self.count


@dataclass
class IFD:
    offset: int
    entries: dict[int, Entry]
    next: int
    size: int = 0  # bytes of the IFD itself: entry count, entries, next-IFD offset
    shadowed: list[Entry] = field(default_factory=list)  # earlier entries of a tag listed twice


class TiffReader:
    """Random access to the IFDs and values of a TIFF held in a file object; every offset bounds-checked."""

    def __init__(self, fh: BinaryIO, size: int | None = None, base: int = 0):
        self.fh, self.base = fh, base
        if size is None:
            fh.seek(0, io.SEEK_END)
            size = fh.tell() - base
        self.size = size
        head = self.read(0, 16 if size >= 16 else 8)
        if head[:2] not in (b"II", b"MM"):
            raise CorruptFile("not a TIFF structure (bad byte-order mark)")
        self.bo = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(self.bo + "H", head[2:4])[0]
        if magic == 42:
            self.big, self.first = False, struct.unpack(self.bo + "I", head[4:8])[0]
        elif magic == 43:
            if len(head) < 16 or struct.unpack(self.bo + "HH", head[4:8]) != (8, 0):
                raise CorruptFile("BigTIFF header is damaged")
            self.big, self.first = True, struct.unpack(self.bo + "Q", head[8:16])[0]
        else:
            raise CorruptFile(f"not a TIFF structure (magic {magic})")

    @classmethod
    def from_bytes(cls, data: bytes) -> TiffReader:
        return InMemoryTiffReader(data)

    def read(self, pos: int, n: int) -> bytes:
        self._check(pos, n)
        self.fh.seek(self.base + pos)
        data = self.fh.read(n)
        if len(data) != n:
            raise CorruptFile("TIFF data is truncated")
        return data

    def _check(self, pos: int, n: int) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise CorruptFile(f"TIFF structure points past the end of the data ({pos}+{n} > {self.size})")

    def ifd(self, offset: int) -> IFD:
        count_fmt, entry_size, off_fmt = ("Q", 20, "Q") if self.big else ("H", 12, "I")
        csize = struct.calcsize(count_fmt)
        n = struct.unpack(self.bo + count_fmt, self.read(offset, csize))[0]
        if n > MAX_ENTRIES:
            raise CorruptFile(f"IFD at {offset} claims {n} entries")
        raw = self.read(offset + csize, n * entry_size + struct.calcsize(off_fmt))
        entries: dict[int, Entry] = {}
        shadowed: list[Entry] = []
        inline = 8 if self.big else 4
        value_at = offset + csize + entry_size - inline  # where the first entry's value field starts
        layout = self.bo + ("HHQ8s" if self.big else "HHI4s")  # tag, type, count, value or offset
        for tag, typ, count, value in struct.iter_unpack(layout, raw[: n * entry_size]):
            entry = Entry(tag, typ, count, value_at)
            if entry.size > inline:
                entry.offset = struct.unpack(self.bo + off_fmt, value)[0]
            if tag in entries:
                shadowed.append(entries[tag])
            entries[tag] = entry
            value_at += entry_size
        nxt = struct.unpack(self.bo + off_fmt, raw[n * entry_size :])[0]
        return IFD(offset, entries, nxt, csize + len(raw), shadowed)

    def chain(self, offset: int | None = None) -> Iterator[IFD]:
        """Every IFD of a next-pointer chain (pages), refusing loops."""
        seen: set[int] = set()
        offset = self.first if offset is None else offset
        while offset:
            if offset in seen or len(seen) >= MAX_PAGES:
                raise CorruptFile("TIFF page chain loops back on itself")
            seen.add(offset)
            ifd = self.ifd(offset)
            yield ifd
            offset = ifd.next

    def raw(self, entry: Entry) -> bytes:
        return self.read(entry.offset, entry.size)

    def first_value(self, entries: dict[int, Entry], tag: int, default=0):
        """The first value of ``tag`` among a page's ``entries``; ``default`` when it is absent or empty."""
        e = entries.get(tag)
        return self.values(e)[0] if e is not None and e.count else default

    def values(self, entry: Entry) -> tuple:
        if entry.type not in TYPES:
            raise CorruptFile(f"tag {entry.tag} has unknown field type {entry.type}")
        code = TYPES[entry.type][1]
        return struct.unpack(f"{self.bo}{entry.count * len(code)}{code[0]}", self.raw(entry))

    def text(self, entry: Entry) -> str:
        raw = self.raw(entry)
        if entry.tag in XP_TAGS:  # Windows XP* tags: UTF-16LE in BYTE arrays
            return raw.decode("utf-16-le", "replace")
        if entry.tag == Tag.UserComment:  # an 8-byte character code, then the text
            code, raw = raw[:8], raw[8:]
            return raw.decode("utf-16-be" if code.startswith(b"UNICODE") else "latin-1", "replace")
        return raw.split(b"\0")[0].decode("utf-8", "replace")


class InMemoryTiffReader(TiffReader):
    """The same reader over bytes in memory (EXIF blocks): a slice per value, not a seek and a read."""

    def __init__(self, data: bytes):
        self.data = data
        super().__init__(io.BytesIO(data), len(data))

    def read(self, pos: int, n: int) -> bytes:
        self._check(pos, n)
        return self.data[pos : pos + n]


def samples(where: str, reader: TiffReader, entries: dict[int, Entry]) -> tuple[int, int]:
    """SamplesPerPixel and the first BitsPerSample (defaults 1), their own forms checked first."""
    spp = bits = 1
    spp_entry, bits_entry = entries.get(Tag.SamplesPerPixel), entries.get(Tag.BitsPerSample)
    if spp_entry is not None:
        check_form(where, spp_entry, 1, 1)
        spp = max(1, reader.values(spp_entry)[0])
    if bits_entry is not None:
        check_form(where, bits_entry, spp, 1)
        bits = reader.values(bits_entry)[0]
    return spp, bits


def check_form(where: str, e: Entry, spp: int, bits: int) -> None:
    """Refuse a kept tag whose field type or count is not its standard one (``TAG_FORMS``)."""
    form = TAG_FORMS.get(e.tag)
    if form is None:
        return
    types, count = form
    name = DECODE_TAGS.get(e.tag, f"tag {e.tag}")
    if e.type not in types:
        raise CorruptFile(f"{where}: {name} has field type {e.type} (allowed: {', '.join(map(str, types))})")
    table = 1 << bits if 0 < bits <= 16 else -1  # a table indexed by sample value
    allowed = {
        "any": None,
        "spp": range(1, spp + 1),
        "curve": (table,),
        "transfer": (table, 3 * table),
        "colormap": (3 * table,),
    }.get(count, (count,))
    if allowed is not None and e.count not in allowed:
        raise CorruptFile(f"{where}: {name} has {e.count} values, not the standard number")
