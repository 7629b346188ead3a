"""The Aperio (SVS) ImageDescription rebuilt from a keep-list: header words, dimension tokens, bounded
numeric fields; everything else is dropped and reported field by field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The ``|Key = Value`` fields an Aperio description keeps, each with the only form its value may take: a
# bounded number ("dim": digits no larger than the slide, see ``clean_svs_description``), never free digits.
SVS_KEEP_FIELDS = {
    "AppMag": r"\d{1,3}(\.\d{1,2})?",
    "MPP": r"\d{1,2}(\.\d{1,6})?",
    "StripeWidth": "dim",
    "OriginalWidth": "dim",
    "OriginalHeight": "dim",
    "Originalheight": "dim",
    "Filtered": r"\d{1,2}",
    "Gamma": r"\d(\.\d{1,4})?",
    "Exposure Time": r"\d{1,5}",
    "Exposure Scale": r"\d(\.\d{1,6})?",
}
DIM_BOUND = 1_000_000  # without a file: no slide side is a million pixels; with one, twice its largest side
_HEADER_WORDS = {"Aperio", "Image", "Library", "Format", "Leica", "Biosystems", "GT450", "AT2", "CS2"}
_VERSION = re.compile(r"v\d{1,2}(\.\d{1,3}){0,3}")  # v12.0.15; a bare number or a date is not a version
# Tokens of the dimension line; a bare number is none of them (it would carry an accession number or a date).
_DIM_TOKEN = re.compile(
    r"\d+x\d+|\[\d+,\d+|\d+x\d+\]|\(\d+x\d+\)|->|-"
    r"|(JPEG|J2K|JP2K|LZW|RAW|NONE|DEFLATE|ZIP)/(RGB|YCBCR|YCbCr|GRAY|GREY)"
    r"|[QR]=\d{1,3}|label|macro|thumbnail|label-filled|x=\d+-\d+(,\d+-\d+)*"
)


@dataclass
class CleanDescription:
    text: str  # what is written back
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (safe name of what went, its value)
    kept: list[str] = field(default_factory=list)  # field names kept


def clean_svs_description(desc: str, bound: int = DIM_BOUND) -> CleanDescription:
    """Rebuild an Aperio description from a keep-list: header words, dimension tokens, bounded numeric fields.

    ``Aperio Image Library v11.2.1\\r\\n46000x32914 [0,100 46000x32814] (240x240) JPEG/RGB Q=30|AppMag = 20|
    Date = 12/29/09|User = jdoe|MPP = 0.499`` keeps everything but Date and User. No free digits pass: a
    bare number, a date or a number larger than ``bound`` (twice the slide's largest side) drops its line
    or field. The result is a fixed point (cleaning it again drops nothing), which is what lets the output
    pass its own check.
    """

    def small(text: str) -> bool:
        return all(int(n) <= bound for n in re.findall(r"\d+", text))

    out = CleanDescription("")
    head, *fields = desc.replace("\0", "").split("|")
    lines = [ln.strip() for ln in re.split(r"\r?\n", head) if ln.strip()]
    kept_lines = []
    for n, line in enumerate(lines):
        words = line.split()
        if n == 0:
            good = [w for w in words if w in _HEADER_WORDS or _VERSION.fullmatch(w)]
            if len(good) != len(words):
                out.dropped.append(("header words", " ".join(w for w in words if w not in good)))
            kept_lines.append(" ".join(good) or "Aperio")
        elif all(_DIM_TOKEN.fullmatch(w) for w in words) and small(line):
            kept_lines.append(line)
        else:
            out.dropped.append((f"header line {n + 1}", line))
    kept_fields = []
    for f in fields:
        key, sep, value = f.partition("=")
        key, value = key.strip(), value.strip()
        form = SVS_KEEP_FIELDS.get(key) if sep else None
        if form == "dim":
            fits = re.fullmatch(r"\d{1,7}", value) is not None and small(value)
        else:
            fits = form is not None and re.fullmatch(form, value) is not None
        if fits:
            kept_fields.append(f"{key} = {value}")
            out.kept.append(key)
        elif f.strip():
            name = key if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9 ._]{0,30}", key) else "unnamed field"
            out.dropped.append((name, value if sep else f))
    out.text = "\r\n".join(kept_lines) + "".join("|" + f for f in kept_fields)
    return out
