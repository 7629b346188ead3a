"""Defaults for every option from ``[tool.deident]`` in pyproject.toml or a ``.deident.toml``.

The nearest file found walking up from the working directory wins (a ``.deident.toml`` before a
``pyproject.toml`` in the same folder); command-line flags win over both. Keys use the long option
names with dashes or underscores (``text = "phi"``, ``redact-style = "blur"``); a key may also sit in a
per-command table (``[tool.deident.scrub]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]


@dataclass(frozen=True)
class Config:
    values: dict = field(default_factory=dict)
    path: Path | None = None

    def for_command(self, command: str) -> dict:
        """Flat defaults for one command: top-level keys, then the command's own table."""
        flat = {k: v for k, v in self.values.items() if not isinstance(v, dict)}
        flat.update(self.values.get(command, {}))
        return {k.replace("-", "_"): v for k, v in flat.items()}


def find_config(start: Path | None = None) -> Config:
    folder = (start or Path.cwd()).resolve()
    for directory in (folder, *folder.parents):
        dot = directory / ".deident.toml"
        if dot.is_file():
            return Config(_load(dot), dot)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            section = _load(pyproject).get("tool", {}).get("deident")
            if section is not None:
                return Config(section, pyproject)
    return Config()


def _load(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read configuration {path}: {exc}") from exc
    if path.name == ".deident.toml":
        return data.get("tool", {}).get("deident", data)
    return data
