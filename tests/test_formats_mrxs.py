"""MRXS (3DHISTECH MIRAX): label, macro and preview gone from Slidedat.ini, Index.dat and the data files;
tiles untouched at their offsets; OpenSlide still opens the output and reads the same pixels."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deident.formats.base import Source, open_document
from support.planted import ctx
from support.slidesynth import PLANTED, make_mrxs

openslide = pytest.importorskip(
    "openslide", reason="openslide-python, a test extra, is the independent reader of MRXS slides"
)


def deident(*args) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("deident")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


def all_bytes(mrxs: Path) -> bytes:
    folder = mrxs.with_suffix("")
    return mrxs.read_bytes() + b"".join(p.read_bytes() for p in sorted(folder.iterdir()))


def scrub(src: Path, out: Path) -> list:
    c = ctx(text="off", faces="off")
    c.output = out
    doc = open_document(Source(src))
    findings = doc.scrub_metadata(c)
    out.write_bytes(doc.to_bytes(c))
    return findings


def test_label_macro_preview_and_slidedat_text_removed_tiles_kept(tmp_path):
    slide = make_mrxs(tmp_path / "in")
    out = tmp_path / "out" / "slide.mrxs"
    findings = scrub(slide.mrxs, out)
    kinds = {f.kind for f in findings}
    assert {
        "mrxs.label",
        "mrxs.macro",
        "mrxs.preview",
        "mrxs.slidedat",
        "mrxs.data",
        "mrxs.slide-id",
    } <= kinds
    assert not any(p.decode() in json.dumps([f.to_dict() for f in findings]) for p in PLANTED)
    data = all_bytes(out)
    assert [p for p in PLANTED if p in data] == []
    assert not any(blob in data for blob in slide.associated.values())  # label, macro, preview bytes gone
    # Every tile, byte for byte, at the offset it had (OpenSlide finds them through the rewritten index).
    src_data = (slide.folder / "Data0000.dat").read_bytes()
    out_data = (out.with_suffix("") / "Data0000.dat").read_bytes()
    assert len(out_data) == len(src_data)
    for blob in slide.tiles:
        at = src_data.index(blob)
        assert out_data[at : at + len(blob)] == blob
    a, b = slide.positions
    assert out_data[a : a + b] == src_data[a : a + b]  # the camera positions the tiles are placed by
    with openslide.OpenSlide(str(slide.mrxs)) as s, openslide.OpenSlide(str(out)) as t:
        assert t.properties["openslide.vendor"] == "mirax"
        assert {"label", "macro", "thumbnail"} <= set(s.associated_images) and not t.associated_images
        assert t.level_dimensions == s.level_dimensions
        assert t.properties["openslide.objective-power"] == "20"
        assert not any("SMITH" in v or "MRK-" in v or "2020" in v for v in t.properties.values())
        assert t.properties["mirax.GENERAL.SLIDE_ID"] != s.properties["mirax.GENERAL.SLIDE_ID"]
        for level, dims in enumerate(s.level_dimensions):
            region = (0, 0), level, dims
            assert np.array_equal(np.asarray(s.read_region(*region)), np.asarray(t.read_region(*region)))
    assert open_document(Source(out)).metadata_findings() == []
    # Deterministic: the same key gives the same folder.
    again = tmp_path / "again" / "slide.mrxs"
    scrub(slide.mrxs, again)
    assert all_bytes(again) == all_bytes(out)


def test_index_records_are_renumbered_when_a_layer_goes(tmp_path):
    """The scan data layer (records 0-2) goes; the position buffer (record 3) becomes record 0."""
    slide = make_mrxs(tmp_path / "in")
    out = tmp_path / "out" / "slide.mrxs"
    scrub(slide.mrxs, out)
    index = (out.with_suffix("") / "Index.dat").read_bytes()
    ini = (out.with_suffix("") / "Slidedat.ini").read_bytes().decode("utf-8-sig")
    assert "NONHIER_COUNT=1\r\nNONHIER_0_NAME=VIMSLIDE_POSITION_BUFFER" in ini and "ScanDataLayer" not in ini
    (table,) = struct.unpack_from("<i", index, 41)
    (head,) = struct.unpack_from("<i", index, table)
    count, page = struct.unpack_from("<ii", index, head)
    assert count == 0
    assert struct.unpack_from("<7i", index, page)[4:] == (*slide.positions, 0)


def test_cli_scrubs_a_folder_with_a_slide_as_one_file_and_check_passes(tmp_path):
    slide = make_mrxs(tmp_path / "in", "slide")
    res = deident("check", str(tmp_path / "in"), "--text", "off", "--faces", "off", "--json")
    assert res.returncode == 1, res.stderr
    (only,) = json.loads(res.stdout)["files"]  # the folder's own files are not inputs of their own
    assert only["input"] == str(slide.mrxs) and only["format"] == "mrxs"
    assert {"mrxs.label", "mrxs.macro"} <= {f["kind"] for f in only["findings"]}
    res = deident(
        "scrub", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--text", "off", "--faces", "off"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["slide", "slide.mrxs"]
    res = deident("check", str(tmp_path / "out"), "--text", "off", "--faces", "off")
    assert res.returncode == 0, res.stdout + res.stderr
    with openslide.OpenSlide(str(tmp_path / "out" / "slide.mrxs")) as s:
        assert s.level_count == 3 and not s.associated_images


def test_in_place_is_refused_and_the_original_is_untouched(tmp_path):
    slide = make_mrxs(tmp_path / "in", "slide")
    before = all_bytes(slide.mrxs)
    res = deident("scrub", str(slide.mrxs), "--in-place", "--text", "off", "--faces", "off")
    assert res.returncode != 0 and "in place" in res.stdout + res.stderr
    assert all_bytes(slide.mrxs) == before


def test_pixel_stages_see_an_overview_of_the_smallest_level_that_fits(tmp_path, monkeypatch):
    import deident.formats.mrxs as mrxs

    slide = make_mrxs(tmp_path / "in")
    monkeypatch.setattr(mrxs, "OVERVIEW_MAX_PIXELS", 300_000)  # level 0 (1024x1024) is over it
    (frame,) = open_document(Source(slide.mrxs)).frames(ctx())
    with openslide.OpenSlide(str(slide.mrxs)) as s:
        level1 = np.asarray(s.read_region((0, 0), 1, s.level_dimensions[1]).convert("RGB"))
    assert frame.rgb.shape == level1.shape and not frame.photographic
    assert np.abs(frame.rgb.astype(int) - level1).mean() < 2  # the same JPEGs, another decoder
    monkeypatch.setattr(mrxs, "OVERVIEW_MAX_PIXELS", 1000)
    with pytest.raises(Exception, match="--text off --faces off"):
        list(open_document(Source(slide.mrxs)).frames(ctx()))
