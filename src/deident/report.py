"""Rendering results: a JSON document for machines, a rich table and a one-line summary for people."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone

from deident.findings import Action, FileResult, Finding, Reason, Stage, Status, printable
from deident.version import __version__


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


def summary_line(command: str, results: Sequence[FileResult]) -> str:
    c = summary_counts(results)
    parts = [f"{c['files']} file{'s' if c['files'] != 1 else ''}"]
    order = ("safe", "planned", "clean", "unsafe", "failed", "skipped")
    parts += [f"{c[s]} {s}" for s in order if c[s]]
    n = c["findings"]  # the same count as the rows and the JSON: every finding, kept ones included
    parts.append(f"{n} finding{'s' if n != 1 else ''}")
    return f"deident {command}: " + ", ".join(parts)


_STYLE = {
    Status.SAFE: "green",
    Status.CLEAN: "green",
    Status.SKIPPED: "dim",
    Status.PLANNED: "cyan",
    Status.UNSAFE: "bold red",
    Status.FAILED: "bold red",
}


# What a whole stage means, for a finding made without a reason of its own.
_STAGE_REASONS = {
    Stage.FACES: Reason.FACE,
    Stage.TEXT: Reason.TEXT,
    Stage.BARCODE: Reason.BARCODE,
    Stage.FILENAME: Reason.NAME,
    Stage.DICOM: Reason.DICOM_FIELDS,
}
_ORDER = tuple(
    r.value
    for r in (
        Reason.GPS,
        Reason.FACE,
        Reason.EYES,
        Reason.TEXT,
        Reason.BARCODE,
        Reason.NAME,
        Reason.CAPTION,
        Reason.DICOM_PATIENT,
        Reason.DATES,
        Reason.DICOM_DATES,
        Reason.OWNER,
        Reason.SERIALS,
        Reason.DICOM_FIELDS,
        Reason.DICOM_UIDS,
    )
)  # most telling first: what a reader must see even when the list is cut


def reason(finding: Finding) -> str:
    """One finding as a short reason: "GPS position", "dates", "burned-in text", "face"."""
    if finding.reason is not None:  # set by the code that made the finding
        return finding.reason.value
    stage, kind = finding.stage, finding.kind
    if stage in _STAGE_REASONS:
        return _STAGE_REASONS[stage].value
    if stage is Stage.CAPTION:  # "caption (age)": which kind of change the fuzzing made
        return f"{Reason.CAPTION.value} ({finding.detail})" if finding.detail else Reason.CAPTION.value
    text = finding.detail or kind
    return text.split(" (")[0].split(":")[0].split(", ")[0]


def why(result: FileResult, limit: int = 6) -> str:
    """A short list of distinct reasons, most telling first: 'GPS position; dates; 3× burned-in text'."""
    if result.reason and result.status in (Status.FAILED, Status.SKIPPED):
        return result.reason
    counts: Counter[str] = Counter(reason(f) for f in result.findings if f.action is not Action.KEPT)
    counts.update(reason(f) + " (kept)" for f in result.findings if f.action is Action.KEPT)
    rank = {name: i for i, name in enumerate(_ORDER)}

    def order(label: str) -> tuple[int, int]:
        base = label.split(" (")[0]
        base = "identifying name" if base.endswith(" name") else base
        return (rank.get(base, len(rank)), -counts[label])

    ordered = sorted(counts, key=order)
    items = [f"{counts[d]}× {d}" if counts[d] > 1 else d for d in ordered]
    more = len(items) - limit
    listed = "; ".join(items[:limit]) + (f"; +{more} more" if more > 0 else "")
    return "; ".join(s for s in (listed, result.not_checked) if s)


def render_table(
    console, command: str, results: Sequence[FileResult], *, details: bool = False, quiet: bool = False
) -> None:
    """One row per file; above FULL_TABLE_UP_TO files only those that need a look; ``quiet``: only those
    that failed or are unsafe."""
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", expand=False)
    longest = max((len(printable(r.input)) for r in results), default=4)
    # a file name folded over lines is hard to find in a log: give it room first (a terminal: half)
    room = max(20, console.width // 2 if console.is_terminal else console.width - 60)
    table.add_column("file", overflow="fold", min_width=min(longest, room))
    table.add_column("status")
    table.add_column("findings", justify="right")
    table.add_column("output" if command == "scrub" else "why", overflow="fold")
    everything = details or (len(results) <= FULL_TABLE_UP_TO and not quiet)
    listed = results if everything else [r for r in results if (not r.ok if quiet else _attention(r))]
    for r in listed:
        last = _last_cell(command, r)
        table.add_row(
            _cell(r.input), f"[{_STYLE[r.status]}]{r.status.value}[/]", str(len(r.findings)), _cell(last)
        )
    if listed:
        console.print(table)
    unlisted = len(results) - len(listed)
    if unlisted and not quiet:
        console.print(
            f"[dim]{unlisted} {'safe' if command == 'scrub' else 'clean'} files not listed "
            "(-v lists every file; --json or --report FILE has every finding)[/]"
        )
    if details:
        render_findings(console, results)


def _last_cell(command: str, r: FileResult) -> str:
    """scrub: where the output went, and why when it needs a look; check: why."""
    if command != "scrub" or r.status is Status.FAILED:
        return why(r)
    if r.output and r.said:
        return f"{r.output} — {r.said}"
    return r.output or r.said or ""


def _cell(text: str) -> str:
    """A name or reason for a table cell: valid UTF-8 (see ``printable``), brackets not taken as markup."""
    from rich.markup import escape

    return escape(printable(text))


# Up to this many files the table lists every one; above it, only those that need a look (a long batch
# of safe files would bury the few that failed, and rendering thousands of rows takes seconds).
FULL_TABLE_UP_TO = 50


def _attention(result: FileResult) -> bool:
    return result.status not in (Status.SAFE, Status.CLEAN, Status.PLANNED)


def render_findings(console, results: Sequence[FileResult]) -> None:
    from rich.table import Table

    for r in results:
        if not r.findings:
            continue
        table = Table(title=_cell(r.input), title_justify="left", show_header=True, header_style="bold")
        for col in ("stage", "what", "where", "action"):
            table.add_column(col, overflow="fold")
        for f in r.findings:
            table.add_row(f.stage, f.detail or f.kind, f.where, f.action.value)
        console.print(table)
