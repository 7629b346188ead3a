"""Which files a run touches and where each output goes.

Directory arguments are walked without following symlinks (no loops, no escaping the tree); a symlink
named explicitly on the command line is followed. deident's own outputs and temporary files are never
taken as inputs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TEMP_MARK = ".deid-tmp-"
OUTPUT_MARK = ".deid"
# Written by operating systems, never images; Thumbs.db even holds thumbnails: never copy, never fail on.
SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini", "ehthumbs.db", ".directory"}
# Text beside an image is a caption (handled with its image), not an input of its own.
SIDECAR_SUFFIXES = {".txt", ".md", ".json"}


@dataclass(frozen=True)
class Planned:
    input: Path
    output: Path | None  # None for read-only commands
    skip_reason: str = ""  # non-empty: reported as skipped, not processed


def is_temp(path: Path) -> bool:
    return TEMP_MARK in path.name


def temp_prefix(final_name: str) -> str:
    """Outputs are written as ``.NAME.deid-tmp-XXXXXXXX`` beside NAME (XXXXXXXX: mkstemp's random part)."""
    return f".{final_name}{TEMP_MARK}"


_TEMP_RANDOM = re.compile(r"[a-z0-9_]{8}")  # what tempfile.mkstemp puts after the prefix


def temp_owner(name: str) -> str | None:
    """The final name a temporary file named ``name`` was written for; None when it is not exactly one."""
    if not name.startswith(".") or TEMP_MARK not in name:
        return None
    final = name[1 : name.rindex(TEMP_MARK)]
    rest = name[len(temp_prefix(final)) :]
    return final if final and _TEMP_RANDOM.fullmatch(rest) else None


def is_output_name(path: Path) -> bool:
    return path.stem.endswith(OUTPUT_MARK)


def _walk(root: Path, exclude: Path | None) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not (exclude and _same(here / d, exclude))
            and not d.startswith(".deid")
            and TEMP_MARK not in d
            and not _slide_folder(here / d)
        )
        for name in sorted(filenames):
            yield here / name


def _slide_folder(path: Path) -> bool:
    """``X/`` beside ``X.mrxs``: part of that slide, read and written with it (formats/mrxs.py)."""
    return path.with_name(path.name + ".mrxs").is_file()


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _is_sidecar(path: Path) -> bool:
    if path.suffix.lower() not in SIDECAR_SUFFIXES:
        return False
    return any(
        p != path and p.stem == path.stem and p.suffix.lower() not in SIDECAR_SUFFIXES
        for p in path.parent.glob(glob_escape(path.stem) + ".*")
    )


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def plan(
    arguments: Iterable[str | os.PathLike],
    *,
    output_dir: Path | None,
    in_place: bool,
    read_only: bool,
) -> Iterator[Planned | tuple[Path, str]]:
    """Yield a ``Planned`` per input file, or ``(path, reason)`` for an argument that cannot be used."""
    out_root = output_dir.resolve() if output_dir else None
    for arg in arguments:
        arg = Path(arg)
        if not arg.exists() and not arg.is_symlink():
            yield (arg, "no such file or directory")
            continue
        if arg.is_dir():
            for path in _walk(arg, out_root):
                yield _planned(path, path.relative_to(arg), out_root, in_place, read_only, walked=True)
        else:
            yield _planned(arg, Path(arg.name), out_root, in_place, read_only, walked=False)


def _planned(path: Path, rel: Path, out_root, in_place, read_only, *, walked: bool) -> Planned:
    skip = ""
    if path.name in SYSTEM_FILES:
        skip = "operating-system file, not copied"
    elif is_temp(path):
        skip = "unfinished deident temporary file"
    elif walked and path.is_symlink():
        skip = "symbolic link inside a folder (not followed)"
    elif walked and not out_root and not in_place and is_output_name(path):
        skip = "already a deident output"
    elif walked and _is_sidecar(path):
        skip = "caption beside an image (handled with the image)"
    if read_only:
        return Planned(path, None, skip)
    if in_place:
        output = path
    elif out_root is not None:
        output = out_root / rel
    else:
        output = path.with_name(f"{path.stem}{OUTPUT_MARK}{path.suffix}")
    return Planned(path, output, skip)
