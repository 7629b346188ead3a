"""The secret key behind every keyed transform: DICOM UIDs, pseudonyms, date shifts, report hashes.

Same key + same input -> same output, across runs and batches; without the key nothing is reversible.
The key is read from ``--key-file``, ``$DEIDENT_KEY`` (hex or text) or ``$DEIDENT_KEY_FILE``; when none is
given one is generated once and saved to ``~/.config/deident/key`` (mode 0600), and the user is told.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# Root under which new UIDs are made: the UUID-derived arc 2.25 (PS3.5 B.2) needs no registration.
UID_ROOT = "2.25."


def default_key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "deident" / "key"


@dataclass(frozen=True)
class Keyring:
    secret: bytes

    def digest(self, purpose: str, value: str | bytes) -> bytes:
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        return hmac.new(self.secret, purpose.encode() + b"\0" + value, hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """A new DICOM UID (2.25.<decimal of 128 keyed bits>), at most 64 characters."""
        n = int.from_bytes(self.digest("uid", original.strip())[:16], "big")
        return UID_ROOT + str(n)

    def pseudonym(self, purpose: str, value: str, length: int = 8) -> str:
        """Upper-case letters and digits, stable for one value under one key."""
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        n = int.from_bytes(self.digest(purpose, value.strip().upper()), "big")
        out = []
        for _ in range(length):
            n, r = divmod(n, len(alphabet))
            out.append(alphabet[r])
        return "".join(out)

    def day_offset(self, patient: str, max_days: int = 3650) -> int:
        """A per-patient shift in days, never zero, within +-max_days."""
        n = int.from_bytes(self.digest("dates", patient.strip().upper())[:8], "big")
        offset = n % (2 * max_days) - max_days
        return offset if offset != 0 else max_days

    def short_hash(self, value: str, length: int = 10) -> str:
        """A short keyed hash to match two findings without printing their value."""
        return self.digest("report", value).hex()[:length]


@dataclass(frozen=True)
class KeySource:
    keyring: Keyring
    origin: str  # where it came from, for the user
    created: bool = False
    warning: str = ""  # a key file others may read


def exposure(path: Path) -> str:
    """A warning when users other than the owner may read or change the key file (ssh refuses such a
    private key; deident warns), else ""."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return ""
    if not mode & 0o077:
        return ""
    return f"key file {path} is readable by others (mode {mode:04o}): chmod 600 {path}"


class KeyUnusable(ValueError):
    """A key that cannot be read, or is too short; the message names where it came from, so a run says
    which setting to fix instead of ending in a traceback (a short $DEIDENT_KEY did)."""


def load_key(key_file: str | os.PathLike | None = None, *, create: bool = True) -> KeySource:
    if key_file:
        return _from_file(Path(key_file), f"file {key_file}")
    env = os.environ.get("DEIDENT_KEY")
    if env:
        origin = "environment variable DEIDENT_KEY"
        try:
            return KeySource(Keyring(_parse(env.encode())), origin)
        except ValueError as exc:
            raise KeyUnusable(f"{origin}: {exc}") from exc
    env_file = os.environ.get("DEIDENT_KEY_FILE")
    if env_file:
        return _from_file(Path(env_file), f"file {env_file} (DEIDENT_KEY_FILE)")
    path = default_key_path()
    if path.exists():
        return _from_file(path, f"file {path}")
    secret = secrets.token_bytes(32)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret.hex() + "\n")
    return KeySource(Keyring(secret), f"new key saved to {path}" if create else "ephemeral", created=True)


def _from_file(path: Path, origin: str) -> KeySource:
    try:
        return KeySource(Keyring(_read_key(path)), origin, warning=exposure(path))
    except OSError as exc:
        raise KeyUnusable(f"{origin}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise KeyUnusable(f"{origin}: {exc}") from exc


def _read_key(path: Path) -> bytes:
    return _parse(path.read_bytes())


def _parse(raw: bytes) -> bytes:
    text = raw.strip()
    try:
        value = bytes.fromhex(text.decode("ascii"))
        if len(value) >= 16:
            return value
    except (ValueError, UnicodeDecodeError):
        pass
    if len(text) < 16:
        raise ValueError("the deident key must be at least 16 bytes (or 32 hex digits)")
    return text
