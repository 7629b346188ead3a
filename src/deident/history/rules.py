"""Deterministic rewriting rules: identifiers and dates, plus the machinery every pass shares.

A rule is a pattern, a change kind and how the match is rewritten. The same rules serve ``fuzz_text``
(rewrite), ``check_caption`` (report only) and ``identifiers_in`` (the batch deny-list), so what is
removed and what is reported can never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from deident.history.vocab import (
    addresses_abroad,
    care_units,
    eponyms,
    foreign_months,
    grammar,
    institutions,
    name_cues,
    national_ids,
    number_words,
    regions,
    relations,
    relative_dates,
    sentence_starters,
    street_words,
    titles,
    tlds,
    uk_postcode_areas,
    us_states,
    words_pattern,
)

REMOVED = "[removed]"


@dataclass
class Change:
    kind: str  # age | sex | site | laterality | date | time | name | identifier | phone | email | dob
    before: str
    after: str


@dataclass(frozen=True)
class Edit:
    """A change plus the identifying value inside it (for the deny-list), if it is one."""

    change: Change
    value: str = ""


# How a match becomes its replacement: a fixed string, or a function of the match.
Render = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    render: Render
    value_group: str | int | None = 0  # the identifying part, for the deny-list; None: not an identifier


def at_sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t\"'(*_")
    return not before or before[-1] in ".!?\n:"


def fit_case(new: str, old: str, text: str, pos: int) -> str:
    """Give the replacement the capitalisation its place asks for (sentence start, all capitals)."""
    if not new or new.startswith("["):
        return new
    if len(old) > 1 and old.isalpha() and old.isupper():
        return new.upper()
    if at_sentence_start(text, pos):  # a cue the match keeps keeps its own capital ("cc: [removed]")
        return (old[0] if new[0].lower() == old[0].lower() else new[0].upper()) + new[1:]
    return new


def apply(text: str, rules: tuple[Rule, ...], edits: list[Edit]) -> str:
    """Run each rule over the text in order, recording every change."""
    for rule in rules:

        def repl(m: re.Match[str], rule: Rule = rule) -> str:
            raw = rule.render if isinstance(rule.render, str) else rule.render(m)
            if raw == m.group(0):
                return raw
            new = fit_case(raw, m.group(0), m.string, m.start())
            if (
                m.group(0).endswith(".")
                and not new.endswith(".")
                and re.match(r"\s+[A-Z]|\s*$", m.string[m.end() :])
            ):
                new += "."  # the abbreviation's period was also the sentence's
            value = m.group(rule.value_group) if rule.value_group is not None else ""
            edits.append(Edit(Change(rule.kind, m.group(0), new or "(removed)"), (value or "").strip()))
            return new

        text = rule.pattern.sub(repl, text)
    return text


# ---------------------------------------------------------------- shared pieces of patterns

MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
ORD = r"\d{1,2}(?:st|nd|rd|th)?"
YEAR = r"(?:19|20)\d{2}"
SEASON = r"(?:spring|summer|fall|autumn|winter)"
WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
ROMAN_MONTH = r"(?:XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)"
# A time joined to an ISO date ("2024-03-12T10:15:00Z"), and a year written with an apostrophe ("'24")
ISO_TIME = r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
SHORT_YEAR = r"['’]\d{2}\b"
# A day and a month without a year: "12/03", or "17.03." with the closing stop German and Polish notes write
# ("17.03" alone may be a measurement). Elements of a date other than the year identify (Safe Harbor).
DAY_MONTH = (  # either order for "/": "12/03" (day first), "3/17" (month first)
    r"(?<![\d/.])(?:(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])|(?:0?[1-9]|[12]\d|3[01])/(?:0?[1-9]|1[0-2]))(?![\d/])"
    r"|(?<![\d/.])(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?!\d)"
)
ABS_DATE = (
    rf"(?:(?<![\d/.-]){YEAR}[-/.]\d{{1,2}}[-/.]\d{{1,2}}{ISO_TIME}(?![\d/])"
    rf"|(?<![\d/.-])\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:{YEAR}|\d{{2}})(?![\d/])"
    rf"|(?<![\d/.])\d{{1,2}}/{YEAR}(?![\d/])"
    rf"|(?<![\d/.-])\d{{1,2}}\s\d{{1,2}}\s{YEAR}(?![\d/])"  # "12 03 1970", as forms print it
    rf"|\b{MONTH}\s+{ORD}(?:,?\s+(?:{YEAR}\b|{SHORT_YEAR}))?\b"
    rf"|\b(?:the\s+)?{ORD}\s+(?:of\s+)?{MONTH}(?:,?\s+(?:{YEAR}\b|{SHORT_YEAR}))?\b"
    rf"|\b{MONTH}(?:\s+|-)(?:{YEAR}\b|{SHORT_YEAR})"  # "March 2023", "Feb-2023"
    # "2023-02"; "2010-11" and "2011-12" stay: a season's or school year's range as often as a month
    rf"|(?<![\d/.-]){YEAR}-0[1-9](?![\d/-]|\.\d)"
    rf"|(?<![\d/.-])\d{{1,2}}[-/.]{MONTH}[-/.]?(?:{YEAR}|\d{{2}})(?![\d/])"  # "12-Mar-1970", "12/Mar/70"
    rf"|(?<![\d/.-])\d{{1,2}}\.\s?{ROMAN_MONTH}\.\s?(?:{YEAR}|\d{{2}})(?![\d/]))"  # "12.III.1970"
)
# A date in another language's words (months.txt): a day before the month ("12 mars", "3 de marzo",
# "12. März", "1er mai"), a year after it or both ("marzo de 1970"). A full birth date in a French caption
# identifies as one in English does; the month alone ("mars", "mayo") is no date.
_FOREIGN_MONTH = rf"(?i:{words_pattern(list(foreign_months()))})"
FOREIGN_DATE = (
    rf"(?:(?<![\d/.,-])\d{{1,2}}(?:er|º|°|\.)?\s*(?:(?i:de|del)\s+)?{_FOREIGN_MONTH}"
    rf"(?:,?\s+(?:(?i:de|del)\s+)?{YEAR})?(?!\w)"
    rf"|(?<!\w){_FOREIGN_MONTH},?\s+(?:(?i:de|del)\s+)?{YEAR}\b)"
)
# A name: optional initials, then one to three capitalised words ("X", "J. Smith", "Mary-Ann O'Neil").
_UP, _LOW = "A-ZÀ-ÖØ-Þ\u0100-\u017f", "a-zß-öø-ÿ\u0100-\u017f"  # Latin letters, accented ones included
# O'Brien, D'Angelo; McDonald, MacLeod (one capital inside); Garcia-Lopez
_WORD = (  # "MacGillivray-O'Neill": each part of a double name may open with O' or D'
    rf"(?:[{_UP}]['’])?[{_UP}][{_LOW}]+(?:[{_UP}][{_LOW}]+)?(?:(?:-(?:[{_UP}]['’])?|['’])[{_UP}][{_LOW}]+)*"
)
_PLACE_WORD = rf"(?:{_WORD}|[{_UP}]{{2,5}})"  # "Mayo", "MD" (Anderson)
_ROMANCE = r"(?:de\s+la|de|da|di|du|dos|das|del|della)"  # a particle that names no one without its cue
# de la Cruz, van der Berg; the Irish Ó Briain, Ní Dhonnchadha, Nic Aodha, Mac Giolla, Uí Bhriain
# and the Arabic bin, bint, ibn, abu, al ("Mohammed bin Salman Al-Saud")
_PARTICLE = (
    r"(?:de|del|della|di|da|la|le|van|von|der|den|ten|ter|het|du|dos|das|Ó|Ní|Nic|Mac|Mhic|Uí|Ua"
    r"|bin|bint|binti|ibn|abu|al|el)\s+"
)


@cache
def _acronyms() -> frozenset[str]:
    """Capitalised words a caption writes that are no surname: the text stage's keep words (MRI, CT,
    H&E, BPD ...) and the departments and units a case is seen in (ICU, ED)."""
    from deident.text.phi import vocabulary

    words = vocabulary().keep_words | care_units()
    return frozenset(w.upper() for w in words if w.replace("&", "").isalpha())


# A surname in capitals after a given name or initials ("John SMITH", "J. O'NEIL", "Anna KOWALSKA-NOWAK"),
# as European notes write it; not an acronym a caption uses ("Dr Smith MRI showed", "Jones ICU").
_CAPS_SURNAME = (
    rf"(?!(?:{words_pattern(list(_acronyms()))})(?![\w'’-]))"
    rf"(?:[{_UP}]['’])?[{_UP}]{{2,}}(?:[-'’][{_UP}]{{2,}})*(?![\w'’])"
)
NAME = (  # "J. Smith", "A Smith", "J.K.", "Mary-Ann O'Neil", "de la Cruz", "John SMITH"
    rf"(?:(?:[{_UP}](?:\.\s?|[ \t])){{1,2}}(?:{_WORD}|{_CAPS_SURNAME})|(?:[{_UP}]\.\s?){{2,3}}(?![{_LOW}])"
    rf"|(?:{_PARTICLE}){{0,2}}{_WORD}(?:\s+(?:{_PARTICLE}){{0,2}}{_WORD}){{0,2}}(?:\s+{_CAPS_SURNAME})?"
    rf"|[{_UP}]\b\.?)"
)
_CAPS_NAME = rf"[{_UP}][{_UP}'’-]+(?:\s+[{_UP}][{_UP}'’-]+)?\b"
# A person as records and reports write one after a label: the surname in capitals first ("WHITCOMBE,
# Alan", "WHITCOMBE Alan", "WHITCOMBE^ALAN" as DICOM stores it) or the whole name in capitals ("ALAN
# WHITCOMBE"); NAME needs a capital and a small letter, so "Patient: WHITCOMBE, Alan" kept the name.
# An acronym is told from a surname when the match is judged (_names_someone), not in the pattern: the
# lookahead of _CAPS_SURNAME, repeated in each list item, took the rules' first use from 0.4 s to 0.7 s.
_CAPITALS = rf"(?:[{_UP}]['’])?[{_UP}]{{2,}}(?:[-'’][{_UP}]{{2,}})*(?![\w'’])"
_CAPS_PERSON = (
    rf"{_CAPITALS}(?:(?:,[ \t]*|[ \t]+|\^)(?:{_WORD}|{_CAPITALS})){{1,3}}"  # "GARCÍA LÓPEZ, María José"
)
_CAPS_SURNAME_FIRST = rf"{_CAPITALS}(?:,[ \t]*|\^)(?:{_WORD}|{_CAPITALS})"  # "ROE, Jane", "ROE^JANE"
# English, and the German, French, Spanish and Italian titles of captions posted in those languages
# (titles.csv; a title that ends in its own full stop, "M." or "Hr.", needs it: "M" alone is a sex)
PATIENT_TITLES = rf"(?:{words_pattern([t for t, role in titles().items() if role == 'patient'])})"
DOCTOR_TITLES = (
    rf"(?:{words_pattern([t for t, role in titles().items() if role != 'patient'])})"  # "a colleague"
)
# Capitalised words that follow "patient" without being a name.
NOT_NAMES = {
    "history", "information", "summary", "notes", "note", "details", "was", "is", "has", "had", "presented",
    "with", "and", "the", "who", "came", "reports", "denies", "underwent", "case", "age", "sex", "consent",
    "hx", "dx", "tx", "rx", "sx", "bx", "fx", "hb", "hgb", "cr", "na", "pmh", "pt", "id", "mrn", "dob",
    "a", "an", "male", "female", "man", "woman", "boy", "girl", "child", "infant", "unknown", "anonymous",
}  # fmt: skip

_RELATIVE = rf"(?=[{_UP}][{_UP}{_LOW}])(?!(?i:{'|'.join(sorted(NOT_NAMES))})\b)(?:{NAME})"
# "A" is an initial before a surname ("cc: A. Roe", "dictated by A Roe"), else the article
_NOT_A_NAME = rf"(?=[{_UP}])(?!(?i:{'|'.join(sorted(NOT_NAMES - {'a'}))})\b)(?!(?i:a)\b(?!\.?[ \t]?[{_UP}]))"
# a name after a cue: capitalised, not a word that follows "patient" without being one ("History"), nor
# the next label of a form ("Surname: Roe, Forename: Jane"); in capitals after a credit only surname
# first ("signed by: WHITCOMBE, ALAN": "courtesy of UCLH Pathology", "CC BY-SA" name no one), after a
# label's colon in any order and alone
_CUED = rf"{_NOT_A_NAME}(?:{_CAPS_SURNAME_FIRST}|{NAME})(?![\w'’.-]*\s*:)"
# a surname alone in capitals only as the label's whole value ("Consultant: ROE."): "Pt: MRSA carrier" stays
_LABELLED = rf"{_NOT_A_NAME}(?:{_CAPS_PERSON}|{_CAPITALS}(?=[ \t]*(?:[,;.)\n]|$))|{NAME})(?![\w'’.-]*\s*:)"
# Names in a list ("cc: Alan Roe; Priya Das", "courtesy of J. Roe and P. Das"): the list goes up to its
# last name, and "a colleague" a title's name became is an item of it ("cc: Dr Roe, Priya Das").
# Markdown around a label or a name (a caption may be NAME.md): "**Patient:** Jane Roe", "| Name | Roe |",
# "Credit: [Jane Roe](https://…)"; what opens the name stays with the cue, what closes it after the name
_MARK = r"[*_]{0,3}"
_OPEN = r"[*_\[]{0,3}"
_SEP = r"(?:[ \t]*[,;&/][ \t]*(?:and[ \t]+)?|[ \t]+(?:and|&)[ \t]+)"


def _item(one: str) -> str:
    """One name of a list: ``one``, a surname and initials as a citation writes them ("Roe A, Das PK"),
    or "a colleague"; not a web address's first part ("Radiopaedia.org")."""
    cited = rf"{_NOT_A_NAME}{_WORD}[ \t][{_UP}]{{1,2}}\b\.?"
    return rf"(?:{cited}|{one}|[Aa][ \t]colleague\b)(?![\w'’-]*\.[a-z])(?![\w'’.-]*\s*:)"


# A list's later names in a lighter shape than NAME (no particles, no acronym lookahead): NAME in every
# item took the rules' first use from 0.37 s to 0.59 s; an acronym is told from a name when the match is
# judged (_names_someone).
_NEXT_NAME = (  # in capitals surname first only: "courtesy of Jane Roe, CC BY-SA" names one person
    rf"(?:(?:[{_UP}](?:\.[ \t]?|[ \t])){{0,2}}{_WORD}(?:[ \t]+{_WORD}){{0,2}}|{_CAPS_SURNAME_FIRST}"
    rf"|(?:[{_UP}]\.[ \t]?){{2,3}})"  # on one line: "cc: Roe\nKind regards," ends the list
)
_LIST_ITEM = re.compile(rf"(?P<item>{_item(_NEXT_NAME)})(?:{_SEP}|$)")


def _listed(one: str) -> str:
    return rf"{_item(one)}(?:{_SEP}{_item(_NEXT_NAME)}){{0,5}}"


_PREP = r"(?:(?P<prep>[Oo]n|[Ii]n|[Aa]t|[Dd]uring|[Aa]round|[Bb]y|[Ss]ince|[Ff]rom|[Oo]f)\s+(?:the\s+)?)?"


def _value_removed(m: re.Match[str]) -> str:
    """The match with its ``v`` group (the identifier) removed and its cue kept: "Call [removed]"."""
    return m.group(0)[: m.start("v") - m.start()] + REMOVED + m.group(0)[m.end("v") - m.start() :]


def _vague(word: str) -> Callable[[re.Match[str]], str]:
    """A date becomes vague; "since <date>" becomes "for some time" so the sentence still reads."""

    def render(m: re.Match[str]) -> str:
        prep = (m.groupdict().get("prep") or "").lower()
        return "for some time" if prep == "since" else word

    return render


def _relative(m: re.Match[str]) -> str:
    phrase = re.sub(r"\s+", " ", m.group("rel").lower())
    return _vague(relative_dates().get(phrase, "recently"))(m)


def _ago(m: re.Match[str]) -> str:
    return _vague("previously" if m.group("unit").lower().startswith(("month", "year")) else "recently")(m)


# A record number's value: letters and digits in any order, joined by - / . ("ABCD12345", "AB-12-CD-34",
# "RX/12345"), and groups of two digits or more after a space ("K 12345 67", "0045 2231"): the cue and
# the whole value go; taking "AB-12" and leaving "CD-34" left half an identifier. ``_id_removed`` keeps
# a value with fewer than two digits ("ID consult", "ID 2 days ago": infectious diseases).
ID_VALUE = (
    r"(?:[A-Z]{1,4}\s)?[A-Z0-9]+(?:[-/.][A-Z0-9]+)*"
    r"(?:\s\d{2,}[A-Z0-9]*(?:[-/.][A-Z0-9]+)*(?!\s*(?:cm|mm|ml|kg|g|%|x)\b))*(?![\w-])"
)


# Safe Harbor's health plan, account, licence and device numbers, by the words that introduce them
# ("Medicare no 1EG4-TE5-MK73", "driver's licence D1234567", "pacemaker serial no. AB12345"); "serial"
# alone stays a word ("serial 12-lead ECGs"), as "account" and "policy" do without a number word.
_NUMBER_WORD_AFTER = r"\s+(?:ID|number|no\.?|#)"
_PLAN_LICENCE_DEVICE = (
    rf"(?:health\s+)?insurance{_NUMBER_WORD_AFTER}|policy{_NUMBER_WORD_AFTER}|member{_NUMBER_WORD_AFTER}"
    rf"|medicare|medicaid|health\s+(?:card|plan)|account{_NUMBER_WORD_AFTER}|passport"
    rf"|driver['’]?s\s+licen[cs]e|licen[cs]e{_NUMBER_WORD_AFTER}|certificate{_NUMBER_WORD_AFTER}"
    rf"|serial{_NUMBER_WORD_AFTER}|S/N|device{_NUMBER_WORD_AFTER}|IMEI|UDI"
    # "device serial 4471-AB-9921", "SN: PM1234567", "lot no. 12345A"
    rf"|device\s+serial|SN(?=\s*[:#])|lot{_NUMBER_WORD_AFTER}"
)

# What a number after "room" or "bed" measures or counts, when it is not the room's or bed's number.
_MEASURES = (
    r"mm|cm|m|µm|um|ml|l|kg|g|mg|%|x|°|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|d|days?|wks?|weeks?"
    r"|mos?|months?|yrs?|years?|times|nights?"
)


def _id_removed(m: re.Match[str]) -> str:
    """The cue and its value go; after a possessive the cue stays ("her SSN is [removed]", not "Her.")."""
    if sum(c.isdigit() for c in m.group("v")) < 2:
        return m.group(0)
    owned = re.search(r"\b(?:her|his|their|the)\s+$", m.string[: m.start()], re.IGNORECASE)
    return _value_removed(m) if owned else ""


def _plain(word: str) -> bool:
    """A capitalised word that names no one: an eponym, a place, a month, a sentence opener, an ordinary,
    clinical or non-name word ("Radiology", "Spitz", "March"), or a keep word of the text stage that is no
    name ("Axial", "Biopsy", "Sagittal": "Photo: Axial T2" is no credit)."""
    from deident.text.phi import clinical_words, name_like, ordinary, vocabulary

    low = word.lower()
    return bool(
        word.split("-")[0] in eponyms()
        or word in regions()
        or _CALENDAR.match(word)
        or low in sentence_starters()
        or ordinary(low)
        or low in clinical_words()
        or low in NOT_NAMES
        or word in _acronyms()  # as written: "ICU" is a unit, "Ed" a given name (ED)
        or (low in vocabulary().keep_words and not name_like(low))
    )


def _names_someone(text: str) -> bool:
    words = re.findall(rf"[{_UP}][\w'’-]+", text)
    return bool(words) and not all(_plain(w) for w in words)


def _cued_name(replacement: str, several: str = "") -> Callable[[re.Match[str]], str]:
    """A name after a credit or before a credential becomes "a colleague"; after a label or "name is",
    its value is removed ("Consultant: [removed]"); words that name no one stay ("courtesy of Radiology").
    A list goes up to its last name ("courtesy of Jane Roe, Radiology" -> "a colleague, Radiology"); two
    names or more become ``several`` ("colleagues")."""

    def render(m: re.Match[str]) -> str:
        name = m.group("name")
        items, at = [], 0
        while (i := _LIST_ITEM.match(name, at)) and i.end() > at:
            items.append(i.span("item"))
            at = i.end()
        items = items or [(0, len(name))]
        named = [n for n, (a, b) in enumerate(items) if _names_someone(name[a:b])]
        if not named:
            return m.group(0)
        words = re.findall(rf"[{_UP}][\w'’-]+", name)
        # plain words opening the match stay ("Saw Jane Roe MD" -> "Saw a colleague")
        opening = re.match(rf"(?:(?:{'|'.join(re.escape(w) for w in words if _plain(w))})\s+)*", m.group(0))
        kept = opening.group(0) if opening and not m.groupdict().get("lead") else ""
        last = named[-1]
        word = several if several and last > 0 else replacement
        lead = m.groupdict().get("lead") or ""
        if (
            lead.strip() and word and word.split()[-1] == lead.split()[-1].lower()
        ):  # "my colleague Jane Roe" -> "my colleague"
            lead, word = lead.rstrip(), ""
        return kept + lead + word + name[items[last][1] :]

    return render


def _particle_name(m: re.Match[str]) -> str:
    """A surname with its particle and no cue ("seen by van der Wal", "Pieter de Vries") goes; an eponym
    ("von Willebrand disease", "van Gieson stain", "Cornelia de Lange") and ordinary words stay."""
    groups = m.groupdict()
    surname = groups["surname"] or groups.get("surname2")
    given = groups.get("given") or groups.get("given2") or ""
    if _plain(surname):
        return m.group(0)
    if given and _plain(given):  # "Saw van der Wal": the verb stays; "Syndrome de Down" is no name
        return m.group(0) if groups.get("given2") else f"{given} someone"
    return (groups.get("cue") or "") + "someone"


def _employer(m: re.Match[str]) -> str:
    """ "works at Acme Logistics" -> "works at a company"; a unit, sector or ordinary words stay."""
    from deident.text.phi import clinical_words, ordinary

    place = m.group("place")
    words = [w.lower() for w in re.findall(r"[^\W\d_][\w'’&-]*", place)]
    if place in regions() or all(w in care_units() or w in clinical_words() or ordinary(w) for w in words):
        return m.group(0)
    return f"{m.group('verb')} {m.group('prep')} a company"


def _title_name(m: re.Match[str]) -> str:
    if f"{m.group('title')} {m.group('name')}" in eponyms():  # "Sister Mary Joseph nodule" is a sign
        return m.group(0)
    titles = [m.group("title"), *(m.groupdict().get("more") or "").split()]  # "more": stacked titles
    doctor = any(re.fullmatch(rf"(?:{DOCTOR_TITLES})\.?", t, re.IGNORECASE) for t in titles)
    return "a colleague" if doctor else "the patient"


def _patient_name(m: re.Match[str]) -> str:
    if m.group("name").split()[0].lower() in NOT_NAMES:
        return m.group(0)
    return m.group("who")


_I = re.IGNORECASE
_THE = r"(?:\b(?P<the>[Tt]he)\s+)?"
_STREET = words_pattern(list(street_words()))
_ABROAD = addresses_abroad()
_STREET_KIND = rf"(?i:{words_pattern(_ABROAD['street_before_name'])})(?![\w'’])"  # "rue", "Via"
_STREET_PARTICLE = rf"(?:(?i:{words_pattern(_ABROAD['particles'])})(?:\s+|(?<=['’])))?"
# a European postcode and town after an address ("..., 75002 Paris", "..., 10115 Berlin-Mitte")
_POSTCODE_TOWN = rf"(?:,?\s+(?:[A-Z]{{1,2}}-)?\d{{4,5}}\s+{_WORD}(?:[\s-]+{_WORD}){{0,2}})?"
_NOT_AFTER_HOSPITAL = r"Course|Day|Stay|Admission|Discharge|Number|No"
_CALENDAR = re.compile(rf"(?:{MONTH}|{WEEKDAY})$")


def _institution(position: str) -> Callable[[re.Match[str]], str]:
    """An institution becomes its generic kind with the right article ("an emergency department")."""

    def render(m: re.Match[str]) -> str:
        generic = institutions()[position][re.sub(r"[\s-]+", " ", m.group("what"))]
        return ("an " if generic[0] in "aeiou" and not generic.startswith("uni") else "a ") + generic

    return render


# what makes the number after "Name, " an age: "44," "44)" "23-year-old" "45 yo" "45F" "6 months"
_AGE_UNIT = r"(?:(?=\s*[,;)])|[\s-]?(?:years?|yrs?|yo\b|y/o|y\.o\.|months?|mos?\b|[FM]\b))"
_NUMBER_WORD = rf"(?i:(?:{words_pattern(list(number_words()))})(?:[\s-]+\w+)?[\s-]+(?:years?|months?)\b)"


def _bare_name(m: re.Match[str]) -> str:
    """A capitalised word opening a sentence before an age is a name unless it is a known opener."""
    first = m.group("name").split()[0].rstrip(".").lower()
    if (
        first in NOT_NAMES
        or first in sentence_starters()
        or first.endswith("ly")
        or m.group("name") in regions()
        or m.group("name").split()[0] in eponyms()
        or _CALENDAR.match(m.group("name"))
    ):
        return m.group(0)
    return "the patient"


def _town(m: re.Match[str]) -> str:
    """A place after "from": kept if it is a country or state, else removed (its country or state stays)."""
    place, tail = m.group("place"), m.group("tail")
    if place in regions() or place.split()[0] in eponyms() or _CALENDAR.match(place):
        return m.group(0)
    if place.split()[0].lower() in NOT_NAMES:
        return m.group(0)
    if tail and (tail in regions() or tail in us_states()):
        return f" from {tail}"
    return f", {tail}" if tail else ""


def _home_town(m: re.Match[str]) -> str:
    """ "lives in Leeds with" -> "lives with", "resident of Tromsø, Norway" -> "resident of Norway": a town
    goes as after "from" (``_town``); a country or state, a unit or clinical words stay. Common English
    is no test here: "leeds" and "toronto" are frequent words."""
    from deident.text.phi import clinical_words

    place, tail = m.group("place"), m.group("tail")
    words = [w.lower() for w in re.findall(r"[^\W\d_][\w'’-]*", place)]
    if (
        place in regions()
        or place in us_states().values()
        or all(w in care_units() or w in clinical_words() for w in words)
    ):
        return m.group(0)
    if tail and (tail in regions() or tail in us_states() or tail in us_states().values()):
        return f"{m.group('verb')} {m.group('prep')} {tail}"
    return m.group("verb")


def _care_place(m: re.Match[str]) -> str:
    """A place of care named after a care verb ("seen at Mount Sinai", "referred to Great Ormond Street")
    goes ("seen elsewhere", "from another hospital") unless its words are a department or unit, or
    ordinary or clinical words ("admitted to ICU", "referred to Plastics", "seen at Week 12"). A saint's
    name ("St Elsewhere") always names an institution."""
    from deident.text.phi import clinical_words, ordinary

    place = m.group("place")
    if place in regions() or place in us_states().values() or _CALENDAR.match(place):
        return m.group(0)  # a country or state (Safe Harbor keeps them), a month, a weekday
    if place.split()[0] in eponyms():
        return m.group(0)  # a disease's clinic ("seen in the Paget clinic")
    if any(place.lower() in phrase.split() for phrase in relative_dates()):
        return m.group(0)  # a holiday ("seen at Christmas"): the date rules make it vague
    words = [w.lower().removesuffix("'s").removesuffix("’s") for w in re.findall(r"[^\W\d_][\w'’&-]*", place)]
    saint = re.match(r"(?:St\.?|Saint)\s", place)
    if not saint and all(w in care_units() or w in clinical_words() or ordinary(w) for w in words):
        return m.group(0)
    return m.group("verb") + (" from another hospital" if m.group("prep").lower() == "from" else " elsewhere")


_CARE_VERB = (
    r"seen|treated|referred|admitted|transferred|presented|operated(?:\s+on)?|biopsied|diagnosed|followed"
    r"(?:\s+up)?|managed|imaged|scanned|reviewed|evaluated|assessed|examined|delivered|born|resected|excised"
    r"|hospitali[sz]ed|done|performed|undertaken|follow-?up|opinion|surgery|biopsy|care|work-?up"
)

# What follows a day and month that is a date: "Seen 2/3 of the time", "Admission: 7/10 pain" are none
_AFTER_A_DATE = r"(?:(?<=\.)(?=\s|$)|(?=\s*(?:[,;:)]|\.?$|\.\s|\s+(?:with|for|and|at|in|to|by|when)\b)))"
_NUMWORD = r"(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|a\s+few|several|a\s+couple\s+of)"

IDENTIFIER_RULES: tuple[Rule, ...] = (
    Rule(
        "identifier", re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"']+?(?=[.,;:!?)\]]*(?:\s|$))", _I), REMOVED
    ),
    # a web address without its scheme but with a path ("twitter.com/drsmith", "hospital.org/patients/12"):
    # the path names a person or a record; a bare site ("Radiopaedia.org") stays
    Rule(
        "identifier",
        re.compile(
            rf"(?<![\w@./-])(?:[a-z0-9-]+\.)+(?:{'|'.join(tlds())})/[^\s<>\"']*?(?=[.,;:!?)\]]*(?:\s|$))", _I
        ),
        REMOVED,
    ),
    # an e-mail address written out against harvesters ("jane dot doe at example dot org", "jdoe [at] x.org")
    Rule(
        "email",
        re.compile(
            r"\b[\w+-]+(?:(?:\s+dot\s+|\s*[\[(]dot[\])]\s*|\.)[\w+-]+)*"
            r"(?:\s+at\s+|\s*[\[(]at[\])]\s*)[\w-]+(?:(?:\s+dot\s+|\s*[\[(]dot[\])]\s*)[\w-]+)+\b"
            r"|\b[\w.+-]+\s*[\[(]at[\])]\s*[\w-]+(?:\.[\w-]+)+\b",
            _I,
        ),
        REMOVED,
    ),
    # a handle after its network's name, with or without the @ ("IG: drsmith_derm", "Twitter @x")
    Rule(
        "name",
        re.compile(
            r"\b(?:IG|Insta(?:gram)?|Twitter|X|TikTok|Facebook|FB|Threads|Bluesky|Mastodon|Snapchat|Skype|LinkedIn"
            r"|Telegram|WeChat|Reddit|YouTube)\s*[:@]\s*"
            r"(?P<v>@?[A-Za-z_][\w.]{1,29})\b"
        ),
        _value_removed,
        "v",
    ),
    Rule(
        "identifier", re.compile(r"(?<![\d.])\b(?:\d{1,3}\.){3}\d{1,3}\b(?!\.\d)"), REMOVED
    ),  # an IP address
    Rule(  # a vehicle's plate ("licence plate AB12 CDE"), a Safe Harbor identifier
        "identifier",
        re.compile(
            r"\b(?:licen[cs]e|number|registration)\s+plate\s*(?:no\.?|number)?\s*:?\s*"
            r"(?P<v>[A-Z0-9][A-Z0-9 -]{1,9}[A-Z0-9])\b",
            _I,
        ),
        _value_removed,
        "v",
    ),
    Rule(  # initials given as such ("initials J.S.", "initials are JS")
        "name",
        re.compile(r"\binitials\s*(?:are|were|:)?\s*(?P<v>(?:[A-Z]\.?\s?){1,3}[A-Z]\b\.?)"),
        _value_removed,
        "v",
    ),
    Rule(  # a phone number after its cue, in any grouping ("Call 555-0199", "Tel. (020) 7946 0958")
        "phone",
        re.compile(
            r"\b(?:tel|telephone|phone|ph|call|ring|text|fax|mobile|mob|cell|whatsapp)\b\.?\s*(?:no\.?|number|#)?"
            r"\s*(?:is\s+|on\s+|at\s+)?:?\s*(?P<v>\+?\(?\d[\d ()./-]{4,}\d)",
            _I,
        ),
        _value_removed,
        "v",
    ),
    Rule("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), REMOVED),
    Rule("name", re.compile(r"(?<![\w@.])@[A-Za-z_]\w{1,29}\b"), "a colleague"),  # a handle: @jsmith_md
    Rule(
        "dob",
        re.compile(
            # a year of birth too: born in 1930, a patient is over 89 ("YOB 1930", "b. 1930")
            rf"\b(?:DOB|D\.O\.B\.?|date\s+of\s+birth|birth\s*date|born(?:\s+on|\s+in)?|YOB|year\s+of\s+birth"
            rf"|b\.(?=\s*{YEAR}\b))\s*[:#-]?\s*"
            rf"(?P<v>{ABS_DATE}|\d{{1,2}}\s\d{{1,2}}\s\d{{2}}\b|{YEAR}\b|{DAY_MONTH})",  # "DOB 12 03 70"
            _I,
        ),
        "",
        "v",
    ),
    Rule(
        "identifier",
        re.compile(
            r"\b(?:MRN|MR\s?#|MR\s+no\.?|medical\s+record(?:\s+(?:number|no\.?|#))?|hosp(?:ital|\.)?\s*(?:number|no\.?|#)"
            # a reference given as such ("Our ref: DERM/2023/0451"); Australia's IHI
            r"|(?:our\s+|your\s+)?ref(?:erence)?(?=\s*(?:[:#]|no\b|number\b))|IHI"
            r"|NHS\s+(?:number|no\.?)|chart\s+(?:number|no\.?|#)|patient\s+(?:ID|number|no\.?)|ID"
            r"|SSN|social\s+security(?:\s+(?:number|no\.?|#))?"
            r"|accession(?:\s+(?:number|no\.?|#))?|acc\.?\s*(?:no\.?|#)|"
            + _PLAN_LICENCE_DEVICE
            + r"|(?:lab|path(?:ology)?|specimen|report|histology|cytology)\s+(?:number|no\.?|#))"
            r"\s*(?:[:#]|no\.?|number)?\s*(?:is\s+|was\s+)?(?P<v>" + ID_VALUE + ")",
            _I,
        ),
        _id_removed,
        "v",
    ),
    # a national identity or health number after its name (national_ids.txt: "DNI 12345678Z", "Codice fiscale
    # RSSMRA85T10A562S", "Aadhaar 1234 5678 9012"): capitals and digits with five digits or more, since
    # several names are also clinical words ("CPR 20 min", "DNI 48 hours", "CHI" opening "Child")
    Rule(
        "identifier",
        re.compile(
            rf"\b(?i:{words_pattern(list(national_ids()))})(?![\w-])\s*(?i:no\.?|number|#)?\s*[:#]?\s*"
            r"(?P<v>[A-Z]{0,6}\d[\dA-Z]*(?:[ ./-]?[A-Z]{0,3}\d[\dA-Z]*)*)\b"
        ),
        lambda m: _id_removed(m) if sum(c.isdigit() for c in m.group("v")) >= 5 else m.group(0),
        "v",
    ),
    Rule(
        "identifier", re.compile(r"\b(?<![\d.])[A-Za-z]{1,3}-?\d{2}(?:-\d{2,7}|/\d{4,7})\b"), REMOVED
    ),  # PM23/0451
    Rule("identifier", re.compile(r"(?<![\d-])\b\d{3}([-. ])\d{2}\1\d{4}\b(?![-.]\d)"), REMOVED),  # SSN-like
    # a year and a serial, as pathology and radiology number cases ("Case 2023-0457", "2019/004512"); a
    # year range ("2019-2023") is none
    Rule(
        "identifier",
        re.compile(r"(?<![\w/.-])(?:19|20)\d{2}[-/](?!(?:19|20)\d{2}\b)\d{4,7}\b(?![-/.]\d)"),
        REMOVED,
    ),
    Rule("identifier", re.compile(r"(?<![\w&#])#\d{3,}\b"), REMOVED),  # "Case #2341" (a word tag stays)
    Rule(
        "phone",
        re.compile(
            r"(?<![\w/.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"
            r"|(?<![\w/.-])\+?\b0\d{3,4}\s?\d{6}\b"
            r"|(?<![\w/.-])\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,5}(?![\d.,]?\d)"  # +44 20 7946 0958
            r"|(?<![\w/.-])\b0\d{2,4}[\s.-]\d{3,4}[\s.-]\d{3,4}\b"  # 020 7946 0958
            r"|(?<![\w/.-])\(0\d{1,4}\)\s?\d{3,4}[\s.-]?\d{3,4}\b"  # (03) 9123 4567
        ),
        REMOVED,
    ),
    Rule("identifier", re.compile(r"(?<![\d.,])\b\d{6,}\b(?![.,]\d)"), REMOVED),
    Rule(  # "St Mary's Hospital", "the Royal Infirmary", "St Mary's ED" (institutions.csv, suffix)
        "place",
        re.compile(
            rf"{_THE}\b(?:(?:St\.?|Saint)\s+)?{_PLACE_WORD}(?:['’]s?)?(?:\s+{_PLACE_WORD}(?:['’]s?)?){{0,3}}\s+"
            rf"(?P<what>{words_pattern(list(institutions()['suffix']))})(?![\w&])"
        ),
        _institution("suffix"),
        0,
    ),
    Rule(  # "Hospital Universitario La Paz", "the University of Manchester" (institutions.csv, prefix)
        "place",
        re.compile(
            rf"{_THE}\b(?P<what>{words_pattern(list(institutions()['prefix']))})(?!\s+(?:{_NOT_AFTER_HOSPITAL})\b)"
            rf"(?:\s+(?:{_PARTICLE})?{_PLACE_WORD}(?:['’]s)?){{1,5}}"
        ),
        _institution("prefix"),
        0,
    ),
    Rule("place", re.compile(rf"\b\d{{1,5}}[A-Za-z]?\s+(?:{_WORD}\s+){{1,3}}(?:{_STREET})\b\.?"), REMOVED),
    # "12 rue de la Paix, 75002 Paris", "Via Roma 12", "Hauptstraße 5, 10115 Berlin" (addresses_abroad.json)
    Rule(
        "place",
        re.compile(
            rf"\b\d{{1,4}}(?:\s?(?:bis|ter|[a-z]))?,?\s+{_STREET_KIND}\s*{_STREET_PARTICLE}{_WORD}(?:\s+{_WORD}){{0,2}}"
            rf"{_POSTCODE_TOWN}"
            rf"|(?<![\w'’])(?=[{_UP}]){_STREET_KIND}\s*{_STREET_PARTICLE}{_WORD}(?:\s+{_WORD}){{0,2}},?\s+\d{{1,4}}[a-z]?\b"
            rf"{_POSTCODE_TOWN}"
            rf"|\b[{_UP}][{_LOW}]+(?i:{words_pattern(_ABROAD['street_name_endings'])})\s+\d{{1,4}}[a-z]?\b{_POSTCODE_TOWN}"
        ),
        REMOVED,
    ),
    Rule("place", re.compile(r"\b(?:P\.?\s?O\.?\s+Box|Post\s+Office\s+Box|GPO\s+Box)\s+\d+\b", _I), REMOVED),
    Rule(  # a UK postcode ("NW1 6XE") in one of the real postcode areas
        "place",
        re.compile(rf"\b(?:{'|'.join(uk_postcode_areas())})\d[A-Z\d]?\s\d[A-Z]{{2}}\b"),
        REMOVED,
    ),
    Rule(  # a Canadian postal code ("M5V 3L9"), its halves apart: "T2N0M0" is a tumour's stage
        "place",
        re.compile(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ -]\d[ABCEGHJ-NPRSTV-Z]\d\b"),
        REMOVED,
    ),
    Rule("place", re.compile(r"\bZIP(?:\s*code)?\s*[:#]?\s*(?P<v>\d{5}(?:-\d{4})?)\b", _I), "", "v"),
    Rule(  # a ZIP after a state's code ("AZ 86503"): the state stays
        "place",
        re.compile(rf"\b(?P<st>{'|'.join(us_states())})\s+(?P<v>\d{{5}}(?:-\d{{4}})?)\b"),
        lambda m: m.group("st"),
        "v",
    ),
    Rule(  # a postcode after an Australian state ("Sydney NSW 2000"): the state stays
        "place",
        re.compile(
            rf"(?<=[{_LOW}])\s+(?P<st>{words_pattern(_ABROAD['postcode_after_state'])})\s+(?P<v>\d{{4}})\b(?![.,]\d)"
        ),
        lambda m: " " + m.group("st"),
        "v",
    ),
    Rule(
        "name",
        re.compile(
            # surname first, as written ("ROE, Jane", "Roe, Jane"): the rule's _I made NAME take "Roe" alone
            rf"\b(?:patient\s+|pt\s+)?name{_MARK}\s*[:|]{_MARK}\s*{_OPEN}"
            rf"(?P<name>(?-i:{_CAPS_SURNAME_FIRST}|{_WORD},[ \t]*{_WORD}(?![\w'’.-]*\s*:))|{NAME})",
            _I,
        ),
        "",
        "name",
    ),
    Rule(  # a plural title before a list of names ("Drs Roe and Das reviewed" kept "Das")
        "name",
        re.compile(rf"\b(?:Drs|Profs|DRS)\b\.?\s+(?P<name>{NAME}(?:{_SEP}{_NEXT_NAME}){{1,5}})"),
        _cued_name("colleagues", "colleagues"),
        "name",
    ),
    Rule(
        "name",
        re.compile(
            rf"\b(?P<title>{PATIENT_TITLES}|{DOCTOR_TITLES})(?!\w)\.?\s+"
            # titles stacked as German and Austrian notes write them ("Frau Dr. Roe", "Prof. Dr. med. Roe")
            rf"(?P<more>(?:(?:{PATIENT_TITLES}|{DOCTOR_TITLES}|med|dent|rer\.\s?nat|phil)(?!\w)\.?\s+)*)"
            rf"(?P<name>(?:{_PARTICLE}){{0,2}}{_CAPS_SURNAME}|{NAME})"  # "Mr SMITH-JONES", "Mrs O'BRIEN"
        ),
        _title_name,
        "name",
    ),
    Rule(  # in capitals ("MR. SMITH"): only with the period, as "MR brain" and "MS" are not titles
        "name",
        re.compile(rf"\b(?P<title>MRS|MR|MS|MISS|DR|PROF)\.\s+(?P<name>{_CAPS_NAME})"),
        _title_name,
        "name",
    ),
    Rule(
        "name",
        re.compile(
            rf"\b(?P<who>[Pp]atient|[Pp]t\.?)(?:\s*:)?\s+(?:named\s+|called\s+)?(?P<name>{NAME})(?![\w.]*:)"
        ),
        _patient_name,
        "name",
    ),
    Rule("name", re.compile(rf",?\s+named\s+(?P<name>{NAME})"), "", "name"),
    Rule(  # initials in brackets after the patient ("the patient (J.S.)"); "(HIV)" has no full stops
        "name",
        re.compile(r"\b(?P<who>[Pp]atient|[Pp]t\.?)\s*\((?P<name>(?:[A-Z]\.\s?){2,3})\)"),
        lambda m: m.group("who"),
        "name",
    ),
    # a name before a credential ("Jane Roe MD reviewed", "Reported by J. Roe, FRCPath")
    Rule(
        "name",
        re.compile(
            rf"(?<![\w'’-])(?P<name>(?:[{_UP}]\.\s?){{0,2}}{_WORD}(?:\s+(?:[{_UP}]\.\s?)?{_WORD}){{0,2}}),?\s+"
            rf"(?:{words_pattern(name_cues()['credentials'])})(?![\w-])"
        ),
        _cued_name("a colleague"),
        "name",
    ),
    # a name after a credit ("photo courtesy of Jane Roe", "thanks to Jane Roe for the image")
    Rule(
        "name",
        re.compile(
            rf"(?P<lead>\b(?i:{words_pattern(name_cues()['before_name'])}){_MARK}\s*:?{_MARK}\s+{_OPEN})"
            rf"(?P<name>{_listed(_CUED)})"
        ),
        _cued_name("a colleague", "colleagues"),
        "name",
    ),
    # a name after a role or a relation written as a label ("Consultant: Roe", "Mother: Jane Roe")
    Rule(
        "name",
        re.compile(
            # the label's colon, a dash or a bracket: "NOK - Tom Roe", "her son (Tom Roe, 0412 345 678)"
            rf"(?P<lead>\b(?:(?i:{words_pattern([*name_cues()['labels'], *relations()])}))"
            rf"{_MARK}(?:\s*:|\s+[-–—]|\s*\(|\s*\|){_MARK}\s*{_OPEN})"
            rf"(?P<name>{_listed(_LABELLED)})"
        ),
        _cued_name(REMOVED, REMOVED),
        "name",
    ),
    # a signature: a line opening with a sign-off and a comma, or a dash, then a name ("Regards, Jane Roe",
    # "-- Jane Roe, Consultant"), the name alone or before a comma or bracket
    Rule(
        "name",
        re.compile(
            rf"(?P<lead>^[ \t]*(?:--+|—|–|(?i:{words_pattern(name_cues()['sign_offs'])})[ \t]*,)"
            rf"[ \t]*\n?[ \t]*)(?P<name>{_listed(_LABELLED)})(?=[ \t]*(?:[,(]|$))",
            re.MULTILINE,
        ),
        _cued_name("a colleague", "colleagues"),
        "name",
    ),
    # a name before its role, after a comma ("Margaret Okonkwo-Bell, Consultant Dermatologist"): two words
    # or more, so "Spitz, consultant opinion" stays (and so does a name of plain words)
    Rule(
        "name",
        re.compile(
            rf"(?<![\w'’-])(?P<name>{_CAPS_PERSON}|(?:[{_UP}](?:\.\s?|\s))?{_WORD}(?:\s+{_WORD}){{1,2}}"
            rf"|(?:[{_UP}](?:\.\s?|\s)){{1,2}}{_WORD})"
            rf"(?=,[ \t]+(?:[{_UP}{_LOW}]+[ \t]+)?(?i:{words_pattern(name_cues()['roles_after_name'])})\b)"
        ),
        _cued_name("a colleague"),
        "name",
    ),
    # a name after its role ("our PA Priya Ramaswamy", "resident Jane Roe"): two words or more, or an
    # initial and a surname, so "resident Medical Officer" and "the surgeon's" stay (plain words)
    Rule(
        "name",
        re.compile(
            rf"(?P<lead>\b(?i:{words_pattern([*name_cues()['roles_after_name'], 'PA', 'NP'])})\s+)"
            rf"(?P<name>{_WORD}(?:[ \t]+{_WORD}){{1,2}}|[{_UP}]\.?[ \t]{_WORD})(?![\w'’-])"
        ),
        lambda m: m.group("lead").rstrip() if _names_someone(m.group("name")) else m.group(0),
        "name",
    ),
    # "her name is Jane", "the patient's name was Jane Roe"
    Rule(
        "name",
        re.compile(rf"(?P<lead>\b(?i:name|surname|first\s+name)\s+(?:is|was)\s+)(?P<name>{_CUED})"),
        _cued_name(REMOVED),
        "name",
    ),
    # a family by its surname ("the Quixotez family" -> "the family"); "the Addams family" is one too
    Rule(
        "name",
        re.compile(
            rf"(?P<lead>\b[Tt]he\s+)(?P<name>{_WORD})"
            r"(?=\s+(?:family|families|twins|household|(?i:lab|laboratory|group|team))\b)"  # "the Roe lab"
        ),
        lambda m: m.group(0) if _plain(m.group("name")) else m.group("lead").rstrip(),
        "name",
    ),
    # a name in apposition to the person it names, between commas ("a 82-year-old man, Seán Ó Briain, from
    # Cork"): two words or more, so "a woman, Type 2 diabetic," and "a man, Bristol," stay
    Rule(
        "name",
        re.compile(
            r"\b(?P<who>(?:man|woman|boy|girl|lady|gentleman|patient|child|infant|baby|male|female)),\s+"
            rf"(?P<name>(?:{_PARTICLE}){{0,2}}{_WORD}(?:\s+(?:{_PARTICLE}){{0,2}}{_WORD}){{1,3}}),"
        ),
        lambda m: m.group("who"),
        "name",
    ),
    # a relative's name after the relation, written in lower case ("her son Tom, 20", "his wife, Anne Smith,",
    # "her sons, Tom and Jack,"): the relation stays; "Sister Mary Joseph nodule" is an eponym
    Rule(
        "name",
        re.compile(
            rf"\b(?P<kin>(?:{words_pattern(list(relations()))})s?)(?P<comma>,)?\s+(?P<name>{_RELATIVE}"
            rf"(?:\s+(?:and|&)\s+{_RELATIVE})?)(?(comma),?)"
        ),
        lambda m: m.group("kin"),
        "name",
    ),
    Rule(  # a bare name opening a sentence before an age: "Hope, a 23-year-old woman", "May Rose, 44,"
        "name",
        re.compile(
            rf"(?:^|(?<=[.!?]\s))(?P<name>{NAME}(?:\s[{_UP}]\.)?)(?=,\s+(?:an?\s+)?(?:\d{{1,3}}{_AGE_UNIT}|{_NUMBER_WORD}))",
            re.MULTILINE,
        ),
        _bare_name,
        "name",
    ),
    # a surname with its particle and no cue: "seen by van der Wal", "ter Horst", "Pieter de Vries"; a
    # Romance particle only after a given name ("maladie de Crohn", "Hospital de Clínicas" are no names)
    Rule(
        "name",
        re.compile(
            rf"(?<![\w'’-])(?P<name>(?:(?P<given>{_WORD})\s+)?(?:[Vv][ao]n(?:\s+(?:der|den|de|het))?|ter)"
            rf"\s+(?P<surname>{_WORD})|(?P<given2>{_WORD})\s+{_ROMANCE}\s+(?P<surname2>{_WORD}))"
        ),
        _particle_name,
        "name",
    ),
    # a Romance particle without a given name after a word that cues a person, or opening a sentence
    # ("seen by de Vries", "De Souza agreed"); grammar.json lists the cues
    Rule(
        "name",
        re.compile(
            rf"(?P<cue>\b(?:{words_pattern(grammar()['before_a_bare_particle_name'])})\s+|^|(?<=[.!?]\s))"
            rf"(?P<name>(?i:{_ROMANCE})\s+(?P<surname>{_WORD}))(?![\w'’-])",
            re.MULTILINE,
        ),
        _particle_name,
        "name",
    ),
    # the employer a patient works for, a Safe Harbor identifier ("works at Acme Logistics", "employed
    # by Tesco"): the verb stays ("works at a company"); work in a sector or a unit ("works in IT",
    # "works at the ICU") is no employer
    Rule(
        "place",
        re.compile(
            r"\b(?P<verb>(?i:works?|working|worked|employed|employee|job|jobs))\s+(?P<prep>at|for|by|with|of)\s+"
            rf"(?:the\s+)?(?P<place>{_PLACE_WORD}(?:\s+(?:&\s+|and\s+|of\s+)?{_PLACE_WORD}){{0,3}})(?![\w&'’])"
        ),
        _employer,
        "place",
    ),
    # a room, bed or bay number places the patient on a ward ("room 412", "bed 7", "Bay 3B"): the number
    # goes, the word stays; a number that measures or counts stays ("nail bed 3 mm", "the emergency room
    # 2 days ago")
    Rule(
        "place",
        re.compile(
            r"\b(?:room|rm|bed|bay|cubicle|cot|side\s+room)\.?\s*(?:no\.?|number|#)?\s*"
            r"(?P<v>[A-Z]?\d{1,4}[A-Z]?)(?![\w.,:/-]\w)(?!\s*(?:" + _MEASURES + r")\b)",
            _I,
        ),
        _value_removed,
        "v",
    ),
    Rule(  # "seen at Mount Sinai" -> "seen elsewhere"; "admitted to ICU" stays (_care_place)
        "place",
        re.compile(
            rf"\b(?P<verb>(?i:{_CARE_VERB}))\s+(?P<prep>(?i:at|to|from|in))\s+(?:the\s+)?"
            rf"(?P<place>(?:(?:St\.?|Saint)\s+)?{_PLACE_WORD}(?:['’]s)?(?:\s+(?:of\s+)?{_PLACE_WORD}(?:['’]s)?){{0,3}})"
            r"(?![\w&'’])"
        ),
        _care_place,
        "place",
    ),
    Rule(  # "lives in Leeds", "resident of Tromsø, Norway" -> "resident of Norway" (_home_town)
        "place",
        re.compile(
            r"\b(?P<verb>(?i:lives|living|lived|resides|residing|resided|resident|residents|native|born|grew\s+up"
            r"|raised|settled|travell?ed|travell?ing|holiday|holidays|holidaying|vacation|vacationing|trip|moved"
            r"|relocated)(?:\s+(?i:alone|locally|independently|now|currently|together|with\s+(?:(?:her|his|their)\s+)?\w+))?)"
            r"\s+(?P<prep>in|of|to)\s+"
            rf"(?P<place>{_WORD}(?:\s+{_WORD}){{0,2}})(?:,\s+(?P<tail>{_WORD}(?:\s+{_WORD}){{0,2}}|[A-Z]{{2}}\b))?"
            r"(?![\w'’-])"
        ),
        _home_town,
        "place",
    ),
    Rule(  # "from Leeds", "from Tromsø, Norway" -> "from Norway": a town goes, a country or state stays
        "place",
        re.compile(
            rf"\s+from\s+(?P<place>{_WORD}(?:\s+{_WORD}){{0,2}})(?:,\s+(?P<tail>{_WORD}(?:\s+{_WORD}){{0,2}}|[A-Z]{{2}}\b))?"
            r"(?=\s*(?:[,.;:()!?\-\u2013\u2014]|$)|\s+(?:with|who|and|was|presented|had|has|is|for|in|on|at|to)\b)"
        ),
        _town,
        "place",
    ),
)

DATE_RULES: tuple[Rule, ...] = (
    Rule("date", re.compile(FOREIGN_DATE), REMOVED),  # before the English rules: "le 12 mars" has no "on"
    Rule(
        "time",
        re.compile(
            r"(?:\b(?:at|around|about)\s+|@\s?)?"
            r"(?:\b\d{1,2}(?::[0-5]\d)?\s?(?:am|pm|a\.m\.|p\.m\.)(?![a-z])"
            r"|(?<=at\s)\d{1,2}:[0-5]\d\b|\b\d{1,2}:[0-5]\d\s?(?:h|hrs|hours)\b"
            r"|(?<=at\s)(?:noon|midnight))",
            _I,
        ),
        "",
        None,
    ),
    Rule("date", re.compile(rf"\b{_PREP}(?P<v>{ABS_DATE})"), _vague("recently"), "v"),
    Rule(
        "date",
        re.compile(
            rf"\b(?P<prep>[Oo]n|[Ii]n|[Ss]ince|[Ff]rom)\s+(?:the\s+)?(?P<v>\d{{1,2}}/\d{{1,2}}(?![\d/])|{DAY_MONTH})"
        ),
        _vague("recently"),
        "v",
    ),
    Rule(  # "Tues 14/2", "Fri. 14.02.": a weekday's short name marks a day and month as a date
        "date",
        re.compile(
            rf"\b(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\.?,?\s+(?P<v>{DAY_MONTH}){_AFTER_A_DATE}"
        ),  # "Mon 1/2 tablet" is a dose
        "recently",
        "v",
    ),
    Rule(  # "Admitted 17/03", "Day of admission: 17.03.": a day and month after what happened on it
        "date",
        re.compile(
            rf"\b(?P<lead>(?i:{_CARE_VERB}|admission|discharge|operation|noticed|started|excised)\s*:?\s+)"
            rf"(?P<v>{DAY_MONTH}){_AFTER_A_DATE}"
        ),
        lambda m: m.group("lead") + "recently",
        "v",
    ),
    Rule(
        "date",
        re.compile(
            rf"\b(?P<prep>[Ii]n|[Dd]uring|[Ss]ince|[Ff]rom|[Aa]round)\s+(?:(?:early|late|mid|last|this|next)[\s-]+)?"
            rf"(?:(?:the\s+)?{SEASON}\s+(?:of\s+)?)?(?P<v>(?!May\b){MONTH}(?:\s+{YEAR})?|{YEAR})(?!\w)"
        ),
        _vague("recently"),
        "v",
    ),
    Rule(
        "date",
        re.compile(
            rf"\b{_PREP}(?:(?:over|during)\s+)?(?:the\s+)?(?:(?:early|late|mid)[\s-]+)?{SEASON}\s+(?:of\s+)?(?P<v>{YEAR})\b",
            _I,
        ),
        _vague("recently"),
        "v",
    ),
    Rule(
        "date",
        re.compile(
            rf"\b{_PREP}(?P<ago>{_NUMWORD}\s+(?P<unit>days?|weeks?|months?|years?)\s+ago)\b",
            _I,
        ),
        _ago,
        None,
    ),
    Rule(
        "date",
        re.compile(
            rf"\b(?:(?P<prep>[Oo]n|[Ss]ince|[Ff]rom|[Aa]t|[Oo]ver|[Dd]uring)\s+)?"
            rf"(?P<rel>{words_pattern(list(relative_dates()))})"
            r"(?:\s+(?:morning|afternoon|evening|night))?\b",
            _I,
        ),
        _relative,
        None,
    ),
    Rule(  # "last March", "this June": the month of an event
        "date",
        re.compile(rf"\b(?P<prep>[Ll]ast|[Tt]his|[Nn]ext)\s+(?P<v>{MONTH})(?!\w)"),
        _vague("recently"),
        "v",
    ),
    Rule(
        "date",
        re.compile(
            rf"\b(?:(?P<prep>[Oo]n|[Ll]ast|[Tt]his|[Nn]ext|[Pp]ast|[Ss]ince)\s+)?{WEEKDAY}s?"
            r"(?:\s+(?:morning|afternoon|evening|night))?\b"
        ),
        _vague("recently"),
        None,
    ),
)

_CLEANUP: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\((?:\s|[,;:])*\)|\[(?:\s|[,;:])*\]"), ""),
    (re.compile(r"\b(recently|previously)(?:[\s,]+(?:recently|previously)\b)+", re.IGNORECASE), r"\1"),
    (re.compile(r"([.!?])[ \t]+[,;:.](?=\s|$)"), r"\1"),
    (re.compile(r"[ \t]+([.,;:!?)])"), r"\1"),
    (re.compile(r"(?<!\.)([.!?])[.,;:](?!\.)"), r"\1"),  # a doubled stop; an ellipsis stays
    (re.compile(r"([(\[])[ \t]+"), r"\1"),
    (re.compile(r"([,;:])(?:[ \t]*[,;:])+"), r"\1"),
    (re.compile(r"[,;:]+(?=[.!?](?:\s|$))"), ""),
    # a line a removal left opening on the stop after it ("MRN: 12345. Rash" -> "Rash", as "arm. MRN:
    # 12345. Rash" -> "arm. Rash"); an ellipsis ("...and then") is the writer's own
    (re.compile(r"(^|\n)[ \t]*(?:[,;:]|\.(?!\.))[ \t]*"), r"\1"),
    (re.compile(r"[ \t]{2,}"), " "),
    (re.compile(r"^[ \t]+|[ \t]+$", re.MULTILINE), ""),
    (re.compile(r"(?<=\w)[,;:]+$", re.MULTILINE), ""),  # "haemoptysis; MRN 0045" ends without its ";"
)


def tidy(text: str) -> str:
    """Mend the punctuation that removals leave behind (empty brackets, doubled commas, stray spaces)."""
    for pattern, repl in _CLEANUP:
        text = pattern.sub(repl, text)
    return text
