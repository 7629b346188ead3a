"""Pixels deident found clean, remembered by content: ``check`` does not look again at the same bytes.

A pre-commit hook checks the files deident just wrote, and the same unchanged files again and again
(``pre-commit run --all-files``, a commit retried after one file was fixed). Each entry says: these very
bytes, looked at by this very deident (its code, each package it requires, the kind of processor:
``fingerprint``) with the same options (in PHI mode, the same deny-list too), showed nothing in their
pixels; either a full check found nothing there, or a scrub wrote them and its verification passed
(``check`` must say of an output what the scrub that wrote it said). Anything else is looked at again: a
changed byte, another version of any package it requires, other options. Only the pixel stages are
remembered; metadata, DICOM headers, names and captions are checked on every run (milliseconds). Only a
clean verdict is kept: a file with findings is looked at again every time, and an error is never
remembered.

The entries are empty files named by a SHA-256 of all of that, under ``$DEIDENT_CACHE_DIR`` or
``$XDG_CACHE_HOME/deident/checked`` (``~/.cache/deident/checked``): no name, path or pixel of any file,
only digests. A cache that cannot be read or written is no cache: the file is looked at. Entries unused
for 90 days are deleted (``prune``): each new version leaves all the old ones unused.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deident.options import Options, TextMode

if TYPE_CHECKING:
    from deident.formats.base import Source

# Formats whose whole content is the one file hashed (an MRXS slide's tiles are files beside it), and the
# whole-slide TIFFs ("wsi-svs", "wsi-ndpi", ...: one file each).
ONE_FILE_FORMATS = frozenset({"jpeg", "png", "gif", "webp", "tiff", "heif", "avif", "dicom"})
ONE_FILE_PREFIX = "wsi-"

# Said of a file whose pixels were not looked at again (its report's reason; the CLI counts these).
CHECKED_BEFORE = (
    "pixels as deident found them when it wrote or last checked these bytes (--no-cache looks again)"
)


def cache_dir() -> Path:
    """``$DEIDENT_CACHE_DIR`` (a CI job can keep it between runs), else under the user's cache folder."""
    if os.environ.get("DEIDENT_CACHE_DIR"):
        return Path(os.environ["DEIDENT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deident" / "checked"


@dataclass(frozen=True)
class Entry:
    """One file's place in the cache: found there means its pixels were clean."""

    path: Path

    def seen(self) -> bool:
        if not self.path.is_file():
            return False
        with contextlib.suppress(OSError):
            os.utime(self.path)  # in use: kept another KEEP_UNUSED (``prune``)
        return True

    def remember(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError:
            return  # no entry: the next run looks again
        prune(self.path.parent.parent)


# Entries unused for this long are deleted: another version of deident or of a package it requires, or
# other options, leave every entry made before unused for good (one empty file per clean file checked).
# A hit refreshes its entry. The folder is looked through when an entry is made, at most once a day.
KEEP_UNUSED = 90 * 24 * 3600
PRUNE_EVERY = 24 * 3600
PRUNED = "pruned"  # an empty file in the cache folder: its time is when the entries were last looked through
_SHARD, _ENTRY = re.compile(r"[0-9a-f]{2}"), re.compile(r"[0-9a-f]{62}")  # what ``entry_for`` names


def prune(root: Path, now: float | None = None) -> int:
    """Delete the entries under ``root`` unused for ``KEEP_UNUSED`` seconds, unless that was done less than
    ``PRUNE_EVERY`` ago; returns how many. Only files named and sized as entries are touched (the folder
    can be anyone's ``$DEIDENT_CACHE_DIR``), and nothing here fails a run: a cache is a convenience."""
    import time

    now = time.time() if now is None else now
    marker = root / PRUNED
    try:
        if now - marker.stat().st_mtime < PRUNE_EVERY:
            return 0
    except FileNotFoundError:
        pass
    except OSError:
        return 0
    try:
        marker.touch(mode=0o600)
        os.utime(marker, (now, now))
        with os.scandir(root) as listed:  # a linked folder is not followed: it is no shard of ours
            shards = [d.path for d in listed if _SHARD.fullmatch(d.name) and d.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    deleted = 0
    for shard in shards:
        with contextlib.suppress(OSError), os.scandir(shard) as found:
            for entry in found:
                if not (_ENTRY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)):
                    continue
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_size == 0 and now - st.st_mtime > KEEP_UNUSED:
                        os.unlink(entry.path)
                        deleted += 1
    return deleted


def entry_for(source: Source, fmt: str, options: Options, deny_terms: tuple[str, ...]) -> Entry | None:
    """Where the clean verdict of ``source``'s bytes (those held in memory, else the file's) is kept, or
    None when it may not be (cache off, a reviewer's decisions in play, a format of several files)."""
    one_file = fmt in ONE_FILE_FORMATS or fmt.startswith(ONE_FILE_PREFIX)
    if not options.cache or options.decisions is not None or not one_file:
        return None
    from deident.outputs import made_by
    from deident.review.decisions import file_sha256

    data = source.held()
    try:
        content = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(source.path)
    except OSError:
        return None
    recipe = made_by(options).recipe  # every option that changes what a file's output holds
    # the batch's deny-list (its metadata's names and dates) judges pixels in PHI mode only: a scrub reads
    # it from its inputs, a check of the outputs finds none there
    terms = "\0".join(sorted(deny_terms)) if options.text is TextMode.PHI else ""
    key = hashlib.sha256(f"{fingerprint()}\0{recipe}\0{terms}\0{content}".encode()).hexdigest()
    return Entry(cache_dir() / key[:2] / key[2:])


@functools.cache
def fingerprint() -> str:
    """A digest of what decides a verdict besides the file: the processor (``_processor``), deident's own
    files (an editable install keeps its version number through every change) and the name and version
    of each distribution it requires (the models and decoders ship in them; what those require in turn is
    built into them).

    Not every installed distribution: the pre-commit hook runs deident from an environment of its own,
    without the tools of the one the files were scrubbed in, and the verdicts of that scrub must hold
    there. Read from the dist-info folders on ``sys.path``: a few ms, where importlib.metadata took 190 ms
    to list them."""
    digest = hashlib.sha256(f"{sys.version_info[:2]} {_processor()}".encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.suffix in PACKAGED and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    installed = _installed()
    own = installed.get("deident")
    # deident run from a source tree without a dist-info of its own: every distribution there is
    needed = {"deident", *_requires(own[1])} if own else set(installed)
    digest.update("\0".join(f"{n} {installed[n][0]}" for n in sorted(needed & set(installed))).encode())
    return digest.hexdigest()


def _processor() -> str:
    """The CPU's model and architecture: onnxruntime picks its kernels by instruction set, and a verdict on
    texture (a row of buttons, rivets) can differ in the last bits on another processor. A cache shared
    between machines (``DEIDENT_CACHE_DIR`` on a network share, a CI cache) is then shared only by alike
    ones."""
    import platform

    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
        model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    return f"{platform.machine()} {model or platform.processor()}"


# What a wheel of deident holds: its modules and pyproject's package-data.
PACKAGED = frozenset({".py", ".json", ".onnx", ".txt", ".csv", ".toml", ".html", ".js", ".css"})


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> dict[str, tuple[str, Path]]:
    """Each distribution on ``sys.path``: normalised name -> (version, its dist-info folder); the first
    one on the path wins, as for imports."""
    found: dict[str, tuple[str, Path]] = {}
    for folder in filter(None, sys.path):  # "" is the working folder: no installed package is there
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in names:
            if entry.endswith(".dist-info") and "-" in entry:
                name, version = entry.removesuffix(".dist-info").rsplit("-", 1)
                found.setdefault(_normal(name), (version, Path(folder) / entry))
    return found


_REQUIREMENT = re.compile(r"Requires-Dist:\s*([A-Za-z0-9._-]+)([^;]*)(?:;(.*))?")


def _requires(dist_info: Path) -> list[str]:
    """The distributions a distribution requires, extras left out (markers otherwise ignored: a
    requirement not installed is skipped by the caller)."""
    try:
        lines = (dist_info / "METADATA").read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        if not line:
            break  # the headers end at the first blank line
        m = _REQUIREMENT.match(line)
        if m and "extra" not in (m.group(3) or ""):
            out.append(_normal(m.group(1)))
    return out
