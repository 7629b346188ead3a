"""Which recognised lines are identifying, from the vocabulary in ``phi.json``.

PHI mode fails closed: a line stays visible only when every word in it is explained, by the keep
vocabulary (stains, magnifications, scale bars, positional markers, read-outs, clinical phrases) or as an
ordinary English word (``ordinary``: common in wordfreq's list, or a clinical word of
``clinical_words.txt``, and not common as a name in the US census lists), and
nothing in it matches a PHI pattern or the batch deny-list. Unknown words count as possible names,
unreadable lines as identifying.

Scripts other than Latin (CJK, Hangul, Devanagari) are never explained, so their lines are redacted:
a Japanese, Chinese or Korean name is written in the very characters of signs and sentences (山田 is a
surname and a word for mountain fields), two to four of them, with nothing (no capital, no census list)
to tell it from a word; a line without digits can be a name as well as a sign. On ../shared's
real-world set that costs all 5 harmless Japanese and Hangul sign lines.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from deident.wordlists import read_lines

MIN_SCORE = 0.5  # recognition confidence below which a line counts as unreadable


@dataclass(frozen=True)
class Vocabulary:
    phi: tuple[tuple[str, re.Pattern], ...]  # (label, pattern)
    keep_words: frozenset[str]
    keep: re.Pattern  # a whole word made only of keep words and keep patterns
    harmless: re.Pattern  # keep forms that carry digits (40x, 100 µm, Ki-67): not pieces of a number
    makers: frozenset[str]  # scanner and microscope makers' words (keep words as well)
    titled: re.Pattern  # a title or role and the word after it (group "name")
    degreed: re.Pattern  # a word and the degree after it ("Hope, MD"; group "name")
    titles: frozenset[str]  # the titles and roles themselves ("resident doctor" names no one)
    phrases: re.Pattern  # clinical terms made of words that alone count as names
    codes: re.Pattern  # short codes that explain a whole word, never a piece of one

    def keeps(self, word: str) -> bool:
        """``word`` (lower case, edges stripped) is a keep word, or made only of keep pieces, or of such
        words joined by "/" or dashes ("cd3/cd20"; an ultrasound's "2D -- 100%", read without its spaces as
        "2D--100%", was filled as a possible name).

        Pieces joined without a space ("h&e40x") never make a name: "ma" + "rt" + "in" is MARTIN, and 385
        names of the census lists were kept that way."""
        if word in self.keep_words or self.codes.fullmatch(word):
            return True
        if self.keep.fullmatch(word):
            return _has_digit(word) or not name_like(word)
        parts = _JOINS.split(word)
        return len(parts) > 1 and all(part and self.keeps(part) for part in parts)


@cache
def vocabulary() -> Vocabulary:
    data = json.loads(resources.files("deident.text").joinpath("phi.json").read_text("utf-8"))
    data["keep_words"] = data["keep_words"] + data["makers"]
    phi = tuple(
        (label, re.compile(_with_parts(p, data["parts"]), re.I))
        for label, pats in data["phi"].items()
        for p in pats
    )
    # OCR often drops the space between tokens ("H&E40x"), so a word may be a run of keep pieces;
    # single letters (L, R, x) count only as whole words, never as pieces of a longer one.
    pieces = [re.escape(w) for w in sorted(data["keep_words"], key=len, reverse=True) if len(w) > 1]
    alternation = "|".join([*(f"(?:{p})" for p in data["keep_patterns"]), *pieces])
    keep = re.compile(f"(?:{alternation})+", re.I)
    # The same forms, minus bare short numbers, found anywhere in a line (a run of them: "Ki-6710X") but
    # never starting or ending inside a run of digits and separators, so "2019-07-2 3mm" keeps its date.
    digit_forms = [f"(?:{p})" for p in data["keep_patterns"] if not re.fullmatch(p, "12")]
    digit_forms += [re.escape(w) for w in sorted(data["keep_words"], key=len, reverse=True) if _has_digit(w)]
    harmless = re.compile(f"(?<![\\d./:-])(?:{'|'.join(digit_forms)})+(?!\\w)", re.I)
    words = frozenset(w.lower() for w in data["keep_words"])
    titles = data["titles"]
    any_case = "|".join(titles["any_case"])
    cased = "|".join(t.capitalize() for t in titles["capitalised_or_dotted"])
    dotted = "|".join(titles["capitalised_or_dotted"])
    titled = re.compile(
        rf"(?:\b(?i:{any_case})\b[.:]?|\b(?:{cased})\b[.:]?|\b(?i:{dotted})\.)(?=\s*(?:[^\W\d_]\.\s*|[^\W\d_]\s+)*(?P<name>[^\W\d_][\w'-]*))"
    )
    phrases = re.compile(r"\b(?:" + "|".join(data["keep_phrases"]) + r")\b", re.I)
    makers = frozenset(w.lower() for w in data["makers"])
    degrees = "|".join(re.escape(d) for d in titles["after_name"])
    degreed = re.compile(rf"(?P<name>[^\W\d_][\w'-]*)[.,]?\s+(?i:{degrees})\b\.?")
    title_words = frozenset(titles["any_case"] + titles["capitalised_or_dotted"])
    codes = re.compile("|".join(f"(?:{c})" for c in data["keep_codes"]), re.I)
    return Vocabulary(phi, words, keep, harmless, makers, titled, degreed, title_words, phrases, codes)


def _with_parts(pattern: str, parts: dict[str, str]) -> str:
    """``pattern`` with every ``(?&name)`` replaced by the regex ``parts`` names: the month and weekday
    alternations are written once in phi.json, not in every date pattern that needs them."""
    for name, part in parts.items():
        pattern = pattern.replace(f"(?&{name})", f"(?:{part})")
    return pattern


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


# A piece of a date, time, phone or ID number: digits with date/time separators, at least this many digits.
# The detector sometimes splits one large or tilted line into fragments read apart ("2019-07-2" and
# "-2314:02"); neither matches a date pattern, and a word without letters is never a possible name.
PIECE_DIGITS = 4
_NUMBER_RUN = re.compile(r"[\d./:-]+")
_SEPARATED = re.compile(r"\d[./:-]|[./:-]\d")

_WORD = re.compile(r"[^\s,;:()\[\]{}<>\"'|^]+")  # "^" parts a DICOM person name (HOPE^MAY)
# What a word's edges lose before it is judged: every character that is neither a letter nor a digit, in
# any script. Punctuation is no part of a name or of a keep form, and OCR reads the marks beside a label
# as such characters: the tick of an ultrasound's depth scale right of "4.0cm" read as a superscript
# minus ("4.0cm⁻"), which an ASCII list of edge marks kept, and the depth was filled as a possible name.
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def _bare(word: str) -> str:
    """``word`` lower-cased, without the marks at its edges (``_EDGES``)."""
    return _EDGES.sub("", word).lower()


def names_a_maker(value: str, manufacturer: str) -> bool:
    """True when ``value`` (an InstitutionName) is only a scanner maker's words, one of them shared with
    the file's Manufacturer: vendors fill it in on demo and factory-set machines (an ultrasound of
    ../shared's real-world set: "Philips Healthcare" beside "Philips Medical Systems"). As a deny-list
    term it redacted the maker's own name printed on every such image; a hospital's name is never
    made only of makers' words."""
    words = set(_LETTERS.findall(value.lower()))
    makers = vocabulary().makers
    shared = words & set(_LETTERS.findall(manufacturer.lower()))
    return bool(words) and not _has_digit(value) and words <= makers and bool(shared)


def read_out(text: str) -> bool:
    """True for a setting or a measurement written as its label and values ("TIB 0.2", "MI 1.1",
    "Mag 1.06 cm"): a field of its own, not a piece of what stands beside it.

    Every word is explained by the keep vocabulary, one of them a word of letters (the label), and
    every number is a decimal or carries a unit, with fewer than PIECE_DIGITS digits: "TIB 12" may
    begin an ID written with a space, "0.2" cannot.
    """
    voc = vocabulary()
    words = [_bare(w) for w in _WORD.findall(text)]
    words = [w for w in words if _LETTERS.search(w)]  # numbers are judged below
    if not _has_digit(text) or not all(voc.keeps(w) for w in words):
        return False
    if not any(w in voc.keep_words and not _has_digit(w) for w in words):
        return False
    if any(sum(c.isdigit() for c in m.group()) >= PIECE_DIGITS for m in _NUMBER_RUN.finditer(text)):
        return False
    rest = voc.harmless.sub(" ", text)
    return all(_DECIMAL.fullmatch(m.group()) for m in _NUMBER_RUN.finditer(rest) if _has_digit(m.group()))


_DECIMAL = re.compile(r"\d+\.\d+")
# What joins keep words into one word: "/" (a panel's "cd3/cd20") or a run of dashes (a setting and its
# value, "2D--100%"). A name so joined stays a name: each part must be a keep word on its own.
_JOINS = re.compile(r"/|-+")


def kept_by(text: str, patterns: tuple[re.Pattern, ...]) -> bool:
    """True when the user's --keep-text regexes cover every visible character of ``text``."""
    if not patterns or not text.strip():
        return False
    rest = text
    for p in patterns:
        rest = p.sub(" ", rest)
    return not re.sub(r"[\W_]+", "", rest)


def identifier_in(text: str, deny=None) -> str | None:
    """The label of an identifier a line holds by rule (the deny-list, a 'phi' pattern), else None.

    Asked of a line the user's --keep-text regexes cover: a regex meant for "H&E 40x" and written
    'H&E.*' also covers "H&E DOB 12/03/1970 MRN4455667", which kept whole leaked the date and the
    record number. A date, number or address is not the site vocabulary --keep-text is for; words are
    not judged here (the user's regex is what says a word is harmless)."""
    if deny is not None and deny.matches(text):
        return "listed identifier"
    text = _SCALE.sub(_scale_or_not, text)
    for label, pattern in vocabulary().phi:
        if pattern.search(text):
            return label
    return None


def titled_name_spans(text: str, particles: frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    """Spans of names after a title or role, or before a degree ("Photo by Dr Roe", "Mrs Roe left
    knee", "Roe MD"), with the capitalised name-like words that follow ("Dr Jane Roe"): the rule by which
    ``classify`` calls a line a possible name, for texts cut word by word (DICOM values the profile
    keeps, ``dicom.sweep``), where a name in no header was kept beside its title. ``particles`` (upper
    case: "VAN", "DE") may stand between the parts of a name ("Dr de la Cruz")."""
    voc = vocabulary()
    spans = []
    for rx in (voc.titled, voc.degreed):
        for m in rx.finditer(text):
            start, end = m.span("name")
            name = m["name"].lower()
            particle = name.upper() in particles
            if name in voc.titles or not (particle or _capitalised_name(m["name"])):
                continue  # a name is written capitalised: "Mrs knee" (what a cut left) names no one
            named, pos, after_particle = not particle, end, particle
            for more in _NEXT_NAME.finditer(text, end):  # "Jane" + " Roe", "van" + " der" + " Wal"
                word = more["word"]
                if more.start() != pos:
                    break
                pos = more.end()
                if word.upper() in particles:
                    after_particle = True
                    continue  # part of the name only if a name follows
                # after a particle, only a listed name continues it ("Mr Roe van der Wal" may be two people)
                if word.lower() in voc.titles or not (
                    name_like(word.lower()) if after_particle else _capitalised_name(word)
                ):
                    break
                end, named, after_particle = pos, True, False
            if rx is voc.degreed:  # the given name before the family name: "Jane Roe MD"
                while (before := _NAME_BEFORE.search(text, 0, start)) and _capitalised_name(before["word"]):
                    if before["word"].lower() in voc.titles or ordinary(before["word"].lower()):
                        break  # "MRI Brain Jane Roe, MD": "Brain" is a word, also a surname
                    start = before.start("word")
            if named:
                spans.append((start, end))
    return spans


# The word right before a name, with the space between them.
_NAME_BEFORE = re.compile(r"(?P<word>[^\W\d_]+(?:['-][^\W\d_]+)*)\s+\Z")


def _capitalised_name(word: str) -> bool:
    """A capitalised word beside a title or a degree that may be a name: one of the census lists' names,
    or any word that is not ordinary English. The census lists alone passed "Dr Okafor" and "Dr
    Fairbairn" in a DICOM value the profile keeps (classify, reading a line, already took any word that
    is not ordinary)."""
    low = word.lower()
    return word[0].isupper() and (name_like(low) or not ordinary(low))


# The word right after a name: the family name after a given name, or a particle before one.
_NEXT_NAME = re.compile(r"\s+(?P<word>[^\W\d_]+(?:['-][^\W\d_]+)*)")


def classify(text: str, score: float, deny=None, words: bool = True) -> str | None:
    """A safe label ("date", "possible name", ...) when the line is identifying, else None.

    ``words=False`` judges only patterns and numbers, not words: for fragments joined without a space,
    whose joints make new "words" ("Mag" + "1.06 cm") that were never written.
    """
    if score < MIN_SCORE or not text.strip():
        return "unreadable"
    if deny is not None and deny.matches(text):
        return "listed identifier"
    text = _SCALE.sub(_scale_or_not, text)
    voc = vocabulary()
    for label, pattern in voc.phi:
        if pattern.search(text):
            return label
    if number_piece(text):
        return "partial date or number"
    if not words:
        return None
    if _names_an_institution(text, voc):
        return "institution"
    titled = [m["name"].lower() for rx in (voc.titled, voc.degreed) for m in rx.finditer(text)]
    if any(name_like(p) for name in titled if name not in voc.titles for p in _LETTERS.findall(name)):
        return "possible name"
    text = voc.phrases.sub(" ", text)
    lettered, named = 0, 0
    plain = not _has_digit(text)  # a line with digits may be an ID with a word beside it: no derivations
    for word in _WORD.findall(text):
        w = _bare(word)
        if not w or not re.search(r"[^\W\d_]", w):
            continue
        lettered += 1
        if voc.keeps(w):
            continue
        pieces = _LETTERS.findall(w)
        if not _has_digit(w) and all(ordinary(piece) or (plain and derived(piece)) for piece in pieces):
            named += any(name_like(piece) for piece in pieces)
            continue
        if not _has_digit(w) and _names_no_one(w, pieces, score, text):
            continue
        return "possible name"
    return "possible name" if named >= 2 and named == lettered else None


# A recognised line in Japanese or Chinese characters is judged only when read at least this well: the
# recogniser, which knows no Hangul, read a Korean sign's place names as kanji at 0.72 and 0.28; the
# Japanese signs of ../shared's real-world set read at 0.98-1.00.
CJK_MIN_SCORE = 0.9
# A piece of a programming identifier ("width_ths") that is no English word: an abbreviation this short.
CODE_ABBREVIATION = 3


def _names_no_one(word: str, pieces: list[str], score: float, line: str) -> bool:
    """True for a word that is no ordinary English word and still names no one: a populous place
    (``places``; ``line`` may name its kind), Japanese text the dictionary explains (``japanese``), or a
    programming identifier whose pieces are ordinary words and short abbreviations that are no census
    name ("width_ths"; "mary_jones" is a user name, and stays).

    Hangul and the other scripts the recogniser cannot read are never explained."""
    from deident.text import japanese, places

    kind_beside = any(w.lower() in places.KINDS for w in _LETTERS.findall(line))
    explained = []
    for piece in pieces:
        if places.cjk(piece):
            explained.append(score >= CJK_MIN_SCORE and japanese.explained(piece))
        else:
            explained.append(not name_like(piece) and places.populous(piece, kind_beside))
    if all(explained):
        return True
    ordinary_pieces = [ordinary(piece) for piece in pieces]
    return (
        "_" in word.strip("_")
        and any(ordinary_pieces)
        and all(
            known or (len(piece) <= CODE_ABBREVIATION and piece.isascii() and not name_like(piece))
            for piece, known in zip(pieces, ordinary_pieces, strict=True)
        )
    )


_LETTERS = re.compile(r"[^\W\d_]+")

# Words that join an institution's name without naming it ("University of Leeds", "Hôpital de la Pitié").
_JOINERS = frozenset({"of", "the", "and", "de", "la", "le", "du", "des", "di", "del", "y", "und", "für"})


def _names_an_institution(text: str, voc: Vocabulary) -> bool:
    """A line that names a hospital, clinic or university: an institution word (the captions' own list,
    ``history/data/institutions.csv``) beside any word that is neither one, a keep word nor a joiner.
    Such names are made of ordinary words and places that wordfreq rates as common English ("Leeds
    Teaching Hospitals", "University Hospital Leeds" were kept in --text phi); a ward's or unit's own
    name ("Dermatology Clinic", "Radiology Department, University Hospital") stays."""
    pattern = _institution_words()
    if not pattern.search(text):
        return False
    return any(
        w.lower() not in _naming_none() and not voc.keeps(w.lower())
        for w in _LETTERS.findall(pattern.sub(" ", text))
        if len(w) > 1
    )


@cache
def _institution_words() -> re.Pattern[str]:
    from deident.history.vocab import institutions

    words = sorted({w for by_word in institutions().values() for w in by_word}, key=len, reverse=True)
    return re.compile(r"(?<![^\W\d_])(?:" + "|".join(re.escape(w) for w in words) + r")(?![^\W\d_])", re.I)


@cache
def _naming_none() -> frozenset[str]:
    """Words beside an institution word that name none: departments, units and services (the captions'
    ``care_units``), clinical words and joiners."""
    from deident.history.vocab import care_units

    return care_units() | clinical_words() | _JOINERS


# A ruler's or a scale bar's figures ("0 1 2 3", "10 20 30 40"): three or more numbers, each a whole
# step on from the last, the steps a ruler uses and the first a multiple of it. Read as one line, they
# matched an ID written with spaces ("590 601"); an ID whose groups run up like a ruler's is not seen.
_SCALE = re.compile(r"(?<![\d.,/:-])\d{1,4}(?:\s+\d{1,4}){2,}(?![\d.,/:-])")
SCALE_STEPS = (1, 2, 5, 10, 20, 25, 50, 100)


def _scale_or_not(m: re.Match[str]) -> str:
    values = [int(v) for v in m.group().split()]
    step = values[1] - values[0]
    ruled = step in SCALE_STEPS and values[0] % step == 0
    return " " if ruled and all(b - a == step for a, b in itertools.pairwise(values)) else m.group()


# An ordinary word: at least this common in English (Zipf scale, wordfreq's "small" list: 3.5 is about
# 3 in a million words). Given names and surnames not in the census lists (Müller 3.05, Priya 2.92,
# Hiroshi 2.93, Dmitri 2.90, Sven 3.24) mostly fall below it; so do rare ordinary words (segmentation
# 3.23), which stay redacted: PHI mode fails closed.
ORDINARY_ZIPF = 3.5
# ...and not common as a name: a word counts as a name when, for every time it is written as a word,
# at least this many people carry it as a surname or given name (the census share over the word's
# frequency). Smith 129, Garcia 33, Bentley 39, White 8.7, Young 7, King 13, Long 1.4 are names; Speed
# 0.3, Market 0.03, City 0.01, Lease 0.07 are words.
NAME_RATIO = 1.0


def ordinary(word: str) -> bool:
    """True for a common English word that is not also a common name (``word`` lower-case letters).

    Without both lists (wordfreq, names) no word is ordinary: PHI mode falls back to its vocabulary.
    """
    lexicon = _lexicon()
    if lexicon is None:
        return False
    frequencies, names = lexicon
    if word in clinical_words():
        return not name_like(word)
    freq = frequencies.get(word, 0.0)
    return freq >= 10 ** (ORDINARY_ZIPF - 9) and names.get(word, 0.0) < NAME_RATIO * freq


@cache
def clinical_words() -> frozenset[str]:
    """Pathology, dermatology and radiology words too rare in English to be ordinary by frequency
    (``clinical_words.txt``): "carcinoma" and "keratinocytes" were taken for possible names."""
    return frozenset(w.lower() for w in read_lines("deident.text", "clinical_words.txt"))


# Affixes of English derivations ("segment" -> "segmentation", "pixel" -> "pixels", "ambiguous" ->
# "unambiguously"), each with what its stem may have lost ("create" -> "creation"). A derived word is
# rarer than its stem (segmentation 3.23, pixels 3.49, zeros 3.06 on the Zipf scale) and as rare as
# names missing from the census lists (Müller 3.29, Sven 3.24, Jansen 2.98), so frequency cannot tell
# them apart; an ordinary stem can.
SUFFIXES = (
    ("ation", ("", "e")),
    ("ment", ("",)),
    ("ness", ("",)),
    ("ity", ("", "e")),
    ("ing", ("", "e")),
    ("ed", ("", "e")),
    ("ly", ("",)),
    ("al", ("",)),
    ("es", ("",)),
    ("s", ("",)),
)
PREFIXES = ("un", "non", "re", "pre")
DERIVE_DEPTH = 2  # "unambiguously": -ly, then un-
DERIVE_STEM = 3  # letters a stem keeps at least


def derived(word: str, depth: int = DERIVE_DEPTH) -> bool:
    """True for an English derivation of an ordinary word (``word`` lower-case letters) that is not
    itself in the census name lists ("Rhodes", "Fields", "Banks" are): lines without digits only."""
    lexicon = _lexicon()
    if lexicon is None or word in lexicon[1] or depth == 0:
        return False
    stems = [word[len(p) :] for p in PREFIXES if word.startswith(p)]
    for suffix, restore in SUFFIXES:
        if word.endswith(suffix):
            stems += [word[: -len(suffix)] + r for r in restore]
    return any(len(stem) >= DERIVE_STEM and (ordinary(stem) or derived(stem, depth - 1)) for stem in stems)


# A name-like word: carried by at least this share of people (0.001 %, the census lists' print step).
# Ordinary words can be names too (Hope, May, Summer, Day, Love, Little); two or more of them making up
# a whole line ("HOPE DAY") are taken for a name.
NAME_LIKE = 1e-5


def name_like(word: str) -> bool:
    lexicon = _lexicon()
    return lexicon is None or lexicon[1].get(word, 0.0) >= NAME_LIKE


# The census lists print shares in steps of 0.001 %; a listed name shown as 0.000 is taken at half a step.
_SHARE_FLOOR = 0.0005


@cache
def _lexicon() -> tuple[dict[str, float], dict[str, float]] | None:
    """(word -> share of running English text, name -> share of people carrying it), or None.

    Words: wordfreq's "small" English list. Names: the 1990 US census surnames and given names shipped
    in the ``names`` package (given-name shares are per sex, so halved). Loaded at the first PHI-mode
    word that the vocabulary does not explain (about 0.3 s).
    """
    try:
        from importlib.resources import files

        import wordfreq

        root = files("names")
        frequencies = wordfreq.get_frequency_dict("en", wordlist="small")
        shares: dict[str, float] = {}
        for name, weight in (("dist.all.last", 1.0), ("dist.male.first", 0.5), ("dist.female.first", 0.5)):
            for row in root.joinpath(name).read_text("ascii").splitlines():
                fields = row.split()
                share = max(float(fields[1]), _SHARE_FLOOR) * weight / 100
                shares[fields[0].lower()] = max(shares.get(fields[0].lower(), 0.0), share)
    except (ImportError, OSError, ValueError, IndexError):
        return None
    return (frequencies, shares) if frequencies and len(shares) > 1000 else None


def number_piece(text: str) -> bool:
    """True when ``text`` holds a run of digits and ``- / . :`` with at least PIECE_DIGITS digits.

    Forms the keep vocabulary explains (``40x``, ``1.25 mm``, ``Ki-67``, ``CD20``) are taken out first;
    what is left is judged as a possible piece of a date, time or ID (``2019-07-2``, ``14:02``, ``07-23``).
    Fails closed: dilutions (``1:100``) and ranges of image numbers (``45/120``) count as well.
    """
    rest = vocabulary().harmless.sub(" ", text)
    for m in _NUMBER_RUN.finditer(rest):
        run = m.group()
        if sum(c.isdigit() for c in run) >= PIECE_DIGITS and _SEPARATED.search(run):
            return True
    return False
