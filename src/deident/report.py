"""Rendering results: a JSON document for machines, a rich table and a one-line summary for people."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from deident import __version__
from deident.findings import Action, FileResult, Status


def summary_counts(results: Sequence[FileResult]) -> dict[str, int]:
    counts = Counter(r.status.value for r in results)
    return {
        "files": len(results),
        **{s.value: counts.get(s.value, 0) for s in Status},
        "findings": sum(len(r.findings) for r in results),
    }


def to_json(command: str, results: Sequence[FileResult], notes: Sequence[str] = ()) -> str:
    doc = {
        "tool": "deident",
        "version": __version__,
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "summary": summary_counts(results),
        "notes": list(notes),
        "files": [r.to_dict() for r in results],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def write_json(path: Path, command: str, results: Sequence[FileResult], notes: Sequence[str] = ()) -> None:
    from deident.atomic import write_text_atomic

    write_text_atomic(path, to_json(command, results, notes) + "\n")


def summary_line(command: str, results: Sequence[FileResult]) -> str:
    c = summary_counts(results)
    parts = [f"{c['files']} file{'s' if c['files'] != 1 else ''}"]
    order = ("safe", "clean", "unsafe", "failed", "skipped")
    parts += [f"{c[s]} {s}" for s in order if c[s]]
    acted = sum(1 for r in results for f in r.findings if f.action is not Action.KEPT)
    parts.append(f"{acted} finding{'s' if acted != 1 else ''}")
    return f"deident {command}: " + ", ".join(parts)


_STYLE = {
    Status.SAFE: "green",
    Status.CLEAN: "green",
    Status.SKIPPED: "dim",
    Status.UNSAFE: "bold red",
    Status.FAILED: "bold red",
}


def why(result: FileResult, limit: int = 6) -> str:
    """A short list of distinct reasons: 'GPS position; 2 dates; 3 text lines; 1 face'."""
    if result.reason and result.status in (Status.FAILED, Status.SKIPPED):
        return result.reason
    counts: Counter[str] = Counter()
    for f in result.findings:
        counts[f.detail.split(" (")[0] or f.kind] += 1
    items = [f"{n}× {d}" if n > 1 else d for d, n in counts.most_common()]
    more = len(items) - limit
    return "; ".join(items[:limit]) + (f"; +{more} more" if more > 0 else "")


def render_table(console, command: str, results: Sequence[FileResult], *, details: bool = False) -> None:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("file", overflow="fold")
    table.add_column("status")
    table.add_column("findings", justify="right")
    table.add_column("output" if command == "scrub" else "why", overflow="fold")
    for r in results:
        last = (
            (r.output or r.reason or "") if command == "scrub" and r.status is not Status.FAILED else why(r)
        )
        table.add_row(r.input, f"[{_STYLE[r.status]}]{r.status.value}[/]", str(len(r.findings)), last)
    console.print(table)
    if details:
        render_findings(console, results)


def render_findings(console, results: Sequence[FileResult]) -> None:
    from rich.table import Table

    for r in results:
        if not r.findings:
            continue
        table = Table(title=r.input, title_justify="left", show_header=True, header_style="bold")
        for col in ("stage", "what", "where", "action"):
            table.add_column(col, overflow="fold")
        for f in r.findings:
            table.add_row(f.stage, f.detail or f.kind, f.where, f.action.value)
        console.print(table)
