"""Another commit's code beside this one, for a benchmark's side-by-side run (``--against REV``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def source_of(rev: str | None, where: Path) -> Iterator[Path | None]:
    """The ``src`` folder of ``rev`` checked out at ``where`` (a git worktree, removed on leaving), to put
    first on PYTHONPATH; None without a ``rev``."""
    if rev is None:
        yield None
        return
    subprocess.run(["git", "worktree", "add", "-f", "--detach", str(where), rev], cwd=ROOT, check=True)
    try:
        yield where / "src"
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT)
