"""``deident check`` as a gate: start-up of ``check --fast`` on one clean JPEG, and a folder of clean photos.

1. ``deident check --fast ONE.jpg`` as a subprocess, wall time of each of ``--runs`` runs (median, min,
   max). The issue's target is under 0.3 s.
2. ``deident check DIR`` (every detector: metadata, names, captions, barcodes, burned-in text, faces) on
   ``--files`` generated clean photos (640x480, smooth gradients with a little noise, no metadata, no text,
   no faces), run under ``script`` so that stderr is a terminal and the progress bar is drawn. The
   resident memory (VmRSS) of the whole process tree is sampled every 0.2 s from /proc; the report gives
   the peak and the tree's RSS at each tenth of the run, which shows whether memory grows with the batch.
   The captured terminal output is checked for the bar ("deident ... N/TOTAL").

Appends a dated section to docs/benchmarks.md.

    python bench/bench_check.py [--files 500] [--runs 10] [--jobs 2]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "check"
DEIDENT = Path(sys.executable).parent / "deident"


def clean_photo(rng: np.random.Generator, k: int) -> bytes:
    yy, xx = np.mgrid[0:480, 0:640]
    angle = (k % 12) * np.pi / 6
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / 800.0
    base = np.stack([ramp * 180 + 40, (1 - ramp) * 120 + 60, np.full_like(ramp, 80 + k % 90)], axis=2)
    arr = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=88)  # Pillow writes JFIF only: no EXIF, no comment
    return buf.getvalue()


def make_inputs(n: int) -> Path:
    src = WORK / f"in-{n}"
    if src.is_dir() and len(list(src.rglob("*.jpg"))) == n:
        return src
    shutil.rmtree(src, ignore_errors=True)
    rng = np.random.default_rng(7)
    for i in range(n):
        folder = src / f"case-{i // 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"view-{i % 50:02d}.jpg").write_bytes(clean_photo(rng, i))
    return src


def time_fast(image: Path, runs: int) -> list[float]:
    subprocess.run([DEIDENT, "check", "--fast", image], capture_output=True, check=True)  # warm the caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run([DEIDENT, "check", "--fast", image], capture_output=True)
        times.append(time.perf_counter() - t0)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return times


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int]:
    """(RSS of the whole tree, number of processes) in KiB."""
    children = _children()
    todo, total, count = [root], 0, 0
    while todo:
        pid = todo.pop()
        total += _rss_kib(pid)
        count += 1
        todo += children.get(pid, [])
    return total, count


def run_folder(folder: Path, jobs: int) -> dict:
    cmd = f"{DEIDENT} check -j {jobs} {folder}"
    log = WORK / "terminal.log"
    samples: list[tuple[float, int, int]] = []
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(["script", "-qefc", cmd, "/dev/null"], stdout=out, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                rss, n = tree_rss(proc.pid)
                samples.append((time.perf_counter() - t0, rss, n))
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", log.read_bytes().decode("utf-8", "replace"))
    bars = re.findall(r"deident\S*\s+\S*━+\S*\s+\S*?(\d+)/(\d+)", text)
    summary = re.search(r"deident check: [^\r\n]*", text)
    return {
        "rc": rc,
        "wall": wall,
        "samples": samples,
        "bars": bars,
        "summary": summary.group() if summary else "",
    }


def report(args, fast: list[float], folder: dict, n_files: int) -> str:
    samples = [s for s in folder["samples"] if s[1] > 0]  # the last samples may follow the exit
    peak = max(s[1] for s in samples) / 1024
    wall = folder["wall"]
    tenths = []
    for k in range(1, 11):
        t = wall * k / 10
        near = min(samples, key=lambda s, t=t: abs(s[0] - t))
        tenths.append(f"{near[1] / 1024:.0f}")
    # growth: mean RSS over the second quarter of the run vs the last quarter (models are loaded by then)
    q2 = [s[1] for s in samples if wall * 0.25 <= s[0] < wall * 0.5]
    q4 = [s[1] for s in samples if wall * 0.75 <= s[0] <= wall]
    growth = (statistics.mean(q4) - statistics.mean(q2)) / 1024 if q2 and q4 else float("nan")
    procs = max(s[2] for s in samples)
    last_bar = folder["bars"][-1] if folder["bars"] else None
    now = utc_now()
    load = os.getloadavg()[0]
    lines = [
        f"## deident check: start-up and a folder of clean photos — {now}",
        "",
        f"`python bench/bench_check.py --files {n_files} --runs {args.runs} --jobs {args.jobs}`; "
        f"2 CPUs shared with other sessions' jobs (load average {load:.1f} at the end): seconds are "
        "indicative.",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| `deident check --fast ONE.jpg` (640x480, clean), wall time per run, {args.runs} runs | "
        f"median **{statistics.median(fast):.3f} s** (min {min(fast):.3f}, max {max(fast):.3f}); "
        "target < 0.3 s |",
        f"| `deident check -j {args.jobs} DIR`, {n_files} clean 640x480 photos, every detector | "
        f"{wall:.0f} s wall ({wall / n_files:.2f} s per file), exit {folder['rc']}: "
        f"{folder['summary'].removeprefix('deident check: ') or '?'} |",
        "| progress bar on a terminal (run under `script`) | "
        + (
            f"drawn {len(folder['bars'])} times, last seen at {last_bar[0]}/{last_bar[1]} |"
            if last_bar
            else "not seen |"
        ),
        f"| resident memory of the process tree (up to {procs} processes), sampled every 0.2 s | "
        f"peak {peak:.0f} MiB; second quarter to last quarter of the run: {growth:+.0f} MiB |",
        "",
        f"RSS of the tree at each tenth of the run (MiB): {', '.join(tenths)}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print the section, leave docs alone")
    args = parser.parse_args()
    if shutil.which("script") is None:
        sys.exit("needs `script` (util-linux) to give deident a terminal")
    WORK.mkdir(parents=True, exist_ok=True)
    one = WORK / "one.jpg"
    one.write_bytes(clean_photo(np.random.default_rng(1), 3))
    fast = time_fast(one, args.runs)
    print(f"check --fast one JPEG: median {statistics.median(fast):.3f} s", flush=True)
    folder = make_inputs(args.files)
    result = run_folder(folder, args.jobs)
    print(f"check DIR: {result['wall']:.0f} s, rc {result['rc']}, {result['summary']}", flush=True)
    section = report(args, fast, result, args.files)
    publish(section, args.no_write)


if __name__ == "__main__":
    main()
