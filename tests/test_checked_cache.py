"""``check`` remembers the pixels it found clean (deident.checked): a hook's next run does not look again at
the same bytes, and looks again at anything else. Text is judged by Tesseract, not by deident."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytesseract
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from deident.checked import CHECKED_BEFORE
from deident.cli import cli
from support.runs import cli as deident_process

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
ID_LINE = "MRN 4455667"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configuration file from outside the test


def photo(path: Path, text: str | None = None) -> Path:
    """A smooth 320x240 JPEG, text-free and face-free unless ``text`` is drawn on it."""
    yy, xx = np.mgrid[0:240, 0:320]
    arr = np.stack([xx * 255 // 319, yy * 255 // 239, np.full_like(xx, 90)], 2).astype(np.uint8)
    img = Image.fromarray(arr)
    if text:
        ImageDraw.Draw(img).text((20, 100), text, fill=(255, 255, 255), font=ImageFont.truetype(FONT, 28))
    img.save(path, "JPEG", quality=92)
    return path


def checked(*args) -> dict:
    """The one file's entry of ``deident check --json -j 1``, with the exit code."""
    result = CliRunner().invoke(cli, ["check", "--json", "-j", "1", *map(str, args)])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["files"][0] | {"exit": result.exit_code}


def entries() -> list[Path]:
    """The verdicts kept (files in the cache's two-letter folders; not its ``pruned`` mark)."""
    root = Path(os.environ["DEIDENT_CACHE_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent != root)


def aged(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_a_clean_photo_checked_again_is_not_looked_at_again(tmp_path):
    clean = photo(tmp_path / "wrist.jpg")
    first = checked(clean)
    assert (first["status"], first["reason"], first["exit"]) == ("clean", "", 0)
    [entry] = entries()
    assert entry.stat().st_size == 0  # only digests: no name, path or pixel of the file
    assert "wrist" not in str(entry.relative_to(os.environ["DEIDENT_CACHE_DIR"]))
    again = checked(clean)
    assert (again["status"], again["reason"], again["exit"]) == ("clean", CHECKED_BEFORE, 0)
    assert entries() == [entry]


def test_text_burned_into_the_same_file_later_is_found(tmp_path):
    path = photo(tmp_path / "wrist.jpg")
    assert checked(path)["status"] == "clean" and entries()
    photo(path, ID_LINE)  # the same name, other bytes
    assert "4455667" in pytesseract.image_to_string(Image.open(path)).replace(" ", "")  # legible
    found = checked(path)
    assert found["exit"] == 1 and found["reason"] != CHECKED_BEFORE
    assert any(f["stage"] == "text" for f in found["findings"])


def test_a_file_with_findings_is_never_remembered(tmp_path):
    path = photo(tmp_path / "label.jpg", ID_LINE)
    for _ in range(2):
        found = checked(path)
        assert found["exit"] == 1 and any(f["stage"] == "text" for f in found["findings"])
    assert entries() == []


def test_other_options_and_no_cache_look_again(tmp_path):
    clean = photo(tmp_path / "wrist.jpg")
    checked(clean)
    assert checked(clean, "--text", "phi")["reason"] == ""  # other options: looked at, then remembered
    assert len(entries()) == 2
    assert checked(clean, "--no-cache")["reason"] == ""
    other = tmp_path / "other.png"
    Image.open(clean).save(other)  # other bytes, the same pixels, no metadata
    assert checked(other, "--no-cache")["reason"] == ""
    assert len(entries()) == 2  # --no-cache neither reads nor writes


def test_another_version_of_what_deident_requires_looks_again(tmp_path):
    """A verdict is only as good as the models and code that made it: another version of a distribution
    deident requires (here onnxruntime, found first on the path) is another fingerprint; one it does not
    require (the tools of another environment, such as the pre-commit hook's) is not."""
    clean = photo(tmp_path / "wrist.jpg")
    args = ("check", "--json", "-j", "1", str(clean))
    unrelated, onnxruntime = tmp_path / "unrelated", tmp_path / "onnxruntime"
    (unrelated / "sometool-1.0.dist-info").mkdir(parents=True)
    (onnxruntime / "onnxruntime-99.0.dist-info").mkdir(parents=True)
    runs = [
        deident_process(*args),
        deident_process(*args, env_extra={"PYTHONPATH": str(unrelated)}),
        deident_process(*args, env_extra={"PYTHONPATH": str(onnxruntime)}),
    ]
    reasons = [json.loads(r.stdout)["files"][0]["reason"] for r in runs]
    assert reasons == ["", CHECKED_BEFORE, ""], [r.stderr for r in runs]


def test_check_says_of_an_output_what_the_scrub_that_wrote_it_said(tmp_path):
    """scikit-image's camera: once its face was blurred, a whole-frame look at the output took the coat's
    row of buttons for a text line, and the pre-commit hook refused the scrub's own safe output."""
    data = pytest.importorskip("skimage.data")
    (tmp_path / "in").mkdir()
    Image.fromarray(data.camera()).save(tmp_path / "in" / "camera.png")
    scrubbed = CliRunner().invoke(cli, ["scrub", "-j", "1", "--json", str(tmp_path / "in"), "-o", "out"])
    assert json.loads(scrubbed.stdout)["files"][0]["status"] == "safe", scrubbed.output
    out = tmp_path / "out" / "camera.png"
    verdict = checked(out)
    assert (verdict["exit"], verdict["status"], verdict["reason"]) == (0, "clean", CHECKED_BEFORE)
    Image.open(out).save(out, compress_level=1)  # the same pixels in other bytes: looked at again
    assert checked(out)["reason"] != CHECKED_BEFORE


def test_entries_unused_for_months_are_deleted_and_used_ones_kept(tmp_path):
    """Each new version of deident (or of a package it requires) leaves every entry made before unused
    for good: they were never deleted, one empty file per clean file ever checked."""
    root = Path(os.environ["DEIDENT_CACHE_DIR"])
    clean = photo(tmp_path / "wrist.jpg")
    checked(clean)
    [used] = entries()
    stale = root / "ab" / ("c" * 62)  # a verdict of an older deident, not used since
    stale.parent.mkdir(exist_ok=True)
    stale.touch()
    foreign = root / "ab" / "notes.txt"  # the folder can be anyone's: what is no entry stays
    foreign.touch()
    elsewhere = tmp_path / "elsewhere" / ("d" * 62)  # shaped like an entry, in a folder linked in
    elsewhere.parent.mkdir()
    elsewhere.touch()
    (root / "ef").symlink_to(elsewhere.parent)
    for path in (used, stale, foreign, elsewhere, root / "pruned"):
        aged(path, 100)
    assert checked(clean)["reason"] == CHECKED_BEFORE  # used again: kept another 90 days
    other = tmp_path / "knee.jpg"
    Image.open(clean).save(other, "JPEG", quality=80)  # other bytes: a verdict made, the folder pruned
    assert checked(other)["status"] == "clean"
    assert not stale.exists()
    assert used.exists() and foreign.exists() and elsewhere.exists() and len(entries()) == 3
    later = root / "cd" / ("e" * 62)  # unused as long, but the folder was looked through today
    later.parent.mkdir()
    later.touch()
    aged(later, 100)
    Image.open(clean).save(tmp_path / "hip.jpg", "JPEG", quality=70)
    checked(tmp_path / "hip.jpg")
    assert later.exists()


def test_a_phi_mode_scrub_output_passes_a_phi_mode_check_without_its_inputs_deny_list(tmp_path):
    """The scrub's deny-list comes from its inputs' metadata (the photographer's name here); a check of the
    outputs finds none there. What the scrub left visible with the list is harmless without it."""
    (tmp_path / "in").mkdir()
    exif = Image.Exif()
    exif[0x013B] = "Quentin Marlowe"  # Artist: a batch deny-list term
    img = Image.open(photo(tmp_path / "plain.jpg", "H&E 40x"))
    img.save(tmp_path / "in" / "slide.jpg", "JPEG", quality=92, exif=exif.tobytes())
    scrubbed = CliRunner().invoke(cli, ["scrub", "-j", "1", "--json", "--text", "phi", "in", "-o", "out"])
    assert json.loads(scrubbed.stdout)["files"][0]["status"] == "safe", scrubbed.output
    verdict = checked(tmp_path / "out" / "slide.jpg", "--text", "phi")
    assert (verdict["exit"], verdict["reason"]) == (0, CHECKED_BEFORE)
    assert "H&E" in pytesseract.image_to_string(Image.open(tmp_path / "out" / "slide.jpg"))  # kept legible


def test_a_whole_slide_scrubbed_is_not_looked_at_again_but_mrxs_always_is(tmp_path):
    """An SVS is one file: its verdict is kept like a photo's. An MRXS slide's tiles are files beside its
    index, whose bytes alone say nothing of them: never kept."""
    from support.slidesynth import make_mrxs, make_svs

    (tmp_path / "in").mkdir()
    make_svs(tmp_path / "in" / "slide.svs")
    scrubbed = CliRunner().invoke(cli, ["scrub", "-j", "1", "--json", "in", "-o", "out"])
    assert json.loads(scrubbed.stdout)["files"][0]["status"] == "safe", scrubbed.output
    assert checked(tmp_path / "out" / "slide.svs")["reason"] == CHECKED_BEFORE
    make_mrxs(tmp_path / "mrxs", name="slide")
    scrubbed = CliRunner().invoke(cli, ["scrub", "-j", "1", "--json", "mrxs", "-o", "out-mrxs"])
    [result] = [r for r in json.loads(scrubbed.stdout)["files"] if r["input"].endswith(".mrxs")]
    assert result["status"] == "safe", scrubbed.output
    before = entries()
    verdicts = [checked(result["output"]) for _ in range(2)]
    assert [(v["status"], v["reason"]) for v in verdicts] == [("clean", "")] * 2
    assert entries() == before


def test_the_verdict_is_kept_for_the_bytes_looked_at_not_for_what_the_file_became(tmp_path, monkeypatch):
    """A file swapped for another while it is checked (here once deident holds its bytes, while it reads
    the captions beside it): the clean look is kept under the digest of the clean bytes looked at, so
    the other bytes, with an ID burned in, are looked at when they are checked."""
    from deident import pipeline

    path = photo(tmp_path / "wrist.jpg")
    labelled = photo(tmp_path / "labelled.jpg", ID_LINE).read_bytes()
    captions = pipeline._caption_findings

    def swap_then_read_captions(input_path, *own):
        path.write_bytes(labelled)
        return captions(input_path, *own)

    monkeypatch.setattr(pipeline, "_caption_findings", swap_then_read_captions)
    assert checked(path)["status"] == "clean"  # the bytes held, not those now on disk
    monkeypatch.setattr(pipeline, "_caption_findings", captions)
    found = checked(path)
    assert found["exit"] == 1 and any(f["stage"] == "text" for f in found["findings"])


def test_a_cache_that_cannot_be_written_is_no_cache(tmp_path, monkeypatch):
    """The cache folder is a file here: every check looks at the pixels, and finds the ID each time."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    monkeypatch.setenv("DEIDENT_CACHE_DIR", str(blocker))
    clean, labelled = photo(tmp_path / "wrist.jpg"), photo(tmp_path / "label.jpg", ID_LINE)
    for _ in range(2):
        assert checked(clean)["reason"] == "" and checked(clean)["status"] == "clean"
        assert checked(labelled)["exit"] == 1
    assert blocker.read_bytes() == b""


def test_the_configuration_turns_the_cache_off_and_config_says_so(tmp_path):
    clean = photo(tmp_path / "wrist.jpg")
    shown = CliRunner().invoke(cli, ["config"]).output
    assert re.search(r"check\s+│\s+--cache\s+│\s+True\s+│\s+default", shown), shown
    (tmp_path / ".deident.toml").write_text("[check]\ncache = false\n")
    shown = CliRunner().invoke(cli, ["config"]).output
    assert re.search(r"check\s+│\s+--cache\s+│\s+False\s+│", shown), shown
    for _ in range(2):
        assert checked(clean)["reason"] == ""
    assert entries() == []
