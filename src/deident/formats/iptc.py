"""IPTC IIM datasets and the Photoshop image resource blocks that carry them (JPEG APP13, TIFF tag 33723):
the identifying values among them, for the deny-list."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from deident.formats.items import clean_values

# IPTC IIM record 2 datasets that name people, places, dates or sources.
IPTC_VALUE_DATASETS = {5, 55, 60, 80, 85, 90, 92, 95, 100, 101, 110, 115, 116, 118, 122}


def iptc_datasets(iim: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(record, dataset, value) from an IPTC IIM block; stops quietly at the first malformed entry."""
    pos = 0
    while pos + 5 <= len(iim) and iim[pos] == 0x1C:
        record, dataset, size = iim[pos + 1], iim[pos + 2], struct.unpack(">H", iim[pos + 3 : pos + 5])[0]
        pos += 5
        if size & 0x8000:  # extended length: the next (size & 0x7fff) bytes hold the real length
            n = size & 0x7FFF
            size = int.from_bytes(iim[pos : pos + n], "big")
            pos += n
        yield record, dataset, iim[pos : pos + size]
        pos += size


def iptc_identifiers(iim: bytes) -> list[str]:
    return clean_values(
        v.decode("utf-8", "replace") for r, d, v in iptc_datasets(iim) if r == 2 and d in IPTC_VALUE_DATASETS
    )


def photoshop_resources(irb: bytes) -> Iterator[tuple[int, bytes]]:
    """(resource id, data) from Photoshop image resource blocks ('8BIM' ...)."""
    pos = 0
    while pos + 12 <= len(irb) and irb[pos : pos + 4] == b"8BIM":
        rid = struct.unpack(">H", irb[pos + 4 : pos + 6])[0]
        nlen = irb[pos + 6]
        pos += 6 + ((nlen + 2) & ~1)  # Pascal name padded to even length
        if pos + 4 > len(irb):
            return
        size = struct.unpack(">I", irb[pos : pos + 4])[0]
        pos += 4
        yield rid, irb[pos : pos + size]
        pos += size + (size & 1)


IPTC_RESOURCE = 0x0404
