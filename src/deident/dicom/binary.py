"""Binary attributes the table does not list: removed, but for what displaying the image needs.

Table E.1-1 names the attributes that usually identify; an ICC profile, a waveform, an HPGL document or
an unknown tag stored as OB can hold anything, and the sweep reads text VRs only. So an unlisted value
of a binary VR is removed (``scrub.action_for``) unless ``binary_kept.csv`` lists it where it is found,
and then only as its handling leaves it: the one pixel data element, LUT data no longer than its
descriptor declares, an ICC profile rebuilt by ``formats.icc`` (as photos' profiles are), a waveform's
samples no more than its item declares (an ECG without them is no ECG).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from deident.findings import Action

BINARY_ONLY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})  # UN is decoded and swept instead


@dataclass(frozen=True)
class Kept:
    """One row of ``binary_kept.csv``."""

    tag: int
    keyword: str
    within: str  # keyword of the enclosing sequence, "" at top level
    handling: str  # a key of HANDLERS
    descriptor: int = 0  # lut, segments: the descriptor's tag


@cache
def kept_binary() -> dict[tuple[int, str], Kept]:
    text = resources.files("deident.dicom").joinpath("binary_kept.csv").read_text()
    rows = csv.DictReader(ln for ln in text.splitlines() if not ln.startswith("#"))
    out = {}
    for r in rows:
        handling, _, arg = r["handling"].partition(":")
        kept = Kept(int(r["tag"], 16), r["keyword"], r["within"], handling, int(arg, 16) if arg else 0)
        out[(kept.tag, kept.within)] = kept
    return out


def kept(tag: int, within: str) -> Kept | None:
    return kept_binary().get((tag, within))


def handle(ds, kept: Kept, where: str, fix: bool) -> tuple[Action, str] | None:
    """What ``kept``'s handling changes (with ``fix``, does) in ``ds``: (action, detail), or None."""
    return HANDLERS[kept.handling](ds, kept, where, fix)


def _pixels(ds, kept: Kept, where: str, fix: bool) -> tuple[Action, str] | None:
    """Only one pixel data element is decoded, checked and redacted (``pixels.pixel_element``)."""
    from deident.dicom.pixels import pixel_element

    if pixel_element(ds) == kept.keyword:
        return None
    if fix:
        del ds[kept.tag]
    detail = f"a second pixel data element beside {pixel_element(ds)}: never displayed or checked"
    return Action.REMOVED, detail


def _lut(ds, kept: Kept, where: str, fix: bool) -> tuple[Action, str] | None:
    """LUT data past the entries its descriptor declares is read by no display (and can hide text)."""
    value, entries = ds[kept.tag].value, _declared_entries(ds, kept)
    if entries is None:
        if fix:
            del ds[kept.tag]
        return Action.REMOVED, "LUT data without a usable descriptor"
    if isinstance(value, bytes | bytearray):  # 16-bit entries, or 8-bit ones packed (padded to even)
        limit = entries * 2 if len(value) >= entries * 2 else entries + entries % 2
    else:  # US values
        value, limit = list(value) if hasattr(value, "__len__") else [value], entries
    if len(value) <= limit:
        return _unused_palette_entries(ds, kept, entries, fix)
    if fix:
        ds[kept.tag].value = value[:limit]
    unit = "bytes" if isinstance(value, bytes | bytearray) else "values"
    return Action.REPLACED, f"{len(value) - limit} {unit} past the {entries} entries its descriptor declares"


PALETTE_DATA = {0x00281201, 0x00281202, 0x00281203, 0x00281204}  # Red, Green, Blue, Alpha


def blank_unused_palette(ds, stored) -> None:
    """After a redaction: the entries the redacted ``stored`` values no longer reach set to 0 too (a fill
    covers every pixel of a colour), as ``_lut`` left the others when the metadata was scrubbed."""
    for tag in sorted(PALETTE_DATA):
        entries = _declared_entries(ds, kept(tag, "")) if tag in ds else None
        if entries is not None:
            _unused_palette_entries(ds, kept(tag, ""), entries, True, stored)


def _unused_palette_entries(
    ds, kept: Kept, entries: int, fix: bool, stored=None
) -> tuple[Action, str] | None:
    """16-bit palette entries no stored value reaches are set to 0, as a photo's unused palette entries
    are: 254 entries of a two-colour palette hold 1.5 KB of free numbers a channel. Finding them decodes
    the frames (pydicom), which only palette images pay; a frame that cannot be decoded leaves them."""
    value = ds[kept.tag].value
    if kept.tag not in PALETTE_DATA or kept.within or not isinstance(value, bytes | bytearray):
        return None
    if len(value) != 2 * entries or str(ds.get("PhotometricInterpretation", "")).strip() != "PALETTE COLOR":
        return None
    used = _used_entries(ds, int(ds[kept.descriptor].value[1]), entries, stored)
    if used is None:
        return None
    import numpy as np

    table = np.frombuffer(value, "<u2").copy()
    unused = np.ones(entries, bool)
    unused[used] = False
    if not table[unused].any():
        return None
    table[unused] = 0
    if fix:
        ds[kept.tag].value = table.tobytes()
    return Action.REPLACED, f"{int(unused.sum())} palette entries no pixel uses (set to 0)"


def _used_entries(ds, first: int, entries: int, stored=None):
    """The palette entries the stored values (``stored``, else pydicom's decode) reach; values outside
    the table take its first or last entry."""
    import numpy as np

    try:
        values = np.unique(ds.pixel_array if stored is None else stored)
    except Exception:  # any decoder failure: the pixel stages report it; the entries stay as they are
        return None
    return np.unique(np.clip(values.astype(np.int64) - first, 0, entries - 1))


def _declared_entries(ds, kept: Kept) -> int | None:
    try:
        return int(ds[kept.descriptor].value[0]) or 2**16  # 0 means 65536 (PS3.3 C.7.6.3.1.5)
    except (KeyError, IndexError, TypeError, ValueError):
        return None


SEGMENT_WORDS = {0: lambda n: n, 1: lambda n: 1, 2: lambda n: 2}  # opcode -> words after the length
SEGMENT_ENTRIES = {0: lambda n: n, 1: lambda n: n, 2: lambda n: 0}  # indirect: counted as none


def _segments(ds, kept: Kept, where: str, fix: bool) -> tuple[Action, str] | None:
    """Segmented LUT data (discrete, linear, indirect segments, PS3.3 C.7.9.2) cut after the segment that
    completes the declared entries: what follows is read by no display."""
    data = bytes(ds[kept.tag].value or b"")
    order = "little" if (getattr(ds, "original_encoding", None) or (True, True))[1] is not False else "big"
    words = [int.from_bytes(data[i : i + 2], order) for i in range(0, len(data) - 1, 2)]
    declared, entries, i = _declared_entries(ds, kept), 0, 0
    while i + 1 < len(words) and (declared is None or entries < declared):
        opcode, n = words[i], words[i + 1]
        if opcode not in SEGMENT_WORDS:
            if fix:
                del ds[kept.tag]
            return Action.REMOVED, f"segmented LUT data with an unknown segment type ({len(data)} bytes)"
        i, entries = i + 2 + SEGMENT_WORDS[opcode](n), entries + SEGMENT_ENTRIES[opcode](n)
    used = min(len(data), 2 * i)
    if used >= len(data) - 1:
        return None
    if fix:
        ds[kept.tag].value = data[:used]
    return Action.REPLACED, f"{len(data) - used} bytes after the segments that complete the LUT"


def _icc(ds, kept: Kept, where: str, fix: bool) -> tuple[Action, str] | None:
    """The profile rebuilt from its colour tags (``formats.icc``); bytes that are no profile removed."""
    from deident.formats.icc import profile_item

    profile, item = profile_item(bytes(ds[kept.tag].value or b""), where)
    if item is None:
        return None
    if fix:
        if profile is None:
            del ds[kept.tag]
        else:
            ds[kept.tag].value = profile
    return (Action.REMOVED if profile is None else Action.REPLACED), item.detail


def _waveform(ds, kept: Kept, where: str, fix: bool) -> tuple[Action, str] | None:
    """A waveform's samples (PS3.3 C.10.9): channels x samples x bytes a sample, as its multiplex group's
    item declares; bytes past them are read by no display and go. Removed with the group's data, an ECG
    came out with no signal and was called safe; without a usable declaration the samples go still."""
    value = bytes(ds[kept.tag].value or b"")
    try:
        size = int(ds.NumberOfWaveformChannels) * int(ds.NumberOfWaveformSamples)
        size *= {8: 1, 16: 2, 32: 4, 64: 8}[int(ds.WaveformBitsAllocated)]
    except (AttributeError, KeyError, TypeError, ValueError):
        if fix:
            del ds[kept.tag]
        return Action.REMOVED, "waveform data without a usable size (channels, samples, bits allocated)"
    if len(value) < size:
        if fix:
            del ds[kept.tag]
        return Action.REMOVED, f"waveform data shorter ({len(value)} bytes) than its item declares ({size})"
    limit = size + size % 2  # padded to an even length
    if len(value) <= limit:
        return None
    if fix:
        ds[kept.tag].value = value[:size] + b"\0" * (size % 2)
    return Action.REPLACED, f"{len(value) - limit} bytes past the samples its item declares"


HANDLERS: dict[str, Callable[[object, Kept, str, bool], tuple[Action, str] | None]] = {
    "pixels": _pixels,
    "lut": _lut,
    "segments": _segments,
    "icc": _icc,
    "waveform": _waveform,
}
