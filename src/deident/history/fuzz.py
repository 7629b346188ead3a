"""Fuzz a case history the way careful clinicians do before posting it.

Order of passes (each records its ``Change``s):

    identifiers   emails, DOBs, MRNs, accession numbers, phones, names after titles -> removed
    dates         absolute and relative dates, clock times -> "recently" / "previously" / removed
    ages          moved by a few years within the same bracket; 90 and over -> "90+"
    sex           swapped with ``sex_change_rate`` unless the case is sex-specific; every word follows
    site          left/right swapped with ``laterality_swap_rate``; optionally site -> body region

The random draws for sex and side come first, so one seed gives the same decisions for every field of a
sidecar; nothing global seeds the generator.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from deident.history.rules import (
    DATE_RULES,
    IDENTIFIER_RULES,
    Change,
    Edit,
    apply,
    at_sentence_start,
    tidy,
)
from deident.history.vocab import (
    foreign_ages,
    grammar,
    kin_words,
    lateral_words,
    laterality,
    laterality_fixed,
    number_words,
    sex_specific,
    sex_swaps,
    sites,
    words_pattern,
)

ADULT = 18  # the child/adult line an age never crosses
OLDEST = 89  # HIPAA Safe Harbor: ages over 89 are aggregated
AGGREGATED = "90+"
MONTH_JITTER = 2  # infants' ages in months move by at most this much


@dataclass(frozen=True)
class FuzzSettings:
    age_jitter: int = 3  # years, both ways; 0 keeps ages (except 90+ aggregation)
    sex_change_rate: float = 1 / 3
    laterality_swap_rate: float = 0.5  # a coin flip: the side then carries no information
    generalize_site: bool = False


@dataclass
class FuzzResult:
    text: str
    changes: list[Change] = field(default_factory=list)


# ---------------------------------------------------------------- ages

# Year brackets (inclusive) an age stays inside, and month brackets for infants.
_YEAR_BRACKETS = ((1, ADULT - 1), (ADULT, OLDEST))
_MONTH_BRACKETS = ((1, 11), (12, 23), (24, 12 * ADULT - 1))
_N = r"(?P<n>\d{1,3})(?![\d.,]\d|\+|\s+or\s+older)"  # "90+" and "90 or older" are final
_ART = r"(?:\b(?P<art>[Aa]n?)\s+)?"
_NOT_MONTHS = r"(?![\s-]*(?:months?|mos?|m/o|weeks?|wks?|days?)\b)"  # "aged 6 months" is an infant's age...
_IN_MONTHS = r"(?=[\s-]*(?:months?|mos?)\b)"  # ...moved in months
_WHO = r"(?:patient|pt|woman|man|lady|gentleman|female|male|girl|boy|child|infant|she|he)"  # "She (47)"
_FEVER = re.compile(r"(?:temp|fever|febrile|°|\bT\b)[^.]{0,20}$", re.IGNORECASE)


@dataclass(frozen=True)
class _AgeForm:
    """One way of writing an age; ``over89`` rewrites the number when the age is aggregated."""

    pattern: re.Pattern[str]
    months: bool = False
    over89: str = AGGREGATED


_AGE_FORMS: tuple[_AgeForm, ...] = (
    _AgeForm(
        re.compile(rf"{_ART}(?<![\d.,])\b{_N}(?=[\s-]?(?:years?|yrs?|yr)(?:[\s-]?old|\s+of\s+age)\b)", re.I)
    ),
    _AgeForm(re.compile(rf"{_ART}(?<![\d.,])\b{_N}(?=[\s-]?(?:months?|mos?|m/o)[\s-]?old\b)", re.I), True),
    _AgeForm(
        re.compile(rf"{_ART}(?<![\d.,])\b{_N}(?=\s?(?:mos?|m/o)\b\.?\s?(?:old|[FM]\b|baby|infant|boy|girl))"),
        True,
    ),
    _AgeForm(
        re.compile(
            rf"{_ART}(?<![\d.,/])\b{_N}(?=\s?(?:yo|y/o|y\.o\.?|yrs?\.?\s?old)(?:(?-i:[FM])\b|(?!\w)))", re.I
        )
    ),
    _AgeForm(
        re.compile(rf"{_ART}(?<![\d.,/:])\b{_N}(?=\s?y?\s?[FM]\b(?!\s*(?:catheter|sheath|tube|gauge)))")
    ),
    # a radiology request's "92/F", "F/92", "45 / M"
    _AgeForm(re.compile(rf"(?<![\d.,/:])\b{_N}(?=\s?/\s?[FM]\b)")),
    _AgeForm(re.compile(rf"(?<![\w/])[FM]\s?/\s?{_N}\b(?![/.,]?\d)")),
    _AgeForm(re.compile(rf"\b(?:aged|age:?)\s*{_N}(?=\s?(?:y|yrs?|years?)\b)", re.I)),  # "Age: 93y" -> "90+y"
    # "Jane Roe (92y)" -> "(90+y)": over 89 only, as "(5 yrs)" after a lesion is how long it has grown
    _AgeForm(re.compile(r"\(\s*(?P<n>9\d|1[01]\d)(?=\s?(?:y|yrs?|yo|y/o)\s*\))", re.I)),
    _AgeForm(
        re.compile(rf"\b(?:aged|age:?)\s*{_N}\b{_NOT_MONTHS}", re.I),
        over89="90 or older",
    ),
    _AgeForm(re.compile(rf"\b(?:aged|age:?)\s*{_N}{_IN_MONTHS}", re.I), True),
    _AgeForm(re.compile(rf"\b{_WHO},\s{_N}(?=\s*(?:[,);]|\.(?:\s|$)))", re.I), over89="90 or older"),
    _AgeForm(re.compile(rf"\b{_WHO}\s?\({_N}\)", re.I), over89="90 or older"),
)
_FOREIGN = foreign_ages()
_AGE_FORMS += (  # "patiente de 45 ans", "paciente de 95 años" (90+), "ein 63-jähriger Patient"
    _AgeForm(
        re.compile(
            rf"\b(?:{words_pattern(_FOREIGN['of'])})\s+{_N}(?=\s+(?:{words_pattern(_FOREIGN['years'])})(?!\w))",
            re.I,
        )
    ),
    _AgeForm(re.compile(rf"(?<![\d.,])\b{_N}(?=[\s-]?(?:{words_pattern(_FOREIGN['aged'])})(?!\w))", re.I)),
)
_UNITS = words_pattern([w for w, n in number_words().items() if n < 10])
_TENS = words_pattern([w for w, n in number_words().items() if n >= 20])
_TEENS = words_pattern([w for w, n in number_words().items() if 10 <= n < 20])
_WRITTEN = rf"(?P<n>(?:{_TENS})(?:[\s-](?:{_UNITS}))?|{_TEENS}|{_UNITS})"  # "forty-two", "fourteen"
_WORD_END = r"(?![\w-])"
# After "a woman of 42": what ends an age there ("a man of 60 kg", "a woman of two minds" are none)
_AGE_ENDS = (
    r"(?=\s*(?:[,.;:)]|$)|\s+(?:with|who|and|presented|presenting|presents|had|has|was|is|from|years?)\b)"
)
# After "he was 14": what makes the number an age ("he was 14 kg", "she was 3 days post-op" are none)
_CLAUSE_ENDS = rf"{_WORD_END}{_NOT_MONTHS}(?=\s*(?:[,;)]|\.(?:\s|$)|$)|\s+(?:when|and|at|but|then|so)\b)"
_CLAUSE_START = r"(?:^|(?<=[.!?;,:]\s)|(?<=\n))"  # "At 3 he" inside a clause may be a clock's hour
_AGE_FORMS += (  # "forty-two-year-old", "a seventeen year old", "fourteen years of age"
    _AgeForm(
        re.compile(
            rf"{_ART}(?<![\w-])(?<!hundred\s)(?<!and\s){_WRITTEN}"
            r"(?=[\s-]+(?:years?|yrs?)(?:[\s-]+old|\s+of\s+age)\b)",
            re.I,
        )
    ),
    # "aged fourteen", "Age: twenty-three", "aged eighteen months", "a girl, fourteen,", as digits are
    _AgeForm(
        re.compile(rf"\b(?:aged|age:?)\s*{_WRITTEN}{_WORD_END}{_NOT_MONTHS}", re.I), over89="90 or older"
    ),
    _AgeForm(re.compile(rf"\b(?:aged|age:?)\s*{_WRITTEN}{_IN_MONTHS}", re.I), True),
    _AgeForm(re.compile(rf"\b{_WHO},\s{_WRITTEN}(?=\s*(?:[,);]|\.(?:\s|$)))", re.I)),
    # "a woman of 42", "a boy of fourteen"
    *(_AgeForm(re.compile(rf"\b{_WHO}\s+of\s+{n}{_AGE_ENDS}", re.I)) for n in (_N, _WRITTEN)),
    # an age as a clause's predicate: "He was fourteen when it began", "she is 7 and well"
    *(
        _AgeForm(
            re.compile(rf"\b{_WHO}\s+(?:was|is|turned)\s+(?:only\s+|just\s+)?{n}{_CLAUSE_ENDS}", re.I),
            over89="90 or older",
        )
        for n in (_N, _WRITTEN)
    ),
    # an age opening a clause: "At fourteen he noticed", "at the age of 9, she"
    *(
        _AgeForm(
            re.compile(rf"{_CLAUSE_START}[Aa]t\s+(?:the\s+age\s+of\s+)?{n}(?=,?\s+(?:{_WHO})\b)", re.I),
            over89="90 or older",
        )
        for n in (_N, _WRITTEN)
    ),
)
_WORDS_90 = (
    r"(?:ninety|(?:one|a)\s+hundred)(?:[\s-]+(?:and\s+)?(?:one|two|three|four|five|six|seven|eight|nine))?"
)
_DECADE_90 = re.compile(
    r"\b(?:in|during)\s+(?:his|her|their)\s+(?:(?:early|mid|late)[\s-]+)?(?:9\d'?s|nineties)\b"
    r"|\b(?P<nona>nonagenarian|centenarian)(?:\s+(?P<who>woman|man|lady|gentleman|patient|female|male))?\b"
    rf"|\b{_WORDS_90}(?=[\s-]+(?:years?|yrs?)(?:[\s-]+old|\s+of\s+age)\b)"
    rf"|\b(?:aged|age:?)\s*{_WORDS_90}\b"  # "aged ninety-two"
    r"|\b(?P<bday>(?:9\d|1[01]\d)(?:st|nd|rd|th))\s+birthday\b"  # "her 95th birthday"
    # "he was ninety-five when", "At ninety-two she": the number alone becomes "90 or older"
    rf"|(?P<lead>\b(?:{_WHO})\s+(?:was|is|turned)\s+|{_CLAUSE_START}[Aa]t\s+(?:the\s+age\s+of\s+)?)"
    rf"(?P<pred>{_WORDS_90})(?:{_CLAUSE_ENDS}|(?=,?\s+(?:{_WHO})\b))",
    re.IGNORECASE,
)


def _bracket(n: int, brackets: tuple[tuple[int, int], ...]) -> tuple[int, int] | None:
    return next((b for b in brackets if b[0] <= n <= b[1]), None)


def _moved(n: int, jitter: int, brackets: tuple[tuple[int, int], ...], rng: random.Random) -> int:
    """A different value within +-jitter and the same bracket (unchanged only when none exists)."""
    bracket = _bracket(n, brackets)
    if bracket is None or jitter <= 0:
        return n
    options = [a for a in range(n - jitter, n + jitter + 1) if a != n and bracket[0] <= a <= bracket[1]]
    return rng.choice(options) if options else n


def _as_number(written: str) -> int:
    """ "54" -> 54, "forty-two" -> 42."""
    if written.isdigit():
        return int(written)
    return sum(number_words()[w] for w in re.split(r"[\s-]+", written.lower()))


def _article(word: str, number: str) -> str:
    """ "a"/"an" for a spoken number (an 8-, an 11-, an 18-, an 80-year-old)."""
    an = number.startswith("8") or number in ("11", "18") or re.match(r"1[18]\d\d$", number) is not None
    base = "an" if an else "a"
    return base.capitalize() if word[0].isupper() else base


def _fuzz_ages(text: str, jitter: int, rng: random.Random, edits: list[Edit]) -> str:
    memo: dict[tuple[bool, int], str] = {}

    def new_number(n: int, form: _AgeForm) -> str:
        key = (form.months, n)
        if key not in memo:
            if not form.months and n > OLDEST:
                memo[key] = form.over89
            elif form.months:
                memo[key] = str(_moved(n, min(jitter, MONTH_JITTER), _MONTH_BRACKETS, rng))
            else:
                memo[key] = str(_moved(n, jitter, _YEAR_BRACKETS, rng))
        value = memo[key]
        return form.over89 if value in (AGGREGATED, "90 or older") else value

    # Every form is matched on the same text; where two overlap, the earlier (then the first listed) wins,
    # so an age is never moved twice ("8 mo old" fits two forms).
    found = sorted(
        (
            (m.start(), rank, m, form)
            for rank, form in enumerate(_AGE_FORMS)
            for m in form.pattern.finditer(text)
        ),
        key=lambda t: t[:2],
    )
    out, cursor = [], 0
    for start, _, m, form in found:
        if start < cursor:
            continue
        n = _as_number(m.group("n"))
        if n > 120 or (n > OLDEST and _FEVER.search(text[:start])):
            continue
        number = new_number(n, form)
        whole = m.group(0)
        new = whole[: m.start("n") - start] + number + whole[m.end("n") - start :]
        if art := m.groupdict().get("art"):
            new = _article(art, number) + new[len(art) :]
        if new != whole:
            edits.append(Edit(Change("age", whole, new), m.group("n")))
        out += [text[cursor:start], new]
        cursor = m.end()
    text = "".join(out) + text[cursor:]

    def decade(m: re.Match[str]) -> str:
        new = AGGREGATED if re.match(_WORDS_90, m.group(0), re.IGNORECASE) else "aged 90 or older"
        new = new[0].upper() + new[1:] if m.group(0)[0].isupper() else new  # "Aged ninety-two, …"
        if m.group("nona"):  # a noun or an adjective: "a nonagenarian with", "nonagenarian lady"
            new = f"{m.group('who') or 'patient'} aged 90 or older"
            new = new[0].upper() + new[1:] if m.group(0)[0].isupper() else new
        if m.group("pred"):
            new = m.group("lead") + "90 or older"
        if m.group("bday"):
            new = "birthday (aged 90 or older)"
        edits.append(Edit(Change("age", m.group(0), new), m.group(0)))
        return new

    return _DECADE_90.sub(decade, text)


# ---------------------------------------------------------------- sex

# After "her": these words make it an object ("saw her today" -> him); anything else, a possessive (his).
_OBJECT_NEXT = frozenset(grammar()["object_after_her"])
_SEX_WORDS = re.compile(
    r"\b(?:"
    + words_pattern([w for w in sex_swaps() if len(w) > 2 and w not in ("mrs", "miss")])
    + r"|he|her)\b"
    r"|\b(?-i:Mrs|Mr|Ms|Miss)\b(?=\.?\s|\.?$)",
    re.IGNORECASE,
)
_SEX_CODES = re.compile(
    r"(?<=\d)(?P<sp>\s?(?:/\s?)?(?i:yo|y/o|y\.o\.?|y)?\s?)(?P<c>[FM])\b|(?<=\b[Ss]ex:\s)(?P<c2>[FM])\b"
    r"|(?<![\w/])(?P<c3>[FM])(?=\s?/\s?\d)"  # "F/92"
)


def _case_like(new: str, old: str) -> str:
    if len(old) > 1 and old.isupper():
        return new.upper()
    return new[0].upper() + new[1:] if old[0].isupper() else new


def _swap_word(m: re.Match[str]) -> str:
    old = m.group(0)
    word = old.lower()
    rest = m.string[m.end() :]
    # A number after it is a noun phrase too: "in her 40s", "her 3 children" (possessive, not "him 40s").
    follower = re.match(r"\s*([A-Za-z0-9]+)", rest)
    standalone = follower is None or not re.match(r"[ \t]+[A-Za-z0-9]", rest)
    if word == "her":
        new = "him" if standalone or follower.group(1).lower() in _OBJECT_NEXT else "his"
    elif word == "his":
        new = "hers" if standalone else "her"
    else:
        new = sex_swaps()[word]
    return _case_like(new, old)


def _swap_sex(text: str, edits: list[Edit]) -> str:
    def word(m: re.Match[str]) -> str:
        new = _swap_word(m)
        edits.append(Edit(Change("sex", m.group(0), new)))
        return new

    def code(m: re.Match[str]) -> str:
        letter = m.group("c") or m.group("c2") or m.group("c3")
        new = "M" if letter == "F" else "F"
        edits.append(Edit(Change("sex", letter, new)))
        return (m.group("sp") or "") + new

    return _SEX_CODES.sub(code, _SEX_WORDS.sub(word, text))


# ---------------------------------------------------------------- site and side

_MODIFIERS = (
    r"(?:(?:upper|lower|mid|inner|outer|medial|lateral|anterior|posterior|proximal|distal|dorsal|volar|"
    r"plantar|palmar|superior|inferior)[\s-]+)*"
)
_SITE = r"(?:" + words_pattern(list(sites())) + r")"
_SIDE_WORDS = words_pattern([w for w in laterality() if len(w) > 1])
_SIDE = (
    rf"(?P<side>\b(?i:{_SIDE_WORDS})\b|\b(?:{words_pattern([w for w in laterality() if len(w) == 1])})\b"
    rf"(?=\s+{_MODIFIERS}{_SITE}))"
)
_SIDE_WORD = re.compile(_SIDE)
_STEMS = r"(?:" + words_pattern(list(lateral_words())) + r")"
_IS_ANATOMICAL = re.compile(
    r"[\s-]+(?:sided\b|side\b|" + _MODIFIERS + r"(?:" + _SITE + r"s?\b|" + _STEMS + r"))", re.IGNORECASE
)
_SITE_PHRASE = re.compile(
    rf"(?:\b(?P<art>an?)\s+)?(?:{_SIDE}[\s-]+(?:sided\s+)?)?(?P<mods>{_MODIFIERS})(?P<site>\b{_SITE})(?P<plural>s|es)?\b",
    re.IGNORECASE,
)


def _lateral(text: str, start: int, end: int) -> bool:
    """Is this left/right a side of the body (not "left the clinic", not "left ventricle")?"""
    rest = text[end:]
    after = re.sub(r"^[\s-]+(?:sided[\s-]+)?", "", rest).lower()
    if after.startswith(laterality_fixed()):
        return False
    if len(laterality().get(text[start:end], "")) == 1 or _IS_ANATOMICAL.match(rest):
        return True
    return bool(re.search(r"\b(?:on|to|at|of) the\s+$", text[:start].lower()))


def _swap_sides(text: str, edits: list[Edit]) -> str:
    def repl(m: re.Match[str]) -> str:
        old = m.group(0)
        if not _lateral(m.string, m.start(), m.end()):
            return old
        new = laterality().get(old) or _case_like(laterality()[old.lower()], old)
        edits.append(Edit(Change("laterality", old, new)))
        return new

    return _SIDE_WORD.sub(repl, text)


_SITE_CONTEXT = re.compile(r"\b(?:his|her|their|the|a|an|on|of|to|over)\s+$", re.IGNORECASE)


def _generalize_sites(text: str, edits: list[Edit]) -> str:
    """Site -> region ("left upper arm" -> "upper extremity"); plurals and bare common words stay."""

    def repl(m: re.Match[str]) -> str:
        old, side = m.group(0), m.group("side")
        if side and not _lateral(m.string, m.start("side"), m.end("side")):
            return old
        art = m.group("art")
        context = side or art or m.group("mods") or at_sentence_start(m.string, m.start())
        if m.group("plural") or not (context or _SITE_CONTEXT.search(m.string[: m.start()])):
            return old
        new = sites()[re.sub(r"[\s-]+", " ", m.group("site").lower())]
        if art:
            new = ("an " if new[0] in "aeiou" else "a ") + new
        if at_sentence_start(m.string, m.start()):
            new = new[0].upper() + new[1:]
        if new != old:
            edits.append(Edit(Change("site", old, new)))
        return new

    return _SITE_PHRASE.sub(repl, text)


# ---------------------------------------------------------------- the whole history


def _passes(text: str, settings: FuzzSettings, rng: random.Random, edits: list[Edit]) -> str:
    change_sex = rng.random() < settings.sex_change_rate
    swap_side = rng.random() < settings.laterality_swap_rate
    text = apply(text, IDENTIFIER_RULES, edits)
    text = apply(text, DATE_RULES, edits)
    text = _fuzz_ages(text, settings.age_jitter, rng, edits)
    if change_sex and not sex_specific().search(text) and not kin_words().search(text):
        text = _swap_sex(text, edits)
    if settings.generalize_site:
        text = _generalize_sites(text, edits)
    if swap_side:
        text = _swap_sides(text, edits)
    if any(e.change.after in ("(removed)", "[removed]") for e in edits):
        text = tidy(text)
    return text


def fuzz_edits(text: str, seed: int | None, settings: FuzzSettings) -> tuple[str, list[Edit]]:
    """``fuzz_text`` with the identifying value kept beside each change (for deny-lists and checks)."""
    rng = random.Random(seed) if seed is not None else random.Random()
    edits: list[Edit] = []
    return _passes(text, settings, rng, edits), edits


def fuzz_text(text: str, seed: int | None = None, settings: FuzzSettings = FuzzSettings()) -> FuzzResult:
    """Rewrite a case history: same text and seed give the same result; no seed, a fresh one."""
    out, edits = fuzz_edits(text, seed, settings)
    return FuzzResult(out, [e.change for e in edits])
