"""Issue 18, class 6 for WebP: bytes after the end of a bitstream inside a kept chunk (after a VP8L stream,
after the mode partition or the last token partition of a VP8 frame, after a compressed alpha plane, in a
still picture or an animation frame) hold a planted name. The output must hold none of it, decode to the
very pixels of the input, and ordinary files must keep their bitstreams byte for byte.

Judged by independent readers: the planted bytes, Pillow (libwebp) for pixels, ExifTool for the container,
and a RIFF walk written here.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.photos import riff, riff_body, riff_chunks
from support.planted import picture
from support.runs import cli

SENT = b"MRK-WEBP-SLACK-DOE^JANE-MRN4455667"
OFF = ("--text", "off", "--faces", "off")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "exiftool-images"


# ---------------------------------------------------------------- RIFF (tests/support, not deident's walk)


def image_payloads(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every VP8, VP8L and ALPH payload, in ANMF frames too, in file order."""
    out = []
    for t, b in riff_chunks(data):
        if t == b"ANMF":
            out += [(ft, fb) for ft, fb in riff_chunks(b, 16) if ft in (b"VP8 ", b"VP8L", b"ALPH")]
        elif t in (b"VP8 ", b"VP8L", b"ALPH"):
            out.append((t, b))
    return out


def plant(data: bytes, fourcc: bytes, where: str = "end") -> bytes:
    """``SENT`` after the bitstream of the first ``fourcc`` chunk (in the first ANMF frame if animated):
    at the chunk's end, or (``where="modes"``, VP8) after the mode partition, its declared size grown."""

    def planted(payload: bytes) -> bytes:
        if where == "end":
            return payload + SENT
        tag = int.from_bytes(payload[:3], "little")
        first = tag >> 5
        tag = (tag & 0x1F) | (first + len(SENT)) << 5
        return tag.to_bytes(3, "little") + payload[3 : 10 + first] + SENT + payload[10 + first :]

    items, done = [], False
    for t, b in riff_chunks(data):
        if t == b"ANMF" and not done:
            inner = [(ft, planted(fb) if ft == fourcc else fb) for ft, fb in riff_chunks(b, 16)]
            done = any(ft == fourcc for ft, _ in inner)
            b = b[:16] + riff_body(inner)
        elif t == fourcc and not done:
            b, done = planted(b), True
        items.append((t, b))
    assert done
    return riff(items)


def encoded(kind: str) -> bytes:
    buf = io.BytesIO()
    still = picture(96, 64)
    rgba = still.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(96, dtype=np.uint8) * 2, (64, 1))))
    frames = [picture(96, 64, seed=i) for i in range(2)]
    if kind == "lossless":
        still.save(buf, "WEBP", lossless=True)
    elif kind == "lossy":
        still.save(buf, "WEBP", quality=80)
    elif kind == "alpha":  # VP8X, ALPH (a compressed plane), VP8
        rgba.save(buf, "WEBP", quality=80)
    elif kind == "lossless alpha":
        rgba.save(buf, "WEBP", lossless=True)
    elif kind == "animated lossless":
        frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    elif kind == "animated alpha":
        a = [f.convert("RGBA") for f in frames]
        for f in a:
            f.putalpha(160)
        a[0].save(buf, "WEBP", save_all=True, append_images=a[1:], quality=70)
    return buf.getvalue()


def pixels(data: bytes) -> list[np.ndarray]:
    img = Image.open(io.BytesIO(data))
    out = []
    for i in range(getattr(img, "n_frames", 1)):
        img.seek(i)
        out.append(np.asarray(img.convert("RGBA")))
    return out


def exiftool_reads(path: Path) -> dict:
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        return {}
    run = subprocess.run([exiftool, "-j", "-G", str(path)], capture_output=True, timeout=60)
    tags = json.loads(run.stdout)[0]
    assert not [k for k in tags if k.endswith(":Error") or k.endswith(":Warning")], tags
    assert tags["File:FileType"] in ("WEBP", "Extended WEBP")
    return tags


# ---------------------------------------------------------------- planted after each kind of bitstream

CASES = [
    ("lossless", b"VP8L", "end"),
    ("lossy", b"VP8 ", "end"),
    ("lossy", b"VP8 ", "modes"),
    ("alpha", b"ALPH", "end"),
    ("alpha", b"VP8 ", "end"),
    ("animated lossless", b"VP8L", "end"),
    ("animated alpha", b"ALPH", "end"),
    ("animated alpha", b"VP8 ", "modes"),
]


@pytest.mark.parametrize(("kind", "fourcc", "where"), CASES)
def test_bytes_after_a_bitstream_are_cut_metadata_only(tmp_path, kind, fourcc, where):
    original = encoded(kind)
    data = plant(original, fourcc, where)
    assert SENT in data
    before = pixels(original)
    assert all(np.array_equal(a, b) for a, b in zip(pixels(data), before, strict=True))  # libwebp skips it
    src, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "r.json"
    src.mkdir()
    (src / "a.webp").write_bytes(data)
    assert cli("check", str(src), *OFF).returncode == 1  # the gate sees it
    run = cli("scrub", str(src), "-o", str(out), *OFF, "--report", str(report))
    assert run.returncode == 0, run.stderr[-2000:]
    (entry,) = json.loads(report.read_text())["files"]
    assert entry["status"] == "safe"
    assert "webp.slack" in {f["kind"] for f in entry["findings"]}
    written = (out / "a.webp").read_bytes()
    assert SENT not in written and SENT[:8] not in written
    assert all(np.array_equal(a, b) for a, b in zip(pixels(written), before, strict=True))
    assert exiftool_reads(out / "a.webp").get("Composite:ImageSize", "96x64") == "96x64"
    assert cli("check", str(out), *OFF).returncode == 0


@pytest.mark.parametrize(("kind", "fourcc", "where"), [CASES[0], CASES[3], CASES[6]])
def test_bytes_after_a_bitstream_are_cut_with_pixel_stages(tmp_path, kind, fourcc, where):
    original = encoded(kind)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "a.webp").write_bytes(plant(original, fourcc, where))
    run = cli("scrub", str(src), "-o", str(out), "--json", timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    (entry,) = json.loads(run.stdout)["files"]
    assert entry["status"] == "safe"
    written = (out / "a.webp").read_bytes()
    assert SENT not in written
    assert all(np.array_equal(a, b) for a, b in zip(pixels(written), pixels(original), strict=True))


# ---------------------------------------------------------------- ordinary files stay byte for byte

ORDINARY = ["lossless", "lossy", "alpha", "lossless alpha", "animated lossless", "animated alpha"]


def _ordinary(tmp_path: Path) -> list[tuple[str, bytes]]:
    files = [(kind, encoded(kind)) for kind in ORDINARY]
    for q in (10, 50, 95):  # more lossy ends: each quality ends its partitions differently
        buf = io.BytesIO()
        picture(131, 77, seed=q).save(buf, "WEBP", quality=q, method=6)
        files.append((f"lossy q{q}", buf.getvalue()))
    try:  # scikit-image's sample photos, a test extra
        import skimage.data as skimage_data
    except ImportError:
        skimage_data = None
    for name, q in (("astronaut", 100), ("rocket", 40)) if skimage_data else ():
        # odd lengths: a search blind to the pad byte cut them
        buf = io.BytesIO()
        Image.fromarray(getattr(skimage_data, name)()).crop((0, 0, 333, 211)).save(
            buf, "WEBP", quality=q, method=0
        )
        files.append((f"{name} 333x211 q{q}", buf.getvalue()))
    if (SHARED / "RIFF.webp").is_file():
        files.append(("exiftool RIFF.webp", (SHARED / "RIFF.webp").read_bytes()))
    return files


def test_ordinary_files_keep_their_bitstreams(tmp_path):
    files = _ordinary(tmp_path)
    src, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "r.json"
    src.mkdir()
    for i, (_, data) in enumerate(files):
        (src / f"{i:02d}.webp").write_bytes(data)
    run = cli("scrub", str(src), "-o", str(out), *OFF, "--report", str(report))
    assert run.returncode == 0, run.stderr[-2000:]
    listed = json.loads(report.read_text())["files"]
    assert not [f for f in listed for x in f["findings"] if x["kind"] == "webp.slack"]
    for i, (kind, data) in enumerate(files):
        written = (out / f"{i:02d}.webp").read_bytes()
        assert image_payloads(written) == image_payloads(data), kind
