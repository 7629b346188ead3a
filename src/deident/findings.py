"""The records every stage returns and every report renders.

A ``Finding`` never carries an identifying value in clear: ``detail`` describes (size, type, keyed hash),
so that a report can be shared without becoming a leak itself.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from enum import Enum


def printable(text: str) -> str:
    """``text`` as valid UTF-8: bytes of a file name that are not UTF-8 (which Python keeps as surrogate
    escapes) shown as ``\\xNN``, so ``caf\\xe9.jpg`` for a Latin-1 ``café.jpg``. Other text is unchanged."""
    if text.isascii():
        return text
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


class Status(str, Enum):
    SAFE = "safe"  # scrub: output written and verified
    FAILED = "failed"  # could not be made safe / could not be checked
    SKIPPED = "skipped"  # not an image we handle (e.g. already a deident output), nothing written
    CLEAN = "clean"  # check: nothing identifying found
    UNSAFE = "unsafe"  # check: identifiers found; scrub: written, but an identifying name was kept
    PLANNED = "planned"  # scrub --dry-run: what would be done, nothing written


class Action(str, Enum):
    REMOVED = "removed"
    REPLACED = "replaced"
    REDACTED = "redacted"
    KEPT = "kept"
    FOUND = "found"  # check/inspect: present, nothing done


@dataclass(frozen=True)
class Finding:
    stage: str  # metadata | dicom | text | faces | barcode | filename | caption
    kind: str  # machine-readable, dotted: "exif.gps", "jpeg.com", "dicom.(0010,0010)", "text.line"
    where: str  # location in the file: "APP1 segment at 2", "frame 0 box 12,40-300,80"
    action: Action
    detail: str = ""  # human description without the identifying value

    def to_dict(self) -> dict[str, str]:
        return {k: self.action.value if k == "action" else printable(v) for k, v in asdict(self).items()}

    def as_found(self) -> Finding:
        """The same finding as reported by a read-only check."""
        return Finding(self.stage, self.kind, self.where, Action.FOUND, self.detail)


@dataclass
class FileResult:
    input: str
    status: Status
    output: str | None = None
    format: str | None = None
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in (Status.SAFE, Status.CLEAN, Status.SKIPPED, Status.PLANNED)

    @property
    def written(self) -> bool:
        """An output is in place for this file (safe, or written but with an identifying name kept)."""
        return self.output is not None and self.status in (Status.SAFE, Status.UNSAFE)

    def to_dict(self) -> dict:
        """JSON-ready, every string valid UTF-8 (names that are not are shown with ``\\xNN`` escapes)."""
        return {
            "input": printable(self.input),
            "output": None if self.output is None else printable(self.output),
            "format": self.format,
            "status": self.status.value,
            "reason": printable(self.reason),
            "findings": [f.to_dict() for f in self.findings],
        }
