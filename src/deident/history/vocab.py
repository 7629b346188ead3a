"""The word lists the fuzzer reads, kept as data under ``data/``: clinicians extend them without code."""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from importlib import resources

from deident.wordlists import read_lines


def _text(name: str) -> str:
    return resources.files("deident.history").joinpath("data").joinpath(name).read_text(encoding="utf-8")


def _lines(name: str) -> list[str]:
    return read_lines("deident.history", "data", name)


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(_text(name).splitlines()))


def words_pattern(words: list[str]) -> str:
    """An alternation that prefers the longest phrase, with flexible spaces or hyphens inside phrases."""
    ordered = sorted(set(words), key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"[\s-]+") for w in ordered)


@cache
def sex_specific() -> re.Pattern[str]:
    """Any word that ties the case to one sex ("ovarian", "PSA"); a trailing ``$`` means whole word, a
    leading ``re:`` a regular expression (obstetric shorthand "G2P1" is no word)."""
    parts = [
        s[3:] if s.startswith("re:") else re.escape(s[:-1]) + r"\b" if s.endswith("$") else re.escape(s)
        for s in _lines("sex_specific.txt")
    ]
    return re.compile(r"\b(?:" + "|".join(parts) + ")", re.IGNORECASE)


@cache
def kin_words() -> re.Pattern[str]:
    """Gendered words for other people (mother, husband): their presence blocks a sex change."""
    return re.compile(r"\b(?:" + words_pattern(_lines("kin_words.txt")) + r")s?\b", re.IGNORECASE)


@cache
def sex_swaps() -> dict[str, str]:
    """Lower-case word -> its other-sex counterpart, both ways ("her"/"his" are decided in context)."""
    out: dict[str, str] = {}
    for row in _rows("sex_terms.csv"):
        female, male = row["female"], row["male"]
        if female and male and female not in out:
            out[female] = male
        if male and female and male not in out:
            out[male] = female
    out["mr"] = "ms"
    out["him"] = "her"
    return out


@cache
def sites() -> dict[str, str]:
    """Site -> the region it generalises to (organs map to themselves: only the side is dropped)."""
    return {row["site"]: row["region"] for row in _rows("sites.csv")}


@cache
def laterality() -> dict[str, str]:
    return {row["word"]: row["opposite"] for row in _rows("laterality.csv")}


@cache
def laterality_fixed() -> tuple[str, ...]:
    """Phrases after left/right that name a different structure, not one of a pair: never swapped."""
    return tuple(_lines("laterality_fixed.txt"))


@cache
def relative_dates() -> dict[str, str]:
    """Relative time phrase -> the vague word that replaces it."""
    return {row["phrase"]: row["vague"] for row in _rows("dates.csv")}


@cache
def grammar() -> dict[str, list[str]]:
    """Context words around "her" and around a bare left/right."""
    return json.loads(_text("grammar.json"))


@cache
def lateral_words() -> tuple[str, ...]:
    """Stems after left/right that show it names a side of the body."""
    return tuple(_lines("lateral_words.txt"))


@cache
def number_words() -> dict[str, int]:
    """Number words up to eighty ("forty" -> 40): ages written out move like digits (90 up is "90+")."""
    return {row["word"]: int(row["value"]) for row in _rows("number_words.csv")}


@cache
def institutions() -> dict[str, dict[str, str]]:
    """Position ("suffix"/"prefix") -> institution word -> its generic name (ED -> emergency department)."""
    out: dict[str, dict[str, str]] = {"suffix": {}, "prefix": {}}
    for row in _rows("institutions.csv"):
        out[row["position"]][row["word"]] = row["generic"]
    return out


@cache
def care_units() -> frozenset[str]:
    """Departments, units and services (lower case): a place of care named only by them is no
    institution ("admitted to ICU", "referred to Plastics")."""
    return frozenset(w.lower() for w in _lines("care_units.txt"))


@cache
def street_words() -> tuple[str, ...]:
    return tuple(_lines("street_words.txt"))


@cache
def us_states() -> dict[str, str]:
    """Two-letter code -> state name (a ZIP follows the code; the state itself is kept, as HIPAA does)."""
    return {row["code"]: row["name"] for row in _rows("us_states.csv")}


@cache
def regions() -> frozenset[str]:
    """Countries, large regions and US states: kept after "from"; anything smaller is removed."""
    return frozenset(_lines("regions.txt")) | frozenset(us_states().values())


@cache
def eponyms() -> frozenset[str]:
    """Capitalised clinical words that may stand alone after "from" and are not towns."""
    return frozenset(_lines("eponyms.txt"))


@cache
def addresses_abroad() -> dict[str, list[str]]:
    """Street kinds, street-name endings and postcode cues of addresses outside the UK and US
    (``addresses_abroad.json``)."""
    return json.loads(_text("addresses_abroad.json"))


@cache
def national_ids() -> tuple[str, ...]:
    """Names of national identity and health numbers (``national_ids.txt``)."""
    return tuple(_lines("national_ids.txt"))


@cache
def uk_postcode_areas() -> tuple[str, ...]:
    return tuple(_lines("uk_postcode_areas.txt"))


@cache
def sentence_starters() -> frozenset[str]:
    return frozenset(_lines("sentence_starters.txt"))


@cache
def foreign_months() -> tuple[str, ...]:
    """Month names in the other languages captions are posted in (``months.txt``)."""
    return tuple(_lines("months.txt"))


@cache
def foreign_ages() -> dict[str, list[str]]:
    """The words around an age in other languages (``foreign_ages.json``): before it, its unit, its
    adjective."""
    return json.loads(_text("foreign_ages.json"))


@cache
def titles() -> dict[str, str]:
    """Title -> "patient" or "doctor": the cue before a name, in English and the languages captions are
    posted in ("M. Dupont", "Dña. García", "Dott.ssa Rossi"); a doctor's name becomes "a colleague"."""
    return {row["title"]: row["role"] for row in _rows("titles.csv")}


@cache
def relations() -> tuple[str, ...]:
    """Words for the people around a patient, gendered or not (``kin_words.txt``, ``relations.txt``)."""
    return tuple(_lines("kin_words.txt")) + tuple(_lines("relations.txt"))


@cache
def tlds() -> tuple[str, ...]:
    """Top-level domains of web addresses written without a scheme (``tlds.txt``)."""
    return tuple(_lines("tlds.txt"))


@cache
def name_cues() -> dict[str, list[str]]:
    """Credentials after a name, phrases that credit a person and role labels before one
    (``name_cues.json``)."""
    return json.loads(_text("name_cues.json"))
