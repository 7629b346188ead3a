"""Format registry: sniffers are cheap byte tests; parsers are imported only when a file needs them."""

from __future__ import annotations

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

__all__ = ["FormatSpec", "detect", "open_document", "register", "registered"]
