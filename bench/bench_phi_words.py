"""How PHI mode judges label lines, word by word, through ``phi.classify`` (no OCR, full confidence).

Five sets:
- ``bench/data/phi_lines.tsv``: label lines written for this bench (pathology, dermatology and radiology
  labels and read-outs marked harmless; names, titled names, dates, IDs and phone numbers identifying);
- held out, harmless: every SNOMED CT concept meaning of pydicom's DICOM content mapping dictionary
  (anatomy, findings, procedures, stains; written by others, never looked at to build the vocabulary);
- held out, identifying: the 1,000 commonest census surnames, each as "Given Surname", "Dr Surname",
  "SURNAME, GIVEN" and "Mrs. Surname" (given names drawn from the 300 commonest of each sex, seeded);
- held out, identifying: the commonest given names and surnames of 105 countries (names-dataset, when
  installed), each alone, and 162 Japanese names in three sentences each.

    python bench/bench_phi_words.py [--list]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from deident.text import phi

DATA = Path(__file__).resolve().parent / "data" / "phi_lines.tsv"


def written() -> list[tuple[str, str]]:
    rows = [ln.split("\t", 1) for ln in DATA.read_text("utf-8").splitlines() if ln and not ln.startswith("#")]
    return [(kind, text) for kind, text in rows]


def snomed() -> list[tuple[str, str]]:
    from pydicom.sr._concepts_dict import concepts

    meanings = {m for codes in concepts["SCT"].values() for m, _ in codes.values()}
    return [("h", m) for m in sorted(meanings)]


def census(count: int = 1000, seed: int = 7) -> list[tuple[str, str]]:
    import names

    root = Path(names.__file__).parent

    def top(name: str, n: int) -> list[str]:
        lines = (root / name).read_text().splitlines()
        return [ln.split()[0].capitalize() for ln in lines[:n] if ln.strip()]

    given = top("dist.male.first", 300) + top("dist.female.first", 300)
    rng = random.Random(seed)
    out = []
    for surname in top("dist.all.last", count):
        first = rng.choice(given)
        for line in (
            f"{first} {surname}",
            f"Dr {surname}",
            f"{surname.upper()}, {first.upper()}",
            f"Mrs. {surname}",
        ):
            out.append(("i", line))
    return out


def world_names(count: int = 200) -> list[tuple[str, str]]:
    """Held out, identifying: the ``count`` commonest given names and surnames of each of the 105
    countries of names-dataset (alphabetic ones, once each), each alone as a line, capitalised: where
    ordinary words and places stand in for names. Empty without the package (a bench-only extra)."""
    try:
        from names_dataset import NameDataset
    except ImportError:
        return []
    dataset = NameDataset()
    found: set[str] = set()
    for first in (True, False):
        for by_country in dataset.get_top_names(n=count, use_first_names=first).values():
            groups = by_country.values() if isinstance(by_country, dict) else [by_country]
            found.update(n.lower() for group in groups for n in group if n.isalpha())
    return [("i", n.capitalize()) for n in sorted(found)]


def japanese_names() -> list[tuple[str, str]]:
    """Held out of the rules, identifying: tests/data/japanese_names.txt (162 common Japanese surnames and
    given names, kanji, hiragana and katakana), each in three sentences."""
    data = Path(__file__).resolve().parents[1] / "tests" / "data" / "japanese_names.txt"
    names = [n for ln in data.read_text("utf-8").splitlines() if not ln.startswith("#") for n in ln.split()]
    return [("i", s.format(n)) for n in names for s in ("{}の左膝", "患者{}の写真", "{}です")]


def score(rows: list[tuple[str, str]], show: bool) -> tuple[int, int, int, int]:
    kept = marked = harmless = identifying = 0
    for kind, text in rows:
        label = phi.classify(text, 0.99)
        if kind == "h":
            harmless += 1
            kept += label is None
        else:
            identifying += 1
            marked += label is not None
        if show and (label is None) != (kind == "h"):
            print(f"  {kind} {text!r}: {label}")
    return kept, harmless, marked, identifying


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print every line of the written set judged wrongly")
    args = ap.parse_args()
    print("| set | harmless lines kept | identifying lines marked |")
    print("|---|---|---|")
    for name, rows, show in (
        ("written for this bench", written(), args.list),
        ("SNOMED CT meanings (pydicom)", snomed(), False),
        ("census names, four forms", census(), False),
        ("names of 105 countries, each alone (names-dataset)", world_names(), False),
        ("Japanese names in three sentences each", japanese_names(), False),
    ):
        if not rows:
            print(f"| {name} | not measured: its package is not installed | |")
            continue
        kept, harmless, marked, identifying = score(rows, show)
        h = f"{kept} of {harmless} ({100 * kept / harmless:.0f} %)" if harmless else "-"
        i = f"{marked} of {identifying}" if identifying else "-"
        print(f"| {name} | {h} | {i} |")


if __name__ == "__main__":
    main()
