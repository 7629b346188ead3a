"""Writing files so that a crash or a full disk never leaves a half-written file at a final name."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deident.findings import Action, Finding
from deident.paths import temp_owner, temp_prefix

# A temporary left by a killed run is removed by a later run writing the same output, when no process
# holds its lock (each run locks its temporaries until they are renamed or removed) and it is older
# than LOCK_GRACE (the instant between creating a file and locking it). Where the filesystem has no
# locks, only when it is older than STALE_AFTER.
LOCK_GRACE = 10.0
STALE_AFTER = 600.0
LISTING_TTL = 60.0  # a folder is listed for stale temporaries at most once a minute per process


FileKey = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns: any edit changes one


def key_of(path: Path) -> FileKey | None:
    """The file key of the file at ``path`` (any edit changes it); None when there is none (or no path
    to one: a file where a folder of the path should be)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass
class Staged:
    """An output written under a temporary name beside its final one, not yet visible there."""

    temp: Path
    final: Path
    mode: int | None = None  # None: keep the mode of the file it replaces, else the umask default
    fd: int | None = None  # held open, and locked, while the temporary is ours
    swept: int = 0  # stale temporaries of the same output (from a killed run) removed by commit()
    # What the rename may replace, settled before the work started (deident.outputs): with ``replaces``
    # None the final name must still be free; else only the very file whose ``key_of`` it is, still
    # unchanged (an original being scrubbed in place, deident's own earlier output). ``overwrite``
    # (--overwrite) replaces whatever is there.
    replaces: FileKey | None = None
    overwrite: bool = True
    source: Path | None = None  # the input this output is made from (journaled with it)

    def writer(self) -> BinaryIO:
        """The temporary, emptied, for writing from the start (each redaction round rewrites it).

        Through the descriptor the stage holds: no second open of the same file.
        """
        if self.fd is None:
            return open(self.temp, "wb")
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        return open(self.fd, "wb", closefd=False)


def stage(
    final: Path,
    mode: int | None = None,
    *,
    replaces: FileKey | None = None,
    overwrite: bool = True,
    source: Path | None = None,
) -> Staged:
    """A temporary beside ``final``; ``replaces`` and ``overwrite`` say what its rename may replace
    (the defaults replace anything: a report or mapping rewritten in place)."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(final.name), dir=final.parent)
    if _try_lock(fd) is not True:
        os.close(fd)
        fd = None
    return Staged(Path(name), final, mode, fd, replaces=replaces, overwrite=overwrite, source=source)


def discard(staged: Staged) -> None:
    with contextlib.suppress(FileNotFoundError):
        staged.temp.unlink()
    _release(staged)


def _release(staged: Staged) -> None:
    if staged.fd is not None:
        os.close(staged.fd)
        staged.fd = None


def _try_lock(fd: int) -> bool | None:
    """True: locked now; False: another open file holds the lock; None: no locks here."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def sweep_stale(finals: Iterable[Path]) -> dict[Path, int]:
    """Remove stale temporaries (``.NAME.deid-tmp-XXXXXXXX``) of these outputs; returns the count per output.

    Only exact temporary names of the given outputs are looked at, and only regular files of this user
    that no process has locked, older than ``LOCK_GRACE`` (``STALE_AFTER`` where locks do not work).
    """
    wanted: dict[Path, set[str]] = {}
    for final in finals:
        wanted.setdefault(final.parent, set()).add(final.name)
    removed: dict[Path, int] = {}
    for folder, names in wanted.items():
        temps = _temps_in(folder)
        for name in names & temps.keys():
            for temp in temps.pop(name):
                if _remove_if_stale(folder / temp):
                    removed[folder / name] = removed.get(folder / name, 0) + 1
    return removed


_listings: dict[Path, tuple[float, dict[str, list[str]]]] = {}


def _temps_in(folder: Path) -> dict[str, list[str]]:
    """Output name -> its temporaries' names in ``folder``, listed at most once per ``LISTING_TTL``."""
    now = time.monotonic()
    cached = _listings.get(folder)
    if cached is not None and now - cached[0] < LISTING_TTL:
        return cached[1]
    temps: dict[str, list[str]] = {}
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            owner = temp_owner(entry.name)
            if owner is not None:
                temps.setdefault(owner, []).append(entry.name)
    _listings[folder] = (now, temps)
    return temps


def _remove_if_stale(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.getuid():
            return False
        locked = _try_lock(fd)
        age = time.time() - st.st_mtime
        if locked is False or age < (LOCK_GRACE if locked else STALE_AFTER):
            return False
        if os.lstat(path).st_ino != st.st_ino:
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def stale_finding(staged: Staged) -> Finding | None:
    """The finding a result gets when ``commit`` removed stale temporaries of its output."""
    if not staged.swept:
        return None
    n = staged.swept
    files = "temporary file" if n == 1 else "temporary files"
    return Finding(
        "output",
        "output.stale-temp",
        str(staged.final.parent),
        Action.REMOVED,
        f"{n} unfinished {files} of this output from an interrupted run",
    )


def commit(
    staged: Sequence[Staged], before_rename: Callable[[Sequence[Staged]], None] | None = None
) -> list[OSError | None]:
    """Flush every staged file to disk, then rename each into place.

    No final name appears before its data is on disk: each temporary is fsync'd (see ``_flush``)
    before any of the group is renamed, and ``sync_dirs`` later makes the renames durable.
    ``before_rename`` sees the group once its data is on disk (the pipeline journals what it wrote).
    Returns, per file, None or the error that kept it from its final name (its temporary is removed).
    """
    swept = sweep_stale(s.final for s in staged)
    flushed = _flush(staged)
    if before_rename is not None:
        before_rename([s for s, err in zip(staged, flushed, strict=True) if err is None])
    errors: list[OSError | None] = []
    for s, flush_error in zip(staged, flushed, strict=True):
        s.swept = swept.pop(s.final, 0)
        try:
            if flush_error is not None:
                raise flush_error
            _rename(s)
            errors.append(None)
        except OSError as exc:
            discard(s)
            errors.append(exc)
        _release(s)
    return errors


@contextlib.contextmanager
def atomic_output(
    final: Path, mode: int | None = None, *, replaces: FileKey | None = None, overwrite: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final`` in one rename.

    The original (``--in-place``) stays untouched until that rename, so a failed write never loses it.
    The caller fsyncs the temporary file, so a crash leaves the old name or the whole new file.
    ``replaces`` and ``overwrite``: what the rename may replace (see ``Staged``).
    """
    staged = stage(final, mode, replaces=replaces, overwrite=overwrite)
    try:
        yield staged.temp
        _rename(staged)
        _fsync_dir(final.parent)
    finally:
        discard(staged)


class NameTaken(FileExistsError):
    """The final name holds a file the rename must not replace: it is left as it is."""


def _rename(staged: Staged) -> None:
    """Put the temporary at its final name, replacing only what ``staged`` allows (see ``Staged``).

    What is there is looked at just before the rename: an original edited while it was being scrubbed,
    or a file another run or the user put at the output name meanwhile, is never replaced.
    """
    mode = staged.mode
    if mode is None:
        try:
            mode = staged.final.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
    os.chmod(staged.temp, mode)
    if staged.overwrite:
        os.replace(staged.temp, staged.final)
        return
    try:
        if staged.replaces is None:
            rename_noreplace(staged.temp, staged.final)
            return
        if key_of(staged.final) != staged.replaces:
            in_place = staged.source is not None and os.path.realpath(staged.source) == os.path.realpath(
                staged.final
            )
            why = CHANGED_WHILE_SCRUBBED if in_place else CHANGED_MEANWHILE
            raise NameTaken(errno.EEXIST, why, str(staged.final))
    except NameTaken:
        if not _holds_the_same(staged):
            raise
        os.unlink(staged.temp)  # this very output is there already: a retried task's first attempt
        return
    os.replace(staged.temp, staged.final)


def _holds_the_same(staged: Staged) -> bool:
    """True when the file at the final name is byte for byte what was staged for it (and is no
    ``--in-place`` original). A Dask task retried after its worker died renames outputs its first attempt
    may already have renamed: the same input, options and key give the same bytes, and nothing is lost by
    keeping them."""
    if staged.source is not None and os.path.realpath(staged.source) == os.path.realpath(staged.final):
        return False
    try:
        if os.path.getsize(staged.final) != os.path.getsize(staged.temp):
            return False
        with open(staged.final, "rb") as there, open(staged.temp, "rb") as ours:
            while chunk := ours.read(1 << 20):
                if there.read(len(chunk)) != chunk:
                    return False
        return True
    except OSError:
        return False


NAME_TAKEN = "output name taken meanwhile by another file, left as it is"
CHANGED_WHILE_SCRUBBED = "changed while being scrubbed; left as it is (run again to scrub it as it is now)"
CHANGED_MEANWHILE = "the file at the output name changed meanwhile; left as it is"


def rename_noreplace(source: Path, final: Path) -> None:
    """Rename ``source`` to ``final`` only if no file has that name: ``NameTaken`` otherwise.

    One ``renameat2(RENAME_NOREPLACE)`` where the kernel and the filesystem have it; else a hard link
    (which fails when the name exists) and the removal of ``source``. Never a look and then a rename: a
    file created between the two would be lost.
    """
    try:
        if _renameat2(source, final):
            return
        os.link(source, final)
    except FileExistsError:
        raise NameTaken(errno.EEXIST, NAME_TAKEN, str(final)) from None
    os.unlink(source)


@functools.cache
def _renameat2_fn():
    """libc's renameat2, or None; ctypes is imported here, at the first rename (not at ``check``'s start)."""
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    return fn


_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def _renameat2(source: Path, final: Path) -> bool:
    """True once renamed; False where renameat2 or its flag is not supported here (the caller links)."""
    fn = _renameat2_fn()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(final), _RENAME_NOREPLACE) == 0:
        return True
    import ctypes

    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(final))


def _flush(staged: Sequence[Staged]) -> list[OSError | None]:
    """fsync each staged file; a group's fsyncs run side by side so the journal can batch them.

    Side by side, a group of 8 commits in one journal transaction instead of eight (A/B in
    docs/benchmarks.md, "atomic writes"). Returns, per file, None or the error its fsync raised:
    an I/O error reported by fsync keeps that file from its final name.
    """
    if len(staged) <= 1:
        return [_fsync_staged(s) for s in staged]
    return list(_flush_pool().map(_fsync_staged, staged))


def _fsync_staged(staged: Staged) -> OSError | None:
    try:
        if staged.fd is not None:
            os.fsync(staged.fd)
            return None
        fd = os.open(staged.temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc
    return None


@functools.cache
def _flush_pool():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(FLUSH_THREADS, thread_name_prefix="deident-fsync")


FLUSH_THREADS = 8  # fsyncs in flight at once: a commit group's worth
if hasattr(os, "register_at_fork"):  # a forked worker has none of its parent's threads
    os.register_at_fork(after_in_child=_flush_pool.cache_clear)


def write_bytes_atomic(
    path: Path,
    data: bytes,
    mode: int | None = None,
    *,
    replaces: FileKey | None = None,
    overwrite: bool = True,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, mode, replaces=replaces, overwrite=overwrite) as temp, open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def sync_dirs(folders: Iterable[Path]) -> None:
    """Make the renames into these folders durable: one fsync per folder, not per file."""
    for folder in sorted(set(folders)):
        _fsync_dir(folder)


def mode_like(source: Path) -> int:
    """Permission bits for an output of ``source``: the input's, never wider than a new file's (a 0600
    photo gives a 0600 output, not one the umask would make readable by all)."""
    try:
        bits = os.stat(source).st_mode & 0o666
    except OSError:
        bits = 0o666
    return bits & ~_UMASK


def _read_umask() -> int:
    """The process umask, read once at import: reading it means setting it, which must never happen
    while another thread may be creating files (the commit thread runs beside the main one)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
