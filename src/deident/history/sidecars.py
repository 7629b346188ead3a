"""Which caption files sit beside an image (NAME.txt, NAME.md, NAME.json): a look at the disk that every
checked file needs, kept apart from the caption rules (``fuzz``, ``rules``: 0.05 CPU-s of regular
expressions to compile) that only a file with a caption needs."""

from __future__ import annotations

import codecs
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from deident.errors import CorruptFile

TEXT_SUFFIXES = (".txt", ".md")
JSON_FIELDS = ("caption", "history")
# Byte-order marks a caption may start with, UTF-32 LE's before UTF-16 LE's (it begins with it).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Read without a mark: UTF-8, else Windows-1252, else Latin-1 (which decodes any byte string).
PLAIN = ("utf-8", "cp1252", "latin-1")
# Control characters no caption holds: text read in the wrong encoding ("J\0o\0h\0n" is UTF-16 read
# as bytes), where no rule would see a name.
CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
UNREADABLE = "{}: caption in an encoding deident does not read (it would be passed on unchecked)"


@dataclass(frozen=True)
class Caption:
    """A caption file's text and how it was stored, so a rewrite is stored the same way."""

    text: str
    bom: bytes
    codec: str

    def encode(self, text: str) -> bytes:
        return self.bom + text.encode(self.codec)


def read_caption(path: Path) -> Caption:
    """The caption's text: by its byte-order mark (UTF-8, UTF-16 or UTF-32, as Notepad writes them), UTF-16
    without one when NUL bytes say so, else ``PLAIN``. Raises ``CorruptFile`` when the text still holds
    control characters: read as Windows-1252, a UTF-16 "MRN 1234567" is letters between NULs, which the
    caption rules pass as clean and a rewrite would copy unchanged."""
    raw = Path(path).read_bytes()
    mark = next(((bom, codec) for bom, codec in BOMS if raw.startswith(bom)), None)
    tries = [mark] if mark else [(b"", c) for c in (*_utf16_guess(raw), *PLAIN)]
    for bom, codec in tries:
        try:
            text = raw[len(bom) :].decode(codec)
        except UnicodeDecodeError:
            continue
        if CONTROLS.search(text):
            break
        return Caption(text, bom, codec)
    raise CorruptFile(UNREADABLE.format(Path(path).name))


def _utf16_guess(raw: bytes) -> tuple[str, ...]:
    """UTF-16 without a byte-order mark: NUL bytes in the high half of most characters (ASCII text)."""
    if b"\0" not in raw or len(raw) % 2:
        return ()
    return ("utf-16-le",) if raw[1::2].count(0) >= raw[0::2].count(0) else ("utf-16-be",)


def json_fields(data: object) -> list[str]:
    if not isinstance(data, dict):
        return []
    return [k for k in JSON_FIELDS if isinstance(data.get(k), str)]


def json_cue(key: object) -> str:
    """A JSON key as words, the cue a caption rule reads before a value ("patient_name" -> "patient name",
    "dateOfBirth" -> "date Of Birth"): "patient name: Jane Roe" is a name where "Jane Roe" alone is not."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", re.sub(r"[_\-.]+", " ", str(key))).strip()


def load_json(path: Path) -> dict | None:
    try:
        data = json.loads(read_caption(path).text)
    except (OSError, ValueError, CorruptFile):
        return None
    return data if json_fields(data) else None


def find_sidecars(image_path: Path) -> list[Path]:
    """Caption files for an image: same stem, .txt/.md, or .json with a caption/history string, the
    suffix in any case (``case1.TXT``, as Windows and cameras write them: a folder walk sets such a file
    aside as a caption, so the image's check must read it, or nothing does).

    Each spelling is looked up by name, not found by listing the folder: a listing per image made a walk
    of a folder of N pictures cost N listings of N names."""
    image_path = Path(image_path)
    found, seen = [], set()
    for suffix in (*TEXT_SUFFIXES, ".json"):
        for spelled in _spellings(suffix):
            candidate = image_path.with_suffix(spelled)
            try:
                st = candidate.stat()
            except (OSError, ValueError):
                continue
            if candidate == image_path or not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue  # a case-insensitive file system gives one file under every spelling
            seen.add((st.st_dev, st.st_ino))
            if suffix == ".json" and load_json(candidate) is None:
                continue
            found.append(candidate)
    return found


def _spellings(suffix: str) -> tuple[str, ...]:
    """How ``suffix`` is written: in lower case, in capitals, or capitalised (".md", ".MD", ".Md"). A
    caption spelled otherwise (".mD") is no caption: a walk passes it on as a file of its own, which
    fails as content not recognised."""
    return tuple(sorted({suffix.lower(), suffix.upper(), suffix[:2].upper() + suffix[2:].lower()}))


def is_caption(path: Path) -> bool:
    """True for a caption file an image beside it has (``find_sidecars``): what a walk sets aside."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.suffix not in _spellings(suffix):
        return False
    # a JSON file without a caption field: no image reads it, so it is a file of its own
    return suffix in TEXT_SUFFIXES or (suffix == ".json" and load_json(path) is not None)
