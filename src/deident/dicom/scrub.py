"""Apply the profile to a dataset (``Scrubber``) and audit a dataset against it (``audit``).

Both walk every element, recursively inside sequences, and look its action up in the shipped table, so
"what the scrub does" and "what the check flags" are one piece of knowledge. Attributes the table does not
list are handled by ``unlisted.csv`` (File Meta attributes in the dataset, the DICOMDIR's file-set
identification and directory structure, each decided from the module that defines it), ``BY_VR`` (every
DA/DT and PN value, as PS3.15 allows), ``BY_GROUP`` (whole overlay and curve groups, group lengths) and
``binary`` (unlisted binary values are removed but for what display needs); everything else is kept.

A standard attribute stored under an explicit VR its dictionary entry does not allow (BodyPartExamined as
OB or US) is removed first: the action and the sweep go by VR, and a text value under a binary or numeric
VR was kept unread. Removing is safer than reading it by the dictionary's VR, which would have to trust
bytes of unknown encoding and length to convert.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from deident.dicom.binary import BINARY_ONLY_VRS, handle, kept
from deident.dicom.profile import Rule, columns_for_codes, load_profile, mask_matches, resolve
from deident.dicom.values import (
    BINARY_VRS,
    DATE_VRS,
    DUMMY,
    PSEUDONYMS,
    TEXT_VRS,
    Replacer,
    is_clean,
    is_dummy,
    is_new_uid,
    is_registry_uid,
    values_of,
)
from deident.findings import Action, Finding, Reason

# Attributes not in Table E.1-1, by VR: "D" dates become dummies (or are shifted with option 113107); UIDs
# get the keyed new UID as the table's U rows do (consistent across files; registry UIDs stay).
BY_VR = {"DA": "D", "DT": "D", "PN": "Z", "UI": "U"}
# (tag mask, action, why) for what the table names only in part; masks as in profile.csv.
BY_GROUP = (
    ("60xxxxxx", "X", "overlay group (60xx): overlays can carry burned-in annotation"),
    ("50xxxxxx", "X", "curve group (50xx, retired)"),
    ("xxxx0000", "X", "group length: recomputed or omitted on write"),
)


@dataclass(frozen=True)
class Unlisted:
    """One row of ``unlisted.csv``: an attribute (or a mask) Table E.1-1 does not list, and its action."""

    mask: str  # 8 hex digits, "x" matching any digit (as profile.csv)
    keyword: str
    action: str  # X Z D K U
    why: str


UNLISTED_ACTIONS = frozenset("XZDKU")


@cache
def unlisted_rules() -> tuple[Unlisted, ...]:
    """The rows of ``unlisted.csv``; an action outside ``UNLISTED_ACTIONS`` is a packaging error."""
    text = resources.files("deident.dicom").joinpath("unlisted.csv").read_text("utf-8")
    rows = csv.DictReader(ln for ln in text.splitlines() if not ln.startswith("#"))
    rules = tuple(Unlisted(r["tag"].lower(), r["keyword"], r["action"], r["why"]) for r in rows)
    bad = [r.keyword for r in rules if r.action not in UNLISTED_ACTIONS]
    if bad:
        raise ValueError(f"unlisted.csv: unknown action for {', '.join(bad)}")
    return rules


def unlisted_rule(tag: int) -> Unlisted | None:
    return next((r for r in unlisted_rules() if mask_matches(r.mask, tag)), None)


ACTION_VERB = {"X": "removed", "Z": "emptied", "D": "replaced by a dummy", "U": "new UID", "C": "cleaned",
               "S": "date shifted", "P": "pseudonym"}  # fmt: skip


def group_rule(tag: int) -> tuple[str, str] | None:
    for mask, action, why in BY_GROUP:
        if mask_matches(mask, tag):
            return action, why
    return None


def element_finding(tag: int, keyword: str, where: str, action: Action, detail: str) -> Finding:
    """A finding about one element, with what it holds in the report's words."""
    private = (tag >> 16) & 1
    reason = Reason.DICOM_FIELDS if private else reason_of(keyword)
    return Finding("dicom", kind_of(tag, keyword), where, action, detail, reason=reason)


def reason_of(keyword: str) -> Reason:
    """What an attribute holds, in the report's words, from its keyword."""
    if not keyword:
        return Reason.DICOM_FIELDS
    if keyword == "PatientIdentityRemoved":
        return Reason.NOT_MARKED
    if keyword == "BurnedInAnnotation":
        return Reason.PIXELS_UNVERIFIED
    if keyword.startswith(("Patient", "OtherPatient")):
        return Reason.DICOM_PATIENT
    if keyword.endswith(("Date", "Time", "DateTime")):
        return Reason.DICOM_DATES
    if keyword.endswith("UID"):
        return Reason.DICOM_UIDS
    return Reason.DICOM_FIELDS


def kind_of(tag: int, keyword: str) -> str:
    if (tag >> 16) & 1:
        return "dicom.private"
    return "dicom." + (keyword or f"({tag >> 16:04X},{tag & 0xFFFF:04X})")


def vr_of(ds, key) -> str:
    """The element's VR as pydicom hands its value over: the dictionary's for an implicit VR, and for an
    explicit UN whose tag the dictionary knows (pydicom converts those values on access; taken as UN, a
    UN-encoded StudyInstanceUID was kept as "bytes" and the written file refused).

    ``key``: the dataset's own tag object (``tags``), or an int."""
    raw = ds.get_item(key)
    vr = str(getattr(raw, "VR", None) or "")
    return vr if vr and vr != "UN" else _dictionary_vr(int(key))


def tags(ds) -> list:
    """The dataset's tags, in its order, as the very objects its elements are held under: looked up by
    these (``ds[key]``, ``ds.get_item(key)``), pydicom neither builds a Tag from an int nor compares the
    two in Python, 1 us a lookup and some 600 lookups a file (scrub and re-check). Anything else
    (caches, sets, masks) takes ``int(key)``: a tag object compared with an int goes through Python too."""
    return list(ds.keys())


@cache
def _dictionary_vr(tag: int) -> str:
    """The VR of an implicit-VR element: the dictionary's first choice, UN when unknown."""
    from pydicom.datadict import dictionary_VR

    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN"


def foreign_vr(ds, key) -> str:
    """The element's explicit VR when the dictionary does not allow it for this standard tag, else "".

    Private and unknown tags have no dictionary VR; an explicit UN is read by the dictionary's (``vr_of``),
    and an implicit element has the VR pydicom gave it ("OB or OW" when the dictionary lists two).
    """
    raw = ds.get_item(key)
    tag = int(key)
    if (tag >> 16) & 1 or getattr(raw, "is_implicit_VR", False):
        return ""
    vr = str(getattr(raw, "VR", None) or "")
    allowed = _allowed_vrs(tag)
    return "" if not vr or vr == "UN" or " or " in vr or not allowed or vr in allowed else vr


@cache
def _allowed_vrs(tag: int) -> frozenset[str]:
    """Every VR the dictionary lists for a tag ("US or SS or OW" lists three); empty when it is unknown."""
    from pydicom.datadict import dictionary_VR

    try:
        return frozenset(dictionary_VR(tag).split(" or "))
    except KeyError:
        return frozenset()


FOREIGN_VR = "explicit VR {} is not one the dictionary allows for this attribute"
TOO_MANY = "{} values where the dictionary allows at most {}"
# An age kept (Retain Patient Characteristics) over 89 years identifies as a date would (HIPAA Safe Harbor:
# "90 or older"); the sweep cut "97 year old" from free text while PatientAge kept "097Y".
AGE_90 = "090Y"  # the one category of every age over 89
AGE_OVER_89 = f"age over 89 years, not written as {AGE_90} (90 or older)"
AGE_CAPPED = f"age over 89 years written as {AGE_90} (90 or older)"
_AGE = re.compile(r"\s*(\d{1,4})\s*([DWMY]?)\s*", re.I)  # written loosely too ("45Y", "45": years)
_DAYS_IN = {"D": 1, "W": 7, "M": 365.25 / 12, "Y": 365.25}


def over_89(value) -> bool:
    """An AS value over 90 years, the category every age over 89 goes into ("097Y", "1100M", "4700W");
    an unreadable one is judged so."""
    for v in values_of(value):
        m = _AGE.fullmatch(str(v))
        if not m:
            return bool(str(v).strip())
        if int(m.group(1)) * _DAYS_IN[m.group(2).upper() or "Y"] > 90 * 365.25:
            return True
    return False


# A standard-group tag the DICOM dictionary does not define: no reader knows what it is, so nothing needs it,
# and its text was kept and only swept ("Jane Roe seen" in (0008,9998) LO went to every reader). pydicom's
# 230 test files hold none outside the overlay and curve groups, which have rules of their own.
UNKNOWN_TAG = "not an attribute of the DICOM dictionary: no reader needs it"
# Binary numeric VRs and the size of one value: no sweep reads their bytes, only their count limits them.
NUMERIC_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "AT": 4, "FD": 8, "SV": 8, "UV": 8}


def unfit(ds, key) -> str:
    """Why a standard element is not in a form its dictionary entry allows, else "": an explicit VR it does
    not allow (``foreign_vr``), or a binary number VR holding more values than its multiplicity allows
    (TagAngleSecondAxis, VM 1, written as 14 SS values carried 28 bytes of a name that pydicom and ExifTool
    list). Either way the element is removed (by its VR the sweep reads no such bytes) and check flags it."""
    foreign = foreign_vr(ds, key)
    if foreign:
        return FOREIGN_VR.format(foreign)
    tag = int(key)
    if (tag >> 16) & 1:
        return ""
    vr = vr_of(ds, key)
    size = NUMERIC_SIZES.get(vr)
    limit = _max_values(tag) if size else None
    if limit is None:
        return ""
    raw = ds.get_item(key)
    value = getattr(raw, "value", None)
    count = len(value) // size if isinstance(value, bytes) else ds[key].VM
    return TOO_MANY.format(count, limit) if count > limit else ""


@cache
def _max_values(tag: int) -> int | None:
    """The most values the dictionary's multiplicity allows ("1-2" -> 2, "16" -> 16); None when it has no
    bound ("1-n", "2-2n") or the tag is unknown."""
    from pydicom.datadict import dictionary_VM

    try:
        vm = dictionary_VM(tag)
    except KeyError:
        return None
    top = vm.split("-")[-1]
    return int(top) if top.isdigit() else None


@cache
def action_for(
    tag: int, vr: str, keyword: str, columns: tuple[str, ...], within: str = ""
) -> tuple[str, str]:
    """(action, why) for one element (``within``: the enclosing sequence's keyword, "" at top level); the
    pseudonymised attributes report "P" for Z and D."""
    special = group_rule(tag)
    if special:
        return special
    rule: Rule | None = load_profile().rule_for(tag)
    unlisted = unlisted_rule(tag) if rule is None else None
    if rule is not None:
        action, why = resolve(rule, columns), f"PS3.15 {rule.basic}"
    elif unlisted is not None:
        action, why = unlisted.action, unlisted.why
    elif not (tag >> 16) & 1 and not _allowed_vrs(tag):
        return "X", UNKNOWN_TAG
    elif vr in BINARY_ONLY_VRS and kept(tag, within) is None:
        return "X", f"{vr} value not listed in Table E.1-1, not needed for display"
    else:
        action, why = BY_VR.get(vr, "K"), f"{vr} value not listed in Table E.1-1"
    if action == "D" and vr in DATE_VRS and "rtnLongModifDatesOpt" in columns:
        action = "S"
    if action in ("Z", "D") and keyword in PSEUDONYMS:
        action = "P"
    return action, why


def where(path: str, tag: int, keyword: str) -> str:
    here = f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword or 'Unknown'}".rstrip()
    return f"{path} > {here}" if path else here


@cache
def _keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return "" if (tag >> 16) & 1 else keyword_for_tag(tag)


def _kept_change(ds, key, vr: str, path: str, kw: str, within: str, fix: bool) -> tuple[Action, str] | None:
    """What an element the profile keeps still needs (with ``fix``, gets), as (action, detail): an age
    over 89 written as 90 or older, or its binary handling (``binary.handle``); None when nothing."""
    if vr == "AS" and over_89(ds[key].value):
        if fix:
            ds[key].value = AGE_90
            return Action.REPLACED, AGE_CAPPED
        return Action.FOUND, AGE_OVER_89
    tag = int(key)
    keep = kept(tag, within)
    return handle(ds, keep, where(path, tag, kw), fix=fix) if keep else None


@dataclass
class Scrubber:
    """Applies the resolved action to every element of a dataset and its sequences."""

    replacer: Replacer
    columns: tuple[str, ...]

    def scrub(self, ds, path: str = "", within: str = "") -> list[Finding]:
        out: list[Finding] = []
        for key in tags(ds):
            tag = int(key)
            kw = _keyword(tag)
            foreign = unfit(ds, key)
            if foreign:
                del ds[key]
                detail = f"removed ({foreign})"
                out.append(element_finding(tag, kw, where(path, tag, kw), Action.REMOVED, detail))
                continue
            vr = vr_of(ds, key)
            action, why = action_for(tag, vr, kw, self.columns, within)
            if action == "K" and vr != "SQ":
                changed = _kept_change(ds, key, vr, path, kw, within, fix=True)
                if changed:
                    out.append(element_finding(tag, kw, where(path, tag, kw), *changed))
                continue
            loc = where(path, tag, kw)
            if action == "X":
                del ds[key]
                out.append(element_finding(tag, kw, loc, Action.REMOVED, f"removed ({why})"))
                continue
            if vr == "SQ":
                out += self._sequence(ds, key, action, why, loc)
                continue
            elem = ds[key]
            new = self._replace(elem.value, vr, action, kw)
            if new != elem.value:
                elem.value = new
                detail = f"{ACTION_VERB[action]} ({why})"
                out.append(element_finding(tag, kw, loc, Action.REPLACED, detail))
        return out

    def _sequence(self, ds, key, action: str, why: str, loc: str) -> list[Finding]:
        elem, tag = ds[key], int(key)
        if action in ("Z", "D", "P"):  # a sequence has no safe dummy content: the empty sequence is the dummy
            if len(elem.value):
                elem.value = []
                return [element_finding(tag, _keyword(tag), loc, Action.REPLACED, f"emptied ({why})")]
            return []
        out: list[Finding] = []
        for i, item in enumerate(elem.value):
            out += self.scrub(item, f"{loc}[{i}]", _keyword(tag))
        return out

    def _replace(self, value, vr: str, action: str, keyword: str):
        if action == "P":
            return self.replacer.pseudonym(keyword)
        if vr in BINARY_VRS:
            return b"" if action in ("Z", "D", "C", "S") else value  # an encoded timestamp cannot be shifted
        if action == "Z" or value in (None, ""):
            return None if vr not in TEXT_VRS | {"PN", "DA", "DT", "TM", "UI", "AE", "AS"} else ""
        return _map(value, lambda v: self._one(v, vr, action))

    def _one(self, value, vr: str, action: str):
        if vr == "UI" and action in ("U", "D"):
            return value if is_registry_uid(str(value)) else self.replacer.uid(str(value))
        if action == "S":
            return self.replacer.shift(vr, str(value)) if vr in DATE_VRS else value
        if action == "C":
            if vr in DATE_VRS:
                return self.replacer.shift(vr, str(value))
            if vr in TEXT_VRS or vr in ("AE", "PN"):
                return self.replacer.clean(vr, str(value))
        return DUMMY.get(vr, "")


def _map(value, fn):
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        return [fn(v) for v in value]
    return fn(value)


def _empty(value) -> bool:
    return value is None or value == "" or value == b"" or (hasattr(value, "__len__") and len(value) == 0)


# ---------------------------------------------------------------- audit


def claimed_columns(ds) -> tuple[str, ...]:
    """Options a de-identified file records; an input that does not claim de-identification gets none."""
    codes = {str(getattr(item, "CodeValue", "")) for item in ds.get("DeidentificationMethodCodeSequence", [])}
    if str(ds.get("PatientIdentityRemoved", "")).upper() != "YES" or "113100" not in codes:
        return ()
    return columns_for_codes(codes)


def audit(ds, columns: tuple[str, ...], path: str = "", within: str = "") -> list[Finding]:
    """Every element whose value is not what the profile (under ``columns``) leaves behind."""
    out: list[Finding] = []
    for key in tags(ds):
        tag = int(key)
        kw = _keyword(tag)
        foreign = unfit(ds, key)
        if foreign:
            out.append(element_finding(tag, kw, where(path, tag, kw), Action.FOUND, foreign))
            continue
        vr = vr_of(ds, key)
        action, why = action_for(tag, vr, kw, columns, within)
        if tag & 0xFFFF == 0:  # group lengths are structure, not identity
            continue
        if action == "K" and vr != "SQ":
            changed = _kept_change(ds, key, vr, path, kw, within, fix=False)
            if changed:
                out.append(element_finding(tag, kw, where(path, tag, kw), Action.FOUND, changed[1]))
            continue
        loc = where(path, tag, kw)
        try:
            value = ds[key].value
        except Exception:  # an unparseable value cannot be shown to be clean
            out.append(element_finding(tag, kw, loc, Action.FOUND, f"unreadable value ({why})"))
            continue
        if vr == "SQ":
            if action == "X" or (action in ("Z", "D", "P") and len(value)):
                detail = f"sequence of {len(value)} items ({why})"
                out.append(element_finding(tag, kw, loc, Action.FOUND, detail))
            elif action not in ("Z", "D", "P"):
                for i, item in enumerate(value):
                    out += audit(item, columns, f"{loc}[{i}]", kw)
            continue
        problem = _problem(value, vr, action, kw)
        if problem:
            out.append(element_finding(tag, kw, loc, Action.FOUND, f"{problem} ({why})"))
    return out


def _problem(value, vr: str, action: str, keyword: str) -> str:
    if _empty(value) or (action == "S" and vr not in BINARY_VRS):
        return ""
    size = f"{len(value) if hasattr(value, '__len__') else 1} {'bytes' if vr in BINARY_VRS else 'chars'}"
    values = [str(v) for v in values_of(value)]
    if action == "P":
        ok = all(PSEUDONYMS[keyword][1].fullmatch(v.strip()) for v in values)
        return "" if ok else f"value present, not a pseudonym ({size})"
    if action == "X" or action == "Z":
        return f"value present ({size})"
    if vr == "UI" and action in ("U", "D"):
        return "" if all(is_new_uid(v) or is_registry_uid(v) for v in values) else f"original UID ({size})"
    if action == "D":
        dummy = all(is_dummy(vr, v) for v in values_of(value))
        return "" if dummy else f"value present, not a dummy ({size})"
    if action == "C":
        return "" if all(is_clean(vr, v) for v in values) else f"free text not cleaned ({size})"
    return ""
