"""Hardening (issue 8): fuzzed parsers, a bad-input suite, and faults (kill -9, disk full, --in-place).

Every parser is driven through the Document API (``open_document`` -> ``scrub_metadata`` -> ``frames``
-> ``write``) on mutated copies of files that carry planted markers in every metadata place (the
builders of the format tests). The property, for any input: a project error (``DeidentError``), or an
output that re-opens, decodes, carries none of the marker bytes and has no metadata finding; never an
other exception, never a hang. The bad inputs and the faults go through the pipeline or the CLI.
"""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from deident import batch, pipeline
from deident.errors import CorruptFile, DeidentError, TooLarge, UnsupportedFormat
from deident.findings import Status
from deident.formats import gif as gif_mod
from deident.formats import jpeg as jpeg_mod
from deident.formats import png as png_mod
from deident.formats import webp as webp_mod
from deident.formats.base import Source, open_document
from deident.formats.tiff.reader import TiffReader
from deident.options import DEFAULT_MAX_PIXELS, Options
from deident.outputs import BatchRefused
from support.photos import chunk
from support.planted import COMMENT, UNKNOWN, ctx, exif_block, leaked, picture, xmp_packet
from support.runs import (
    DEIDENT,
    METADATA_ONLY,
    assert_whole_and_clean,
    batch_of,
    cli,
    final_files,
    pixel_bomb,
    running_batch,
    scrub,
    scrubbed_bytes,
    seed,
)

REPO = Path(__file__).resolve().parents[1]
PER_EXAMPLE_SECONDS = 5.0  # far above what any example takes; a hang or a quadratic blow-up trips it
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


# ---------------------------------------------------------------- seeds: files with planted metadata


@functools.cache
def fields(fmt: str) -> tuple[tuple[int, int], ...]:
    """(offset, width) of the structural length/count/type fields of the seed: where mutations hurt."""
    data = seed(fmt)
    out: list[tuple[int, int]] = []
    if fmt == "jpeg":
        out = [(s.start + 2, 2) for s in jpeg_mod.walk(data).chunks]
    elif fmt == "png":
        out = [(c.start, 4) for c in png_mod.walk(data).chunks] + [
            (c.start + 4, 4) for c in png_mod.walk(data).chunks
        ]
    elif fmt == "webp":
        out = [(4, 4)] + [(c.start + 4, 4) for c in webp_mod.walk(data).chunks]
    elif fmt == "gif":
        out = [(b.start + 2, 1) for b in gif_mod.walk(data).blocks] + [(6, 2), (8, 2), (10, 1)]
    elif fmt == "tiff":
        reader = TiffReader.from_bytes(data)
        for ifd in reader.chain():
            for i in range(len(ifd.entries)):
                at = ifd.offset + 2 + 12 * i
                out += [(at + 2, 2), (at + 4, 4), (at + 8, 4)]  # type, count, value/offset
    return tuple(out)


@st.composite
def mutated(draw, fmt: str) -> bytes:
    """The seed with 1-4 mutations: byte flips, truncation, inserted bytes or segments, bad lengths."""
    data = bytearray(seed(fmt))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(["flip", "flip", "truncate", "insert", "field", "field", "segment", "segment"])
        )
        if op == "flip":
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif op == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif op == "field":
            at, width = draw(st.sampled_from(fields(fmt)))
            value = draw(
                st.one_of(
                    st.sampled_from([0, 1, 2, 3, 4, 7, 11, 12, 16, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]),
                    st.integers(0, 2 ** (8 * width) - 1),
                )
            )
            value &= 2 ** (8 * width) - 1
            order = "big" if fmt in ("jpeg", "png") else "little"
            data[at : at + width] = value.to_bytes(width, order)
        else:  # a whole planted segment/chunk/block inserted at a structural boundary
            at = draw(st.sampled_from(fields(fmt)))[0]
            data[at:at] = _planted_unit(fmt, draw(st.integers(0, 255)))
        if not data:
            break
    if fmt == "png" and draw(st.booleans()):
        data = bytearray(_fix_png_crcs(bytes(data)))  # get past the CRC check to the chunk logic
    return bytes(data)


def _planted_unit(fmt: str, kind: int) -> bytes:
    payload = UNKNOWN + COMMENT
    if fmt == "jpeg":
        marker = [0xFE, 0xE1, 0xE2, 0xED, 0xEE, 0xE0, 0xEB, 0xC4][kind % 8]
        sig = {0xEE: b"Adobe", 0xE0: b"JFIF\0", 0xE2: b"ICC_PROFILE\0"}.get(marker, b"")
        return bytes([0xFF, marker]) + struct.pack(">H", len(sig + payload) + 2) + sig + payload
    if fmt == "png":
        ctype = [b"tEXt", b"pHYs", b"gAMA", b"prVt", b"iCCP", b"IEND", b"sRGB", b"bKGD"][kind % 8]
        return chunk(ctype, payload)
    if fmt == "webp":
        fourcc = [b"EXIF", b"XMP ", b"VP8X", b"ANIM", b"ICCP", b"MRKZ", b"ALPH", b"ANMF"][kind % 8]
        return fourcc + struct.pack("<I", len(payload)) + payload
    if fmt == "gif":
        app = [b"NETSCAPE2.0", b"ANIMEXTS1.0", b"XMP DataXMP", b"MRKAPPID1.0"][kind % 4]
        if kind % 5 == 4:
            return b"!\xf9" + bytes([len(payload)]) + payload + b"\0"  # an oversized graphic control
        return b"!\xff\x0b" + app + b"\x03\x01\0\0" + bytes([len(payload)]) + payload + b"\0"
    return payload  # TIFF: stray bytes between structures


def _fix_png_crcs(data: bytes) -> bytes:
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if pos + 12 + length > len(data):
            break
        body = data[pos + 4 : pos + 8 + length]
        out += data[pos : pos + 8 + length] + struct.pack(">I", zlib.crc32(body))
        pos += 12 + length
    return bytes(out + data[pos:])


def run_document(data: bytes, tmp: Path, name: str) -> str:
    """The property: 'refused' (a DeidentError) or 'safe' (checked); anything else fails the test."""
    path = tmp / name
    path.write_bytes(data)
    t0 = time.monotonic()
    c = ctx(max_pixels=4_000_000)
    try:
        out = scrubbed_bytes(path, c)
    except DeidentError as exc:
        assert str(exc), "a refusal must give a reason"
        return "refused"
    finally:
        assert time.monotonic() - t0 < PER_EXAMPLE_SECONDS, "parser took too long (hang?)"
    assert leaked(out) == [], "output still carries planted metadata bytes"
    written = tmp / f"out-{name}"
    written.write_bytes(out)
    again = open_document(Source(written))
    assert again.metadata_findings() == [], "the output still has metadata findings"
    for _ in again.frames(c):  # the output decodes (the input did)
        pass
    assert time.monotonic() - t0 < PER_EXAMPLE_SECONDS
    return "safe"


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif"])
def test_parsers_give_a_safe_output_or_a_clean_refusal(fmt, fuzz_dir):
    outcomes: dict[str, int] = {}

    @FUZZ
    @given(data=mutated(fmt))
    def prop(data):
        result = run_document(data, fuzz_dir, f"f.{fmt}")
        outcomes[result] = outcomes.get(result, 0) + 1

    prop()
    assert outcomes.get("refused", 0) >= 10 and outcomes.get("safe", 0) >= 10, outcomes  # both ends reached
    print(f"{fmt}: {outcomes}")


def test_tiff_rewriter_gives_a_safe_output_or_a_clean_refusal(fuzz_dir):
    """As above, with no exception: kept counts, offset types and overlaps are checked by the rewriter."""
    outcomes: dict[str, int] = {}

    @FUZZ
    @given(data=mutated("tiff"))
    def prop(data):
        result = run_document(data, fuzz_dir, "f.tif")
        outcomes[result] = outcomes.get(result, 0) + 1

    prop()
    assert outcomes.get("refused", 0) >= 10 and outcomes.get("safe", 0) >= 10, outcomes
    print(f"tiff: {outcomes}")


# ---------------------------------------------------------------- leaks and crashes found by fuzzing


def _scrub_doc(path: Path) -> bytes:
    c = ctx()
    doc = open_document(Source(path))
    doc.scrub_metadata(c)
    buf = io.BytesIO()
    doc.write(buf, c)
    return buf.getvalue()


def _png() -> bytes:
    buf = io.BytesIO()
    picture(16, 12).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "ctype, body",
    [
        (b"pHYs", b"\0\0\0\x01\0\0\0\x01\x01" + UNKNOWN),
        (b"gAMA", b"\0\0\xb1\x8f" + UNKNOWN),
        (b"IEND", UNKNOWN),
    ],
)
def test_png_kept_chunks_cannot_smuggle_bytes(tmp_path, ctype, body):
    """Found by fuzzing: a kept chunk (pHYs, gAMA, IEND) with extra bytes was copied whole."""
    data = _png()
    at = 33 if ctype != b"IEND" else data.index(b"IEND") - 4
    path = tmp_path / "s.png"
    path.write_bytes(data[:at] + chunk(ctype, body) + data[at + (12 if ctype == b"IEND" else 0) :])
    assert open_document(Source(path)).metadata_findings()  # reported ...
    out = _scrub_doc(path)
    assert UNKNOWN not in out  # ... and not copied
    assert Image.open(io.BytesIO(out)).size == (16, 12)
    (tmp_path / "o.png").write_bytes(out)
    assert open_document(Source(tmp_path / "o.png")).metadata_findings() == []


def test_png_short_header_is_refused(tmp_path):
    """Found by fuzzing: a 6-byte IHDR gave struct.error from frames() instead of CorruptFile."""
    data = _png()
    path = tmp_path / "h.png"
    path.write_bytes(data[:8] + chunk(b"IHDR", data[16:22]) + data[33:])
    with pytest.raises(CorruptFile, match="IHDR"):
        open_document(Source(path))


def test_png_compressed_text_bomb_is_read_bounded(tmp_path):
    """A 50 kB zTXt inflating to 50 MB: the deny-list reads at most MAX_TEXT bytes of it."""
    import tracemalloc

    data = _png()
    bomb = chunk(b"zTXt", b"Author\0\0" + zlib.compress(b"A" * 50_000_000, 9))
    path = tmp_path / "b.png"
    path.write_bytes(data[:33] + bomb + data[33:])
    doc = open_document(Source(path))
    tracemalloc.start()
    doc.identifiers()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * png_mod.MAX_TEXT
    assert b"Author" not in _scrub_doc(path)


def test_huge_xmp_packet_is_linear_time(tmp_path):
    """Found by review: the XMP value regex rescanned the packet per opening tag (480 kB took 60 s)."""
    xmp = b"<dc:creator>" * 40_000 + b"<tiff:Artist>MRK-ARTIST-late</tiff:Artist>" + b"<dc:creator " * 40_000
    data = _png()
    path = tmp_path / "x.png"
    path.write_bytes(data[:33] + chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp) + data[33:])
    t0 = time.monotonic()
    ids = open_document(Source(path)).identifiers()
    assert time.monotonic() - t0 < 2.0
    assert "MRK-ARTIST-late" in ids


@pytest.mark.parametrize(
    "extension",
    [
        b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0" + bytes([len(UNKNOWN)]) + UNKNOWN + b"\0",  # extra sub-block
        b"!\xff" + bytes([14 + len(UNKNOWN)]) + b"NETSCAPE2.0\x01\0\0" + UNKNOWN + b"\0",  # long id block
        b"!\xf9" + bytes([len(UNKNOWN)]) + UNKNOWN + b"\0",  # oversized graphic control block
        b"!\xff\x0bICCRGBG1012" + bytes([len(xmp_packet()[:255])]) + xmp_packet()[:255] + b"\0",  # not an ICC
    ],
)
def test_gif_kept_extensions_cannot_smuggle_bytes(tmp_path, extension):
    buf = io.BytesIO()
    picture(16, 12).convert("P").save(buf, "GIF")
    data = buf.getvalue()
    at = data.index(b",")
    path = tmp_path / "s.gif"
    path.write_bytes(data[:at] + extension + data[at:])
    out = _scrub_doc(path)
    assert UNKNOWN not in out and leaked(out) == []
    assert Image.open(io.BytesIO(out)).size == (16, 12)
    (tmp_path / "o.gif").write_bytes(out)
    assert open_document(Source(tmp_path / "o.gif")).metadata_findings() == []


@pytest.mark.parametrize("where", ["vp8x", "anim-frame"])
def test_webp_kept_chunks_cannot_smuggle_bytes(tmp_path, where):
    if where == "vp8x":
        buf = io.BytesIO()
        picture(16, 12).save(buf, "WEBP", lossless=True, exif=b"Exif\0\0" + exif_block(1))
        data = buf.getvalue()
        at = data.index(b"VP8X")
        body = data[at + 8 : at + 18] + UNKNOWN
        body += b"\0" * (len(body) & 1)
        data = data[:at] + b"VP8X" + struct.pack("<I", len(body)) + body + data[at + 18 :]
    else:
        frames = [picture(16, 12, seed=i) for i in range(2)]
        buf = io.BytesIO()
        frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
        data = buf.getvalue()
        at = data.index(b"ANMF")
        size = struct.unpack("<I", data[at + 4 : at + 8])[0]
        extra = b"MRKZ" + struct.pack("<I", len(UNKNOWN)) + UNKNOWN + b"\0" * (len(UNKNOWN) & 1)
        anmf = b"ANMF" + struct.pack("<I", size + len(extra)) + data[at + 8 : at + 8 + size] + extra
        data = data[:at] + anmf + data[at + 8 + size + (size & 1) :]
    data = b"RIFF" + struct.pack("<I", len(data) - 8) + data[8:]
    path = tmp_path / "s.webp"
    path.write_bytes(data)
    assert open_document(Source(path)).metadata_findings()
    out = _scrub_doc(path)
    assert UNKNOWN not in out
    img = Image.open(io.BytesIO(out))
    assert img.size == (16, 12) and getattr(img, "n_frames", 1) == (2 if where != "vp8x" else 1)
    (tmp_path / "o.webp").write_bytes(out)
    assert open_document(Source(tmp_path / "o.webp")).metadata_findings() == []


def _tiff_with(tmp_path: Path, patch) -> Path:
    """The planted TIFF seed with ``patch(bytearray, reader)`` applied."""
    data = bytearray(seed("tiff"))
    patch(data, TiffReader.from_bytes(bytes(data)))
    path = tmp_path / "p.tif"
    path.write_bytes(bytes(data))
    return path


def _entry_at(reader: TiffReader, page: int, tag: int) -> int:
    ifd = list(reader.chain())[page]
    return ifd.offset + 2 + 12 * sorted(ifd.entries).index(tag)


def test_tiff_kept_tag_with_inflated_count_is_refused(tmp_path):
    """Found by fuzzing: YResolution with count 40 copied 320 bytes from its offset (the dropped DateTime
    among them) into the output. A kept tag must have its standard form."""

    def patch(data, reader):
        at = _entry_at(reader, 0, 283)  # YResolution, one RATIONAL
        data[at + 4 : at + 8] = struct.pack("<I", 40)

    with pytest.raises(CorruptFile, match="YResolution has 40 values"):
        _scrub_doc(_tiff_with(tmp_path, patch))


@pytest.mark.parametrize("onto", [306, 282])
def test_tiff_kept_value_may_share_bytes_with_kept_data_only(tmp_path, onto):
    """YResolution (standard count) pointed at DateTime's value is refused (its 8 bytes are "2019:04:");
    pointed at XResolution's it is not a leak: writers share identical values and tiles."""

    def patch(data, reader):
        at = _entry_at(reader, 0, 283)
        data[at + 8 : at + 12] = struct.pack("<I", next(reader.chain()).entries[onto].offset)

    path = _tiff_with(tmp_path, patch)
    if onto == 306:
        with pytest.raises(CorruptFile, match="overlaps an IFD or a dropped value"):
            _scrub_doc(path)
    else:
        out = _scrub_doc(path)
        assert leaked(out) == [] and Image.open(io.BytesIO(out)).size == (64, 48)


@pytest.mark.parametrize("target", ["artist", "ifd", "exif"])
def test_tiff_strip_spanning_a_dropped_value_or_an_ifd_is_refused(tmp_path, target):
    """Found by fuzzing: a strip spanning a dropped value (Artist) or an IFD was copied as image data."""

    def patch(data, reader):
        ifds = list(reader.chain())
        entries = ifds[0].entries
        strip_at = entries[273].offset  # three LONG strip offsets, out of line
        if target == "exif":  # an EXIF IFD written over the first strip's bytes, page 0 pointing to it
            begin = reader.values(entries[273])[0]
            data[begin : begin + 18] = struct.pack("<HHHI4sI", 1, 0x9003, 2, 4, b"MRK\0", 0)
            at = _entry_at(reader, 0, 65000)  # the private tag's entry becomes the ExifIFD pointer
            data[at : at + 12] = struct.pack("<HHII", 34665, 4, 1, begin)
            return
        begin = entries[315].offset if target == "artist" else ifds[1].offset
        data[strip_at : strip_at + 4] = struct.pack("<I", begin)
        assert begin + reader.values(entries[279])[0] <= len(data)

    with pytest.raises(CorruptFile, match="overlaps an IFD or a dropped value"):
        _scrub_doc(_tiff_with(tmp_path, patch))


def test_tiff_float_strip_offsets_are_refused(tmp_path):
    """Found by fuzzing: FLOAT StripOffsets reached file.seek() as floats (TypeError)."""

    def patch(data, reader):
        at = _entry_at(reader, 2, 273)  # page 3: one strip, offset inline
        data[at + 2 : at + 4] = struct.pack("<H", 11)  # FLOAT

    with pytest.raises(CorruptFile, match="StripOffsets has field type 11"):
        _scrub_doc(_tiff_with(tmp_path, patch))


def test_tiff_empty_compression_is_refused(tmp_path):
    """Found by fuzzing: Compression with count 0 gave IndexError in _layout."""

    def patch(data, reader):
        at = _entry_at(reader, 0, 259)
        data[at + 4 : at + 8] = b"\0\0\0\0"

    with pytest.raises(CorruptFile, match="Compression has 0 values"):
        _scrub_doc(_tiff_with(tmp_path, patch))


def test_pillow_overflow_on_a_fuzzed_tiff_is_a_clean_refusal(tmp_path):
    """Found by fuzzing: TileWidth 0xFFFFFFFF made Pillow's decoder raise OverflowError."""

    def patch(data, reader):
        at = _entry_at(reader, 1, 322)  # page 2 is tiled; TileWidth LONG inline
        data[at + 8 : at + 12] = b"\xff\xff\xff\x7f"

    path = _tiff_with(tmp_path, patch)
    with pytest.raises(DeidentError):  # at open (the tiles cannot hold the page) or when decoding
        for _ in open_document(Source(path)).frames(ctx()):
            pass


# ---------------------------------------------------------------- the bad-input suite (pipeline level)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif", "tiff"])
def test_empty_and_truncated_files_fail_with_a_reason_and_write_nothing(tmp_path, fmt):
    src = tmp_path / "in"
    src.mkdir()
    good = seed(fmt)
    (src / f"empty.{fmt}").write_bytes(b"")
    for n, cut in enumerate((4, len(good) // 3, len(good) // 2)):  # inside the structure, not a trailer
        (src / f"cut{n}.{fmt}").write_bytes(good[:cut])
    results = scrub([src], tmp_path / "out")
    assert len(results) == 4
    assert all(r.status is Status.FAILED and r.reason for r in results), [
        (r.status, r.reason) for r in results
    ]
    assert not any("internal error" in r.reason for r in results)
    assert final_files(tmp_path / "out") == []


def test_wrong_extension_goes_by_content(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "photo.jpg").write_bytes(seed("png"))  # a PNG named .jpg
    (src / "notes.png").write_bytes(b"Patient MRK-NOTES, bed 12\n" * 40)  # text named .png
    (src / "scan.dcm").write_bytes(seed("gif"))
    res = {Path(r.input).name: r for r in scrub([src], tmp_path / "out")}
    assert res["photo.jpg"].status is Status.SAFE and res["photo.jpg"].format == "png"
    assert leaked((tmp_path / "out" / "photo.jpg").read_bytes()) == []
    assert res["scan.dcm"].status is Status.SAFE and res["scan.dcm"].format == "gif"
    assert res["notes.png"].status is Status.FAILED and "not a supported" in res["notes.png"].reason
    assert not (tmp_path / "out" / "notes.png").exists()


def test_corrupt_crc_fails_the_file_and_the_batch_goes_on(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    data = bytearray(seed("png"))
    data[data.index(b"IDAT") + 8] ^= 0xFF
    (src / "bad.png").write_bytes(bytes(data))
    (src / "good.png").write_bytes(seed("png"))
    res = {Path(r.input).name: r for r in scrub([src], tmp_path / "out")}
    assert res["bad.png"].status is Status.FAILED and "CRC" in res["bad.png"].reason
    assert res["good.png"].status is Status.SAFE
    proc = cli("scrub", str(src), "-o", str(tmp_path / "out2"), "--text", "off", "--faces", "off")
    assert proc.returncode == 1, proc.stderr  # some failed
    assert [p.name for p in final_files(tmp_path / "out2")] == ["good.png"]


def _past_the_end(fmt: str) -> bytes:
    data = bytearray(seed(fmt))
    if fmt == "jpeg":
        data[4:6] = b"\xff\xff"  # first segment's length runs past the end
        return bytes(data[:2000])
    if fmt == "png":
        data[8:12] = struct.pack(">I", 0x7FFFFFF0)
        return bytes(data)
    if fmt == "webp":
        data[16:20] = struct.pack("<I", 0x7FFFFFF0)
        return bytes(data)
    if fmt == "gif":
        at = data.index(b",")
        return bytes(data[: at + 11]) + b"\x08\xff" + b"\x01" * 50  # a 255-byte sub-block, 50 bytes there
    data[4:8] = struct.pack("<I", len(data) + 1000)  # TIFF: first IFD past the end
    return bytes(data)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif", "tiff"])
def test_lengths_past_the_end_are_refused(tmp_path, fmt):
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(_past_the_end(fmt))
    (result,) = scrub([path], tmp_path / "out")
    assert result.status is Status.FAILED
    assert "internal error" not in result.reason and result.reason
    assert final_files(tmp_path / "out") == []


@pytest.mark.parametrize("fmt", ["png", "jpeg", "gif", "webp"])
def test_decompression_bombs_are_refused_below_the_adjustable_limit(tmp_path, fmt):
    path = tmp_path / f"bomb.{fmt}"
    path.write_bytes(pixel_bomb(fmt, 60_000))  # 3.6 gigapixels claimed
    doc = open_document(Source(path))
    t0 = time.monotonic()
    with pytest.raises(TooLarge, match="max-pixels"):
        next(iter(doc.frames(ctx())))  # default limit
    assert time.monotonic() - t0 < 1.0  # refused from the header, nothing decoded
    assert doc.check_size(ctx(max_pixels=2**40)).pixels >= 60_000**2 * 0.99  # the limit is a knob
    assert DEFAULT_MAX_PIXELS == 250_000_000


def test_max_pixels_is_a_documented_cli_option():
    proc = cli("scrub", "--help")
    assert b"--max-pixels" in proc.stdout and b"decompression" in proc.stdout
    assert "--max-pixels" in (REPO / "docs" / "formats.md").read_text()


def test_huge_exif_blocks_are_dropped_whole_and_quickly(tmp_path):
    """A 64 kB EXIF segment of 5,000 entries in JPEG, a 4 MB eXIf chunk in PNG: removed, in time."""
    entries = 5000  # over MAX_ENTRIES: the block is unreadable, so it is dropped as one item
    ifd = struct.pack("<H", entries) + b"".join(
        struct.pack("<HHI4s", 0x9000 + i % 100, 2, 4, b"MRK\0") for i in range(entries)
    )
    exif = b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0"
    jpeg = seed("jpeg")
    seg = b"\xff\xe1" + struct.pack(">H", len(exif) // 2 + 8) + b"Exif\0\0" + exif[: len(exif) // 2]
    big_png = _png()
    big_png = big_png[:33] + chunk(b"eXIf", exif_block(1) + b"MRK-HUGE" * 500_000) + big_png[33:]
    for name, data in (("e.jpg", jpeg[:2] + seg + jpeg[2:]), ("e.png", big_png)):
        path = tmp_path / name
        path.write_bytes(data)
        t0 = time.monotonic()
        found = open_document(Source(path)).metadata_findings()
        out = _scrub_doc(path)
        assert time.monotonic() - t0 < 3.0
        assert any(f.kind.startswith("exif") for f in found)
        assert b"MRK" not in out.replace(b"MRK-", b"") or leaked(out) == []
        assert b"MRK-HUGE" not in out and b"MRK\0" not in out


def test_dicom_truncated_or_without_meta_header(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from support.dicom import LEAK_STRINGS, planted_file

    planted = planted_file(tmp_path, "CT_small.dcm")
    ds = pydicom.dcmread(planted, force=True)
    src = tmp_path / "in"
    src.mkdir()
    whole = planted.read_bytes()
    for n, cut in enumerate((10, 140, 400, len(whole) // 2, len(whole) - 7)):
        (src / f"cut{n}.dcm").write_bytes(whole[:cut])
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    bare = io.BytesIO()
    ds.preamble = None
    ds.save_as(bare, enforce_file_format=False, implicit_vr=False, little_endian=True)
    (src / "nometa.dcm").write_bytes(bare.getvalue())
    # Implicit VR, as legacy archives write it (pydicom's OT-PAL-8-face.dcm): its first element's length is
    # four little-endian bytes, not two letters.
    bare = io.BytesIO()
    ds.save_as(bare, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert bare.getvalue()[4:6] != b"UL"
    (src / "nometa_implicit.dcm").write_bytes(bare.getvalue())
    results = {Path(r.input).name: r for r in scrub([src], tmp_path / "out")}
    for name in ("nometa.dcm", "nometa_implicit.dcm"):
        assert results[name].status is Status.SAFE, results[name].reason
        out = (tmp_path / "out" / name).read_bytes()
        assert out[128:132] == b"DICM"
        assert not [s for s in LEAK_STRINGS if s.encode() in out]
        assert pydicom.dcmread(io.BytesIO(out)).SOPInstanceUID != ds.SOPInstanceUID
    for n in range(5):
        r = results[f"cut{n}.dcm"]
        assert r.status in (Status.FAILED, Status.SAFE) and "internal error" not in r.reason, r.reason
        if r.status is Status.SAFE:  # a cut inside the pixel data may still parse: then it must be clean
            assert not [s for s in LEAK_STRINGS if s.encode() in Path(r.output).read_bytes()]
    assert results["cut0.dcm"].status is Status.FAILED and results["cut1.dcm"].status is Status.FAILED


def test_symlink_loops_named_on_the_command_line_fail_cleanly(tmp_path):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    (tmp_path / "self.jpg").symlink_to(tmp_path / "self.jpg")
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "up").symlink_to(folder)
    (folder / "x.jpg").write_bytes(seed("jpeg"))
    t0 = time.monotonic()
    results = scrub([tmp_path / "a.jpg", tmp_path / "self.jpg", folder], tmp_path / "out")
    assert time.monotonic() - t0 < 10
    by_name = {Path(r.input).name: r for r in results}
    for name in ("a.jpg", "self.jpg"):
        assert by_name[name].status is Status.FAILED and "symbolic links" in by_name[name].reason
    assert by_name["x.jpg"].status is Status.SAFE  # the loop is not followed, only named
    assert by_name["up"].status is Status.SKIPPED and "not followed" in by_name["up"].reason


def test_unreadable_files_fail_and_the_batch_goes_on(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    (src / "locked.jpg").write_bytes(seed("jpeg"))
    (src / "open.jpg").write_bytes(seed("jpeg"))
    if os.geteuid() != 0:
        (src / "locked.jpg").chmod(0)
    else:  # root reads through mode 000: refuse the read the way the kernel would
        real_open = open

        def guarded(file, *a, **kw):
            if Path(_name_of(file)).name == "locked.jpg":
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *a, **kw)

        monkeypatch.setattr("builtins.open", guarded)
        monkeypatch.setattr(Path, "read_bytes", lambda self: guarded(self, "rb").read())
    res = {Path(r.input).name: r for r in scrub([src], tmp_path / "out")}
    assert res["locked.jpg"].status is Status.FAILED and "Permission denied" in res["locked.jpg"].reason
    assert res["open.jpg"].status is Status.SAFE
    assert [p.name for p in final_files(tmp_path / "out")] == ["open.jpg"]


def test_read_only_output_folder(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(seed("jpeg"))
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:  # root writes through mode 555: refuse creating files there as the kernel would
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*a, dir=None, **kw):
            if dir is not None and Path(dir).resolve() == out.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real_mkstemp(*a, dir=dir, **kw)

        monkeypatch.setattr("deident.atomic.tempfile.mkstemp", mkstemp)
    opened = []
    monkeypatch.setattr(pipeline, "open_document", lambda *a: opened.append(a) or open_document(*a))
    with pytest.raises(BatchRefused, match="not writable: Permission denied"):
        scrub([src], out)
    assert opened == []  # found before any file went through the stages, not after
    assert list(out.iterdir()) == []


def test_an_output_folder_that_cannot_exist_stops_the_run_before_the_work(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(seed("jpeg"))
    (tmp_path / "file").write_bytes(b"a file, not a folder")
    proc = cli("scrub", str(src), "-o", str(tmp_path / "file" / "out"), "--text", "off", "--faces", "off")
    assert proc.returncode == 2 and b"is not a folder" in proc.stderr
    assert b"Nothing was written" in proc.stderr


class _FailingFile:
    """A file whose writes put half the bytes out, then fail as a full (or broken) device does."""

    def __init__(self, fh, err: int):
        self.fh, self.err = fh, err

    def write(self, data) -> int:
        self.fh.write(bytes(data[: max(1, len(data) // 2)]))
        raise OSError(self.err, os.strerror(self.err))

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def _name_of(file) -> str:
    """The path ``open`` was given, or the one behind a descriptor (deident writes through held ones)."""
    return os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else os.fsdecode(file)


def failing_writes(monkeypatch, err: int = errno.ENOSPC) -> None:
    """Every write to a deident temporary file fails with ``err`` (whatever code path writes it)."""
    real_open = open

    def fake(file, mode="r", *a, **kw):
        fh = real_open(file, mode, *a, **kw)
        if any(c in mode for c in "wa+") and ".deid-tmp-" in _name_of(file):
            return _FailingFile(fh, err)
        return fh

    monkeypatch.setattr("builtins.open", fake)


def test_disk_full_on_write_leaves_nothing(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(seed("jpeg"))

    failing_writes(monkeypatch, errno.ENOSPC)
    (result,) = scrub([src], tmp_path / "out")
    assert result.status is Status.FAILED and "No space left" in result.reason
    assert str(tmp_path / "out" / "a.jpg") in result.reason and str(src) not in result.reason  # the output
    assert list((tmp_path / "out").iterdir()) == []  # neither a final file nor a temporary one


def test_disk_full_on_a_real_tiny_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        src = tmp_path / "in"
        src.mkdir()
        for i in range(12):  # ~24 kB each once scrubbed: the first two fit, the rest do not
            img = Image.effect_noise((160, 120), 90).convert("RGB")
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=95, exif=b"Exif\0\0" + exif_block(1))
            (src / f"{i:02d}.jpg").write_bytes(buf.getvalue())
        results = scrub([src], mnt / "out")
        failed = [r for r in results if r.status is Status.FAILED]
        assert failed and all("No space left" in r.reason for r in failed), [r.reason for r in failed]
        assert all(str(mnt / "out") in r.reason for r in failed)  # the full place is named, not the input
        for r in results:
            if r.status is Status.SAFE:  # what was written is whole and clean
                assert open_document(Source(Path(r.output))).metadata_findings() == []
        assert not [p for p in (mnt / "out").iterdir() if ".deid-tmp-" in p.name]
        assert len(final_files(mnt / "out")) == len(results) - len(failed)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_non_utf8_file_names(tmp_path):
    src = os.fsencode(tmp_path / "in")
    os.mkdir(src)
    name = b"caf\xe9-\xff\xfe.jpg"  # Latin-1 and invalid UTF-8 bytes
    with open(os.path.join(src, name), "wb") as fh:
        fh.write(seed("jpeg"))
    out = tmp_path / "out"
    proc = cli("scrub", os.fsdecode(src), "-o", str(out), "--text", "off", "--faces", "off", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.decode("utf-8", "surrogateescape"))
    assert report["files"][0]["status"] == "safe"
    written = os.path.join(os.fsencode(out), name)
    assert os.path.exists(written)
    with open(written, "rb") as fh:
        assert leaked(fh.read()) == []
    check = cli("check", os.fsdecode(written), "--fast")
    assert check.returncode == 0, check.stdout[-2000:]


def test_rename_mapping_keeps_a_non_utf8_name_as_its_bytes(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    name = os.fsdecode(b"caf\xe9-\xff.jpg")
    (src / name).write_bytes(seed("jpeg"))
    out = tmp_path / "out"
    for _ in range(2):  # the second run reads the mapping back and merges it
        (result,) = scrub([src], out, rename=True)
        assert result.status is Status.SAFE, result.reason
    mapping = (tmp_path / "out-mapping.csv").read_bytes()
    assert os.fsencode(src / name) in mapping and mapping.count(b"\n") == 2


# ---------------------------------------------------------------- faults: kill -9, resume, in-place


def _killed_batch(tmp_path: Path, n: int) -> tuple[Path, Path, tuple]:
    """A batch of ``n`` JPEGs scrubbed by the CLI, SIGKILLed with its workers once 100 files are out.

    Returns (input folder, output folder, the scrub arguments, for a rerun)."""
    src, out = tmp_path / "in", tmp_path / "out"
    batch_of(src, n)
    args = ("scrub", str(src), "-o", str(out), "--text", "off", "--faces", "off", "-j", "2", "--json")
    env = dict(os.environ, DEIDENT_KEY="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
    proc = running_batch(
        [DEIDENT, *args], out, 100, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers, mid-write
    proc.wait()
    return src, out, args


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_no_partial_file_and_resume_completes(tmp_path):
    n = 3000
    _, out, args = _killed_batch(tmp_path, n)
    done = assert_whole_and_clean(out)
    assert 0 < done < n
    rerun = cli(*args, "--resume", timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    statuses = [f["status"] for f in json.loads(rerun.stdout)["files"]]
    assert statuses.count("skipped") == done and statuses.count("safe") == n - done
    assert assert_whole_and_clean(out) == n


@pytest.mark.slow
def test_rerun_removes_the_stale_temporaries_of_a_killed_run_and_nothing_else(tmp_path):
    import fcntl

    from deident.atomic import LOCK_GRACE

    n = 600
    src, out, args = _killed_batch(tmp_path, n)
    left_by_kill = {p.name for p in out.iterdir() if ".deid-tmp-" in p.name}
    x, y, z = [p.name for p in sorted(src.iterdir()) if not (out / p.name).exists()][-3:]
    (out / f".{x}.deid-tmp-abcdefgh").write_bytes(b"partial")  # stale: removed, whatever the kill left
    keep = [f".{x}.deid-tmp-abc", f".{x}.deid-tmp-ABCDEFGH", f"{x}.deid-tmp-abcdefgh"]  # not the pattern
    keep += [".other.jpg.deid-tmp-abcdefgh", f".{y}.deid-tmp-lockedzz", f".{z}.deid-tmp-symlinkz"]
    for name in keep[:-1]:
        (out / name).write_bytes(b"not ours to remove")
    (out / keep[-1]).symlink_to(src / z)  # not a regular file
    old = time.time() - LOCK_GRACE - 50  # as if the rerun came a minute after the kill
    for p in out.iterdir():
        if ".deid-tmp-" in p.name:
            os.utime(p, (old, old), follow_symlinks=False)
    held = os.open(out / f".{y}.deid-tmp-lockedzz", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # a live owner, as a run still writing it would be
    try:
        rerun = cli(*args, "--resume", timeout=300)
    finally:
        os.close(held)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir() if ".deid-tmp-" in p.name) == sorted(keep), left_by_kill
    assert assert_whole_and_clean(out) == n


def test_commit_reports_the_stale_temporaries_it_removed(tmp_path):
    from deident import atomic

    final = tmp_path / "a.jpg"
    stale, fresh = tmp_path / ".a.jpg.deid-tmp-k1lled00", tmp_path / ".a.jpg.deid-tmp-fresh000"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written by a run that has not locked it yet")
    old = time.time() - atomic.STALE_AFTER
    os.utime(stale, (old, old))
    staged = atomic.stage(final)
    atomic._listings.clear()  # this process may have listed tmp_path under another test's name
    staged.temp.write_bytes(b"done")
    assert atomic.commit([staged]) == [None]
    assert final.read_bytes() == b"done" and not stale.exists() and fresh.exists()
    finding = atomic.stale_finding(staged)
    assert finding is not None and finding.kind == "output.stale-temp" and finding.action.value == "removed"
    assert finding.detail == "1 unfinished temporary file of this output from an interrupted run"
    assert atomic.stale_finding(atomic.Staged(final, final)) is None


def _staged_group(tmp_path, n=3):
    from deident import atomic

    group = [atomic.stage(tmp_path / f"{i}.jpg") for i in range(n)]
    for i, s in enumerate(group):
        os.write(s.fd, b"whole output %d" % i)
    return group


def test_no_final_name_appears_before_its_data_was_flushed(tmp_path, monkeypatch):
    """Observed, not restated: at every rename, the file being renamed was fsync'd whole before."""
    from deident import atomic

    flushed: dict[tuple[int, int], bytes] = {}  # (device, inode) -> the bytes on disk when fsync returned
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        real_fsync(fd)
        st = os.fstat(fd)
        flushed[(st.st_dev, st.st_ino)] = os.pread(fd, st.st_size, 0)

    renamed: list[tuple[bool, bytes]] = []

    def replace(a, b):
        st = os.stat(a)
        renamed.append(((st.st_dev, st.st_ino) in flushed, flushed.get((st.st_dev, st.st_ino), b"")))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    for n in (1, 3, 9):  # one file, a group, more than the flush pool's threads
        folder = tmp_path / str(n)
        folder.mkdir()
        renamed.clear()
        assert atomic.commit(_staged_group(folder, n)) == [None] * n
        assert renamed == [(True, b"whole output %d" % i) for i in range(n)]
        assert [(folder / f"{i}.jpg").read_bytes() for i in range(n)] == [
            b"whole output %d" % i for i in range(n)
        ]


def test_a_file_whose_flush_fails_never_reaches_its_final_name(tmp_path, monkeypatch):
    from deident import atomic

    group = _staged_group(tmp_path, 3)
    bad = os.fstat(group[1].fd).st_ino
    real_fsync = os.fsync

    def fsync(fd):
        if os.fstat(fd).st_ino == bad:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    errors = atomic.commit(group)
    assert errors[0] is None and errors[2] is None and errors[1].errno == errno.EIO
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.jpg", "2.jpg"]  # no temporary left either


def test_new_outputs_take_the_umask_and_reading_it_changes_nothing(tmp_path):
    """The umask is read without being set (a thread creating files meanwhile must not see 0)."""
    code = (
        "import os; os.umask(0o027); from deident import atomic; "
        "m = os.umask(0o027); print(oct(atomic._UMASK), oct(m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0o27", "0o27"]


def test_rerun_without_resume_rewrites_and_with_resume_skips(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    batch_of(src, 3)
    first = scrub([src], out)
    assert [r.status for r in first] == [Status.SAFE] * 3
    again = scrub([src], out, resume=True)
    assert [r.status for r in again] == [Status.SKIPPED] * 3
    os.utime(src / "00001.jpg", (time.time() + 10, time.time() + 10))  # the input changed since
    third = scrub([src], out, resume=True)
    assert [r.status for r in third] == [Status.SKIPPED, Status.SAFE, Status.SKIPPED]


def test_in_place_never_loses_the_original_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "a.jpg"
    original = seed("jpeg")
    path.write_bytes(original)

    with monkeypatch.context() as m:
        failing_writes(m, errno.EIO)
        (result,) = batch.scrub_paths([path], Options(in_place=True, **METADATA_ONLY))
    assert result.status is Status.FAILED and "Input/output error" in result.reason
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["a.jpg"]  # no temporary file left either
    with monkeypatch.context() as m:
        failing_writes(m, errno.ENOSPC)
        (result,) = batch.scrub_paths([path], Options(in_place=True, **METADATA_ONLY))
    assert result.status is Status.FAILED and path.read_bytes() == original
    (result,) = batch.scrub_paths([path], Options(in_place=True, **METADATA_ONLY))
    assert result.status is Status.SAFE and leaked(path.read_bytes()) == []


def test_unsupported_and_refused_inputs_never_become_outputs(tmp_path):
    """The CLI's exit code and files for a mixed batch: 1, and only the safe files written."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "ok.gif").write_bytes(seed("gif"))
    (src / "empty.jpg").write_bytes(b"")
    (src / "bomb.png").write_bytes(pixel_bomb("png", 60_000))
    (src / "junk.webp").write_bytes(os.urandom(500))
    out = tmp_path / "out"
    proc = cli("scrub", str(src), "-o", str(out), "--text", "off", "--faces", "off", "--json")
    assert proc.returncode == 1
    files = {Path(f["input"]).name: f for f in json.loads(proc.stdout)["files"]}
    assert files["ok.gif"]["status"] == "safe" and files["empty.jpg"]["status"] == "failed"
    assert files["junk.webp"]["status"] == "failed"
    # Metadata only too: a header declaring more than --max-pixels is refused, decoded or not.
    assert files["bomb.png"]["status"] == "failed" and "--max-pixels" in files["bomb.png"]["reason"]
    assert sorted(p.name for p in final_files(out)) == ["ok.gif"]


def test_unsupported_format_error_type():
    with pytest.raises(UnsupportedFormat):
        open_document(Source(Path(__file__)))


def test_json_report_is_valid_utf8_with_non_utf8_names(tmp_path):
    """A file name that is not UTF-8 appears with \\xNN escapes in --json, --report and the table."""
    src = os.fsencode(tmp_path / "in")
    os.mkdir(src)
    with open(os.path.join(src, b"caf\xe9 [bold].jpg"), "wb") as fh:
        fh.write(seed("jpeg"))
    report = tmp_path / "report.json"
    args = ("scrub", os.fsdecode(src), "--text", "off", "--faces", "off")
    proc = cli(*args, "-o", str(tmp_path / "out"), "--json", "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-2000:]
    for doc in (json.loads(proc.stdout.decode("utf-8")), json.loads(report.read_bytes().decode("utf-8"))):
        (entry,) = doc["files"]
        assert entry["status"] == "safe" and entry["input"].endswith("/caf\\xe9 [bold].jpg")
        assert entry["output"] == str(tmp_path / "out" / "caf\\xe9 [bold].jpg")
    table = cli(*args, "-o", str(tmp_path / "out2"))
    assert table.returncode == 0, table.stderr[-2000:]
    assert "caf\\xe9 [bold].jpg" in table.stdout.decode("utf-8")


def _typed(fmt: str, code: bytes, whole: bool) -> bytes:
    """A file of ``fmt`` with a chunk or box of type ``code`` added: ``whole`` or running past the end."""
    if fmt == "heic":
        from support.photos import heic_bytes

        base, header = heic_bytes(loaded=False), struct.pack(">I4s", 24 if whole else 4096, code)
        return base + header + bytes(16)
    buf = io.BytesIO()
    picture(32, 16).save(buf, fmt.upper(), **({"lossless": True} if fmt == "webp" else {}))
    base = buf.getvalue()
    if fmt == "png":
        body = chunk(code, bytes(8))
        at = base.index(b"IDAT") - 4
        return base[:at] + (body if whole else body[:-4] + b"\0\0\0\0") + base[at:]  # bad CRC: refused
    size = 8 if whole else 4096
    riff = base[12:] + code + struct.pack("<I", size) + bytes(8)
    return b"RIFF" + struct.pack("<I", 4 + len(riff)) + b"WEBP" + riff


@pytest.mark.parametrize("fmt", ["png", "webp", "heic"])
def test_reports_never_quote_a_type_the_file_chose(tmp_path, fmt):
    """A chunk or box type is four bytes of the file's choosing: an unknown one is named "unknown", in a
    finding and in a refusal, never by its letters (findings never carry values)."""
    code = b"smIT" if fmt == "png" else b"SMIT"
    for whole in (True, False):
        path = tmp_path / f"t{whole}.{fmt}"
        path.write_bytes(_typed(fmt, code, whole))
        assert code in path.read_bytes()
        try:
            said = " ".join(
                f"{f.kind} {f.where} {f.detail}" for f in open_document(Source(path)).metadata_findings()
            )
            assert whole and "unknown" in said
        except CorruptFile as exc:
            said = str(exc)
            assert not whole and "unknown" in said
        assert code.decode() not in said and code.decode().lower() not in said.lower()
