"""Whole-slide scrub of a 2 GB-class pyramid: wall time and peak memory of the deident process.

Generates an SVS-like tiled pyramid under bench/.work/wsi/ (uncompressed 512x512 tiles, so the file really
is ~2 GB; three levels, a thumbnail, a label and a macro, Aperio descriptions with Date/User/Filename),
then runs ``deident scrub IN -o OUT --text off --faces off`` under ``/usr/bin/time -v`` (peak RSS of
that process) and compares with ``cp`` of the same file (the I/O floor). Checks that the output holds no
planted byte, that every tile of every level is byte-identical (streamed hashes) and that OpenSlide opens
it with the same levels. Appends a dated section to docs/benchmarks.md and removes the work folder.

    python bench/bench_wsi.py [--gb 2.0] [--keep] [--dry-run]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "wsi"
DEIDENT = Path(sys.executable).with_name("deident")
TILE = 512
HEADER = "Aperio Image Library v12.0.15"
IDENT = "Date = 12/29/2020|Time = 09:12:44|User = jdoe|Filename = SMITH_JANE_S17-04522|ScanScope ID = SS7731"
PLANTED = [b"12/29/2020", b"09:12:44", b"jdoe", b"SMITH_JANE", b"S17-04522", b"SS7731"]


def make_slide(path: Path, gb: float) -> tuple[int, int]:
    """Write the pyramid tile by tile (a few distinct tiles cycled: generation stays fast and small)."""
    import tifffile

    side = int((gb * 1e9 / 3) ** 0.5) // TILE * TILE
    w, h = side * 3 // 2 // TILE * TILE, side * 2 // 3 // TILE * TILE
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 255, (TILE, TILE, 3), dtype=np.uint8) for _ in range(7)]

    def tiles(n: int):
        for i in range(n):
            yield pool[i % len(pool)]

    def n_tiles(lw, lh):
        return -(-lw // TILE) * -(-lh // TILE)

    dims = f"{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) RAW/RGB"
    fields = f"AppMag = 40|{IDENT}|MPP = 0.2500"
    common = {"metadata": None, "photometric": "rgb", "dtype": np.uint8}
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        desc = f"{HEADER}\r\n{dims}|{fields}"
        tw.write(tiles(n_tiles(w, h)), shape=(h, w, 3), tile=(TILE, TILE), description=desc, **common)
        thumb = rng.integers(0, 255, (h * 1024 // w, 1024, 3), dtype=np.uint8)
        desc = f"{HEADER}\r\n{w}x{h} -> 1024x{thumb.shape[0]} - |{fields}"
        tw.write(thumb, description=desc, metadata=None)
        for f in (4, 16):
            lw, lh = w // f, h // f
            tw.write(tiles(n_tiles(lw, lh)), shape=(lh, lw, 3), tile=(TILE, TILE), subfiletype=1,
                     description=f"{HEADER}\r\n{dims} -> {lw}x{lh}|{fields}", **common)  # fmt: skip
        label = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
        tw.write(label, subfiletype=1, description=f"{HEADER}\r\nlabel 400x400", metadata=None)
        macro = rng.integers(0, 255, (430, 1280, 3), dtype=np.uint8)
        tw.write(macro, subfiletype=9, description=f"{HEADER}\r\nmacro 1280x430", metadata=None)
    return w, h


def tile_hashes(path: Path) -> list[str]:
    """One SHA-256 per tiled page over its tiles' raw bytes, read in order (never the whole file)."""
    import tifffile

    out = []
    with tifffile.TiffFile(path) as tf, open(path, "rb") as fh:
        for page in tf.pages:
            if not page.is_tiled:
                continue
            h = hashlib.sha256()
            for off, n in zip(page.dataoffsets, page.databytecounts, strict=True):
                fh.seek(off)
                h.update(fh.read(n))
            out.append(h.hexdigest())
    return out


def planted_left(path: Path) -> int:
    found, tail = set(), b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            buf = tail + chunk
            found |= {m for m in PLANTED if m in buf}
            tail = buf[-32:]
    return len(found)


def timed(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MB, exit code) of one command under /usr/bin/time -v."""
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    if res.returncode:
        print(res.stdout[-2000:], res.stderr[-2000:], file=sys.stderr)
    return wall, int(m.group(1)) // 1024 if m else -1, res.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--keep", action="store_true", help="keep bench/.work/wsi")
    parser.add_argument("--dry-run", action="store_true", help="print, do not append to docs/benchmarks.md")
    args = parser.parse_args()
    free = shutil.disk_usage(ROOT).free / 1e9
    if free < 3.5 * args.gb:
        print(f"need {3.5 * args.gb:.1f} GB free, have {free:.1f}", file=sys.stderr)
        return 2
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        src = WORK / "slide.svs"
        t0 = time.perf_counter()
        w, h = make_slide(src, args.gb)
        gen = time.perf_counter() - t0
        size = src.stat().st_size
        cp_wall, cp_rss, _ = timed(["cp", str(src), str(WORK / "copy.svs")])
        (WORK / "copy.svs").unlink()
        out_dir = WORK / "out"
        cmd = [str(DEIDENT), "scrub", str(src), "-o", str(out_dir), "--text", "off", "--faces", "off"]
        wall, rss, code = timed([*cmd, "-j", "1"])
        (out,) = out_dir.rglob("*.svs")
        same_tiles = tile_hashes(out) == tile_hashes(src)
        left = planted_left(out)
        import openslide

        with openslide.OpenSlide(str(src)) as a, openslide.OpenSlide(str(out)) as b:
            levels_ok = a.level_dimensions == b.level_dimensions
            assoc = ", ".join(sorted(b.associated_images))
            level_count = b.level_count
        row = (
            f"| {size / 1e9:.2f} GB ({w}x{h}, {level_count} levels) | {wall:.1f} s "
            f"| {size / 1e6 / wall:.0f} MB/s "
            f"| {rss} MB | {cp_wall:.1f} s | {cp_rss} MB | {'yes' if same_tiles else 'NO'} "
            f"| {'yes' if levels_ok else 'NO'} | {left} | {assoc} | {code} |"
        )
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    now = utc_now()
    section = f"""
## Whole-slide image: streaming scrub of a 2 GB-class pyramid — {now} (bench/bench_wsi.py)

`python bench/bench_wsi.py --gb {args.gb}`: one generated SVS-like BigTIFF (uncompressed {TILE}x{TILE} tiles,
levels 1, 1/4, 1/16, a thumbnail, a 400x400 label, a 1280x430 macro; Aperio descriptions carrying Date,
Time, User, Filename, ScanScope ID; generated in {gen:.0f} s). deident: `deident scrub IN -o OUT --text off
--faces off -j 1` (scrub, write with fsync, re-open and verify); `cp` of the same file is the I/O floor.
Peak RSS from `/usr/bin/time -v`. Tiles: SHA-256 of every level's raw tile bytes, input vs output.
Shared machine (2 cores, other sessions running): times are indicative.

| input | deident | rate | peak RSS | cp | cp RSS | tiles same | levels same | leaks | assoc. | exit |
|---|---|---|---|---|---|---|---|---|---|---|
{row}
"""
    publish(section, args.dry_run)
    return 0 if code == 0 and same_tiles and levels_ok and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
