"""The DB text detector as shipped vs with its denormal weights flushed (``text/weights.py``), A/B in one run.

Each picture (../shared's real-world set, else sample_images/) is scaled to at most 960 px on its long
side, as the overview sees it, and run through both sessions alternately, at 1 and 2 intra-op threads.
Reports CPU seconds (the whole process, onnxruntime's threads included), wall seconds, and the largest
difference between the two probability maps in units in the last place. Appends a dated section to
docs/benchmarks.md (``--dry-run``: print only).

    python bench/bench_detector.py [--rounds 2] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "realworld"
PICTURES = (".jpg", ".jpeg", ".png")


def pictures() -> list[Path]:
    found = sorted(p for p in SHARED.glob("*/*") if p.suffix.lower() in PICTURES)
    return found or sorted(p for p in (ROOT / "sample_images").iterdir() if p.suffix.lower() in PICTURES)


def network_input(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    scale = min(1.0, 960 / max(rgb.size))
    w, h = (max(32, round(v * scale / 32) * 32) for v in rgb.size)
    bgr = np.asarray(rgb.resize((w, h)), np.float32)[..., ::-1]
    return ((bgr / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()


def main() -> None:
    from deident.text import engine
    from deident.text.weights import without_denormals

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    path = engine.model_dir() / engine.MODEL_FILES["Det"]
    shipped = path.read_bytes()
    flushed = without_denormals(shipped)
    words = np.frombuffer(shipped, np.uint8) != np.frombuffer(flushed, np.uint8)
    inputs = [network_input(p) for p in pictures()]
    rows = []
    for threads in (1, 2):
        sessions = {
            "shipped": engine._session(path, threads),
            "flushed": engine._session(path, threads, flush=True),
        }
        name = sessions["shipped"].get_inputs()[0].name
        cpu = dict.fromkeys(sessions, 0.0)
        wall = dict.fromkeys(sessions, 0.0)
        ulp = 0
        for _ in range(args.rounds):
            for x in inputs:
                maps = {}
                for variant, s in sessions.items():
                    c, w = time.process_time(), time.perf_counter()
                    maps[variant] = s.run(None, {name: x})[0]
                    cpu[variant] += time.process_time() - c
                    wall[variant] += time.perf_counter() - w
                a, b = (maps[v].view(np.int32).astype(np.int64) for v in sessions)
                ulp = max(ulp, int(np.abs(a - b).max()))
        rows.append((threads, cpu, wall, ulp))
    load = os.getloadavg()[0]
    stamp = utc_now()
    lines = [
        f"## The DB detector's denormal weights: shipped vs flushed — {stamp} (bench/bench_detector.py)",
        "",
        f"`python bench/bench_detector.py --rounds {args.rounds}`: {len(inputs)} pictures at <= 960 px, each "
        f"run through both sessions alternately, {args.rounds} rounds; {int(words.sum()):,} bytes of the "
        f"model differ once flushed; load average {load:.1f} at the end.",
        "",
        "| intra-op threads | shipped CPU-s | flushed CPU-s | CPU change | shipped wall | flushed wall | "
        "largest map difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for threads, cpu, wall, ulp in rows:
        change = cpu["flushed"] / cpu["shipped"] - 1
        lines.append(
            f"| {threads} | {cpu['shipped']:.2f} | {cpu['flushed']:.2f} | {change:+.0%} | "
            f"{wall['shipped']:.2f} s | {wall['flushed']:.2f} s | {ulp} ulp |"
        )
    publish("\n".join(lines), args.dry_run)


if __name__ == "__main__":
    main()
