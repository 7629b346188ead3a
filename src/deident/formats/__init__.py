"""Format registry: sniffers are cheap byte tests; parsers are imported only when a file needs them."""

from __future__ import annotations

from collections.abc import Callable

from deident.formats.base import FormatSpec, detect, open_document, register, registered


def _jpeg(h: bytes) -> bool:
    return h[:3] == b"\xff\xd8\xff"


def _png(h: bytes) -> bool:
    return h[:8] == b"\x89PNG\r\n\x1a\n"


def _gif(h: bytes) -> bool:
    return h[:6] in (b"GIF87a", b"GIF89a")


def _webp(h: bytes) -> bool:
    return h[:4] == b"RIFF" and h[8:12] == b"WEBP"


def _tiff(h: bytes) -> bool:
    return h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _dicom(h: bytes) -> bool:
    if len(h) >= 132 and h[128:132] == b"DICM":
        return True
    # No preamble: a dataset that starts with group 0002 or 0008 little-endian, explicit VR (two letters) or
    # implicit (a 32-bit little-endian length, under 64 KiB for a first element). Legacy archives and
    # pydicom's OT-PAL-8-face.dcm are written so.
    return (
        len(h) >= 8
        and h[:2] in (b"\x02\x00", b"\x08\x00")
        and h[3:4] == b"\x00"
        and (h[4:6].isalpha() or h[6:8] == b"\x00\x00")
    )


def _heif(h: bytes) -> bool:
    return h[4:8] == b"ftyp" and h[8:12] in (
        b"heic",
        b"heix",
        b"heim",
        b"heis",
        b"hevc",
        b"hevx",
        b"mif1",
        b"msf1",
        b"avif",
        b"avis",
    )


VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"avc1", b"3gp4", b"3gp5", b"3g2a"}
# Content deident recognises but does not read, and what the user can do (the reason a file fails with).
UNREAD: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda h: h[:2] == b"BM", "a BMP picture: convert it to PNG, which keeps every pixel, and scrub that"),
    (
        lambda h: (h[4:8] == b"ftyp" and h[8:12] in VIDEO_BRANDS) or h[:4] + h[8:12] == b"RIFFAVI ",
        "a video clip: deident reads pictures, not video; export its frames as PNG, or the loop as DICOM",
    ),
    (
        lambda h: h[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or h[:4] == b"\xff\x4f\xff\x51",
        "a JPEG 2000 picture outside DICOM: convert it to PNG or TIFF and scrub that",
    ),
    (lambda h: h[344:348] in (b"n+1\x00", b"ni1\x00"), "a NIfTI volume: deident reads DICOM, not NIfTI"),
    (lambda h: h[:4] == b"8BPS", "a Photoshop document: export it as PNG or TIFF and scrub that"),
    (lambda h: h[:5] == b"%PDF-", "a PDF document: deident reads pictures; export its pages as PNG"),
)


def unread_reason(head: bytes) -> str:
    """Why content deident does not read fails, with what to do, or the general reason."""
    said = next((why for test, why in UNREAD if test(head)), "content not recognised")
    return f"not a supported image or DICOM file ({said})"


for _spec in (
    FormatSpec("jpeg", _jpeg, "deident.formats.jpeg:open_jpeg"),
    FormatSpec("png", _png, "deident.formats.png:open_png"),
    FormatSpec("gif", _gif, "deident.formats.gif:open_gif"),
    FormatSpec("webp", _webp, "deident.formats.webp:open_webp"),
    FormatSpec("tiff", _tiff, "deident.formats.tiff.opener:open_tiff", streaming=True),
    FormatSpec("dicom", _dicom, "deident.dicom.document:open_dicom"),
    FormatSpec("heif", _heif, "deident.formats.heif:open_heif"),
):
    register(_spec)

__all__ = ["FormatSpec", "detect", "open_document", "register", "registered", "unread_reason"]
