"""Pixel stages against one Tesseract pass, quiet and beside a CPU burner per core, plus a 120-frame cine.

Sets: the real photos with text in ``../shared/corpora/realworld/text`` (not its DICOMs), the text-free
controls in ``../shared/corpora/realworld/controls``, and pydicom-data's 120-frame JPEG Baseline
ultrasound ``color3d_jpeg_baseline.dcm`` (its frames as PNGs for Tesseract, one process over a list).
deident: ``deident scrub DIR -o OUT -j 1`` with ``--faces off`` on the text set (the text stage) and the
defaults on the controls (faces included); the cine with the defaults and with ``--text phi``. Tesseract:
``tesseract IMG stdout`` once per image (one pass, its default page segmentation). Per set the two run
back to back, order alternating by round; "burning" runs the same with one busy-loop process per core
beside both. Wall time and CPU seconds (``getrusage(RUSAGE_CHILDREN)``) are medians over rounds; the
load average is noted. Appends a dated section to docs/benchmarks.md (``--dry-run``: print only).

    python bench/bench_speed.py [--rounds 2] [--burn-rounds 1] [--hook 1,10,100] [--no-cine] [--dry-run]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "realworld"
DEIDENT = str(Path(sys.executable).with_name("deident"))
IMAGES = (".jpg", ".jpeg", ".png")
sys.path.insert(0, str(ROOT / "tests"))  # support.dicom finds the cine


def _burn() -> None:
    while True:
        pass


class Burners:
    """One busy-loop process per core, for the duration of a ``with`` block."""

    def __enter__(self):
        self.procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(os.cpu_count() or 1)]
        for p in self.procs:
            p.start()
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
            p.join()


def timed(cmd: list[str], check: bool = True, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall s, CPU s of the command's process tree); ``check``: a non-zero exit is an error; ``env``:
    added to the environment."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    environ = dict(os.environ, **(env or {}))
    subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def deident(src: Path, *options: str, keep: Path | None = None) -> tuple[float, float]:
    """``deident scrub`` into a temporary folder (or ``keep``, emptied first)."""
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        return timed([DEIDENT, "scrub", str(src), "-o", str(keep), "-j", "1", *options], check=False)
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as out:  # a file refused still took its time
        return timed([DEIDENT, "scrub", str(src), "-o", out, "-j", "1", *options], check=False)


def tesseract(images: list[Path]) -> tuple[float, float]:
    if len(images) > 20:  # one process over a list: no start-up per frame
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as lst:
            lst.write("\n".join(map(str, images)) + "\n")
            lst.flush()
            return timed(["tesseract", lst.name, "stdout"])
    wall = cpu = 0.0
    for img in images:
        w, c = timed(["tesseract", str(img), "stdout"])
        wall, cpu = wall + w, cpu + c
    return wall, cpu


def images_of(folder: Path, work: Path) -> tuple[Path, list[Path]]:
    """A copy of the folder's pictures (no DICOM), and their paths."""
    dst = work / folder.name
    dst.mkdir()
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() in IMAGES:
            shutil.copy(f, dst / f.name)
    return dst, sorted(dst.iterdir())


def cine_frames(work: Path) -> tuple[Path, list[Path]] | None:
    from support.dicom import CINE, find_pydicom_file

    path = find_pydicom_file(CINE)
    if path is None:
        return None
    import pydicom
    from PIL import Image

    frames = work / "cine-frames"
    frames.mkdir()
    out = []
    for i, f in enumerate(pydicom.dcmread(path).pixel_array):
        out.append(frames / f"{i:03d}.png")
        Image.fromarray(f).save(out[-1])
    return path, out


def compare(rows: list, label: str, run_deident, images: list[Path], rounds: int, burn: bool) -> None:
    d, t = [], []
    for r in range(rounds):
        with Burners() if burn else _nothing():
            load = os.getloadavg()[0]
            pair = [("d", run_deident), ("t", lambda: tesseract(images))]
            for who, fn in pair if r % 2 == 0 else pair[::-1]:
                (d if who == "d" else t).append((*fn(), load))
    med = [statistics.median(x[i] for x in v) for v in (d, t) for i in (0, 1)]
    loads = f"{min(x[2] for x in d + t):.1f}-{max(x[2] for x in d + t):.1f}"
    rows.append((label, "burning" if burn else "as found", len(images), *med, loads))
    print(rows[-1], flush=True)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def hook_rows(work: Path, rounds: int, sizes: list[int]) -> list[str]:
    """``deident check`` as a pre-commit hook runs it: on 1, 10 and 100 small photos (the real-world
    pictures, cycled under new names), default jobs; medians over rounds.

    "photos": the pictures as they are (most hold a face, text or metadata: the hook blocks them), on a
    first run (an empty verdict cache, ``deident.checked``), as the gate runs (stopping at the first stage
    that refuses a file) and with every stage (``--all-stages``, what every hook run did before the gate).
    "scrubbed": their ``deident scrub`` outputs (defaults), what a hook sees once the files were made safe:
    looked at whole (``--no-cache``, what every hook run cost before the cache), and as a hook's run after
    that scrub (the scrub and the hook share the user's cache)."""
    pictures = [f for d in ("faces", "controls", "text") for f in sorted((SHARED / d).iterdir())]
    pictures = [f for f in pictures if f.suffix.lower() in IMAGES]
    out = ["| files | run | wall | CPU-s | load avg |", "|---|---|---|---|---|"]
    for n in sizes:
        folder = work / f"hook-{n}"
        folder.mkdir()
        for i in range(n):
            src = pictures[i % len(pictures)]
            shutil.copy(src, folder / f"{i:03d}{src.suffix}")
        scrubbed = work / f"hook-{n}-scrubbed"
        for label, target, options in (
            ("photos, first run, every stage (--all-stages)", folder, ["--all-stages"]),
            ("photos, first run", folder, []),
            ("scrubbed, looked at whole (--no-cache)", scrubbed, ["--no-cache"]),
            ("scrubbed, the hook after the scrub", scrubbed, []),
        ):
            runs = []
            for k in range(rounds):
                env = {"DEIDENT_CACHE_DIR": str(work / f"cache-{n}-{k}-{len(options)}-{target.name}")}
                if target == scrubbed:  # a scrub of its own each round, into the round's cache
                    shutil.rmtree(scrubbed, ignore_errors=True)
                    timed([DEIDENT, "scrub", str(folder), "-o", str(scrubbed)], check=False, env=env)
                load = os.getloadavg()[0]
                runs.append((*timed([DEIDENT, "check", *options, str(target)], check=False, env=env), load))
            wall, cpu = (statistics.median(r[i] for r in runs) for i in (0, 1))
            out.append(f"| {n} | {label} | {wall:.1f} s | {cpu:.1f} | {min(r[2] for r in runs):.1f} |")
            print(out[-1], flush=True)
    return out


def table(rows: list) -> str:
    out = [
        "| set | cores | images | deident wall | deident CPU-s | tesseract wall | tesseract CPU-s "
        "| wall ratio | CPU ratio | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, cond, n, dw, dc, tw, tc, load in rows:
        out.append(
            f"| {label} | {cond} | {n} | {dw:.1f} s | {dc:.1f} | {tw:.1f} s | {tc:.1f} "
            f"| **{dw / tw:.2f}x** | {dc / tc:.2f}x | {load} |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--burn-rounds", type=int, default=1)
    ap.add_argument("--no-cine", action="store_true")
    ap.add_argument("--hook", default="1,10,100", help="file counts for the check-as-a-hook rows")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    if not SHARED.is_dir() or not shutil.which("tesseract"):
        print("needs ../shared/corpora/realworld and tesseract", file=sys.stderr)
        return 2
    rows: list = []
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        work = Path(tmp)
        text_dir, text = images_of(SHARED / "text", work)
        ctrl_dir, ctrl = images_of(SHARED / "controls", work)
        for burn, rounds in ((False, args.rounds), (True, args.burn_rounds)):
            if rounds <= 0:
                continue
            compare(rows, "photos with text (--faces off)", lambda: deident(text_dir, "--faces", "off"),
                    text, rounds, burn)  # fmt: skip
            compare(rows, "text-free controls (faces on)", lambda: deident(ctrl_dir), ctrl, rounds, burn)
        hook = hook_rows(work, args.rounds, [int(n) for n in args.hook.split(",") if n])
        cine = None if args.no_cine else cine_frames(work)
        if cine:
            path, frames = cine
            kept = work / "cine-out"
            compare(rows, "cine 120 frames, defaults", lambda: deident(path, keep=kept), frames, 1, False)
            compare(
                rows, "cine 120 frames, --text phi", lambda: deident(path, "--text", "phi"), frames, 1, False
            )
            size_note = _cine_size(path, kept)
        else:
            size_note = "cine: pydicom-data not installed, skipped."
            size_note = "cine: not run (--no-cine)." if args.no_cine else size_note
    now = utc_now()
    section = (
        f"\n## Pixel stages vs one Tesseract pass, quiet and burning — {now} (bench/bench_speed.py)\n\n"
        f"`python bench/bench_speed.py {' '.join(sys.argv[1:])}`".rstrip()
        + f"; {os.cpu_count()} cores; deident `scrub -j 1`, Tesseract `tesseract IMG stdout` per image "
        '(the cine\'s 120 frames: one process over a list). "burning": one busy-loop process per core '
        "beside both. Medians over rounds; CPU-s from getrusage of the children. Ratio = deident / "
        "Tesseract.\n\n" + table(rows) + f"\n\n{size_note}\n\n"
        "`deident check` as a pre-commit hook runs it (default jobs; the gate stops at the first stage "
        "that refuses a file, unless `--all-stages`), on real-world "
        "photos:\n\n" + "\n".join(hook) + "\n"
    )
    publish(section, args.dry_run)
    return 0


def _cine_size(path: Path, out: Path) -> str:
    written = next(out.rglob("*.dcm"))
    import pydicom

    ts = pydicom.dcmread(written, stop_before_pixels=True).file_meta.TransferSyntaxUID.name
    ratio = written.stat().st_size / path.stat().st_size
    return f"Cine output: {written.stat().st_size / 1e6:.1f} MB, {ratio:.2f}x the input, written as {ts}."


if __name__ == "__main__":
    sys.exit(main())
