"""A reviewer's corrections, exported by the review page and applied by the next run.

``decisions.json`` holds, per input (keyed by the SHA-256 of its bytes, so a decision never applies to
another file), regions to keep visible (a false detection over a lesion) and boxes to hide as well (a
miss). Boxes are in the coordinates of the frame as a viewer shows it, as ``Finding.area`` gives them.
A ``sha256`` over the canonical JSON of ``files`` catches a truncated or hand-edited file: it is refused
whole, before anything is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deident.errors import DeidentError
from deident.findings import Action, Area, Finding
from deident.regions import Region

FORMAT = "deident-decisions"
VERSION = 1
KEEP_OVERLAP = 0.5  # a detection is the kept one when at least half of its box lies inside the kept box

Box = tuple[int, int, int, int]


class DecisionsError(DeidentError):
    """The decisions file cannot be trusted: nothing is written."""


@dataclass(frozen=True)
class Mark:
    frame: int
    box: Box
    stage: str = ""  # keep: the stage whose detection the reviewer kept

    def to_dict(self) -> dict:
        out: dict = {"frame": self.frame, "box": list(self.box)}
        if self.stage:
            out["stage"] = self.stage
        return out


@dataclass(frozen=True)
class FileDecision:
    keep: tuple[Mark, ...] = ()
    hide: tuple[Mark, ...] = ()
    path: str | None = None  # where the reviewed input was: a changed file there is refused
    size: int | None = None  # its length in bytes: a file of another length is not hashed at all

    def to_dict(self) -> dict:
        out: dict = {"keep": [m.to_dict() for m in self.keep], "hide": [m.to_dict() for m in self.hide]}
        if self.path is not None:
            out["path"] = self.path
        if self.size is not None:
            out["size"] = self.size
        return out


@dataclass(frozen=True)
class Decisions:
    files: dict[str, FileDecision] = field(default_factory=dict)  # input SHA-256 -> decision
    source: Path | None = None

    def for_hash(self, digest: str) -> FileDecision | None:
        return self.files.get(digest)

    def may_hold(self, size: int) -> bool:
        """Whether a file of ``size`` bytes can have a decision: hashing a big slide costs 0.66 CPU-s a GB,
        and the files a reviewer marked are few (docs/benchmarks.md). Exact: a hash names one length."""
        return any(d.size is None or d.size == size for d in self.files.values())

    def to_json(self) -> str:
        files = {h: d.to_dict() for h, d in sorted(self.files.items())}
        doc = {"format": FORMAT, "version": VERSION, "files": files, "sha256": checksum(files)}
        return json.dumps(doc, indent=1)


def canonical(value) -> bytes:
    """The bytes the checksum covers; the page's ``canonical()`` in review.js writes the same ones."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def checksum(files: dict) -> str:
    return hashlib.sha256(canonical(files)).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load(path: Path) -> Decisions:
    """Read and validate a decisions file; any doubt raises ``DecisionsError`` naming what is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecisionsError(f"{path}: not a readable decisions file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise DecisionsError(f"{path}: not a deident decisions file (version {VERSION})")
    files = doc.get("files")
    if not isinstance(files, dict) or doc.get("sha256") != checksum(files):
        raise DecisionsError(
            f"{path}: its checksum does not match its content (edited or damaged): "
            "export it again from the review page"
        )
    return Decisions({h: _file(path, h, d) for h, d in files.items()}, Path(path))


def _file(path: Path, digest: str, raw) -> FileDecision:
    if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise DecisionsError(f"{path}: {digest!r} is not a SHA-256 content hash")
    if not isinstance(raw, dict) or set(raw) - {"keep", "hide", "path", "size"}:
        raise DecisionsError(f"{path}: the entry for {digest[:12]}… is malformed")
    where, size = raw.get("path"), raw.get("size")
    if where is not None and not isinstance(where, str):
        raise DecisionsError(f"{path}: the entry for {digest[:12]}… has a malformed path")
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        raise DecisionsError(f"{path}: the entry for {digest[:12]}… has a malformed size")
    return FileDecision(
        tuple(_mark(path, digest, m) for m in raw.get("keep", [])),
        tuple(_mark(path, digest, m) for m in raw.get("hide", [])),
        where,
        size,
    )


def _mark(path: Path, digest: str, raw) -> Mark:
    box = raw.get("box") if isinstance(raw, dict) else None
    frame = raw.get("frame") if isinstance(raw, dict) else None
    ok = (
        isinstance(frame, int)
        and frame >= 0
        and isinstance(box, list)
        and len(box) == 4
        and all(isinstance(v, int) and not isinstance(v, bool) for v in box)
        and box[0] < box[2]
        and box[1] < box[3]
        and isinstance(raw.get("stage", ""), str)
    )
    if not ok:
        raise DecisionsError(f"{path}: a box for {digest[:12]}… is malformed: {json.dumps(raw)[:80]}")
    return Mark(frame, tuple(box), raw.get("stage", ""))


def refuse_changed(decisions: Decisions) -> None:
    """A reviewed input whose bytes changed since the review: its decisions would land on other pixels."""
    for digest, decision in decisions.files.items():
        if decision.path is None:
            continue
        where = Path(decision.path)
        try:
            now = file_sha256(where)
        except OSError:
            continue  # moved or gone: nothing of it is in this run under that name
        if now != digest:
            raise DecisionsError(
                f"{decisions.source}: {where.name} changed since it was reviewed (its content hash differs); "
                "review it again"
            )


def outputs_file(decisions: Decisions) -> Path:
    """Where a run writes the decisions that also cover its outputs: ``NAME-outputs.json`` beside the
    reviewer's ``NAME.json``, which is never rewritten (it is theirs, and may be read-only or shared)."""
    source = Path(decisions.source)
    return source.with_name(f"{source.stem}-outputs.json")


def load_with_outputs(path: Path) -> Decisions:
    """The reviewer's file plus the outputs' entries of the ``NAME-outputs.json`` a scrub wrote beside it,
    so that ``check OUT --decisions NAME.json`` honours the kept regions with the very file the scrub was
    given. Only the outputs' entries (no path) are taken: the companion also holds a copy of the reviewer's
    entries from that run, and one the reviewer has since cleared (no mark left on the file, so no entry in
    a new export) must not come back and keep visible what they now want hidden. A damaged companion is
    refused like a damaged decisions file (a gate never guesses)."""
    decisions = load(path)
    companion = outputs_file(decisions)
    if not companion.exists():
        return decisions
    covering = _outputs_entries(load(companion))
    return Decisions({**covering, **decisions.files}, decisions.source)


def _outputs_entries(decisions: Decisions) -> dict[str, FileDecision]:
    """The entries a run wrote for its outputs (no path), not the reviewer's copied beside them."""
    return {h: d for h, d in decisions.files.items() if d.path is None}


def with_outputs(decisions: Decisions, results: Iterable) -> Decisions | None:
    """The decisions plus an entry per written output whose input had kept regions (keyed by the
    output's hash, keep marks only, no path), so that ``check --decisions`` of the outputs honours them;
    None when no output kept a region. Entries for outputs of earlier runs, from an earlier
    ``NAME-outputs.json``, are carried over."""
    files = dict(decisions.files)
    added = False
    for r in results:
        decision = decisions.files.get(r.sha256 or "")
        if r.written and decision is not None and decision.keep:
            output = Path(r.output)
            entry = FileDecision(keep=decision.keep, size=output.stat().st_size)
            files.setdefault(file_sha256(output), entry)
            added = True
    if not added:
        return None
    with contextlib.suppress(DecisionsError, OSError):
        earlier = load(outputs_file(decisions))
        files = {**_outputs_entries(earlier), **files}
    return Decisions(files, outputs_file(decisions))


# ---------------------------------------------------------------- applying one file's decision


def _overlap(region_box: Box, box: Box) -> float:
    x0, y0, x1, y1 = region_box
    area = max(1, (x1 - x0) * (y1 - y0))
    w = min(x1, box[2]) - max(x0, box[0])
    h = min(y1, box[3]) - max(y0, box[1])
    return max(0, w) * max(0, h) / area


@dataclass
class Applying:
    """One file's decision while the file is processed: which marks were used, for the report."""

    decision: FileDecision
    used_keeps: set[int] = field(default_factory=set)
    used_hides: set[int] = field(default_factory=set)

    def kept(self, frame: int, region: Region) -> bool:
        return bool(self._keep_hits(frame, region))

    def _keep_hits(self, frame: int, region: Region) -> list[int]:
        """Indices of the keep marks on ``frame`` that cover ``region``."""
        box = region.bbox()
        return [
            i
            for i, m in enumerate(self.decision.keep)
            if m.frame == frame and _overlap(box, m.box) >= KEEP_OVERLAP
        ]

    def split(self, frame: int, regions: list[Region], where: str) -> tuple[list[Region], list[Finding]]:
        """Detections to redact, and those the reviewer kept (reported as user-kept)."""
        out, findings = [], []
        for region in regions:
            hits = self._keep_hits(frame, region)
            if not hits:
                out.append(region)
                continue
            self.used_keeps.update(hits)
            findings.append(
                Finding(
                    "user",
                    "user.keep",
                    f"{where} box {region.describe()}",
                    Action.KEPT,
                    f"{region.label or region.kind} kept visible by the reviewer",
                    Area(frame, region.polygon),
                )
            )
        return out, findings

    def hides(self, frame: int, width: int, height: int) -> list[Region]:
        """The reviewer's boxes on this frame, clipped to it; a box wholly outside stays unused."""
        regions = []
        for i, m in enumerate(self.decision.hide):
            x0, y0, x1, y1 = max(0, m.box[0]), max(0, m.box[1]), min(width, m.box[2]), min(height, m.box[3])
            if m.frame != frame or x0 >= x1 or y0 >= y1:
                continue
            self.used_hides.add(i)
            regions.append(Region.box(x0, y0, x1, y1, "hide", "hidden by the reviewer"))
        return regions

    def visible(self, frame: int, regions: list[Region]) -> list[Region]:
        """Verification: detections inside a kept region do not fail the file."""
        return [r for r in regions if not self.kept(frame, r)]

    def unused(self) -> list[Finding]:
        """Marks that did nothing, reported rather than silently ignored."""
        found = []
        for i, m in enumerate(self.decision.keep):
            if i not in self.used_keeps:
                found.append(_unused(m, "user.keep-unmatched", "kept region matched no detection"))
        for i, m in enumerate(self.decision.hide):
            if i not in self.used_hides:
                found.append(_unused(m, "user.hide-nothing", "box to hide lies outside every frame"))
        return found


def _unused(m: Mark, kind: str, detail: str) -> Finding:
    x0, y0, x1, y1 = m.box
    area = Area(m.frame, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))
    return Finding("user", kind, f"frame {m.frame} box {x0},{y0}-{x1},{y1}", Action.KEPT, detail, area)
