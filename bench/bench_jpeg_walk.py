"""A/B of the JPEG walk's caches: metadata-only scrub in-process, CPU seconds, interleaved rounds.

    python bench/bench_jpeg_walk.py [--files 300] [--rounds 5]

Variants: as shipped; without the one-entry cache of ``jpeg.walk`` (every call walks again). A cache stays
only where this shows 5 % or more: on 2026-12-05 ``_ScansSeen`` (2 %), the memo of libjpeg's answer
(-1 %) and the table plan's ``lru_cache`` (-1 %) did not, and went.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_metadata
import deident.formats.jpeg as jpeg
import deident.formats.jpeg_segments as jpeg_segments
from deident import batch
from deident.options import FaceMode, Options, TextMode

CACHED = jpeg.walk


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


VARIANTS = {"as shipped": CACHED, "without the walk cache": jpeg_segments._walk}
WALKERS = (jpeg, jpeg_segments)  # every module that calls walk by its own name


def use(walker) -> None:
    for module in WALKERS:
        module.walk = walker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    src = bench_metadata.make_inputs(args.files)
    out = bench_metadata.WORK / "walk-ab"
    names = list(VARIANTS)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            use(VARIANTS[name])
            shutil.rmtree(out, ignore_errors=True)
            options = Options(text=TextMode.OFF, faces=FaceMode.OFF, jobs=1, output_dir=out)
            start = cpu()
            results = list(batch.scrub_paths([src], options))
            times[name].append(cpu() - start)
            assert all(r.status.value == "safe" for r in results), name
    use(CACHED)
    base = statistics.median(times[names[0]])
    for name in names:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.3f} ({', '.join(f'{t:.3f}' for t in times[name])}) | {med / base:.2f} |")


if __name__ == "__main__":
    main()
