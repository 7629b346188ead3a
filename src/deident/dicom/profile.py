"""The shipped PS3.15 Basic profile table, and how one attribute's action is chosen under options.

``profile.csv`` is generated data (see ``generate_profile``); nothing here names an attribute. An action
is resolved in two steps:

1. Every option the run enables (``DicomOptions``) that has an action for the attribute overrides the
   Basic action; when several do, ``C`` (clean) wins over ``K`` (keep): cleaning is the safer of the two.
2. A combined Basic code is resolved without knowing the IOD's module types, always towards the code that
   keeps any IOD conformant: ``X/Z`` -> ``Z``, ``X/D``, ``Z/D``, ``X/Z/D`` -> ``D`` (a dummy is valid for
   Type 1, 2 and 3), ``X/Z/U*`` -> ``U`` (keep the sequence; the UIDs inside are replaced by their own rows).

``C`` from the longitudinal-dates option becomes ``S`` (shift the date by the patient's keyed offset).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from deident.options import DicomOptions

# DicomOptions field -> (Table E.1-1 column, CID 7050 code, code meaning)
OPTIONS = (
    ("retain_long_modified_dates", "rtnLongModifDatesOpt", "113107", "Retain Longitudinal Temporal Information Modified Dates Option"),  # noqa: E501
    ("retain_patient_characteristics", "rtnPatCharsOpt", "113108", "Retain Patient Characteristics Option"),
    ("retain_device_identity", "rtnDevIdOpt", "113109", "Retain Device Identity Option"),
    ("clean_descriptors", "cleanDescOpt", "113105", "Clean Descriptors Option"),
)  # fmt: skip
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")
CLEAN_PIXELS_CODE = ("113101", "Clean Pixel Data Option")
DATES_COLUMN = "rtnLongModifDatesOpt"

# Combined Basic codes -> the single action we apply (see module docstring).
COMBINED = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U"}
OPTION_PRECEDENCE = ("C", "K")  # first wins when several enabled options disagree


@dataclass(frozen=True)
class Rule:
    key: str  # "00100010", a mask "60xx3000" / "50xxxxxx", or "private"
    keyword: str
    basic: str
    options: dict[str, str] = field(default_factory=dict, hash=False)

    def matches(self, tag: int) -> bool:
        return mask_matches(self.key, tag)


def mask_matches(mask: str, tag: int) -> bool:
    """``mask`` is 8 hex digits where ``x`` matches any digit, or "private" (odd groups)."""
    if mask == "private":
        return bool((tag >> 16) & 1)
    return all(m in ("x", h) for m, h in zip(mask, f"{tag:08x}", strict=True))


@dataclass(frozen=True)
class Profile:
    edition: str
    source: str
    rules: tuple[Rule, ...]
    exact: dict[int, Rule] = field(default_factory=dict, compare=False, hash=False)
    masks: tuple[Rule, ...] = ()

    @classmethod
    def of(cls, edition: str, source: str, rules: tuple[Rule, ...]) -> Profile:
        masked = tuple(r for r in rules if "x" in r.key or r.key == "private")
        exact = {int(r.key, 16): r for r in rules if r not in masked}
        return cls(edition, source, rules, exact, masked)

    def rule_for(self, tag: int) -> Rule | None:
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        for r in self.masks:
            if r.matches(tag):
                return r
        return None


@cache
def load_profile() -> Profile:
    text = resources.files("deident.dicom").joinpath("profile.csv").read_text()
    header = [ln[2:] for ln in text.splitlines() if ln.startswith("# ")]
    edition = next(h.rsplit("edition ", 1)[1] for h in header if "edition " in h)
    source = next(h.split(": ", 1)[1] for h in header if h.startswith("source: "))
    rows = csv.DictReader(ln for ln in text.splitlines() if not ln.startswith("#"))
    rules = tuple(
        Rule(r["tag"], r["keyword"], r["basic"], dict(kv.split("=") for kv in r["options"].split(";") if kv))
        for r in rows
    )
    return Profile.of(edition, source, rules)


def enabled_columns(options: DicomOptions) -> tuple[str, ...]:
    return tuple(col for attr, col, _, _ in OPTIONS if getattr(options, attr))


def option_codes(options: DicomOptions) -> list[tuple[str, str]]:
    """(code, meaning) of the Basic profile and every option applied, for the code sequence."""
    return [BASIC_CODE] + [(code, meaning) for attr, _, code, meaning in OPTIONS if getattr(options, attr)]


def columns_for_codes(codes: set[str]) -> tuple[str, ...]:
    """The option columns a file claims by the codes in its DeidentificationMethodCodeSequence."""
    return tuple(col for _, col, code, _ in OPTIONS if code in codes)


@cache
def resolve(rule: Rule, columns: tuple[str, ...]) -> str:
    """One of X Z D K U C S for ``rule`` under the enabled option ``columns``."""
    chosen = {col: rule.options[col] for col in columns if col in rule.options}
    for action in OPTION_PRECEDENCE:
        cols = [c for c, a in chosen.items() if a == action]
        if cols:
            return "S" if action == "C" and cols == [DATES_COLUMN] else action
    return COMBINED.get(rule.basic, rule.basic)
