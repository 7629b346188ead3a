"""Caption files beside images, the read-only caption check and the deny-list extraction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deident.findings import Action, Finding
from deident.history import FuzzSettings, check_caption, find_sidecars, fuzz_sidecar, identifiers_in

CAPTION = "Mrs. Smith, 54, came in on 03/04/2017 with a left thigh mass. MRN 1234567. She was seen yesterday."
SECRETS = ("Smith", "03/04/2017", "1234567", "yesterday")


def _image(tmp_path: Path, name: str = "case1.jpg") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\xff\xd8\xff\xd9")
    return path


def test_find_sidecars_txt_md_and_json_with_caption(tmp_path: Path):
    image = _image(tmp_path)
    (tmp_path / "case1.txt").write_text(CAPTION)
    (tmp_path / "case1.md").write_text("# Case\n" + CAPTION)
    (tmp_path / "case1.json").write_text(json.dumps({"history": CAPTION, "stain": "H&E"}))
    (tmp_path / "case2.txt").write_text(CAPTION)  # another image's caption
    assert sorted(p.name for p in find_sidecars(image)) == ["case1.json", "case1.md", "case1.txt"]


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({"title": "x", "stain": "H&E"}),
        json.dumps({"caption": 12}),
        json.dumps(["caption"]),
        "{not json",
    ],
)
def test_json_without_caption_text_is_not_a_sidecar(tmp_path: Path, content: str):
    image = _image(tmp_path)
    (tmp_path / "case1.json").write_text(content)
    assert find_sidecars(image) == []


def test_no_sidecars(tmp_path: Path):
    assert find_sidecars(_image(tmp_path)) == []


def _assert_findings_clean(findings: list[Finding], where: str):
    assert findings
    for f in findings:
        assert f.stage == "caption"
        assert f.action in (Action.REPLACED, Action.REMOVED)
        assert where in f.where
        assert f.detail
        assert not any(s.lower() in (f.detail + f.where).lower() for s in SECRETS)
    kinds = {f.kind for f in findings}
    assert {"name", "date", "identifier", "age"} <= kinds


@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_fuzz_text_sidecar(tmp_path: Path, suffix: str):
    path = tmp_path / f"case1{suffix}"
    path.write_text("## History\n" + CAPTION + "\n", encoding="utf-8")
    data, findings = fuzz_sidecar(path, 3, FuzzSettings())
    text = data.decode("utf-8")
    assert text.startswith("## History\n")
    assert "mass" in text
    assert not any(s in text for s in SECRETS)
    _assert_findings_clean(findings, path.name)
    assert fuzz_sidecar(path, 3, FuzzSettings()) == (data, findings)  # deterministic


def test_fuzz_json_sidecar_keeps_structure(tmp_path: Path):
    path = tmp_path / "case1.json"
    original = {"caption": CAPTION, "history": "A 40-year-old woman, seen last week.", "stain": "H&E", "n": 3}
    path.write_text(json.dumps(original, indent=2))
    data, findings = fuzz_sidecar(path, 5, FuzzSettings())
    out = json.loads(data)
    assert list(out) == list(original)
    assert out["stain"] == "H&E" and out["n"] == 3
    assert not any(s in out["caption"] for s in SECRETS)
    assert "last week" not in out["history"]
    _assert_findings_clean(findings, "case1.json: ")
    assert any(f.where == "case1.json: caption" for f in findings)
    assert any(f.where == "case1.json: history" for f in findings)


def test_json_fields_share_the_sex_decision(tmp_path: Path):
    path = tmp_path / "case1.json"
    path.write_text(json.dumps({"caption": "A man with a mass.", "history": "He noticed it."}))
    for seed in [*range(20), *[None] * 20]:
        out = json.loads(fuzz_sidecar(path, seed, FuzzSettings())[0])
        assert ("woman" in out["caption"]) == out["history"].startswith("She")


def test_check_caption_reports_without_values():
    text = (
        "Mrs. Smith, 94, seen 03/04/2017\n"
        "and again yesterday. MRN: 00123, accession S17-04522, call 555-123-4567\n"
        "DOB 01/02/1930, email jdoe@hospital.org"
    )
    findings = check_caption(text)
    kinds = {f.kind for f in findings}
    assert {"name", "age", "date", "identifier", "phone", "dob", "email"} <= kinds
    assert all(f.action is Action.FOUND and f.stage == "caption" for f in findings)
    for f in findings:
        assert not any(
            v in f.detail + f.where for v in ("Smith", "94", "00123", "04522", "555", "jdoe", "1930")
        )
    assert {f.where for f in findings if f.kind == "email"} == {"line 3"}
    assert {f.where for f in findings if f.kind == "name"} == {"line 1"}


@pytest.mark.parametrize(
    "text",
    [
        "Nodular basal cell carcinoma, 1.5 cm, margins clear. H&E 40x.",
        "A 45-year-old woman with a left thigh mass.",  # ages under 90, sex and side are not identifiers
        "CD34 positive, Ki-67 10%, stained 1:100.",
    ],
)
def test_check_caption_clean_text(text: str):
    assert check_caption(text) == []


def test_check_caption_flags_relative_dates_and_old_ages():
    assert {f.kind for f in check_caption("Seen this morning, a 97 yo M.")} == {"date", "age"}


def test_identifiers_in():
    text = "Dr. Jane Doe saw Mr. Brown on 03/04/2017 (MRN 1234567), phone 555-123-4567, yesterday."
    found = identifiers_in(text)
    for value in ("Jane Doe", "Brown", "03/04/2017", "1234567", "555-123-4567"):
        assert value in found
    assert "yesterday" not in found  # relative dates are not searched for in pixels
    assert identifiers_in("A 45-year-old woman with a mass.") == []


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-16", "utf-16-be", "utf-32"])
def test_text_sidecar_keeps_its_encoding(tmp_path: Path, encoding: str):
    path = tmp_path / "case1.txt"
    path.write_bytes(("Café visit: Mrs. Müller, 54, seen yesterday.\n").encode(encoding))
    data, _ = fuzz_sidecar(path, 1, FuzzSettings())
    text = data.decode(encoding)
    assert text.startswith("Café visit: The patient, ")
    assert "Müller" not in text and "yesterday" not in text
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")


def test_a_check_compiles_the_caption_rules_only_for_a_file_with_a_caption(tmp_path: Path):
    """A fresh process checks a photo alone (the rules are never imported: their regular expressions cost
    every process a start-up), then a photo with its caption (found, and reported without its values)."""
    import subprocess
    import sys

    from PIL import Image

    for name in ("plain", "captioned"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "a.png")
    (tmp_path / "captioned" / "a.txt").write_text(CAPTION)
    code = (
        "import sys; from pathlib import Path; from deident.batch import check_paths; "
        "from deident.options import FaceMode, Options, TextMode; "
        "r = check_paths([Path(sys.argv[1])], Options(TextMode.OFF, FaceMode.OFF, jobs=1, key=b'k' * 32)); "
        "print(sorted({f.kind for f in r[0].findings if f.stage == 'caption'}), "
        "'deident.history.rules' in sys.modules)"
    )
    seen = {
        name: subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / name / "a.png")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for name in ("plain", "captioned")
    }
    assert seen["plain"] == "[] False"
    assert seen["captioned"] == "['date', 'identifier', 'name'] True"
