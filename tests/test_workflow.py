"""The workflow around deident: ``check`` as a gate, identifying names, ``--rename``, configuration files,
``deident config``, progress and shell completion. The pre-commit hooks themselves: test_precommit.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from deident.cli import cli
from deident.findings import Action, FileResult, Finding, Stage, Status
from deident.formats.items import Item
from deident.progress import BatchBar, FrameBar, count_inputs
from deident.report import reason, why

DEIDENT = Path(sys.executable).parent / "deident"
METADATA_ONLY = ("--text", "off", "--faces", "off", "-j", "1")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Configuration is looked up from the working directory: never pick up one outside the test."""
    monkeypatch.chdir(tmp_path)


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def photo(path: Path, exif: bytes | None = None, size=(96, 64)) -> Path:
    """A smooth, text-free, face-free JPEG; ``exif`` as bytes."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), np.full_like(xx, 90)], 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    kw = {"exif": exif} if exif else {}
    Image.fromarray(arr.astype(np.uint8)).save(path, "JPEG", quality=90, **kw)
    return path


def gps_exif(busy: bool = False) -> bytes:
    exif = Image.Exif()
    if busy:  # many other findings, listed before GPS in the file
        exif[0x010E] = "Seen in clinic by Dr Quentin Marlowe"  # ImageDescription
        exif[0x010F] = "Canon"
        exif[0x0110] = "EOS 5D"
        exif[0x0131] = "Lightroom"
        exif[0x0132] = "2023:04:01 10:11:12"
        exif[0x013B] = "Quentin Marlowe"
        exif[0x8298] = "Marlowe Dermatology"
        exif[0x8769] = {0x9003: "2023:04:01 10:11:12", 0xA431: "SN0042424242"}
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return exif.tobytes()


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


# ---------------------------------------------------------------- check: the gate


def test_check_exit_codes_clean_findings_errors(tmp_path):
    clean = photo(tmp_path / "clean.jpg")
    gps = photo(tmp_path / "gps.jpg", gps_exif())
    notes = tmp_path / "notes.bin"
    notes.write_bytes(b"not an image at all")
    assert run("check", "--fast", clean).exit_code == 0
    assert run("check", "--fast", gps).exit_code == 1
    assert run("check", "--fast", clean, gps).exit_code == 1
    assert run("check", "--fast", notes).exit_code == 2  # could not be checked: never "clean"
    assert run("check", "--fast", gps, notes).exit_code == 2  # an error outranks findings
    assert run("check", "--fast", tmp_path / "missing.jpg").exit_code == 2
    assert run("check", "--fast", "--text", "bogus", clean).exit_code == 2  # usage error


def test_check_writes_nothing_and_json_names_every_finding_without_values(tmp_path):
    photo(tmp_path / "cases" / "gps.jpg", gps_exif(busy=True))
    photo(tmp_path / "cases" / "clean.jpg")
    before = tree(tmp_path)
    result = run("check", "--fast", "-j", "1", "--json", tmp_path / "cases")
    assert result.exit_code == 1
    assert tree(tmp_path) == before
    doc = json.loads(result.stdout)
    assert doc["command"] == "check"
    assert doc["summary"]["files"] == 2 and doc["summary"]["unsafe"] == 1 and doc["summary"]["clean"] == 1
    by_name = {Path(f["input"]).name: f for f in doc["files"]}
    assert by_name["clean.jpg"]["status"] == "clean" and by_name["clean.jpg"]["findings"] == []
    kinds = {f["kind"] for f in by_name["gps.jpg"]["findings"]}
    assert {"exif.gps", "exif.datetime", "exif.owner", "exif.serial"} <= kinds
    assert all(f["action"] == "found" for f in by_name["gps.jpg"]["findings"])
    for value in ("Marlowe", "Quentin", "SN0042424242", "2023:04:01"):
        assert value not in result.stdout


def test_check_table_names_the_file_and_says_gps_first(tmp_path):
    gps = photo(tmp_path / "a-rather-long-folder-name" / "another-long-name" / "wrist.jpg", gps_exif(True))
    result = run("check", "--fast", gps)
    assert result.exit_code == 1
    row = next(line for line in result.stdout.splitlines() if "wrist.jpg" in line)
    assert str(gps) in row  # not folded across lines in a log
    assert re.search(r"unsafe\s*│\s*\d+\s*│\s*GPS position; dates", row), row
    assert "1 unsafe" in result.stdout


def test_why_puts_the_telling_reasons_first():
    def f(stage, kind, detail=""):
        if stage == "metadata":  # as a container walk makes it (formats.items)
            return Item(kind, "here", detail).finding(Action.FOUND)
        return Finding(stage, kind, "here", Action.FOUND, detail)

    findings = [
        f("metadata", "exif.thumbnail", "embedded thumbnail: 2 fields, 900 bytes"),
        f("metadata", "exif.device", "make, model and software: 3 fields, 27 bytes"),
        f("metadata", "jpeg.app11", "JPEG XT / JUMBF box (e.g. C2PA provenance), 26 bytes"),
        f("metadata", "exif.text", "descriptions and comments: 2 fields, 60 bytes"),
        f("metadata", "xmp", "XMP packet, 321 bytes"),
        f("metadata", "jpeg.com", "comment, 23 bytes"),
        f("text", "text.text", "text line"),
        f("text", "text.text", "text line"),
        f("faces", "faces.face", "face"),
        f("filename", "filename.identifier", "identifying file or folder name part (8 chars)"),
        f("metadata", "exif.gps", "GPS position: 5 fields, 63 bytes"),
    ]
    text = why(FileResult("x.jpg", Status.UNSAFE, findings=findings), limit=4)
    assert text == "GPS position; face; 2× burned-in text; identifying name; +6 more"
    failed = FileResult("x.jpg", Status.FAILED, reason="not a supported image")
    assert why(failed) == "not a supported image"


def test_the_reason_is_set_where_the_finding_is_made_not_read_from_its_text():
    """An eye bar, a DICOM element and a GPS block say why through their maker; their details do not."""
    from deident.dicom.scrub import element_finding
    from deident.pipeline import _region_finding
    from deident.regions import Region

    eyes = _region_finding("frame 0", Region.box(1, 2, 30, 9, "eyes"), Action.FOUND, None, 0)
    birth = element_finding(0x00100030, "PatientBirthDate", "(0010,0030)", Action.REMOVED, "removed (X)")
    study = element_finding(0x00080020, "StudyDate", "(0008,0020)", Action.REPLACED, "shifted (D)")
    private = element_finding(0x00091001, "", "(0009,1001)", Action.REMOVED, "removed (private)")
    gps = Item("exif.gps", "APP1 segment at 2", "5 fields, 63 bytes").finding()
    assert [reason(x) for x in (eyes, birth, study, private, gps)] == [
        "eyes",
        "DICOM patient data",
        "DICOM dates",
        "DICOM header fields",
        "GPS position",
    ]
    assert [x.to_dict()["stage"] for x in (eyes, birth, gps)] == ["faces", "dicom", "metadata"]
    assert [Finding("faces", "faces.eyes", "here", Action.FOUND).stage] == [Stage.FACES]  # a string is typed


def test_check_refuses_with_2_when_a_stage_cannot_run(tmp_path, monkeypatch):
    from deident import stages
    from deident.errors import StageUnavailable

    class Missing:
        name = "text"

        def ensure_available(self):
            raise StageUnavailable("OCR engine missing: pip install rapidocr")

    monkeypatch.setattr(stages, "detectors_for", lambda options: [Missing()])
    clean = photo(tmp_path / "clean.jpg")
    result = run("check", clean)
    assert result.exit_code == 2 and "OCR engine missing" in result.output
    result = run("scrub", clean, "-o", tmp_path / "out")
    assert result.exit_code == 1 and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_full_check_runs_every_detector_and_reads_captions(tmp_path):
    image = photo(tmp_path / "case" / "wrist.jpg", size=(320, 240))
    result = run("check", "-j", "1", "--json", image)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"][0]["status"] == "clean"
    (tmp_path / "case" / "wrist.txt").write_text("Seen on 12/03/2021, MRN 12345678. Wrist lesion.\n")
    result = run("check", "-j", "1", "--json", image)
    assert result.exit_code == 1
    stages = {f["stage"] for f in json.loads(result.stdout)["files"][0]["findings"]}
    assert stages == {"caption"}


# ---------------------------------------------------------------- identifying names


@pytest.mark.parametrize(
    "rel",
    [
        "2023-04-01.jpg",  # a date
        "case_20230401.jpg",  # a compact date
        "visit 2023.04.01 wrist.jpg",
        "12345678.jpg",  # a long digit run
        "scan_0012345.png",
        "MRN1234567.jpg",  # MRN-like
        "PID-20455.jpg",
        "S23-004512.jpg",  # accession-like
        "SMITH_John.jpg",  # a person's name
        "2023-04-01_clinic/wrist.jpg",  # in a folder name
        "MRN1234567/wrist.jpg",
    ],
)
def test_identifying_names_are_findings(tmp_path, rel):
    image = photo(tmp_path / "cases" / rel)
    result = run("check", "--fast", "--json", tmp_path / "cases")  # a folder: the names below it count
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["files"][0]["findings"]
    assert [f["stage"] for f in findings] == ["filename"]
    assert Path(rel).stem not in json.dumps(findings).replace(str(image), "")  # the value is not repeated


def test_a_folder_above_what_is_shared_is_not_judged(tmp_path):
    """A version number in a folder above the input ("0.0.20", read as a date) refused the scrub of a file
    whose output, out/img.jpg, never carried that folder; check of that output said clean."""
    src = photo(tmp_path / "x" / "deid-data-0.0.20" / "ultrasounds" / "img.jpg", gps_exif())
    scrubbed = run("scrub", src, "-o", "out", "--json", *METADATA_ONLY)  # an absolute input
    assert scrubbed.exit_code == 0, scrubbed.output
    (row,) = json.loads(scrubbed.stdout)["files"]
    assert row["status"] == "safe" and "filename" not in {f["stage"] for f in row["findings"]}
    assert Image.open(tmp_path / "out" / "img.jpg").getexif() == {}  # written, its GPS gone
    assert run("check", "--fast", "out").exit_code == 0
    assert run("check", "--fast", "out/img.jpg").exit_code == 0
    # The input named by its absolute path: only its name is shared; a folder given: its name and below.
    clean = photo(tmp_path / "x" / "deid-data-0.0.20" / "photos" / "clean.jpg")
    assert run("check", "--fast", clean).exit_code == 0
    assert run("check", "--fast", clean.parent).exit_code == 0
    assert run("check", "--fast", clean.parent.parent).exit_code == 1


def test_a_folder_the_output_carries_is_judged_and_check_agrees(tmp_path):
    """A folder named after a patient is kept in the output of a folder scrub: unsafe, as check of the
    output folder says; a scrub of that very folder writes its files without its name: safe, both ways."""
    photo(tmp_path / "teaching" / "John_Smith_1970-03-12" / "x.jpg")
    carried = run("scrub", "teaching", "-o", "safe", "--json", *METADATA_ONLY)
    assert carried.exit_code == 1, carried.output
    (row,) = json.loads(carried.stdout)["files"]
    assert row["status"] == "unsafe" and any(f["stage"] == "filename" for f in row["findings"])
    assert (tmp_path / "safe" / "John_Smith_1970-03-12" / "x.jpg").is_file()
    assert run("check", "--fast", "safe").exit_code == 1
    assert run("check", "--fast", tmp_path / "safe").exit_code == 1  # absolute: its own name and below
    # As a pre-commit hook gives it (relative to the repository): the folders named are shared with it.
    assert run("check", "--fast", "teaching/John_Smith_1970-03-12/x.jpg").exit_code == 1
    alone = run("scrub", "teaching/John_Smith_1970-03-12", "-o", "safe2", *METADATA_ONLY)
    assert alone.exit_code == 0, alone.output
    assert [p.name for p in (tmp_path / "safe2").iterdir()] == ["x.jpg"]
    assert run("check", "--fast", "safe2").exit_code == 0
    beside = run("scrub", "teaching", *METADATA_ONLY)  # outputs beside the inputs, in the named folder
    assert beside.exit_code == 1
    assert (tmp_path / "teaching" / "John_Smith_1970-03-12" / "x.deid.jpg").is_file()
    assert run("check", "--fast", "teaching/John_Smith_1970-03-12/x.deid.jpg").exit_code == 1


@pytest.mark.parametrize("rel", ["IMG_1234.jpg", "wrist_x40.jpg", "case-12/he stain.jpg", "2023/wrist.jpg"])
def test_neutral_names_are_not_findings(tmp_path, rel):
    assert run("check", "--fast", photo(tmp_path / "cases" / rel)).exit_code == 0


# ---------------------------------------------------------------- scrub --rename


def _identifying_batch(root: Path) -> list[Path]:
    return [
        photo(root / "2023-04-01_SMITH_John" / "MRN1234567.jpg", gps_exif()),
        photo(root / "2023-04-01_SMITH_John" / "case_20230401.jpg"),
        photo(root / "S23-004512.jpg", gps_exif(True)),
    ]


def test_rename_writes_neutral_names_and_a_private_mapping_beside_the_output(tmp_path):
    inputs = _identifying_batch(tmp_path / "in")
    out = tmp_path / "share" / "safe"
    result = run("scrub", tmp_path / "in", "-o", out, "--rename", *METADATA_ONLY)
    assert result.exit_code == 0, result.output
    outputs = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(outputs) == 3 and all(p.parent == out for p in outputs)  # flat: folder names identify too
    for p in outputs:
        assert re.fullmatch(r"[0-9a-z]{12,}\.jpg", p.name), p.name
        for word in ("SMITH", "John", "1234567", "2023", "S23"):
            assert word not in p.name
    mapping = tmp_path / "share" / "safe-mapping.csv"
    assert mapping.is_file() and not list(out.rglob("*.csv"))
    assert stat.S_IMODE(mapping.stat().st_mode) == 0o600
    with open(mapping, newline="") as fh:
        rows = {r["original"]: r["output"] for r in csv.DictReader(fh)}
    assert set(rows) == {str(p) for p in inputs}
    assert sorted(rows.values()) == [str(p) for p in outputs]
    # names are keyed and stable: a rerun maps every input to the same name
    again = run("scrub", tmp_path / "in", "-o", out, "--rename", *METADATA_ONLY)
    assert again.exit_code == 0
    assert sorted(p for p in out.rglob("*") if p.is_file()) == outputs
    # the outputs pass the metadata gate
    checked = json.loads(run("check", "--fast", "--json", out).stdout)
    assert not [f for r in checked["files"] for f in r["findings"] if f["stage"] == "metadata"]


def test_rename_mapping_is_refused_inside_the_output_folder(tmp_path):
    photo(tmp_path / "in" / "MRN1234567.jpg")
    out = tmp_path / "out"
    result = run("scrub", tmp_path / "in", "-o", out, "--rename", "--mapping", out / "map.csv")
    assert result.exit_code == 2 and "must not be inside the output folder" in result.output
    result = run("scrub", tmp_path / "in", "-o", out, "--rename", "--mapping", out / "deep" / "map.csv")
    assert result.exit_code == 2
    assert not out.exists()
    result = run("scrub", tmp_path / "in", "--rename")
    assert result.exit_code == 2 and "--output-dir" in result.output
    # a mapping given elsewhere is used, and the output folder still holds images only
    elsewhere = tmp_path / "private" / "names.csv"
    elsewhere.parent.mkdir()
    result = run("scrub", tmp_path / "in", "-o", out, "--rename", "--mapping", elsewhere, *METADATA_ONLY)
    assert result.exit_code == 0, result.output
    assert elsewhere.is_file() and [p.suffix for p in out.iterdir()] == [".jpg"]
    assert not (tmp_path / "out-mapping.csv").exists()


def test_python_dash_m_deident_is_the_command():
    proc = subprocess.run([sys.executable, "-m", "deident", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("deident, version ")


def test_in_place_with_an_output_folder_is_refused_from_flags_or_configuration(tmp_path):
    original = photo(tmp_path / "in" / "a.jpg", exif=gps_exif())
    before, out = original.read_bytes(), tmp_path / "out"
    result = run("scrub", original, "--in-place", "-o", out, *METADATA_ONLY)
    assert result.exit_code == 2 and "--in-place and --output-dir exclude each other" in result.output
    (tmp_path / ".deident.toml").write_text("in-place = true\n")  # the same check for a configured value
    result = run("scrub", original, "-o", out, *METADATA_ONLY)
    assert result.exit_code == 2 and "--in-place and --output-dir exclude each other" in result.output
    assert original.read_bytes() == before and not out.exists()


def test_neutral_names_never_look_identifying(tmp_path):
    for i in range(40):
        photo(tmp_path / "in" / f"case {i}.jpg", size=(16, 16))
    out = tmp_path / "out"
    assert run("scrub", tmp_path / "in", "-o", out, "--rename", *METADATA_ONLY).exit_code == 0
    result = run("check", "--fast", "--json", out)
    flagged = [Path(r["input"]).name for r in json.loads(result.stdout)["files"] if r["findings"]]
    assert flagged == []


# ---------------------------------------------------------------- configuration


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_found_upward_and_flags_win(tmp_path, monkeypatch):
    image = photo(tmp_path / "gps.jpg", gps_exif())
    _write(tmp_path / "proj" / "pyproject.toml", "[tool.deident.check]\njson = true\nfast = true\njobs = 1\n")
    deep = tmp_path / "proj" / "a" / "b"
    _write(deep / "pyproject.toml", '[project]\nname = "other"\n')  # no [tool.deident]: search goes on
    monkeypatch.chdir(deep)
    result = run("check", image)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["files"][0]["status"] == "unsafe"  # json = true from the file
    result = run("check", "--no-json", image)
    assert result.exit_code == 1 and "GPS position" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_dot_file_nearer_wins_and_keys_take_dashes_or_underscores(tmp_path, monkeypatch):
    _write(tmp_path / "pyproject.toml", '[tool.deident]\ntext = "phi"\n')
    _write(tmp_path / "a" / ".deident.toml", 'redact_style = "blur"\n[scrub]\nkeep-text = "H&E"\n')
    monkeypatch.chdir(tmp_path / "a")
    result = run("config")
    assert result.exit_code == 0, result.output
    rows = _config_rows(result.stdout)
    dot = str(tmp_path / "a" / ".deident.toml")
    assert rows[("scrub", "--redact-style")] == ("'blur'", dot)
    assert rows[("scrub", "--keep-text")] == ("('H&E',)", f"{dot} [scrub]")
    assert rows[("scrub", "--text")] == ("'all'", "default")  # the farther pyproject.toml is not merged
    assert rows[("check", "--keep-text")] == ("()", "default")


def _config_rows(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 4 and cells[1].startswith("-"):
            rows[(cells[0], cells[1])] = (cells[2], cells[3])
    return rows


def test_config_command_shows_every_option_and_its_source(tmp_path):
    _write(
        tmp_path / "pyproject.toml",
        '[tool.deident]\ntext = "phi"\ntypo = 1\n'
        "[tool.deident.check]\nfast = true\nfoo = 2\n[tool.deident.nope]\nx = 1\n",
    )
    result = run("config")
    assert result.exit_code == 0, result.output
    assert f"configuration: {tmp_path / 'pyproject.toml'} [tool.deident]" in result.stdout
    rows = _config_rows(result.stdout)
    source = str(tmp_path / "pyproject.toml")
    assert rows[("scrub", "--text")] == ("'phi'", f"{source} [tool.deident]")
    assert rows[("check", "--fast")] == ("True", f"{source} [tool.deident.check]")
    assert rows[("inspect", "--fast")] == ("False", "default")
    assert rows[("scrub", "--redact-style")] == ("'fill'", "default")
    assert rows[("scrub", "--rename")] == ("False", "default")
    options = {opt for _, opt in rows}
    for command in ("scrub", "check"):
        for param in cli.commands[command].params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.opts[-1] in options
    assert "typo" in result.stderr and "[nope]" in result.stderr and "check.foo" in result.stderr
    assert "key: environment variable DEIDENT_KEY" in result.stdout


def test_config_with_no_file_shows_defaults(tmp_path):
    result = run("config")
    assert result.exit_code == 0
    assert "configuration: none" in result.stdout
    assert {src for _, src in _config_rows(result.stdout).values()} == {"default"}


def test_config_values_are_validated_naming_the_file(tmp_path):
    _write(tmp_path / ".deident.toml", 'faces = "sometimes"\n')
    result = run("check", "--fast", photo(tmp_path / "x.jpg"))
    assert result.exit_code == 2
    assert ".deident.toml" in result.output and "sometimes" in result.output
    _write(tmp_path / ".deident.toml", "this is not toml\n")
    result = run("config")
    assert result.exit_code == 2 and "cannot read configuration" in result.output


def test_config_never_fills_arguments(tmp_path):
    """A top-level ``text = "phi"`` is the --text option of scrub/check, not the TEXT that fuzz rewrites."""
    _write(tmp_path / "pyproject.toml", '[tool.deident]\ntext = "phi"\nseed = 4\n')
    result = run("fuzz", input="A 45 year old man with a lesion on the left forearm.\n")
    assert result.exit_code == 0, result.output
    assert "phi" not in result.stdout and "year old" in result.stdout


def test_config_seed_is_a_default_for_fuzz(tmp_path):
    text = "A 45 year old man with a lesion on the left forearm, seen on 3 March 2021.\n"
    _write(tmp_path / "pyproject.toml", "[tool.deident]\nseed = 4\n")
    from_config = run("fuzz", input=text).stdout
    assert from_config == run("fuzz", "--seed", "4", input=text).stdout


# ---------------------------------------------------------------- progress and completion


def test_progress_bar_counts_files_on_a_terminal():
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80)
    rows = [FileResult(f"cases/{name}.jpg", Status.CLEAN) for name in ("first", "second", "third")]
    with BatchBar(console, enabled=True, total=lambda: 3) as progress:
        for row in rows:
            progress(row)
    assert "0/3" in buf.getvalue() and "3/3" in buf.getvalue()
    assert "third.jpg" in buf.getvalue()  # the bar names the file it is at
    quiet = io.StringIO()
    with BatchBar(Console(file=quiet), enabled=True, total=lambda: 3) as progress:
        progress(rows[0])  # not a terminal: nothing drawn (a log or a hook's output stays clean)
    assert quiet.getvalue() == ""


def test_one_long_file_shows_frames_done_of_frames_on_a_terminal(tmp_path):
    """A single multi-frame DICOM (pydicom's 10-frame MR) gets a frames bar: 10 of 10 by the end."""
    from rich.console import Console

    from deident import batch
    from deident.options import FaceMode, Options, TextMode
    from support.dicom import pydicom_file

    path = pydicom_file("emri_small.dcm")  # in pydicom-data, a test extra: skips with its reason without
    options = Options(text=TextMode.ALL, faces=FaceMode.OFF, jobs=1)
    buf = io.StringIO()
    with FrameBar(Console(file=buf, force_terminal=True, width=100), enabled=True):
        [result] = batch.check_paths([Path(path)], options)
    assert result.status in (Status.CLEAN, Status.UNSAFE)
    assert "frames" in buf.getvalue() and "10/10" in buf.getvalue()
    quiet = io.StringIO()
    with FrameBar(Console(file=quiet), enabled=True):  # not a terminal: nothing drawn
        batch.check_paths([Path(path)], options)
    assert quiet.getvalue() == ""


def test_progress_total_is_the_number_of_rows_of_the_summary(tmp_path):
    from deident import batch
    from deident.options import Options

    for name in ("a.jpg", "b.jpg", "sub/c.jpg"):
        photo(tmp_path / "cases" / name)
    (tmp_path / "cases" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "cases" / "README.txt").write_text("notes")
    paths = [tmp_path / "cases", tmp_path / "missing.jpg"]
    options = Options(fast=True)
    counted: list = []
    results = batch.check_paths(paths, options, progress=counted.append)
    assert count_inputs(paths, options) == len(results) == len(counted) == 6


def _complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_DEIDENT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    proc = subprocess.run([DEIDENT], env=env, capture_output=True, text=True, timeout=60)
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if "," in line]


def test_shell_completion_through_click():
    env = {**os.environ, "_DEIDENT_COMPLETE": "bash_source"}
    script = subprocess.run([DEIDENT], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "_deident_completion" in script and "complete -o nosort -F _deident_completion deident" in script
    assert _complete("deident ch", 1) == ["check"]
    assert set(_complete("deident ", 1)) >= {"scrub", "check", "inspect", "fuzz", "config"}
    assert _complete("deident check --fas", 2) == ["--fast"]
    assert _complete("deident scrub --text ", 3) == ["all", "phi", "off"]
