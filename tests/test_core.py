"""Keys, regions, planning and configuration: the pieces every stage builds on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from deident.config import find_config
from deident.keys import Keyring, load_key
from deident.options import FaceMode, Options, TextMode
from deident.paths import Planned, plan
from deident.regions import Redaction, Region, redact


def test_keyed_uids_are_stable_valid_and_key_dependent(keyring):
    uid = keyring.uid("1.2.840.113619.2.55.3.604688119.969.1268071029.320")
    assert uid == keyring.uid("1.2.840.113619.2.55.3.604688119.969.1268071029.320")
    assert uid != Keyring(b"another-key-of-sufficient-length").uid(
        "1.2.840.113619.2.55.3.604688119.969.1268071029.320"
    )
    assert len(uid) <= 64 and uid.startswith("2.25.") and all(p.isdigit() for p in uid.split("."))
    assert not uid[5:].startswith("0")


def test_pseudonyms_and_date_offsets_follow_the_patient(keyring):
    assert keyring.pseudonym("patient", "DOE^JOHN") == keyring.pseudonym("patient", " doe^john ")
    assert keyring.pseudonym("patient", "DOE^JOHN") != keyring.pseudonym("patient", "DOE^JANE")
    offsets = {keyring.day_offset(f"PATIENT{i}") for i in range(50)}
    assert 0 not in offsets and len(offsets) > 40


def test_key_is_created_once_with_private_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("DEIDENT_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    first = load_key()
    assert first.created and (tmp_path / "deident" / "key").stat().st_mode & 0o777 == 0o600
    second = load_key()
    assert not second.created and second.keyring == first.keyring


def test_short_keys_are_refused(tmp_path):
    short = tmp_path / "k"
    short.write_text("abc")
    with pytest.raises(ValueError):
        load_key(short)


@pytest.mark.parametrize("variable", ["DEIDENT_KEY", "DEIDENT_KEY_FILE"])
def test_a_key_from_the_environment_that_cannot_be_used_is_a_usage_error(tmp_path, monkeypatch, variable):
    """A short $DEIDENT_KEY, or a $DEIDENT_KEY_FILE that is missing, ended scrub and check in a Python
    traceback; --key-file gave a clean error. Now each names the setting to fix, exit 2, nothing written."""
    from click.testing import CliRunner

    from deident.cli import cli

    monkeypatch.delenv("DEIDENT_KEY", raising=False)
    monkeypatch.delenv("DEIDENT_KEY_FILE", raising=False)
    monkeypatch.setenv(variable, "abc" if variable == "DEIDENT_KEY" else str(tmp_path / "missing"))
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    for command in (["scrub", str(image), "-o", str(tmp_path / "out")], ["check", str(image)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert variable in result.output
    assert not (tmp_path / "out").exists()


def test_fill_covers_rotated_polygon_only():
    img = np.full((100, 100, 3), 200, np.uint8)
    quad = Region(((50, 10), (90, 50), (50, 90), (10, 50)), "text")
    out = redact(img, [Redaction(quad, "fill")])
    assert (out[50, 50] == 0).all() and (out[2, 2] == 200).all() and (out[12, 12] == 200).all()
    assert (img == 200).all(), "the input array must not be modified"


@pytest.mark.parametrize("style", ["blur", "pixelate"])
def test_blur_and_pixelate_erase_detail_inside_and_nothing_outside(style):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4096, (120, 160), dtype=np.uint16)
    box = Region.box(40, 30, 120, 90, "face")
    out = redact(img, [Redaction(box, style)])
    inside, before = out[31:90, 41:120].astype(float), img[31:90, 41:120].astype(float)
    assert inside.std() < 0.25 * before.std()
    outside = np.ones(img.shape, bool)
    outside[30:91, 40:121] = False
    assert (out[outside] == img[outside]).all()


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_plan_mirrors_folders_and_skips_temps_sidecars_and_links_never_names(tmp_path):
    src = tmp_path / "cases"
    _touch(src / "a.jpg")
    _touch(src / "sub" / "b.png")
    _touch(src / "sub" / "b.txt")  # caption beside b.png
    _touch(src / "a.deid.jpg")
    _touch(src / ".a.jpg.deid-tmp-123")
    _touch(src / ".DS_Store")
    os.symlink(src, src / "sub" / "loop")  # a loop must not be followed
    os.symlink(src / "a.jpg", src / "link.jpg")
    items = [
        p for p in plan([src], output_dir=None, in_place=False, read_only=False) if isinstance(p, Planned)
    ]
    work = {p.input.relative_to(src).as_posix(): p for p in items if not p.skip_reason}
    # a name like an output is an input: only the outputs journal knows deident's own files (outputs.py)
    assert set(work) == {"a.jpg", "sub/b.png", "a.deid.jpg"}
    assert work["a.jpg"].output == src / "a.deid.jpg"
    skipped = {p.input.name for p in items if p.skip_reason}
    assert skipped == {"b.txt", ".a.jpg.deid-tmp-123", ".DS_Store", "link.jpg", "loop"}  # links named

    out = tmp_path / "out"
    mirrored = {
        p.input.name: p.output
        for p in plan([src], output_dir=out, in_place=False, read_only=False)
        if isinstance(p, Planned) and not p.skip_reason
    }
    assert mirrored["b.png"] == out.resolve() / "sub" / "b.png"


def test_plan_reports_missing_arguments(tmp_path):
    items = list(plan([tmp_path / "nope.jpg"], output_dir=None, in_place=False, read_only=True))
    assert items == [(tmp_path / "nope.jpg", "no such file or directory")]


def test_config_found_upward_and_dot_file_wins(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.deident]\ntext = "phi"\n[tool.deident.scrub]\njobs = 1\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    config = find_config(deep)
    assert config.path == tmp_path / "pyproject.toml"
    assert config.for_command("scrub") == {"text": "phi", "jobs": 1}
    assert config.for_command("check") == {"text": "phi"}
    (tmp_path / "a" / ".deident.toml").write_text('faces = "eyes"\nredact-style = "blur"\n')
    config = find_config(deep)
    assert config.path == tmp_path / "a" / ".deident.toml"
    assert config.for_command("scrub") == {"faces": "eyes", "redact_style": "blur"}


def test_options_from_flat_values_take_enums_by_value_keep_defaults_and_refuse_contradictions(tmp_path):
    """What the CLI and a configuration file hand over: option names, ``None`` for unset, extra keys."""
    values = {"text": "phi", "faces": None, "keep_text": ["MRN"], "retain_dates": True, "key_file": "k"}
    options = Options.from_values(values | {"jobs": None, "max_pixels": None, "as_json": False})
    assert options.text is TextMode.PHI and options.faces is FaceMode.BLUR and options.keep_text == ("MRN",)
    assert options.dicom.retain_long_modified_dates and not options.dicom.retain_device_identity
    assert (options.jobs, options.max_pixels) == (Options().jobs, Options().max_pixels)
    with pytest.raises(ValueError, match="--rename needs --output-dir"):
        Options.from_values({"rename": True})
    with pytest.raises(ValueError, match="exclude each other"):
        Options.from_values({"in_place": True, "output_dir": tmp_path / "out"})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="--mapping file must not be inside"):
        Options.from_values({"rename": True, "output_dir": out, "mapping_file": out / "sub" / "map.csv"})
    with pytest.raises(ValueError):
        Options.from_values({"text": "some"})
