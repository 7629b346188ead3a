"""`deident fuzz` on the command line; sidecar captions through `deident scrub` and `deident check`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from deident.cli import cli

TEXT = "Mrs. Smith, 54, came in yesterday with a left thigh mass. She had it excised at 3pm."
SECRETS = ("Smith", "yesterday", "3pm")


def _fuzz(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(cli, ["fuzz", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def _age(text: str) -> int:
    return int(re.search(r"patient, (\d+),", text).group(1))


def test_fuzz_prints_the_rewritten_text_and_a_seed_makes_it_repeatable():
    out = _fuzz("--seed", "3", TEXT)
    assert out == _fuzz("--seed", "3", TEXT)
    assert not any(s in out for s in SECRETS)
    assert "thigh mass" in out and _age(out) != 54
    assert len({_fuzz("--seed", str(s), TEXT) for s in range(10)}) > 2


def test_fuzz_reads_standard_input_with_a_dash_or_no_argument():
    given = _fuzz("--seed", "5", TEXT)
    assert _fuzz("--seed", "5", "-", stdin=TEXT) == given
    assert _fuzz("--seed", "5", stdin=TEXT) == given


def test_fuzz_json_lists_every_change():
    data = json.loads(_fuzz("--seed", "3", "--json", TEXT))
    assert data["seed"] == 3
    assert data["text"] + "\n" == _fuzz("--seed", "3", TEXT)
    kinds = {c["kind"] for c in data["changes"]}
    assert {"name", "age", "date", "time"} <= kinds
    assert all(set(c) == {"kind", "before", "after"} and c["before"] != c["after"] for c in data["changes"])


@pytest.mark.parametrize("jitter", [0, 1, 5])
def test_fuzz_age_jitter(jitter: int):
    ages = [_age(_fuzz("--seed", str(s), "--age-jitter", str(jitter), TEXT)) for s in range(20)]
    assert all(abs(a - 54) <= jitter for a in ages)
    if jitter == 0:
        assert set(ages) == {54}
    else:
        assert 54 not in ages and len(set(ages)) > 1


def test_fuzz_sex_change_rate_and_laterality_swap_rate():
    text = "A 40-year-old man with a mass on his left thigh."
    never = {_fuzz("--seed", str(s), "--sex-change-rate", "0", "--laterality-swap-rate", "0", text)
             for s in range(20)}  # fmt: skip
    assert all(" man " in o and "left thigh" in o for o in never)
    always = [_fuzz("--seed", str(s), "--sex-change-rate", "1", "--laterality-swap-rate", "1", text)
              for s in range(20)]  # fmt: skip
    assert all("woman" in o and "her right thigh" in o for o in always)
    default = [_fuzz("--seed", str(s), text) for s in range(60)]
    changed = sum("woman" in o for o in default)
    assert 5 < changed < 40  # about a third


def test_fuzz_generalize_site():
    out = _fuzz("--seed", "1", "--generalize-site", "A 20-year-old woman with a left thigh mass.")
    assert "lower extremity mass" in out and "thigh" not in out and "left" not in out


# ---------------------------------------------------------------- sidecars through scrub and check

CAPTION = "Mrs. Smith, 54, seen on 03/04/2017 with a left thigh mass (MRN 1234567). Biopsy: lipoma."
CAPTION_SECRETS = ("Smith", "03/04/2017", "2017", "1234567")


def _case(folder: Path) -> Path:
    folder.mkdir()
    image = folder / "case1.png"
    Image.new("RGB", (64, 48), (200, 180, 190)).save(image)
    (folder / "case1.txt").write_text(CAPTION + "\n", encoding="utf-8")
    (folder / "case1.md").write_text("# Case\n\n" + CAPTION + "\n", encoding="utf-8")
    (folder / "case1.json").write_text(json.dumps({"caption": CAPTION, "history": "Seen last week.", "n": 2}))
    return image


def _invoke(*args: str):
    return CliRunner().invoke(cli, [*args, "--text", "off", "--faces", "off", "-j", "1", "--json"])


def _report(result) -> dict:
    return json.loads(result.output[result.output.index("{") :])


def test_scrub_fuzz_history_writes_fuzzed_sidecars_and_check_gates_them(tmp_path: Path):
    source = tmp_path / "in"
    _case(source)
    out = tmp_path / "out"
    result = _invoke("scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["case1.json", "case1.md", "case1.png", "case1.txt"]
    for name in ("case1.txt", "case1.md", "case1.json"):
        text = (out / name).read_text(encoding="utf-8")
        assert not any(s in text for s in CAPTION_SECRETS), (name, text)
        assert "thigh mass" in text and "lipoma" in text
    data = json.loads((out / "case1.json").read_text())
    assert list(data) == ["caption", "history", "n"] and data["n"] == 2 and "last week" not in data["history"]
    assert (out / "case1.md").read_text().startswith("# Case\n")
    findings = [f for r in _report(result)["files"] for f in r["findings"] if f["stage"] == "caption"]
    assert {f["kind"] for f in findings} >= {"name", "age", "date", "identifier"}
    assert not any(s in json.dumps(findings) for s in CAPTION_SECRETS)

    # The gate: the original captions are identifying, the fuzzed ones are not.
    before = _invoke("check", str(source))
    assert before.exit_code == 1, before.output
    found = [f for r in _report(before)["files"] for f in r["findings"] if f["stage"] == "caption"]
    assert {f["where"].split(":")[0] for f in found} == {"case1.txt", "case1.md", "case1.json"}
    assert {f["kind"] for f in found} >= {"name", "date", "identifier"}
    assert not any(s in before.output for s in CAPTION_SECRETS)
    after = _invoke("check", str(out))
    assert after.exit_code == 0, after.output


# A JSON caption's other fields, as a case database exports them: each identifying, read after its key.
JSON_FIELDS = {
    "patient": "Jane Plantedname",
    "patient_name": "PLANTEDNAME^JANE",
    "mrn": 4455667,
    "dateOfBirth": "1970-03-12",
    "seen": {"by": "Dr John Plantedname", "on": "12 March 2021"},
    "ids": ["S23-004512"],
}


def test_a_json_captions_other_fields_are_checked_and_never_copied_identifying(tmp_path: Path):
    """Only the caption and history fields were fuzzed and checked field by field; the file's other fields
    were copied beside an output reported safe (a record number, a birth date, the patient's name)."""
    source = tmp_path / "in"
    _case(source)
    fields = {"caption": "A 40-year-old woman with a thigh mass.", "stain": "H&E", "n": 2, **JSON_FIELDS}
    (source / "case1.json").write_text(json.dumps(fields))
    before = _invoke("check", str(source / "case1.png"), "--fast")
    assert before.exit_code == 1, before.output
    where = {f["where"].split(":")[1].strip() for r in _report(before)["files"] for f in r["findings"]}
    # named by position (the caption, stain and n first): a key is the file's own text, never quoted
    assert {"field 4", "field 5", "field 6", "field 7", "field 8.1", "field 8.2", "field 9[0]"} <= where
    assert not any(key in before.output for key in ("patient", "dateOfBirth"))
    out = tmp_path / "out"
    result = _invoke("scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4")
    assert result.exit_code == 0, result.output
    written = (out / "case1.json").read_text(encoding="utf-8")
    for planted in ("Plantedname", "PLANTEDNAME", "4455667", "1970", "12 March", "S23-004512"):
        assert planted not in written, (planted, written)
    kept = json.loads(written)
    assert kept["stain"] == "H&E" and kept["n"] == 2 and "thigh mass" in kept["caption"]
    after = _invoke("check", str(out), "--fast")
    assert after.exit_code == 0, after.output


@pytest.mark.parametrize(
    ("name", "content", "verdict"),
    [
        ("case1.TXT", "Mrs. Jane Plantedname, DOB 12/03/1970, MRN 4455667", 1),  # read with its image
        ("case1.Md", "Mrs. Jane Plantedname, DOB 12/03/1970, MRN 4455667", 1),
        ("case1.json", json.dumps({"patient": "Jane Plantedname", "mrn": 4455667}), 2),  # no caption: a file
        ("case1.mD", "Mrs. Jane Plantedname, DOB 12/03/1970, MRN 4455667", 2),  # no way a suffix is written
    ],
)
def test_a_file_set_aside_as_a_caption_is_one_the_gate_reads(
    tmp_path: Path, name: str, content: str, verdict
):
    """A folder walk set these aside as "caption beside an image (checked with the image)", and the image's
    check never read them: an upper-case suffix, a JSON file without a caption field. The gate passed."""
    folder = tmp_path / "cases"
    folder.mkdir()
    Image.new("RGB", (64, 48), (200, 180, 190)).save(folder / "case1.png")
    (folder / name).write_text(content, encoding="utf-8")
    result = _invoke("check", str(folder), "--fast")
    assert result.exit_code == verdict, result.output
    statuses = {Path(r["input"]).name: r["status"] for r in _report(result)["files"]}
    assert statuses == (
        {"case1.png": "unsafe", name: "skipped"} if verdict == 1 else {"case1.png": "clean", name: "failed"}
    )


def test_scrub_without_fuzz_history_writes_no_caption(tmp_path: Path):
    source = tmp_path / "in"
    _case(source)
    out = tmp_path / "out"
    result = _invoke("scrub", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["case1.png"]


def test_fuzzed_captions_never_replace_a_file_deident_did_not_write(tmp_path: Path):
    """A caption is written beside the output under the output's stem: a user's file there stays, byte for
    byte, and that image fails naming why; a rerun writes the same (seeded) caption and passes."""
    source = tmp_path / "in"
    _case(source)
    out = tmp_path / "out"
    out.mkdir()
    (out / "case1.txt").write_text("my own notes\n")
    result = _invoke("scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4")
    assert result.exit_code != 0, result.output
    assert (out / "case1.txt").read_text() == "my own notes\n"
    (reason,) = [r["reason"] for r in _report(result)["files"] if r["input"].endswith(".png")]
    assert "caption" in reason and "--overwrite" in reason
    assert not (out / "case1.md").exists() and not (out / "case1.json").exists()  # none of its captions

    (out / "case1.txt").unlink()
    first = _invoke("scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4")
    assert first.exit_code == 0, first.output
    again = _invoke("scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4")
    assert again.exit_code == 0, again.output


def _utf16_case(folder: Path, raw: bytes) -> Path:
    folder.mkdir()
    image = folder / "case1.png"
    Image.new("RGB", (64, 48), (200, 180, 190)).save(image)
    (folder / "case1.txt").write_bytes(raw)
    return image


# (encoding, byte-order mark): Notepad's "Unicode" is UTF-16 LE with its mark
MARKED = [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b""), ("utf-32-le", b"\xff\xfe\0\0")]
MARKED += [("utf-8", b"\xef\xbb\xbf")]


@pytest.mark.parametrize("encoding, bom", MARKED)
def test_a_caption_in_utf16_or_utf32_is_fuzzed_and_checked_as_text(tmp_path: Path, encoding: str, bom: bytes):
    """Notepad's "Unicode" is UTF-16 with a byte-order mark. Read as Windows-1252 it was letters between
    NULs: no rule saw the name, the MRN or the date, the check called it clean and --fuzz-history copied
    it unchanged beside an output reported safe."""
    source, out = tmp_path / "in", tmp_path / "out"
    _utf16_case(source, bom + (CAPTION + "\n").encode(encoding))
    result = _invoke("scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4")
    assert result.exit_code == 0, result.output
    written = (out / "case1.txt").read_bytes()
    assert written.startswith(bom)
    text = written[len(bom) :].decode(encoding)
    assert not any(s in text for s in CAPTION_SECRETS), text
    assert "thigh mass" in text and "lipoma" in text
    before = _invoke("check", str(source))
    assert before.exit_code == 1, before.output
    found = {f["kind"] for r in _report(before)["files"] for f in r["findings"] if f["stage"] == "caption"}
    assert found >= {"name", "date", "identifier"}


def test_a_caption_deident_cannot_read_as_text_fails_its_image(tmp_path: Path):
    """Bytes that decode only to text with control characters (odd-length UTF-16, binary) are no caption
    deident can check: the image fails, nothing is written for it, and the check cannot pass it."""
    source, out = tmp_path / "in", tmp_path / "out"
    _utf16_case(source, (CAPTION + "\n").encode("utf-16-le") + b"\0")
    result = _invoke("scrub", str(source), "-o", str(out), "--fuzz-history", "--seed", "4")
    assert result.exit_code != 0, result.output
    (reason,) = [r["reason"] for r in _report(result)["files"] if r["input"].endswith(".png")]
    assert "caption" in reason and "encoding" in reason
    assert not out.exists() or not any(out.iterdir())
    assert _invoke("check", str(source)).exit_code == 2
