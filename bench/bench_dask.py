"""A metadata-only DICOM scrub on a 2-worker Dask LocalCluster against the local pool, in one run; and
the scaling model for 10 million files on 10, 100 and 1,000 workers built from what it measured.

Generates small secondary-capture DICOM files (64x64, patient name, ID and dates unique per study)
under bench/.work/dask/, then times, in this order and ``--rounds`` times over:

- local: ``deident scrub SRC -o OUT --text off --faces off -j 2`` (the process pool);
- cluster: the same with ``--scheduler tcp://...`` on a 2-worker LocalCluster already running (the
  case the feature is for: an existing cluster; its start-up is timed apart);

checks the two output trees are byte-identical, measures the scheduler's cost per task (empty tasks,
submitted as deident submits them), appends a dated section with the figures and the model to
docs/scaling.md and deletes what it generated.

    python bench/bench_dask.py [--files 10000] [--rounds 2] [--keep] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from published import publish

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "dask"
DOCS = ROOT / "docs" / "scaling.md"
sys.path.insert(0, str(ROOT / "tests"))  # the secondary-capture builder, one definition

from support.dicom import secondary_capture  # noqa: E402

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
METADATA_ONLY = ("--text", "off", "--faces", "off")
ARCHIVE_FILES = 10_000_000
WORKER_COUNTS = (10, 100, 1_000)


def make_inputs(n: int) -> Path:
    src = WORK / f"in-{n}"
    if src.is_dir() and sum(1 for _ in src.rglob("*.dcm")) == n:
        return src
    shutil.rmtree(src, ignore_errors=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        study = src / f"study{i // 50:04d}"
        study.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (64, 64), dtype=np.uint8)
        secondary_capture(
            study / f"im{i:06d}.dcm",
            pixels,
            PatientName=f"PATIENT^N{i // 50:05d}",
            PatientID=f"{7_000_000 + i // 50}",
            StudyDate="20120109",
            AccessionNumber=f"ACC{i // 50:07d}",
        )
    return src


def scrub(src: Path, out: Path, *extra: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(ROOT / ".venv" / "bin" / "deident"), "scrub", str(src), "-o", str(out), *METADATA_ONLY, *extra]
    env = dict(os.environ, DEIDENT_KEY=KEY)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def task_overhead(client, tasks: int = 2000) -> float:
    """Seconds per empty task, submitted through deident's own loop (windowed, as_completed)."""
    from collections import deque

    from deident.cluster import _held, _Phase

    chunks = deque([[i] for i in range(tasks)])
    shared = [client.submit(_held, value, pure=False) for value in (os.getcwd(), None)]  # cwd, options
    t0 = time.perf_counter()
    for _ in _Phase(client, _empty, shared, chunks).run():
        pass
    return (time.perf_counter() - t0) / tasks


def _empty(chunk: list, options) -> list:
    return chunk


def model(per_file: float, per_task: float) -> list[tuple[int, int, float, float, float]]:
    """(workers, files per task, compute hours, scheduler hours, wall hours) for ARCHIVE_FILES files.

    Workers share the compute (files x seconds per file / workers); the scheduler handles one task
    after another, so its time (tasks x seconds per task) is a floor under the wall time; the wall
    time is the larger of the two (they overlap). Files per task as deident.cluster.chunk_size picks.
    """
    from deident.cluster import chunk_size

    rows = []
    for workers in WORKER_COUNTS:
        chunk = chunk_size(ARCHIVE_FILES, workers, pixel_stages=False)
        compute = ARCHIVE_FILES * per_file / workers
        scheduler = ARCHIVE_FILES / chunk * per_task
        rows.append((workers, chunk, compute / 3600, scheduler / 3600, max(compute, scheduler) / 3600))
    return rows


@dataclass
class Measured:
    files: int
    rounds: int
    local_walls: list[float]
    cluster_walls: list[float]
    small_wall: float  # local pool on SMALL files: start-up and imports, the part that is not per file
    small_cluster_wall: float  # the same on the cluster: connecting, importing distributed, the plugin
    same: bool
    per_task: float
    startup: float
    load: tuple[float, float]

    @property
    def overhead(self) -> float:
        return min(self.cluster_walls) / min(self.local_walls) - 1

    @property
    def per_file_overhead(self) -> float:
        """The cluster's cost per file against the local pool's, start-up of each taken out."""
        local = min(self.local_walls) - self.small_wall
        return (min(self.cluster_walls) - self.small_cluster_wall) / local - 1

    @property
    def per_file(self) -> float:
        """Seconds of one worker per file: the local run's slope, two workers busy."""
        return 2 * (min(self.local_walls) - self.small_wall) / (self.files - SMALL)


SMALL = 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    src, small = make_inputs(args.files), make_inputs(SMALL)
    print(f"{args.files} DICOM files in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    startup = time.perf_counter() - t0
    local_walls, cluster_walls = [], []
    try:
        small_wall = min(scrub(small, WORK / "out-small", "-j", "2") for _ in range(3))
        address = cluster.scheduler_address
        small_cluster_wall = min(scrub(small, WORK / "out-small", "--scheduler", address) for _ in range(3))
        for _ in range(args.rounds):
            local_walls.append(scrub(src, WORK / "out-local", "-j", "2"))
            cluster_walls.append(scrub(src, WORK / "out-dask", "--scheduler", address))
            print(f"local {local_walls[-1]:.2f} s, cluster {cluster_walls[-1]:.2f} s")
        same = tree_digest(WORK / "out-local") == tree_digest(WORK / "out-dask")
        per_task = task_overhead(client)
    finally:
        client.close()
        cluster.close()
    m = Measured(
        files=args.files,
        rounds=args.rounds,
        local_walls=local_walls,
        cluster_walls=cluster_walls,
        small_wall=small_wall,
        small_cluster_wall=small_cluster_wall,
        same=same,
        per_task=per_task,
        startup=startup,
        load=(load_before, os.getloadavg()[0]),
    )
    print(
        f"byte-identical: {same}; overhead {m.overhead:+.1%} ({m.per_file_overhead:+.1%} per file, "
        f"start-up {small_wall:.2f} s local, {small_cluster_wall:.2f} s cluster); "
        f"{m.per_file * 1e3:.2f} ms/file; {per_task * 1e3:.2f} ms/task; LocalCluster start-up {startup:.1f} s"
    )
    rows = model(m.per_file, per_task)
    for workers, chunk, compute, sched, wall in rows:
        print(
            f"{workers:>5} workers, {chunk} files/task: compute {compute:.2f} h, scheduler {sched:.2f} h, "
            f"wall {wall:.2f} h"
        )
    if not args.no_append:
        append(m, rows)
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)


def append(m: Measured, rows) -> None:
    local, on_dask = min(m.local_walls), min(m.cluster_walls)
    lines = [
        "",
        f"## {dt.date.today().isoformat()}: {m.files:,} DICOM files, 2-worker LocalCluster against `-j 2`",
        "",
        f"Machine: {os.cpu_count()} CPUs, load average {m.load[0]:.1f} before and {m.load[1]:.1f} after "
        "(shared with other jobs: compare the two runs, not the absolute times). Metadata only "
        f"(`--text off --faces off`), best of {m.rounds} rounds, run by `bench/bench_dask.py`.",
        "",
        "| run | wall (s), each round | best (s) | files/s |",
        "|---|---|---|---|",
        f"| local pool, `-j 2` | {', '.join(f'{w:.2f}' for w in m.local_walls)} | {local:.2f} | "
        f"{m.files / local:,.0f} |",
        f"| `--scheduler tcp://…` (2-worker LocalCluster, already running) | "
        f"{', '.join(f'{w:.2f}' for w in m.cluster_walls)} | {on_dask:.2f} | {m.files / on_dask:,.0f} |",
        "",
        f"Cluster overhead: **{m.overhead:+.1%}** in all; **{m.per_file_overhead:+.1%}** per file once "
        f"each run's start-up is taken out ({SMALL} files: {m.small_wall:.2f} s local, "
        f"{m.small_cluster_wall:.2f} s on the cluster: importing `distributed`, connecting, the worker "
        f"plugin). Outputs byte-identical: **{'yes' if m.same else 'NO'}**. Starting the LocalCluster "
        f"itself (what `--scheduler local:2` adds): {m.startup:.1f} s.",
        "",
        "Measured inputs of the model:",
        "",
        f"- per-file cost: {m.per_file * 1e3:.2f} ms of one worker (2 × (wall of {m.files:,} files − wall "
        f"of {SMALL} files, {m.small_wall:.2f} s) / {m.files - SMALL:,});",
        f"- per-task overhead: {m.per_task * 1e3:.2f} ms (2,000 empty tasks through deident's submission "
        "loop: client, scheduler and worker round trip, taken as serial scheduler time);",
        "",
        f"{ARCHIVE_FILES:,} files: compute = files × per-file cost / workers; scheduler = tasks × per-task "
        "overhead (one scheduler, serial); wall ≈ the larger of the two (they overlap).",
        "",
        "| workers | files per task | compute (h) | scheduler (h) | wall (h) |",
        "|---|---|---|---|---|",
        *(f"| {w:,} | {k:,} | {c:.2f} | {s:.2f} | {t:.2f} |" for w, k, c, s, t in rows),
    ]
    publish("\n".join(lines), doc=DOCS)


if __name__ == "__main__":
    main()
