"""A/B of the one I/O tuning deident keeps: a commit group's fsyncs side by side instead of in turn.

Runs the metadata-only scrub of bench_metadata.py's generated JPEGs (``--text off --faces off -j 2``)
alternately with ``atomic.FLUSH_THREADS`` at its value and at 1 (fsyncs one after another), and, when
``--baseline`` names other deident executables (older checkouts'), those too; each run into a
folder of its own, evicted from the page cache afterwards, as in bench_metadata.py. Reports the median
time of each variant and the median of the per-round ratios, and appends them to docs/benchmarks.md.

    python bench/bench_flush.py [--files 1500] [--rounds 5] [--baseline [NAME=]/path/to/old/deident ...]
        [--no-serial]  # only this tree against the baselines: the A/B of a change's cost
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
from pathlib import Path

from published import publish

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_metadata as meta

RUNS = meta.WORK / "flush-runs"
LAUNCH = (
    "import sys, deident.atomic as a; a.FLUSH_THREADS = int(sys.argv.pop(1)); "
    "from deident.cli import main; main()"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--baseline", action="append", default=[], help="[NAME=]another deident executable (repeatable)"
    )
    ap.add_argument("--no-serial", action="store_true", help="leave out the one-after-another variant")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    meta.compile_deident()
    src = meta.make_inputs(args.files)
    from deident import atomic

    variants = {
        f"side by side ({atomic.FLUSH_THREADS} threads)": [
            sys.executable,
            "-c",
            LAUNCH,
            str(atomic.FLUSH_THREADS),
        ],
    }
    if not args.no_serial:
        variants["one after another"] = [sys.executable, "-c", LAUNCH, "1"]
    for n, baseline in enumerate(args.baseline):
        name, _, exe = baseline.rpartition("=")
        variants[name or f"baseline {n + 1}"] = [exe]
    times: dict[str, list[float]] = {k: [] for k in variants}
    shutil.rmtree(RUNS, ignore_errors=True)
    names = list(variants)
    for r in range(-1, args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out = RUNS / f"{r}-{len(times[name])}-{names.index(name)}"
            elapsed = meta.timed([*variants[name], "scrub", str(src), "-o", str(out), *meta.METADATA_ONLY])
            if r >= 0:
                times[name].append(elapsed)
            meta.evict(out)
    shutil.rmtree(RUNS, ignore_errors=True)
    first = names[0]
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = {
        k: statistics.median(t / f for t, f in zip(v, times[first], strict=True)) for k, v in times.items()
    }
    load = os.getloadavg()[0]
    lines = [
        "",
        f"## Atomic writes: the flush A/B ({dt.date.today().isoformat()})",
        "",
        f"`bench/bench_flush.py`: the metadata-only scrub of {args.files} generated JPEGs",
        f"(bench_metadata.py's), `-j 2`, {args.rounds} rounds after an untimed one, rotating the order;",
        f"load average {load:.1f} at the end.",
        "",
        "| variant | median time (each round) | time / first variant (median of rounds) |",
        "|---|---|---|",
    ]
    for k, v in times.items():
        lines.append(f"| {k} | {med[k]:.2f} s ({', '.join(f'{x:.2f}' for x in v)}) | {ratio[k]:.2f} |")
    publish("\n".join(lines), args.no_append)


if __name__ == "__main__":
    main()
