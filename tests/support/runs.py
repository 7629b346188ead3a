"""Seeds and runs the robustness tests share: a planted file per format, the CLI and the pipeline run on
it, and the checks of a batch that was interrupted (every output whole and clean, or absent)."""

from __future__ import annotations

import functools
import io
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image

from deident import batch
from deident.formats import jpeg as jpeg_mod
from deident.formats import png as png_mod
from deident.formats.base import Source, open_document
from deident.options import FaceMode, Options, TextMode
from support.photos import chunk, segment
from support.planted import exif_block, leaked, picture, xmp_packet

DEIDENT = str(Path(sys.executable).with_name("deident"))


@functools.cache
def seed(fmt: str) -> bytes:
    """A small file of ``fmt`` carrying markers in every metadata place the format has."""
    from support.photos import loaded_gif, loaded_jpeg, loaded_png, loaded_tiff, loaded_webp

    build = {"jpeg": loaded_jpeg, "png": loaded_png, "webp": loaded_webp, "gif": loaded_gif}
    build["tiff"] = loaded_tiff
    with tempfile.TemporaryDirectory() as d:
        return build[fmt](Path(d))[1]


def scrubbed_bytes(path: Path, c) -> bytes:
    """open -> scrub metadata -> decode every frame -> write: what a scrub does to a parser's output.

    Raises the project's ``DeidentError`` on a refusal. Shared with bench/fuzz_parsers.py (atheris).
    """
    doc = open_document(Source(path))
    doc.scrub_metadata(c)
    for _ in doc.frames(c):
        pass
    buf = io.BytesIO()
    doc.write(buf, c)
    return buf.getvalue()


METADATA_ONLY = {"text": TextMode.OFF, "faces": FaceMode.OFF, "jobs": 1}


def scrub(paths, out: Path, **kw):
    return batch.scrub_paths(paths, Options(output_dir=out, **(METADATA_ONLY | kw)))


def cli(*args, timeout=120, env_extra: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEIDENT_KEY="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
    env.update(env_extra or {})
    return subprocess.run([DEIDENT, *args], capture_output=True, timeout=timeout, env=env, **kw)


def final_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".deid-tmp-" not in p.name)


def pixel_bomb(fmt: str, side: int) -> bytes:
    """A small file whose header claims ``side`` x ``side`` pixels."""
    if fmt == "png":
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
        idat = zlib.compress(b"\0" * 1000)
        return png_mod.SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    data = bytearray(seed(fmt))
    if fmt == "jpeg":
        sof = next(s for s in jpeg_mod.walk(bytes(data)).chunks if s.marker in jpeg_mod.SOF)
        data[sof.start + 5 : sof.start + 9] = struct.pack(">HH", min(side, 65535), min(side, 65535))
    elif fmt == "gif":
        data[6:10] = struct.pack("<HH", min(side, 65535), min(side, 65535))
    elif fmt == "webp":
        at = bytes(data).index(b"VP8X") + 8
        data[at + 4 : at + 10] = (min(side, 1 << 24) - 1).to_bytes(3, "little") * 2
    return bytes(data)


def batch_of(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    buf = io.BytesIO()
    picture(64, 48).save(buf, "JPEG")
    base = buf.getvalue()
    for i in range(n):
        exif = exif_block(1).replace(b"MRK-SERIAL-559031", f"MRK-SERIAL-{i:06d}".encode())
        seg = segment(0xE1, b"Exif\0\0" + exif)
        xmp = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp_packet())
        (folder / f"{i:05d}.jpg").write_bytes(base[:2] + seg + xmp + base[2:])


def assert_whole_and_clean(out: Path) -> int:
    finals = final_files(out)
    for p in finals:
        data = p.read_bytes()
        assert data.endswith(b"\xff\xd9"), f"{p.name} is partial"
        assert leaked(data) == [] and b"MRK-SERIAL" not in data, p.name
        assert open_document(Source(p)).metadata_findings() == [], p.name
        Image.open(p).load()
    return len(finals)


def running_batch(argv: list[str], out: Path, files: int, **kw) -> subprocess.Popen:
    """The command started in a session of its own, as from a terminal (Ctrl-C not ignored: a test run
    started as a shell's background job inherits it ignored), returned once ``files`` entries are in
    ``out``."""
    proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=_ctrl_c_as_from_a_terminal, **kw)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and sum(1 for _ in out.iterdir()) >= files:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the batch finished before it could be stopped"
    return proc


def _ctrl_c_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
