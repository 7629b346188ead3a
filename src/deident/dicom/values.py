"""The values written in place of identifying ones: dummies by VR, pseudonyms, shifted dates, cleaned text.

Each replacement has a recognisable shape so that a read-only audit can tell our output (dummy,
pseudonym, cleaned) from an input still carrying the original, without needing the key.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from deident.keys import UID_ROOT, Keyring
from deident.wordlists import read_lines

# D: a dummy per VR, valid for its VR and carrying no information.
DUMMY = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMOUS",
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": "ANONYMOUS",
    "LT": "ANONYMOUS",
    "PN": "ANONYMOUS",
    "SH": "ANONYMOUS",
    "ST": "ANONYMOUS",
    "TM": "000000",
    "UC": "ANONYMOUS",
    "UR": "",
    "UT": "ANONYMOUS",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
}
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
TEXT_VRS = {"LO", "LT", "SH", "ST", "UC", "UT", "CS"}
DATE_VRS = {"DA", "DT"}

PSEUDONYM_CHARS = "A-HJ-NP-Z2-9"  # Keyring.pseudonym's alphabet
# Attributes replaced by a keyed pseudonym of the patient (Z allows a dummy; this one is consistent).
PSEUDONYMS = {
    "PatientName": ("ANON^{}", re.compile(rf"ANON\^[{PSEUDONYM_CHARS}]{{8}}")),
    "PatientID": ("ANON-{}", re.compile(rf"ANON-[{PSEUDONYM_CHARS}]{{8}}")),
}
AE_SHAPE = re.compile(rf"AE-[{PSEUDONYM_CHARS}]{{8}}")  # a cleaned AE title (device identity option)


@dataclass(frozen=True)
class Replacer:
    """Makes every keyed replacement for one patient."""

    keyring: Keyring
    patient: str  # the original PatientID (or name): key of pseudonyms and of the date shift

    def pseudonym(self, keyword: str) -> str:
        template, _ = PSEUDONYMS[keyword]
        return template.format(self.keyring.pseudonym("patient", self.patient)) if self.patient else ""

    def uid(self, value: str) -> str:
        return self.keyring.uid(value) if value else ""

    def shift(self, vr: str, value: str) -> str:
        """A DA (or the date part of a DT) moved by the patient's offset; a range keeps its shape."""
        if vr == "DA":  # DA ranges ("A-B", "-B") are query forms; DT's "-" is a timezone sign
            return "-".join(self._shift_one(vr, part) for part in value.split("-"))
        return self._shift_one(vr, value)

    def _shift_one(self, vr: str, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        try:
            day = dt.datetime.strptime(value[:8], "%Y%m%d").date()
        except ValueError:
            return DUMMY[vr]
        moved = day + dt.timedelta(days=self.keyring.day_offset(self.patient or "unknown"))
        return moved.strftime("%Y%m%d") + (value[8:] if vr == "DT" else "")

    def clean(self, vr: str, value: str) -> str:
        """C: an AE title becomes a keyed pseudonym (same station, same name); text keeps allowed words."""
        if vr == "AE":
            return f"AE-{self.keyring.pseudonym('ae', value)}" if value.strip() else ""
        return clean_text(value)


@cache
def vocabulary() -> frozenset[str]:
    return frozenset(w.lower() for w in read_lines("deident.dicom", "descriptor_words.txt"))


def clean_text(value: str) -> str:
    """Keep only allow-listed words (idempotent: cleaning a cleaned value changes nothing)."""
    words = vocabulary()
    return " ".join(w for w in re.findall(r"[A-Za-z0-9]+", value) if w.lower() in words)


def is_clean(vr: str, value: str) -> bool:
    """Would cleaning leave ``value`` as it is? (our cleaned output does; free text does not)."""
    if vr == "AE":
        return not value.strip() or bool(AE_SHAPE.fullmatch(value.strip()))
    return clean_text(value) == value


def is_dummy(vr: str, value) -> bool:
    if value in ("", None) or value == DUMMY.get(vr):
        return True
    return isinstance(value, str) and value.strip() == str(DUMMY.get(vr, "")).strip()


def is_new_uid(value: str) -> bool:
    return not value or value.startswith(UID_ROOT)


@cache
def is_registry_uid(value: str) -> bool:
    """A UID of the DICOM registry (SOP classes, transfer syntaxes, coding schemes, well-known frames of
    reference, as pydicom lists them): it names a kind of thing, never a patient or an instance, and a
    reader needs it as it is, so no replacement of a UID touches it."""
    from pydicom._uid_dict import UID_dictionary

    return value.strip().rstrip("\0") in UID_dictionary


def values_of(value) -> Iterator:
    """A header value's values (pydicom gives one value bare, several as a MultiValue)."""
    from pydicom.multival import MultiValue

    yield from (value if isinstance(value, (MultiValue, list, tuple)) else [value])
