"""Barcode recall on real photos at any angle: what a cut to the barcode stage's views must keep.

tests/test_barcodes.py turns each symbology to a few chosen angles on a label or on scikit-image's coffee;
this pastes zxing-cpp's own symbols (the tests' symbologies and contents) onto ../shared's real-world
control photos at seeded random angles (0-180 degrees), module sizes (1-6 px) and positions, clean, blurred
(sigma 0.7), at low contrast (bars at 70, ground at 170) or saved as JPEG quality 50, and runs the stage's
``BarcodeDetector`` on each scene. A scene counts as *found* when the stage returns a region, and *leaked*
when, after those regions are filled, zxing at its most thorough (two binarisers, 1x and 2x, rotations,
inversions and downscaling: ``tests/test_barcodes.decodes_anything``) still reads a code; *readable* says
whether that reader could read the scene before (linear codes off the axes it cannot: the stage turns its
views for them). CPU-s is the stage's own time (``time.process_time`` round the ``detect`` calls).

Run it with each tree first on PYTHONPATH (old, new) to judge a change: every family's found count must not
drop and leaked must stay 0. Prints the table and, unless ``--dry-run``, appends a dated section to
docs/benchmarks.md.

    python bench/bench_barcode_angles.py [--scenes 400] [--seed 24] [--dry-run]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
CONTROLS = ROOT.parent / "shared" / "corpora" / "realworld" / "controls"
sys.path.insert(0, str(ROOT / "tests"))

MODULES = (1, 2, 2, 3, 3, 4, 6)  # px; 1-px modules only level (0 or 90 degrees): turned, nothing reads them
DEGRADATIONS = ("clean", "blur", "low", "jpeg")
FAMILIES = {"PDF417": "PDF417", "QRCode": "matrix", "DataMatrix": "matrix", "Aztec": "matrix"}
FAMILIES |= {"MicroQRCode": "matrix"}  # every other symbology of the tests' table is linear


def scene(rng: random.Random, photos: list[np.ndarray]) -> dict | None:
    """One seeded scene: a code turned, pasted on a photo and degraded; None when it does not fit."""
    import cv2

    from support.barcodes import CODES, rotate, symbol

    fmt, value = rng.choice(CODES)
    module = rng.choice(MODULES)
    angle = rng.choice([0.0, 90.0]) if module == 1 else rng.uniform(0, 180)
    degradation = rng.choice(DEGRADATIONS)
    photo = photos[rng.randrange(len(photos))].copy()
    code = rotate(symbol(fmt, value, module), angle)
    if degradation == "low":
        code = (70 + code.astype(np.float32) * 100 / 255).astype(np.uint8)
    h, w = code.shape
    if h + 20 >= photo.shape[0] or w + 20 >= photo.shape[1]:
        return None
    y, x = rng.randrange(10, photo.shape[0] - h - 10), rng.randrange(10, photo.shape[1] - w - 10)
    photo[y : y + h, x : x + w] = code[..., None]
    if degradation == "blur":
        photo = cv2.GaussianBlur(photo, (0, 0), 0.7)
    if degradation == "jpeg":
        encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 50])[1]
        photo = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    family = FAMILIES.get(fmt, "linear")
    off_axis = min(angle % 90, 90 - angle % 90) > 7.5
    return {"rgb": photo, "family": family, "off_axis": off_axis, "module": module}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=400)
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    if not CONTROLS.is_dir():
        print(f"{CONTROLS} is absent: nothing to measure", file=sys.stderr)
        return 0
    from PIL import Image

    from deident.barcodes.detect import BarcodeDetector
    from deident.formats.base import Context, Frame
    from deident.keys import Keyring
    from deident.options import Options
    from deident.regions import Redaction, redact
    from support.barcodes import decodes_anything

    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(CONTROLS.iterdir())]
    detector = BarcodeDetector(Options())
    detector.ensure_available()
    ctx = Context(Options(), Keyring(b"deident-bench-key-0123456789abcdef"))
    rng = random.Random(args.seed)
    counts: Counter = Counter()
    cpu = 0.0
    for _ in range(args.scenes):
        s = scene(rng, photos)
        if s is None:
            continue
        row = (s["family"], "off axis" if s["off_axis"] else "near axis")
        start = time.process_time()
        regions = detector.detect(Frame(0, s["rgb"]), ctx)
        cpu += time.process_time() - start
        filled = redact(s["rgb"], [Redaction(r, "fill") for r in regions])
        counts[(*row, "scenes")] += 1
        counts[(*row, "readable")] += decodes_anything(s["rgb"])
        counts[(*row, "found")] += bool(regions)
        counts[(*row, "leaked")] += decodes_anything(filled)
    rows = sorted({k[:2] for k in counts})
    lines = [
        f"## Barcodes turned on real photos — {utc_now()} (bench/bench_barcode_angles.py)",
        "",
        f"`python bench/bench_barcode_angles.py --scenes {args.scenes} --seed {args.seed}`",
        "",
        "| family | angle | scenes | readable by zxing | found by the stage | leaked after fill |",
        "|---|---|---|---|---|---|",
    ]
    for fam, band in rows:
        n = [counts[(fam, band, k)] for k in ("scenes", "readable", "found", "leaked")]
        lines.append(f"| {fam} | {band} | " + " | ".join(map(str, n)) + " |")
    total = [sum(counts[(*r, k)] for r in rows) for k in ("scenes", "readable", "found", "leaked")]
    lines.append("| all | | " + " | ".join(map(str, total)) + " |")
    lines.append(f"\nBarcode stage: {cpu:.1f} CPU-s over {total[0]} scenes.")
    publish("\n".join(lines), args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
