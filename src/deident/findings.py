"""The records every stage returns and every report renders.

A ``Finding`` never carries an identifying value in clear: ``detail`` describes (size, type, keyed hash),
so that a report can be shared without becoming a leak itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from enum import Enum

from deident.regions import bounding_box


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


class Stage(str, Enum):
    """The part of deident that made a finding; its value is the JSON report's ``stage``."""

    METADATA = "metadata"  # EXIF, XMP, IPTC, comments, thumbnails, trailers
    DICOM = "dicom"  # the PS3.15 profile, DICOM pixel notices
    BARCODE = "barcode"
    TEXT = "text"
    FACES = "faces"
    USER = "user"  # a reviewer's decision: a box hidden, a detection kept
    FILENAME = "filename"
    CAPTION = "caption"
    PIXELS = "pixels"  # pixels re-encoded (e.g. a JPEG that could not be redacted losslessly)
    OUTPUT = "output"
    POST = "post"  # ``deident post``: the bundle's own changes

    def __str__(self) -> str:  # the same word in f-strings, tables and JSON on every Python version
        return self.value


# Found in a header: a further redaction round over the pixels cannot remove it.
HEADER_STAGES = frozenset({Stage.METADATA, Stage.DICOM})


class Reason(str, Enum):
    """Why a finding matters, in the words of the report's "why" column and the hook's output: set by the
    code that makes the finding, which knows, so that no reader has to guess it from ``kind`` or ``detail``.
    """

    FACE = "face"
    EYES = "eyes"
    TEXT = "burned-in text"
    BARCODE = "barcode"
    NAME = "identifying name"
    CAPTION = "caption"
    NOT_MARKED = "not marked de-identified"
    PIXELS_UNVERIFIED = "pixels not verified free of burned-in text"
    DICOM_PATIENT = "DICOM patient data"
    DICOM_DATES = "DICOM dates"
    DICOM_UIDS = "original UIDs"
    DICOM_FIELDS = "DICOM header fields"
    GPS = "GPS position"
    DATES = "dates"
    OWNER = "owner/artist"
    SERIALS = "serial numbers"
    DEVICE = "camera make/model"
    DESCRIPTIONS = "descriptions"
    MAKER_NOTES = "maker notes"
    THUMBNAIL = "thumbnail"
    XMP = "XMP"
    IPTC = "IPTC"
    PHOTOSHOP = "IPTC/Photoshop"
    COMMENT = "comment"
    TRAILER = "data after the image"


@dataclass(frozen=True)
class Area:
    """Where a pixel finding sits, as data: the review page outlines it and a reviewer's decision names it.

    ``polygon`` is in the coordinates of frame ``frame`` as a viewer displays it (``Document.frames()``).
    """

    frame: int
    polygon: tuple[tuple[float, float], ...]

    def bbox(self) -> tuple[int, int, int, int]:
        return bounding_box(self.polygon)

    def to_dict(self) -> dict:
        return {
            "frame": self.frame,
            "polygon": [[round(x, 1), round(y, 1)] for x, y in self.polygon],
            "box": list(self.bbox()),
        }


@dataclass(frozen=True)
class Finding:
    stage: Stage  # a plain string is taken too ("metadata"), and made a Stage
    kind: str  # machine-readable, dotted: "exif.gps", "jpeg.com", "dicom.(0010,0010)", "text.line"
    where: str  # location in the file: "APP1 segment at 2", "frame 0 box 12,40-300,80"
    action: Action
    detail: str = ""  # human description without the identifying value
    area: Area | None = None  # pixel findings: the region as data (``where`` says it in words)
    reason: Reason | None = field(default=None, compare=False)  # for the report's "why"; not in JSON

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage", Stage(self.stage))

    def to_dict(self) -> dict:
        """JSON-ready; ``area`` appears only on pixel findings, so older readers see the same keys."""
        out: dict = {
            "stage": self.stage.value,
            "kind": printable(self.kind),
            "where": printable(self.where),
            "action": self.action.value,
            "detail": printable(self.detail),
        }
        if self.area is not None:
            out["area"] = self.area.to_dict()
        return out

    def as_found(self) -> Finding:
        """The same finding as reported by a read-only check."""
        return replace(self, action=Action.FOUND)


@dataclass
class FileResult:
    input: str
    status: Status
    output: str | None = None
    format: str | None = None
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    sha256: str | None = None  # the input's content hash, when a review page or decisions need it
    preview: dict | None = None  # the review page's thumbnails of this file (--review); not in reports
    not_checked: str = ""  # what the run's options left unlooked-at in its pixels (``stages.not_checked``)

    @property
    def ok(self) -> bool:
        return self.status in (Status.SAFE, Status.CLEAN, Status.SKIPPED, Status.PLANNED)

    @property
    def said(self) -> str:
        """The reason, and what was not looked at: a file called safe unlooked-at for text says so."""
        return "; ".join(r for r in (self.reason, self.not_checked) if r)

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
            "reason": printable(self.said),
            "findings": [f.to_dict() for f in self.findings],
        }
