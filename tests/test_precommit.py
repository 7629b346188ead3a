"""The pre-commit hooks, run by the real pre-commit framework from this repository's git URL.

A temporary "teaching files" repository uses this repository as a hook repo (``repo:`` a local path, the
way pre-commit clones any git URL). The hook repo is a clone of this repository's HEAD with the working
tree's changes to tracked files and the current ``.pre-commit-hooks.yaml`` committed on top, so the test
exercises what would be committed; in CI (a clean clone) that is HEAD itself. pre-commit builds its own
virtualenv and pip-installs deident into it once per test module (``PRE_COMMIT_HOME`` is shared).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from support import need

REPO = Path(__file__).resolve().parents[1]
HOOKS_FILE = REPO / ".pre-commit-hooks.yaml"
VENV_BIN = Path(sys.executable).parent
GIT = shutil.which("git")


def _hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load(HOOKS_FILE.read_text())}


# ---------------------------------------------------------------- the hook definitions (fast)


@pytest.mark.parametrize(
    "name",
    [
        "case.jpg",
        "CASE.JPEG",
        "a/b/photo.jpe",
        "scan.png",
        "slide.tif",
        "slide.TIFF",
        "x.webp",
        "x.gif",
        "ct/IM0001.dcm",
        "ct/IM0001.DCM",
        "x.dicom",
        "iphone.heic",
        "iphone.HEIF",
        "x.avif",
        "slide.svs",
        "slide.ndpi",
        "slide.scn",
        "slide.bif",
    ],
)
def test_hook_files_pattern_selects_images_dicom_and_slides(name):
    for hook in _hooks().values():
        assert re.search(hook["files"], name), (hook["id"], name)


def test_hook_files_pattern_selects_every_name_that_promises_a_picture():
    """The names a scrub fails on when it cannot read them (a BMP, a raw file, a clip) are the names the
    gate checks: a picture the hook never looked at would be committed."""
    from deident.paths import IMAGE_SUFFIXES

    for hook in _hooks().values():
        missing = [s for s in sorted(IMAGE_SUFFIXES) if not re.search(hook["files"], f"case{s}")]
        assert missing == [], (hook["id"], missing)


@pytest.mark.parametrize("name", ["README.md", "notes.txt", "case.json", "make.py", "jpg", "x.jpg.orig"])
def test_hook_files_pattern_leaves_other_files_alone(name):
    for hook in _hooks().values():
        assert not re.search(hook["files"], name), (hook["id"], name)


def test_hooks_run_deident_check_from_the_installed_package():
    hooks = _hooks()
    assert set(hooks) >= {"deident-check", "deident-check-fast"}
    assert hooks["deident-check"]["entry"] == "deident check"
    assert hooks["deident-check-fast"]["entry"] == "deident check --fast"
    for hook in hooks.values():
        assert hook["language"] == "python"  # installs this repository's package: the entry point exists
        assert "types" not in hook  # identify has no tags for dcm/heic/svs: selection is by name only


def test_example_config_uses_the_hook_ids():
    example = yaml.safe_load((REPO / "docs" / "examples" / "pre-commit-config.yaml").read_text())
    ids = {h["id"] for repo in example["repos"] for h in repo["hooks"]}
    assert ids and ids <= set(_hooks())


def test_guide_shows_the_example_config_as_it_is():
    example = (REPO / "docs" / "examples" / "pre-commit-config.yaml").read_text().rstrip("\n")
    guide = (REPO / "docs" / "guide.md").read_text()
    assert f"```yaml\n{example}\n```" in guide
    for hook in _hooks():
        assert f"`{hook}`" in guide


# ---------------------------------------------------------------- the real framework (slow)


def _run(cmd, cwd, env, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _git(*args, cwd, env) -> str:
    proc = _run([GIT, *args], cwd, env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    if GIT is None:
        pytest.skip("git is not installed")
    need("pre_commit", "the pre-commit framework that runs the hook")
    home = tmp_path_factory.mktemp("precommit-home")
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home / "cache"),  # one hook virtualenv for the whole module
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "XDG_CONFIG_HOME": str(home / "xdg"),
        "DEIDENT_CACHE_DIR": str(home / "deident-checked"),  # never the user's own verdicts
        "DEIDENT_KEY": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_PROGRESS_BAR": "off",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("PRE_COMMIT_ALLOW_NO_CONFIG", None)
    env.pop("SKIP", None)
    return env


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory, env) -> tuple[Path, str]:
    """A clone of this repository at HEAD plus the working tree's tracked changes; returns (path, rev)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path_factory.mktemp("hook-repo") / "deident"
    _git("clone", "--quiet", "--no-hardlinks", REPO, clone, cwd=REPO, env=env)
    diff = _run([GIT, "diff", "HEAD", "--binary"], REPO, env, timeout=120).stdout
    if diff.strip():
        proc = subprocess.run(
            [GIT, "apply", "--whitespace=nowarn"], cwd=clone, env=env, input=diff, text=True
        )
        assert proc.returncode == 0, "could not apply the working tree's changes to the clone"
    shutil.copyfile(HOOKS_FILE, clone / ".pre-commit-hooks.yaml")
    if _git("status", "--porcelain", cwd=clone, env=env):
        _git("add", "-A", cwd=clone, env=env)
        _git("commit", "--quiet", "--no-verify", "-m", "working tree under test", cwd=clone, env=env)
    return clone, _git("rev-parse", "HEAD", cwd=clone, env=env)


@pytest.fixture
def teaching_repo(tmp_path, env, hook_repo) -> Path:
    clone, rev = hook_repo
    repo = tmp_path / "teaching-files"
    repo.mkdir()
    _git("init", "--quiet", cwd=repo, env=env)
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {clone.as_uri()}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: deident-check\n"
        "      - id: deident-check-fast\n"
    )
    (repo / "README.md").write_text("Teaching cases.\n")
    _git("add", "-A", cwd=repo, env=env)
    _git("commit", "--quiet", "--no-verify", "-m", "start", cwd=repo, env=env)
    proc = _run([VENV_BIN / "python", "-m", "pre_commit", "install"], repo, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo


def _photo_with_gps(path: Path) -> None:
    """A smooth, text-free, face-free photo whose EXIF holds a GPS position."""
    yy, xx = np.mgrid[0:480, 0:640]
    arr = np.stack([xx * 255 // 639, yy * 255 // 479, np.full_like(xx, 128)], axis=2).astype(np.uint8)
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    Image.fromarray(arr).save(path, "JPEG", quality=90, exif=exif.tobytes())


@pytest.mark.slow
def test_commit_with_gps_photo_is_blocked_and_the_scrubbed_copy_passes(teaching_repo, env, tmp_path):
    photo = teaching_repo / "cases" / "wrist.jpg"
    photo.parent.mkdir()
    _photo_with_gps(photo)
    _git("add", "cases/wrist.jpg", cwd=teaching_repo, env=env)

    blocked = _run([GIT, "commit", "-m", "add case"], teaching_repo, env)
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, output
    assert "deident check" in output and "Failed" in output, output
    assert "cases/wrist.jpg" in output, output
    assert "GPS" in output, output
    assert _git("rev-list", "--count", "HEAD", cwd=teaching_repo, env=env) == "1"  # nothing committed

    scrubbed = tmp_path / "safe"
    proc = _run(
        [VENV_BIN / "deident", "scrub", photo, "-o", scrubbed, "--text", "off", "--faces", "off"],
        tmp_path,
        env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.copyfile(scrubbed / "wrist.jpg", photo)
    _git("add", "cases/wrist.jpg", cwd=teaching_repo, env=env)

    passed = _run([GIT, "commit", "-m", "add case"], teaching_repo, env)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert output.count("Passed") >= 2, output  # both hooks ran on the file and passed
    assert _git("rev-list", "--count", "HEAD", cwd=teaching_repo, env=env) == "2"


@pytest.mark.slow
def test_the_hook_passes_what_deident_scrub_made_safe(teaching_repo, env, tmp_path):
    """scikit-image's camera scrubbed with the defaults by this environment's deident: the hook, which
    runs deident from pre-commit's own environment, passes it. Once its face was blurred, a whole-frame
    look took the coat's row of buttons for a text line, and the hook refused the scrub's safe output."""
    data = pytest.importorskip("skimage.data")
    original = tmp_path / "in" / "camera.png"
    original.parent.mkdir()
    Image.fromarray(data.camera()).save(original)
    scrubbed = tmp_path / "safe"
    proc = _run([VENV_BIN / "deident", "scrub", original, "-o", scrubbed], tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    case = teaching_repo / "cases" / "camera.png"
    case.parent.mkdir()
    shutil.copyfile(scrubbed / "camera.png", case)
    _git("add", "cases/camera.png", cwd=teaching_repo, env=env)
    passed = _run([GIT, "commit", "-m", "add case"], teaching_repo, env)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert output.count("Passed") >= 2, output
