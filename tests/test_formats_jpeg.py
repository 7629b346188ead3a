"""JPEG: every identifying segment goes, entropy-coded data and decoded pixels stay identical."""

from __future__ import annotations

import importlib.util
import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from deident.errors import CorruptFile
from deident.findings import Action
from deident.formats.base import Source, open_document
from deident.formats.jpeg import walk
from support.photos import loaded_jpeg, segment
from support.planted import (
    ARTIST,
    COMMENT,
    DATE,
    IPTC_BYLINE,
    OWNER,
    SERIAL,
    THUMB_MARK,
    UNKNOWN,
    XMP_CREATOR,
    assert_same_pixels,
    ctx,
    exif_block,
    filled_bytes,
    leaked,
    picture,
    reopen_findings,
    scrub_bytes,
)


def test_scrub_removes_every_identifying_segment_and_keeps_pixels(tmp_path):
    path, original = loaded_jpeg(tmp_path)
    doc = open_document(Source(path))
    kinds = {f.kind for f in doc.metadata_findings()}
    expected = {"exif.owner", "exif.serial", "exif.datetime", "exif.gps", "exif.thumbnail", "exif.text"}
    expected |= {"xmp", "iptc", "jpeg.com", "jpeg.app11", "jpeg.app5", "jpeg.mpf", "trailer"}
    assert expected <= kinds
    out, findings = scrub_bytes(path)
    assert {f.kind for f in findings if f.action is Action.REMOVED} >= expected
    assert any(f.kind == "exif.orientation" and f.action is Action.KEPT for f in findings)
    assert leaked(out) == []
    assert_same_pixels(original, out)
    img = Image.open(io.BytesIO(out))
    assert img.getexif().get(274) == 6 and len(img.getexif()) == 1
    assert ImageCms.getProfileDescription(
        ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
    ).strip() == ("ICC profile")  # the colour profile, its text made neutral
    assert reopen_findings(tmp_path, out, "a.jpg") == []


def test_entropy_coded_data_is_copied_byte_for_byte(tmp_path):
    path, original = loaded_jpeg(tmp_path)
    out, _ = scrub_bytes(path)

    def scans(data):
        parsed = walk(data)
        return [data[s.start : s.scan_end] for s in parsed.chunks if s.marker == 0xDA]

    assert scans(out) == scans(original)


@pytest.mark.parametrize("save", [{}, {"progressive": True}, {"restart_marker_blocks": 3}])
def test_a_scan_ends_at_the_first_marker_that_is_not_stuffed_or_a_restart(tmp_path, save):
    from deident.formats.jpeg_segments import _walk

    _, original = loaded_jpeg(tmp_path, **save)
    sos = [s for s in _walk(original).chunks if s.marker == 0xDA]
    first, last = sos[0], sos[-1]
    cut = first.start + 4 + len(first.payload) + 40  # inside the first scan's entropy-coded data
    goes_on = original[: last.scan_end] + b"\xff\x00\x12\x34\xff\xd9"  # stuffed, not a marker
    assert _walk(goes_on).chunks[-1].scan_end == last.scan_end + 4
    with pytest.raises(CorruptFile):  # a COM inside the scan ends it early: what follows is no segment
        _walk(original[:cut] + segment(0xFE, b"HIDDEN") + original[cut:])


@pytest.mark.parametrize(
    "save", [{"progressive": True}, {"restart_marker_blocks": 3}, {"subsampling": 0, "quality": 60}]
)
def test_progressive_restart_markers_and_fill_bytes(tmp_path, save):
    path, original = loaded_jpeg(tmp_path, **save)
    # Fill bytes before a marker (T.81 B.1.1.2) are legal and must not confuse the walker.
    at = next(seg.start for seg in walk(original).chunks if seg.marker == 0xDB)
    padded = original[:at] + b"\xff\xff\xff" + original[at:]
    path.write_bytes(padded)
    out, _ = scrub_bytes(path)
    assert leaked(out) == []
    assert_same_pixels(padded, out)
    if "progressive" in save:
        assert sum(s.marker == 0xDA for s in walk(out).chunks) > 1
    if "restart_marker_blocks" in save:
        assert b"\xff\xdd" in out and b"\xff\xd0" in out


def test_orientation_one_writes_no_exif_at_all(tmp_path):
    path, _ = loaded_jpeg(tmp_path, orientation=1)
    out, findings = scrub_bytes(path)
    assert b"Exif" not in out
    assert not any(f.action is Action.KEPT for f in findings)


def test_jfif_thumbnail_is_emptied(tmp_path):
    buf = io.BytesIO()
    picture().save(buf, "JPEG")
    data = buf.getvalue()
    jfif = b"JFIF\0\x01\x02\0\0\x01\0\x01" + bytes([2, 1]) + THUMB_MARK[:6]  # 2x1 RGB thumbnail
    data = data[:2] + segment(0xE0, jfif) + data[2 + 2 + struct.unpack(">H", data[4:6])[0] :]
    path = tmp_path / "j.jpg"
    path.write_bytes(data)
    assert "jpeg.jfif-thumbnail" in {f.kind for f in open_document(Source(path)).metadata_findings()}
    out, _ = scrub_bytes(path)
    assert THUMB_MARK[:6] not in out
    assert_same_pixels(data, out)


def test_bytes_hidden_in_jfif_segments_are_reported_and_dropped(tmp_path):
    """Past its 14 standard bytes (no thumbnail declared), and a second JFIF segment: both reported."""
    buf = io.BytesIO()
    picture().save(buf, "JPEG")
    data = buf.getvalue()
    first = b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0" + THUMB_MARK  # 0x0 thumbnail, then hidden bytes
    second = b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0" + COMMENT
    rest = data[2 + 2 + struct.unpack(">H", data[4:6])[0] :]
    data = data[:2] + segment(0xE0, first) + segment(0xE0, second) + rest
    path = tmp_path / "j.jpg"
    path.write_bytes(data)
    found = {f.kind: f.detail for f in open_document(Source(path)).metadata_findings()}
    assert found["jpeg.jfif-thumbnail"] == f"JFIF thumbnail or extra data, {len(THUMB_MARK)} bytes"
    assert found["jpeg.app0"].startswith("another JFIF segment")
    out, findings = scrub_bytes(path)
    assert THUMB_MARK not in out and COMMENT not in out
    assert {"jpeg.jfif-thumbnail", "jpeg.app0"} <= {f.kind for f in findings}
    assert reopen_findings(tmp_path, out, "clean.jpg") == []
    assert_same_pixels(data, out)


def test_identifiers_name_the_people_serials_and_dates(tmp_path):
    path, _ = loaded_jpeg(tmp_path)
    ids = open_document(Source(path)).identifiers()
    for value in (ARTIST, OWNER, SERIAL, DATE, XMP_CREATOR, IPTC_BYLINE):
        assert value in ids


@pytest.mark.parametrize("reencode", [True, False])
def test_redaction_keeps_the_original_tables(tmp_path, reencode):
    """--reencode decodes and re-encodes; otherwise the DCT path (when jpeglib is there) leaves far blocks."""
    yy, xx = np.mgrid[0:64, 0:96]
    smooth = np.stack([xx * 2, yy * 3, (xx + yy)], axis=2).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(smooth).save(buf, "JPEG", quality=70, exif=b"Exif\0\0" + exif_block(1))
    original = buf.getvalue()
    path = tmp_path / "smooth.jpg"
    path.write_bytes(original)
    doc = open_document(Source(path))
    c = ctx(reencode=reencode)
    doc.scrub_metadata(c)
    out = filled_bytes(doc, 0, (40, 20, 80, 50), c)
    assert leaked(out) == []
    a, b = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(out))
    assert a.quantization == b.quantization
    pixels = np.asarray(b).astype(int)
    assert pixels[24:46, 44:76].max() < 40  # black, give or take JPEG ringing
    # Away from the box the picture is the same up to one more generation of the same quantisation.
    diff = np.abs(np.asarray(a).astype(int) - pixels)[:, :16]
    assert diff.mean() < 2
    if not reencode and importlib.util.find_spec("jpeglib") is not None:
        assert diff.max() == 0  # blocks far from the box are untouched in the DCT domain
    assert reopen_findings(tmp_path, out, "r.jpg") == []


def test_adobe_segment_is_kept_in_its_standard_form_only(tmp_path):
    """APP14 Adobe is kept (CMYK/YCCK decoding needs its transform flag), but only its 12 standard bytes."""
    buf = io.BytesIO()
    picture().convert("CMYK").save(buf, "JPEG")
    data = buf.getvalue()
    (adobe,) = [s for s in walk(data).chunks if s.marker == 0xEE]
    assert adobe.payload.startswith(b"Adobe") and len(adobe.payload) == 12
    path = tmp_path / "clean.jpg"
    path.write_bytes(data)
    assert open_document(Source(path)).metadata_findings() == []  # the standard form is no finding
    out, _ = scrub_bytes(path)
    assert [s.payload for s in walk(out).chunks if s.marker == 0xEE] == [adobe.payload]

    start = adobe.start
    smuggled = segment(0xEE, adobe.payload + UNKNOWN)
    path.write_bytes(data[:start] + smuggled + data[start + 4 + len(adobe.payload) :])
    found = open_document(Source(path)).metadata_findings()
    assert [(f.kind, f.detail) for f in found] == [
        ("jpeg.app14", f"{len(UNKNOWN)} bytes after the Adobe colour-transform fields")
    ]
    out, findings = scrub_bytes(path)
    assert UNKNOWN not in out and [f.kind for f in findings] == ["jpeg.app14"]
    assert [s.payload for s in walk(out).chunks if s.marker == 0xEE] == [adobe.payload]
    assert_same_pixels(data, out)
    assert reopen_findings(tmp_path, out, "a.jpg") == []


def test_metadata_only_scrub_loads_no_pixel_library(tmp_path):
    """Fast to start: a metadata-only run never pays for importing Pillow; OpenCV and numpy only for
    libjpeg's look at a JPEG's scans (``jpeg_scan.decoder_skips_data``: hidden rows without restarts)."""
    import subprocess
    import sys

    path, _ = loaded_jpeg(tmp_path)
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from deident.options import FaceMode, Options, TextMode\n"
        "from deident.batch import scrub_paths\n"
        f"(r,) = scrub_paths([{str(path)!r}], Options(text=TextMode.OFF, faces=FaceMode.OFF, jobs=1,"
        f" output_dir=Path({str(tmp_path / 'out')!r})))\n"
        "assert r.status.value == 'safe', r.reason\n"
        "print(' '.join(m for m in ('numpy', 'PIL', 'cv2') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["numpy", "cv2"]
    assert (tmp_path / "out" / path.name).exists()


def test_the_per_bytes_memo_answers_for_equal_bytes_only():
    from deident.formats.items import per_bytes

    calls = []

    @per_bytes
    def size(data, parsed):
        calls.append(data)
        return [len(data)]

    first = size(b"abc" * 10, None)
    assert size(bytes(bytearray(b"abc" * 10)), None) is first  # another object, the same bytes
    assert size(b"abd" * 10, None) == [30] and len(calls) == 2  # other bytes: computed again


def _dc_first_group(data: bytes) -> tuple[int, int]:
    """(start, end) of the first scan of a progressive JPEG (DC first) with the DHT segments before it."""
    chunks = walk(data).chunks
    i = next(k for k, s in enumerate(chunks) if s.marker == 0xDA)
    j = i
    while chunks[j - 1].marker == 0xC4:
        j -= 1
    return chunks[j].start, chunks[i].scan_end


def test_a_scan_coding_coefficients_an_earlier_scan_coded_is_refused(tmp_path):
    """A picture's DC scan put before a flat picture's own: libjpeg shows the later one, the earlier hides."""
    from deident.errors import UnsupportedFormat

    cover, secret = Image.new("L", (256, 64), 128), Image.new("L", (256, 64), 255)
    secret.paste(0, (16, 16, 120, 48))  # the "name": a dark bar, carried by the DC coefficients
    coded = []
    for img in (cover, secret):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90, progressive=True)
        coded.append(buf.getvalue())
    (c_at, c_end), (s_at, s_end) = _dc_first_group(coded[0]), _dc_first_group(coded[1])
    hidden = coded[0][:c_at] + coded[1][s_at:s_end] + coded[0][c_at:]
    shown = np.asarray(Image.open(io.BytesIO(hidden)))
    assert np.array_equal(shown, np.asarray(Image.open(io.BytesIO(coded[0]))))  # hidden from Pillow
    # Without the cover's own DC scan the hidden one shows.
    revealed = np.asarray(Image.open(io.BytesIO(coded[0][:c_at] + coded[1][s_at:s_end] + coded[0][c_end:])))
    assert revealed[20:44, 20:110].mean() < 64 < shown[20:44, 20:110].mean()
    path = tmp_path / "hidden.jpg"
    path.write_bytes(hidden)
    with pytest.raises(UnsupportedFormat, match="codes coefficients an earlier scan already coded"):
        scrub_bytes(path)


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
@pytest.mark.parametrize("save", [{"subsampling": 0}, {"subsampling": 2, "optimize": True}])
def test_real_progressions_are_kept(tmp_path, mode, save):
    """libjpeg's progression (Pillow) and MozJPEG's pass the progression rule, pixels unchanged."""
    buf = io.BytesIO()
    picture(93, 67).convert(mode).save(buf, "JPEG", progressive=True, **save)
    versions = [buf.getvalue()]
    if importlib.util.find_spec("mozjpeg_lossless_optimization") is not None:
        import mozjpeg_lossless_optimization

        versions.append(mozjpeg_lossless_optimization.optimize(versions[0]))
    for n, data in enumerate(versions):
        path = tmp_path / f"p{n}.jpg"
        path.write_bytes(data)
        out, _ = scrub_bytes(path)
        assert sum(s.marker == 0xDA for s in walk(out).chunks) > 2
        assert_same_pixels(data, out)


def test_a_dc_table_before_a_dc_refinement_scan_is_dropped(tmp_path):
    """A DC refinement scan reads one raw bit per block, no Huffman code: a DC table before it is unused."""
    buf = io.BytesIO()
    picture().save(buf, "JPEG", quality=90, progressive=True)
    data = buf.getvalue()
    refine = next(
        s
        for s in walk(data).chunks
        if s.marker == 0xDA and s.payload[1 + 2 * s.payload[0]] == 0 and s.payload[-1] >> 4
    )
    table = b"\x00" + bytes(15) + bytes([len(COMMENT)]) + COMMENT  # DC table 0: 16-bit codes, our bytes
    planted = data[: refine.start] + segment(0xC4, table) + data[refine.start :]
    path = tmp_path / "dc.jpg"
    path.write_bytes(planted)
    out, findings = scrub_bytes(path)
    assert COMMENT in planted and COMMENT not in out
    assert [(f.kind, f.detail) for f in findings] == [
        ("jpeg.table", f"DC Huffman table 0 that no scan uses, {len(table)} bytes")
    ]
    assert_same_pixels(planted, out)
    assert_same_pixels(data, out)


@pytest.mark.parametrize("transform", [b"\0", b"D"])
def test_adobe_version_and_flags_are_rewritten_canonically(tmp_path, transform):
    """APP14's version and flags are read by no decoder, so 6 bytes could carry anything: only the colour
    transform stays (one libjpeg does not know written as the one it assumes: YCCK for 4 components)."""
    buf = io.BytesIO()
    picture().convert("CMYK").save(buf, "JPEG")
    data = buf.getvalue()
    (adobe,) = [s for s in walk(data).chunks if s.marker == 0xEE]
    fields = b"PLANTE" + transform  # version, flags0, flags1, transform: "PLANTED" with an unknown one
    planted = data[: adobe.start] + segment(0xEE, b"Adobe" + fields) + data[adobe.start + 16 :]
    path = tmp_path / "a.jpg"
    path.write_bytes(planted)
    out, findings = scrub_bytes(path)
    assert b"PLANTE" in planted and b"PLANTE" not in out
    assert [(f.kind, f.action) for f in findings] == [("jpeg.app14", Action.REPLACED)]
    expected = b"Adobe\0\x64\0\0\0\0" + (b"\0" if transform == b"\0" else b"\2")
    assert [s.payload for s in walk(out).chunks if s.marker == 0xEE] == [expected]
    assert_same_pixels(planted, out)
    if transform == b"\0":
        assert_same_pixels(data, out)
    assert reopen_findings(tmp_path, out, "a.jpg") == []
