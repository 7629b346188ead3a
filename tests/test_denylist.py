"""The batch deny-list: spellings, OCR confusions, stop rules, hashed persistence, file-name collection."""

from __future__ import annotations

import random
import re
import string
import time
from pathlib import Path

import pytest

from deident.denylist import DenyList, collect_from_path, looks_identifying, term_variants
from deident.keys import Keyring
from support import textsynth as ts
from support.textsynth import HARMLESS, lines_image

PATIENT = ["SMITH^JOHN^QUINCY", "20120109", "00123456", "S17-04522"]


@pytest.fixture(scope="module")
def deny() -> DenyList:
    return DenyList(PATIENT)


@pytest.mark.parametrize(
    "text",
    [
        "Patient: John Smith",
        "SMITH, JOHN",
        "Smith John Q",
        "J. Smith",
        "J SMITH",
        "SMlTH J0HN",  # OCR: l for I, 0 for O
        "5MITH",  # OCR: 5 for S
        "John Quincy Smith",
        "JQS",
        "seen by J.S. today",
        "DOB 2012-01-09",
        "09.01.2012",
        "01/09/2012",
        "9/1/2012",
        "09-Jan-2012",
        "Jan 9, 2012",
        "9 January 2012",
        "2O12O1O9",  # OCR: O for 0
        "ID 123456",  # leading zeros dropped
        "ID: 00123456",
        "MRN00123456",  # glued to its prefix
        "S17 04522",
        "S1704522",
        "Sl7-O4522",
        "ACC: s17-04522",
    ],
)
def test_variants_match(deny: DenyList, text: str) -> None:
    assert deny.matches(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Portable",
        "L",
        "R",
        "H&E",
        "CD20",
        "Semi-Upright AP",
        "Smithson",  # a longer word is not the surname
        "2012",
        "1234567",  # another number that merely contains part of the ID
        "9123456",
        "JSX",
        "js",  # initials only as an upper-case whole word
        "Ki-67 40x",
        "Jan 10, 2012",
    ],
)
def test_harmless_text_never_matches(deny: DenyList, text: str) -> None:
    assert not deny.matches(text), text


def test_common_words_never_become_terms() -> None:
    weak = DenyList(["M", "F", "YES", "CT", "12", "123", "L", "AP", "HE", "Portable", "CD20", "H&E", ""])
    assert len(weak) == 0
    for text in ["Portable", "L", "H&E", "CD20", "CT chest", "M 12 YES", "AP view", "he said"]:
        assert not weak.matches(text)


def test_initials_need_two_parts_and_skip_abbreviations() -> None:
    assert not DenyList(["ADAMS^PETER"]).matches("AP view")  # "AP" is a stop initial
    assert DenyList(["KOCH^MARIA"]).matches("MK 2012")
    assert not DenyList(["MADONNA"]).matches("M")


def test_find_returns_spans_in_the_original_text(deny: DenyList) -> None:
    text = "Name: Smith, John   seen 09-Jan-2012 (portable)"
    spans = deny.find(text)
    pieces = [text[a:b] for a, b in spans]
    assert pieces == ["Smith, John", "09-Jan-2012"]


def test_term_variants_cover_the_documented_spellings() -> None:
    names = {v.upper() for v in term_variants("DOE^JANE^ANN")}
    assert {"JANE DOE", "DOE JANE", "DOE, JANE", "J DOE", "J. DOE"} <= names
    dates = term_variants("20170304")
    assert {"2017-03-04", "04.03.2017", "03/04/2017", "3/4/2017", "04-MAR-2017", "MAR 4, 2017"} <= dates
    assert "12345" in term_variants("0012345")


def test_hashed_persistence_round_trip(deny: DenyList, keyring: Keyring) -> None:
    hashes = deny.hashed(keyring)
    assert len(hashes) == len(deny)
    blob = "\n".join(hashes)
    for clear in ("SMITH", "JOHN", "123456", "2012"):
        assert clear not in blob
    restored = DenyList.from_hashes(hashes, keyring)
    for text in ["SMlTH, J0HN", "Jan 9, 2012", "MRN00123456", "J.S.", "Portable", "CD20", "2012"]:
        assert restored.find(text) == deny.find(text), text
    assert restored.hashed(keyring) == hashes
    other = DenyList.from_hashes(hashes, Keyring(b"another-key-another-key-0123456"))
    assert not other.matches("John Smith")


def test_looks_identifying() -> None:
    for value in ["MRN12345", "S17-04522", "2017-03-04", "00123456", "SMITH^JOHN"]:
        assert looks_identifying(value), value
    for value in ["https://example.org", "LOT 42", "H&E", "CD20"]:
        assert not looks_identifying(value), value


def test_collect_from_path() -> None:
    path = Path("/data/SMITH_John/2017-03-04/S17-04522 slide MRN12345 IMG_20170304_123456.jpg")
    found = collect_from_path(path)
    for expected in ["SMITH^John", "2017-03-04", "S17-04522", "MRN12345", "123456"]:
        assert expected in found
    assert collect_from_path(Path("/scans/CT_HEAD/Case_Study/DSC_0001.jpg")) == []
    assert DenyList(found).matches("Label: John SMITH 04.03.2017")


@pytest.mark.parametrize(
    "name, person",
    [
        ("RGB_ORIGINAL.png", None),  # presidio's test images: a colour space and an ordinary word
        ("FINAL_COPY.jpg", None),  # two ordinary words
        ("GREEN_JOHN.jpg", "GREEN^JOHN"),  # a colour, but more often a surname
        ("JONES_Hope.jpg", "JONES^Hope"),  # an ordinary word as given name, after a surname
        ("PLANTEDNAME_ZORRO.jpg", "PLANTEDNAME^ZORRO"),  # unknown words: a name (fails closed)
    ],
)
def test_a_name_shape_of_two_ordinary_words_is_no_person(name: str, person: str | None) -> None:
    assert collect_from_path(Path(name)) == ([person] if person else [])


def test_thousand_terms_over_ten_thousand_lines(capsys) -> None:
    """Performance sanity: measured and printed, not asserted (the machine is shared)."""
    rng = random.Random(7)
    terms = [
        "".join(rng.choice(string.ascii_uppercase) for _ in range(7))
        + "^"
        + "".join(rng.choice(string.ascii_uppercase) for _ in range(5))
        for _ in range(500)
    ] + [str(rng.randrange(10**6, 10**9)) for _ in range(500)]
    deny = DenyList(terms)
    lines = [
        " ".join(
            rng.choice(["Portable", "AP", "L", "CD20", "H&E", str(rng.randrange(10**4))]) for _ in range(6)
        )
        for _ in range(10_000)
    ]
    hit_family = terms[3].split("^")[0]
    lines[500] = f"Patient {hit_family} seen"
    start = time.perf_counter()
    hits = sum(deny.matches(line) for line in lines)
    elapsed = time.perf_counter() - start
    assert hits >= 1
    with capsys.disabled():
        print(f"\ndeny-list: {len(deny)} keys from 1000 terms, 10000 lines in {elapsed:.2f} s, {hits} hits")


# ---------------------------------------------------------------- a real batch through the pipeline

# Burned into the pixels of *other* files than the one whose header holds the value (name DAVIDSON^DOUGLAS,
# ID 00482913, study date 2012-01-09), in the spellings scanners and people print.
BURNED = {
    "b.dcm": ["DAVIDSON^DOUGLAS", "Douglas Davidson", "Portable"],
    "c.dcm": ["DAVIDSON, DOUGLAS", "davidson douglas", "L"],
    "d.dcm": ["DD 01.09.2012", "2012-01-09", "09-Jan-2012"],
    "e.dcm": ["DAV1DS0N D0UGLA5", "ID 0O482913", "H&E"],
}
PHOTO_LINES = ["Anna KOWALSKI", "H&E 40x"]  # the name is known only from the photo's folder


def _dicom_file(path: Path, name: str, pid: str, date: str, pixels) -> None:
    from support.dicom import secondary_capture

    secondary_capture(path, pixels, PatientName=name, PatientID=pid, StudyDate=date)


def _box(where: str) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = re.search(r"box (-?[\d.]+),(-?[\d.]+)-(-?[\d.]+),(-?[\d.]+)", where).groups()
    return float(x0), float(y0), float(x1), float(y1)


def _covers(box, line) -> bool:
    """A finding's box holds most of the line's ink."""
    ys, xs = line.ink.nonzero()
    xs, ys = xs + line.x, ys + line.y
    inside = (xs >= box[0]) & (xs <= box[2]) & (ys >= box[1]) & (ys <= box[3])
    return inside.mean() > 0.5


@pytest.mark.slow
def test_batch_deny_list_redacts_every_spelling_in_phi_mode(tmp_path: Path) -> None:
    """DICOM headers and a folder name feed the deny-list; other files' pixels are searched for them."""
    import numpy as np
    import pydicom
    from PIL import Image

    from deident.batch import scrub_paths
    from deident.findings import Status
    from deident.options import FaceMode, Options, TextMode

    root = tmp_path / "batch"
    (root / "ct").mkdir(parents=True)
    plain = np.full((256, 256), 30, np.uint8)
    _dicom_file(root / "ct" / "a.dcm", "DAVIDSON^DOUGLAS", "00482913", "20120109", plain)
    samples = {}
    for i, (name, texts) in enumerate(BURNED.items()):
        samples[name] = lines_image(texts, i, grey=True)
        _dicom_file(
            root / "ct" / name, "OTHER^PERSON", f"9{i}7", "20200202", samples[name].rgb[..., 0].copy()
        )
    (root / "KOWALSKI_Anna").mkdir()
    photo = lines_image(PHOTO_LINES, 9, grey=False)
    Image.fromarray(photo.rgb).save(root / "KOWALSKI_Anna" / "slide.png")

    out = tmp_path / "out"
    # the folder name identifies on purpose (a deny-list source): kept, as --keep-names says
    options = Options(text=TextMode.PHI, faces=FaceMode.OFF, jobs=1, output_dir=out, keep_names=True)
    results = {Path(r.input).name: r for r in scrub_paths([root], options)}
    assert all(r.status is Status.SAFE for r in results.values()), [
        (r.input, r.reason) for r in results.values()
    ]

    def written(name: str) -> np.ndarray:
        if name.endswith(".dcm"):
            return np.dstack([pydicom.dcmread(out / "ct" / name).pixel_array.astype(np.uint8)] * 3)
        return np.asarray(Image.open(out / "KOWALSKI_Anna" / name).convert("RGB"))

    missed, hidden_harmless, unlisted = [], [], []
    for name, sample in [*samples.items(), ("slide.png", photo)]:
        after = written(name)
        listed = [
            _box(f.where)
            for f in results[name].findings
            if f.stage == "text" and "listed identifier" in f.detail
        ]
        for line in sample.lines:
            if line.text in HARMLESS:
                if not ts.leaked(line, sample.rgb, after):
                    hidden_harmless.append((name, line.text))
                continue
            if ts.leaked(line, sample.rgb, after):
                missed.append((name, line.text))
            if not any(_covers(box, line) for box in listed):
                unlisted.append((name, line.text))
        # (a "filename" finding's where is the input path the user gave: only what deident adds counts)
        report = " ".join(
            f.detail + ("" if f.stage == "filename" else f.where) for f in results[name].findings
        )
        assert (
            "DAVIDSON" not in report.upper() and "KOWALSKI" not in report.upper() and "482913" not in report
        )
    # Nothing written holds a deny-list value in clear (no list is persisted beside the outputs either).
    written_files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written_files == ["KOWALSKI_Anna/slide.png", *(f"ct/{n}" for n in ("a.dcm", *BURNED))]
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes().upper()
            assert not any(v in data for v in (b"DAVIDSON", b"DOUGLAS", b"KOWALSKI", b"482913")), path
    assert missed == []  # every appearance is redacted...
    assert unlisted == []  # ...and reported as a deny-list match (not only by the generic PHI rules)
    assert hidden_harmless == []  # stains, "Portable" and "L" stay legible


def test_a_terms_keys_are_worked_out_once_per_process(monkeypatch):
    """Every DICOM file builds a list of its own identifiers; the files of a batch repeat them."""
    from deident import denylist

    parsed = []
    parse = denylist._parse_date
    monkeypatch.setattr(denylist, "_parse_date", lambda v: parsed.append(v) or parse(v))
    terms = ("Quixotesque^Dulcinella", "MRN-7788991", "19610214")
    first, second = denylist.DenyList(terms), denylist.DenyList(terms)
    assert len(parsed) <= len(terms)  # the second list parsed nothing again
    for text in ("seen by Dulcinella Quixotesque", "MRN 7788991", "14.02.1961"):
        assert first.find(text) == second.find(text) != []


@pytest.mark.slow
def test_an_ultrasound_keeps_its_maker_s_name_when_the_header_gives_it_as_institution(tmp_path: Path) -> None:
    """OBXXXX1A.dcm of ../shared's real-world set: InstitutionName "Philips Healthcare" (Manufacturer
    "Philips Medical Systems") made the maker's name burned into the picture a deny-list term, and
    --text phi filled it; the patient's name beside it must still go."""
    import numpy as np
    import pydicom

    from deident.batch import scrub_paths
    from deident.findings import Status
    from deident.options import FaceMode, Options, TextMode
    from support.dicom import secondary_capture

    sample = lines_image(["Philips Healthcare", "DAVIDSON Douglas"], 3, grey=True)
    secondary_capture(
        tmp_path / "us.dcm",
        sample.rgb[..., 0].copy(),
        PatientName="DAVIDSON^DOUGLAS",
        InstitutionName="Philips Healthcare",
        Manufacturer="Philips Medical Systems",
    )
    options = Options(text=TextMode.PHI, faces=FaceMode.OFF, jobs=1, output_dir=tmp_path / "out")
    (result,) = scrub_paths([tmp_path / "us.dcm"], options)
    assert result.status is Status.SAFE, result.reason
    after = np.dstack([pydicom.dcmread(result.output).pixel_array.astype(np.uint8)] * 3)
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, after)}
    assert visible == {"Philips Healthcare"}


def test_a_given_name_alone_is_a_whole_word_term_unless_an_ordinary_word() -> None:
    """EILEEN, EVA and JANE alone are terms; WILL and MAY are ordinary words (the text stage's judgement)
    and stay; a PN's prefix and suffix (MRS, III) are never terms alone; a given name is matched as one
    whole token only, never joined from pieces or inside a longer word."""
    deny = DenyList(["SMITH^EILEEN", "JONES^WILL^MAY", "POE^EVA^^MRS^III", "Jane Doe"])

    def found(text: str) -> list[str]:
        return [text[a:b] for a, b in deny.find(text)]

    assert found("Eileen follow-up") == ["Eileen"]
    assert found("call EILEEN, then Jane") == ["EILEEN", "Jane"]
    assert found("Eva seen") == ["Eva"]
    assert found("Evans, E VA, Evan") == []
    assert found("will review, may call") == []
    assert found("Mrs III grade") == []
    assert found("Smith") == ["Smith"]  # the family name alone, as before


def test_each_part_of_a_family_name_of_several_parts_is_a_term_alone() -> None:
    """GARCIA LOPEZ, SMITH-JONES and VAN DER BERG: each part of 4+ letters alone, as a person is called by
    one; the particles and a part of three letters (LI of LI-WANG) are no term."""
    deny = DenyList(["GARCIA LOPEZ^MARIA", "SMITH-JONES^ANNABEL", "VAN DER BERG^ANNA", "LI-WANG^MEI"])

    def found(text: str) -> list[str]:
        return [text[a:b] for a, b in deny.find(text)]

    assert found("Sra. Garcia seen, Lopez") == ["Garcia", "Lopez"]
    assert found("Mrs Jones seen, Smith") == ["Jones", "Smith"]
    assert found("Dr Berg, van der Wal") == ["Berg"]
    assert found("Wang") == ["Wang"] and found("Li") == []


# (the patient's DICOM name, a text that writes it as its script does: no space between the parts)
WITHOUT_SPACES = [
    ("山田^太郎", "山田太郎の検査", "山田太郎"),  # Japanese: family then given, in one run with the text
    ("王^小明", "患者：王小明，胸部", "王小明"),  # Chinese: a one-character family name
    ("홍^길동", "홍길동님 검사", "홍길동"),  # Korean: an honorific glued to the name
]


@pytest.mark.parametrize(("name", "text", "found"), WITHOUT_SPACES)
def test_a_name_in_a_script_written_without_spaces_is_found_inside_its_run(name, text, found) -> None:
    """A whole run of kanji, hanzi or hangul was one token, so '山田太郎の検査' never met the key of
    山田^太郎 and kept DICOM text (and --text phi) kept the name; each such character is now a token."""
    spans = DenyList([name]).find(text)
    assert [text[a:b] for a, b in spans] == [found]


def test_no_initials_and_no_short_keys_from_characters_of_such_scripts() -> None:
    deny = DenyList(["王^小明"])
    assert deny.find("王 先生") == [] and deny.find("小明") == []  # one character, a given name alone
    assert not any(v.startswith("#") for v in term_variants("王^小明"))
