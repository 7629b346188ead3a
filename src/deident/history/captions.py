"""Caption files beside an image (NAME.txt, NAME.md, NAME.json) and the read-only caption check."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
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


def fuzz_sidecar(
    path: Path, seed: int | None, settings: FuzzSettings, deny: tuple[str, ...] = ()
) -> tuple[bytes, list[Finding]]:
    """The rewritten caption file and one finding per change; JSON keeps its structure and other keys.
    Identifiers a JSON caption's removed fields name, and the ``deny`` terms (the batch's deny-list:
    the image's own headers, names and other captions), are cut wherever else they are written."""
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
        removed = [(leaf, found[0]) for leaf in _leaves(data) if (found := _check_edits(leaf.text))]
        for leaf, _ in sorted(removed, key=lambda r: r[0].path, reverse=True):  # deepest, last first
            _remove(data, leaf.path)
        findings += [
            Finding(
                STAGE,
                e.change.kind,
                f"{path.name}: {leaf.where}",
                Action.REMOVED,
                FIELD_REMOVED.format(CHECK_DETAILS.get(e.change.kind, e.change.kind)),
            )
            for leaf, e in removed
        ]
        own = [e.value for leaf, _ in removed for e in _check_edits(leaf.text) if e.change.kind in DENY_KINDS]
        data, cut = _cut_named(data, (*own, *deny))
        findings += [Finding(STAGE, "name", path.name, Action.REMOVED, NAMED_ELSEWHERE + " removed")] * cut
        indent = 2 if "\n" in read_caption(path).text.strip() else None
        return (json.dumps(data, ensure_ascii=False, indent=indent) + "\n").encode("utf-8"), findings
    caption = read_caption(path)  # written back as it was read (``sidecars.read_caption``)
    text, edits = fuzz_edits(caption.text, seed, settings)
    text, cut = _cut_named(text, deny)
    named = [Finding(STAGE, "name", path.name, Action.REMOVED, NAMED_ELSEWHERE + " removed")] * cut
    return caption.encode(text), _findings(edits, path.name) + named


FIELD_REMOVED = "field removed ({})"
NAMED_ELSEWHERE = "identifier that the file or its image names elsewhere"


def _cut_named(value, terms) -> tuple[object, int]:
    """``value`` (a text, or JSON at any depth) without the ``terms`` a caption names elsewhere: a JSON
    caption's "patient" field went, and "Quixotez family history" in its caption or its tags stayed.
    Returns the value and how many texts were cut."""
    terms = tuple(t for t in terms if t)
    if not terms:
        return value, 0
    from deident.denylist import deny_list_for
    from deident.history.rules import REMOVED, tidy

    deny = deny_list_for(terms)

    def cut(item) -> tuple[object, int]:
        if isinstance(item, str):
            spans = deny.find(item)
            for start, end in reversed(spans):
                item = item[:start] + REMOVED + item[end:]
            return (tidy(item), 1) if spans else (item, 0)
        if isinstance(item, dict):
            done = {k: cut(v) for k, v in item.items()}
            return {k: v for k, (v, _) in done.items()}, sum(n for _, n in done.values())
        if isinstance(item, list):
            done = [cut(v) for v in item]
            return [v for v, _ in done], sum(n for _, n in done)
        return item, 0

    return cut(value)


@dataclass(frozen=True)
class Leaf:
    """What the caption check reads of a JSON caption outside its caption and history fields: a key alone,
    or a value read after its key ("patient: Jane Roe", where "Jane Roe" alone is no name to the rules).
    ``path`` leads to the entry (keys and list positions); ``where`` names it by position, never by a key
    the file chose (a report quotes no value)."""

    path: tuple
    where: str
    text: str


def _leaves(data: dict) -> list[Leaf]:
    """Every key and scalar value of ``data`` at any depth, except the top-level caption and history."""
    out: list[Leaf] = []
    skip = json_fields(data)

    def walk(value, path: tuple, where: str, cue: str) -> None:
        if isinstance(value, dict):
            for n, (key, item) in enumerate(value.items(), 1):
                if not path and key in skip:
                    continue
                at = f"{where}.{n}" if where else f"field {n}"
                out.append(Leaf((*path, key), at, json_cue(key)))
                walk(item, (*path, key), at, json_cue(key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i), f"{where}[{i}]", cue)
        elif not (isinstance(value, bool) or value is None):
            out.append(Leaf(path, where, f"{cue}: {value}" if cue else str(value)))

    walk(data, (), "", "")
    return out


def _remove(data, path: tuple) -> None:
    """Remove the entry ``path`` leads to (a dict's key or a list's item); one removed already is gone."""
    *parents, last = path
    for step in parents:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, dict):
        data.pop(last, None)
    elif isinstance(data, list) and isinstance(last, int) and last < len(data):
        del data[last]


def _check_texts(path: Path) -> list[tuple[str, str]]:
    """What the caption check reads in a caption file, with where: a text file whole; of a JSON file the
    caption and history fields, and every other key and value (``_leaves``)."""
    data = load_json(path) if path.suffix.lower() == ".json" else None
    if data is None:
        return [(path.name, read_caption(path).text)]
    texts = [(f"{path.name}: {key}", data[key]) for key in json_fields(data)]
    return texts + [(f"{path.name}: {leaf.where}", leaf.text) for leaf in _leaves(data)]


def check_sidecar(path: Path, own: tuple[str, ...] = ()) -> list[Finding]:
    """Identifying content in a caption file (read-only), each finding saying the file and the field; and
    ``own`` identifiers (the image's headers, the batch's deny-list) written in it, as a scrub cuts them."""
    found = []
    texts = _check_texts(Path(path))
    for where, text in texts:
        found += [
            Finding(f.stage, f.kind, f"{where}: {f.where}", f.action, f.detail) for f in check_caption(text)
        ]
    if terms := tuple(t for t in own if t):
        from deident.denylist import deny_list_for

        deny = deny_list_for(terms)
        found += [
            Finding(STAGE, "name", where, Action.FOUND, NAMED_ELSEWHERE)
            for where, text in texts
            if deny.find(text)
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
