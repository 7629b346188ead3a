"""Caption identifiers once kept: a particle surname without a given name, a nursing title,
an age written as a clause's predicate, a record number opening the caption. Each read back as plain
text with a regex of its own, over several seeds, in the fuzzer and in a sidecar beside a scrubbed image."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from deident.cli import cli
from deident.history import FuzzSettings, fuzz_text
from support.captions import SEEDS, assert_fuzzed_to, assert_gone_and_kept

# (caption, what must be gone, what must stay)
LEAKS = [
    ("Seen by de Vries for a biopsy of the skin.", r"Vries", "Seen by someone for a biopsy"),
    ("Referred to de Jager; rash on the arm.", r"Jager", "rash on the arm"),
    ("De Vries reviewed the slides of the arm.", r"Vries", "reviewed the slides"),
    ("Discussed with da Silva, rash on the arm.", r"Silva", "rash on the arm"),
    ("Sister Okafor dressed the wound on the arm.", r"Okafor", "dressed the wound"),
    ("Seen by Sister O'Neill; rash on the arm.", r"O'Neill", "rash on the arm"),
    ("Staff Nurse Quigley took a swab of the arm.", r"Quigley", "took a swab"),
    ("He was fourteen when the rash began.", r"fourteen|\b14\b", "when the rash began"),
    ("She was 14 when the rash began.", r"\b14\b", "when the rash began"),
    ("At fourteen she noticed a rash on the arm.", r"fourteen|\b14\b", "noticed a rash"),
    ("At the age of 9, he had a rash on the arm.", r"\b9\b", "had a rash"),
    ("He was ninety-two when the rash began.", r"ninety|\b92\b", "90 or older when the rash began"),
    ("She was 95 and the rash began.", r"\b95\b", "90 or older and the rash began"),
]


@pytest.mark.parametrize(("text", "gone", "kept"), LEAKS, ids=[t[:32] for t, _, _ in LEAKS])
def test_caption_identifier_goes_and_the_sentence_stays(text: str, gone: str, kept: str):
    assert_gone_and_kept(text, gone, kept, settings=FuzzSettings(), any_case=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MRN: 12345. Rash on the arm.", "Rash on the arm."),
        ("DOB: 12/03/1970. Rash on the arm.", "Rash on the arm."),
        ("Name: John Smith. Rash on the arm.", "Rash on the arm."),
        ("MRN: 12345\nRash on the arm.", "\nRash on the arm."),
        # the same label mid-text, as it already was: the sentence that held it goes with it
        ("Rash on the arm. MRN: 12345. Biopsy taken.", "Rash on the arm. Biopsy taken."),
        # an ellipsis is the writer's own, at the start and after a word
        ("...and then a rash. MRN 1234567", "...and then a rash."),
        ("A rash... MRN 1234567", "A rash..."),
    ],
)
def test_a_removed_label_leaves_no_stray_stop(text: str, expected: str):
    outs = [fuzz_text(text, seed=s).text for s in SEEDS]
    assert all(out == expected for out in outs), outs


@pytest.mark.parametrize(
    "text",
    [
        "Maladie de Crohn confirmée.",
        "Syndrome de Down, karyotype done.",
        "She has de Quervain tenosynovitis.",
        "De novo mutation in the gene.",
        "Sister Mary Joseph nodule at the umbilicus.",
        "Her sister has psoriasis too.",
        "He was 2 cm from the margin.",
        "She was 3 days post-op.",
        "He was 1 of 3 siblings.",
        "The lesion at 3 he said was painful.",
    ],
)
def test_words_around_the_new_rules_stay(text: str):
    assert_fuzzed_to(text)


def test_the_sidecar_beside_an_image_loses_them_too(tmp_path: Path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(source / "case1.png")
    (source / "case1.txt").write_text(
        "MRN: 4455667. Seen by de Vries and Sister Okafor. He was fourteen when it began.", encoding="utf-8"
    )
    args = ["scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4"]
    result = CliRunner().invoke(cli, [*args, "--text", "off", "--faces", "off", "-j", "1"])
    assert result.exit_code == 0, result.output
    written = (out / "case1.txt").read_text(encoding="utf-8")
    for secret in ("4455667", "Vries", "Okafor", "fourteen"):
        assert secret not in written, written
    assert not written.startswith("."), written
