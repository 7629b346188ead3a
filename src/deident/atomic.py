"""Writing files so that a crash or a full disk never leaves a half-written file at a final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deident.paths import TEMP_MARK


@contextlib.contextmanager
def atomic_output(final: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final`` in one rename.

    The original (``--in-place``) stays untouched until that rename, so a failed write never loses it.
    """
    fd, name = tempfile.mkstemp(prefix=f".{final.name}{TEMP_MARK}", dir=final.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        if mode is None:
            try:
                mode = final.stat().st_mode & 0o777
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
        os.chmod(temp, mode)
        os.replace(temp, final)
        _fsync_dir(final.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, mode) as temp, open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
