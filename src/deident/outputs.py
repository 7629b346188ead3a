"""Where a scrub may write: nothing lost, nothing overwritten that deident did not write.

Before any file of a batch is written, every planned output is settled:

- an output that is one of the batch's inputs (``-o`` at the input's own folder, a user's own
  ``scan.deid.jpg`` beside ``scan.jpg``) is refused, naming both: only ``--in-place`` replaces originals;
- two inputs mapped to one output are refused, naming both;
- an existing file is replaced only when deident wrote it, with the same key, or with ``--overwrite``;
- ``--resume`` skips an output only when it was made from this input with the same options, key and
  deident version;
- every output folder is tried for writing, so a read-only or impossible one stops the run before the
  slow stages, not after.

What made each output is kept in a private journal outside the output tree (nothing is added to the
folder that is shared): ``$XDG_STATE_HOME/deident/outputs/`` (``~/.local/state/deident/outputs``), one
file per output folder, one line per output written, naming the file by a hash of its name and its
identity on disk (device, inode, size, modification time), which a rename keeps. A line is written once
the output's data is on disk and before its rename, so an output a killed run put in place is known too.
A file at an output name is "deident's" only while it is that very file; moved or copied elsewhere it is
a file like any other.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deident.atomic import key_of
from deident.errors import DeidentError
from deident.keys import Keyring
from deident.options import Options
from deident.paths import Planned
from deident.version import __version__


class BatchRefused(DeidentError):
    """The batch would lose or overwrite a file: nothing was written. ``problems`` says each, in full."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass(frozen=True)
class Made:
    """What made an output: the key (its fingerprint, never the key) and the whole recipe."""

    key_id: str  # keyed fingerprint of the key: overwriting an earlier output needs the same key
    recipe: str  # options, key and deident version: --resume keeps an output only when all are the same
    source: str = ""  # which input it was made from (``source_id``); "" in lines older than that field


# Options that do not change what a file's output holds, so they do not enter its recipe: where and how the
# batch runs (a cluster's outputs are a local run's, byte for byte) and whether a review page is written.
NOT_IN_RECIPE = frozenset(
    {"jobs", "resume", "overwrite", "key", "output_dir", "in_place", "mapping_file"}
    | {"scheduler", "review_dir", "review_outputs_only", "cache", "all_stages"}
)


def made_by(options: Options) -> Made:
    keyring = Keyring(options.key or b"")
    key_id = keyring.digest("provenance", "key").hex()[:16]
    kept = {
        f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name not in NOT_IN_RECIPE
    }
    recipe = hashlib.sha256(f"{__version__}\0{key_id}\0{kept!r}".encode()).hexdigest()[:16]
    return Made(key_id, recipe)


# ---------------------------------------------------------------- the journal


def journal_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "deident" / "outputs"


@functools.lru_cache(maxsize=256)
def _journal_of(folder: Path) -> Path:
    real = os.fsencode(os.path.realpath(folder))
    return journal_dir() / hashlib.sha256(real).hexdigest()[:32]


def _name_id(name: str) -> str:
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:24]


NO_SOURCE = "-"  # an output made from no single input (a post bundle's picture)


def source_id(path: Path | None) -> str:
    """The input an output was made from, as the journal names it: a hash of its real path."""
    if path is None:
        return NO_SOURCE
    return hashlib.sha256(os.fsencode(os.path.realpath(path))).hexdigest()[:24]


Identity = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns: a rename keeps all four


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def record(entries: Sequence[tuple[Path, int | None, Path, Path | None]], made: Made) -> None:
    """Journal outputs about to be renamed into place: (final name, open descriptor or None, temporary,
    the input it was made from or None).

    Best effort: an output that could not be journaled is only treated, later, as a file deident did not
    write (a rerun asks for ``--overwrite``), never the other way round.
    """
    lines: dict[Path, list[str]] = {}
    for final, fd, temp, source in entries:
        try:
            st = os.fstat(fd) if fd is not None else os.stat(temp)
        except OSError:
            continue
        ident = " ".join(map(str, _identity(st)))
        line = f"{_name_id(final.name)} {ident} {made.key_id} {made.recipe} {source_id(source)}\n"
        lines.setdefault(_journal_of(final.parent), []).append(line)
    for journal, rows in lines.items():
        try:
            journal.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            os.write(fd, "".join(rows).encode())  # one append: lines of concurrent workers never interleave
        except OSError:
            pass
        finally:
            os.close(fd)


class Journal:
    """The journal as read by one run: which files at output names deident wrote, and how."""

    def __init__(self) -> None:
        self._folders: dict[Path, dict[tuple[str, Identity], Made]] = {}

    def made(self, path: Path, st: os.stat_result | None = None) -> Made | None:
        """What made the file now at ``path``, if deident wrote that very file; else None."""
        try:
            st = st or os.lstat(path)
        except OSError:
            return None
        return self._entries(path.parent).get((_name_id(path.name), _identity(st)))

    def _entries(self, folder: Path) -> dict[tuple[str, Identity], Made]:
        journal = _journal_of(folder)
        if journal not in self._folders:
            entries: dict[tuple[str, Identity], Made] = {}
            try:
                text = journal.read_text(encoding="ascii", errors="replace")
            except OSError:
                text = ""
            for line in text.splitlines():
                parts = line.split()
                if len(parts) in (7, 8) and all(p.isdigit() for p in parts[1:5]):
                    ident = (int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]))
                    entries[(parts[0], ident)] = Made(*parts[5:])
            self._folders[journal] = entries
        return self._folders[journal]


# ---------------------------------------------------------------- settling a plan


@dataclass
class Settled:
    work: list[Planned]  # to process
    done: list[tuple[Planned, str]]  # left as they are, with the reason (--resume, deident's own outputs)
    refused: list[tuple[Planned, str]]  # this file only (a read-only original with --in-place)


def settle(planned: Sequence[Planned], options: Options) -> Settled:
    """Decide, before anything is written, what each planned output may do; raise ``BatchRefused`` when
    the batch would replace an input, write two inputs to one file, or overwrite a file deident did not
    write (unless ``--overwrite``)."""
    journal, made, real = Journal(), made_by(options), Realpaths()
    settled = Settled([], [], [])
    inputs: dict[str, Path] = {}
    for item in planned:
        if item.skip_reason:
            continue
        if _own_output(item, options, journal):
            settled.done.append((dataclasses.replace(item, output=None), "already a deident output"))
            continue
        inputs.setdefault(real(item.input), item.input)
    problems: list[str] = []
    targets: dict[str, Path] = {}
    for item in planned:
        if item.skip_reason or real(item.input) not in inputs or item.output is None:
            continue
        target = real(item.output)
        if target in targets:
            problems.append(_both(targets[target], item.input, item.output))
            continue
        targets[target] = item.input
        if options.in_place:
            if _read_only(item.output) and not options.overwrite:
                settled.refused.append((item, "read-only file: not replaced (--overwrite replaces it)"))
            else:  # replaced only as it is now: an edit made while it is scrubbed is never lost
                settled.work.append(dataclasses.replace(item, replaces=key_of(item.output)))
            continue
        if target in inputs:
            problems.append(_replaces_input(item, inputs[target]))
            continue
        verdict, why = _existing(item, journal, made, options)
        if verdict == WRITE:
            settled.work.append(_may_replace(item, options))
        elif verdict == RESUMED:
            settled.done.append((item, why))
        else:
            problems.append(why)
    problems += unwritable_folders(item.output for item in settled.work if item.output is not None)
    if problems:
        raise BatchRefused(problems)
    return settled


def output_folder_problems(arguments: Sequence[str | os.PathLike], options: Options) -> list[str]:
    """An output folder inside an input folder (``scrub D -o D/sub``) is left out of that folder's walk,
    so it may hold only what deident wrote there: any other file would be neither scrubbed nor listed, and
    ``--overwrite`` could replace it. With ``--rename`` the output folder must not be an input folder at
    all: neutral names beside the originals would be taken as inputs by the next run.
    """
    out = options.output_dir
    if out is None or options.in_place or not os.path.isdir(out):
        return []
    out_real = Path(os.path.realpath(out))
    problems: list[str] = []
    for arg in arguments:
        root = Path(os.path.realpath(arg))
        if not os.path.isdir(arg) or not out_real.is_relative_to(root):
            continue
        if out_real == root:
            if options.rename:  # without --rename every output would be its own input: settle() says so
                problems.append(
                    f"output folder {out} is the input folder {arg}: outputs would lie beside the "
                    "originals and be taken as inputs by the next run; choose an output folder outside it"
                )
            continue
        foreign = _not_written_by_deident(out)
        if foreign is not None:
            problems.append(
                f"output folder {out} is inside the input folder {arg} and holds {foreign}, which deident "
                f"did not write: it would be neither scrubbed nor listed; choose an output folder outside "
                f"{arg} (or move that file out)"
            )
    return problems


def _not_written_by_deident(folder: Path) -> Path | None:
    """The first file under ``folder`` a scrub would take as an input that deident did not write there."""
    from deident.paths import plan

    journal = Journal()
    for item in plan([folder], output_dir=None, in_place=False, read_only=False):
        path = item.input if isinstance(item, Planned) else item[0]
        if isinstance(item, Planned) and item.skip_reason:
            continue  # its own temporaries, links, operating-system files, review pages
        if journal.made(path) is None and not _is_report(path):
            return path
    return None


class Realpaths:
    """``os.path.realpath`` for a batch's files, each folder resolved once rather than once per file.

    realpath checks every component of a path (an lstat each): a batch of 1,500 photos spent 0.1 s in it
    before the first file was processed. Only a file that is itself a symbolic link (one lstat to know)
    is resolved in full; any other file is its resolved folder joined with its own name.
    """

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}
        self._files: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path not in self._files:
            head, name = os.path.split(path)
            if name in ("", ".", "..") or os.path.islink(path):
                self._files[path] = os.path.realpath(path)
            else:
                if head not in self._folders:
                    self._folders[head] = os.path.realpath(head or ".")
                self._files[path] = os.path.join(self._folders[head], name)
        return self._files[path]


def _own_output(item: Planned, options: Options, journal: Journal) -> bool:
    """A walked file beside the inputs that deident wrote itself (``NAME.deid.EXT``): not an input again."""
    return (
        item.walked
        and not options.in_place
        and options.output_dir is None
        and journal.made(item.input) is not None
    )


def _both(first: Path, second: Path, output: Path) -> str:
    if os.path.realpath(first) == os.path.realpath(second):
        return f"{second}: given twice (its output {output} would be written twice)"
    return f"{first} and {second} would both be written to {output}: rename one, or use --rename"


def _replaces_input(item: Planned, other: Path) -> str:
    if os.path.realpath(other) == os.path.realpath(item.input):
        return (
            f"{item.input}: its output {item.output} is the input itself: originals are replaced only "
            "with --in-place (or choose another output folder)"
        )
    return (
        f"{item.input}: its output {item.output} would overwrite {other}, another input of this batch "
        "that deident did not write: rename it, or choose an output folder"
    )


def _may_replace(item: Planned, options: Options) -> Planned:
    """What the output's rename may replace (``atomic.Staged``): with --overwrite anything; else only the
    file now at its name (deident's own earlier output), or nothing when the name is free. Whatever
    takes the name meanwhile (another run, the user) is left as it is and the file fails."""
    assert item.output is not None
    return dataclasses.replace(item, replaces=key_of(item.output), overwrite=options.overwrite)


def _read_only(path: Path) -> bool:
    try:
        return not os.stat(path).st_mode & 0o222
    except OSError:
        return False


WRITE, RESUMED, REFUSED = "write", "resumed", "refused"


def _existing(item: Planned, journal: Journal, made: Made, options: Options) -> tuple[str, str]:
    """(WRITE, ""), (RESUMED, why it is kept) or (REFUSED, why) for the file at an item's output name."""
    assert item.output is not None
    try:
        st = os.lstat(item.output)
    except (
        FileNotFoundError,
        NotADirectoryError,
    ):  # a folder that cannot be made: unwritable_folders says so
        return WRITE, ""
    except OSError as exc:
        return REFUSED, f"{item.output}: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return (
            REFUSED,
            f"{item.input}: its output {item.output} exists and is not a regular file: not replaced",
        )
    earlier = journal.made(item.output, st)
    same_input = earlier is not None and earlier.source in ("", source_id(item.input))
    if earlier is not None and earlier.key_id == made.key_id and same_input:
        if options.resume and earlier.recipe == made.recipe and _newer(st, item.input):
            return RESUMED, "output already written (same input, options, key and deident version)"
        return WRITE, ""
    if options.overwrite:
        return WRITE, ""
    if earlier is None:
        who = "deident did not write it"
    elif earlier.key_id != made.key_id:
        who = "deident wrote it with another key"
    else:
        who = "deident wrote it from another input"
    return (
        REFUSED,
        f"{item.input}: its output {item.output} exists and {who}: not overwritten (--overwrite replaces it)",
    )


def _newer(st: os.stat_result, source: Path) -> bool:
    try:
        return st.st_mtime >= os.stat(source).st_mtime
    except OSError:
        return False


def unwritable_folders(outputs) -> list[str]:
    """Try each output folder (its nearest existing ancestor) for writing, once, before the work starts."""
    problems: list[str] = []
    tried: set[Path] = set()
    for folder in sorted({Path(o).parent for o in outputs}):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing in tried:
            continue
        tried.add(existing)
        if not existing.is_dir():
            problems.append(f"output folder {folder}: {existing} is not a folder")
            continue
        try:
            fd, probe = tempfile.mkstemp(prefix=".deident-probe-", dir=existing)
        except OSError as exc:
            problems.append(f"output folder {folder} is not writable: {exc.strerror or exc}")
            continue
        os.close(fd)
        os.unlink(probe)
    return problems


# ---------------------------------------------------------------- reports and mappings


def report_problem(path: Path, inputs: Sequence[str | os.PathLike] = ()) -> str | None:
    """Why ``--report`` must not write ``path``; None when it may.

    The report may only take a free name or replace an earlier deident report (a JSON document whose
    ``tool`` is ``deident``): never an input, nor any other file, whatever its name.
    """
    real = os.path.realpath(path)
    for given in inputs:
        if os.path.realpath(given) == real:
            return f"--report {path} is an input of this run: not overwritten; choose another report file"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"--report {path}: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode) or not _is_report(path):
        return (
            f"--report {path} exists and is not a deident report: not overwritten; choose another "
            "report file (or move that one away)"
        )
    return None


def _is_report(path: Path) -> bool:
    import json

    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("tool") == "deident"


def write_report(path: Path, text: str) -> None:
    """Write a report atomically where ``report_problem`` allows it; ``BatchRefused`` otherwise.

    Looked at again here, after the run: an output of the run may have taken the name meanwhile. The
    rename replaces only the earlier report just looked at (``atomic.Staged``).
    """
    from deident.atomic import write_bytes_atomic

    problem = report_problem(path)
    if problem:
        raise BatchRefused([problem])
    write_bytes_atomic(path, text.encode("utf-8"), replaces=key_of(path), overwrite=False)


MAPPING_HEADER = ["original", "output"]


def read_mapping(path: Path) -> dict[str, str]:
    """The rows of an existing ``--rename`` mapping ({} when there is none); ``BatchRefused`` when the file
    there is not one (it is never replaced: it may be anything of the user's)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
            reader = csv.reader(fh)
            if next(reader, None) != MAPPING_HEADER:
                raise ValueError("no original,output header")
            rows = dict((row[0], row[1]) for row in reader if len(row) == 2)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, csv.Error) as exc:
        raise BatchRefused(
            [
                f"--mapping {path} exists and is not a deident mapping ({exc}): not overwritten; choose "
                "another mapping file (or move that one away)"
            ]
        ) from None
    return rows
