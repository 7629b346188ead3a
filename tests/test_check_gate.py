"""``deident check`` is a gate: it looks at a file only until something refuses it (metadata, names and
captions, then faces, then text and codes, the text look ending with its first pass that finds a line), and
it refuses exactly the files that every stage together refuses (``check --all-stages``, ``inspect``). What a
file holds is known from how it was made: planted EXIF bytes, scikit-image's astronaut (a face), text that
Tesseract reads, not from deident's own check."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytesseract
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from deident.cli import cli
from deident.pipeline import LOOKED_NO_FURTHER
from support import need
from support.photos import segment, with_segments
from support.planted import OWNER, exif_block

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
ID_LINE = "MRN 4455667"
ROOT = Path(__file__).resolve().parents[1]
REALWORLD = ROOT.parent / "shared" / "corpora" / "realworld"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configuration file from outside the test


def gradient(shift: int = 0) -> np.ndarray:
    """A smooth 320x240 RGB picture, text-free and face-free (``shift`` moves it sideways)."""
    yy, xx = np.mgrid[0:240, 0:320]
    return np.stack([(xx + shift) * 255 // 319 % 256, yy * 255 // 239, np.full_like(xx, 90)], 2).astype(
        np.uint8
    )


def with_label(rgb: np.ndarray) -> Image.Image:
    """``rgb`` with ID_LINE burned into a white strip at its bottom left."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, img.height - 44, 300, img.height), fill=(255, 255, 255))
    draw.text((10, img.height - 40), ID_LINE, fill=(0, 0, 0), font=ImageFont.truetype(FONT, 28))
    return img


def labelled(path: Path, rgb: np.ndarray | None = None, exif: bool = False) -> Path:
    """A JPEG of ``rgb`` (default: ``gradient``) with ``with_label``'s strip, and with ``exif`` a planted
    EXIF block (GPS, owner, dates)."""
    img = with_label(gradient() if rgb is None else rgb)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    if exif:
        data = with_segments(data, segment(0xE1, b"Exif\0\0" + exif_block(1)))
    path.write_bytes(data)
    strip = Image.open(path).crop((0, img.height - 44, 300, img.height))
    assert "4455667" in pytesseract.image_to_string(strip).replace(" ", "")  # the text is legible
    return path


def checked(*args) -> list[dict]:
    """Each file's entry of ``deident check --json -j 1 ARGS``, with the run's exit code."""
    result = CliRunner().invoke(cli, ["check", "--json", "-j", "1", *map(str, args)])
    assert result.exit_code in (0, 1), result.output
    return [f | {"exit": result.exit_code} for f in json.loads(result.stdout)["files"]]


def stages(entry: dict) -> set[str]:
    return {f["stage"] for f in entry["findings"] if f["action"] != "kept"}


def test_a_file_refused_by_its_metadata_is_not_looked_at_further(tmp_path):
    path = labelled(tmp_path / "case.jpg", exif=True)
    assert OWNER.encode() in path.read_bytes()
    [gate] = checked(path)
    assert (gate["status"], gate["exit"], gate["reason"]) == ("unsafe", 1, LOOKED_NO_FURTHER)
    assert stages(gate) == {"metadata"}
    [every] = checked("--all-stages", path)
    assert every["status"] == "unsafe" and every["reason"] == ""
    assert stages(every) == {"metadata", "text"}


def test_a_picture_with_a_face_is_refused_without_a_text_look(tmp_path, monkeypatch):
    data = need("skimage.data", "scikit-image's sample photos")
    from deident.text import TextDetector

    path = labelled(tmp_path / "astronaut.jpg", data.astronaut())
    looks = []
    look = TextDetector.look
    monkeypatch.setattr(TextDetector, "look", lambda self, *a, **k: looks.append(1) or look(self, *a, **k))
    [gate] = checked(path)  # one file, -j 1: looked at in this process
    assert (gate["status"], gate["exit"], gate["reason"]) == ("unsafe", 1, LOOKED_NO_FURTHER)
    assert stages(gate) == {"faces"} and looks == []
    [every] = checked("--all-stages", path)
    assert stages(every) == {"faces", "text"} and every["reason"] == "" and looks


def test_text_is_looked_for_where_nothing_refused_the_file_before(tmp_path, monkeypatch):
    """...and the text look ends with its first pass that finds a line: no closer look at faint heat."""
    from deident.text import detect

    closer = []
    faint = detect._faint
    monkeypatch.setattr(detect, "_faint", lambda *a, **k: closer.append(1) or faint(*a, **k))
    path = labelled(tmp_path / "label.jpg")
    [gate] = checked(path)
    assert (gate["status"], gate["exit"], gate["reason"]) == ("unsafe", 1, LOOKED_NO_FURTHER)
    assert stages(gate) == {"text"} and closer == []
    [every] = checked("--all-stages", path)
    assert stages(every) == {"text"} and every["reason"] == "" and closer


def test_inspect_lists_every_identifier(tmp_path):
    path = labelled(tmp_path / "case.jpg", exif=True)
    result = CliRunner().invoke(cli, ["inspect", "--json", "-j", "1", str(path)])
    [entry] = json.loads(result.stdout)["files"]
    assert stages(entry) == {"metadata", "text"} and entry["reason"] == ""


def _pictures(tmp_path: Path) -> list[Path]:
    """The bundled sample images, the planted cases above, a plain picture (clean: every other one here
    carries an identifier, so without ../shared the gate's "clean" verdict went untested), and ../shared's
    real-world photos if present."""
    out = sorted(p for p in (ROOT / "sample_images").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    out += [labelled(tmp_path / "label.jpg"), labelled(tmp_path / "case.jpg", exif=True)]
    ramp = np.linspace(40, 220, 320, dtype=np.uint8)
    Image.fromarray(np.dstack([np.tile(ramp, (240, 1))] * 3)).save(tmp_path / "plain.png")
    out.append(tmp_path / "plain.png")
    if REALWORLD.is_dir():
        out += sorted(p for d in ("faces", "controls", "text") for p in (REALWORLD / d).glob("*.[jp][pn]g"))
    return out


def test_the_gate_refuses_exactly_what_every_stage_refuses(tmp_path):
    pictures = _pictures(tmp_path)
    gate = {f["input"]: f["status"] for f in checked(*pictures)}
    every = {f["input"]: f["status"] for f in checked("--all-stages", "--no-cache", *pictures)}
    assert gate == every
    assert {"unsafe", "clean"} <= set(gate.values())  # both verdicts are among them


def test_a_check_with_a_reviewers_decisions_runs_every_stage(tmp_path):
    """Each decision must meet the detection it keeps (else it is reported as unused): with decisions,
    a file refused by its metadata is still read for text, and the kept line is matched."""
    from deident.review.decisions import FORMAT, VERSION, checksum, file_sha256

    path = labelled(tmp_path / "case.jpg", exif=True)
    files = {file_sha256(path): {"keep": [{"frame": 0, "box": [0, 196, 300, 240], "stage": "text"}]}}
    decisions = tmp_path / "decisions.json"
    decisions.write_text(
        json.dumps({"format": FORMAT, "version": VERSION, "files": files, "sha256": checksum(files)})
    )
    [entry] = checked("--decisions", decisions, path)
    assert entry["status"] == "unsafe" and entry["reason"] == ""  # the metadata refuses it
    user = sorted((f["kind"], f["action"]) for f in entry["findings"] if f["stage"] == "user")
    assert user == [("user.keep", "kept")]  # the text look ran and met the kept line


def _animation_with_text(path: Path, frames: int = 6) -> Path:
    """An animated GIF whose every frame shows ``with_label``'s strip over a moving gradient."""
    stack = [with_label(gradient(9 * k)) for k in range(frames)]
    stack[0].save(path, save_all=True, append_images=stack[1:], duration=100, loop=0)
    return path


def test_a_multi_frame_file_is_refused_at_its_first_frame_with_a_finding(tmp_path):
    """The gate stops at the first frame with a finding; every stage looks at all of them. The animation's
    metadata (unused palette entries) is scrubbed first (``--text off``); Pillow reads the frames back and
    Tesseract the label in each."""
    from PIL import ImageSequence

    source = _animation_with_text(tmp_path / "loop.gif")
    scrub = ["scrub", "-j", "1", "--text", "off", "--faces", "off", str(source), "-o", str(tmp_path / "out")]
    made = CliRunner().invoke(cli, scrub)
    assert made.exit_code == 0, made.output
    path = tmp_path / "out" / "loop.gif"
    frames = [f.convert("RGB") for f in ImageSequence.Iterator(Image.open(path))]
    assert len(frames) == 6
    assert all(
        "4455667" in pytesseract.image_to_string(f.crop((0, 196, 300, 240))).replace(" ", "") for f in frames
    )
    [gate] = checked(path)
    assert (gate["status"], gate["reason"]) == ("unsafe", LOOKED_NO_FURTHER) and stages(gate) == {"text"}
    assert {f["area"]["frame"] for f in gate["findings"]} == {0}
    [every] = checked("--all-stages", path)
    assert stages(every) == {"text"} and {f["area"]["frame"] for f in every["findings"]} == set(range(6))


def test_the_configuration_can_ask_for_every_stage(tmp_path):
    """A coordinator's audit folder can keep ``all_stages = true`` in its configuration."""
    path = labelled(tmp_path / "case.jpg", exif=True)
    shown = CliRunner().invoke(cli, ["config"]).output
    assert re.search(r"check\s+│\s+--all-stages\s+│\s+False\s+│\s+default", shown), shown
    (tmp_path / ".deident.toml").write_text("[check]\nall_stages = true\n")
    shown = CliRunner().invoke(cli, ["config"]).output
    assert re.search(r"check\s+│\s+--all-stages\s+│\s+True\s+│", shown), shown
    [entry] = checked(path)
    assert stages(entry) == {"metadata", "text"} and entry["reason"] == ""
