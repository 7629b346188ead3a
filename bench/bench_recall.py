"""Recall of ``deident scrub --faces off`` (``--text all``) on synthetic label photos the tests do not hold.

tests/ scrubs textsynth's seeds 0, 3 and 9 (and three pictures of seeds 13 and 14); this scrubs other
seeds at four sizes through the CLI, as a user would, and scores every planted line with textsynth's leak
rule (a stretch of its ink keeps more than 35 % of its contrast). With ``--against REV`` the same images
are scrubbed by that commit too (a worktree under bench/.work, put first on PYTHONPATH) and the outputs
compared. With ``--grey`` every picture is turned grey first (as a radiograph or a grey micrograph shows
its labels): coloured print keeps only its difference in brightness. Prints the leaked lines and, unless
``--dry-run``, appends a dated section to docs/benchmarks.md.

    python bench/bench_recall.py [--against 5b64a3e] [--grey] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "recall"
sys.path.insert(0, str(ROOT / "tests"))

from support import textsynth as ts  # noqa: E402
from trees import source_of  # noqa: E402

SETS = (  # seed, size, labelled images
    (5, (1024, 768), 30),
    (6, (1600, 1200), 12),
    (7, (640, 480), 20),
    (11, (1024, 768), 20),
    (12, (1600, 1200), 10),
    (13, (640, 480), 20),
    (14, (1280, 960), 15),
)
CONTROLS = 4  # text-free images per set


def scrub(folder: Path, out: Path, src: Path | None) -> None:
    env = dict(os.environ, DEIDENT_CACHE_DIR=str(out.with_name(out.name + "-cache")))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    deident = Path(sys.executable).with_name("deident")
    subprocess.run([str(deident), "scrub", str(folder), "-o", str(out), "--faces", "off", "-q"], env=env)


def score(samples: list, out: Path) -> tuple[list[str], int]:
    leaked, lines = [], 0
    for name, sample in samples:
        after = np.asarray(Image.open(out / name).convert("RGB"))
        leaked += [
            f"{name}: {ln.text!r} ({ln.size} px, {ln.angle:g} deg)" for ln in ts.leaked_lines(sample, after)
        ]
        lines += len(sample.lines)
    return leaked, lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", help="a commit to scrub the same images with")
    ap.add_argument("--grey", action="store_true", help="every picture turned grey first")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "in").mkdir(parents=True)
    samples = []
    for seed, size, n in SETS:
        for s in ts.make_set(n, size, controls=CONTROLS, seed=seed):
            if args.grey:
                s.rgb = np.repeat(s.rgb.mean(axis=2).round().astype(np.uint8)[:, :, None], 3, axis=2)
            name = f"{seed}_{s.name}.png"
            Image.fromarray(s.rgb).save(WORK / "in" / name)
            samples.append((name, s))
    rows = []
    with source_of(args.against, WORK / "against") as other:
        runs = {"this code": None} | ({args.against: other} if args.against else {})
        for label, src in runs.items():
            out = WORK / f"out-{len(rows)}"
            scrub(WORK / "in", out, src)
            leaked, lines = score(samples, out)
            rows.append((label, out, leaked, lines))
            print(label, f"{len(leaked)} of {lines} lines leaked", *leaked, sep="\n  ")
    now = utc_now()
    sets = ", ".join(f"seed {s} at {w}x{h} ({n} + {CONTROLS} text-free)" for s, (w, h), n in SETS)
    grey = ", turned grey" if args.grey else ""
    title = f"Recall on synthetic label photos the tests do not hold{grey}"
    text = [f"\n## {title} — {now} (bench/bench_recall.py)\n"]
    text.append(f"`deident scrub --faces off` on textsynth's {sets}{grey}; textsynth's leak rule.\n")
    text += ["| code | lines leaked | which |", "|---|---|---|"]
    for label, _, leaked, lines in rows:
        text.append(f"| {label} | {len(leaked)} of {lines} | {'; '.join(leaked) or 'none'} |")
    if len(rows) == 2:
        differ = [
            name
            for name, _ in samples
            if (rows[0][1] / name).read_bytes() != (rows[1][1] / name).read_bytes()
        ]
        text.append(f"\nOutputs that differ between the two: {len(differ)} ({', '.join(differ) or 'none'}).")
    publish("\n".join(text), args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
