"""The worker processes of a metadata-only batch (``deident.batch._workers``): forked from a parent that has
already loaded what a file needs, so that each worker does not load it again; what they write and report
is what one process writes and reports.

Judged by the interpreter's own import log (``python -X importtime``, which forked workers inherit), by
pydicom reading the outputs and by the planted strings' bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom

from support.dicom import LEAK_STRINGS, planted_file

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
SOURCES = ("CT_small.dcm", "MR_small.dcm", "JPEG-lossy.dcm", "examples_palette.dcm")


def _dicom_batch(tmp_path: Path, n: int = 8) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(n):
        planted_file(folder, SOURCES[i % len(SOURCES)], i)
    return folder


def _scrub(folder: Path, out: Path, jobs: int, *python_flags: str) -> subprocess.CompletedProcess:
    command = [sys.executable, *python_flags, "-m", "deident", "scrub", str(folder), "-o", str(out)]
    command += ["--text", "off", "--faces", "off", "-j", str(jobs), "--json"]
    return subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, DEIDENT_KEY=KEY))


def _imported(log: str, module: str) -> int:
    """How many processes imported ``module`` (one ``-X importtime`` line per import, in every process)."""
    return sum(
        1
        for line in log.splitlines()
        if line.startswith("import time:") and line.split("|")[-1].strip() == module
    )


def test_two_forked_workers_load_the_dicom_reader_once_per_run_not_once_each(tmp_path):
    """A worker's first DICOM file cost 360 CPU-ms (pydicom and deident's DICOM modules imported, the
    PS3.15 table read), its next ones 10: the parent loads them once, before it forks. A header-only
    batch loads no OCR engine anywhere."""
    folder = _dicom_batch(tmp_path)
    run = _scrub(folder, tmp_path / "out", 2, "-X", "importtime")
    assert run.returncode == 0, run.stderr[-2000:]
    assert _imported(run.stderr, "pydicom") == 1
    assert _imported(run.stderr, "deident.dicom.scrub") == 1
    assert not [m for m in ("onnxruntime", "rapidocr", "pytesseract") if _imported(run.stderr, m)]  # no OCR
    outputs = sorted((tmp_path / "out").iterdir())
    assert len(outputs) == 8
    for path in outputs:  # the outputs are whole and clean, read by pydicom and by their bytes
        assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"
        data = path.read_bytes().upper()
        assert not [s for s in LEAK_STRINGS if s.upper().encode() in data]


def test_the_parents_look_at_the_first_file_writes_and_reports_nothing_of_its_own(tmp_path):
    """-j 2 writes the same bytes and reports the same findings as -j 1, each file once; nothing else is
    left in the output folder (the parent's look at the first file is a dry run)."""
    folder = _dicom_batch(tmp_path)
    one, two = _scrub(folder, tmp_path / "one", 1), _scrub(folder, tmp_path / "two", 2)
    assert one.returncode == two.returncode == 0, two.stderr[-2000:]
    files = sorted(p.name for p in (tmp_path / "one").rglob("*"))
    assert files == sorted(p.name for p in (tmp_path / "two").rglob("*"))
    assert len(files) == 8
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()

    def findings(run) -> dict:
        files = json.loads(run.stdout)["files"]
        return {Path(f["input"]).name: (f["status"], f["findings"]) for f in files}

    assert len(json.loads(two.stdout)["files"]) == 8
    assert findings(one) == findings(two)
