"""TIFF: only decode/display tags survive, every page's strip/tile bytes are copied, pixels identical."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

from deident.findings import Action
from deident.formats.base import Source, open_document
from deident.formats.tiff.reader import TiffReader
from deident.formats.tiff.rewrite import rewrite_tiff, structural_page
from deident.formats.tiff.tags import DECODE_TAGS
from support.photos import loaded_tiff, pages
from support.planted import (
    ARTIST,
    OWNER,
    SERIAL,
    ctx,
    exif_block,
    filled_bytes,
    leaked,
    picture,
    reopen_findings,
    scrub_bytes,
)

tifffile = pytest.importorskip(
    "tifffile", reason="tifffile, a test extra, writes and reads the TIFF files judged here"
)


def assert_pages_identical(a, b, n=3):
    for i in range(n):
        assert np.array_equal(tifffile.imread(a, key=i), tifffile.imread(b, key=i)), f"page {i}"


@pytest.mark.parametrize("kw", [{}, {"bigtiff": True}, {"byteorder": ">"}])
def test_scrub_keeps_only_decode_tags_on_every_page(tmp_path, kw):
    path, _ = loaded_tiff(tmp_path, **kw)
    doc = open_document(Source(path))
    kinds = {f.kind for f in doc.metadata_findings()}
    assert {"tiff.Artist", "tiff.Copyright", "tiff.Make", "tiff.ImageDescription", "xmp", "iptc"} <= kinds
    assert {"tiff.Software", "tiff.DateTime", "tiff.private"} <= kinds
    out, findings = scrub_bytes(path)
    assert leaked(out) == [] and b"MRK-SOFTWARE" not in out
    assert all(f.action is Action.REMOVED for f in findings)
    written = tmp_path / "out.tif"
    written.write_bytes(out)
    assert_pages_identical(path, written)
    reader = TiffReader.from_bytes(out)
    assert reader.big == bool(kw.get("bigtiff")) and reader.bo == kw.get("byteorder", "<")
    ifds = list(reader.chain())
    assert len(ifds) == 3
    assert all(set(ifd.entries) <= set(DECODE_TAGS) for ifd in ifds)
    assert 322 in ifds[1].entries  # still tiled
    assert reopen_findings(tmp_path, out, "a.tif") == []


def hand_made_tiff_with_exif(tmp_path):
    """A TIFF whose IFD0 carries EXIF and GPS sub-IFDs (what cameras and scanners write)."""
    pix = np.asarray(picture(32, 24)).tobytes()

    def build(strip_at: int) -> bytes:
        image_tags = (
            (256, 3, 1, struct.pack("<H", 32)),
            (257, 3, 1, struct.pack("<H", 24)),
            (258, 3, 3, struct.pack("<HHH", 8, 8, 8)),
            (259, 3, 1, struct.pack("<H", 1)),
            (262, 3, 1, struct.pack("<H", 2)),
            (273, 4, 1, struct.pack("<I", strip_at)),
            (277, 3, 1, struct.pack("<H", 3)),
            (278, 3, 1, struct.pack("<H", 24)),
            (279, 4, 1, struct.pack("<I", len(pix))),
        )
        return exif_block(orientation=1, extra=image_tags)

    head = build(0)
    data = build(len(head)) + pix
    path = tmp_path / "exif.tif"
    path.write_bytes(data)
    return path, data


def test_exif_and_gps_sub_ifds_go(tmp_path):
    path, original = hand_made_tiff_with_exif(tmp_path)
    doc = open_document(Source(path))
    kinds = {f.kind for f in doc.metadata_findings()}
    assert {"exif.gps", "exif.serial", "exif.owner", "exif.datetime", "tiff.Artist"} <= kinds
    assert {ARTIST, OWNER, SERIAL} <= set(doc.identifiers())
    out, _ = scrub_bytes(path)
    assert leaked(out) == []
    assert np.array_equal(tifffile.imread(io.BytesIO(original)), tifffile.imread(io.BytesIO(out)))


def test_redacting_a_16_bit_page_reencodes_only_that_page(tmp_path):
    path, _ = loaded_tiff(tmp_path)
    doc = open_document(Source(path))
    c = ctx()
    doc.scrub_metadata(c)
    frames = list(doc.frames(c))
    assert [f.label for f in frames] == ["page 1", "page 2", "page 2, local contrast", "page 3"]
    out = filled_bytes(doc, 1, (4, 4, 20, 12), c)
    assert leaked(out) == []
    p = pages()
    page1 = tifffile.imread(io.BytesIO(out), key=1)
    assert page1.dtype == np.uint16 and (page1[5:12, 5:20] == 0).all()
    assert (page1[20:, 30:] == p[1][20:, 30:]).all()
    assert np.array_equal(tifffile.imread(io.BytesIO(out), key=0), p[0])
    assert np.array_equal(tifffile.imread(io.BytesIO(out), key=2), p[2])
    assert reopen_findings(tmp_path, out, "r.tif") == []


def test_a_page_policy_can_drop_pages_and_add_a_clean_description(tmp_path):
    path, _ = loaded_tiff(tmp_path)
    text = b"cleaned description\0"

    def policy(page):
        if page.index == 1:
            return None
        plan = structural_page(page)
        plan.extra[270] = (2, text, len(text))
        return plan

    buf = io.BytesIO()
    assert rewrite_tiff(path, buf, policy) == 2
    out = buf.getvalue()
    assert leaked(out) == []
    with tifffile.TiffFile(io.BytesIO(out)) as tf:
        assert len(tf.pages) == 2
        assert tf.pages[0].description == "cleaned description"
        assert np.array_equal(tf.pages[1].asarray(), pages()[2])


def test_scrub_and_write_never_read_the_whole_file(tmp_path):
    path, _ = loaded_tiff(tmp_path)
    source = Source(path)
    doc = open_document(source)
    c = ctx()
    doc.scrub_metadata(c)
    doc.write(io.BytesIO(), c)
    assert "data" not in source.__dict__


def test_dicom_with_a_tiff_preamble_is_read_as_dicom(tmp_path):
    """PS3.10 dual-personality files: the patient header must not hide behind the TIFF reading."""
    pydicom_data = pytest.importorskip("pydicom.data")
    src = pydicom_data.get_testdata_file("CT_small.dcm")
    path = tmp_path / "dual.dcm"
    path.write_bytes(Path(src).read_bytes())
    assert path.read_bytes()[:4] == b"II*\0"
    doc = open_document(Source(path))
    assert doc.format == "dicom"


def test_a_fax_coded_scan_is_refused_with_the_way_out(tmp_path):
    """A scanned page in CCITT Group 4 (Pillow's Tests/images/pport_g4.tif, 2548x3296) failed with
    "TIFF compression 4: what its blocks hold cannot be checked": a number, and nothing to do about it. The
    reason names the fax coding and says what to convert to; the page converted so (LZW, as Pillow writes
    it) is scrubbed, its pixels as they were."""
    from PIL import Image, ImageDraw

    from deident import batch
    from deident.findings import Status
    from deident.options import FaceMode, Options, TextMode

    page = Image.new("1", (400, 300), 1)
    ImageDraw.Draw(page).rectangle((40, 40, 360, 260), outline=0, width=6)
    g4, lzw = tmp_path / "scan.tif", tmp_path / "scan_lzw.tif"
    page.save(g4, compression="group4")
    opts = Options(jobs=1, text=TextMode.OFF, faces=FaceMode.OFF, output_dir=tmp_path / "out")
    (r,) = batch.scrub_paths([g4], opts)
    assert r.status is Status.FAILED
    assert "CCITT Group 4" in r.reason
    assert "convert the page to PNG or to an uncompressed or LZW TIFF" in r.reason
    with Image.open(g4) as im:
        im.save(lzw, compression="tiff_lzw")
    (r,) = batch.scrub_paths([lzw], opts)
    assert r.status is Status.SAFE, r.reason
    with Image.open(g4) as a, Image.open(r.output) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
