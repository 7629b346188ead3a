"""Coverage-guided fuzzing (atheris / libFuzzer) of the byte-level parsers through the Document API.

Same property as tests/test_hardening.py: every input either raises a ``DeidentError`` (a clean
refusal) or scrubs to an output that carries none of the planted marker bytes, re-opens with no
metadata finding and decodes; any other exception, a leak, or an input slower than ``--slow`` seconds is
a crash (libFuzzer saves it as ``bench/.work/fuzz/crash-*``). The corpus starts from the planted
seed files of the format tests. Each parser runs in its own process for a bounded time.

    python bench/fuzz_parsers.py [--seconds 60] [--parsers jpeg,png,webp,gif,tiff]

Without atheris installed it says so and exits 0 (nothing to run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "fuzz"
PARSERS = ("jpeg", "png", "webp", "gif", "tiff")
sys.path.insert(0, str(ROOT / "tests"))


def seeds(fmt: str) -> list[bytes]:
    from support.runs import seed

    return [seed(fmt)]


def one_input(fmt: str, slow: float):
    from deident.errors import DeidentError
    from deident.formats.base import Source, open_document
    from support.planted import ctx, leaked
    from support.runs import scrubbed_bytes

    tmp = Path(tempfile.mkdtemp(prefix=f"fuzz-{fmt}-"))
    path, written = tmp / f"in.{fmt}", tmp / f"out.{fmt}"
    c = ctx(max_pixels=4_000_000)

    def test(data: bytes) -> None:
        path.write_bytes(data)
        t0 = time.monotonic()
        try:
            out = scrubbed_bytes(path, c)
        except DeidentError:
            return
        finally:
            if time.monotonic() - t0 > slow:
                raise RuntimeError(f"slow input: {time.monotonic() - t0:.1f} s")
        # libFuzzer copies parts of an input into other parts: marker bytes inside the image data
        # (copied as they are by design) are not a leak.
        inside = image_bytes(fmt, data)
        if [m for m in leaked(out) if m not in inside]:
            raise AssertionError(f"output carries planted bytes: {leaked(out)}")
        written.write_bytes(out)
        again = open_document(Source(written))
        if again.metadata_findings():
            raise AssertionError(f"output has findings: {[f.kind for f in again.metadata_findings()]}")
        for _ in again.frames(c):
            pass

    return test


def image_bytes(fmt: str, data: bytes) -> bytes:
    """The input's image data units (copied unchanged by a scrub): scans, IDAT, VP8, GIF images, strips."""
    from deident.formats import gif, jpeg, png, webp
    from deident.formats.tiff.reader import TiffReader
    from deident.formats.tiff.tags import OFFSET_TAGS

    try:
        if fmt == "jpeg":
            segs = jpeg.walk(data).chunks
            return b"".join(data[s.start : s.scan_end] for s in segs if s.marker == jpeg.SOS)
        if fmt == "png":
            return b"".join(c.data for c in png.walk(data).chunks if c.type in (b"IDAT", b"fdAT", b"iCCP"))
        if fmt == "webp":
            return b"".join(c.data for c in webp.walk(data).chunks if c.fourcc in webp.KEEP)
        if fmt == "gif":
            parsed = gif.walk(data)
            return data[: parsed.header_end] + b"".join(
                b.body(data) for b in parsed.blocks if b.kind == gif.IMAGE or b.app == b"ICCRGBG1012"
            )
        reader, parts = TiffReader.from_bytes(data), []
        for ifd in reader.chain():
            for off_tag, count_tag in OFFSET_TAGS.items():
                if off_tag in ifd.entries and count_tag in ifd.entries:
                    offs, counts = reader.values(ifd.entries[off_tag]), reader.values(ifd.entries[count_tag])
                    parts += [data[int(o) : int(o) + int(c)] for o, c in zip(offs, counts, strict=False)]
        return b"".join(parts)
    except Exception:
        return b""


def run_one(fmt: str, seconds: int, slow: float) -> int:
    import atheris

    with atheris.instrument_imports():
        import deident.formats.exif
        import deident.formats.gif
        import deident.formats.icc
        import deident.formats.iptc
        import deident.formats.items
        import deident.formats.jpeg
        import deident.formats.photo
        import deident.formats.pixels
        import deident.formats.png
        import deident.formats.tiff.document
        import deident.formats.tiff.reader
        import deident.formats.tiff.rewrite
        import deident.formats.webp
        import deident.formats.xmp  # noqa: F401
    corpus = WORK / f"corpus-{fmt}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds(fmt)):
        (corpus / f"seed{i}").write_bytes(data)
    test = one_input(fmt, slow)
    argv = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        "-max_len=65536",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={WORK}/crash-{fmt}-",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup(argv, test)
    atheris.Fuzz()
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60, help="total budget, split over the parsers")
    ap.add_argument("--parsers", default=",".join(PARSERS))
    ap.add_argument("--slow", type=float, default=5.0, help="an input slower than this is a crash")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: fuzz one parser in this process
    args = ap.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (pip install atheris): nothing to fuzz")
        return
    if args.one:
        run_one(args.one, args.seconds, args.slow)
        return
    parsers = args.parsers.split(",")
    each = max(5, args.seconds // len(parsers))
    WORK.mkdir(parents=True, exist_ok=True)
    summary = []
    for fmt in parsers:
        cmd = [sys.executable, __file__, "--one", fmt, "--seconds", str(each), "--slow", str(args.slow)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        runs = [ln for ln in log.splitlines() if ln.startswith("stat::number_of_executed_units")]
        execs = runs[-1].split(":")[-1].strip() if runs else "?"
        cov = [ln for ln in log.splitlines() if " cov: " in ln]
        cover = cov[-1].split(" cov: ")[1].split()[0] if cov else "?"
        crash = [ln for ln in log.splitlines() if "Test unit written to" in ln or "Uncaught Python" in ln]
        outcome = "crash: " + "; ".join(crash) if proc.returncode else "no crash"
        summary.append((fmt, each, execs, cover, outcome))
        if proc.returncode:
            print(log[-4000:])
    print("| parser | seconds | inputs run | coverage (edges) | outcome |")
    print("|---|---|---|---|---|")
    for fmt, sec, execs, cover, outcome in summary:
        print(f"| {fmt} | {sec} | {execs} | {cover} | {outcome} |")
    sys.exit(1 if any(s[4] != "no crash" for s in summary) else 0)


if __name__ == "__main__":
    main()
