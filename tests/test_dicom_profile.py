"""The shipped Table E.1-1: generated from the standard's data, and every row honoured by the scrub."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from deident.dicom import generate_profile
from deident.dicom.profile import load_profile
from deident.dicom.scrub import Scrubber
from deident.dicom.values import PSEUDONYMS, Replacer, clean_text
from support.dicom import context

# One identifying-looking value per VR (the test's own, not the implementation's dummies).
SAMPLE = {
    "AE": "CTSCANNER7", "AS": "047Y", "CS": "QUIXOTE", "DA": "20230317", "DS": "72.5", "DT": "20230317101500",
    "FD": 72.5, "FL": 72.5, "IS": "778899", "LO": "Quixote Dulcinea 778899", "LT": "Seen by Dr Quixote",
    "PN": "Quixote^Dulcinea", "SH": "QX-778899", "SL": -7788, "SS": -77, "ST": "Quixote chest 2023",
    "TM": "101500", "UC": "Quixote", "UI": "1.2.826.0.1.3680043.99.778899", "UL": 778899, "UR": "http://q.example/x",
    "US": 7788, "UT": "Quixote free text", "OB": b"QUIXOTE!", "OW": b"QUIXOTE!", "UN": b"QUIXOTE!",
    "OD": b"QUIXOTE!", "OF": b"QUIXOTE!", "OL": b"QUIXOTE!", "SV": -77, "UV": 77,
}  # fmt: skip
PATIENT = "MRN-778899"
OPTIONS_ALL = dict(retain_long_modified_dates=True, retain_patient_characteristics=True,
                   retain_device_identity=True, clean_descriptors=True)  # fmt: skip
OPTION_COLUMNS = {"rtnLongModifDatesOpt", "rtnPatCharsOpt", "rtnDevIdOpt", "cleanDescOpt"}


def concrete(key: str) -> int:
    """A real tag for a table row: masks expanded into an even repeating group, private -> odd group."""
    if key == "private":
        return 0x00111001
    if key == "50xxxxxx":
        return 0x50023000
    return int(key.replace("xx", "02", 1).replace("x", "0"), 16)


def dataset_with(tag: int) -> tuple[Dataset, str, object]:
    ds = Dataset()
    ds.PatientID = PATIENT
    if tag == 0x00111001:
        ds.add_new(0x00110010, "LO", "ACME")
        vr = "LO"
    else:
        vr = dictionary_VR(tag).split(" or ")[0]
    if vr == "SQ":
        item = Dataset()
        item.ReferencedSOPInstanceUID = SAMPLE["UI"]
        item.CodeMeaning = "Quixote"
        value = [item]
    else:
        value = SAMPLE[vr]
    ds.add_new(tag, vr, value)
    return ds, vr, value


def outcome(ds: Dataset, tag: int, vr: str, original) -> str:
    """What happened to the attribute, in the standard's vocabulary."""
    if tag not in ds:
        return "X"
    value = ds[tag].value
    if vr == "SQ":
        if not value:
            return "Z"
        uids = [str(i.get("ReferencedSOPInstanceUID", "")) for i in value]
        return "U" if all(u.startswith("2.25.") for u in uids) else "K"
    if value in (None, "", b"") or (hasattr(value, "__len__") and len(value) == 0):
        return "Z"
    if value == original:
        return "K"
    if vr == "UI":
        return "U" if str(value).startswith("2.25.") else "?"
    return "D"


# Which outcomes each Basic code allows (PS3.15 E.1.1: Z and D may both write a dummy; a sequence's
# dummy is the empty sequence; a keyed new UID is a UI dummy; U on a sequence replaces its items' UIDs).
ALLOWED = {
    "X": {"X"}, "Z": {"Z", "D"}, "D": {"D", "Z", "U"}, "U": {"U"}, "X/Z": {"X", "Z"},
    "X/D": {"X", "D", "Z", "U"}, "Z/D": {"Z", "D", "U"}, "X/Z/D": {"X", "Z", "D", "U"},
    "X/Z/U*": {"X", "Z", "U"},
}  # fmt: skip


@pytest.mark.parametrize("rule", load_profile().rules, ids=lambda r: f"{r.key}-{r.keyword}")
def test_every_basic_action(rule):
    tag = concrete(rule.key)
    ds, vr, original = dataset_with(tag)
    ctx = context()
    Scrubber(Replacer(ctx.keyring, PATIENT), ()).scrub(ds)
    got = outcome(ds, tag, vr, original)
    assert got in ALLOWED[rule.basic], (rule.basic, got)
    if got == "D" and vr in SAMPLE and isinstance(original, str):
        assert "QUIXOTE" not in str(ds[tag].value).upper() and "778899" not in str(ds[tag].value)
    if rule.keyword in PSEUDONYMS:
        assert PSEUDONYMS[rule.keyword][1].fullmatch(str(ds[tag].value))
    if rule.key == "private":
        assert 0x00110010 not in ds


@pytest.mark.parametrize(
    "rule", [r for r in load_profile().rules if OPTION_COLUMNS & set(r.options)], ids=lambda r: r.keyword
)
def test_every_option_action(rule):
    tag = concrete(rule.key)
    ds, vr, original = dataset_with(tag)
    ctx = context(**OPTIONS_ALL)
    Scrubber(Replacer(ctx.keyring, PATIENT), tuple(sorted(OPTION_COLUMNS))).scrub(ds)
    actions = {rule.options[c] for c in OPTION_COLUMNS & set(rule.options)}
    value = ds[tag].value if tag in ds else None
    if actions == {"K"}:
        assert value == original
    elif vr in ("DA", "DT") and rule.options.get("rtnLongModifDatesOpt") == "C":
        moved = dt.datetime.strptime(str(value)[:8], "%Y%m%d") - dt.datetime.strptime(original[:8], "%Y%m%d")
        assert moved.days == ctx.keyring.day_offset(PATIENT) != 0
        assert str(value)[8:] == original[8:]
    elif vr in ("TM", "SH") and rule.options.get("rtnLongModifDatesOpt") == "C":
        assert value == original  # whole-day shifts leave the time of day and the time zone as they were
    elif vr in ("OB", "OW") and rule.options.get("rtnLongModifDatesOpt") == "C":
        assert not value  # an encoded timestamp cannot be shifted: removed
    elif vr in ("LO", "LT", "SH", "ST", "UT", "UC", "CS"):
        assert value == clean_text(original) and "Quixote" not in str(value)
    elif vr == "AE":
        assert value != original and "CTSCANNER" not in str(value)
    elif vr == "SQ":
        assert value is not None
    else:
        assert value != original


def test_masks_cover_whole_repeating_groups():
    ds = Dataset()
    ds.PatientID = PATIENT
    for group in (0x6000, 0x601E, 0x5000, 0x5010):
        ds.add_new((group << 16) | 0x0010, "US", 7)
        ds.add_new((group << 16) | 0x3000, "OW", b"\x01\x02")
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091001, "LO", "Quixote")
    Scrubber(Replacer(context().keyring, PATIENT), ()).scrub(ds)
    assert [int(t) for t in ds.keys()] == [0x00100020]  # noqa: SIM118 (keys are tags, not a dict view)


def test_shipped_table_is_generated_from_the_standard(shared_dir, tmp_path):
    source = shared_dir / "dicom" / "confidentiality_profile_attributes.json"
    rows = json.loads(source.read_text())
    profile = load_profile()
    assert profile.edition == "2024b" and len(profile.rules) == len(rows) == 621
    shipped = (generate_profile.OUTPUT).read_text()
    out = tmp_path / "profile.csv"
    assert generate_profile.main([str(source), "-o", str(out)]) == 0
    assert out.read_text() == shipped  # the generator, not a hand edit, produced the table
    by_key = {r.key: r for r in profile.rules}
    for row in rows:
        rule = by_key[generate_profile.tag_key(row["tag"])]
        assert rule.basic == row["basicProfile"]
        assert {k: v for k, v in row.items() if k.endswith("Opt")} == rule.options


def test_unlisted_rows_name_attributes_the_table_does_not_list():
    """unlisted.csv decides only where Table E.1-1 is silent: a row for a listed attribute would never
    apply. Each exact tag's keyword is the dictionary's, and the actions are the table's own codes."""
    from pydicom.datadict import keyword_for_tag

    from deident.dicom.scrub import UNLISTED_ACTIONS, unlisted_rules

    profile = load_profile()
    for row in unlisted_rules():
        assert row.action in UNLISTED_ACTIONS, row
        if "x" not in row.mask:
            tag = int(row.mask, 16)
            assert profile.rule_for(tag) is None, row.keyword
            assert keyword_for_tag(tag) == row.keyword, row
