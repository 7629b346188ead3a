"""Face stage vs OpenCV 4's Haar cascade: recall on tests/support/facesynth.py and seconds per 12 MP photo.

Haar needs OpenCV 4 (OpenCV 5 dropped cascades), so it runs in a venv under bench/.work with
``opencv-python-headless<5`` as a subprocess that reports its own timings (interpreter start excluded).
Both detectors see the same PNG files; rounds alternate deident and Haar so machine load hits both alike.
Appends a dated section to docs/benchmarks.md.

    python bench/bench_faces.py [--faces 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "faces"
VENV = ROOT / "bench" / ".work" / "venv-cv4"
sys.path.insert(0, str(ROOT / "tests"))

from support import facesynth  # noqa: E402

HAAR = r"""
import json, sys, time, cv2
cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
cv2.setNumThreads(1)
out = {}
for path in sys.argv[1:]:
    grey = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
    t = time.perf_counter()
    boxes = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
    out[path] = {"seconds": time.perf_counter() - t,
                 "boxes": [[float(x), float(y), float(x + w), float(y + h)] for x, y, w, h in boxes]}
print(json.dumps(out))
"""


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q", "opencv-python-headless<5", "numpy"]
        subprocess.run(pip, check=True)
    return py


def write_inputs(n_faces: int) -> tuple[list[tuple[Path, facesynth.Sample]], list[Path]]:
    """The recall set as PNGs, plus three 4000x3000 photos (12 MP) made from face scenes for timing."""
    import cv2

    WORK.mkdir(parents=True, exist_ok=True)
    samples = facesynth.build_set(n_faces=n_faces, seed=123)
    recall = []
    for s in samples:
        path = WORK / f"{s.name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(s.rgb, cv2.COLOR_RGB2BGR))
        recall.append((path, s))
    big = []
    for s in [s for s in samples if s.faces][:3]:
        path = WORK / f"12mp-{s.name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(cv2.resize(s.rgb, (4000, 3000)), cv2.COLOR_RGB2BGR))
        big.append(path)
    return recall, big


def deident_boxes(paths: list[Path]) -> dict[str, dict]:
    import cv2

    from deident.faces import yunet

    yunet.load(1)
    out = {}
    for path in paths:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        t = time.perf_counter()
        faces = yunet.find_faces(rgb, threads=1)
        out[str(path)] = {"seconds": time.perf_counter() - t, "boxes": [list(f.box) for f in faces]}
    return out


def haar_boxes(py: Path, paths: list[Path]) -> dict[str, dict]:
    done = subprocess.run([str(py), "-c", HAAR, *map(str, paths)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def matched(truth: facesynth.FaceTruth, boxes: list[list[float]]) -> bool:
    """Found: a box centred inside the annotated face and overlapping it by IoU >= 0.3."""
    x0, y0, x1, y1 = truth.box
    for b in boxes:
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        if x0 <= cx <= x1 and y0 <= cy <= y1 and facesynth.iou(truth.box, tuple(b)) >= 0.3:
            return True
    return False


def score(recall, results) -> tuple[int, int, int]:
    found = total = false_controls = 0
    for path, s in recall:
        boxes = results[str(path)]["boxes"]
        if not s.faces:
            false_controls += bool(boxes)
        for f in s.faces:
            total += 1
            found += matched(f, boxes)
    return found, total, false_controls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    py = ensure_venv()
    recall, big = write_inputs(args.faces)
    paths = [p for p, _ in recall]
    times: dict[str, list[float]] = {"deident": [], "haar": []}
    for _ in range(args.rounds):  # alternate the two tools on the 12 MP photos
        for name, run in (("deident", deident_boxes), ("haar", lambda ps: haar_boxes(py, ps))):
            res = run(big)
            times[name] += [r["seconds"] for r in res.values()]
    ours, haar = score(recall, deident_boxes(paths)), score(recall, haar_boxes(py, paths))
    t_ours, t_haar = float(np.median(times["deident"])), float(np.median(times["haar"]))
    section = f"""
## Faces: deident (YuNet pyramid) vs OpenCV 4 Haar cascade — {utc_now()}

`python bench/bench_faces.py --faces {args.faces} --rounds {args.rounds}`;
set: tests/support/facesynth.py seed 123
({ours[1]} faces of 40-280 px, tilted +-15 deg, half partly turned,
plus {len(facesynth.CONTROLS)} face-free controls).
Both single-threaded; machine shared with other jobs (2 cores), so seconds are indicative.
Haar: `haarcascade_frontalface_default.xml`, scaleFactor 1.1, minNeighbors 5, minSize 30, OpenCV 4 in a venv.

| detector | recall | controls with a false face | s per 12 MP photo (median of {len(times["deident"])}) |
|---|---|---|---|
| deident faces | {ours[0]}/{ours[1]} ({ours[0] / ours[1]:.0%}) | {ours[2]} | {t_ours:.2f} |
| Haar (OpenCV 4) | {haar[0]}/{haar[1]} ({haar[0] / haar[1]:.0%}) | {haar[2]} | {t_haar:.2f} |

Ratio: deident takes {t_ours / t_haar:.2f}x Haar's time per 12 MP photo, recall {ours[0] - haar[0]:+d} faces.
"""
    publish(section)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
