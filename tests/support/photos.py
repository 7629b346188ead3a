"""Photo files (PNG, GIF, JPEG, WebP, TIFF) loaded with planted metadata in every place each format has.

The format tests, the hardening seeds and the benches build their inputs here (one definition).
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

from support import need
from support.planted import (
    ARTIST,
    COMMENT,
    COPYRIGHT,
    DESCRIPTION,
    MAKE,
    SRGB_ICC,
    THUMB_MARK,
    TRAILER,
    UNKNOWN,
    exif_block,
    iptc_block,
    photoshop_irb,
    picture,
    xmp_packet,
)


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def loaded_png(tmp_path, img: Image.Image | None = None, **save) -> tuple:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", ARTIST)
    info.add_text("Comment", COMMENT.decode(), zip=True)
    info.add_itxt("Description", DESCRIPTION)
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2019, 4, 21, 9, 31, 7))
    info.add(b"prVt", UNKNOWN)
    buf = io.BytesIO()
    (img or picture()).save(buf, "PNG", pnginfo=info, exif=exif_block(1), icc_profile=SRGB_ICC, **save)
    data = buf.getvalue() + TRAILER
    path = tmp_path / "in.png"
    path.write_bytes(data)
    return path, data


def sub_blocks(data: bytes) -> bytes:
    return (
        b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
        + b"\0"
    )


def gif_icc_profile(data: bytes) -> bytes:
    """The ICC profile of a GIF's ICCRGBG1012 application extension, read from its sub-blocks without
    deident (``sub_blocks`` writes them)."""
    at = data.index(b"ICCRGBG1012") + 11
    profile = b""
    while data[at]:
        profile += data[at + 1 : at + 1 + data[at]]
        at += 1 + data[at]
    return profile


def loaded_gif(tmp_path, frames: int = 3) -> tuple:
    imgs = [picture(40, 30, seed=i).convert("P") for i in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, "GIF", save_all=True, append_images=imgs[1:], duration=80, loop=0, comment=COMMENT)
    data = buf.getvalue()
    extra = b"!\xff\x0bXMP DataXMP" + sub_blocks(xmp_packet())  # real XMP uses a "magic trailer"; not needed
    extra += b"!\x01" + sub_blocks(b"\x00" * 12 + UNKNOWN)  # plain-text extension
    extra += b"!\xff\x0bMRKAPPID1.0" + sub_blocks(UNKNOWN)
    at = data.index(b",")  # before the first image descriptor
    data = data[:at] + extra + data[at:-1] + b";" + TRAILER
    path = tmp_path / "in.gif"
    path.write_bytes(data)
    return path, data


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """Insert segments right after SOI (and after APP0 JFIF when there is one)."""
    at = 2
    if jpeg[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:at] + b"".join(segments) + jpeg[at:]


def thumbnail() -> bytes:
    buf = io.BytesIO()
    picture(16, 12, seed=3).save(buf, "JPEG")
    data = buf.getvalue()
    return data[:2] + segment(0xFE, THUMB_MARK) + data[2:]


def loaded_jpeg(tmp_path, name="in.jpg", orientation=6, **save) -> tuple:
    """A photo carrying every kind of JPEG metadata; returns (path, original bytes)."""
    buf = io.BytesIO()
    picture().save(buf, "JPEG", icc_profile=SRGB_ICC, **save)
    icc_and_rest = buf.getvalue()
    data = with_segments(
        icc_and_rest,
        segment(0xE1, b"Exif\0\0" + exif_block(orientation, thumbnail())),
        segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp_packet()),
        segment(0xED, photoshop_irb(iptc_block())),
        segment(0xFE, COMMENT),
        segment(0xEB, b"JP\0\0" + UNKNOWN),
        segment(0xE5, UNKNOWN),
        segment(0xE2, b"MPF\0II*\0" + UNKNOWN),
    )
    data += TRAILER + thumbnail()  # an MPF preview / aCropalypse leftover after EOI
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def loaded_webp(tmp_path, **save) -> tuple:
    buf = io.BytesIO()
    picture().save(
        buf, "WEBP", exif=b"Exif\0\0" + exif_block(1), xmp=xmp_packet(), icc_profile=SRGB_ICC, **save
    )
    data = buf.getvalue()
    unknown = b"MRKZ" + struct.pack("<I", len(UNKNOWN)) + UNKNOWN + b"\0" * (len(UNKNOWN) & 1)
    body = data[12:] + unknown
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body + TRAILER
    path = tmp_path / "in.webp"
    path.write_bytes(data)
    return path, data


def pages() -> list[np.ndarray]:
    rgb = np.asarray(picture(64, 48))
    grey16 = (np.arange(40 * 64, dtype=np.uint16).reshape(40, 64) * 23).astype(np.uint16)
    return [rgb, grey16, rgb[::-1].copy()]


def loaded_tiff(tmp_path, name="in.tif", **kw) -> tuple:
    """Three pages: stripped RGB, tiled 16-bit grey, deflate-compressed RGB; each with identifying tags."""
    path = tmp_path / name
    extratags = [
        (315, "s", 0, ARTIST, True),
        (33432, "s", 0, COPYRIGHT, True),
        (271, "s", 0, MAKE, True),
        (700, "B", len(xmp_packet()), xmp_packet(), True),
        (33723, "B", len(iptc_block()), iptc_block(), True),
        (65000, "B", len(UNKNOWN), UNKNOWN, True),
    ]
    tifffile = need("tifffile", "writes the multi-page TIFF")
    with tifffile.TiffWriter(path, **kw) as tw:
        p = pages()
        common = {
            "description": DESCRIPTION,
            "software": "MRK-SOFTWARE",
            "extratags": extratags,
            "metadata": None,
        }
        tw.write(p[0], photometric="rgb", rowsperstrip=16, datetime="2019:04:21 09:31:07", **common)
        tw.write(p[1], tile=(16, 16), **common)
        tw.write(p[2], photometric="rgb", compression="zlib", **common)
    return path, path.read_bytes()


def bars(w: int = 64, h: int = 64, split: int = 32) -> Image.Image:
    """White above ``split``, black below: what a hidden part of the image would show is obvious."""
    arr = np.full((h, w, 3), 255, np.uint8)
    arr[split:] = 0
    return Image.fromarray(arr)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def png_file(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunk(t, b) for t, b in chunks)


def grey_tiff(
    width: int,
    height: int,
    pixels: bytes,
    extra: tuple = (),
    declared: int | None = None,
    compression: int = 1,
) -> bytes:
    """A little-endian grey TIFF, one strip of ``pixels`` (coded with ``compression``); ``extra``: (tag,
    type, bytes)."""
    tags = [(256, 3, 1, struct.pack("<H", width)), (257, 3, 1, struct.pack("<H", declared or height))]
    tags += [
        (258, 3, 1, struct.pack("<H", 8)),
        (259, 3, 1, struct.pack("<H", compression)),
        (262, 3, 1, struct.pack("<H", 1)),
    ]
    tags += [(277, 3, 1, struct.pack("<H", 1)), (278, 3, 1, struct.pack("<H", height))]
    tags += [(t, typ, len(v) // {1: 1, 2: 1, 3: 2, 7: 1}[typ], v) for t, typ, v in extra]
    n = len(tags) + 2
    data_at = 8 + 2 + 12 * n + 4
    values, entries = b"", []
    strip_at = data_at + sum(len(v) + (len(v) & 1) for *_, v in tags if len(v) > 4)
    tags += [(273, 4, 1, struct.pack("<I", strip_at)), (279, 4, 1, struct.pack("<I", len(pixels)))]
    for tag, typ, count, value in sorted(tags):
        if len(value) > 4:
            entries.append(struct.pack("<HHI", tag, typ, count) + struct.pack("<I", data_at + len(values)))
            values += value + b"\0" * (len(value) & 1)
        else:
            entries.append(struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0"))
    return b"II*\0" + struct.pack("<IH", 8, n) + b"".join(entries) + b"\0\0\0\0" + values + pixels


SIZE = (160, 120)


@functools.cache
def heic_icc() -> bytes:
    """One sRGB profile per run: its header carries the creation time, so build it once."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def heic_bytes(orientation: int = 1, img: Image.Image | None = None, loaded: bool = True) -> bytes:
    """A HEIC as a phone or an editor would leave it, with every metadata place filled with markers."""
    img = img or picture(*SIZE)
    kwargs: dict = {"quality": 90, "icc_profile": heic_icc()}
    if loaded:
        kwargs |= {
            "exif": exif_block(orientation, thumbnail=THUMB_MARK),
            "xmp": xmp_packet(),
            "thumbnails": [32],
            "metadata": [{"type": "mime", "content_type": "text/plain", "data": UNKNOWN}],
        }
    pillow_heif = need("pillow_heif", "writes the HEIC files")
    heif = pillow_heif.from_pillow(img)
    if loaded:
        heif.add_from_pillow(picture(48, 32, seed=5))  # a second top-level image (e.g. an edit's original)
    buf = io.BytesIO()
    heif.save(buf, **kwargs)
    return with_unknown_box(buf.getvalue()) if loaded else buf.getvalue()


def with_unknown_box(data: bytes) -> bytes:
    """An unknown top-level box after the media data, carrying the planted trailer bytes."""
    payload = b"\x11" * 16 + TRAILER
    return data + struct.pack(">I4s", 8 + len(payload), b"uuid") + payload


def riff_chunks(data: bytes, pos: int = 12) -> list[tuple[bytes, bytes]]:
    """(fourcc, payload) of the RIFF chunks from ``pos`` on (12: a WebP file's; 0: an ANMF frame's body)."""
    out = []
    while pos < len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append((data[pos : pos + 4], data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def riff_body(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(t + struct.pack("<I", len(b)) + b + b"\0" * (len(b) & 1) for t, b in chunks)


def riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A WebP file of these chunks."""
    body = b"WEBP" + riff_body(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
