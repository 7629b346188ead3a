"""ICC colour profiles (ICC.1:2022, v2 and v4): keep the colour, nothing that names anyone.

A profile's ``desc``/``cprt`` text, device manufacturer and model tags (``dmnd``/``dmdd``), header fields
(creator, date, device, profile ID) and private tags are free to say anything ("Patient DOE^JANE"), and
any payload can be stored under the ICC name. Every format keeps a profile through ``clean_profile``: it
must parse as ICC; the output is rebuilt from its colour tags alone (a table of tag -> allowed types, each
cut to the size its type uses), the description and copyright written again as neutral text, the header
reduced to what a colour engine reads. Same bytes in, same bytes out, and a clean profile comes back
unchanged, so verification finds nothing on the second look.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass

from deident.findings import Action
from deident.formats.items import Item

HEADER = 128
MAX_TAGS = 200
D50 = struct.pack(">iii", 0xF6D6, 0x10000, 0xD32D)  # the PCS illuminant every profile must state
CLASSES = {b"scnr", b"mntr", b"prtr", b"link", b"spac", b"abst", b"nmcl"}
SPACES = {b"XYZ ", b"Lab ", b"Luv ", b"YCbr", b"Yxy ", b"RGB ", b"GRAY", b"HSV ", b"HLS ", b"CMYK", b"CMY "}
SPACES |= {f"{n:X}CLR".encode() for n in range(2, 16)}
LUTS = frozenset({b"mft1", b"mft2", b"mAB ", b"mBA "})
# Colour tags kept, with the element types allowed for each.
COLOUR_TAGS: dict[bytes, frozenset[bytes]] = {
    **dict.fromkeys((b"rXYZ", b"gXYZ", b"bXYZ", b"wtpt", b"bkpt", b"lumi"), frozenset({b"XYZ "})),
    **dict.fromkeys((b"rTRC", b"gTRC", b"bTRC", b"kTRC"), frozenset({b"curv", b"para"})),
    **dict.fromkeys((b"A2B0", b"A2B1", b"A2B2", b"B2A0", b"B2A1", b"B2A2", b"gamt"), LUTS),
    **dict.fromkeys((b"pre0", b"pre1", b"pre2"), LUTS),
    b"chad": frozenset({b"sf32"}),
    b"chrm": frozenset({b"chrm"}),
    b"cicp": frozenset({b"cicp"}),
}
TEXT_TAGS = {b"desc": "ICC profile", b"cprt": "No copyright"}
PARA_PARAMS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}  # parametricCurveType function -> its parameter count
PARA_LIMIT = 256  # |parameter| of a real tone curve (s15Fixed16): sRGB's gamma is 2.4, its others below 1


class NotAProfile(ValueError):
    """The bytes stored as an ICC profile do not parse as one."""


@dataclass(frozen=True)
class Cleaned:
    """A profile rebuilt from its colour tags, and what was left out (names of standard parts only)."""

    profile: bytes
    changed: bool
    detail: str


def clean_profile(data: bytes) -> Cleaned:
    """The profile rebuilt as above; raises ``NotAProfile`` when ``data`` is not an ICC profile."""
    if len(data) < HEADER + 4 or data[36:40] != b"acsp":
        raise NotAProfile("no 'acsp' signature")
    (size,) = struct.unpack(">I", data[:4])
    if not HEADER + 4 <= size <= len(data):
        raise NotAProfile("profile size field does not match its bytes")
    version, cls, space, pcs = data[8:10], data[12:16], data[16:20], data[20:24]
    if cls not in CLASSES or space not in SPACES or (pcs not in (b"XYZ ", b"Lab ") and cls != b"link"):
        raise NotAProfile("unknown profile class or colour space")
    (count,) = struct.unpack(">I", data[HEADER : HEADER + 4])
    if count > MAX_TAGS or HEADER + 4 + 12 * count > size:
        raise NotAProfile("tag table runs past the profile")
    v4 = version[0] >= 4
    kept: list[tuple[bytes, bytes]] = []
    dropped = 0
    for i in range(count):
        sig, offset, length = struct.unpack(">4sII", data[HEADER + 4 + 12 * i : HEADER + 16 + 12 * i])
        if offset + length > size or length < 8:
            raise NotAProfile(f"tag {i} runs past the profile")
        element = data[offset : offset + length]
        if sig in TEXT_TAGS:
            kept.append((sig, _text(TEXT_TAGS[sig], v4, sig == b"desc")))
        elif element[:4] in COLOUR_TAGS.get(sig, ()):
            kept.append((sig, _cut(element)))
        else:
            dropped += 1
    header = b"".join(
        (
            b"\0" * 4,  # size, set below
            b"\0" * 4,  # preferred CMM
            version[:2] + b"\0\0",
            cls,
            space,
            pcs,
            b"\0" * 12,  # date and time of creation
            b"acsp",
            b"\0" * 4,  # primary platform
            struct.pack(">I", struct.unpack(">I", data[44:48])[0] & 3),  # embedded / independent flags
            b"\0" * 16,  # device manufacturer, model, attributes
            struct.pack(">I", min(3, struct.unpack(">I", data[64:68])[0])),  # rendering intent
            D50,
            b"\0" * 4,  # creator
            b"\0" * 16,  # profile ID (zero: not computed)
            b"\0" * 28,
        )
    )
    table, elements, shared = [], [], {}
    at = HEADER + 4 + 12 * len(kept)
    for sig, element in kept:
        if element not in shared:
            shared[element] = at
            elements.append(element + b"\0" * (-len(element) % 4))
            at += len(elements[-1])
        table.append(struct.pack(">4sII", sig, shared[element], len(element)))
    body = struct.pack(">I", len(kept)) + b"".join(table) + b"".join(elements)
    profile = struct.pack(">I", HEADER + len(body)) + header[4:] + body
    parts = []
    if data[:size] != profile:
        parts.append("header fields and text reset")
    if dropped:
        parts.append(f"{dropped} tags that are not colour data dropped")
    return Cleaned(profile, profile != data, ", ".join(parts))


def _cut(element: bytes) -> bytes:
    """A colour element at the size its type uses, its 4 reserved bytes zero; in look-up tables, only the
    bytes a colour engine reads."""
    kind = element[:4]
    element = kind + bytes(len(element[4:8])) + element[8:]
    if kind in LUTS:
        try:
            return _lut(element)
        except (struct.error, IndexError, OverflowError):
            raise NotAProfile(f"{kind.decode('latin-1').strip()} table runs past its tag") from None
    if kind == b"XYZ ":
        return element[: 8 + 12 * ((len(element) - 8) // 12)]
    if kind == b"curv" and len(element) >= 12:
        return _tone_curve(element[: 12 + 2 * struct.unpack(">I", element[8:12])[0]])
    if kind == b"para" and len(element) >= 12:
        params = PARA_PARAMS.get(struct.unpack(">H", element[8:10])[0], 0)
        return _parametric(element[:10] + b"\0\0" + element[12 : 12 + 4 * params])  # reserved bytes: zero
    if kind == b"sf32":
        return element[: 8 + 4 * ((len(element) - 8) // 4)]
    if kind == b"chrm" and len(element) >= 12:
        return element[: 12 + 8 * struct.unpack(">H", element[8:10])[0]]
    if kind == b"cicp":
        return element[:12]
    return element


def _tone_curve(curve: bytes) -> bytes:
    """A ``curv`` whose entries all exist and run one way (ICC.1 10.6: a tone curve is monotone); else
    the profile is not one. Entries that rise and fall are no colour data: they can spell a name."""
    count = (len(curve) - 12) // 2
    if count != struct.unpack(">I", curve[8:12])[0]:
        raise NotAProfile("a tone curve runs past its tag")
    values = struct.unpack(f">{count}H", curve[12:])
    pairs = list(itertools.pairwise(values))
    if not all(a <= b for a, b in pairs) and not all(a >= b for a, b in pairs):
        raise NotAProfile("a tone curve that is not monotone")
    return curve


def _parametric(curve: bytes) -> bytes:
    """A ``para`` whose parameters are ones a tone curve uses (below ``PARA_LIMIT``; sRGB's reach 2.4)
    and all present; else the profile is not one. A parameter's high byte is then 0 or 0xFF, so no four
    characters of text run through them."""
    count = PARA_PARAMS.get(struct.unpack(">H", curve[8:10])[0])
    if count is None or len(curve) != 12 + 4 * count:
        raise NotAProfile("a parametric tone curve runs past its tag or has an unknown function")
    if any(abs(v) >= PARA_LIMIT << 16 for v in struct.unpack(f">{count}i", curve[12:])):
        raise NotAProfile("a parametric tone curve with parameters no tone curve uses")
    return curve


def _lut(element: bytes) -> bytes:
    """A look-up table element keeping only its parts (ICC.1 10.10-10.13); every other byte zero.

    lut8 and lut16 are one run of fixed-size tables: cut after the last. lutAtoB and lutBtoA place their
    curves, matrix and grid at offsets, with room between that nothing reads: copied part by part into
    zeros. A part that runs past the tag makes the profile not one.
    """
    kind, n_in, n_out = element[:4], element[8], element[9]
    if kind in (b"mft1", b"mft2"):
        grid = element[10] ** n_in
        if kind == b"mft1":
            end = 48 + 256 * n_in + grid * n_out + 256 * n_out
            head = 48
        else:
            entries_in, entries_out = struct.unpack(">HH", element[48:52])
            end = 52 + 2 * (entries_in * n_in + grid * n_out + entries_out * n_out)
            head = 52
        if end > len(element):
            raise IndexError
        return element[:11] + b"\0" + element[12:head] + element[head:end]
    out = bytearray(len(element))
    out[:10] = element[:10]  # type, reserved (zero), channels; two bytes of padding stay zero
    offsets = struct.unpack(">5I", element[12:32])
    out[12:32] = element[12:32]
    a_to_b = kind == b"mAB "
    curves = {0: n_out if a_to_b else n_in, 2: n_out if a_to_b else n_in, 4: n_in if a_to_b else n_out}
    end = 32
    for part, offset in enumerate(offsets):  # B curves, matrix, M curves, CLUT, A curves
        if not offset:
            continue
        at = offset
        if part in curves:
            for _ in range(curves[part]):
                curve = _cut(element[at:])
                if curve[:4] not in (b"curv", b"para") or at + len(curve) > len(element):
                    raise IndexError
                out[at : at + len(curve)] = curve
                at += len(curve) + (-len(curve) % 4)
        elif part == 1:
            at += 48
            out[offset:at] = element[offset:at]
        else:  # CLUT: grid points per input channel (16 bytes), precision, padding, then the grid
            dims, precision = element[at : at + n_in], element[at + 16]
            size = precision * n_out * math.prod(dims)  # the grid maps the inputs to the outputs
            out[at : at + n_in] = dims
            out[at + 16] = precision
            at += 20 + size
            out[offset + 20 : at] = element[offset + 20 : at]
        if at > len(element):
            raise IndexError
        end = max(end, at)
    return bytes(out[:end])


def _text(text: str, v4: bool, description: bool) -> bytes:
    """``text`` as the element type a profile of this version uses for the tag."""
    if v4:
        utf16 = text.encode("utf-16-be")
        return b"mluc\0\0\0\0" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(utf16), 28) + utf16
    ascii_ = text.encode("ascii") + b"\0"
    if description:  # textDescriptionType: ASCII, then empty Unicode and ScriptCode parts
        return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    return b"text\0\0\0\0" + ascii_


def neutral(data: bytes) -> bytes | None:
    """The cleaned profile, or None when ``data`` is not one (the caller drops it)."""
    return profile_item(data, "")[0]


def profile_item(data: bytes, where: str) -> tuple[bytes | None, Item | None]:
    """(the profile to write, or None to drop the bytes; the finding when anything changed)."""
    try:
        cleaned = clean_profile(data)
    except (NotAProfile, struct.error) as exc:
        return None, Item(
            "icc", where, f"data stored as an ICC profile that is not one ({exc}), {len(data)} bytes"
        )
    if not cleaned.changed:
        return cleaned.profile, None
    return cleaned.profile, Item("icc", where, f"ICC profile: {cleaned.detail}", Action.REPLACED)
