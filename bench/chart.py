"""Draw docs/benchmarks.png from the tables the bench scripts appended to docs/benchmarks.md.

Left: deident against each peer tool, one bar per (comparison, peer), as a time ratio deident / peer
(below 1.0 deident is faster; log scale, a line at 1.0). Only the latest section of each comparison is
read (sections are appended, newest last). A table takes part when it has a tool column (a row starting
with "deident" and at least one other row) and a time column ("median time", "s per ...") or a rate
column ("files/s"); a "size" column splits it into one group per size.
Right: the latest scaling section (bench/bench_scaling.py): wall time and peak memory relative to the
smallest run, against the number of files relative to it, with the least-squares line "start-up + cost
per file" (points on it mean linear cost), plain proportionality, and flat memory (1.0).

Also adds (or refreshes) the reference to the chart at the top of docs/benchmarks.md. Any bench script
may call ``chart.main([])`` after appending its section.

    python bench/chart.py [--docs docs/benchmarks.md] [--out docs/benchmarks.png]
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
OUT = ROOT / "docs" / "benchmarks.png"
REF_MARK = "<!-- chart: bench/chart.py -->"
# Comparisons of deident with itself (DCT vs re-encode) or with nothing (scaling) have no peer bars.
NO_PEERS = ("JPEG redaction in the DCT domain", "Scaling")


@dataclass
class Section:
    title: str  # heading without its date
    body: str


@dataclass
class Ratio:
    comparison: str
    peer: str
    ratio: float  # deident time / peer time


def sections(text: str) -> list[Section]:
    out = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        title = re.split(r"\s+(?:—|\(\d{4}-)", heading, maxsplit=1)[0].strip()
        out.append(Section(title, body))
    return out


def latest(secs: list[Section]) -> dict[str, Section]:
    found: dict[str, Section] = {}
    for s in secs:  # appended in order: the last one of a comparison wins, whatever its subtitle
        found[_short(s.title)] = s  # "Metadata-only scrub: deident vs exiftool -all= [and mat2]"
    return {s.title: s for s in found.values()}


def tables(body: str) -> list[list[dict[str, str]]]:
    """Markdown tables of a section as lists of {header: cell}."""
    out, rows = [], []
    for line in [*body.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if len(rows) >= 3:
            head = rows[0]
            out.append([dict(zip(head, r, strict=False)) for r in rows[2:]])
        rows = []
    return out


def number(cell: str) -> float | None:
    m = re.search(r"-?\d[\d,]*(?:\.\d+)?", cell or "")
    return float(m.group().replace(",", "")) if m else None


def _short(title: str) -> str:
    return re.split(r"[:(]", title)[0].strip()


def peer_ratios(secs: dict[str, Section]) -> list[Ratio]:
    ratios: list[Ratio] = []
    for title, sec in secs.items():
        if title.startswith(NO_PEERS):
            continue
        for table in tables(sec.body):
            if not table:
                continue
            head = list(table[0])
            tool = next((h for h in head if any(r.get(h, "").startswith("deident") for r in table)), None)
            time_col = next((h for h in head if h == "median time" or h.startswith("s per")), None)
            rate_col = next((h for h in head if h.endswith("files/s")), None)
            if tool is None or (time_col is None and rate_col is None):
                continue
            groups: dict[str, list[dict[str, str]]] = {}
            for r in table:
                groups.setdefault(r.get("size", ""), []).append(r)
            for size, rows in groups.items():
                ours = next((r for r in rows if r[tool].startswith("deident")), None)
                if ours is None:
                    continue
                for r in rows:
                    if r is ours:
                        continue
                    if time_col:
                        a, b = number(ours[time_col]), number(r[time_col])
                    else:  # time ratio from rates: peer rate / deident rate
                        a, b = number(r[rate_col]), number(ours[rate_col])
                    if a and b:
                        label = _short(title) + (f" {size}" if size else "")
                        ratios.append(Ratio(label, r[tool], a / b))
    return ratios


def scaling_rows(secs: dict[str, Section]) -> list[dict[str, float]]:
    sec = next((s for t, s in secs.items() if t.startswith("Scaling")), None)
    if sec is None:
        return []
    for table in tables(sec.body):
        if table and "files" in table[0] and "wall time" in table[0]:
            return [
                {
                    "files": number(r["files"]) or 0,
                    "wall": number(r["wall time"]) or 0,
                    "mem": number(r.get("largest process", "")) or 0,
                }
                for r in table
            ]
    return []


def draw(ratios: list[Ratio], scaling: list[dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if scaling else 1, figsize=(13 if scaling else 8, 5.2), squeeze=False)
    ax = axes[0][0]
    labels = [f"{r.comparison}\nvs {r.peer}" for r in ratios]
    values = [r.ratio for r in ratios]
    colours = ["#2a9d8f" if v < 1 else "#e76f51" for v in values]
    bars = ax.bar(range(len(values)), values, color=colours)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_xticks(range(len(values)), labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("time ratio deident / peer (log; < 1 = deident faster)")
    ax.set_title("deident vs peer tools (latest run of each comparison)", fontsize=10)
    for bar, v in zip(bars, values, strict=True):
        ax.annotate(f"{v:.2f}x", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    if values:
        ax.set_ylim(min([*values, 1.0]) / 2, max([*values, 1.0]) * 2)
    if scaling:
        ax = axes[0][1]
        base = scaling[0]
        x = [r["files"] / base["files"] for r in scaling]
        import numpy as np

        ns = np.asarray([r["files"] for r in scaling], float)
        b, a = np.polyfit(ns, np.asarray([r["wall"] for r in scaling], float), 1)
        grid = np.geomspace(ns[0], ns[-1], 50)
        ax.loglog(
            grid / ns[0],
            (a + b * grid) / base["wall"],
            "--",
            color="grey",
            label=f"linear fit: {a:.2f} s start-up + {1000 * b:.2f} ms per file",
        )
        ax.loglog(x, x, ":", color="grey", label="time proportional to files")
        ax.axhline(1.0, color="black", linewidth=1, label="flat memory (ratio 1.0)")
        ax.loglog(x, [r["wall"] / base["wall"] for r in scaling], "o-", label="wall time ratio")
        ax.loglog(x, [r["mem"] / base["mem"] for r in scaling], "s-", label="peak memory ratio")
        for xi, r in zip(x, scaling, strict=True):
            ax.annotate(
                f"{r['files']:,.0f} files",
                (xi, r["wall"] / base["wall"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, -10),
            )
        ax.set_xlabel(f"files / {base['files']:,.0f}")
        ax.set_ylabel("ratio to the smallest run")
        ax.set_title("Scaling: metadata-only scrub (latest run)", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def add_reference(docs: Path, image: Path) -> None:
    """Put (or refresh) the chart reference right under the page's introduction."""
    text = docs.read_text()
    rel = image.relative_to(docs.parent).as_posix() if image.is_relative_to(docs.parent) else str(image)
    ref = (
        f"{REF_MARK}\n![deident vs peer tools, and scaling]({rel})\n\n"
        "*The chart is redrawn by `bench/chart.py` from the latest section of each comparison below.*\n"
    )
    if REF_MARK in text:
        text = re.sub(re.escape(REF_MARK) + r"\n.*?\n\n\*The chart[^\n]*\n", lambda _: ref, text, flags=re.S)
    else:
        first = text.find("\n## ")
        head, rest = (text, "") if first < 0 else (text[: first + 1], text[first + 1 :])
        text = head.rstrip("\n") + "\n\n" + ref + "\n" + rest
    docs.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=Path, default=DOCS)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    secs = latest(sections(args.docs.read_text()))
    ratios = peer_ratios(secs)
    draw(ratios, scaling_rows(secs), args.out)
    add_reference(args.docs, args.out)
    for r in ratios:
        print(f"{r.comparison:40s} vs {r.peer:28s} {r.ratio:6.2f}x")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
