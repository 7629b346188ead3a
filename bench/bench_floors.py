"""How fast any pipeline built on the steps deident's design requires could be, beside each anchor of
issue 24, and deident itself, in one run.

Each goal of issue 24 is a ratio to an anchor tool over the same inputs. For each, a child process does
only the steps no version of deident can leave out, with the libraries deident runs them on, and nothing
else. Where even that floor misses the goal, no code built on those steps can meet it; where the floor
meets it, the gap to deident is the design's own cost.

- **photos** (text-free controls with faces on, and photos with text with `--faces off`): start Python,
  load the DB text detector (and YuNet), and per photo decode it, run the detector once over the whole
  frame at the overview's size (`detect._overview_heat`: the smallest text the recall sets hold needs that
  size), read barcodes once over the grey frame (zxing-cpp), and find faces once (YuNet's pyramid). The
  output's check costs nothing here: pixels no redaction changed are remembered by digest, and a photo
  whose text is redacted needs at least another look, which the floor leaves out.
- **metadata-only JPEG**: read the file; libjpeg-turbo's entropy decode of every coefficient (issue 18's
  check of what the MCU padding codes: a block's place in the scan is known only by decoding every block
  before it, and a decoder shows the padding once the frame header declares more); write it and rename it.
  One process per core, as `deident scrub -j 2`.
- **DICOM header**: pydicom reads the file and parses every element, writes it to memory, and reads what
  it wrote once more, every element parsed (the pipeline's check of its output); the bytes written to a
  file. One process per core.

Anchors and deident run as bench_speed (`tesseract IMG stdout` per photo; `deident scrub -j 1`),
bench_metadata (`exiftool -all= -o OUT/ DIR`; `-j 2 --text off --faces off`) and bench_dicom
(`python -m dicognito`; default jobs) run them, on the same inputs, the three in turn each round
(the order rotated), medians over rounds. Ratios are those of the goals: time / Tesseract's time,
files/s / the peer's files/s.

    python bench/bench_floors.py [--rounds 3] [--burn-rounds 1] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bench_dicom
import bench_metadata
import bench_speed
from bench_speed import SHARED, Burners, _nothing, images_of, tesseract, timed
from published import publish, utc_now

PYTHON = sys.executable
PHOTO_FLOOR = r"""
import sys
import cv2
import zxingcpp
from deident.text import detect, engine
faces = sys.argv[1] == "faces"
threads = engine.threads_for(1)
models = engine.load(threads)
if faces:
    from deident.faces import yunet
    yunet.load(threads)
for path in sys.argv[2:]:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    detect._overview_heat(models, bgr, detect.BOX_THRESH)
    zxingcpp.read_barcodes(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    if faces:
        yunet.find_faces(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), threads)
"""
JPEG_FLOOR = r"""
import ctypes, os, sys
from deident.formats.jpeg_padding import _turbojpeg
lib, region, transform, _ = _turbojpeg()
out = sys.argv[1]
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    handle = lib.tjInitTransform()
    xform = transform(region(0, 0, 0, 0), 0, 16 | 64, None)  # no transform, no output: read every block
    bufs, sizes = (ctypes.c_void_p * 1)(), (ctypes.c_ulong * 1)()
    if lib.tjTransform(handle, data, len(data), 1, bufs, sizes, ctypes.byref(xform), 0):
        sys.exit(f"libjpeg-turbo could not read {path}")
    lib.tjDestroy(handle)
    name = os.path.join(out, os.path.basename(path))
    with open(name + ".tmp", "wb") as fh:
        fh.write(data)
    os.replace(name + ".tmp", name)
"""
DICOM_FLOOR = r"""
import io, os, sys
import pydicom
def parse(ds):
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                parse(item)
        else:
            elem.value
out = sys.argv[1]
for path in sys.argv[2:]:
    ds = pydicom.dcmread(path)
    parse(ds)
    buf = io.BytesIO()
    ds.save_as(buf)
    parse(pydicom.dcmread(io.BytesIO(buf.getvalue())))
    with open(os.path.join(out, os.path.basename(path)), "wb") as fh:
        fh.write(buf.getvalue())
"""


def in_parallel(script: str, out: Path, files: list[Path]) -> tuple[float, float]:
    """(wall s, CPU s) of one child per core, each on its share of ``files``, all started together."""
    import resource

    cores = len(os.sched_getaffinity(0))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    command = [PYTHON, "-W", "ignore", "-c", script, str(out)]
    children = [subprocess.Popen(command + [str(f) for f in files[k::cores]]) for k in range(cores)]
    if any(c.wait() for c in children):
        raise SystemExit("a floor child failed")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def into_fresh(work: Path, run: Callable[[Path], tuple[float, float]]) -> Callable[[], tuple[float, float]]:
    """``run`` into an empty folder of its own each time, then its outputs evicted from the page cache, as
    bench_metadata runs its tools and for its measured reasons (its docstring)."""

    def go() -> tuple[float, float]:
        out = Path(tempfile.mkdtemp(dir=work))
        os.sync()
        took = run(out)
        bench_metadata.evict(out)
        return took

    return go


def rounds_of(runs: dict[str, Callable[[], tuple[float, float]]], rounds: int, burn: bool) -> dict:
    """{name: (median wall, median CPU)} over ``rounds`` after an untimed one, the runs' order rotated
    each round."""
    names = list(runs)
    for run in runs.values():
        run()
    got: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        with Burners() if burn else _nothing():
            for n in order:
                got[n].append(runs[n]())
                print(n, r, got[n][-1], flush=True)
    return {n: tuple(statistics.median(x[i] for x in v) for i in (0, 1)) for n, v in got.items()}


def photo_rows(work: Path, rounds: int, burn_rounds: int) -> list[tuple]:
    rows = []
    for label, folder, faces in (("text-free controls, faces on", "controls", True),
                                 ("photos with text, --faces off", "text", False)):  # fmt: skip
        src, images = images_of(SHARED / folder, work)
        floor = [PYTHON, "-c", PHOTO_FLOOR, "faces" if faces else "none", *map(str, images)]
        options = () if faces else ("--faces", "off")
        runs = {
            "anchor": lambda images=images: tesseract(images),
            "floor": lambda floor=floor: timed(floor),
            "deident": lambda src=src, options=options: bench_speed.deident(src, *options),
        }
        for burn, n in ((False, rounds), (True, burn_rounds)):
            if n > 0:
                busy = ", every core busy" if burn else ""
                goal = "<= 2x" if burn else "<= 1x"
                rows.append((label + busy, len(images), "Tesseract", goal, rounds_of(runs, n, burn), False))
    return rows


def metadata_row(work: Path, rounds: int) -> tuple:
    jpegs = sorted(bench_metadata.make_inputs(1500).glob("*.jpg"))
    src = str(jpegs[0].parent)
    deident = str(Path(PYTHON).with_name("deident"))
    options = bench_metadata.METADATA_ONLY
    runs = {
        "anchor": into_fresh(work, lambda out: timed(["exiftool", "-q", "-all=", "-o", f"{out}/", src])),
        "floor": into_fresh(work, lambda out: in_parallel(JPEG_FLOOR, out, jpegs)),
        "deident": into_fresh(
            work, lambda out: timed([deident, "scrub", src, "-o", str(out), *options], False)
        ),
    }
    return (
        "metadata-only JPEG",
        len(jpegs),
        "exiftool -all=",
        ">= 2x files/s",
        rounds_of(runs, rounds, False),
        True,
    )


def dicom_row(work: Path, rounds: int) -> tuple:
    dicoms = sorted(bench_dicom.generate(2000).iterdir())
    src = dicoms[0].parent
    runs = {
        "anchor": into_fresh(work, lambda out: timed(bench_dicom.commands(src, out)["dicognito"])),
        "floor": into_fresh(work, lambda out: in_parallel(DICOM_FLOOR, out, dicoms)),
        "deident": into_fresh(work, lambda out: timed(bench_dicom.commands(src, out)["deident"], False)),
    }
    return (
        "DICOM header",
        len(dicoms),
        "dicognito 0.19",
        ">= 3x files/s",
        rounds_of(runs, rounds, False),
        True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burn-rounds", type=int, default=1)
    ap.add_argument("--dry-run", action="store_true", help="print, do not append to docs/benchmarks.md")
    args = ap.parse_args()
    if not SHARED.is_dir() or not shutil.which("tesseract"):
        print("needs ../shared/corpora/realworld and tesseract", file=sys.stderr)
        return 2
    bench_metadata.ensure_peers()
    bench_dicom.ensure_peers()
    with tempfile.TemporaryDirectory(prefix="bench-floors-") as tmp:
        work = Path(tmp)
        rows = photo_rows(work, args.rounds, args.burn_rounds)
        rows += [metadata_row(work, args.rounds), dicom_row(work, args.rounds)]
    publish(section(rows), args.dry_run)
    return 0


def section(rows: list) -> str:
    out = [
        f"\n## Issue 24: each goal's floor beside its anchor and deident — {utc_now()} "
        "(bench/bench_floors.py)\n",
        f"`python bench/bench_floors.py {' '.join(sys.argv[1:])}`".rstrip()
        + f"; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end. The floor is what "
        "the steps no version of deident can leave out cost (the script's docstring lists them). Wall s "
        "(CPU-s) are medians over rounds; the ratios are the goals' own (time against Tesseract's; files/s "
        "against the peer's). A floor ratio that misses the goal: no code built on those steps meets it.\n",
        "| goal | files | anchor | anchor wall (CPU-s) | floor wall (CPU-s) | deident wall (CPU-s) "
        "| goal ratio | floor ratio | deident ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, n, anchor, goal, got, per_second in rows:
        cells = " | ".join(f"{got[k][0]:.2f} s ({got[k][1]:.2f})" for k in ("anchor", "floor", "deident"))
        floor, ours = (
            got["anchor"][0] / got[k][0] if per_second else got[k][0] / got["anchor"][0]
            for k in ("floor", "deident")
        )
        out.append(f"| {label} | {n} | {anchor} | {cells} | {goal} | **{floor:.2f}x** | {ours:.2f}x |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
