"""Caption files beside an image (NAME.txt, NAME.md, NAME.json) and the read-only caption check."""

from __future__ import annotations

import json
import random
from pathlib import Path

from deident.findings import Action, Finding
from deident.history.fuzz import FuzzSettings, fuzz_edits
from deident.history.rules import Edit
from deident.history.sidecars import json_cue, json_fields, load_json, read_caption

STAGE = "caption"
# What a report says about each kind of change: never the value itself.
DETAILS = {
    "age": ("age moved", Action.REPLACED),
    "sex": ("sex changed", Action.REPLACED),
    "site": ("site generalised", Action.REPLACED),
    "laterality": ("side swapped", Action.REPLACED),
    "date": ("date made vague", Action.REPLACED),
    "time": ("time removed", Action.REMOVED),
    "name": ("name removed", Action.REMOVED),
    "identifier": ("identifier removed", Action.REMOVED),
    "phone": ("phone number removed", Action.REMOVED),
    "email": ("email address removed", Action.REMOVED),
    "dob": ("date of birth removed", Action.REMOVED),
    "place": ("place or institution removed", Action.REMOVED),
}
CHECK_DETAILS = {
    "age": "age over 89",
    "date": "date or relative date",
    "time": "clock time",
    "name": "name",
    "identifier": "record or accession number",
    "phone": "phone number",
    "email": "email address",
    "dob": "date of birth",
    "place": "place, address or institution",
}
# Kinds whose value is worth searching for in the image itself (relative dates and times are not).
DENY_KINDS = frozenset({"name", "identifier", "phone", "email", "dob", "date", "place"})
# A check moves nothing: only what is always rewritten (identifiers, dates, ages over 89) shows up.
CHECK_SETTINGS = FuzzSettings(age_jitter=0, sex_change_rate=0.0, laterality_swap_rate=0.0)


def _findings(edits: list[Edit], where: str) -> list[Finding]:
    out = []
    for e in edits:
        detail, action = DETAILS.get(e.change.kind, (f"{e.change.kind} changed", Action.REPLACED))
        if e.change.kind == "age" and ("90+" in e.change.after or "90 or older" in e.change.after):
            detail = "age over 89 aggregated"
        out.append(Finding(STAGE, e.change.kind, where, action, detail))
    return out


def fuzz_sidecar(path: Path, seed: int | None, settings: FuzzSettings) -> tuple[bytes, list[Finding]]:
    """The rewritten caption file and one finding per change; JSON keeps its structure and other keys."""
    path = Path(path)
    if seed is None:  # one seed for the whole file, so every field gets the same sex and side decisions
        seed = random.SystemRandom().getrandbits(64)
    if path.suffix.lower() == ".json":
        data = load_json(path)
        if data is None:
            raise ValueError(f"{path.name}: no caption or history text field")
        findings: list[Finding] = []
        for key in json_fields(data):
            data[key], edits = fuzz_edits(data[key], seed, settings)
            findings += _findings(edits, f"{path.name}: {key}")
        data, removed = _without_identifying_fields(data, skip=json_fields(data))
        findings += [
            Finding(
                STAGE,
                kind,
                f"{path.name}: {where}",
                Action.REMOVED,
                FIELD_REMOVED.format(CHECK_DETAILS.get(kind, kind)),
            )
            for where, kind in removed
        ]
        indent = 2 if "\n" in read_caption(path).text.strip() else None
        return (json.dumps(data, ensure_ascii=False, indent=indent) + "\n").encode("utf-8"), findings
    caption = read_caption(path)  # written back as it was read (``sidecars.read_caption``)
    text, edits = fuzz_edits(caption.text, seed, settings)
    return caption.encode(text), _findings(edits, path.name)


FIELD_REMOVED = "field removed ({})"
JsonValue = dict | list | str | int | float | bool | None


def _without_identifying_fields(data: dict, skip: list[str]) -> tuple[dict, list[tuple[str, str]]]:
    """``data`` without every entry whose key, or whose value read after its key, the caption check finds
    identifying ("patient": "Jane Roe", "mrn": 4455667, "dob": "1970-03-12"), at any depth; the fields
    in ``skip`` (the fuzzed caption and history) stay. The other fields were copied as they were, and
    such a JSON went beside an output reported safe. Returns the data and (where, kind) per removal."""
    removed: list[tuple[str, str]] = []

    def clean(value: JsonValue, cue: str, where: str) -> tuple[bool, JsonValue]:
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                at = f"{where}.{key}" if where else str(key)
                if not where and key in skip:
                    kept[key] = item
                    continue
                found = [e.change.kind for e in _check_edits(json_cue(key))]
                if found:
                    removed.append((at, found[0]))
                    continue
                ok, item = clean(item, json_cue(key), at)
                if ok:
                    kept[key] = item
            return True, kept
        if isinstance(value, list):
            pairs = [clean(item, cue, f"{where}[{i}]") for i, item in enumerate(value)]
            return True, [item for ok, item in pairs if ok]
        if isinstance(value, bool) or value is None:
            return True, value
        found = [e.change.kind for e in _check_edits(f"{cue}: {value}" if cue else str(value))]
        if found:
            removed.append((where, found[0]))
        return not found, value

    return clean(data, "", "")[1], removed


def _check_texts(path: Path) -> list[tuple[str, str]]:
    """What the caption check reads in a caption file, with where: a text file whole; of a JSON file the
    caption and history fields, and every other key and value, each value after its key (the cue)."""
    if path.suffix.lower() != ".json":
        return [(path.name, read_caption(path).text)]
    data = load_json(path)
    if data is None:
        return [(path.name, read_caption(path).text)]
    texts = [(f"{path.name}: {key}", data[key]) for key in json_fields(data)]
    pending: list[tuple[str, str, JsonValue]] = [("", "", data)]
    while pending:
        where, cue, value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                at = f"{where}.{key}" if where else str(key)
                if not where and key in json_fields(data):
                    continue
                texts.append((f"{path.name}: {at}", json_cue(key)))
                pending.append((at, json_cue(key), item))
        elif isinstance(value, list):
            pending += [(f"{where}[{i}]", cue, item) for i, item in enumerate(value)]
        elif not (isinstance(value, bool) or value is None):
            texts.append((f"{path.name}: {where}", f"{cue}: {value}" if cue else str(value)))
    return texts


def check_sidecar(path: Path) -> list[Finding]:
    """Identifying content in a caption file (read-only), each finding saying the file and the field."""
    found = []
    for where, text in _check_texts(Path(path)):
        found += [
            Finding(f.stage, f.kind, f"{where}: {f.where}", f.action, f.detail) for f in check_caption(text)
        ]
    return found


def _check_edits(text: str) -> list[Edit]:
    return fuzz_edits(text, 0, CHECK_SETTINGS)[1]


def _where(text: str, edit: Edit) -> str:
    """The line a finding sits on (a later pass may see text an earlier one rewrote: then "text")."""
    for fragment in (edit.change.before, edit.value):
        pos = text.find(fragment) if fragment else -1
        if pos >= 0:
            return f"line {text.count(chr(10), 0, pos) + 1}"
    return "text"


def check_caption(text: str) -> list[Finding]:
    """Identifying content in a caption, reported without its value (read-only)."""
    return [
        Finding(STAGE, e.change.kind, _where(text, e), Action.FOUND, CHECK_DETAILS.get(e.change.kind, ""))
        for e in _check_edits(text)
    ]


def identifiers_in(text: str) -> list[str]:
    """Names, numbers and dates found in a caption, in clear, for the batch deny-list (held in memory)."""
    seen: dict[str, None] = {}
    for e in _check_edits(text):
        if e.change.kind in DENY_KINDS and e.value:
            seen.setdefault(e.value, None)
    return list(seen)
