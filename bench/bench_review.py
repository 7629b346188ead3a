"""What the review page costs: ``scrub --review`` against a plain scrub, and first paint of a big page.

1. The sample batch (sample_images/) and N generated photos (default 500; 640x480 JPEGs with EXIF and,
   on every tenth, a line of burned-in text), each scrubbed with the default stages, without and with
   ``--review``, alternating, ``--rounds`` times. Reported: median wall time and CPU time (user + system
   of the whole process tree, from ``RUSAGE_CHILDREN``: steadier than wall time on a shared machine).
2. A page of 2,000 files (``write_page`` over generated results that point at real thumbnails), opened
   from ``file://`` in Debian's headless Chromium: first contentful paint and the time until the page's
   script says it is ready, median of 5 fresh loads.

Appends a dated section to docs/benchmarks.md (``--no-append`` to only print); ``--screenshot PNG``
also saves a screenshot of the sample batch's page (docs/review.png in the README).

    python bench/bench_review.py [--photos 500] [--rounds 3] [--screenshot docs/review.png]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "review"
sys.path.insert(0, str(ROOT / "tests"))

from support import photos, planted  # noqa: E402
from support.pagedriver import open_browser  # noqa: E402
from support.sample_images import font  # noqa: E402


def make_photos(n: int) -> Path:
    src = WORK / f"photos-{n}"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    rng = np.random.default_rng(n)
    exif = planted.exif_block(orientation=1)
    segment = photos.segment(0xE1, b"Exif\0\0" + exif)
    for i in range(n):
        base = rng.integers(90, 200, (480 // 8, 640 // 8, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((640, 480), Image.Resampling.BICUBIC)
        if i % 10 == 0:
            ImageDraw.Draw(img).text((30, 420), f"MRN {4800000 + i}", fill=(0, 0, 0), font=font(28))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=88)
        data = buf.getvalue()
        (src / f"photo_{i:04d}.jpg").write_bytes(data[:2] + segment + data[2:])
    return src


def timed_scrub(src: Path, out: Path, review: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree) of one ``deident scrub``."""
    for folder in (out, out.with_name(out.name + "-review")):
        shutil.rmtree(folder, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "deident.cli",
        "scrub",
        str(src),
        "-o",
        str(out),
        "--report",
        str(out) + ".json",
    ]
    if review:
        cmd.append("--review")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def compare(src: Path, rounds: int) -> dict:
    out = WORK / "out"
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for k in range(rounds):  # ABBA: the order flips every round, so drift in the machine's load cancels
        for review in (False, True) if k % 2 == 0 else (True, False):
            runs[review].append(timed_scrub(src, out, review))
    med = {
        r: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for r, v in runs.items()
    }
    return {
        "plain": med[False],
        "review": med[True],
        "wall_pct": 100 * (med[True][0] / med[False][0] - 1),
        "cpu_pct": 100 * (med[True][1] / med[False][1] - 1),
        "runs": runs,
    }


def review_share(src: Path) -> dict:
    """Where the page's time goes, in-process (``-j 1``, CPU seconds of this process): the input's content
    hash, the thumbnails (decode + shrink + encode, per side), the page's data and files, against the
    whole ``scrub --review`` run. Steadier than an A/B of two runs on a loaded machine."""
    import deident.pipeline as pipeline
    import deident.review as review
    import deident.review.render as render
    from deident.cli import cli

    spent: dict[str, float] = {}
    patched = []

    def timed(owner, name: str, key: str) -> None:
        inner = getattr(owner, name)
        patched.append((owner, name, inner))

        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.process_time() - start

        setattr(owner, name, wrapper)

    timed(pipeline, "_attach_review", "content hash")
    timed(render, "_save", "shrink + JPEG encode")
    timed(render, "render_file", "thumbnails, all")
    timed(review, "write_page", "page data + files")
    out = WORK / "share-out"
    for folder in (out, out.with_name(out.name + "-review")):
        shutil.rmtree(folder, ignore_errors=True)
    start = time.process_time()
    try:
        with contextlib.suppress(SystemExit):
            cli.main(["scrub", str(src), "-o", str(out), "-j", "1", "--review", "-q"], standalone_mode=False)
    finally:
        for owner, name, inner in patched:
            setattr(owner, name, inner)
    spent["whole run"] = time.process_time() - start
    return spent


def big_page(n: int = 2000) -> Path:
    """A review page of ``n`` files whose thumbnails are real JPEGs (a few, shared)."""
    from deident.findings import Action, Area, FileResult, Finding, Status
    from deident.review import write_page
    from deident.review.render import FILE_MODE

    folder = WORK / "page-2000"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "thumbs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(8):
        Image.fromarray(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(
            folder / "thumbs" / f"t{k}.jpg"
        )
        (folder / "thumbs" / f"t{k}.jpg").chmod(FILE_MODE)
    results = []
    for i in range(n):
        box = ((40.0, 40.0), (300.0, 40.0), (300.0, 90.0), (40.0, 90.0))
        findings = [Finding("metadata", "exif.gps", "APP1 segment at 2", Action.REMOVED, "GPS position")]
        if i % 3 == 0:
            findings.append(
                Finding(
                    "text",
                    "text.text",
                    "image box 40,40-300,90",
                    Action.REDACTED,
                    "text line (fill)",
                    Area(0, box),
                )
            )
        status = Status.FAILED if i % 50 == 0 else Status.SAFE
        r = FileResult(f"batch/case_{i:05d}.jpg", status, f"out/case_{i:05d}.jpg", "jpeg", findings=findings)
        r.sha256 = f"{i:064x}"
        t = f"thumbs/t{i % 8}.jpg"
        r.preview = {
            "frames": [
                {"frame": 0, "label": "image", "w": 640, "h": 480, "tw": 480, "th": 360, "o": t, "d": t}
            ],
            "error": "",
        }
        results.append(r)
    return write_page(results, folder, outputs_only=False)


def first_paint(page: Path, browser: str, loads: int = 5) -> tuple[float, float]:
    """Median (first contentful paint, DOMContentLoaded) in ms over fresh loads in a headless browser."""
    paints, ready = [], []
    with open_browser(browser) as driver:
        for _ in range(loads):
            driver.open(page)
            fcp = driver.js(
                "return (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
            )
            nav = driver.js("return performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
            paints.append(float(fcp))
            ready.append(float(nav))
    return statistics.median(paints), statistics.median(ready)


def screenshot(target: Path) -> None:
    """Two pictures of the page: the sample batch in headless Chromium (``target``), and a whole-slide
    image with its label and macro struck through as removed in headless Firefox (``…-slide.png``)."""
    from support.slidesynth import make_svs

    out = WORK / "sample-out"
    timed_scrub(ROOT / "sample_images", out, review=True)
    scroll = (
        "const c = [...document.querySelectorAll('.card')].find(c => c.textContent.includes(arguments[0]));"
        "c.scrollIntoView({block: 'start'}); window.scrollBy(0, -150); return 1"
    )
    with open_browser("chromium") as page:
        page.open(out.with_name(out.name + "-review") / "index.html")
        page.js(scroll, "slide_label")
        time.sleep(0.5)
        page.screenshot(target)
    slides = WORK / "slides"
    shutil.rmtree(slides, ignore_errors=True)
    slides.mkdir(parents=True)
    make_svs(slides / "case-S17-04522.svs")
    out = WORK / "slides-out"
    timed_scrub(slides, out, review=True)
    with open_browser("firefox") as page:
        page.open(out.with_name(out.name + "-review") / "index.html")
        page.js(scroll, ".svs")
        time.sleep(0.5)
        page.screenshot(target.with_name(target.stem + "-slide.png"))


BROWSER_NAMES = {
    "chromium": "headless Chromium (Debian's, via chromedriver)",
    "firefox": "headless Firefox ESR (Debian's, over WebDriver BiDi)",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--share-photos", type=int, default=60, help="photos for the in-process breakdown")
    ap.add_argument("--screenshot", type=Path)
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--browsers", default="chromium,firefox", help="first paint in these (comma-separated)")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sample = compare(ROOT / "sample_images", args.rounds)
    photos = compare(make_photos(args.photos), args.rounds)
    shares = {
        "sample batch": review_share(ROOT / "sample_images"),
        f"{args.share_photos} photos": review_share(make_photos(args.share_photos)),
    }
    page = big_page()
    paint = {b: first_paint(page, b) for b in args.browsers.split(",")}
    if args.screenshot:
        screenshot(args.screenshot)
    rows = [
        ("sample batch (sample_images/, 4 files)", sample),
        (f"{args.photos} photos (640x480 JPEG)", photos),
    ]
    lines = [
        f"## Review page cost — {utc_now()} (bench/bench_review.py)",
        "",
        "`deident scrub DIR -o OUT` with the default stages, without and with `--review`, alternating, "
        f"median of {args.rounds} rounds (default `--jobs` = 2 CPUs). CPU is user + system time of the "
        "whole process tree. "
        "Shared machine (2 cores, other sessions running): wall times are indicative.",
        "",
        "| batch | wall, plain | wall, --review | wall cost | CPU, plain | CPU, --review | CPU cost |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['plain'][0]:.2f} s | {r['review'][0]:.2f} s | {r['wall_pct']:+.1f} % "
            f"| {r['plain'][1]:.2f} s | {r['review'][1]:.2f} s | {r['cpu_pct']:+.1f} % |"
        )
    lines += [
        "",
        "Where the page's time goes, in-process (`scrub --review -j 1`, CPU seconds of the process, "
        "`review_share`):",
        "",
        "| batch | whole run | content hash | thumbnails (decode, shrink, encode) | of which shrink + encode "
        "| page data + files | page, all |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, sh in shares.items():
        page_all = sh.get("content hash", 0) + sh.get("thumbnails, all", 0) + sh.get("page data + files", 0)
        lines.append(
            f"| {name} | {sh['whole run']:.2f} s | {sh.get('content hash', 0):.3f} s "
            f"| {sh.get('thumbnails, all', 0):.3f} s | {sh.get('shrink + JPEG encode', 0):.3f} s "
            f"| {sh.get('page data + files', 0):.3f} s | {page_all:.3f} s "
            f"({100 * page_all / sh['whole run']:.1f} %) |"
        )
    lines += [
        "",
        "A page of 2,000 files opened from `file://`, median of 5 fresh loads: "
        + "; ".join(
            f"{BROWSER_NAMES[b]}: first contentful paint **{fcp:.0f} ms**, DOMContentLoaded {ready:.0f} ms"
            for b, (fcp, ready) in paint.items()
        )
        + " (cards are added 30 at a time as the list scrolls; thumbnails load lazily).",
        "",
    ]
    publish("\n".join(lines), args.no_append)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
