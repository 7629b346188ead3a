"""How PHI mode judges label lines, word by word: ``bench/data/phi_lines.tsv`` through ``phi.classify``.

No OCR: the lines as read, at full confidence. Harmless lines (pathology, dermatology and radiology labels,
read-outs) should be kept; identifying ones (names, titled names, dates, IDs, phone numbers) never.

    python bench/bench_phi_words.py [--list]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deident.text import phi

DATA = Path(__file__).resolve().parent / "data" / "phi_lines.tsv"


def lines() -> list[tuple[str, str]]:
    rows = [ln.split("\t", 1) for ln in DATA.read_text("utf-8").splitlines() if ln and not ln.startswith("#")]
    return [(kind, text) for kind, text in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print every line that is judged wrongly")
    args = ap.parse_args()
    kept = hidden = harmless = identifying = 0
    for kind, text in lines():
        label = phi.classify(text, 0.99)
        if kind == "h":
            harmless += 1
            kept += label is None
            wrong = label is not None
        else:
            identifying += 1
            hidden += label is not None
            wrong = label is None
        if wrong and args.list:
            print(f"  {kind} {text!r}: {label}")
    print(f"harmless lines kept: {kept} of {harmless}; identifying lines marked: {hidden} of {identifying}")


if __name__ == "__main__":
    main()
