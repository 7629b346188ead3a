"""Defaults for every option from ``[tool.deident]`` in pyproject.toml or a ``.deident.toml``.

The nearest file found walking up from the working directory wins (a ``.deident.toml`` before a
``pyproject.toml`` in the same folder); command-line flags win over both. Keys use the long option
names with dashes or underscores (``text = "phi"``, ``redact-style = "blur"``); a key may also sit in a
per-command table (``[tool.deident.scrub]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib  # Python 3.11+, the lowest deident supports (requires-python)


@dataclass(frozen=True)
class Config:
    values: dict = field(default_factory=dict)
    path: Path | None = None
    section: str = ""  # the table the values were read from: "tool.deident", or "" for a file's top level

    def for_command(self, command: str) -> dict:
        """Flat defaults for one command: top-level keys, then the command's own table."""
        flat = {k: v for k, v in self.values.items() if not isinstance(v, dict)}
        own = self.values.get(command, {})
        flat.update(own if isinstance(own, dict) else {})
        return {k.replace("-", "_"): v for k, v in flat.items()}

    def source_of(self, command: str, key: str) -> str:
        """Where a key of ``for_command(command)`` was set: 'PATH [tool.deident.scrub]'."""
        own = self.values.get(command, {})
        in_own = isinstance(own, dict) and key in {k.replace("-", "_") for k in own}
        table = ".".join(t for t in (self.section, command if in_own else "") if t)
        return f"{self.path} [{table}]" if table else str(self.path)

    def unknown_tables(self, commands) -> list[str]:
        return sorted(k for k, v in self.values.items() if isinstance(v, dict) and k not in commands)


def find_config(start: Path | None = None) -> Config:
    """The nearest ``.deident.toml``, or ``pyproject.toml`` with a ``[tool.deident]`` table, upward."""
    folder = (start or Path.cwd()).resolve()
    for directory in (folder, *folder.parents):
        dot = directory / ".deident.toml"
        if dot.is_file():
            data = _load(dot)
            nested = data.get("tool", {}).get("deident") if isinstance(data.get("tool"), dict) else None
            if nested is not None:
                return Config(nested, dot, "tool.deident")
            return Config(data, dot, "")
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            section = _load(pyproject).get("tool", {}).get("deident")
            if section is not None:
                return Config(section, pyproject, "tool.deident")
    return Config()


def _load(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read configuration {path}: {exc}") from exc
