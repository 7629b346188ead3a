"""Durable outputs, observed from outside: a process killed while writing leaves nothing at a final name.

Each test runs the writer in a child process and kills it (SIGKILL: no cleanup runs) at a chosen point,
then looks at the folder the way the next run or a user would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of a child process is POSIX")

WHOLE = b"whole output " * 4096  # 52 kB: more than one write


def _child(code: str, folder: Path) -> subprocess.CompletedProcess:
    """Run ``code`` (with ``folder``, ``WHOLE``, ``atomic``, ``os``, ``signal`` defined) in a new process."""
    head = (
        "import os, signal\nfrom pathlib import Path\nfrom deident import atomic\n"
        f"folder = Path({str(folder)!r})\nWHOLE = {WHOLE!r}\n"
    )
    return subprocess.run(
        [sys.executable, "-c", head + textwrap.dedent(code)], capture_output=True, timeout=60
    )


def test_killed_mid_write_leaves_no_final_name(tmp_path):
    proc = _child(
        """
        staged = atomic.stage(folder / "a.jpg")
        os.write(staged.fd, WHOLE[: len(WHOLE) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        tmp_path,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (tmp_path / "a.jpg").exists()
    (temp,) = (
        tmp_path.iterdir()
    )  # only the half-written temporary, under a name no reader takes for an output
    assert temp.name.startswith(".a.jpg.") and temp.read_bytes() == WHOLE[: len(WHOLE) // 2]


def test_data_is_whole_and_readable_before_the_rename_and_a_kill_then_leaves_no_final_name(tmp_path):
    """``commit`` flushes a group before renaming any of it: killed between the two, no final name exists,
    and every temporary already held its whole output, read back through a fresh open."""
    proc = _child(
        """
        group = [atomic.stage(folder / f"{i}.jpg") for i in range(3)]
        for s in group:
            os.write(s.fd, WHOLE)

        def before_rename(flushed):
            for s in flushed:
                with open(s.temp, "rb") as fh:
                    assert fh.read() == WHOLE, s.temp
            print(len(flushed), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        atomic.commit(group, before_rename)
        """,
        tmp_path,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.split() == [b"3"]  # the hook ran, and every file was flushed whole before it
    assert not any((tmp_path / f"{i}.jpg").exists() for i in range(3))
    assert sorted(p.read_bytes() == WHOLE for p in tmp_path.iterdir()) == [True] * 3


def test_a_completed_commit_shows_every_output_whole_and_no_temporary(tmp_path):
    proc = _child(
        """
        group = [atomic.stage(folder / f"{i}.jpg") for i in range(3)]
        for s in group:
            os.write(s.fd, WHOLE)
        assert atomic.commit(group) == [None] * 3
        atomic.sync_dirs([folder])
        os.kill(os.getpid(), signal.SIGKILL)  # nothing after the commit is needed for the outputs to stand
        """,
        tmp_path,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]
    assert all(p.read_bytes() == WHOLE for p in tmp_path.iterdir())


def test_a_name_taken_by_the_same_output_is_kept_and_by_another_file_fails(tmp_path):
    """A task retried after its worker died renames what its first attempt may have renamed already: the
    same bytes at the name are that output (kept, nothing raised); other bytes there are someone else's
    file, left as it is."""
    from deident import atomic

    for there, ok in ((WHOLE, True), (b"someone else's file", False)):
        final = tmp_path / ("same.jpg" if ok else "other.jpg")
        staged = atomic.stage(final, overwrite=False)
        staged.temp.write_bytes(WHOLE)
        final.write_bytes(there)
        (error,) = atomic.commit([staged])
        assert (error is None) is ok, error
        assert final.read_bytes() == there
        assert not staged.temp.exists()
        if not ok:
            assert isinstance(error, atomic.NameTaken)
