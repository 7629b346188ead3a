"""Caption identifiers a clinician's note writes and the caption rules kept: names in a "cc:" line, a
signature, a list after a credit or a label, a surname first in capitals ("Patient: WHITCOMBE, Alan",
"WHITCOMBE^ALAN"), an initial without its full stop, "Drs Roe and Das"; an Australian phone number and
postcode, addresses written as France, Spain, Italy and Germany write them; device serials after "SN:",
lot numbers, hospital numbers abbreviated, references, a month joined to its year by a hyphen. Read back
as plain text (and as the bytes of the caption a scrub writes) over several seeds; the clinical words
around them stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from deident.cli import cli
from deident.history.captions import check_caption
from support.captions import assert_fuzzed_to, assert_gone_and_kept

# (caption, what must be gone, what must stay)
LEAKS = [
    (
        "cc: Alan Whitcombe; Priya Ramaswamy. Rash on the arm.",
        r"Whitcombe|Ramaswamy|Priya",
        "Rash on the arm",
    ),
    ("cc: Dr. Alan Whitcombe, Priya Ramaswamy", r"Whitcombe|Ramaswamy|Priya", "cc:"),
    ("CC: A. Whitcombe. Rash on the arm.", r"Whitcombe", "Rash on the arm"),
    ("Dictated by A Whitcombe. Rash on the arm.", r"Whitcombe", "Dictated by a colleague"),
    ("Electronically signed by: WHITCOMBE, ALAN", r"WHITCOMBE|ALAN", "signed by"),
    ("Patient: WHITCOMBE, Alan. Rash on the arm.", r"WHITCOMBE|Alan", "Rash on the arm"),
    ("Pt: WHITCOMBE Alan, 67M, rash on the arm.", r"WHITCOMBE|Alan", "rash on the arm"),
    ("PATIENT: ALAN WHITCOMBE\nRash on the arm.", r"WHITCOMBE|ALAN", "Rash on the arm"),
    ("Referring physician: WHITCOMBE^ALAN", r"WHITCOMBE|ALAN", "Referring physician"),
    ("Patients: J. Whitcombe, P. Ramaswamy, K. Nakamura", r"Whitcombe|Ramaswamy|Nakamura", "Patients"),
    ("Surname: Whitcombe, Forename: Alan", r"Whitcombe|Alan", "Forename"),
    ("Images courtesy of Alan Whitcombe and Priya Ramaswamy.", r"Whitcombe|Ramaswamy|Priya", "courtesy of"),
    ("Thanks to Jane Whitcombe, Radiology, for the image.", r"Whitcombe|Jane", "Radiology, for the image"),
    ("Drs Whitcombe and Ramaswamy reviewed the rash.", r"Whitcombe|Ramaswamy", "reviewed the rash"),
    ("Shoutout to Priya Ramaswamy for the slides.", r"Ramaswamy|Priya", "for the slides"),
    ("Great case from my colleague Alan Whitcombe.", r"Whitcombe|Alan", "from my colleague"),
    ("Rash on the arm.\nSigned, Margaret Okonkwo-Bell", r"Okonkwo|Margaret", "Rash on the arm"),
    (
        "Rash on the arm.\n-- Margaret Okonkwo-Bell, Consultant Dermatologist",
        r"Okonkwo|Margaret",
        "Consultant",
    ),
    ("Rash on the arm.\nKind regards,\nPriya Ramaswamy", r"Ramaswamy|Priya", "Rash on the arm"),
    ("Contact: (03) 9123 4567 about the rash.", r"9123|4567", "about the rash"),
    ("Address: 42 Wallaby Way, Sydney NSW 2000. Rash.", r"2000|Wallaby", "NSW"),
    ("Lives at 12 rue de la Paix, 75002 Paris. Rash.", r"Paix|75002|Paris", "Rash"),
    ("Vive en Calle Mayor 3, 28013 Madrid. Rash.", r"Mayor|28013", "Rash"),
    ("Address: Via Roma 12, 00184 Roma. Rash.", r"Roma|00184", "Rash"),
    ("Wohnt Hauptstraße 5, 10115 Berlin. Rash.", r"Hauptstra|10115|Berlin", "Rash"),
    ("Device serial 4471-AB-9921, rash on the arm.", r"4471|9921", "rash on the arm"),
    ("Pacemaker SN: PM1234567, rash on the arm.", r"1234567", "rash on the arm"),
    ("Implant lot number 12345A, rash on the arm.", r"12345", "rash on the arm"),
    ("Hosp no: K123456, rash on the arm.", r"123456", "rash on the arm"),
    ("Our ref: DERM/2023/0451, rash on the arm.", r"0451", "rash on the arm"),
    ("IHI 8003 6012 3456 7890, rash on the arm.", r"6012|7890", "rash on the arm"),
    ("Excised 2023-02. Rash on the arm.", r"2023-02", "Rash on the arm"),
    ("Seen Feb-2023 with a rash on the arm.", r"Feb", "with a rash on the arm"),
    ("Credit: Whitcombe A, Ramaswamy P. Rash on the arm.", r"Whitcombe|Ramaswamy", "Rash on the arm"),
    (
        "Case courtesy of Dr Alan Whitcombe, Radiopaedia.org",
        r"Whitcombe|Alan",
        "a colleague, Radiopaedia.org",
    ),
    ("Patient: Mohammed bin Salman Al-Saud, rash on the arm.", r"Salman|Saud", "rash on the arm"),
    ("Codice fiscale RSSMRA85T10A562S, rash on the arm.", r"RSSMRA|562S", "rash on the arm"),
    ("DNI 12345678Z, rash on the arm.", r"12345678", "rash on the arm"),
    ("Aadhaar 1234 5678 9012, rash on the arm.", r"5678|9012", "rash on the arm"),
    ("Personnummer 19121212-1212, rash on the arm.", r"1212", "rash on the arm"),
    ("CPF 123.456.789-09, rash on the arm.", r"456|789", "rash on the arm"),
    ("Tues 14/2: rash on the arm.", r"14/2", "rash on the arm"),
    ("Age: 93y, rash on the arm.", r"\b93", "90+"),
    ("Seen by Whitcombe and Ramaswamy in clinic.", r"Whitcombe|Ramaswamy", "in clinic"),
    ("Her son (Tom Whitcombe, 0412 345 678) consented.", r"Whitcombe|Tom|0412", "consented"),
    ("NOK - Tom Whitcombe. Rash on the arm.", r"Whitcombe|Tom", "Rash on the arm"),
    ("Skype: alan.whitcombe, rash on the arm.", r"whitcombe", "rash on the arm"),
    ("YOB 1930, rash on the arm.", r"1930", "rash on the arm"),
    ("b. 1930, rash on the arm.", r"1930", "rash on the arm"),
    ("Post-mortem PM23/0451, rash on the arm.", r"0451", "rash on the arm"),
    ("PO Box 1234, Sydney NSW 2001. Rash.", r"1234|2001", "Rash"),
    ("67M, lives alone in Little Snoring.", r"Snoring", "lives alone"),
    ("Patient name - Alan Whitcombe. Rash on the arm.", r"Whitcombe|Alan", "Rash on the arm"),
    ("Patient's name (Alan Whitcombe) withheld.", r"Whitcombe|Alan", "withheld"),
    ("Full name: WHITCOMBE, Alan. Rash on the arm.", r"WHITCOMBE|Alan", "Rash on the arm"),
    ("Name: Whitcombe, Alan   seen 09-Jan-2012 (portable)", r"Whitcombe|Alan", "(portable)"),
    ("Photo: Jane Quixotez. Rash on the arm.", r"Quixotez|Jane", "Rash on the arm"),
    ("Patient: OKONKWO-BELL, Margaret (92y), rash on the arm.", r"OKONKWO|Margaret|\b92", "rash on the arm"),
    ("Lives with her husband in Didsbury. Rash on the arm.", r"Didsbury", "Rash on the arm"),
    ("Former teacher at Burnage High School, rash on the arm.", r"Burnage", "rash on the arm"),
    ("Thanks to our PA Priya Ramaswamy for the rash photo.", r"Ramaswamy|Priya", "for the rash photo"),
    ("Slide courtesy of the Whitcombe lab. Rash on the arm.", r"Whitcombe", "Rash on the arm"),
    ("Figure by A. Whitcombe and P. Ramaswamy. Rash on the arm.", r"Whitcombe|Ramaswamy", "Rash on the arm"),
    ("With permission from J Whitcombe. Rash on the arm.", r"Whitcombe", "Rash on the arm"),
    ("Jane Q., 45F, rash on the arm.", r"Jane", "rash on the arm"),
    # captions in German, French and Spanish: stacked titles and the labels of their forms
    ("Frau Dr. Schmidt hat die Biopsie entnommen.", r"Schmidt", "die Biopsie"),
    ("Befund von Prof. Dr. Weißenfels, Hautklinik.", r"Weißenfels", "Hautklinik"),
    ("Dr. med. Müller-Lüdenscheidt hat untersucht.", r"Müller|Lüdenscheidt", "untersucht"),
    ("Name: Müller, Vorname: Hans. Befund: Basaliom.", r"Müller|Hans", "Basaliom"),
    ("Nom: Dupont Prénom: Jean. Carcinome basocellulaire.", r"Dupont|Jean", "Carcinome"),
    ("Paciente: GARCÍA LÓPEZ, María José. Carcinoma basocelular.", r"GARC|LÓPEZ|María|José", "Carcinoma"),
]


@pytest.mark.parametrize(("text", "gone", "kept"), LEAKS, ids=[t[:32] for t, _, _ in LEAKS])
def test_caption_identifier_goes(text: str, gone: str, kept: str):
    assert_gone_and_kept(text, gone, kept)
    assert check_caption(text), "check must report what a scrub removes"


@pytest.mark.parametrize(
    "text",
    [
        "Regards, Dermatology Team",
        "-- Dermatology Department",
        "Cheers, Radiology",
        "Spitz Naevus, Consultant opinion requested.",
        "Basal Cell Carcinoma, Consultant Dermatologist confirmed.",
        "cc: Dermatology, Plastics",
        "Patient: Male, 45",
        "Patients: Adults and Children",
        "Courtesy of Radiology and Pathology.",
        "Photo courtesy of Jane Roe, CC BY-SA.",
        "Courtesy of UCLH Pathology.",
        "Given via IV line.",
        "Place 2 sutures.",
        "In the 2010-11 season.",
        "Between 2019-2023 she had three flares.",
        "Serial 12-lead ECGs were normal.",
        "SN ratio was poor.",
        "A lot of scale, 2 lots of steroid.",
        "Reference range 3.5-5.0 mmol/L",
        "See reference 12 for details.",
        "Surname unknown.",
        "Drs in training should note this.",
        "A Spitz naevus.",
        "ASA 2, NSW Health guidelines.",
        "VIC 1234 protocol.",
        "Walked 5 km via Hyde Park.",
        "CPR for 20 mins.",
        "CPR 20 min then ROSC.",
        "DNI 48 hours then extubated.",
        "Chi-square 12.5",
        "Mon 1/2 tablet",
        "Seen by Dermatology in clinic.",
        "Referred by GP for a rash.",
        "Mother (G2P1) well.",
        "Consultant - Dermatology",
        "Nurse (night shift) noted it.",
        "Lives alone in a flat.",
        "b. cereus infection",
        "BP 120/80",
        "CD20/45",
        "Box 1 of 3.",
        "Brand name (Dermovate) cream.",
        "Patient name - unknown.",
        "Photo: Axial T2",
        "Photo: Gross specimen",
        "Photo: Biopsy site",
        "Photo: Dermoscopy, Polarised",
        "Image: Axial T2 FLAIR",
        "Lesion (5 yrs) on the arm.",
        "Lives with family in a flat.",
        "Lives with her daughter in Spain.",
        "The resident Medical Officer saw her.",
        "Our PA Program is great.",
        "The Mohs lab processed it.",
        "Thanks to the Radiology team.",
        "Figure by the author.",
        "With permission from BMJ.",
        "Seen by the registrar on call.",
        "Nom: inconnu.",
    ],
)
def test_words_around_the_new_rules_stay(text: str):
    expected = text.replace(", Jane Roe", ", a colleague").replace("of Jane Roe", "of a colleague")
    assert_fuzzed_to(text, expected)


def test_scrub_fuzz_history_writes_no_name_of_a_cc_line_or_signature(tmp_path: Path):
    """The caption a scrub writes beside its output, read back as bytes."""
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "case1.png")
    (source / "case1.txt").write_text(
        "Patient: WHITCOMBE, Alan. Nodular BCC on the nose.\ncc: Priya Ramaswamy; K. Nakamura\n"
        "Kind regards,\nMargaret Okonkwo-Bell\n",
        encoding="utf-8",
    )
    args = ["scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4"]
    result = CliRunner().invoke(cli, [*args, "--text", "off", "--faces", "off", "-j", "1"])
    assert result.exit_code == 0, result.output
    written = (out / "case1.txt").read_bytes()
    for secret in (b"WHITCOMBE", b"Alan", b"Priya", b"Ramaswamy", b"Nakamura", b"Margaret", b"Okonkwo"):
        assert secret not in written, written
    assert b"Nodular BCC on the nose" in written


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("**Patient:** Jane Whitcombe\n**Diagnosis:** Basal cell carcinoma", r"Whitcombe|Jane"),
        ("- **Name**: Jane Whitcombe\n**Diagnosis:** Basal cell carcinoma", r"Whitcombe|Jane"),
        ("| Patient | Jane Whitcombe |\n**Diagnosis:** Basal cell carcinoma", r"Whitcombe|Jane"),
        ("| Name | WHITCOMBE, Jane |\n**Diagnosis:** Basal cell carcinoma", r"WHITCOMBE|Jane"),
        ("Patient: _Jane Whitcombe_\n**Diagnosis:** Basal cell carcinoma", r"Whitcombe|Jane"),
        ("> Photo courtesy of **Priya Ramaswamy**\n**Diagnosis:** Basal cell carcinoma", r"Ramaswamy|Priya"),
        (
            "Credit: [Priya Ramaswamy](https://example.org/p)\n**Diagnosis:** Basal cell carcinoma",
            r"Ramaswamy",
        ),
    ],
)
def test_markdown_around_a_label_or_name_hides_no_name(text: str, gone: str):
    """A caption beside an image may be NAME.md: emphasis, a table's cells or a link around the cue or the
    name kept the name ("**Patient:** Jane Whitcombe" was written as it was)."""
    assert_gone_and_kept(text, gone, "**Diagnosis:** Basal cell carcinoma")


@pytest.mark.parametrize(
    "text",
    [
        "| Stain | H&E |",
        "| Site | Left Cheek |",
        "**Consultant:** Dermatology",
        "- *Courtesy of Radiology*",
        "| Patient | Adult |",
        "**Name of stain:** PAS",
        "_Courtesy of the ICU team_",
    ],
)
def test_markdown_that_names_no_one_stays(text: str):
    assert_fuzzed_to(text)


def test_scrub_fuzz_history_writes_no_name_of_a_markdown_caption(tmp_path: Path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "case2.png")
    (source / "case2.md").write_text(
        "# Teaching case\n\n| Patient | Jane Whitcombe |\n|---|---|\n| Stain | H&E |\n\n"
        "**Referring physician:** Priya Ramaswamy\n\n> Photo courtesy of **K. Nakamura**\n",
        encoding="utf-8",
    )
    args = ["scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4"]
    result = CliRunner().invoke(cli, [*args, "--text", "off", "--faces", "off", "-j", "1"])
    assert result.exit_code == 0, result.output
    written = (out / "case2.md").read_bytes()
    for secret in (b"Whitcombe", b"Jane", b"Priya", b"Ramaswamy", b"Nakamura"):
        assert secret not in written, written
    assert b"| Stain | H&E |" in written


def test_scrub_fuzz_history_writes_no_name_of_a_json_caption_s_credit_or_cc(tmp_path: Path):
    """A JSON caption's other fields are read after their key ("credit: Photo: Jane Quixotez")."""
    import json

    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "case3.png")
    caption = {
        "caption": "Nodular BCC on the nose. cc: Priya Ramaswamy",
        "credit": "Photo: Jane Quixotez",
        "signed": "WHITCOMBE, Alan",
        "tags": ["#dermpath"],
    }
    (source / "case3.json").write_text(json.dumps(caption), encoding="utf-8")
    args = ["scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4"]
    result = CliRunner().invoke(cli, [*args, "--text", "off", "--faces", "off", "-j", "1"])
    assert result.exit_code == 0, result.output
    written = (out / "case3.json").read_text(encoding="utf-8")
    for secret in ("Quixotez", "Jane", "Priya", "Ramaswamy", "WHITCOMBE", "Alan"):
        assert secret not in written, written
    assert json.loads(written)["tags"] == ["#dermpath"]
    assert "Nodular BCC on the nose" in json.loads(written)["caption"]
