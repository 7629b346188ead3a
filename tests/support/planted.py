"""Photo metadata with planted markers (EXIF, XMP, IPTC, Photoshop blocks) and the checks every format shares.

Each builder plants distinctive marker strings in every metadata place a format has; the tests then
assert that none of those bytes survive anywhere in the written file (``leaked``).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from deident.formats.base import Context, Source, open_document
from deident.keys import Keyring
from deident.options import Options

# Marker strings planted in metadata; none may appear in any output.
ARTIST = "MRK-ARTIST-Wojciech"
COPYRIGHT = "MRK-COPYRIGHT-4417"
OWNER = "MRK-OWNER-Hannelore"
XP_AUTHOR = "MRK-XPAUTHOR-8812"
SERIAL = "MRK-SERIAL-559031"
DATE = "2019:04:21 09:31:07"
DESCRIPTION = "MRK-DESC-patient-Ortega"
MAKE = "MRK-MAKE-Acme"
THUMB_MARK = b"MRK-THUMBNAIL-PAYLOAD"
XMP_CREATOR = "MRK-XMP-CREATOR-Ilse"
IPTC_BYLINE = "MRK-IPTC-BYLINE-Okafor"
IPTC_CITY = "MRK-IPTC-CITY-Tromso"
COMMENT = b"MRK-COMMENT-bed-12"
TRAILER = b"MRK-TRAILER-uncropped-original"
UNKNOWN = b"MRK-UNKNOWN-SEGMENT"

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # a real profile to keep
MARKERS = [m.encode() for m in (ARTIST, COPYRIGHT, OWNER, SERIAL, DESCRIPTION, MAKE, XMP_CREATOR)]
MARKERS += [m.encode() for m in (IPTC_BYLINE, IPTC_CITY)] + [XP_AUTHOR.encode("utf-16-le"), DATE.encode()]
MARKERS += [THUMB_MARK, COMMENT, TRAILER, UNKNOWN]


def ctx(**kw) -> Context:
    return Context(Options(**kw), Keyring(b"test-key"))


def leaked(data: bytes) -> list[bytes]:
    return [m for m in MARKERS if m in data]


def picture(w: int = 96, h: int = 64, seed: int = 0) -> Image.Image:
    """A deterministic, asymmetric RGB picture (orientation mistakes show up as different pixels)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    arr[: h // 4, : w // 4] = (255, 0, 0)  # top-left patch marks where "up-left" is
    return Image.fromarray(arr, "RGB")


# ---------------------------------------------------------------- EXIF (a small TIFF writer)


def _ifd(entries: list[tuple[int, int, int, bytes]], base: int, next_ifd: int = 0) -> tuple[bytes, bytes]:
    """(IFD bytes, out-of-line values) for an IFD placed at ``base``; entries are (tag, type, count, raw)."""
    size = 2 + 12 * len(entries) + 4
    head, extra = struct.pack("<H", len(entries)), b""
    for tag, typ, count, raw in sorted(entries):
        if len(raw) <= 4:
            head += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\0")
        else:
            head += struct.pack("<HHII", tag, typ, count, base + size + len(extra))
            extra += raw + b"\0" * (len(raw) & 1)
    return head + struct.pack("<I", next_ifd), extra


def _ascii(tag: int, text: str) -> tuple[int, int, int, bytes]:
    raw = text.encode() + b"\0"
    return (tag, 2, len(raw), raw)


def _rational(tag: int, values: list[tuple[int, int]]) -> tuple[int, int, int, bytes]:
    return (tag, 5, len(values), b"".join(struct.pack("<II", a, b) for a, b in values))


def exif_block(orientation: int = 6, thumbnail: bytes | None = None, extra: tuple = ()) -> bytes:
    """A little-endian EXIF block with owner, serial, dates, XP tags, GPS and (optionally) a thumbnail.

    ``extra`` adds IFD0 entries (e.g. image tags, which turns the block into a whole TIFF file).
    """
    xp = XP_AUTHOR.encode("utf-16-le") + b"\0\0"
    exif_entries = [
        _ascii(36867, DATE),
        _ascii(36868, DATE),
        _ascii(42032, OWNER),
        _ascii(42033, SERIAL),
        (37510, 7, 8 + len(DESCRIPTION), b"ASCII\0\0\0" + DESCRIPTION.encode()),
    ]
    gps_entries = [
        (0, 1, 4, bytes([2, 3, 0, 0])),
        (1, 2, 2, b"N\0"),
        _rational(2, [(69, 1), (40, 1), (0, 1)]),
        (3, 2, 2, b"E\0"),
        _rational(4, [(18, 1), (57, 1), (0, 1)]),
    ]
    ifd0_entries = [
        _ascii(270, DESCRIPTION),
        _ascii(271, MAKE),
        _ascii(306, DATE),
        _ascii(315, ARTIST),
        _ascii(33432, COPYRIGHT),
        (40093, 1, len(xp), xp),
        (274, 3, 1, struct.pack("<H", orientation)),
        *extra,
        (34665, 4, 1, b"\0\0\0\0"),
        (34853, 4, 1, b"\0\0\0\0"),
    ]
    # Lay out: header | IFD0 + values | EXIF IFD + values | GPS IFD + values | IFD1 + values | thumbnail
    pos = 8
    ifd0, extra0 = _ifd(ifd0_entries, pos)  # sizes only; offsets patched below
    exif_at = pos + len(ifd0) + len(extra0)
    exif, exif_extra = _ifd(exif_entries, exif_at)
    gps_at = exif_at + len(exif) + len(exif_extra)
    gps, gps_extra = _ifd(gps_entries, gps_at)
    ifd1_at = gps_at + len(gps) + len(gps_extra)
    ifd0_entries[-2] = (34665, 4, 1, struct.pack("<I", exif_at))
    ifd0_entries[-1] = (34853, 4, 1, struct.pack("<I", gps_at))
    tail = b""
    if thumbnail is not None:
        ifd1_size = 2 + 12 * 2 + 4
        ifd1, _ = _ifd(
            [
                (513, 4, 1, struct.pack("<I", ifd1_at + ifd1_size)),
                (514, 4, 1, struct.pack("<I", len(thumbnail))),
            ],
            ifd1_at,
        )
        tail = ifd1 + thumbnail
    ifd0, extra0 = _ifd(ifd0_entries, pos, ifd1_at if thumbnail is not None else 0)
    return b"II*\0" + struct.pack("<I", 8) + ifd0 + extra0 + exif + exif_extra + gps + gps_extra + tail


def xmp_packet() -> bytes:
    return (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        b'photoshop:City="'
        + IPTC_CITY.encode()
        + b'"><dc:creator><rdf:Seq><rdf:li>'
        + XMP_CREATOR.encode()
        + b"</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
        b'<?xpacket end="w"?>'
    )


def iptc_block() -> bytes:
    def ds(num: int, value: str) -> bytes:
        return struct.pack(">BBBH", 0x1C, 2, num, len(value)) + value.encode()

    return ds(80, IPTC_BYLINE) + ds(90, IPTC_CITY) + ds(55, "20190421")


def photoshop_irb(iim: bytes) -> bytes:
    return (
        b"Photoshop 3.0\0" + b"8BIM" + struct.pack(">HHI", 0x0404, 0, len(iim)) + iim + b"\0" * (len(iim) & 1)
    )


def assert_same_pixels(a: bytes | Path, b: bytes | Path, frames: int = 1) -> None:
    def load(x):
        return Image.open(io.BytesIO(x) if isinstance(x, bytes) else x)

    ia, ib = load(a), load(b)
    for i in range(frames):
        ia.seek(i)
        ib.seek(i)
        assert ia.mode == ib.mode
        assert np.array_equal(np.asarray(ia.convert(ia.mode)), np.asarray(ib.convert(ib.mode))), f"frame {i}"


def scrub_bytes(path: Path, c: Context | None = None) -> tuple[bytes, list]:
    """open -> scrub_metadata -> write; returns the output bytes and the scrub findings."""
    c = c or ctx()
    doc = open_document(Source(path))
    findings = doc.scrub_metadata(c)
    buf = io.BytesIO()
    doc.write(buf, c)
    return buf.getvalue(), findings


def filled_bytes(doc, frame: int, box: tuple[int, int, int, int], c: Context) -> bytes:
    """Fill ``box`` (x0, y0, x1, y1) of one frame as the text stage would, then write: the output bytes."""
    from deident.regions import Redaction, Region

    doc.redact(frame, [Redaction(Region.box(*box, "text"), "fill")], c)
    buf = io.BytesIO()
    doc.write(buf, c)
    return buf.getvalue()


def reopen_findings(tmp_path: Path, data: bytes, name: str) -> list:
    out = tmp_path / f"out-{name}"
    out.write_bytes(data)
    return open_document(Source(out)).metadata_findings()


# ---------------------------------------------------------------- behaviour shared by every format
