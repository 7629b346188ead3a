"""DICOM de-identification throughput and leaks: deident vs dicognito (and pydicom's deid when it installs).

    python bench/bench_dicom.py [--files 2000] [--rounds 2]

Inputs: copies of pydicom's own test files (several transfer syntaxes, SR, RT) with distinctive identifiers
planted at top level, in nested sequences, in a private block and in the File Meta, under
bench/.work/dicom/in. Peers run from their own venv, bench/.work/venv, which this script creates and fills
(``pip install dicognito==0.19.0 deid``) when missing. Tools are run alternately, each round into a
fresh folder; after each run the outputs are searched for the planted strings and private tags.
A dated section with files/s and ratios is appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from published import publish

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "dicom"
VENV_PY = ROOT / "bench" / ".work" / "venv" / "bin" / "python"
sys.path.insert(0, str(ROOT / "tests"))

SOURCES = [
    "CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm", "JPEG-lossy.dcm",
    "SC_rgb_jpeg_dcmtk.dcm", "examples_palette.dcm", "examples_overlay.dcm", "test-SR.dcm", "rtplan.dcm",
    "rtdose.dcm", "MR_small_jp2klossless.dcm",
]  # fmt: skip
DEID_SCRIPT = """
import os, sys
from deid.dicom import get_files, replace_identifiers
os.makedirs(sys.argv[2], exist_ok=True)
replace_identifiers(list(get_files(sys.argv[1])), save=True, output_folder=sys.argv[2], remove_private=True)
"""


def generate(n: int) -> Path:
    """n planted files, ten per patient/study, written with a zeroed preamble."""
    import pydicom

    from support.dicom import SECRETS, find_pydicom_file, plant

    folder = WORK / "in"
    if folder.is_dir() and len(list(folder.iterdir())) == n:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    bases = [pydicom.dcmread(find_pydicom_file(name)) for name in SOURCES]
    for i in range(n):
        ds = bases[i % len(bases)].copy()
        ds.file_meta = bases[i % len(bases)].file_meta.copy()
        plant(ds, i)
        ds.PatientID = f"{SECRETS['PatientID']}-{i // 10}"
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.99.4242.1.{i // 10}"
        ds.preamble = b"\0" * 128
        ds.save_as(folder / f"{i:05d}.dcm", enforce_file_format=True)
    return folder


PEERS = ("dicognito==0.19.0", "deid")


def ensure_peers() -> None:
    """The peers in a venv of their own, so their pins never touch deident's environment."""
    if not VENV_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV_PY.parents[1])], check=True)
    probe = subprocess.run([str(VENV_PY), "-c", "import dicognito, deid"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", *PEERS], check=False)


def commands(src: Path, out: Path) -> dict[str, list[str]]:
    deident = Path(sys.executable).with_name("deident")
    cmds = {"deident": [str(deident), "scrub", str(src), "-o", str(out), "--text", "off", "--faces", "off"]}
    if VENV_PY.exists():
        cmds["dicognito"] = [str(VENV_PY), "-m", "dicognito", "--quiet", "-o", str(out), str(src)]
        probe = subprocess.run([str(VENV_PY), "-c", "import deid.dicom"], capture_output=True)
        if probe.returncode == 0:
            cmds["deid"] = [str(VENV_PY), "-c", DEID_SCRIPT, str(src), str(out)]
    return cmds


def leaks(out: Path) -> tuple[int, int, int, int]:
    """(files written, files with a planted string, planted strings found, private elements left)."""
    import pydicom

    from support.dicom import LEAK_STRINGS

    files = [p for p in out.rglob("*") if p.is_file()]
    with_leak = strings = private = 0
    needles = [s.upper().encode() for s in LEAK_STRINGS]
    for path in files:
        data = path.read_bytes().upper()
        found = sum(1 for s in needles if s in data)
        with_leak += bool(found)
        strings += found
        try:
            ds = pydicom.dcmread(path, force=True)
            private += sum(1 for e in ds.iterall() if e.tag.is_private)
        except Exception:
            pass
    return len(files), with_leak, strings, private


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="print, do not append to docs/benchmarks.md")
    args = parser.parse_args()
    ensure_peers()
    src = generate(args.files)
    times: dict[str, list[float]] = {}
    results: dict[str, tuple] = {}
    for r in range(args.rounds):
        for tool, cmd in commands(src, WORK / "probe").items():
            out = WORK / f"out-{tool}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [c if c != str(WORK / "probe") else str(out) for c in cmd]
            env = dict(os.environ, DEIDENT_KEY="00" * 32)
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, env=env)
            times.setdefault(tool, []).append(time.perf_counter() - start)
            results[tool] = (*leaks(out), proc.returncode)
            print(tool, r, f"{times[tool][-1]:.1f}s", results[tool], flush=True)
    best = {tool: args.files / min(t) for tool, t in times.items()}
    lines = [
        f"\n## DICOM de-identification — {dt.date.today().isoformat()} (bench/bench_dicom.py)\n",
        f"{args.files} files (pydicom test files, identifiers planted in top level, sequences, private "
        f"block, File Meta); best of {args.rounds} alternating rounds; machine: {os.cpu_count()} CPUs "
        "shared with other sessions, so absolute numbers are noisy. deident runs `deident scrub DIR -o OUT "
        "--text off --faces off` (default --jobs = CPUs); dicognito 0.19 (`python -m dicognito`) and deid "
        "0.4 run single-process as shipped.\n",
        "| tool | files/s | vs dicognito | files out | files with a planted string | planted strings | "
        "private elements left | exit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tool, rate in best.items():
        ratio = f"{rate / best['dicognito']:.2f}x" if "dicognito" in best else "n/a"
        n, with_leak, strings, private, code = results[tool]
        cells = [tool, f"{rate:.0f}", ratio, n, with_leak, strings, private, code]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    publish("\n".join(lines), args.dry_run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
