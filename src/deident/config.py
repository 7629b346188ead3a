"""Defaults for every option from ``[tool.deident]`` in pyproject.toml or a ``.deident.toml``.

The nearest file found walking up from the working directory wins (a ``.deident.toml`` before a
``pyproject.toml`` in the same folder); command-line flags win over both. Keys use the long option
names with dashes or underscores (``text = "phi"``, ``redact-style = "blur"``); a key may also sit in a
per-command table (``[tool.deident.scrub]``). Values are checked here, once, by the same Click parameter
types the command line uses, so a bad value is refused naming the file, and a typo is reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click
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

    def click_defaults(self, commands: Mapping[str, click.Command], only: str | None = None):
        """Click's default_map, validated; and, per command, where each value came from.

        Only options take defaults from the file (an argument never does: ``text = "phi"`` must not become
        the text ``deident fuzz`` rewrites). A value Click would refuse is refused here, naming the file.
        """
        default_map: dict[str, dict] = {}
        sources: dict[str, dict] = {}
        for name, command in commands.items():
            if only is not None and name != only:
                continue
            keys = option_keys(command)
            params = {p.name: p for p in command.params}
            wanted: dict = {}
            for key, value in self.for_command(name).items():
                if key not in keys:
                    continue
                param = params[keys[key]]
                try:
                    values = value if param.multiple and isinstance(value, list) else [value]
                    for v in values:
                        param.type.convert(v, param, None)
                except click.BadParameter as exc:
                    raise click.UsageError(f"{self.path}: {key} = {value!r}: {exc.message}") from exc
                wanted[param.name] = [value] if param.multiple and isinstance(value, str) else value
                sources.setdefault(name, {})[param.name] = self.source_of(name, key)
            default_map[name] = wanted
        return default_map, sources

    def unknown_keys(self, commands: Mapping[str, click.Command]) -> list[str]:
        """Keys no command takes (typos): a top-level key any command knows, a table key its command knows."""
        known = {key for command in commands.values() for key in option_keys(command)}
        unknown = []
        for key, value in self.values.items():
            if not isinstance(value, dict):
                if key.replace("-", "_") not in known:
                    unknown.append(key)
            elif key not in commands:
                unknown.append(f"[{key}]")
            else:
                own = option_keys(commands[key])
                unknown += [f"{key}.{k}" for k in value if k.replace("-", "_") not in own]
        return sorted(unknown)


def configurable(command: click.Command) -> Iterator[click.Option]:
    """The options of a command a configuration may set (not its arguments, nor --help)."""
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in (None, "help"):
            yield param


def option_keys(command: click.Command) -> dict[str, str]:
    """Configuration key -> parameter name: long option names (dashes or underscores) and the name itself."""
    keys: dict[str, str] = {}
    for param in configurable(command):
        keys[param.name] = param.name
        for opt in param.opts:
            if opt.startswith("--"):
                keys[opt[2:].replace("-", "_")] = param.name
    return keys


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
