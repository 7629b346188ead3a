"""HEIC: every metadata item, thumbnail and extra image goes; the picture is re-encoded alone or converted.

The test files are made here with pillow-heif and carry the markers of ``test_formats_common`` in EXIF
(artist, dates, serial, owner, GPS, an EXIF thumbnail), XMP, a second metadata item, a HEIF thumbnail
item, a second top-level image and an unknown top-level box. After a scrub none of those bytes may be
anywhere in the output, and exiftool may list only structural tags.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from deident.batch import check_paths, scrub_paths
from deident.errors import CorruptFile, DeidentError, TooLarge, UnsupportedFormat
from deident.findings import Action, Status
from deident.formats import icc
from deident.formats.base import Source, open_document
from deident.formats.heif import walk
from deident.options import FaceMode, Options, TextMode
from deident.regions import Redaction, Region
from support.exiftool import ALLOWED_GROUPS, allowed
from support.photos import SIZE, heic_bytes, heic_icc, with_unknown_box
from support.planted import (
    ARTIST,
    OWNER,
    SERIAL,
    THUMB_MARK,
    TRAILER,
    XMP_CREATOR,
    ctx,
    exif_block,
    leaked,
    picture,
    scrub_bytes,
    xmp_packet,
)

pillow_heif = pytest.importorskip("pillow_heif")

FAST = {"text": TextMode.OFF, "faces": FaceMode.OFF, "jobs": 1}
AVIF = features.check("avif")  # a Pillow built with libavif
avif_only = pytest.mark.skipif(not AVIF, reason="this Pillow has no AVIF plugin")


def write_heic(tmp_path, name: str = "photo.heic", **kw):
    return _written(tmp_path / name, heic_bytes(**kw))


def _written(path, data: bytes):
    path.write_bytes(data)
    return path


def decode(data: bytes) -> np.ndarray:
    return np.asarray(pillow_heif.open_heif(io.BytesIO(data)).to_pillow().convert("RGB"), dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def heic_allowed(key: str) -> bool:
    group = key.partition(":")[0]
    return allowed(key) or group in ALLOWED_GROUPS | {"ICC-chrm"}


def exiftool_leaks(path) -> list[str]:
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed")
    out = subprocess.run([exiftool, "-a", "-G1", "-s", "-j", str(path)], capture_output=True, text=True)
    (entry,) = json.loads(out.stdout)
    return sorted(k for k in entry if not heic_allowed(k))


# ---------------------------------------------------------------- inspect


def test_findings_name_every_item_without_values(tmp_path):
    path = write_heic(tmp_path)
    doc = open_document(Source(path))
    assert doc.format == "heif"
    found = doc.metadata_findings()
    kinds = {f.kind for f in found}
    assert {"exif.owner", "exif.serial", "exif.datetime", "exif.gps", "exif.thumbnail", "xmp"} <= kinds
    assert {"heif.thumbnail", "heif.metadata", "heif.image", "heif.box"} <= kinds
    assert all(f.action is Action.FOUND for f in found)
    assert leaked(repr([f.to_dict() for f in found]).encode()) == []


def test_identifiers_for_the_deny_list(tmp_path):
    doc = open_document(Source(write_heic(tmp_path)))
    assert {ARTIST, OWNER, SERIAL, XMP_CREATOR} <= set(doc.identifiers())


# ---------------------------------------------------------------- scrub


def test_scrub_keeps_heic_and_leaves_no_identifying_byte(tmp_path):
    path = write_heic(tmp_path)
    original = path.read_bytes()
    assert len(leaked(original)) >= 8  # the builder really planted them
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.SAFE, result.reason
    assert result.output.endswith("photo.heic")
    out = (tmp_path / "out" / "photo.heic").read_bytes()
    assert leaked(out) == []
    parsed = walk(out)
    assert [i.type for i in parsed.items.values()] == [b"hvc1"]  # the picture alone: no Exif/mime/thumbnail
    assert parsed.refs == []
    assert [b.type for b in parsed.top] == [b"ftyp", b"meta", b"mdat"]
    heif = pillow_heif.open_heif(io.BytesIO(out))
    assert heif.size == SIZE and len(heif) == 1
    assert heif.info["thumbnails"] == [] and heif.info.get("exif") is None and not heif.info.get("xmp")
    assert heif.info["icc_profile"] == icc.neutral(heic_icc())  # colour profile kept, its text made neutral
    assert psnr(decode(original), decode(out)) > 40  # one high-quality generation
    kinds = {f.kind for f in result.findings}
    assert {"exif.gps", "xmp", "heif.thumbnail", "heif.image", "heif.reencoded", "heif.icc"} <= kinds
    assert exiftool_leaks(tmp_path / "out" / "photo.heic") == []
    assert exiftool_leaks(path)  # the judge does see the planted tags in the input


def _assert_converted(tmp_path, path: Path, fmt: str, suffix: str, decode_input) -> None:
    """``--format fmt`` gives a metadata-free file of that kind, named for it, the same picture."""
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", output_format=fmt, **FAST))
    assert result.status is Status.SAFE, result.reason
    target = tmp_path / "out" / f"photo{suffix}"
    assert result.output == str(target) and not (tmp_path / "out" / path.name).exists()
    assert leaked(target.read_bytes()) == []
    doc = open_document(Source(target))
    assert doc.format == fmt and doc.metadata_findings() == []
    img = Image.open(target)
    assert img.size == SIZE and img.info.get("icc_profile") == icc.neutral(heic_icc())
    assert "exif" not in img.info and not img.getexif()
    converted = np.asarray(img.convert("RGB"), dtype=np.float64)
    if fmt == "png":  # lossless from the decoded picture
        assert np.array_equal(converted, decode_input(path.read_bytes()))
    else:
        assert psnr(converted, decode_input(path.read_bytes())) > 35
    assert exiftool_leaks(target) == []


@pytest.mark.parametrize(("fmt", "suffix"), [("jpeg", ".jpg"), ("png", ".png")])
def test_format_option_converts_to_a_metadata_free_file(tmp_path, fmt, suffix):
    _assert_converted(tmp_path, write_heic(tmp_path), fmt, suffix, decode)


def test_orientation_is_applied_to_the_pixels(tmp_path):
    """EXIF Orientation 6 becomes irot in the input; the output shows the same picture without either."""
    path = write_heic(tmp_path, orientation=6)
    shown = decode(path.read_bytes())
    assert shown.shape[:2] == (SIZE[0], SIZE[1])  # turned: 120 wide, 160 high
    out, findings = scrub_bytes(path)
    assert leaked(out) == []
    again = decode(out)
    assert again.shape == shown.shape and psnr(shown, again) > 40
    primary = walk(out).items[walk(out).primary]
    assert {walk(out).properties[i - 1].type for i in primary.properties}.isdisjoint({b"irot", b"imir"})
    assert "heif.orientation" in {f.kind for f in findings}


def test_redaction_lands_where_it_was_shown(tmp_path):
    path = write_heic(tmp_path, orientation=6, img=Image.new("RGB", SIZE, (200, 200, 200)))
    doc = open_document(Source(path))
    c = ctx()
    doc.scrub_metadata(c)
    frame = next(iter(doc.frames(c)))
    assert frame.rgb.shape == (SIZE[0], SIZE[1], 3)
    doc.redact(0, [Redaction(Region.box(10, 20, 50, 40, "text"), "fill")], c)
    buf = io.BytesIO()
    doc.write(buf, c)
    shown = decode(buf.getvalue())
    assert shown[24:36, 14:46].max() < 40  # black where it was drawn (inside, away from HEVC ringing)
    assert shown[60:, :].min() > 150  # and nowhere else
    first = buf.getvalue()
    buf2 = io.BytesIO()
    doc.write(buf2, c)  # a second write encodes the same decode again: no second generation, same bytes
    assert buf2.getvalue() == first


def test_same_input_gives_the_same_bytes(tmp_path):
    path = write_heic(tmp_path)
    assert scrub_bytes(path)[0] == scrub_bytes(path)[0]


def _label_picture() -> Image.Image:
    """A grey card with a medical record number burned in."""
    from PIL import ImageDraw, ImageFont

    img = Image.new("RGB", (640, 360), (235, 235, 235))
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 44)
    except OSError:
        font = ImageFont.load_default(size=44)
    ImageDraw.Draw(img).text((40, 140), "MRN 00482913", fill=(10, 10, 10), font=font)
    return img


def _assert_text_filled_and_output_clean(tmp_path, name: str, data: bytes, decoder):
    """Scrub a label picture with the pixel stages: the ink ends under a fill and ``check`` passes it.

    Returns the output's bytes and decoded pixels.
    """
    path = tmp_path / name
    path.write_bytes(data)
    options = Options(output_dir=tmp_path / "out", text=TextMode.ALL, faces=FaceMode.BLUR, jobs=1)
    (result,) = scrub_paths([path], options)
    assert result.status is Status.SAFE, result.reason
    assert any(f.stage == "text" and f.action is Action.REDACTED for f in result.findings)
    written = (tmp_path / "out" / name).read_bytes()
    out, ink = decoder(written), decoder(path.read_bytes()).min(axis=2) < 100
    assert ink.sum() > 500
    assert (out.max(axis=2)[ink] < 60).mean() > 0.95  # the ink is under a black fill now
    (checked,) = check_paths([tmp_path / "out" / name], Options(jobs=1))
    assert checked.status is Status.CLEAN, checked.findings
    return written, out


def _assert_check_flags_the_input_and_passes_the_output(tmp_path, path, fmt: str, kinds: set[str]):
    (scrubbed,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert scrubbed.status is Status.SAFE, scrubbed.reason
    before, after = check_paths([path, tmp_path / "out" / path.name], Options(**FAST))
    assert before.status is Status.UNSAFE and before.format == fmt
    assert kinds <= {f.kind for f in before.findings}
    assert after.status is Status.CLEAN and after.format == fmt, after.findings


def test_pixel_stages_run_on_the_decoded_picture(tmp_path):
    """Burned-in text in a HEIC is found and filled; the clean output passes the check gate."""
    data = heic_bytes(img=_label_picture(), loaded=False)
    _assert_text_filled_and_output_clean(tmp_path, "label.heic", data, decode)


def test_check_reports_the_original_and_passes_the_output(tmp_path):
    kinds = {"exif.gps", "xmp", "heif.thumbnail"}
    _assert_check_flags_the_input_and_passes_the_output(tmp_path, write_heic(tmp_path), "heif", kinds)


# ---------------------------------------------------------------- fail closed


def test_damaged_heic_is_refused_and_nothing_is_written(tmp_path):
    good = heic_bytes(loaded=False)
    mdat = next(b for b in walk(good).top if b.type == b"mdat")
    garbled = bytearray(good)
    garbled[mdat.body : mdat.end] = bytes(mdat.end - mdat.body)  # structure intact, coded picture zeroed
    variants = {
        "half": good[: len(good) // 2],
        "header": good[:40],
        "tail": good[:-7],
        "garbled": bytes(garbled),
    }
    _assert_all_refused(tmp_path, variants, ".heic")


def _damage(tmp_path, good: bytes, suffix: str, seed: int) -> int:
    """Scrub 30 damaged copies (cut, bytes overwritten): each is refused with a project error and a
    reason, or scrubbed with nothing planted left. Returns how many were refused."""
    import random

    rng = random.Random(seed)
    refused = 0
    for n in range(30):
        bad = bytearray(good[: rng.randrange(len(good))] if n % 3 == 0 else good)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        path = tmp_path / f"bad{n}{suffix}"
        path.write_bytes(bytes(bad))
        try:
            out, _ = scrub_bytes(path)
        except (CorruptFile, UnsupportedFormat) as exc:
            assert str(exc)
            refused += 1
            continue
        except DeidentError as exc:  # pragma: no cover - shown on failure
            pytest.fail(f"variant {n}: unexpected {type(exc).__name__}: {exc}")
        assert leaked(out) == []
    return refused


def _assert_all_refused(tmp_path, variants: dict[str, bytes], suffix: str) -> None:
    """Each variant fails with a reason of its own (never an internal error) and writes nothing."""
    for name, data in variants.items():
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data)
        (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
        assert result.status is Status.FAILED, name
        assert result.reason and "internal error" not in result.reason, (name, result.reason)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_random_damage_raises_only_project_errors(tmp_path):
    assert _damage(tmp_path, heic_bytes(), ".heic", seed=99) >= 5


def test_too_large_is_refused_before_decoding(tmp_path):
    doc = open_document(Source(write_heic(tmp_path)))
    with pytest.raises(TooLarge):
        next(iter(doc.frames(ctx(max_pixels=100))))


@pytest.mark.parametrize("name", ["photo.avif", "tiny.avif"])
def test_avif_is_refused_when_nothing_can_decode_it(tmp_path, monkeypatch, name):
    """Neither Pillow's AVIF plugin nor pillow-heif decodes AV1: refused, never passed unchecked."""
    from deident.formats import heif

    monkeypatch.setattr(heif, "pillow_avif_decodes", lambda: False)
    monkeypatch.setattr(heif, "heif_avif_decodes", lambda: False)
    if name == "photo.avif" and AVIF:
        path = write_avif(tmp_path)
    else:  # a HEIC relabelled as AVIF: enough for the walker, whatever this Pillow can do
        path = tmp_path / name
        path.write_bytes(
            heic_bytes(loaded=False).replace(b"ftypheic", b"ftypavif", 1).replace(b"hvc1", b"av01")
        )
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.FAILED and "AVIF" in result.reason and "decode" in result.reason
    assert not (tmp_path / "out" / name).exists()
    (checked,) = check_paths([path], Options(**FAST))
    assert checked.status is not Status.CLEAN


@avif_only
def test_avif_needs_neither_pillow_heif_nor_fails_without_an_encoder(tmp_path, monkeypatch):
    """AVIF goes through Pillow alone; without an AV1 encoder the AVIF output fails, --format still works."""
    from deident.formats import heif

    path = write_avif(tmp_path)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import now raises ImportError
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "a", **FAST))
    assert result.status is Status.SAFE, result.reason
    monkeypatch.setattr(heif, "pillow_avif_encodes", lambda: False)
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "b", **FAST))
    assert result.status is Status.FAILED and "encoder" in result.reason
    assert not (tmp_path / "b" / "photo.avif").exists()
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "c", output_format="png", **FAST))
    assert result.status is Status.SAFE, result.reason


def test_missing_pillow_heif_fails_closed(tmp_path, monkeypatch):
    path = write_heic(tmp_path)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import now raises ImportError
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.FAILED and "pillow-heif" in result.reason
    assert not (tmp_path / "out" / "photo.heic").exists()


def test_cli_start_does_not_import_pillow_heif():
    code = "import sys, deident.cli, deident.formats; sys.exit('pillow_heif' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _rgba_heic() -> bytes:
    rgba = picture(*SIZE).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(SIZE))
    buf = io.BytesIO()
    pillow_heif.from_pillow(rgba).save(buf, quality=90)
    return buf.getvalue()


def test_alpha_stays_with_the_picture(tmp_path):
    path = tmp_path / "alpha.heic"
    path.write_bytes(_rgba_heic())
    assert open_document(Source(path)).metadata_findings() == []  # alpha is part of the picture
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.SAFE, result.reason
    assert pillow_heif.open_heif(tmp_path / "out" / "alpha.heic").mode == "RGBA"


@pytest.mark.parametrize(
    ("aux", "kind"),
    [(b"urn:mpeg:hevc:2015:auxid:2", "heif.depth"), (b"urn:x:skin-matte:0000:000a", "heif.aux")],
)
def test_depth_and_auxiliary_images_are_reported_and_dropped(tmp_path, aux, kind):
    """Portrait depth maps and mattes are images of the patient too: reported, then left out."""
    alpha = b"urn:mpeg:hevc:2015:auxid:1"
    data = _rgba_heic()
    assert data.count(alpha) == 1 and len(aux) == len(alpha)
    path = tmp_path / "aux.heic"
    path.write_bytes(data.replace(alpha, aux))
    assert kind in {f.kind for f in open_document(Source(path)).metadata_findings()}
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.SAFE, result.reason
    out = (tmp_path / "out" / "aux.heic").read_bytes()
    assert aux not in out and [i.type for i in walk(out).items.values()] == [b"hvc1"]


# ---------------------------------------------------------------- AVIF (decoded and encoded by Pillow)

ORIENTATION_ENTRY = struct.pack("<HHII", 274, 3, 1, 1)  # the Orientation=1 entry exif_block writes


def avif_bytes(orientation: int = 1, img: Image.Image | None = None, loaded: bool = True) -> bytes:
    """An AVIF written by Pillow (libavif) with EXIF, XMP and an unknown box after the media data.

    Pillow moves an EXIF Orientation into irot/imir and re-serialises the EXIF, which drops its IFD1
    thumbnail; for the upright file the entry is renamed (ResolutionUnit) so the block goes in verbatim.
    """
    img = img or picture(*SIZE)
    kwargs: dict = {"quality": 90, "icc_profile": heic_icc()}
    if loaded:
        exif = exif_block(orientation, thumbnail=THUMB_MARK)
        if orientation == 1:
            assert exif.count(ORIENTATION_ENTRY) == 1
            exif = exif.replace(ORIENTATION_ENTRY, struct.pack("<HHII", 296, 3, 1, 1))
        kwargs |= {"exif": exif, "xmp": xmp_packet()}
    elif orientation != 1:
        kwargs["exif"] = Image.Exif()
        kwargs["exif"][0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "AVIF", **kwargs)
    return with_unknown_box(buf.getvalue()) if loaded else buf.getvalue()


def write_avif(tmp_path, name: str = "photo.avif", **kw):
    return _written(tmp_path / name, avif_bytes(**kw))


def decode_avif(data: bytes, transpose: bool = True) -> np.ndarray:
    """Pillow's decode, turned by the orientation Pillow reports for irot/imir (an independent reading)."""
    from PIL import ImageOps

    img = Image.open(io.BytesIO(data), formats=["AVIF"])
    img = ImageOps.exif_transpose(img) if transpose else img
    return np.asarray(img.convert("RGB"), dtype=np.float64)


def _properties(data: bytes) -> list[bytes]:
    parsed = walk(data)
    return [parsed.properties[i - 1].type for i in parsed.items[parsed.primary].properties]


@avif_only
def test_avif_findings_name_every_item_without_values(tmp_path):
    doc = open_document(Source(write_avif(tmp_path)))
    assert doc.format == "avif" and doc.decoder == "pillow"
    found = doc.metadata_findings()
    kinds = {f.kind for f in found}
    assert {
        "exif.owner",
        "exif.serial",
        "exif.datetime",
        "exif.gps",
        "exif.thumbnail",
        "xmp",
        "heif.box",
    } <= kinds
    assert all(f.action is Action.FOUND for f in found)
    assert leaked(repr([f.to_dict() for f in found]).encode()) == []
    assert {ARTIST, OWNER, SERIAL, XMP_CREATOR} <= set(doc.identifiers())


@avif_only
def test_avif_scrub_keeps_avif_and_leaves_no_identifying_byte(tmp_path):
    path = write_avif(tmp_path)
    original = path.read_bytes()
    assert len(leaked(original)) >= 7 and THUMB_MARK in original and TRAILER in original
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.SAFE, result.reason
    assert result.output.endswith("photo.avif")
    out = (tmp_path / "out" / "photo.avif").read_bytes()
    assert leaked(out) == [] and THUMB_MARK not in out and TRAILER not in out
    assert b"Exif" not in out and b"rdf:RDF" not in out
    parsed = walk(out)
    assert [i.type for i in parsed.items.values()] == [b"av01"]  # the picture alone: no Exif/mime item
    assert parsed.refs == [] and [b.type for b in parsed.top] == [b"ftyp", b"meta", b"mdat"]
    img = Image.open(io.BytesIO(out))
    assert img.format == "AVIF" and img.size == SIZE
    assert "exif" not in img.info and "xmp" not in img.info and not img.getexif()
    assert img.info["icc_profile"] == icc.neutral(heic_icc())  # colour profile kept, its text made neutral
    # one high-quality generation (this random picture is the worst case: a photograph gives 46 dB)
    assert psnr(decode_avif(original), decode_avif(out)) > 35
    kinds = {f.kind for f in result.findings}
    assert {"exif.gps", "exif.thumbnail", "xmp", "heif.box", "heif.reencoded", "heif.icc"} <= kinds
    (reencoded,) = [f for f in result.findings if f.kind == "heif.reencoded"]
    assert "AVIF" in reencoded.detail and "lossy" in reencoded.detail
    assert open_document(Source(tmp_path / "out" / "photo.avif")).metadata_findings() == []
    assert exiftool_leaks(tmp_path / "out" / "photo.avif") == []
    assert exiftool_leaks(path)  # the judge does see the planted tags in the input


@avif_only
@pytest.mark.parametrize(("fmt", "suffix"), [("jpeg", ".jpg"), ("png", ".png")])
def test_avif_format_option_converts_to_a_metadata_free_file(tmp_path, fmt, suffix):
    _assert_converted(tmp_path, write_avif(tmp_path), fmt, suffix, decode_avif)


def _smooth() -> Image.Image:
    """Gradients with a red top-left patch: survives a lossy encode, shows any wrong turn or mirror."""
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    arr = np.stack([x * 255 // SIZE[0], y * 255 // SIZE[1], np.full_like(x, 128)], axis=-1).astype(np.uint8)
    arr[:30, :40] = (255, 0, 0)
    return Image.fromarray(arr, "RGB")


@avif_only
@pytest.mark.parametrize("orientation", range(1, 9))
def test_avif_orientation_is_applied_to_the_pixels(tmp_path, orientation):
    """Pillow leaves irot/imir to the caller; the output shows what a viewer showed, without them."""
    from deident.formats.pixels import orient

    path = write_avif(tmp_path, orientation=orientation, img=_smooth(), loaded=False)
    source = path.read_bytes()
    transforms = {b"irot", b"imir"} & set(_properties(source))
    assert (orientation == 1) == (not transforms)
    shown = decode_avif(source)  # Pillow's own reading of irot/imir, through its EXIF Orientation
    expected = np.asarray(orient(_smooth(), orientation), dtype=np.float64)
    assert shown.shape == expected.shape and psnr(shown, expected) > 30
    out, findings = scrub_bytes(path)
    assert {b"irot", b"imir"}.isdisjoint(_properties(out))
    again = decode_avif(out, transpose=False)
    assert again.shape == shown.shape and psnr(shown, again) > 35
    assert ("heif.orientation" in {f.kind for f in findings}) == (orientation != 1)


def _with_clap(data: bytes, width: int, height: int, dx: int, dy: int) -> bytes:
    """Swap the ICC colr property for a clap, as libavif wants it: after the descriptive properties and
    marked essential. A free box pads the ipco to its old size, so no box size or item offset changes."""
    parsed = walk(data)
    props = parsed.properties
    index, prof = next(
        (i, b) for i, b in enumerate(props, 1) if data[b.start + 4 : b.body + 4] == b"colrprof"
    )
    last = props[-1]
    assert index in parsed.items[parsed.primary].properties and len(props) - index == 1  # just nclx after
    clap = struct.pack(">I4sIIIIiIiI", 40, b"clap", width, 1, height, 1, dx, 1, dy, 1)
    pad = prof.end - prof.start - len(clap)
    filler = struct.pack(">I4s", pad, b"free") + bytes(pad - 8)
    out = bytearray(data[: prof.start] + data[prof.end : last.end] + clap + filler + data[last.end :])
    # nclx moved down to index and the clap took index + 1: mark that association essential
    ipma = out.index(b"ipma") + 4
    assert out[ipma : ipma + 4] == bytes(4) and out[ipma + 4 : ipma + 10] == b"\0\0\0\1\0\1"  # v0, 1 item
    count = out[ipma + 10]
    for at in range(ipma + 11, ipma + 11 + count):
        if out[at] & 0x7F == len(props):
            out[at] = 0x80 | len(props)  # clap, essential
    return bytes(out)


@avif_only
def test_avif_clean_aperture_crop_is_applied(tmp_path):
    """A clap crop hides a border from viewers; the clean copy must not bring it back."""
    path = tmp_path / "crop.avif"
    path.write_bytes(_with_clap(avif_bytes(loaded=False), 100, 80, -10, 0))
    assert b"clap" in _properties(path.read_bytes())
    assert open_document(Source(path)).metadata_findings() == []
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.SAFE, result.reason
    out = (tmp_path / "out" / "crop.avif").read_bytes()
    assert b"clap" not in _properties(out)
    full = decode_avif(path.read_bytes())  # Pillow ignores clap: the whole coded picture
    assert full.shape[:2] == (120, 160)
    cropped = decode_avif(out)
    assert cropped.shape[:2] == (80, 100)  # left = -10 + (160 - 100) / 2 = 20, top = (120 - 80) / 2 = 20
    assert psnr(full[20:100, 20:120], cropped) > 35
    assert "heif.crop" in {f.kind for f in result.findings}


@avif_only
def test_avif_same_input_gives_the_same_bytes_and_no_second_generation(tmp_path):
    path = write_avif(tmp_path, orientation=6, img=Image.new("RGB", SIZE, (200, 200, 200)))
    assert scrub_bytes(path)[0] == scrub_bytes(path)[0]
    doc = open_document(Source(path))
    c = ctx()
    doc.scrub_metadata(c)
    frame = next(iter(doc.frames(c)))
    assert frame.rgb.shape == (SIZE[0], SIZE[1], 3)  # displayed: 120 wide, 160 high
    doc.redact(0, [Redaction(Region.box(10, 20, 50, 40, "text"), "fill")], c)
    first, second = io.BytesIO(), io.BytesIO()
    doc.write(first, c)
    doc.write(second, c)
    assert first.getvalue() == second.getvalue()
    shown = decode_avif(first.getvalue())
    assert shown[24:36, 14:46].max() < 40 and shown[60:, :].min() > 150  # the fill, where it was drawn


@avif_only
def test_avif_pixel_stages_run_on_the_decoded_picture(tmp_path):
    data = avif_bytes(img=_label_picture())
    written, out = _assert_text_filled_and_output_clean(tmp_path, "label.avif", data, decode_avif)
    assert leaked(written) == []
    assert out.shape == (360, 640, 3)


@avif_only
def test_avif_check_reports_the_original_and_passes_the_output(tmp_path):
    kinds = {"exif.gps", "xmp", "heif.box"}
    _assert_check_flags_the_input_and_passes_the_output(tmp_path, write_avif(tmp_path), "avif", kinds)


@avif_only
def test_avif_with_alpha_keeps_it(tmp_path):
    rgba = picture(*SIZE).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(SIZE))
    path = tmp_path / "alpha.avif"
    path.write_bytes(avif_bytes(img=rgba, loaded=False))
    assert open_document(Source(path)).metadata_findings() == []  # the alpha item is part of the picture
    (result,) = scrub_paths([path], Options(output_dir=tmp_path / "out", **FAST))
    assert result.status is Status.SAFE, result.reason
    assert Image.open(tmp_path / "out" / "alpha.avif").mode == "RGBA"


@avif_only
def test_damaged_avif_is_refused_and_nothing_is_written(tmp_path):
    good = avif_bytes(loaded=False)
    mdat = next(b for b in walk(good).top if b.type == b"mdat")
    garbled = bytearray(good)
    garbled[mdat.body : mdat.end] = bytes(mdat.end - mdat.body)  # structure intact, coded picture zeroed
    fake = heic_bytes(loaded=False).replace(b"ftypheic", b"ftypavif", 1).replace(b"hvc1", b"av01")
    variants = {
        "half": good[: len(good) // 2],
        "header": good[:40],
        "tail": good[:-7],
        "garbled": bytes(garbled),
        "hevc-labelled-av1": fake,
    }
    _assert_all_refused(tmp_path, variants, ".avif")


@avif_only
def test_random_avif_damage_raises_only_project_errors(tmp_path):
    _damage(tmp_path, avif_bytes(), ".avif", seed=7)
