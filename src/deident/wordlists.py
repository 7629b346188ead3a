"""Word lists shipped inside the package as text files: clinicians extend them without touching code."""

from __future__ import annotations

from importlib import resources


def read_lines(package: str, *path: str) -> list[str]:
    """The lines of a text file shipped in ``package`` (``path`` below it), stripped, without blank lines
    and ``#`` comments: one word or phrase a line."""
    node = resources.files(package)
    for part in path:
        node = node.joinpath(part)
    text = node.read_text(encoding="utf-8")
    return [s.strip() for s in text.splitlines() if s.strip() and not s.lstrip().startswith("#")]
