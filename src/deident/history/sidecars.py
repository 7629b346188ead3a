"""Which caption files sit beside an image (NAME.txt, NAME.md, NAME.json): a look at the disk that every
checked file needs, kept apart from the caption rules (``fuzz``, ``rules``: 0.05 CPU-s of regular
expressions to compile) that only a file with a caption needs."""

from __future__ import annotations

import json
from pathlib import Path

TEXT_SUFFIXES = (".txt", ".md")
JSON_FIELDS = ("caption", "history")


def json_fields(data: object) -> list[str]:
    if not isinstance(data, dict):
        return []
    return [k for k in JSON_FIELDS if isinstance(data.get(k), str)]


def load_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if json_fields(data) else None


def find_sidecars(image_path: Path) -> list[Path]:
    """Caption files for an image: same stem, .txt/.md, or .json with a caption/history string."""
    image_path = Path(image_path)
    found = []
    for suffix in (*TEXT_SUFFIXES, ".json"):
        candidate = image_path.with_suffix(suffix)
        if candidate == image_path or not candidate.is_file():
            continue
        if suffix == ".json" and load_json(candidate) is None:
            continue
        found.append(candidate)
    return found
