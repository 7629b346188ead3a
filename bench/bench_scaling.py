"""Scaling: a metadata-only scrub of 10, 100, 1,000 and 10,000 files; wall time and peak memory.

Generates small JPEGs (320x240, EXIF with GPS, owner, serial and dates, values unique per file) under
bench/.work/scaling/, runs ``deident scrub DIR -o OUT --text off --faces off`` once per size (default
``--jobs``: one worker per CPU), checks every output (count, no planted marker bytes), appends a dated
section to docs/benchmarks.md, redraws the chart (bench/chart.py) and deletes what it generated.

Memory is measured two ways, both for the whole process tree of one run (the CLI and its workers):

- largest process: ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` read in a small wrapper process
  that only runs deident, so it is the peak resident set of the biggest single process of that run;
- tree total: the sum of the resident sets of every process of the tree, sampled from /proc every
  20 ms, maximum over the run (counts shared library pages once per process, so it over-estimates).

    python bench/bench_scaling.py [--sizes 10,100,1000,10000] [--keep] [--no-append]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "scaling"
sys.path.insert(0, str(ROOT / "tests"))  # the planted-EXIF builder and marker list, one definition

from support import planted  # noqa: E402

METADATA_ONLY = ("--text", "off", "--faces", "off")
SIZE = (320, 240)


def make_inputs(n: int) -> Path:
    src = WORK / f"in-{n}"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    rng = np.random.default_rng(n)
    bases = []
    for k in range(4):
        arr = rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
        arr[::8] = 40 * k  # some structure, so the files are not pure noise
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=85)
        bases.append(buf.getvalue())
    for i in range(n):
        exif = planted.exif_block(orientation=1 + i % 8)
        exif = exif.replace(planted.SERIAL.encode(), f"MRK-SER-{i:09d}".encode()[: len(planted.SERIAL)])
        seg = b"\xff\xe1" + (len(exif) + 8).to_bytes(2, "big") + b"Exif\0\0" + exif
        data = bases[i % len(bases)]
        (src / f"img{i:05d}.jpg").write_bytes(data[:2] + seg + data[2:])
    return src


def _tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) over ``root`` and its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            with open(f"/proc/{entry.name}/statm") as fh:
                rss[int(entry.name)] = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(cmd: list[str]) -> dict:
    """Run ``cmd`` through a wrapper: wall time, exit code, largest process RSS, sampled tree RSS."""
    wrapper = (
        "import resource, subprocess, sys, json\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
        "print(json.dumps({'rc': rc, 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    env = dict(os.environ, DEIDENT_KEY="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
    t0 = time.perf_counter()
    argv = [sys.executable, "-c", wrapper, *cmd]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    info = json.loads(out.strip().splitlines()[-1])
    return {
        "wall": wall,
        "rc": info["rc"],
        "largest_mb": info["maxrss_kb"] / 1024,
        "tree_mb": peak[0] / 2**20,
    }


def check_outputs(out: Path, n: int) -> tuple[int, int]:
    files = sorted(out.rglob("*.jpg"))
    leaks = sum(1 for f in files if planted.leaked(f.read_bytes()))
    return len(files), leaks


def fit(ns: list[int], ts: list[float]) -> tuple[float, float]:
    """Least-squares t = a + b*n: (start-up seconds, seconds per file)."""
    b, a = np.polyfit(np.asarray(ns, float), np.asarray(ts, float), 1)
    return float(a), float(b)


def section(rows: list[dict], a: float, b: float, jobs: int) -> str:
    now = utc_now()
    lines = [
        "",
        f"## Scaling: metadata-only scrub of 10 to 10,000 files — {now}",
        "",
        f"`python bench/bench_scaling.py`: generated {SIZE[0]}x{SIZE[1]} JPEGs (EXIF with GPS, owner,",
        "serial, dates; values unique per file), `deident scrub DIR -o OUT --text off --faces off`",
        f"(default `--jobs` = {jobs} CPUs), one run per size. Peak memory of the whole process tree:",
        "*largest process* is `getrusage(RUSAGE_CHILDREN).ru_maxrss` in a wrapper that only runs deident;",
        "*tree total* is the sum of every process's resident set sampled from /proc every 20 ms (shared",
        "pages counted once per process). Shared machine (2 cores, other sessions running): times are",
        "indicative.",
        "",
        "| files | wall time | per file | files/s | largest process | tree total | outputs | leaks | exit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['wall']:.2f} s | {1000 * r['wall'] / r['n']:.2f} ms | "
            f"{r['n'] / r['wall']:.0f} | {r['largest_mb']:.0f} MB | {r['tree_mb']:.0f} MB | "
            f"{r['outputs']:,} | {r['leaks']} | {r['rc']} |"
        )
    big, small = rows[-1], rows[0]
    lines += [
        "",
        f"Least-squares fit over the {len(rows)} runs: **{a:.2f} s start-up + {1000 * b:.2f} ms per "
        f"file**. From {small['n']:,} to {big['n']:,} files ({big['n'] // small['n']:,}x) the wall time "
        f"grew {big['wall'] / small['wall']:.1f}x and the largest process's peak memory "
        f"{big['largest_mb'] / small['largest_mb']:.2f}x.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--keep", action="store_true", help="keep the generated files under bench/.work/")
    ap.add_argument("--no-append", action="store_true", help="print the section, do not write the docs")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    deident = str(Path(sys.executable).with_name("deident"))
    if not Path(deident).exists():
        deident = shutil.which("deident") or "deident"
    rows = []
    try:
        for n in sizes:
            src = make_inputs(n)
            out = WORK / f"out-{n}"
            shutil.rmtree(out, ignore_errors=True)
            r = measure([deident, "scrub", str(src), "-o", str(out), *METADATA_ONLY])
            r["n"] = n
            r["outputs"], r["leaks"] = check_outputs(out, n)
            rows.append(r)
            print(json.dumps(r), flush=True)
            shutil.rmtree(src, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    a, b = fit([r["n"] for r in rows], [r["wall"] for r in rows])
    text = section(rows, a, b, os.cpu_count() or 1)
    publish(text, args.no_append)
    if not args.no_append:
        sys.path.insert(0, str(ROOT / "bench"))
        import chart

        chart.main([])


if __name__ == "__main__":
    main()
