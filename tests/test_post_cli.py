"""The ``deident post`` command: options reach ``build_post``, ``--json`` for scripts, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from deident import cli as main_cli
from deident.post.cli import command
from support import need
from support.post import CAPTION, CREDIT, PHI_IN_CAPTION, slide_photo

FAST = ("--text", "off", "--faces", "off", "-j", "1")


@pytest.fixture(scope="module")
def post():
    return command(main_cli._stage_options, main_cli._options)


def _run(post, *args: str):
    return CliRunner().invoke(post, [*args], catch_exceptions=False)


def test_json_bundle(post, tmp_path: Path):
    photo = slide_photo(tmp_path / "SMITH_JANE.jpg")
    out = tmp_path / "bundle"
    result = _run(post, str(photo), "-o", str(out), "--caption", CAPTION, "--credit", CREDIT, "--seed", "2",
                  "--tags", "+teachingcase,-pathology", "--long-side", "300", "--json", *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["images"] == [str(out / "post-1.jpg")]
    assert data["text"] == (out / "post.txt").read_text(encoding="utf-8")
    assert "#teachingcase" in data["hashtags"] and "#pathology" not in data["hashtags"]
    assert f"Image courtesy of {CREDIT}" in data["text"]
    for phi in PHI_IN_CAPTION:
        assert phi not in data["text"]
    assert max(Image.open(out / "post-1.jpg").size) == 300
    assert "SMITH" not in json.dumps({k: v for k, v in data.items() if k != "sources"})


def test_caption_file_and_text_output(post, tmp_path: Path):
    photo = slide_photo(tmp_path / "a.jpg")
    caption = tmp_path / "caption.txt"
    caption.write_text("Seen yesterday: a dermatofibroma on the left leg.", encoding="utf-8")
    out = tmp_path / "bundle"
    result = _run(post, str(photo), "-o", str(out), "--caption-file", str(caption), "--seed", "1", *FAST)
    assert result.exit_code == 0, result.output
    text = (out / "post.txt").read_text(encoding="utf-8")
    assert result.stdout == text and "yesterday" not in text and "#Dermatofibroma" in text


def test_refused_bundle_exits_1_and_writes_nothing(post, tmp_path: Path):
    photo = slide_photo(tmp_path / "a.jpg")
    out = tmp_path / "bundle"
    result = _run(post, str(photo), "-o", str(out), "--credit", "call 555-123-4567", "--json", *FAST)
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert not data["ok"] and "identifying" in data["reason"]
    assert not out.exists()


def test_usage_errors(post, tmp_path: Path):
    photo = slide_photo(tmp_path / "a.jpg")
    caption = tmp_path / "c.txt"
    caption.write_text("BCC")
    both = _run(post, str(photo), "-o", str(tmp_path), "--caption", "BCC", "--caption-file", str(caption))
    assert both.exit_code == 2
    assert _run(post, str(photo)).exit_code == 2  # -o is required


def test_consented_bars_the_eyes_unless_faces_is_given(post, tmp_path: Path):
    data = need("skimage.data", "scikit-image's sample photos")

    photo = tmp_path / "portrait.png"
    Image.fromarray(data.astronaut()).save(photo)
    common = (str(photo), "--text", "off", "-j", "1", "--long-side", "400", "--json")
    eyes = json.loads(_run(post, *common, "-o", str(tmp_path / "a"), "--consented").output)
    assert eyes["ok"], eyes["reason"]
    assert any(f["kind"] == "faces.eyes" for f in eyes["findings"])
    off = json.loads(_run(post, *common, "-o", str(tmp_path / "b"), "--consented", "--faces", "blur").output)
    assert off["ok"], off["reason"]
    kinds = {f["kind"] for f in off["findings"] if f["stage"] == "faces"}
    assert kinds and "faces.eyes" not in kinds
