"""Per look of the text stage: its CPU, its detector calls and the final lines it alone found (issue 24).

Scrubs each set in a child process (``deident scrub DIR -o OUT -j 1``, the barcode stage stubbed so that
no thread runs beside the text stage, the models loaded before the clock starts) with every look of
``text/detect.py`` wrapped: the overview, the fine tiles, the turned look, refine, beyond_ends, faint,
near_faces, the second round (its screen and overview, and the repainting of its fills), the text stage's
settling reads, and the same under verification. Process CPU is charged to the outermost look running;
detector and recogniser calls to the same. A line is tagged with the outermost look that returned it,
and each region the text stage draws (``detect.covering``) is counted under its line's look: an upper
bound of what skipping that look would change (another look may find the line too). Sets: the real
photos with text of ``../shared/corpora/realworld/text`` (``--faces off``), its text-free controls
(defaults), and with ``--also DIR`` any folder (``--faces off``; bench_recall's images, say). Prints a
table and, unless ``--dry-run``, appends it to docs/benchmarks.md.

    python bench/bench_looks.py [--also bench/.work/recall/in] [--dry-run]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT.parent / "shared" / "corpora" / "realworld"
IMAGES = (".jpg", ".jpeg", ".png")
OUTER = ("VERIFY", "LOOK", "FIND")  # markers, not looks
LOOKS = {  # detect.py's function -> the look it is
    "_overview_heat": "overview",
    "_overview": "second round: screen and overview",
    "_turned": "turned",
    "_refine": "refine",
    "_beyond_ends": "beyond_ends",
    "_faint": "faint",
    "near_faces": "near_faces",
}
JUDGING = {  # text/__init__.py's function -> what it is
    "_resolve_tall": "settling: tall lines (reads, lines inside)",
    "_glyphs_read": "settling: short and square lines read",
    "_shows_a_letter": "frames no photograph: a letter shown",
    "_read_as_text": "revealed renderings: read as text",
    "_read": "PHI / --keep-text reads",
    "_phi_categories": "PHI categories",
}


def child(out_path: str, args: list[str]) -> None:
    """Run ``deident ARGS`` here with the looks wrapped; write the counts to ``out_path``."""
    import linecache

    import numpy as np

    from deident import text as T
    from deident.barcodes import detect as barcodes
    from deident.cli import main
    from deident.text import db, detect, engine

    cpu, calls, mpx, reads, final = (defaultdict(float) for _ in range(5))
    tagged: dict[bytes, str] = {}
    state = threading.local()
    last = [time.process_time()]

    def stack() -> list[str]:
        if not hasattr(state, "s"):
            state.s = []
        return state.s

    def now() -> str:
        s = stack()
        prefix = "verify: " if "VERIFY" in s else ""
        looks = [x for x in s if x not in OUTER]
        if looks:
            return prefix + looks[0]
        if "FIND" in s:
            return prefix + "find_lines' own steps"
        return prefix + "look's own steps (covering, reads)" if "LOOK" in s else "outside the text stage"

    def charge() -> None:
        t = time.process_time()
        cpu[now()] += t - last[0]
        last[0] = t

    def key(quad) -> bytes:
        return np.round(np.asarray(quad, np.float64), 2).tobytes()

    def wrap(owner, name: str, label, tag: bool = False) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def wrapped(*a, **k):
            charge()
            outer = not [x for x in stack() if x not in OUTER]
            stack().append(label(*a, **k) if callable(label) else label)
            try:
                found = fn(*a, **k)
            finally:
                charge()
                look = now()
                stack().pop()
            if tag and outer:
                for ln in found[0] if isinstance(found, tuple) else found:
                    tagged.setdefault(key(ln.quad), look)
            return found

        setattr(owner, name, wrapped)

    def fills_label(*a, **k) -> str:
        caller = sys._getframe(2)
        line = linecache.getline(caller.f_code.co_filename, caller.f_lineno)
        if caller.f_code.co_name == "find_lines" and "filled" in line:
            return "second round: fills repainted"
        return "fills repainted (" + caller.f_code.co_name + ")"

    wrap(T.TextDetector, "verify", "VERIFY")
    wrap(T.TextDetector, "look", "LOOK")
    wrap(detect, "find_lines", "FIND")
    for name, label in LOOKS.items():
        wrap(detect, name, label, tag=True)
    wrap(detect, "_fine", lambda e, b, t, near: "fine tiles" if near is None else "second round: tiles", True)
    wrap(detect, "neutralise_boxes", fills_label)
    for name, label in JUDGING.items():
        wrap(T, name, label, tag=name == "_resolve_tall")

    probabilities = db.Detector.probabilities

    def counted(self, img, *a, **k):
        calls[now()] += 1
        mpx[now()] += img.shape[0] * img.shape[1] / 1e6
        return probabilities(self, img, *a, **k)

    db.Detector.probabilities = counted
    recognise = engine.recognise

    def read(eng, bgr, quads):
        reads[now()] += len(quads)
        return recognise(eng, bgr, quads)

    engine.recognise = read
    covering = detect.covering

    def covered(img, quad, read=None):
        look = tagged.get(key(quad), "?")
        final[look if look.startswith("verify") or "VERIFY" not in stack() else "verify: " + look] += 1
        return covering(img, quad, read)

    detect.covering = covered
    barcodes.BarcodeDetector.detect = lambda self, frame, ctx: []
    models = engine.load(engine.threads_for(1))
    for later in models[1:]:
        later.model = later.make()  # loaded before the clock: a load is start-up, not a look
    sys.argv = ["deident", *args]
    t0 = last[0] = time.process_time()
    with contextlib.suppress(SystemExit):
        main()
    charge()
    counts = {"total": time.process_time() - t0, "cpu": cpu, "calls": calls, "mpx": mpx, "reads": reads}
    Path(out_path).write_text(json.dumps(counts | {"final": final}))


def traced(folder: Path, options: list[str], work: Path) -> dict:
    out, report = work / "out", work / "counts.json"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, DEIDENT_CACHE_DIR=str(work / "cache"))
    args = ["scrub", str(folder), "-o", str(out), "-j", "1", "-q", *options]
    subprocess.run([sys.executable, __file__, "--child", str(report), "--", *args], env=env, check=True)
    return json.loads(report.read_text())


def images_of(folder: Path, work: Path) -> Path:
    dst = work / folder.name
    dst.mkdir()
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() in IMAGES:
            shutil.copy(f, dst / f.name)
    return dst


def table(results: dict[str, dict]) -> list[str]:
    names = list(results)
    looks = sorted(
        {k for r in results.values() for part in ("cpu", "final") for k in r[part]},
        key=lambda k: (k.startswith("verify"), -sum(r["cpu"].get(k, 0) for r in results.values())),
    )
    lines = ["| look | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for k in looks:
        if not any(r["cpu"].get(k, 0) >= 0.005 or r["final"].get(k) for r in results.values()):
            continue  # a look that did not run on any set
        cells = [
            f"{r['cpu'].get(k, 0):.2f} / {int(r['calls'].get(k, 0))} / {int(r['reads'].get(k, 0))} / "
            f"{int(r['final'].get(k, 0))}"
            for r in results.values()
        ]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append("| whole run | " + " | ".join(f"{r['total']:.2f}" for r in results.values()) + " |")
    return lines


def main() -> int:
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--child") + 1], sys.argv[sys.argv.index("--") + 1 :])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--also", action="append", default=[], help="a folder to scrub too (--faces off)")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-looks-") as tmp:
        work = Path(tmp)
        sets = []
        if SET.is_dir():
            sets += [
                ("7 text photos (--faces off)", images_of(SET / "text", work), ["--faces", "off"]),
                ("5 controls", images_of(SET / "controls", work), []),
            ]
        sets += [(f"{Path(d).name} (--faces off)", Path(d), ["--faces", "off"]) for d in args.also]
        for label, folder, options in sets:
            results[label] = traced(folder, options, work)
            print(label, f"{results[label]['total']:.2f} CPU-s", flush=True)
    text = [f"## The text stage's looks: CPU, calls and outcome — {utc_now()} (bench/bench_looks.py)\n"]
    text.append("Each cell: CPU-s / detector calls / crops read / final regions the look alone found.\n")
    text += table(results)
    publish("\n".join(text), args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
