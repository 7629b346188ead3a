"""Where a benchmark's table goes: the screen and, unless a dry run, the end of docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def utc_now() -> str:
    """The minute a section is dated by, in UTC (``2026-12-07 17:05 UTC``)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def publish(section: str, dry_run: bool = False, doc: Path = DOC) -> None:
    """Print ``section`` and, unless ``dry_run``, append it to ``doc`` after one blank line: the file is
    append-only, every bench adds its own dated section below the others."""
    print(section)
    if not dry_run:
        with open(doc, "a", encoding="utf-8") as fh:
            fh.write("\n" + section.strip("\n") + "\n")
