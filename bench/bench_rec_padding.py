"""The recogniser's padding on real photos: what a narrower model input would change (issue 24).

The recogniser pads every batch to at least 48x320 (``readers.REC_SHAPE``), as rapidocr does, though most
crops it reads are short: half of its input is padding. This scrubs ../shared's real-world set (default on
faces, text and controls, ``--faces eyes``, ``--text phi`` on the text) and pydicom-data's 120-frame cine
(default and ``--text phi``) in this process with ``-j 1``, records every crop the recogniser is given, and
reads each distinct call again with each narrower minimum width (batches still padded to their widest
crop). A reading that differs can flip what deident decides: ``phi.MIN_SCORE`` and
``evidence.INSIDE_MIN_SCORE`` (0.5), ``evidence.TALL_LINE_MIN_SCORE`` (0.8), ``REREAD_BELOW`` (0.97), the
count of letters and digits (``evidence.reads_as``) and the PHI class (``phi.classify``). Prints the table
and, unless ``--dry-run``, appends a dated section to docs/benchmarks.md.

    python bench/bench_rec_padding.py [--widths 96,192,288,312] [--dry-run]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT.parent / "shared" / "corpora" / "realworld"
sys.path.insert(0, str(ROOT / "tests"))  # support.dicom finds the cine
RUNS = (  # folders of the set (or "cine"), extra options
    (("faces", "text", "controls"), ()),
    (("faces",), ("--faces", "eyes")),
    (("text",), ("--text", "phi")),
    (("cine",), ()),
    (("cine",), ("--text", "phi")),
)


@contextlib.contextmanager
def recorded(calls: list):
    """Every recogniser call of the block as (crops, readings)."""
    from deident.text import readers

    shipped = readers.Recogniser.__call__

    def call(self, imgs):
        out = shipped(self, imgs)
        calls.append(([im.copy() for im in imgs], out))
        return out

    readers.Recogniser.__call__ = call
    try:
        yield
    finally:
        readers.Recogniser.__call__ = shipped


def record() -> list:
    """The distinct recogniser calls of every run (the engine's own memo leaves out repeats in a run)."""
    from click.testing import CliRunner

    from deident.cli import cli
    from support.dicom import CINE, find_pydicom_file

    calls: list = []
    folders = {"cine": find_pydicom_file(CINE), **{f: SET / f for f in ("faces", "text", "controls")}}
    for names, extra in RUNS:
        if any(folders[n] is None for n in names):
            print(f"skipped {names}: pydicom-data is not installed", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory(prefix="bench-rec-") as out, recorded(calls):
            args = ["scrub", *(str(folders[n]) for n in names), "-o", out, "-j", "1", *extra]
            CliRunner().invoke(cli, args)
    distinct, seen = [], set()
    for crops, reads in calls:
        key = hashlib.blake2b(b"".join(repr(c.shape).encode() + c.tobytes() for c in crops)).digest()
        if key not in seen:
            seen.add(key)
            distinct.append((crops, reads))
    return distinct


def read(rec, crops: list, min_width: int) -> list:
    from deident.text import readers

    shipped = readers.REC_SHAPE
    readers.REC_SHAPE = (*shipped[:2], min_width)
    try:
        return rec(crops)
    finally:
        readers.REC_SHAPE = shipped


def padded_width(crops: list, min_width: int) -> float:
    """The model input's width summed over the crops (each batch padded to its widest crop)."""
    from deident.text import readers

    return sum(
        len(batch) * max(min_width, *(48 * im.shape[1] / im.shape[0] for im in batch))
        for _, batch in readers._batches(crops)
    )


def thresholds() -> tuple[float, ...]:
    """The recogniser scores deident's rules compare against."""
    from deident.text import REREAD_BELOW, phi
    from deident.text.evidence import INSIDE_MIN_SCORE, TALL_LINE_MIN_SCORE

    return tuple(sorted({phi.MIN_SCORE, INSIDE_MIN_SCORE, TALL_LINE_MIN_SCORE, REREAD_BELOW}))


def compare(calls: list, min_width: int, rec) -> dict:
    from deident.text import phi
    from deident.text.engine import Recognised
    from deident.text.evidence import alnum, reads_confidently

    n: Counter = Counter()
    changes = []
    for crops, shipped in calls:
        for (t0, s0), (t1, s1) in zip(shipped, read(rec, crops, min_width), strict=True):
            changes.append(abs(s1 - s0))
            n["text differs"] += t0 != t1
            n["line read as text differs"] += t0 != t1 and reads_confidently(Recognised(t0, s0))
            n["alnum differs"] += alnum(t0) != alnum(t1)
            n["class differs"] += phi.classify(t0, s0) != phi.classify(t1, s1)
            for t in thresholds():
                n[t] += (s0 >= t) != (s1 >= t)
    area = sum(padded_width(c, min_width) for c, _ in calls) / sum(padded_width(c, 320) for c, _ in calls)
    return {"n": n, "max": max(changes), "mean": statistics.fmean(changes), "area": area}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", default="96,192,288,312", help="minimum padded widths to try (px at 48 high)")
    ap.add_argument("--dry-run", action="store_true", help="print only; do not append to docs/benchmarks.md")
    args = ap.parse_args()
    if not SET.is_dir():
        print(f"{SET} not found: this benchmark needs ../shared", file=sys.stderr)
        return 1
    from deident.text import engine, readers

    assert readers.REC_SHAPE[2] == 320, "the shipped width changed: update this benchmark's reference"
    calls = record()
    later = engine.load(engine.threads_for(1))[2]
    later([])  # loaded, if no run read a line
    rec = later.model
    for crops, shipped in calls:  # the harness reads as the pipeline did
        assert rec(crops) == shipped
    crops = [im for c, _ in calls for im in c]
    ratios = [im.shape[1] / im.shape[0] for im in crops]
    head = (
        f"{len(calls)} distinct recogniser calls, {len(crops)} crops; crop width / height: median "
        f"{statistics.median(ratios):.2f}, {np.mean(np.array(ratios) < 320 / 48):.0%} under 320/48."
    )
    crossing = " / ".join(map(str, thresholds()))
    lines = [
        f"## The recogniser's padding on real photos — {utc_now()} (bench/bench_rec_padding.py)",
        "",
        f"`python bench/bench_rec_padding.py --widths {args.widths}`",
        "",
        head,
        "",
        "| minimum width | model input (% of shipped) | readings whose text differs | of them lines read "
        f"as text (0.8, 2 letters or digits) | score change max / mean | scores crossing {crossing} | "
        "letter-and-digit count differs | PHI class differs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for width in (int(w) for w in args.widths.split(",")):
        r = compare(calls, width, rec)
        n = r["n"]
        lines.append(
            f"| {width} | {100 * r['area']:.0f} | {n['text differs']} of {len(crops)} | "
            f"{n['line read as text differs']} | {r['max']:.3f} / {r['mean']:.3f} | "
            f"{' / '.join(str(n[t]) for t in thresholds())} | "
            f"{n['alnum differs']} | {n['class differs']} |"
        )
    publish("\n".join(lines), args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
