"""A/B of cutting WebP bitstreams to what libwebp reads: metadata-only scrub in-process, CPU seconds,
interleaved rounds.

    python bench/bench_webp_slack.py [--rounds 5] [--no-write]

Two folders made under bench/.work/webp/: web-sized photos (scikit-image's pictures, 0.1-2 MP, lossy,
lossless, with alpha, animated) and two 12 MP photos (4000x3000, lossy q80 and lossless). Variants: as
shipped; with ``webp_stream.trimmed`` returning the payload whole (no decode at all, as before issue 18's
class 6). The memo of ``webp_stream`` is emptied before every run.
Appends a dated section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
from pathlib import Path

import numpy as np
from PIL import Image

import deident.formats.webp_stream as webp_stream
from deident import batch
from deident.options import FaceMode, Options, TextMode
from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "webp"
SHIPPED = webp_stream.trimmed


def whole(fourcc: bytes, payload: bytes, limit: int, size=None) -> bytes:
    return payload


VARIANTS = {"as shipped": SHIPPED, "bitstreams not cut": whole}


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def make_inputs() -> dict[str, Path]:
    import skimage.data as sd

    web, big = WORK / "web", WORK / "12mp"
    if web.is_dir() and big.is_dir():
        return {"web-sized": web, "12 MP": big}
    shutil.rmtree(WORK, ignore_errors=True)
    web.mkdir(parents=True)
    big.mkdir(parents=True)
    pictures = {"astronaut": sd.astronaut(), "coffee": sd.coffee(), "chelsea": sd.chelsea()}
    pictures |= {"camera": sd.camera(), "retina": sd.retina(), "ihc": sd.immunohistochemistry()}
    for name, a in pictures.items():
        img = Image.fromarray(a).convert("RGB")
        rgba = img.convert("RGBA")
        rgba.putalpha(Image.fromarray(np.tile(np.arange(img.width) % 256, (img.height, 1)).astype(np.uint8)))
        img.save(web / f"{name}-q80.webp", quality=80)
        img.save(web / f"{name}-lossless.webp", lossless=True)
        rgba.save(web / f"{name}-alpha-q80.webp", quality=80)
        rgba.save(web / f"{name}-alpha-lossless.webp", lossless=True)
    frames = [Image.fromarray(sd.astronaut()).rotate(20 * i) for i in range(4)]
    frames[0].save(web / "animated-q70.webp", save_all=True, append_images=frames[1:], quality=70)
    frames[0].save(web / "animated-lossless.webp", save_all=True, append_images=frames[1:], lossless=True)
    photo = Image.fromarray(sd.astronaut()).resize((4000, 3000), Image.Resampling.BICUBIC)
    photo.save(big / "12mp-q80.webp", quality=80)
    photo.save(big / "12mp-lossless.webp", lossless=True, method=0)
    return {"web-sized": web, "12 MP": big}


def run(folder: Path, rounds: int) -> dict[str, list[float]]:
    out = WORK / "out"
    names = list(VARIANTS)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            webp_stream.trimmed = VARIANTS[name]
            webp_stream._ENDS.clear()
            shutil.rmtree(out, ignore_errors=True)
            options = Options(text=TextMode.OFF, faces=FaceMode.OFF, jobs=1, output_dir=out)
            start = cpu()
            results = list(batch.scrub_paths([folder], options))
            times[name].append(cpu() - start)
            assert all(r.status.value == "safe" for r in results), (name, [r.reason for r in results])
    webp_stream.trimmed = SHIPPED
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    args = ap.parse_args()
    rows = []
    for label, folder in make_inputs().items():
        files = sorted(folder.glob("*.webp"))
        size = sum(p.stat().st_size for p in files) / 1e6
        times = run(folder, args.rounds)
        base, shipped = statistics.median(times["bitstreams not cut"]), statistics.median(times["as shipped"])
        pairs = zip(times["as shipped"], times["bitstreams not cut"], strict=True)
        each = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in pairs)
        rows.append(
            f"| {label} | {len(files)} ({size:.1f} MB) | {shipped:.2f} s | {base:.2f} s "
            f"| +{(shipped - base) / len(files) * 1000:.0f} ms | {shipped / base:.2f}x | {each} |"
        )
    stamp = utc_now()
    table = "\n".join(
        [
            f"## WebP: cutting bitstreams to what libwebp reads (A/B, {stamp}, issue 18 class 6)",
            "",
            "`python bench/bench_webp_slack.py`: metadata-only scrub in-process (`jobs=1`), CPU seconds of",
            f"the whole folder, median of {args.rounds} interleaved rounds; B is the same code with",
            "`webp_stream.trimmed` returning the payload whole.",
            "",
            "| folder | files | A: as shipped | B: not cut | A-B a file | A/B | rounds (A/B) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    publish(table, args.no_write)


if __name__ == "__main__":
    main()
