"""What the check of coded TIFF blocks costs (issue 18): a metadata-only scrub of ordinary compressed TIFFs,
with and without the check, interleaved in one process.

The folder: the real photos of ../shared/corpora/realworld (or generated ones when it is absent) scaled
to about 6 MP and odd sizes, each saved as LZW, Deflate with predictor 2 and PackBits strips (libtiff,
through Pillow) and as Deflate 256x256 tiles with predictor 2 (tifffile). Their padding is blank, as
encoders write it, so the check decides "clean" for every block: what is measured is that decision.

A and B run the same in-process scrub (open, scrub metadata, write to memory) file by file, A with the
coded-block check off (``codecs.LOSSLESS`` emptied: coded blocks copied as they are, as before issue 18),
B with it on, alternating which goes first; CPU seconds (``time.process_time``) summed per variant, so the
other jobs on a shared machine change little; for scale, one decode of each picture by Pillow (libtiff)
in the same rotation. Appends a dated section to docs/benchmarks.md.

    python bench/bench_tiff_padding.py [--rounds 3] [--megapixels 6]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "tiff_padding"
REALWORLD = ROOT.parent / "shared" / "corpora" / "realworld"
sys.path.insert(0, str(ROOT / "tests"))

from deident.formats.base import Source, open_document  # noqa: E402
from deident.formats.tiff import codecs  # noqa: E402
from deident.options import FaceMode, TextMode  # noqa: E402
from support.planted import ctx  # noqa: E402


def photos(megapixels: float) -> list[Image.Image]:
    paths = sorted(p for p in REALWORLD.rglob("*") if p.suffix.lower() in (".jpg", ".png"))[:4]
    if not paths:
        rng = np.random.default_rng(5)
        return [Image.fromarray(rng.integers(0, 255, (480, 640, 3), np.uint8)) for _ in range(4)]
    out = []
    for p in paths:
        img = Image.open(p).convert("RGB")
        scale = (megapixels * 1e6 / (img.width * img.height)) ** 0.5
        out.append(img.resize((int(img.width * scale) | 1, int(img.height * scale) | 1)))  # odd sizes
    return out


def make_inputs(megapixels: float) -> list[Path]:
    import tifffile

    WORK.mkdir(parents=True, exist_ok=True)
    made = []
    for n, img in enumerate(photos(megapixels)):
        for name, save in (
            ("lzw", {"compression": "tiff_lzw"}),
            ("deflate-pred", {"compression": "tiff_adobe_deflate", "tiffinfo": {317: 2}}),
            ("packbits", {"compression": "packbits"}),
        ):
            path = WORK / f"{n}-{name}.tif"
            img.save(path, "TIFF", **save)
            made.append(path)
        path = WORK / f"{n}-deflate-tiles.tif"
        tifffile.imwrite(path, np.asarray(img), tile=(256, 256), compression="zlib", predictor=2)
        made.append(path)
    return made


def scrub_cpu(path: Path) -> float:
    c = ctx(text=TextMode.OFF, faces=FaceMode.OFF)
    start = time.process_time()
    doc = open_document(Source(path))
    doc.scrub_metadata(c)
    doc.write(io.BytesIO(), c)
    return time.process_time() - start


def decode_cpu(path: Path) -> float:
    """What one decode of the whole picture costs (libtiff through Pillow), for scale."""
    start = time.process_time()
    with Image.open(path) as img:
        img.load()
    return time.process_time() - start


def run(files: list[Path], rounds: int) -> dict[str, dict[str, float]]:
    lossless = codecs.LOSSLESS
    cpu: dict[str, dict[str, float]] = {"A": {}, "B": {}, "D": {}}
    for r in range(rounds):
        for i, path in enumerate(files):
            order = ("A", "B", "D") if (r + i) % 2 == 0 else ("B", "A", "D")
            for variant in order:
                codecs.LOSSLESS = set() if variant == "A" else lossless
                kind = path.stem.split("-", 1)[1]
                spent = decode_cpu(path) if variant == "D" else scrub_cpu(path)
                cpu[variant][kind] = cpu[variant].get(kind, 0.0) + spent
    codecs.LOSSLESS = lossless
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--megapixels", type=float, default=6.0)
    args = ap.parse_args()
    files = make_inputs(args.megapixels)
    run(files[:4], 1)  # warm-up: imports, page cache
    cpu = run(files, args.rounds)
    mb = sum(p.stat().st_size for p in files) / 1e6
    stamp = utc_now()
    lines = [
        f"## Coded TIFF blocks checked for what lies beyond the image (issue 18) — {stamp}",
        "",
        f"`python bench/bench_tiff_padding.py --rounds {args.rounds} --megapixels {args.megapixels}`: "
        f"{len(files)} ordinary TIFFs ({mb:.0f} MB; {len(files) // 4} photos of about {args.megapixels} MP, "
        "odd sizes, each as LZW, Deflate + predictor 2 and PackBits strips by libtiff and Deflate + "
        "predictor 2 256x256 tiles by tifffile; padding blank). In-process metadata-only scrub (open, "
        "scrub, write to memory); A: coded blocks copied unchecked (as before), B: every block measured to "
        "its stream's end and edge blocks decoded. CPU seconds summed over "
        f"{args.rounds} rounds, A and B alternating file by file in one process (shared machine).",
        "",
        "| files | A: unchecked (CPU s) | B: checked (CPU s) | B / A | one Pillow decode (CPU s) |",
        "|---|---|---|---|---|",
    ]
    for kind in sorted(cpu["A"]):
        a, b, d = cpu["A"][kind], cpu["B"][kind], cpu["D"][kind]
        lines.append(f"| {kind} | {a:.2f} | {b:.2f} | {b / a:.1f}x | {d:.2f} |")
    a, b, d = (sum(cpu[v].values()) for v in "ABD")
    lines += [f"| all | {a:.2f} | {b:.2f} | {b / a:.1f}x | {d:.2f} |", ""]
    publish("\n".join(lines))


if __name__ == "__main__":
    main()
