"""Text stage vs one plain Tesseract pass: seconds per 2 MP and 12 MP label photo, and lines leaked.

Images come from tests/textsynth.py (real backgrounds, PHI label lines 14-96 px, rotated 0/90/180/270
and a few degrees, light-on-dark and coloured). Each tool's boxes are filled black and scored with
textsynth's leak rule (a line leaks when a stretch of its ink keeps > 35% of its contrast). Per image the
two tools run back to back, their order alternating, so machine load hits both alike. Tesseract gets
the boxes of every word it reports (``image_to_data``), grown by 30% of their height like deident's.
Appends a dated section to docs/benchmarks.md.

    python bench/bench_text.py [--small 4] [--large 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "text"
sys.path.insert(0, str(ROOT / "tests"))

import textsynth as ts  # noqa: E402

SIZES = {"2 MP": (1632, 1224), "12 MP": (4000, 3000)}


def deident_regions(rgb: np.ndarray) -> list:
    from deident.formats.base import Context, Frame
    from deident.keys import Keyring
    from deident.options import Options, TextMode
    from deident.text import TextDetector

    ctx = Context(Options(text=TextMode.ALL, jobs=1), Keyring(b"bench-key-0123456789abcdef"))
    return TextDetector(ctx.options).detect(Frame(0, rgb), ctx)


def tesseract_regions(rgb: np.ndarray) -> list:
    import pytesseract

    from deident.regions import Region

    data = pytesseract.image_to_data(rgb, output_type=pytesseract.Output.DICT)
    out = []
    for i, word in enumerate(data["text"]):
        if not word.strip():
            continue
        x, y, w, h = (data[k][i] for k in ("left", "top", "width", "height"))
        m = 0.3 * h
        out.append(Region.box(x - m, y - m, x + w + m, y + h + m, "text"))
    return out


TOOLS = {"deident text": deident_regions, "tesseract (1 pass)": tesseract_regions}


def run(counts: dict[str, int]) -> dict:
    from deident.regions import Redaction, redact

    deident_regions(np.zeros((64, 64, 3), np.uint8))  # load the models once, outside the timings
    results: dict = {}
    k = 0
    for label, size in SIZES.items():
        for i in range(counts[label]):
            sample = ts.make_sample(100 + i, size, n_lines=6, seed=42)
            names = list(TOOLS) if k % 2 == 0 else list(TOOLS)[::-1]
            k += 1
            for name in names:
                t = time.perf_counter()
                regions = TOOLS[name](sample.rgb)
                seconds = time.perf_counter() - t
                out = redact(sample.rgb, [Redaction(r, "fill") for r in regions])
                row = results.setdefault((label, name), {"seconds": [], "lines": 0, "leaked": 0})
                row["seconds"].append(seconds)
                row["lines"] += len(sample.lines)
                row["leaked"] += len(ts.leaked_lines(sample, out))
                print(label, name, f"{seconds:.1f}s", row["leaked"], "/", row["lines"], flush=True)
    return results


def presidio_note() -> str:
    log = ROOT / "bench" / ".work" / "pip.log"
    if log.is_file() and "spacy_rc=0" in log.read_text():
        return "presidio-image-redactor installed and its spaCy model loaded; not yet wired into this script."
    return (
        "presidio-image-redactor was not compared: it needs a spaCy English model (`en_core_web_lg`) "
        "that is downloaded at run time, which an offline run cannot do (tried in a venv under bench/.work)."
    )


def append(results: dict, counts: dict[str, int]) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"\n## Burned-in text: deident (PP-OCR via rapidocr) vs one Tesseract pass — {now}\n",
        f"`python bench/bench_text.py --small {counts['2 MP']} --large {counts['12 MP']}`; images from "
        "tests/textsynth.py (seed 42, 6 lines each, 14-96 px, 0/90/180/270 and small angles, coloured and "
        f"light-on-dark). {cpu} CPUs shared with other sessions' jobs: seconds are indicative. "
        "deident: `--text all`, jobs=1 (2 onnxruntime threads); Tesseract 5 `image_to_data`, default psm.\n",
        "| size | tool | s per image (median) | lines leaked |",
        "|---|---|---|---|",
    ]
    for (label, name), row in results.items():
        med = statistics.median(row["seconds"])
        lines.append(f"| {label} | {name} | {med:.1f} | {row['leaked']}/{row['lines']} |")
    for label in SIZES:
        d, t = results.get((label, "deident text")), results.get((label, "tesseract (1 pass)"))
        if d and t:
            ratio = statistics.median(d["seconds"]) / statistics.median(t["seconds"])
            lines.append(f"\n{label}: deident takes **{ratio:.2f}x** the time of one Tesseract pass.")
    lines.append(f"\n{presidio_note()}\n")
    with open(ROOT / "docs" / "benchmarks.md", "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=4, help="2 MP images")
    parser.add_argument("--large", type=int, default=2, help="12 MP images")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    counts = {"2 MP": args.small, "12 MP": args.large}
    append(run(counts), counts)


if __name__ == "__main__":
    main()
