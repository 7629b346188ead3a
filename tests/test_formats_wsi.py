"""Whole-slide images: label/macro gone (or the macro label-filled), description keep-listed, tiles intact."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deident.errors import UnsupportedFormat
from deident.findings import Action
from deident.formats.base import Source, open_document
from deident.formats.wsi.description import clean_svs_description
from deident.formats.wsi.macro import LABEL_FRACTION, label_columns
from deident.regions import Redaction, Region
from support.planted import ctx
from support.slidesynth import BASE, HEADER, IDENT, TILE, label_image, make_svs, slide_glass, tissue

tifffile = pytest.importorskip(
    "tifffile", reason="tifffile, a test extra, writes and reads the slides judged here"
)

PLANTED = [b"12/29/2020", b"09:12:44", b"jdoe", b"SMITH_JANE", b"S17-04522", b"SS7731", b"MRK-PARMSET"]
PLANTED += [b"2020:12:29", b"MRK-SCANNER-MAKE", b"MRK-LABEL-DESC"]


def tiled_raw(path: Path) -> list[list[bytes]]:
    """Raw (still encoded) tile bytes of every tiled page, in page order."""
    out = []
    with tifffile.TiffFile(path) as tf, open(path, "rb") as fh:
        for page in tf.pages:
            if not page.is_tiled:
                continue
            tiles = []
            for off, n in zip(page.dataoffsets, page.databytecounts, strict=True):
                fh.seek(off)
                tiles.append(fh.read(n))
            out.append(tiles)
    return out


def scrub_to(src: Path, dst: Path, **options) -> list:
    c = ctx(text="off", faces="off", **options)
    doc = open_document(Source(src))
    findings = doc.scrub_metadata(c)
    with open(dst, "wb") as fh:
        doc.write(fh, c)
    return findings


@pytest.fixture
def svs(tmp_path) -> tuple[Path, dict]:
    path = tmp_path / "S17-slide.svs"
    return path, make_svs(path)


# ---------------------------------------------------------------- description keep-list


def test_description_keep_list_keeps_viewer_fields_and_is_a_fixed_point():
    dims = "46000x32914 [0,100 46000x32814] (240x240) JPEG/RGB Q=30"
    desc = f"{HEADER} MRK-WORD\r\n{dims}|AppMag = 20|{IDENT}|MPP = 0.499"
    clean = clean_svs_description(desc)
    assert (
        clean.text
        == f"{HEADER}\r\n46000x32914 [0,100 46000x32814] (240x240) JPEG/RGB Q=30|AppMag = 20|MPP = 0.499"
    )
    names = [n for n, _ in clean.dropped]
    assert {"Date", "Time", "User", "Filename", "ScanScope ID", "Barcode", "Parmset", "header words"} <= set(
        names
    )
    assert clean_svs_description(clean.text).dropped == []
    # A name hidden in the dimension line or in a numeric field's place goes too.
    sneaky = clean_svs_description(f"{HEADER}\r\n100x100 SMITH/JANE|AppMag = Dr Who|MPP = 0.25")
    assert sneaky.text == f"{HEADER}|MPP = 0.25"


# ---------------------------------------------------------------- scrub


@pytest.mark.parametrize("bigtiff", [False, True])
def test_scrub_removes_label_macro_and_identifying_fields_keeps_tiles(tmp_path, bigtiff):
    src = tmp_path / "in.svs"
    make_svs(src, bigtiff=bigtiff)
    doc = open_document(Source(src))
    assert doc.format == "wsi-svs"
    kinds = {f.kind for f in doc.metadata_findings()}
    assert {"wsi.label", "wsi.macro", "svs.description", "tiff.Make", "tiff.DateTime"} <= kinds
    assert {"SMITH_JANE_S17-04522", "jdoe", "12/29/2020"} <= set(doc.identifiers())
    out = tmp_path / "out.svs"
    findings = scrub_to(src, out)
    by_kind = {f.kind: f for f in findings}
    assert by_kind["wsi.label"].action is Action.REMOVED and by_kind["wsi.macro"].action is Action.REMOVED
    assert by_kind["wsi.tissue"].action is Action.KEPT and "3 tissue levels" in by_kind["wsi.tissue"].detail
    assert all(v not in json.dumps([f.to_dict() for f in findings]) for v in ("jdoe", "SMITH", "12/29"))
    data = out.read_bytes()
    assert [m for m in PLANTED if m in data] == []
    assert tiled_raw(out) == tiled_raw(src)  # every tile of every level, byte for byte
    with tifffile.TiffFile(out) as tf:
        assert tf.is_bigtiff == bigtiff
        descs = [p.description for p in tf.pages]
        assert len(tf.pages) == 4 and not any("label" in d or "macro" in d for d in descs)
        assert all(d.startswith(HEADER) and "AppMag = 20" in d and "MPP = 0.4990" in d for d in descs)
        assert "Left" not in descs[0] and "Date" not in descs[0]
        with tifffile.TiffFile(src) as orig:
            for a, b in zip(
                [p for p in orig.pages if p.is_tiled], [p for p in tf.pages if p.is_tiled], strict=True
            ):
                assert a.shape == b.shape and np.array_equal(a.asarray(), b.asarray())
    assert open_document(Source(out)).metadata_findings() == []


def test_label_strip_bytes_do_not_survive(tmp_path, svs):
    src, _ = svs
    with tifffile.TiffFile(src) as tf, open(src, "rb") as fh:
        page = next(p for p in tf.pages if "label" in p.description)
        fh.seek(page.dataoffsets[0])
        label_bytes = fh.read(min(256, page.databytecounts[0]))
    out = tmp_path / "out.svs"
    scrub_to(src, out)
    assert label_bytes not in out.read_bytes()


def test_openslide_reads_the_output_with_the_same_levels_and_properties(tmp_path, svs):
    openslide = pytest.importorskip("openslide")
    src, _ = svs
    out = tmp_path / "out.svs"
    scrub_to(src, out)
    a, b = openslide.OpenSlide(str(src)), openslide.OpenSlide(str(out))
    try:
        assert a.properties["openslide.vendor"] == b.properties["openslide.vendor"] == "aperio"
        assert b.level_count == a.level_count == 3
        assert b.level_dimensions == a.level_dimensions
        assert b.properties["openslide.objective-power"] == "20"
        assert float(b.properties["openslide.mpp-x"]) == pytest.approx(0.499)
        assert {"label", "macro"} <= set(a.associated_images) and set(b.associated_images) == {"thumbnail"}
        assert not any("jdoe" in v or "SMITH" in v for v in b.properties.values())
        for level in range(3):
            region = (0, 0), level, (300, 200)
            assert np.array_equal(np.asarray(a.read_region(*region)), np.asarray(b.read_region(*region)))
    finally:
        a.close()
        b.close()


def test_keep_macro_fills_the_label_end_only(tmp_path, svs):
    src, made = svs
    out = tmp_path / "out.svs"
    findings = scrub_to(src, out, keep_macro=True)
    macro_f = next(f for f in findings if f.kind == "wsi.macro")
    assert macro_f.action is Action.REDACTED and "right end" in macro_f.detail
    with tifffile.TiffFile(out) as tf:
        page = next(p for p in tf.pages if "macro" in p.description)
        kept = page.asarray()
        assert len(tf.pages) == 5 and not any("label " in p.description for p in tf.pages)
    w = kept.shape[1]
    filled = int(np.ceil(LABEL_FRACTION * w))
    assert (kept[:, w - filled :] == 0).all()  # the label end (30 % of the slide) and a margin
    assert np.array_equal(kept[:, : w - filled], made["macro"][:, : w - filled])  # the rest untouched
    assert [m for m in PLANTED if m in out.read_bytes()] == []
    assert tiled_raw(out) == tiled_raw(src)
    assert open_document(Source(out)).metadata_findings() == []  # the filled macro passes its own check
    openslide = pytest.importorskip("openslide")
    with openslide.OpenSlide(str(out)) as s:
        assert set(s.associated_images) == {"thumbnail", "macro"}


def test_label_end_is_located_on_either_side_or_both_filled():
    macro, label = slide_glass(label_right=False)
    cols, why = label_columns(macro, label)
    assert cols == [(0, int(np.ceil(LABEL_FRACTION * 600)))] and "left" in why
    cols, why = label_columns(macro, None)  # no label page: both ends, conservatively
    assert cols == [(0, 216), (384, 600)] and "both ends" in why
    noise = np.random.default_rng(0).integers(0, 255, (50, 50, 3), dtype=np.uint8)
    assert len(label_columns(macro, noise)[0]) == 2  # a label image that matches nothing: both ends


def test_a_tampered_fill_marker_is_not_trusted(tmp_path, svs):
    src, _ = svs
    out = tmp_path / "out.svs"
    scrub_to(src, out, keep_macro=True)
    with tifffile.TiffFile(out) as tf:
        pages = [(p.asarray(), p.description) for p in tf.pages]
    forged = tmp_path / "forged.svs"
    macro, _ = slide_glass()
    with tifffile.TiffWriter(forged) as tw:
        for arr, desc in pages[:-1]:
            tw.write(arr, description=desc, metadata=None, tile=(TILE, TILE) if arr.shape[0] > 200 else None)
        tw.write(macro, description=pages[-1][1], metadata=None, subfiletype=9)  # marker, but label visible
    assert "wsi.macro" in {f.kind for f in open_document(Source(forged)).metadata_findings()}


# ---------------------------------------------------------------- pixel stages


def test_pixel_stages_see_the_macro_and_a_bounded_overview_never_the_base(tmp_path, svs, monkeypatch):
    import deident.formats.wsi.document as wsi

    monkeypatch.setattr(wsi, "OVERVIEW_MAX_PIXELS", 1_000_000)  # the 1536x1024 base is over it
    src, made = svs
    doc = open_document(Source(src))
    c = ctx(keep_macro=True)
    findings = doc.scrub_metadata(c)
    assert "tissue overview 768x512" in next(f.detail for f in findings if f.kind == "wsi.tissue")
    frames = list(doc.frames(c))
    labels = ["macro image", "tissue overview 768x512", "thumbnail 192x128 (page 1)"]
    assert [f.label for f in frames] == labels
    assert np.array_equal(frames[1].rgb, made["levels"][1])
    with pytest.raises(UnsupportedFormat, match="tissue overview"):
        doc.redact(1, [Redaction(Region.box(0, 0, 10, 10, "text"), "fill")], c)
    doc.redact(0, [Redaction(Region.box(10, 10, 60, 60, "text"), "fill")], c)  # text left on the glass
    buf = io.BytesIO()
    doc.write(buf, c)
    buf.seek(0)
    with tifffile.TiffFile(buf) as tf:
        assert (next(p for p in tf.pages if "macro" in p.description).asarray()[10:60, 10:60] == 0).all()
    monkeypatch.setattr(wsi, "OVERVIEW_MAX_PIXELS", 1000)
    with pytest.raises(UnsupportedFormat, match="--text off --faces off"):
        list(open_document(Source(src)).frames(c))  # nothing small enough: fail closed, never skip silently


def test_scrub_never_reads_the_whole_file(svs):
    src, _ = svs
    source = Source(src)
    doc = open_document(source)
    c = ctx(text="off", faces="off", keep_macro=True)
    doc.scrub_metadata(c)
    doc.write(io.BytesIO(), c)
    assert "data" not in source.__dict__


# ---------------------------------------------------------------- generic pyramid and NDPI


def test_generic_pyramid_drops_associated_pages_and_descriptions(tmp_path):
    src = tmp_path / "generic.tif"
    base = tissue(1024, 768)
    macro, _ = slide_glass()
    with tifffile.TiffWriter(src) as tw:
        tw.write(base, tile=(TILE, TILE), description="MRK-SCANNER-MAKE scanned by jdoe", metadata=None)
        tw.write(base[::2, ::2].copy(), tile=(TILE, TILE), subfiletype=1, metadata=None)
        tw.write(macro, subfiletype=9, description="macro SMITH_JANE", metadata=None)
        tw.write(macro[:, 400:].copy(), description="label", metadata=None)
    doc = open_document(Source(src))
    assert doc.format == "wsi-generic"
    assert {"wsi.macro", "wsi.label", "tiff.ImageDescription"} <= {f.kind for f in doc.metadata_findings()}
    out = tmp_path / "out.tif"
    scrub_to(src, out)
    assert [m for m in PLANTED if m in out.read_bytes()] == [] and b"SMITH" not in out.read_bytes()
    assert tiled_raw(out) == tiled_raw(src)
    with tifffile.TiffFile(out) as tf:
        assert len(tf.pages) == 2
    openslide = pytest.importorskip("openslide")
    with openslide.OpenSlide(str(out)) as s:
        assert s.level_count == 2 and s.level_dimensions == ((1024, 768), (512, 384))


def make_ndpi(path: Path, monkeypatch, extra: tuple = ()) -> None:
    """NDPI-like: one-strip JPEG levels, a macro marked by SourceLens -1, reference/serial/property tags.

    tifffile writes pre-encoded JPEG strips as given, but asks for an encoder first: imagecodecs is not
    installed, so a stand-in that is never called is put in its place.
    """
    monkeypatch.setattr(tifffile._imagecodecs, "jpeg_encode", lambda *a, **k: None, raising=False)

    def jpeg(arr):
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(buf, "JPEG", quality=90)
        return buf.getvalue()

    base = tissue(512, 384)
    macro, _ = slide_glass()
    ndpi = [(65420, "I", 1, 1, True), (65424, "i", 1, 0, True), (65422, "i", 1, 1200, True)]
    ndpi += [
        (65423, "i", 1, -300, True),
        (65427, "s", 0, "S17-04522-A1", True),
        (65442, "s", 0, "SS7731", True),
    ]
    ndpi += [(65449, "s", 0, "NDP.S/N=SS7731\r\nUser=jdoe", True)]
    with tifffile.TiffWriter(path) as tw:
        for arr, lens in ((base, 20.0), (base[::2, ::2], 20.0), (macro, -1.0), *extra):
            tw.write(
                iter([jpeg(arr)]),
                shape=arr.shape,
                dtype=np.uint8,
                photometric="ycbcr",
                subsampling=(2, 2),
                compression="jpeg",
                rowsperstrip=arr.shape[0],
                metadata=None,
                software="NDP.scan 2.5.86",
                extratags=[*ndpi, (65421, "f", 1, lens, True)],
            )


def strips(path: Path) -> list[bytes]:
    from deident.formats.tiff.reader import TiffReader

    with open(path, "rb") as fh:
        r = TiffReader(fh)
        return [r.read(r.values(i.entries[273])[0], r.values(i.entries[279])[0]) for i in r.chain()]


def test_ndpi_macro_and_identifying_tags_go(tmp_path, monkeypatch):
    src = tmp_path / "in.ndpi"
    make_ndpi(src, monkeypatch)
    doc = open_document(Source(src))
    assert doc.format == "wsi-ndpi"
    kinds = {f.kind for f in doc.metadata_findings()}
    assert "wsi.macro" in kinds and "tiff.private" in kinds and "tiff.Software" not in kinds
    out = tmp_path / "out.ndpi"
    scrub_to(src, out)
    data = out.read_bytes()
    assert [m for m in PLANTED if m in data] == [] and b"NDP.scan\0" in data and b"2.5.86" not in data
    assert strips(out) == strips(src)[:2]  # the JPEG strips of both levels, byte for byte; the macro gone
    with tifffile.TiffFile(out) as tf:
        assert len(tf.pages) == 2
        for page in tf.pages:
            assert {65420, 65421, 65422, 65423, 65424} <= set(page.tags.keys())
            assert not {65427, 65442, 65449} & set(page.tags.keys())
    assert open_document(Source(out)).metadata_findings() == []
    openslide = pytest.importorskip("openslide")
    with openslide.OpenSlide(str(src)) as a, openslide.OpenSlide(str(out)) as b:
        assert b.properties["openslide.vendor"] == "hamamatsu"
        assert b.level_dimensions == a.level_dimensions and b.properties["openslide.objective-power"] == "20"
        assert "macro" in a.associated_images and "macro" not in b.associated_images
        region = (0, 0), 0, (200, 100)
        assert np.array_equal(np.asarray(a.read_region(*region)), np.asarray(b.read_region(*region)))


def test_ndpi_page_with_a_lens_but_not_the_pyramid_shape_is_not_a_level(tmp_path, monkeypatch):
    """A label photo carrying a magnification (SourceLens 20) is no level: its aspect is not the slide's."""
    src = tmp_path / "in.ndpi"
    label = np.ascontiguousarray(label_image(240, 256))
    make_ndpi(src, monkeypatch, extra=((label, 20.0),))
    doc = open_document(Source(src))
    assert [p.role for p in doc.pages] == ["level", "level", "macro", "associated"]
    out = tmp_path / "out.ndpi"
    scrub_to(src, out)
    assert strips(out) == strips(src)[:2]  # both levels byte for byte; macro and label photo gone
    openslide = pytest.importorskip("openslide")
    with openslide.OpenSlide(str(out)) as s:
        assert s.level_dimensions[:2] == ((512, 384), (256, 192)) and not s.associated_images


# ---------------------------------------------------------------- the CLI


def deident(*args) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("deident")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


def test_cli_check_reports_label_and_macro_and_scrub_output_passes(tmp_path, svs):
    src, _ = svs
    res = deident("check", str(src), "--text", "off", "--faces", "off", "--json")
    assert res.returncode == 1, res.stderr
    kinds = {f["kind"] for r in json.loads(res.stdout)["files"] for f in r["findings"]}
    assert {"wsi.label", "wsi.macro", "svs.description"} <= kinds
    outdir = tmp_path / "safe"
    res = deident("scrub", str(src), "-o", str(outdir), "--text", "off", "--faces", "off", "--keep-macro")
    assert res.returncode == 0, res.stdout + res.stderr
    (written,) = outdir.rglob("*.svs")
    res = deident("check", str(written), "--text", "off", "--faces", "off")
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------- associated images by structure (issue 19)


def data_bytes(path: Path, index: int) -> bytes:
    with tifffile.TiffFile(path) as tf, open(path, "rb") as fh:
        page = tf.pages[index]
        fh.seek(page.dataoffsets[0])
        return fh.read(min(512, page.databytecounts[0]))


@pytest.mark.parametrize("vendor", ["svs", "generic"])
def test_unnamed_label_pages_are_recognised_by_structure(tmp_path, vendor):
    """A label described by nothing (no word 'label'): untiled at page 1, or tiled at the end of the file."""
    src = tmp_path / f"unnamed.{'svs' if vendor == 'svs' else 'tif'}"
    w, h = BASE
    base = tissue(w, h)
    label = label_image(240, 260)
    head = f"{HEADER}\r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) JPEG/RGB Q=70|AppMag = 20"
    with tifffile.TiffWriter(src) as tw:
        tw.write(
            base,
            tile=(TILE, TILE),
            compression="zlib",
            description=head if vendor == "svs" else None,
            metadata=None,
        )
        tw.write(label, rowsperstrip=label.shape[0], compression="zlib", subfiletype=1, metadata=None)
        tw.write(
            255 - base, tile=(TILE, TILE), compression="zlib", metadata=None
        )  # a plane of the base's size
        tw.write(base[::2, ::2].copy(), tile=(TILE, TILE), compression="zlib", subfiletype=1, metadata=None)
        tw.write(base[::4, ::4].copy(), tile=(TILE, TILE), compression="zlib", subfiletype=1, metadata=None)
        big_label = np.asarray(Image.fromarray(label).resize((512, 560)))
        tw.write(big_label, tile=(TILE, TILE), compression="zlib", subfiletype=1, metadata=None)
    doc = open_document(Source(src))
    assert doc.format == f"wsi-{vendor}"
    assert [p.role for p in doc.pages] == ["level", "associated", "level", "level", "level", "associated"]
    out = tmp_path / "out.tif"
    findings = scrub_to(src, out)
    assert sum(f.kind == "wsi.associated" and f.action is Action.REMOVED for f in findings) == 2
    data = out.read_bytes()
    assert data_bytes(src, 1) not in data and data_bytes(src, 5) not in data
    with tifffile.TiffFile(out) as tf:
        assert [p.shape[:2] for p in tf.pages] == [(h, w), (h, w), (h // 2, w // 2), (h // 4, w // 4)]
    assert tiled_raw(out) == tiled_raw(src)[:4]
    openslide = pytest.importorskip("openslide")
    with openslide.OpenSlide(str(out)) as s:
        assert s.level_dimensions[-2:] == ((w // 2, h // 2), (w // 4, h // 4)) and not s.associated_images


def test_the_kept_thumbnail_is_scanned_and_redacted_like_the_macro(tmp_path, svs):
    """The thumbnail is kept, so it is a frame of its own (not only when it happens to be the overview)."""
    src, made = svs
    doc = open_document(Source(src))
    c = ctx()
    doc.scrub_metadata(c)
    frames = {f.label: f for f in doc.frames(c)}
    assert set(frames) == {"tissue overview 1536x1024", "thumbnail 192x128 (page 1)"}
    thumb = frames["thumbnail 192x128 (page 1)"]
    assert np.array_equal(thumb.rgb, made["levels"][0][::8, ::8])
    doc.redact(thumb.index, [Redaction(Region.box(20, 30, 90, 60, "text"), "fill")], c)
    out = tmp_path / "out.svs"
    with open(out, "wb") as fh:
        doc.write(fh, c)
    with tifffile.TiffFile(out) as tf:
        kept = tf.pages[1].asarray()
        assert tf.pages[1].description.startswith(HEADER) and "AppMag = 20" in tf.pages[1].description
    assert (kept[30:60, 20:90] == 0).all()
    outside = np.ones(kept.shape[:2], bool)
    outside[28:62, 18:92] = False  # the box and a pixel or two of its edge
    assert np.array_equal(kept[outside], made["levels"][0][::8, ::8][outside])
    assert tiled_raw(out) == tiled_raw(src)
    frames_out = {f.index: f.label for f in open_document(Source(out)).frames(c)}
    assert frames_out == {f.index: f.label for f in frames.values()}  # verification sees the same frames


def test_description_digits_and_dates_never_pass_free():
    dims = "46000x32914 [0,100 46000x32814] (240x240) JPEG/RGB Q=30"
    desc = f"{HEADER} 4455667 12.29.2020\r\n{dims} 4455667\r\n2020 12 29|AppMag = 4455667|MPP = 0.499"
    desc += "|OriginalWidth = 4455667|StripeWidth = 2040"
    clean = clean_svs_description(desc, bound=2 * 46000)
    assert clean.text == f"{HEADER}|MPP = 0.499|StripeWidth = 2040"
    assert "4455667" not in clean.text and "2020" not in clean.text
    assert clean_svs_description(clean.text, bound=2 * 46000).dropped == []
    assert clean_svs_description(f"{HEADER}\r\n{dims}", bound=2 * 46000).dropped == []  # real lines stay
    hidden = clean_svs_description(f"{HEADER}\r\n4455667x2 [0,100 46000x32814]", bound=2 * 46000)
    assert "4455667" not in hidden.text  # a number larger than the slide is not a dimension


def test_description_digits_do_not_reach_the_output(tmp_path):
    src = tmp_path / "digits.svs"
    w, h = BASE
    base = tissue(w, h)
    desc = f"{HEADER}\r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) JPEG/RGB Q=70 4455667|AppMag = 20|MPP = 0.4990"
    with tifffile.TiffWriter(src) as tw:
        tw.write(base, tile=(TILE, TILE), description=desc, metadata=None)
        tw.write(base[::2, ::2].copy(), tile=(TILE, TILE), subfiletype=1, description=desc, metadata=None)
    out = tmp_path / "out.svs"
    findings = scrub_to(src, out)
    assert b"4455667" not in out.read_bytes()
    assert any(f.kind == "svs.description" and "header line 2" in f.detail for f in findings)
    openslide = pytest.importorskip("openslide")
    with openslide.OpenSlide(str(out)) as s:
        assert s.properties["openslide.objective-power"] == "20"
