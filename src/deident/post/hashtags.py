"""Hashtags for a post: field tags and diagnosis tags found in the caption, then the user's edits.

The vocabularies are data (``data/fields.csv``, ``data/diagnoses.csv``) so clinicians can extend them
without code. Matching rules, once for both tables:

* a name written in capitals only (an abbreviation: "BCC", "GIST", "CLL") matches case-sensitively, so
  the English word "all" or "pe" never becomes a tag; other names match in any case;
* spaces and hyphens inside a phrase are interchangeable; a trailing plural "s"/"es" is accepted;
* the longest name wins where names overlap ("nodular melanoma" before "melanoma").

Order is stable: field tags in table order, diagnosis tags in order of first mention, then added tags.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

_TAG_CHARS = re.compile(r"[^0-9A-Za-z_]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2010": "-", "\u2011": "-", "\u2013": "-"})
_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")


@dataclass(frozen=True)
class FieldTag:
    tag: str
    parent: str  # a broader field implied by this one ("dermpath" -> "pathology"), or ""
    words: tuple[str, ...]  # words that name the field on their own
    context_words: tuple[str, ...]  # organ words: count only when the parent field is already present


@dataclass(frozen=True)
class Diagnosis:
    tag: str
    field: str  # the field tag a mention implies
    names: tuple[str, ...]


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("deident.post").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _split(cell: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in (cell or "").split("|") if s.strip())


@cache
def fields() -> tuple[FieldTag, ...]:
    return tuple(
        FieldTag(r["tag"], r["parent"] or "", _split(r["words"]), _split(r["context_words"]))
        for r in _rows("fields.csv")
    )


@cache
def diagnoses() -> tuple[Diagnosis, ...]:
    return tuple(Diagnosis(r["tag"], r["field"], _split(r["names"])) for r in _rows("diagnoses.csv"))


def field_names() -> list[str]:
    return [f.tag for f in fields()]


def _piece(name: str) -> str:
    body = r"[\s-]+".join(re.escape(part) for part in re.split(r"[\s-]+", name))
    body += r"(?:e?s)?"
    return body if name.upper() == name else f"(?i:{body})"


class _Matcher:
    """One alternation over every name, longest first; the group that matched names its owner."""

    def __init__(self, entries: Iterable[tuple[str, object]]):
        named = sorted(entries, key=lambda e: (-len(e[0]), e[0]))
        self.owners = [owner for _, owner in named]
        alternatives = "|".join(f"(?P<n{i}>{_piece(name)})" for i, (name, _) in enumerate(named))
        self.pattern = re.compile(rf"(?<![\w@]){'(?:' + alternatives + ')'}(?!\w)")

    def find(self, text: str) -> list:
        """Owners in order of first mention, each once."""
        out: list = []
        for m in self.pattern.finditer(text.translate(_APOSTROPHES)):
            owner = self.owners[int(m.lastgroup[1:])]
            if owner not in out:
                out.append(owner)
        return out


@cache
def _diagnosis_matcher() -> _Matcher:
    return _Matcher((name, d) for d in diagnoses() for name in d.names)


@cache
def _field_matchers() -> tuple[_Matcher, _Matcher]:
    direct = _Matcher((w, f.tag) for f in fields() for w in f.words)
    context = _Matcher((w, f.tag) for f in fields() for w in f.context_words)
    return direct, context


def find_diagnoses(text: str) -> list[Diagnosis]:
    return _diagnosis_matcher().find(text)


def find_fields(text: str, given: Sequence[str] = ()) -> list[str]:
    """Field tags for the text, in table order: named fields, diagnoses' fields, their parents."""
    known = {f.tag: f for f in fields()}
    unknown = [g for g in given if g not in known]
    if unknown:
        raise ValueError(f"unknown field {', '.join(unknown)} (choose from {', '.join(known)})")
    direct, context = _field_matchers()
    found = set(given) | set(direct.find(text)) | {d.field for d in find_diagnoses(text)}
    found |= {known[t].parent for t in found if t in known and known[t].parent}
    found |= {t for t in context.find(text) if known[t].parent in found}
    found |= {known[t].parent for t in found if t in known and known[t].parent}
    return [f.tag for f in fields() if f.tag in found]


def normalise_tag(raw: str) -> str:
    """A hashtag's text without '#': letters, digits and underscores only (what platforms link)."""
    tag = _TAG_CHARS.sub("", raw.strip().lstrip("#"))
    if not tag:
        raise ValueError(f"not a usable hashtag: {raw!r}")
    return tag


def parse_edits(tags: Iterable[str]) -> tuple[list[str], set[str]]:
    """``--tags`` values ("foo", "+foo", "-foo", also comma- or space-separated) -> (added, removed)."""
    added: list[str] = []
    removed: set[str] = set()
    for value in tags:
        for item in re.split(r"[,\s]+", value.strip()):
            if not item:
                continue
            if item.startswith("-"):
                removed.add(normalise_tag(item[1:]).lower())
            else:
                added.append(normalise_tag(item.lstrip("+")))
    return added, removed


def hashtags_for(text: str, *, fields_given: Sequence[str] = (), tags: Iterable[str] = ()) -> list[str]:
    """Deduplicated hashtags ("#tag") for ``text``; tags the caption already writes are not repeated."""
    added, removed = parse_edits(tags)
    in_text = {t.lower() for t in _HASHTAG.findall(text)}
    candidates = find_fields(text, fields_given) + [d.tag for d in find_diagnoses(text)] + added
    out: list[str] = []
    seen: set[str] = set(in_text) | removed
    for tag in candidates:
        if tag.lower() not in seen:
            seen.add(tag.lower())
            out.append("#" + tag)
    return out
