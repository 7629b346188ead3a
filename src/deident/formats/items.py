"""What a container walk reports: ``Item`` (one identifying thing, before it becomes a ``Finding``) and the
small helpers every walker uses (identifying values for the deny-list, plural counts, per-bytes memo)."""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from deident.findings import Action, Finding, Reason


@dataclass(frozen=True)
class Item:
    """One identifying thing found in a container, before it becomes a ``Finding``.

    ``values``: the identifying values it holds (names, dates, serials) for the batch deny-list, in memory
    only and never in the finding; one walk yields both, so findings and deny-list cannot disagree.
    """

    kind: str
    where: str
    detail: str
    action: Action = Action.REMOVED
    values: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def finding(self, action: Action | None = None) -> Finding:
        action = action or self.action
        return Finding("metadata", self.kind, self.where, action, self.detail, reason=REASONS.get(self.kind))


# What an item holds, in the report's words, for the kinds a reader must tell apart at a glance (GPS
# before "thumbnail"); any other item is described by its own detail.
REASONS = {
    "exif.gps": Reason.GPS,
    "tiff.geo": Reason.GPS,
    "exif.datetime": Reason.DATES,
    "png.tIME": Reason.DATES,
    "exif.owner": Reason.OWNER,
    "tiff.Artist": Reason.OWNER,
    "exif.serial": Reason.SERIALS,
    "exif.device": Reason.DEVICE,
    "exif.text": Reason.DESCRIPTIONS,
    "exif.makernote": Reason.MAKER_NOTES,
    "exif.thumbnail": Reason.THUMBNAIL,
    "jpeg.jfif-thumbnail": Reason.THUMBNAIL,
    "heif.thumbnail": Reason.THUMBNAIL,
    "xmp": Reason.XMP,
    "iptc": Reason.IPTC,
    "jpeg.app13": Reason.PHOTOSHOP,
    "jpeg.com": Reason.COMMENT,
    "trailer": Reason.TRAILER,
}


def type_name(code: bytes, known: Collection[bytes]) -> str:
    """A chunk or box type as findings and reasons name it: its letters when ``known`` (a spec's name),
    else "unknown". A type the file chose is four bytes of anything (of a name, say): never quoted."""
    return code.decode("latin-1").strip() if code in known else "unknown"


C = TypeVar("C")


@dataclass
class Parsed(Generic[C]):
    """A chunked container (PNG and WebP chunks, JPEG marker segments) walked to its end: its chunks in file
    order, the offset after the last one, and how many bytes follow it (a trailer decoders ignore, where
    identifiers can hide)."""

    chunks: list[C]
    end: int
    trailer: int


def per_bytes(fn):
    """``fn(data, parsed, *flags)`` computed once for the last bytes (by content) and flags.

    Open, inspect, scrub and verify ask about the same bytes several times; one entry is enough, and it is
    replaced in one assignment, so threads at worst compute it twice. Without it a file costs 1.4x (PNG),
    1.5x (GIF) and 2x (JPEG) the CPU time (A/B in docs/benchmarks.md, "The per-bytes memo"). Equal bytes
    count, not only the same object: a DICOM frame the scrub left as it was is verified from the output's
    own copy of it, and the Huffman walk of a 12-bit frame libjpeg cannot read takes 8 ms.
    """
    last: tuple | None = None

    @functools.wraps(fn)
    def remembered(data, parsed, *flags):
        nonlocal last
        seen = last
        if seen is not None and seen[1] == flags and (seen[0] is data or seen[0] == data):
            return seen[2]
        result = fn(data, parsed, *flags)
        last = (data, flags, result)
        return result

    return remembered


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def clean_values(values) -> list[str]:
    """Trimmed, de-duplicated, short enough to be a name/date/serial (long prose is no deny-list term)."""
    out: list[str] = []
    for v in values:
        v = v.replace("\x00", "").strip()
        if 2 <= len(v) <= 80 and v not in out:
            out.append(v)
    return out
