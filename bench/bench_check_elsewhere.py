"""Does a check elsewhere pass what ``scrub`` wrote as safe? Real images scrubbed, then checked uncached.

What a user does: ``deident scrub DIR -o OUT`` with the defaults, then commits ``OUT`` where a CI job runs
the pre-commit hook, which has no entry of the scrub's verdict (``--no-cache``) and looks at each output
whole. Counts the outputs such a check refuses for their pixels (a text, code or face finding): a
detection the pipeline caused itself, or text the scrub left.

Images: ``../shared/corpora/realworld`` (faces, text, controls; skipped when absent), scikit-image's and
matplotlib's real photos, and pydicom-data's DICOM files up to 1 MiB (each set skipped when not installed);
``--also DIR``: a folder of further real images (e.g. the test photos of packages' source archives).
Appends a dated section to docs/benchmarks.md (``--dry-run``: print only); ``--against COMMIT`` runs that
commit's code on the same images too (a worktree under bench/.work, first on PYTHONPATH).

    python bench/bench_check_elsewhere.py [--against COMMIT] [--also DIR] [-j 2] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from published import publish, utc_now
from trees import source_of

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "realworld"
WORK = ROOT / "bench" / ".work" / "check-elsewhere"
SKIMAGE = [  # scikit-image's pictures: photos, micrographs, scans and a few drawings
    *("astronaut", "camera", "chelsea", "coffee", "ihc", "moon", "rocket", "motorcycle_left"),
    *("microaneurysms", "text", "page", "cell", "coins", "clock_motion", "color", "brick", "grass"),
    *("gravel", "phantom", "logo", "retina", "hubble_deep_field"),
]
DICOM_MAX = 1 << 20  # bytes: pydicom-data's larger files are cines and whole volumes
PIXEL_STAGES = ("text", "barcodes", "faces")
sys.path.insert(0, str(ROOT / "tests"))  # support.dicom finds pydicom-data


def gather(into: Path, also: list[Path]) -> dict[str, int]:
    """Copy the images into ``into``, a folder per source (``also``: folders of further images, each a
    source of its own); {source: files}."""
    counts = {}
    for folder in also:
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".dcm"))
        (into / folder.name).mkdir()
        for p in found:
            shutil.copyfile(p, into / folder.name / p.name)
        counts[folder.name] = len(found)
    if SHARED.is_dir():
        for part in ("faces", "text", "controls"):
            shutil.copytree(SHARED / part, into / "realworld" / part)
        counts["../shared realworld"] = sum(1 for p in (into / "realworld").rglob("*") if p.is_file())
    try:
        from skimage import data as skdata

        root = Path(skdata.__file__).parent
        found = [p for name in SKIMAGE for p in root.glob(f"{name}.*") if p.suffix in (".png", ".jpg")]
        for p in found:
            (into / "skimage").mkdir(exist_ok=True)
            shutil.copyfile(p, into / "skimage" / p.name)
        counts["scikit-image"] = len(found)
    except ImportError:
        pass
    try:
        import matplotlib

        hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        if hopper.is_file():
            (into / "matplotlib").mkdir()
            shutil.copyfile(hopper, into / "matplotlib" / hopper.name)
            counts["matplotlib"] = 1
    except ImportError:
        pass
    from support.dicom import CINE, find_pydicom_file

    anchor = find_pydicom_file(CINE)  # any file of pydicom-data's store
    if anchor:
        small = sorted(p for p in anchor.parent.glob("*.dcm") if p.stat().st_size <= DICOM_MAX)
        (into / "pydicom-data").mkdir()
        for p in small:
            shutil.copyfile(p, into / "pydicom-data" / p.name)
        counts["pydicom-data (up to 1 MiB)"] = len(small)
    return counts


def run(src: Path | None, images: Path, out: Path, jobs: int) -> tuple[dict, dict]:
    """(scrub report, check report) of this code, or of the tree ``src`` first on PYTHONPATH."""
    env = dict(os.environ, DEIDENT_CACHE_DIR=str(out.with_name(out.name + "-cache")))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    deident = [sys.executable, "-m", "deident"]
    shutil.rmtree(out, ignore_errors=True)
    scrub = subprocess.run(
        [*deident, "scrub", str(images), "-o", str(out), "-j", str(jobs), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    check = subprocess.run(
        [*deident, "check", str(out), "--no-cache", "--all-stages", "-j", str(jobs), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    return json.loads(scrub.stdout), json.loads(check.stdout)


def refused(check: dict, out: Path) -> list[str]:
    """The outputs refused for their pixels, each with where."""
    rows = []
    for f in check["files"]:
        found = [x for x in f["findings"] if x["stage"] in PIXEL_STAGES]
        if f["status"] != "clean" and found:
            where = "; ".join(sorted({x["where"] for x in found})[:3])
            rows.append(f"{Path(f['input']).relative_to(out).as_posix()} ({where})")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", help="a commit to run on the same images too")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--also", action="append", type=Path, default=[], help="a folder of more real images")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "in").mkdir(parents=True)
    counts = gather(WORK / "in", args.also)
    rows = []
    with source_of(args.against, WORK / "against") as other:
        runs = {"this code": None} | ({args.against: other} if args.against else {})
        for label, src in runs.items():
            out = WORK / f"out-{len(rows)}"
            scrub, check = run(src, WORK / "in", out, args.jobs)
            written = sum(1 for f in scrub["files"] if f.get("output"))
            rows.append((label, written, refused(check, out)))
            print(label, f"{len(rows[-1][2])} of {written} outputs refused", *rows[-1][2], sep="\n  ")
    now = utc_now()
    sources = ", ".join(f"{name} {n}" for name, n in counts.items())
    text = [f"\n## A check elsewhere on scrubbed real images — {now} (bench/bench_check_elsewhere.py)\n"]
    text.append(
        f"`deident scrub IN -o OUT -j {args.jobs}` with the defaults, then `deident check OUT --no-cache "
        f"--all-stages`; images: {sources}. Refused: outputs with a text, code or face finding.\n"
    )
    text += ["| code | outputs written | refused for their pixels | which |", "|---|---|---|---|"]
    for label, written, which in rows:
        text.append(f"| {label} | {written} | {len(which)} | {'; '.join(which) or 'none'} |")
    publish("\n".join(text), args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
