"""After the profile: every text value left, at every depth, against identifiers (issue 19, item 6).

Table E.1-1 names the attributes that usually identify; a name typed into DocumentTitle, a record number
in a CodeMeaning or in an attribute newer than the table, or "DOE JANE 4455667" as an InstanceNumber are
kept by it. So once the profile has run, ``sweep`` reads every value it left of a string VR (and of UN,
decoded), inside every sequence, and looks for

* the batch deny-list (``denylist.DenyList``: this file's own names, IDs and dates and the other files'),
* identifier shapes: ``denylist.ID_PATTERNS`` and the PHI patterns of ``text/phi.json`` (dates, phone
  numbers, e-mail addresses, record numbers, long digit runs, dates with or without a year); a pattern
  counts only where what it matched holds a digit or an "@", so words such as "date" or "patient" in a
  code meaning never do, and where it has a group named ``IDENTIFIER_GROUP`` only that group is cut ("seen
  12/3" keeps "seen": the date word only tells a day and month from a ratio such as "1/2 tablet").

What matches is cut out of the text (the rest kept: "report Jane Doe" -> "report"); an UN value that
matches is removed whole. IS and DS values that are not numbers are replaced by the VR's dummy (0).
Each change is a finding that names the attribute, never the value. ``check`` runs the same walk with
the patterns alone (it has no batch), so a swept output re-reads clean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue

from deident.dicom.scrub import _keyword, element_finding, vr_of, where
from deident.dicom.values import AE_SHAPE, DUMMY, PSEUDONYMS
from deident.findings import Action, Finding

# VRs whose values are free or coded text; dates, times, UIDs and ages are the profile's, by VR.
SWEPT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"}
NUMERIC_STRING = {  # valid forms of the numeric string VRs (PS3.5 6.2)
    "IS": re.compile(r"\s*[+-]?\d{1,12}\s*"),
    "DS": re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*"),
}
# Attributes whose values are checked against the deny-list only: coded concept identifiers are long
# numbers by design (SNOMED CT).
PATTERNS_EXEMPT = {"CodeValue", "LongCodeValue", "ContextIdentifier"}
# The de-identification record: ours at top level only (written after the sweep); one in an item is the
# file's own text and is swept like any other.
NOT_SWEPT_AT_TOP = {"DeidentificationMethod", "DeidentificationMethodCodeSequence"}
# Defined terms with long numbers (compression methods ISO_10918_1, character sets ISO 2022 IR 100 and
# GB18030, whose five digits read as a digit run: cut, it left a Chinese file no character set, and every
# kept value in Chinese was written as "??").
STANDARD_TERMS = re.compile(r"ISO_\d+(?:_\d+)*|ISO[ _]?(?:2022[ _]?)?IR[ _]?\d+|GB18030", re.I)
VERSION = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
DIGIT_OR_AT = re.compile(r"[\d@]")  # what every counted pattern match holds
# A pattern's group of this name is what is cut; the rest of its match is context ("seen" before "12/3").
IDENTIFIER_GROUP = "phi"
_TITLE_HINT = re.compile(r"[A-Za-z]{2}")  # a value without two letters in a row holds no title (cheap skip)
MAX_PASSES = 3  # cutting a match can join what is left into a new one; after this the value is emptied


@cache
def identifier_patterns() -> tuple[re.Pattern, ...]:
    from deident.denylist import ID_PATTERNS
    from deident.text.phi import vocabulary

    return tuple(re.compile(p) for p, _ in ID_PATTERNS) + tuple(p for _, p in vocabulary().phi)


def _pattern_spans(text: str) -> list[tuple[int, int]]:
    if not DIGIT_OR_AT.search(text):
        return []
    text = STANDARD_TERMS.sub(lambda m: " " * len(m.group()), text)  # positions kept
    return [
        m.span(IDENTIFIER_GROUP if IDENTIFIER_GROUP in p.groupindex else 0)
        for p in identifier_patterns()
        for m in p.finditer(text)
        if DIGIT_OR_AT.search(m.group()) and not _version_number(m.group())
    ]


def _titled_spans(text: str) -> list[tuple[int, int]]:
    """A name in no header beside its title or degree ("Photo by Dr Roe", "Mrs Roe left knee"): the
    deny-list knows only the names the headers give. The word lists load at the first title seen."""
    if not _TITLE_HINT.search(text):
        return []
    from deident.denylist import FAMILY_PARTICLES
    from deident.text.phi import titled_name_spans

    return titled_name_spans(text, FAMILY_PARTICLES)


def _version_number(text: str) -> bool:
    """Version numbers such as 5.00.02 and 50.80.103: dotted numbers of at most three digits that no
    reading makes a date (a phone number such as 555.123.4567 has a four-digit group)."""
    m = VERSION.fullmatch(text)
    if m is None:
        return False
    a, b, c = (int(g) for g in m.groups())
    readings = ((b, c), (b, a), (a, b))  # (month, day) for y-m-d, d-m-y, m-d-y
    return not any(1 <= month <= 12 and 1 <= day <= 31 for month, day in readings)


@dataclass
class Sweeper:
    """Finds (and, with ``fix``, cuts) identifiers in the text values the profile kept."""

    deny: list  # DenyList objects (the batch's, this file's own); empty in check
    fix: bool

    def sweep(self, ds, path: str = "") -> list[Finding]:
        out: list[Finding] = []
        for elem in list(ds.elements()):  # raw elements stay raw: no value is decoded here
            tag = int(elem.tag)
            kw = _keyword(tag)
            if (not path and kw in NOT_SWEPT_AT_TOP) or (tag >> 16) & 1 or tag & 0xFFFF == 0:
                continue
            vr = vr_of(ds, elem.tag)  # a known attribute read as UN: pydicom decodes it by its dictionary VR
            if vr == "SQ":
                loc = where(path, tag, kw)
                try:
                    items = list(ds[tag].value or [])
                except Exception:
                    continue  # the profile's audit reports unreadable values
                for i, item in enumerate(items):
                    out += self.sweep(item, f"{loc}[{i}]")
                continue
            if vr not in NUMERIC_STRING and vr not in SWEPT_VRS:
                continue
            try:
                values = _strings(ds, elem, vr)
            except Exception:
                continue  # the profile's audit reports unreadable values
            hits = self._numeric(vr, values) if vr in NUMERIC_STRING else self._text(vr, kw, values)
            if hits:
                out.append(self._fix(ds, tag, vr, kw, where(path, tag, kw), values, hits))
            elif vr not in NUMERIC_STRING and any(self._spans(t, kw) for t in _misread(elem, values)):
                out.append(self._fix(ds, tag, vr, kw, where(path, tag, kw), values, None))
        return out

    def _numeric(self, vr: str, values: list[str]) -> list[int]:
        return [
            i
            for i, v in enumerate(values)
            if v.strip() and (not NUMERIC_STRING[vr].fullmatch(v) or self._listed_number(v))
        ]

    def _listed_number(self, value: str) -> bool:
        """A number of at least MIN_LONG_ID digits that is a listed identifier or date as a whole (a birth
        date written as an InstanceNumber); shorter ones are left: a StudyID of "1001" is an ordinary
        InstanceNumber too."""
        from deident.denylist import MIN_LONG_ID

        number = value.strip()
        if sum(c.isdigit() for c in number) < MIN_LONG_ID:
            return False
        return any((0, len(number)) in deny.find(number) for deny in self.deny)

    def _text(self, vr: str, kw: str, values: list[str]) -> list[int]:
        if vr == "AE" or kw in PSEUDONYMS:  # our own replacements: keyed pseudonyms, never identifiers
            values = ["" if AE_SHAPE.fullmatch(v.strip()) or _is_pseudonym(kw, v) else v for v in values]
        return [i for i, v in enumerate(values) if self._spans(v, kw)]

    def _fix(
        self, ds, tag: int, vr: str, kw: str, loc: str, values: list[str], hits: list[int] | None
    ) -> Finding:
        """Cut what ``hits`` (value indexes) hold; None: the identifier is in another encoding than the
        value is read in (``_misread``), where nothing can be cut by position: the value goes whole."""
        action = Action.REPLACED if self.fix else Action.FOUND
        if hits is None and vr != "UN":
            if self.fix:
                ds[tag].value = ""
            detail = "identifier in another encoding than the file declares"
            return element_finding(tag, kw, loc, action, detail + (": emptied" if self.fix else ""))
        if vr == "UN":
            if self.fix:
                del ds[tag]
            detail = f"unknown attribute holding an identifier ({len(values[0])} bytes)"
            return element_finding(tag, kw, loc, Action.REMOVED if self.fix else action, detail)
        if vr in NUMERIC_STRING:
            new = [DUMMY[vr] if i in hits else v for i, v in enumerate(values)]
            detail = f"{len(hits)} value(s) not a valid {vr} or a listed identifier"
            detail += f": replaced by {DUMMY[vr]}" if self.fix else ""
        else:
            new = [self._cut(v, kw) if i in hits else v for i, v in enumerate(values)]
            verb = "cut from the text" if self.fix else "in the text"
            detail = f"identifier {verb} ({len(hits)} value(s), outside Table E.1-1)"
        if self.fix:
            ds[tag].value = new if len(new) > 1 else new[0]
        return element_finding(tag, kw, loc, action, detail)

    def _spans(self, text: str, kw: str) -> list[tuple[int, int]]:
        shapes = kw not in PATTERNS_EXEMPT and not (kw == "ReferencedFileID" and _counter(text))
        spans = _pattern_spans(text) + _titled_spans(text) if shapes else []
        for deny in self.deny:
            spans += deny.find(text)
        return spans

    def _cut(self, text: str, kw: str) -> str:
        for _ in range(MAX_PASSES):
            spans = self._spans(text, kw)
            if not spans:
                return text
            cut = bytearray(len(text))
            for start, end in spans:
                cut[start:end] = b"\1" * (end - start)
            text = " ".join("".join(" " if gone else c for c, gone in zip(text, cut, strict=True)).split())
        return "" if self._spans(text, kw) else text


def _counter(file_id: str) -> bool:
    """A DICOMDIR's path component shaped as its writer's counter (``PT000000``), which names no one: cut
    as a digit run, it left the output's DICOMDIR pointing at no file. The deny-list still applies."""
    from deident.denylist import file_set_counter

    return file_set_counter(file_id.strip())


def _is_pseudonym(keyword: str, value: str) -> bool:
    return keyword in PSEUDONYMS and bool(PSEUDONYMS[keyword][1].fullmatch(value.strip()))


SINGLE_VALUED = {"LT", "ST", "UT", "UR", "UN"}  # a backslash is text there, not a value separator


# Encodings a value may really be in when it is not what the file declares: writers put UTF-8 into files
# that declare no character set, and UTF-16 into UN and text elements. Read as declared (or as Latin-1, an
# UN value), "Müller" is "MÃ¼ller" and "Zorro" is "Z\0o\0r\0r\0o\0": no term and no pattern matches,
# while a viewer that guesses (ExifTool, a hex dump) shows the name.
OTHER_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")


def _misread(elem, values: list[str]) -> list[str]:
    """The value's other readings (``OTHER_ENCODINGS``) that decode without error and differ from how
    it was read; UTF-16 only for bytes holding a NUL. Plain ASCII has none."""
    raw = elem.value
    if not isinstance(raw, bytes | bytearray):
        try:  # decoded by pydicom: undone where the declared set was Latin-1 or none
            raw = "\\".join(values).encode("latin-1")
        except UnicodeEncodeError:
            return []
    if raw.isascii() and b"\0" not in raw:
        return []
    read = "\\".join(values)
    out = []
    for encoding in OTHER_ENCODINGS:
        if encoding.startswith("utf-16") and (b"\0" not in raw or len(raw) % 2):
            continue
        try:
            text = bytes(raw).decode(encoding).rstrip(" \0")
        except UnicodeDecodeError:
            continue
        if text != read:
            out.append(text)
    return out


def _strings(ds, elem, vr: str) -> list[str]:
    """The element's values as text; read from the raw bytes when they are plain ASCII (no decoding by
    pydicom, so the element is written back as it was read: a sweep of 100 elements costs ~0.3 ms)."""
    value = elem.value
    if isinstance(value, bytes | bytearray) and (vr == "UN" or (value.isascii() and b"\x1b" not in value)):
        text = value.decode("latin-1").rstrip(" \0")
        return [text] if vr in SINGLE_VALUED else text.split("\\")
    if not isinstance(elem, DataElement):  # raw, in another character set: pydicom decodes it
        value = ds[elem.tag].value
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if v is not None]
    return [] if value is None else [str(value)]
