"""A check on another machine passes what ``scrub`` made safe (issue 17: no refusal of an ordinary photo for
a detection the pipeline caused itself).

Such a check has no entry of the scrub's verdict (``--no-cache``) and looks at the output whole. On real
photos it took texture beside a fresh blur for text: a coat's buttons ("0000"), a jerkin's rivet ("O"), a
tie's pattern ("8").
Judged by Pillow too: the pixels the check took for text are the original's, so the scrub left them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from deident.cli import cli

pytestmark = pytest.mark.slow


def _scrubbed_then_checked_elsewhere(original: Path, tmp_path: Path) -> tuple[Path, dict]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copyfile(original, inputs / original.name)
    scrub = CliRunner().invoke(cli, ["scrub", "-j", "1", "--json", str(inputs), "-o", str(tmp_path / "out")])
    [made] = json.loads(scrub.stdout)["files"]
    assert made["status"] == "safe", scrub.output
    check = CliRunner().invoke(cli, ["check", "--no-cache", "--json", "-j", "1", made["output"]])
    [verdict] = json.loads(check.stdout)["files"]
    return Path(made["output"]), verdict | {"exit": check.exit_code}


def _unchanged(original: Path, output: Path, box: tuple[int, int, int, int]) -> bool:
    a = np.asarray(Image.open(original).convert("RGB").crop(box), np.int16)
    b = np.asarray(Image.open(output).convert("RGB").crop(box), np.int16)
    return int(np.abs(a - b).max()) <= 8  # a lossless copy or the JPEG's own re-encoding noise


@pytest.mark.parametrize(
    ("name", "texture"),
    [
        ("camera.png", (150, 270, 195, 310)),  # scikit-image's cameraman: the coat's row of buttons
        ("faces/test_johnsnow_test1.jpg", (398, 785, 422, 815)),  # a rivet on the leather jerkin
        ("faces/obama_small.jpg", (108, 222, 172, 240)),  # the tie's pattern below the blurred face
    ],
)
def test_texture_beside_a_blurred_face_is_no_text_to_a_check_elsewhere(name, texture, tmp_path, request):
    if name == "camera.png":
        data = pytest.importorskip("skimage.data")
        original = tmp_path / "camera.png"
        Image.fromarray(data.camera()).save(original)
    else:
        original = request.getfixturevalue("shared_dir") / "corpora" / "realworld" / name
    output, verdict = _scrubbed_then_checked_elsewhere(original, tmp_path)
    assert _unchanged(original, output, texture)  # the scrub left it: it is no text
    assert (verdict["exit"], verdict["status"]) == (0, "clean"), verdict
