"""Builders of identifying photo files shared by the format tests, and behaviour every format shares.

Each builder plants distinctive marker strings in every metadata place a format has; the tests then
assert that none of those bytes survive anywhere in the written file.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from deident.errors import CorruptFile, DeidentError, TooLarge, UnsupportedFormat
from deident.findings import Action
from deident.formats.base import Context, Source, open_document
from deident.keys import Keyring
from deident.options import Options
from deident.regions import Redaction, Region

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


def reopen_findings(tmp_path: Path, data: bytes, name: str) -> list:
    out = tmp_path / f"out-{name}"
    out.write_bytes(data)
    return open_document(Source(out)).metadata_findings()


# ---------------------------------------------------------------- behaviour shared by every format


def _samples(tmp_path: Path) -> dict[str, bytes]:
    pic = picture(48, 32)
    out = {}
    for fmt, kw in {"jpeg": {}, "png": {}, "gif": {}, "webp": {"lossless": True}, "tiff": {}}.items():
        buf = io.BytesIO()
        pic.save(buf, fmt.upper(), **kw)
        out[fmt] = buf.getvalue()
    return out


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "tiff"])
def test_damaged_files_fail_with_a_clear_error(tmp_path, fmt):
    """Truncations and byte flips either scrub cleanly or are refused with a reason; nothing else."""
    good = _samples(tmp_path)[fmt]
    rng = random.Random(1234)
    variants = [b"", good[:2], good[:16], good[: len(good) // 2], good[:-1]]
    for _ in range(40):
        bad = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        variants.append(bytes(bad))
    refused = 0
    for n, data in enumerate(variants):
        path = tmp_path / f"bad{n}.{fmt}"
        path.write_bytes(data)
        try:
            doc = open_document(Source(path))
            c = ctx()
            doc.scrub_metadata(c)
            for _ in doc.frames(c):
                pass
            doc.write(io.BytesIO(), c)
        except (CorruptFile, UnsupportedFormat, TooLarge) as exc:
            assert str(exc)
            refused += 1
        except DeidentError as exc:  # pragma: no cover - shown on failure
            pytest.fail(f"variant {n}: unexpected {type(exc).__name__}: {exc}")
    assert refused >= 5  # the empty and truncated ones at least


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "tiff"])
def test_too_large_is_refused_before_decoding(tmp_path, fmt):
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(_samples(tmp_path)[fmt])
    doc = open_document(Source(path))
    with pytest.raises(TooLarge):
        next(iter(doc.frames(ctx(max_pixels=100))))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_redaction_lands_where_it_was_shown(tmp_path, orientation):
    """A box drawn on the displayed frame is black exactly there after redact, for every EXIF orientation."""
    buf = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 200, 200)).save(buf, "JPEG", exif=b"Exif\0\0" + exif_block(orientation))
    path = tmp_path / "o.jpg"
    path.write_bytes(buf.getvalue())
    doc = open_document(Source(path))
    c = ctx()
    shown = next(iter(doc.frames(c))).rgb
    assert shown.shape == ((60, 40, 3) if orientation >= 5 else (40, 60, 3))
    doc.redact(0, [Redaction(Region.box(5, 3, 20, 12, "text"), "fill")], c)
    after = next(iter(doc.frames(c))).rgb
    assert after.shape == shown.shape
    assert (after[4:12, 6:20] == 0).all()
    dark = (after.max(axis=2) < 30).sum()
    assert dark <= 17 * 11  # nothing else went black
    out = io.BytesIO()
    doc.write(out, c)
    written = Image.open(io.BytesIO(out.getvalue()))
    assert written.getexif().get(274, 1) == orientation


def test_findings_never_carry_values(tmp_path):
    pic = picture()
    buf = io.BytesIO()
    pic.save(buf, "JPEG", exif=b"Exif\0\0" + exif_block(orientation=1))
    path = tmp_path / "v.jpg"
    path.write_bytes(buf.getvalue())
    found = open_document(Source(path)).metadata_findings()
    assert found and all(f.action is Action.FOUND for f in found)
    text = repr([f.to_dict() for f in found]).encode()
    assert leaked(text) == []


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "tiff"])
def test_same_input_gives_the_same_bytes(tmp_path, fmt):
    """Determinism: scrubbing (and redacting) twice writes byte-identical files."""
    path = tmp_path / f"d.{fmt}"
    path.write_bytes(_samples(tmp_path)[fmt])
    outputs = []
    for _ in range(2):
        c = ctx()
        doc = open_document(Source(path))
        doc.scrub_metadata(c)
        plain = io.BytesIO()
        doc.write(plain, c)
        doc.redact(0, [Redaction(Region.box(3, 3, 20, 15, "text"), "pixelate")], c)
        redacted = io.BytesIO()
        doc.write(redacted, c)
        outputs.append((plain.getvalue(), redacted.getvalue()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != outputs[0][1]  # the redaction did change the file
