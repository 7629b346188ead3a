"""Issue 18's property: a random structure inserted into a valid file either leaves none of its bytes in
the output, or the file is refused.

Each example inserts one structure of the format (a segment, chunk, extension block or tag, of a kind
drawn from what a decoder reads and what it does not) carrying a 16-byte sentinel wrapped in random bytes,
at a random structural position, then runs the document as the pipeline does (scrub, every frame decoded,
write). The sentinel must be absent from the output, checked on the bytes.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deident.errors import CorruptFile, TooLarge, UnsupportedFormat
from deident.formats.base import Source, open_document
from deident.formats.tiff.reader import TiffReader
from support.photos import bars, chunk, grey_tiff, png_chunks, png_file, sub_blocks
from support.planted import ctx

SENT = b"MRK-PROP-7f3a91c4"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
payloads = st.tuples(st.binary(max_size=24), st.binary(max_size=24)).map(lambda p: p[0] + SENT + p[1])


def _outcome(data: bytes, suffix: str) -> bytes | None:
    """The output bytes, or None when the file is refused."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"in{suffix}"
        path.write_bytes(data)
        try:
            doc = open_document(Source(path))
            c = ctx()
            doc.check_size(c)
            doc.prepare(c)
            doc.scrub_metadata(c)
            for _ in doc.frames(c):
                pass
            return doc.to_bytes(c)
        except (CorruptFile, UnsupportedFormat, TooLarge):
            return None


def _assert_gone(data: bytes, suffix: str) -> None:
    out = _outcome(data, suffix)
    assert out is None or SENT not in out


def _encoded(fmt: str, **save) -> bytes:
    buf = io.BytesIO()
    bars(32, 32, 16).save(buf, fmt, **save)
    return buf.getvalue()


# ---------------------------------------------------------------- JPEG

JPEGS = [_encoded("JPEG", quality=90), _encoded("JPEG", quality=90, progressive=True)]
SIGNATURES = [b"", b"JFIF\0", b"ICC_PROFILE\0\1\1", b"Adobe", b"Exif\0\0", b"http://ns.adobe.com/xap/1.0/\0"]


def _jpeg_boundaries(data: bytes) -> list[int]:
    """Offsets of marker segments before the first scan (where a segment may be inserted)."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        out.append(pos)
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return [*out, pos]


@st.composite
def jpeg_insertions(draw) -> bytes:
    payload = draw(payloads)
    jpeg = draw(st.sampled_from(JPEGS))
    where = draw(st.sampled_from(["segment", "table", "before EOI", "after EOI"]))
    if where == "before EOI":
        eoi = jpeg.rindex(b"\xff\xd9")
        return jpeg[:eoi] + payload.replace(b"\xff", b"") + jpeg[eoi:]
    if where == "after EOI":
        return jpeg + payload
    if where == "table":  # a table no scan uses (ids 2 and 3 are free in a Pillow JPEG)
        tid = draw(st.sampled_from([2, 3]))
        if draw(st.booleans()):
            body = bytes([tid]) + payload.ljust(64, b"!")[:64]
            segment = b"\xff\xdb" + struct.pack(">H", 2 + len(body)) + body
        else:
            symbols = payload[:255]
            body = (
                bytes([draw(st.sampled_from([0, 16])) | tid]) + b"\0" * 15 + bytes([len(symbols)]) + symbols
            )
            segment = b"\xff\xc4" + struct.pack(">H", 2 + len(body)) + body
    else:
        marker = draw(st.sampled_from([*range(0xE0, 0xF0), 0xFE, 0xF1, 0xF7, 0xDC]))
        body = draw(st.sampled_from(SIGNATURES)) + payload
        segment = bytes([0xFF, marker]) + struct.pack(">H", 2 + len(body)) + body
    at = draw(st.sampled_from(_jpeg_boundaries(jpeg)))
    return jpeg[:at] + segment + jpeg[at:]


@PROPERTY
@given(jpeg_insertions())
def test_jpeg_inserted_structures(data):
    _assert_gone(data, ".jpg")


# ---------------------------------------------------------------- PNG

PNG = png_chunks(_encoded("PNG"))
PNG_TYPES = [
    b"tEXt",
    b"zTXt",
    b"iTXt",
    b"PLTE",
    b"tRNS",
    b"bKGD",
    b"sBIT",
    b"iCCP",
    b"gAMA",
    b"cHRM",
    b"pHYs",
]
PNG_TYPES += [
    b"sRGB",
    b"cICP",
    b"mDCv",
    b"cLLi",
    b"fcTL",
    b"fdAT",
    b"acTL",
    b"IDAT",
    b"eXIf",
    b"prVt",
    b"IEND",
]


@st.composite
def png_insertions(draw) -> bytes:
    payload = draw(payloads)
    ctype = draw(st.sampled_from(PNG_TYPES))
    if ctype == b"iCCP" and draw(st.booleans()):
        payload = b"ICC profile\0\0" + zlib.compress(payload)
    at = draw(st.integers(1, len(PNG)))
    data = png_file(PNG[:at]) + chunk(ctype, payload) + b"".join(chunk(t, b) for t, b in PNG[at:])
    return data if at < len(PNG) else png_file(PNG) + chunk(ctype, payload)


@PROPERTY
@given(png_insertions())
def test_png_inserted_structures(data):
    _assert_gone(data, ".png")


# ---------------------------------------------------------------- GIF

GIF = _encoded("GIF")
GIF_APPS = [b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012", b"XMP DataXMP", b"JANEDOE4455"]


def _gif_boundaries(data: bytes) -> list[int]:
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    out = [pos]
    while data[pos] != 0x3B:
        if data[pos] == 0x21:
            pos += 2
        else:
            pos += 10 + (3 << ((data[pos + 9] & 7) + 1) if data[pos + 9] & 0x80 else 0) + 1
        while data[pos]:
            pos += 1 + data[pos]
        pos += 1
        out.append(pos)
    return out


@st.composite
def gif_insertions(draw) -> bytes:
    payload = draw(payloads)
    label = draw(st.sampled_from([0x01, 0xF9, 0xFE, 0xFF, 0x77]))
    if label == 0xFF:
        block = b"!\xff\x0b" + draw(st.sampled_from(GIF_APPS)) + sub_blocks(payload)
    elif label == 0xF9 and draw(st.booleans()):
        block = b"!\xf9\x04" + payload[:4].ljust(4, b"\0") + b"\0" + sub_blocks(payload)
    else:
        block = bytes([0x21, label]) + sub_blocks(payload)
    if draw(st.booleans()):
        return GIF + payload
    at = draw(st.sampled_from(_gif_boundaries(GIF)))
    return GIF[:at] + block + GIF[at:]


@PROPERTY
@given(gif_insertions())
def test_gif_inserted_structures(data):
    _assert_gone(data, ".gif")


# ---------------------------------------------------------------- WebP


def _webp_chunks(data: bytes) -> list[bytes]:
    out, pos = [], 12
    while pos < len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append(data[pos : pos + 8 + size + (size & 1)])
        pos += 8 + size + (size & 1)
    return out


WEBP = {"lossless": _webp_chunks(_encoded("WEBP", lossless=True))}
WEBP["extended"] = _webp_chunks(
    _encoded("WEBP", lossless=True, icc_profile=b"", exif=b"Exif\0\0II*\0" + b"\0" * 8)
)
WEBP_TYPES = [b"EXIF", b"XMP ", b"ICCP", b"ALPH", b"ANIM", b"ANMF", b"VP8L", b"VP8 ", b"VP8X", b"JANE"]


@st.composite
def webp_insertions(draw) -> bytes:
    payload = draw(payloads)
    base = WEBP[draw(st.sampled_from(sorted(WEBP)))]
    fourcc = draw(st.sampled_from(WEBP_TYPES))
    chunk = fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    at = draw(st.integers(0, len(base)))
    body = b"WEBP" + b"".join(base[:at]) + chunk + b"".join(base[at:])
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    return data + payload if draw(st.booleans()) else data


@PROPERTY
@given(webp_insertions())
def test_webp_inserted_structures(data):
    _assert_gone(data, ".webp")


def _alpha_picture():
    img = bars(32, 32, 16).convert("RGBA")
    img.putalpha(96)
    return img


def _saved(img, **save) -> list[bytes]:
    buf = io.BytesIO()
    img.save(buf, "WEBP", **save)
    return _webp_chunks(buf.getvalue())


# Files whose bitstreams can carry bytes after their end: VP8L, VP8 (its last token partition runs to the
# chunk end), and a compressed ALPH plane before a VP8.
WEBP_STREAMS = {
    "lossless": WEBP["lossless"],
    "lossy": _webp_chunks(_encoded("WEBP", quality=60)),
    "alpha": _saved(_alpha_picture(), quality=60),
    "lossless alpha": _saved(_alpha_picture(), lossless=True),
}


@st.composite
def webp_stream_slack(draw) -> bytes:
    """A payload appended inside a VP8, VP8L or ALPH chunk, after its bitstream (sizes fixed)."""
    payload = draw(payloads)
    base = WEBP_STREAMS[draw(st.sampled_from(sorted(WEBP_STREAMS)))]
    streams = [i for i, c in enumerate(base) if c[:4] in (b"VP8 ", b"VP8L", b"ALPH")]
    i = draw(st.sampled_from(streams))
    size = struct.unpack("<I", base[i][4:8])[0]
    body = base[i][8 : 8 + size] + payload
    grown = base[i][:4] + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)
    riff = b"WEBP" + b"".join(base[:i]) + grown + b"".join(base[i + 1 :])
    return b"RIFF" + struct.pack("<I", len(riff)) + riff


@PROPERTY
@given(webp_stream_slack())
def test_webp_bytes_after_a_bitstream(data):
    _assert_gone(data, ".webp")


# ---------------------------------------------------------------- TIFF

TIFF_TAGS = [269, 270, 285, 291, 301, 305, 315, 320, 330, 347, 700, 33432, 34665, 34675, 37724, 50000, 65000]


@st.composite
def tiff_insertions(draw) -> bytes:
    payload = draw(payloads)
    pixels = bytes(range(32)) * 32
    if draw(st.booleans()):  # bytes after the strip, counted in StripByteCounts
        data = grey_tiff(32, 32, pixels + payload)
        return data
    tag, typ = draw(st.sampled_from(TIFF_TAGS)), draw(st.sampled_from([1, 2, 7]))
    return grey_tiff(32, 32, pixels, ((tag, typ, payload),))


@PROPERTY
@given(tiff_insertions())
def test_tiff_inserted_structures(data):
    _assert_gone(data, ".tif")


def _literal_packbits(raw: bytes) -> bytes:
    """PackBits with every byte a literal (what a lazy encoder writes; the bytes stay readable)."""
    return b"".join(bytes((len(raw[i : i + 128]) - 1,)) + raw[i : i + 128] for i in range(0, len(raw), 128))


def _libtiff_lzw(pixels: bytes) -> bytes:
    """One 32-column grey strip of ``pixels`` coded by libtiff (Pillow)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("L", (32, len(pixels) // 32), pixels).save(buf, "TIFF", compression="tiff_lzw")
    data = buf.getvalue()
    reader = TiffReader.from_bytes(data)
    ifd = next(reader.chain())
    off, count = reader.first_value(ifd.entries, 273), reader.first_value(ifd.entries, 279)
    return data[off : off + count]


@st.composite
def coded_strip_insertions(draw) -> bytes:
    """A coded strip (Deflate stored, PackBits literals, LZW by libtiff) with the payload after its
    stream's end, or (Deflate, PackBits: the bytes stay verbatim) in rows below the declared 32."""
    payload = draw(payloads)
    compression = draw(st.sampled_from([8, 32773, 5]))
    pixels = bytes(range(32)) * 32
    hidden = compression != 5 and draw(st.booleans())
    rows = pixels + payload.ljust(-(-len(payload) // 32) * 32, b"\0") if hidden else pixels
    code = {8: lambda r: zlib.compress(r, 0), 32773: _literal_packbits, 5: _libtiff_lzw}[compression]
    stream = code(rows) + (b"" if hidden else payload)
    return grey_tiff(32, len(rows) // 32, stream, declared=32, compression=compression)


@PROPERTY
@given(coded_strip_insertions())
def test_tiff_coded_strip_insertions(data):
    assert SENT in data
    _assert_gone(data, ".tif")
