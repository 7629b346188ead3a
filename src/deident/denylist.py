"""The batch deny-list: identifiers found in one file, looked for in the text of every other.

A patient's name from a DICOM header reappears burned into the next frame; an accession number in a
folder name reappears on a slide label; the camera owner's name from EXIF reappears in a caption. The
pipeline collects those values in a pre-pass (``Document.identifiers``, ``collect_from_path``) and the
text stage asks ``DenyList.find`` where they occur in what OCR read.

How matching works (see docs/denylist.md):

* every term is expanded into its spellings (``term_variants``: name orders, initials, date formats,
  IDs without separators or leading zeros);
* both sides are *canonicalised*: upper case, accents dropped, OCR-confusable characters folded into one
  symbol (O->0, I/L->1, S->5, B->8, Z->2) and every space and punctuation mark removed;
* text is cut into alphanumeric tokens and every run of up to ``MAX_WINDOW`` consecutive tokens is looked
  up as one key, so "S17-04522", "S17 04522" and "S1704522" meet, while a term never matches half a word
  ("CD" never matches inside "CD20");
* a key shorter than ``MIN_KEY`` characters or in ``STOP_WORDS`` is never a term ("M", "CT", "YES", "12").
  Initials are one exception: two or three letters, taken from a name with at least two parts,
  matched only against a whole upper-case text word such as "JS" or "J.S." and never against
  ``STOP_INITIALS`` (clinical abbreviations such as "AP", "HE", "LR").
* a given (or middle) name alone is a term when it has at least ``MIN_GIVEN`` letters, and is found where
  the text's word is no ordinary word (``ordinary_word``): "Eileen" of "SMITH^EILEEN" is, "will" and
  "may" of "JONES^WILL^MAY" are not. It is matched only as one whole token of the text, never joined
  from several ("Eva" is found, "E VA" and "Evans" are not).

Keys can be kept as keyed hashes (``hashed`` / ``from_hashes``): matching then hashes each text window
with the same key, so a saved deny-list never holds a value in clear.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from deident.keys import Keyring

MIN_KEY = 4  # canonical characters a term needs: "12", "CT", "YES" never become terms
MAX_WINDOW = 8  # consecutive text tokens joined into one key
MIN_LONG_ID = 6  # digit runs at least this long are also found glued to a prefix ("MRN00123456")
MIN_GIVEN = 3  # letters a given name needs to be a term alone ("Eva", "Ann"; never "Al", "Jo")
ALONE = "="  # marks a given name alone: a key matched only against one whole token (see _token_spans)
HASH_PURPOSE = "denylist"

# OCR confusions folded into one canonical symbol (applied after upper-casing).
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "|": "1", "S": "5", "B": "8", "Z": "2"})
# Cyrillic and Greek letters drawn like Latin ones (Unicode confusables), read as the Latin letter before
# upper-casing: "Zоrander" with a Cyrillic о reads as the name to anyone, and NFKD leaves it Cyrillic.
_HOMOGLYPHS = str.maketrans(
    "АВЕКМНОРСТХУІЈЅԚԜаеорсухіјѕԁԛԝɡгп" + "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαιοκνρυχ",
    "ABEKMHOPCTXYIJSQWaeopcyxijsdqwgrn" + "ABEZHIKMNOPTYXaiokvpux",
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Words that are never terms, however they arrived (sex codes, modalities, views, placeholders, stains).
STOP_WORDS = frozenset(
    _words(
        """
    M F O U YES NO NONE NULL NA N/A UNKNOWN ANONYMOUS ANON PATIENT TEST DEMO PHANTOM MALE FEMALE OTHER
    CT MR MRI US CR DX DR XA RF PT NM MG OT SC SR PORTABLE SUPINE UPRIGHT ERECT SEMI-UPRIGHT LEFT RIGHT
    LATERAL FRONTAL CHEST HEAD BODY KNEE HAND FOOT SPINE PELVIS ABDOMEN SKULL AXIAL CORONAL SAGITTAL
    H&E HE IHC CD20 CD3 CD4 CD8 CD45 KI67 KI-67 PAS GMS TRICHROME GIEMSA SLIDE BLOCK STAIN LABEL
    IMAGE IMAGES PHOTO SCAN SERIES STUDY CASE SAMPLE SPECIMEN DEFAULT ADMIN ROOT USER OWNER CAMERA
    CANON NIKON SONY APPLE IPHONE SAMSUNG OLYMPUS IMG DSC DSCN DCIM PXL SCREENSHOT SCAN EXPORT
    RGB RGBA CMYK YCBCR JPEG JPG PNG TIFF DICOM DCM
    """
    )
)
# Two/three-letter clinical abbreviations that must never be taken for someone's initials.
STOP_INITIALS = frozenset(
    _words(
        """
    AP PA LR RL LL RUL RLL LUL LLL HE PT CT MR US CR DX NM OR ER ED IV IM PO AM PM DR MD RN ID NO OK
    LAT OBL ABD CXR KUB BMI BP HR CD SC SR RT LT BIL ANT POS EXP INS UP DN
    """
    )
)
# Particles of family names (van der Berg, de la Cruz, bin Said): never a part alone (``_name_variants``).
FAMILY_PARTICLES = frozenset(
    _words(
        """
    VAN VON DER DEN DE DEL DELLA DELLE DEGLI DEI LA LE LES LO DI DA DU DES DOS DAS TER TEN ZU ZUR
    BIN BINTI BINT IBN AL EL BEN BAT MAC MC ST SAINT SAN SANTA Y E
    """
    )
)

# English month names written out (strftime's %b/%B follow the locale, so they are never used here).
_MONTH_NAMES = _words("JANUARY FEBRUARY MARCH APRIL MAY JUNE JULY AUGUST SEPTEMBER OCTOBER NOVEMBER DECEMBER")
_MONTHS = tuple(name[:3] for name in _MONTH_NAMES)
# Numeric spellings a date term may arrive in (DICOM DA first); day-first for dots, month-first for slashes.
_DATE_INPUTS = ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d.%m.%Y", "%m/%d/%Y")
# Spelled-out months ("09-Jan-2012", "Jan 9, 2012", "9 January 2012"), parsed without the locale.
_DATE_WORDS = (
    re.compile(r"^(?P<d>\d{1,2})[- ](?P<m>[A-Za-z]{3,9})[- ,]+(?P<y>\d{4})$"),
    re.compile(r"^(?P<m>[A-Za-z]{3,9})\.? (?P<d>\d{1,2}),? (?P<y>\d{4})$"),
)
# Numeric spellings generated for every date (strftime without %b/%B, which follow the locale).
_DATE_OUTPUTS = ("%Y%m%d", "%Y-%m-%d", "%d.%m.%Y", "%m.%d.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%y", "%m/%d/%y")

# Identifying shapes shared with the barcode stage and with file names (regex, what it is).
ID_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(?<![A-Za-z0-9])(?:MRN|PID|ACC|ACCN|PATID|PAT|ID|NHS|SSN)[-_#: ]?\d{4,}(?![0-9])", "record number"),
    (r"(?<![A-Za-z0-9])[A-Z]{1,3}\d{2}[-_/]\d{3,7}(?![0-9])", "accession number"),
    (r"(?<![0-9])(?:19|20)\d{2}[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])(?![0-9])", "date"),
    (r"(?<![0-9])\d{6,}(?![0-9])", "digit run"),
)
_ID_RE = re.compile("|".join(f"(?:{p})" for p, _ in ID_PATTERNS))
# File-name person names: an upper-case surname joined by _ ^ or , to a given name ("SMITH_John", "DOE,
# JOHN"); and any capitalised pair joined by DICOM's person-name caret (PS3.5 6.2), which no other name
# uses: a viewer's export names a folder by the PatientName as stored ("Doe^John", "Müller^Jürgen"), which
# the upper-case shape passed as safe; and a capitalised surname, a comma and a given name, as a letter
# or a list files a patient ("Whitcombe, Alan.png").
_CAPITAL, _LETTERS = "A-ZÀ-ÖØ-Þ", r"[^\W\d_]"
_NAMES_IN_PATH = (
    re.compile(r"(?<![A-Za-z])([A-Z][A-Z'-]+)(?:[_^,]+|,\s+)([A-Z][a-z]+|[A-Z]{2,})(?![a-z])"),
    re.compile(
        rf"(?<!{_LETTERS})([{_CAPITAL}]{_LETTERS}*(?:['’-]{_LETTERS}+)*)\^+([{_CAPITAL}]{_LETTERS}*)(?!{_LETTERS})"
    ),
    re.compile(
        rf"(?<!{_LETTERS})([{_CAPITAL}][a-zß-ÿ]+(?:['’-][{_CAPITAL}][a-zß-ÿ]+)*),\s*([{_CAPITAL}][a-zß-ÿ]+)(?!{_LETTERS})"
    ),
)
_PERSON_HINT = re.compile(r"\^|^[A-Za-z'-]+,\s*[A-Za-z]")
# Scripts written without spaces between words (kana, CJK ideographs, Hangul syllables): each character is a
# token of its own, so a name meets its key inside a run ("山田太郎の検査" holds 山田 太郎), and a key of them
# needs MIN_CJK_KEY characters (two ideographs name a person as specifically as four Latin letters).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
MIN_CJK_KEY = 2
_CJK_ONLY = re.compile(f"[{_CJK}]+")
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+", re.UNICODE)
# A token's letters and digits apart: a name or number glued to another ("99SMITH" in a coding scheme,
# "SMITH01", "Smith2024") is a term inside one token (``DenyList._glued_spans``).
_PIECE = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_MIXED = re.compile(r"[^\W_]*(?:\d[^\W\d_]|[^\W\d_]\d)[^\W_]*", re.UNICODE)  # a token of both
_LONG_DIGITS = re.compile(rf"\d{{{MIN_LONG_ID},}}")


def canonical(text: str) -> str:
    """Upper case, no accents, look-alike letters and confusables folded, only letters and digits kept."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).translate(_HOMOGLYPHS)
    folded = folded.upper().translate(_CONFUSABLE)
    return "".join(c for c in folded if c.isalnum())


def looks_identifying(text: str) -> bool:
    """True when ``text`` holds a record number, accession number, date, long digit run or a DICOM name."""
    return bool(_ID_RE.search(text) or "^" in text)


# ---------------------------------------------------------------- variants


def term_variants(value: str) -> set[str]:
    """Every spelling under which ``value`` may appear in text (before canonicalisation)."""
    value = " ".join(value.split())
    if not value:
        return set()
    day = _parse_date(value)
    if day is not None:
        return _date_variants(day)
    parts = _name_parts(value)
    if parts is not None:
        return _name_variants(*parts)
    return _id_variants(value)


def _parse_date(value: str) -> date | None:
    for fmt in _DATE_INPUTS:
        try:
            day = datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        return day if 1900 <= day.year <= 2100 else None
    for pattern in _DATE_WORDS:
        m = pattern.match(value)
        month = m and m.group("m").upper()[:3]
        if m and month in _MONTHS:
            try:
                return date(int(m.group("y")), _MONTHS.index(month) + 1, int(m.group("d")))
            except ValueError:
                return None
    return None


def _date_variants(day: date) -> set[str]:
    out = {day.strftime(fmt) for fmt in _DATE_OUTPUTS}
    d, m, y = day.day, day.month, day.year
    out |= {f"{d}.{m}.{y}", f"{m}/{d}/{y}", f"{d}/{m}/{y}"}
    for month in (_MONTHS[m - 1], _MONTH_NAMES[m - 1]):
        for dd in {str(d), f"{d:02d}"}:
            out |= {f"{dd}-{month}-{y}", f"{dd} {month} {y}", f"{month} {dd}, {y}"}
    return out


def _name_parts(value: str) -> tuple[str, list[str], list[str]] | None:
    """(family name, given names, the given and middle names proper) for DICOM PN, "LAST, First" or
    "First Last"; None for non-names. A PN's prefix and suffix ("Mrs", "III") are given names in the
    spellings, never names alone."""
    if "^" in value:
        family, *given = value.split("^")
        proper = [g for g in " ".join(given[:2]).split() if g]
        given = [g for g in " ".join(given).split() if g]
        return (family.strip(), given, proper) if family.strip() else None
    words = value.replace(",", " , ").split()
    if any(any(c.isdigit() for c in w) for w in words):
        return None
    if "," in words and words[0] != "," and 2 <= len(words) <= 5:
        i = words.index(",")
        given = [w for w in words[i + 1 :] if w != ","]
        return " ".join(words[:i]), given, given
    if 2 <= len(words) <= 4 and all(w.replace("-", "").replace("'", "").isalpha() for w in words):
        return words[-1], words[:-1], words[:-1]
    return None


def _name_variants(family: str, given: list[str], proper: list[str]) -> set[str]:
    # each given name alone; a hyphenated one (Mary-Jane) by its parts, which the text's tokens are
    out = {family} | {ALONE + part for name in proper for part in _WORD.findall(name)}
    # a family name of several parts (Garcia Lopez, Smith-Jones, van der Berg) by each part alone, as a
    # person is called by one ("Sra. Garcia", "Mrs Jones"): of MIN_KEY letters (as a family name alone),
    # never a particle, found as a given name is (a whole token, no ordinary word)
    parts = _WORD.findall(family)
    if len(parts) > 1:
        out |= {ALONE + p for p in parts if len(p) >= MIN_KEY and p.upper() not in FAMILY_PARTICLES}
    if not given:
        return out
    first, middle = given[0], given[1:]
    out |= {
        f"{first} {family}",
        f"{family} {first}",
        f"{family}, {first}",
        f"{first[0]} {family}",
        f"{first[0]}. {family}",
        f"{family} {first[0]}",
        " ".join([first, *middle, family]),
        " ".join([family, first, *middle]),
    }
    initials = "".join(p[0] for p in [first, *middle, family] if p).upper()
    if initials.isalpha() and not _CJK_ONLY.search(initials):  # no initials in scripts without letters
        out.add("#" + initials)  # "#" marks a whole-word initials key (see _Term.key)
        out.add("#" + (first[0] + family[0]).upper())
    return out


def _id_variants(value: str) -> set[str]:
    out = {value}
    digits = canonical(value)
    if digits.isdigit() and digits.lstrip("0") and len(digits.lstrip("0")) >= MIN_KEY:
        out.add(digits.lstrip("0"))
    return out


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    key: str  # canonical form of the token


def _tokens(text: str) -> list[_Token]:
    return _tokens_of(_WORD, text)


def _tokens_of(pattern: re.Pattern[str], text: str, offset: int = 0) -> list[_Token]:
    out = []
    for m in pattern.finditer(text):
        key = canonical(m.group())
        if key:
            out.append(_Token(offset + m.start(), offset + m.end(), key))
    return out


def _keys_of(variant: str) -> str | None:
    """The lookup key of one variant, or None when the stop rules forbid it."""
    if variant.startswith(ALONE):
        return _alone_key(variant[len(ALONE) :])
    if variant.startswith("#"):
        letters = variant[1:]
        if 2 <= len(letters) <= 3 and letters not in STOP_INITIALS:
            return "#" + letters
        return None
    if variant.upper() in STOP_WORDS:
        return None
    key = canonical(variant)
    if not _long_enough(key) or canonical(variant) in _CANON_STOP:
        return None
    return key


def _long_enough(key: str) -> bool:
    """A key of ``MIN_KEY`` characters, or of ``MIN_CJK_KEY`` in a script written without spaces."""
    return len(key) >= (MIN_CJK_KEY if _CJK_ONLY.fullmatch(key) else MIN_KEY)


@lru_cache(maxsize=4096)
def _term_keys(term: str) -> frozenset[str]:
    """A term's lookup keys. Remembered: the files of a batch repeat their names, IDs and stations, and
    every DICOM file builds a list of its own (0.5 ms, mostly failed date parses)."""
    return frozenset(key for variant in term_variants(term) if (key := _keys_of(variant)))


_CANON_STOP = frozenset(canonical(w) for w in STOP_WORDS)


def _alone_key(name: str) -> str | None:
    """The whole-token key of a given name alone, or None when it is too short, not only letters or a
    stop word. Whether it is an ordinary word is asked of the text's word where the key matches
    (``DenyList._token_spans``): the word lists take seconds to load and most texts never hold the name."""
    if len(name) < MIN_GIVEN or not name.isalpha() or name.upper() in STOP_WORDS:
        return None
    return ALONE + canonical(name)


def ordinary_word(word: str) -> bool:
    """``word`` is ordinary English as the text stage's PHI vocabulary judges it (``text.phi``: a keep
    word or a title, or common in English and not more common as a name): one list of words for both.
    Rose, Mark and Grace are more often names than words by that judgement, so a patient's own given
    name "Rose" is taken out of the text; without wordfreq and the census lists no word is ordinary
    (fails closed)."""
    from deident.text.phi import ordinary, vocabulary  # data only; the word lists load at the first call

    lower, voc = word.lower(), vocabulary()
    return voc.keeps(lower) or lower in voc.titles or ordinary(lower)


_INITIALS_WORD = re.compile(r"(?<!\S)((?:[A-Z]\.?){2,3})(?!\S)")


class DenyList:
    """Terms to find in text, held as canonical keys (in clear, or as keyed hashes)."""

    def __init__(self, terms: Iterable[str] = ()):
        self._keys: set[str] = set()
        self._hash: Keyring | None = None
        for term in terms:
            self._keys |= _term_keys(term)

    @classmethod
    def from_hashes(cls, hashes: Iterable[str], keyring: Keyring) -> DenyList:
        """A deny-list restored from ``hashed``: it matches the same text, under the same key only."""
        out = cls()
        out._keys = set(hashes)
        out._hash = keyring
        return out

    def hashed(self, keyring: Keyring) -> list[str]:
        """The keys as sorted keyed hashes, safe to persist (the values are never written in clear)."""
        if self._hash is not None:
            if self._hash.secret != keyring.secret:
                raise ValueError("this deny-list was hashed under another key")
            return sorted(self._keys)
        return sorted(_hash_key(keyring, k) for k in self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def _has(self, key: str) -> bool:
        if self._hash is not None:
            return _hash_key(self._hash, key) in self._keys
        return key in self._keys

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans of ``text`` that spell a term, merged and sorted."""
        if not self._keys or not text:
            return []
        spans = self._token_spans(text) + self._initials_spans(text) + self._glued_spans(text)
        return _merge(spans)

    def matches(self, text: str) -> bool:
        return bool(self.find(text))

    def _token_spans(self, text: str) -> list[tuple[int, int]]:
        tokens = _tokens(text)
        spans = []
        for i, first in enumerate(tokens):
            if self._has(ALONE + first.key) and not ordinary_word(text[first.start : first.end]):
                spans.append((first.start, first.end))  # a given name alone: Eileen, not will or may
            key = ""
            for tok in tokens[i : i + MAX_WINDOW]:
                key += tok.key
                if _long_enough(key) and (self._has(key) or (key[0] == "0" and self._has(key.lstrip("0")))):
                    spans.append((first.start, tok.end))
            for m in _LONG_DIGITS.finditer(first.key):
                if (m.start(), m.end()) != (0, len(first.key)) and self._has(m.group()):
                    spans.append((first.start, first.end))
        return spans

    def _glued_spans(self, text: str) -> list[tuple[int, int]]:
        """Terms inside a token of letters and digits: the name in "99SMITH" or "SMITH01", which the
        window of whole tokens never sees. Only mixed tokens are split (most values have none); a term
        spelled with both ("MRN4455667") is found whole by ``_token_spans``."""
        spans = []
        for tok in _MIXED.finditer(text):
            if tok.end() - tok.start() <= MIN_GIVEN:
                continue  # "T2", "5mm", "3D": no piece long enough to be a term
            pieces = _tokens_of(_PIECE, tok.group(), tok.start())
            for i, first in enumerate(pieces):
                if self._has(ALONE + first.key) and not ordinary_word(text[first.start : first.end]):
                    spans.append((first.start, first.end))
                key = ""
                for piece in pieces[i:]:
                    key += piece.key
                    if _long_enough(key) and self._has(key):
                        spans.append((first.start, piece.end))
        return spans

    def _initials_spans(self, text: str) -> list[tuple[int, int]]:
        return [
            (m.start(1), m.end(1))
            for m in _INITIALS_WORD.finditer(text)
            if self._has("#" + m.group(1).replace(".", ""))
        ]


@lru_cache(maxsize=4)
def deny_list_for(terms: tuple[str, ...]) -> DenyList:
    """One matcher per batch deny-list and process: every stage of every file shares it."""
    return DenyList(terms)


def _hash_key(keyring: Keyring, key: str) -> str:
    return keyring.digest(HASH_PURPOSE, key).hex()[:32]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# ---------------------------------------------------------------- file and folder names


def _path_parts(path: Path) -> list[str]:
    """The names a path shows: each folder's and the file's stem."""
    return [p for p in [*path.parent.parts, path.stem] if p not in (path.anchor, "", ".", "..")]


# The names a DICOM file-set's writer counts its folders and files with: PS3.10 file IDs (up to 8 of A-Z,
# 0-9 and _), as pydicom's FileSet writes them (PT000000/ST000000/SE000000/IM000000) and other media
# writers (P0000001, S0000001, I0000001; PAT00000, STU00000, SER00000, IMG00000). Read as an ID's digit
# run, they made every file of a DICOM CD export unsafe for its folder names.
FILE_SET_COUNTER = re.compile(r"(?:PT|ST|SE|IM|P|S|I|PAT|STU|SER|IMG|DIR)\d{1,7}")
FILE_ID_CHARS = 8


def file_set_counter(part: str) -> bool:
    """True for a file ID component shaped as a file-set writer's counter (``FILE_SET_COUNTER``)."""
    return len(part) <= FILE_ID_CHARS and bool(FILE_SET_COUNTER.fullmatch(part))


def in_file_set(path: Path) -> bool:
    """True when a folder above ``path`` holds a DICOMDIR: the file lies in a DICOM file-set (PS3.10),
    whose component names its writer counted. A file's own identifiers are still looked for in them
    (``terms_in_path``): a writer that names a folder by the PatientID is caught that way."""
    return any((folder / "DICOMDIR").is_file() for folder in Path(path).absolute().parents)


def collect_from_path(path: Path, file_set: bool = False) -> list[str]:
    """Identifying parts of a file's name and of its folders' names (values in clear, memory only);
    in a DICOM ``file_set`` (``in_file_set``), its writer's counters are no part of them.

    Person names come back as DICOM PN ("SMITH^John") so ``term_variants`` expands them as names.
    """
    path = Path(path)
    found: list[str] = []
    for part in _path_parts(path):
        if file_set and file_set_counter(part):
            continue
        for m in (m for pattern in _NAMES_IN_PATH for m in pattern.finditer(part)):
            family, given = m.group(1), m.group(2)
            if _person(family, given):
                found.append(f"{family}^{given}")
        found += [m.group() for m in _ID_RE.finditer(part)]
        found += _written_dates(part)
        found += _titled_names(part)
    return list(dict.fromkeys(found))


def _titled_names(part: str) -> list[str]:
    """Names beside a title or a degree in a name whose words may be joined by "_" or "-" ("Dr Whitcombe
    case.png", "Mrs_Okonkwo_rash.jpg", "Jane_Roe_MD"), by the text stage's rule (``phi.titled_name_spans``):
    no shape above has a title, and such names were written out as safe."""
    if not re.search(r"[A-Za-z]{2}", part):
        return []
    from deident.text.phi import titled_name_spans

    spaced = re.sub(r"[_-]", " ", part)
    found = [part[a:b] for a, b in titled_name_spans(spaced, FAMILY_PARTICLES)]
    # "Pt_Whitcombe", "patient Whitcombe": the patient's name after the word (not "Patient_Consent")
    found += [
        m["name"]
        for m in _AFTER_PATIENT.finditer(spaced)
        if m["name"].upper() not in STOP_WORDS and not ordinary_word(m["name"])
    ]
    return found


_AFTER_PATIENT = re.compile(
    rf"\b(?:[Pp]atient|PATIENT|[Pp]t|PT)\s+(?P<name>[{_CAPITAL}]{_LETTERS}+(?:['’]{_LETTERS}+)*)"
)


def _person(family: str, given: str) -> bool:
    """A name-shaped pair (``SMITH_John``) that may be a person: no stop word in it, and not two ordinary
    words (presidio's ``RGB_ORIGINAL.png``, ``FINAL_COPY``); a colour or word that is more often a name
    (GREEN, Hope after JONES) still counts."""
    stop = family.upper() in STOP_WORDS or given.upper() in STOP_WORDS
    return not stop and len(family) >= 2 and not (ordinary_word(family) and ordinary_word(given))


def _written_dates(part: str) -> list[str]:
    """Dates as the text stage knows them (``text/phi.json``: "12 March 1970", "DOB 12.03.70", "seen
    March 12th"), in a name whose words may be joined by "_": the shapes of ``ID_PATTERNS`` are numeric,
    year first. A version number of three parts ("v1.2.10") reads as a date too: the name is kept only
    with --keep-names."""
    from deident.text.phi import vocabulary  # data only

    spaced = part.replace("_", " ")
    found = (m.group() for label, rx in vocabulary().phi if label == "date" for m in rx.finditer(spaced))
    return [d for d in found if any(c.isdigit() for c in d)]  # not the label words ("DOB") alone


def terms_in_path(path: Path, *deny: DenyList) -> list[str]:
    """What ``deny`` finds in a file's name and its folders' names (values in clear, memory only).

    A DICOM export names a folder by its patient ("Jane Doe/IM0001.dcm", "doe.dcm"), which no shape in
    ``collect_from_path`` tells from an ordinary name; the file's own header says whose it is. A match
    made only of ordinary words is left out: an archive's "Radiology" folder matched the department its
    files name (InstitutionalDepartmentName) and every file in it was refused."""
    found = (part[a:b] for part in _path_parts(Path(path)) for d in deny if d for a, b in d.find(part))
    return list(dict.fromkeys(t for t in found if not all(ordinary_word(w) for w in _WORD.findall(t))))
