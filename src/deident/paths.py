"""Which files a run touches and where each output goes.

Directory arguments are walked without following symlinks (no loops, no escaping the tree); a symlink
named explicitly on the command line is followed. Special files (FIFOs, sockets, devices) are never opened:
reading a FIFO blocks for ever. ``scrub`` skips, with a reason, what it must not copy (operating-system
files, its own unfinished temporaries, links inside a folder); ``check`` is a gate and judges content, never
names: every file it is given is checked, or named as not checkable.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TEMP_MARK = ".deid-tmp-"
OUTPUT_MARK = ".deid"
REVIEW_MARK = ".deident-review"  # in a review page's folder: a later scrub over its parent leaves it out
# Written by operating systems, never images; Thumbs.db even holds thumbnails: never copy, never fail on.
SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini", "ehthumbs.db", ".directory"}
# Names that promise a picture (as the pre-commit hooks select them): such a file whose content deident
# cannot read fails, with the run; a folder's other files (notes, slide decks, PDFs) are only listed. The
# pictures deident reads, then other pictures, scans, slides and clips a teaching folder holds: a BMP, a
# camera's raw file or a cine clip left out with exit 0 would pass a script's check unread.
IMAGE_SUFFIXES = {
    *(".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".tif", ".tiff", ".webp", ".gif"),
    *(".dcm", ".dicom", ".dic", ".heic", ".heif", ".hif", ".avif"),
    *(".svs", ".ndpi", ".scn", ".bif", ".qptiff"),
    *(".bmp", ".dib", ".tga", ".jp2", ".j2k", ".jpx", ".jxl", ".psd", ".pcx", ".exr"),
    *(".ppm", ".pgm", ".pbm", ".pnm"),
    *(".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw"),
    *(".ima", ".img", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".mnc"),
    *(".mrxs", ".czi", ".vsi", ".lif", ".nd2", ".lsm", ".isyntax", ".vms", ".zvi"),
    *(".mp4", ".mov", ".avi", ".m4v", ".mkv", ".wmv", ".mpg", ".mpeg", ".webm"),
}
# Text beside an image is a caption (handled with its image), not an input of its own.
SIDECAR_SUFFIXES = {".txt", ".md", ".json"}


@dataclass(frozen=True)
class Planned:
    input: Path
    output: Path | None  # None for read-only commands
    skip_reason: str = ""  # non-empty: reported as skipped, not processed
    walked: bool = False  # found inside a folder argument (not named on the command line)
    # What the output may replace, settled by deident.outputs (see atomic.Staged): the file key of the
    # file now at the output name (None: the name must still be free), or anything with ``overwrite``.
    replaces: tuple[int, ...] | None = None
    overwrite: bool = False
    # The path whose file and folder names the name check judges (see ``shown``); None: the input's.
    shown: Path | None = None


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


def _walk(root: Path, exclude: Path | None, *, read_only: bool) -> Iterator[Path | tuple[Path, str]]:
    """Every file under ``root``, and every link to a folder (named, never followed); ``(folder,
    reason)`` for a folder that could not be read, so that nothing under it passes unseen. Scrub leaves
    out its output folder and deident's temporary folders (``TEMP_MARK`` in the name); a folder of the
    user's named ``.deid…`` is walked like any other."""
    unread: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unread.append, followlinks=False):
        yield from _unread(unread)
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink() and not _slide_folder(here / d)]
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _slide_folder(here / d)  # read and checked with its slide
            and (read_only or not ((exclude and _same(here / d, exclude)) or TEMP_MARK in d))
        )
        for name in sorted([*filenames, *links]):
            yield here / name
    yield from _unread(unread)


def _unread(errors: list[OSError]) -> Iterator[tuple[Path, str]]:
    while errors:
        exc = errors.pop(0)
        why = exc.strerror or str(exc)
        yield (Path(exc.filename), f"folder could not be read ({why}): nothing in it was looked at")


def _slide_folder(path: Path) -> bool:
    """``X/`` beside ``X.mrxs``: part of that slide, read and written with it (formats/mrxs.py)."""
    return path.with_name(path.name + ".mrxs").is_file()


def _in_review_page(path: Path) -> bool:
    """A file of a review page (``index.html``, ``thumbs/…``): its folder carries deident's marker."""
    return (path.parent / REVIEW_MARK).is_file() or (path.parent.parent / REVIEW_MARK).is_file()


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _is_sidecar(path: Path) -> bool:
    """A caption an image beside it reads (``history.sidecars``): a JSON file without a caption or history
    field is none, and was set aside unread by a check ("checked with the image") that never read it."""
    from deident.history.sidecars import is_caption

    if path.suffix.lower() not in SIDECAR_SUFFIXES or not is_caption(path):
        return False
    return any(
        p != path and p.stem == path.stem and p.suffix.lower() not in SIDECAR_SUFFIXES
        for p in path.parent.glob(glob_escape(path.stem) + ".*")
    )


def shown(arg: Path) -> Path:
    """The path an argument names, as far as it is shared: what the name check judges of it and below it.

    A relative path's folders are part of what the user named (a repository's, as a pre-commit hook gives
    them); an absolute path's are only where it lies on this machine ("/tmp/x/deid-data-0.0.20/…": a
    version number read as a date refused a file whose output never carried that folder): its own name.
    """
    if not arg.is_absolute():
        parts = [p for p in Path(os.path.normpath(arg)).parts if p not in (".", "..")]
        if parts:
            return Path(*parts)
    return Path(Path(os.path.abspath(arg)).name)


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
    out_shown = shown(output_dir) if output_dir else None
    for arg in arguments:
        arg = Path(arg)
        if not arg.exists() and not arg.is_symlink():
            yield (arg, "no such file or directory")
            continue
        if arg.is_dir():
            for path in _walk(arg, out_root, read_only=read_only):
                if isinstance(path, tuple):
                    yield path
                    continue
                rel = path.relative_to(arg)
                item = _planned(path, rel, out_root, in_place, read_only, walked=True)
                yield _with_shown(item, shown(arg) / rel, out_shown and out_shown / rel)
        else:
            item = _planned(arg, Path(arg.name), out_root, in_place, read_only, walked=False)
            yield _with_shown(item, shown(arg), out_shown and out_shown / arg.name)


def _with_shown(item: Planned | tuple, given: Path, under_output: Path | None) -> Planned | tuple:
    """What the name check judges: a check, the input as given; a scrub, what its output carries (the
    path below ``-o`` as the folder was given, or beside its input the input's folders as given)."""
    if not isinstance(item, Planned):
        return item
    if item.output is None:
        return dataclasses.replace(item, shown=given)
    return dataclasses.replace(item, shown=under_output or given.with_name(item.output.name))


def special_kind(path: Path) -> str | None:
    """The kind of a special file ("FIFO", "socket", "device"), never to be opened; None otherwise.

    A symbolic link inside a folder is judged as the link (it is not followed); one named on the command
    line as what it points to.
    """
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            mode = os.stat(path).st_mode
    except OSError:
        return None  # a dangling link or a loop: opening it fails with its own reason
    for test, kind in _SPECIAL_KINDS:
        if test(mode):
            return kind
    return None


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "device"),
    (stat.S_ISBLK, "device"),
)


@dataclass(frozen=True)
class LeftOut:
    """A kind of path a command does not process as an image, and what each command says about it.

    ``scrub`` skips what it must not copy. ``check`` is a gate that judges content, never names: what
    it cannot read as what it is (a link it does not follow, a special file) is named as not checkable
    (exit 2); a ``check`` reason of None means the file is checked like any other.
    """

    applies: Callable[[Path, bool], bool]  # (path, found inside a folder)
    scrub: str
    check: str | None
    check_fails: bool = True


LEFT_OUT = (
    LeftOut(
        lambda p, walked: walked and p.is_symlink(),
        "symbolic link inside a folder (not followed)",
        "symbolic link inside a folder: not followed, not checked",
    ),
    LeftOut(
        lambda p, walked: special_kind(p) is not None,
        "special file ({kind}): never opened",
        "special file ({kind}): never opened, not checkable",
    ),
    LeftOut(lambda p, walked: p.name in SYSTEM_FILES, "operating-system file, not copied", None),
    LeftOut(lambda p, walked: is_temp(p), "unfinished deident temporary file", None),
    LeftOut(
        lambda p, walked: walked and _in_review_page(p),
        "part of a deident review page (pictures of originals): not copied",
        None,  # check judges content, never names: a file given to it is checked
    ),
    LeftOut(
        lambda p, walked: walked and _is_sidecar(p),
        "caption beside an image (handled with the image)",
        "caption beside an image (checked with the image)",
        check_fails=False,
    ),
)


def _left_out(path: Path, walked: bool, read_only: bool) -> tuple[str, bool]:
    """(reason, fails) for a path the command does not process as an image; ("", False) otherwise.

    ``fails``: a failed result (exit 2 for check) rather than a skipped one. A special file named on the
    scrub command line fails too: it was asked for and cannot be made safe.
    """
    for rule in LEFT_OUT:
        reason = rule.check if read_only else rule.scrub
        if reason is None or not rule.applies(path, walked):
            continue
        kind = special_kind(path)
        fails = rule.check_fails if read_only else (not walked and kind is not None)
        return reason.format(kind=kind), fails
    return "", False


def _planned(path: Path, rel: Path, out_root, in_place, read_only, *, walked: bool):
    skip, fails = _left_out(path, walked, read_only)
    if fails:
        return (path, skip)
    if read_only:
        return Planned(path, None, skip, walked)
    if in_place:
        output = path.resolve() if path.is_symlink() else path  # the link's target is what gets scrubbed
    elif out_root is not None:
        output = out_root / rel
    else:
        output = path.with_name(f"{path.stem}{OUTPUT_MARK}{path.suffix}")
    return Planned(path, output, skip, walked)
