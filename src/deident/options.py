"""Every knob of a run, as one frozen value passed to the pipeline and to each stage.

The CLI and the configuration file (``[tool.deident]`` / ``.deident.toml``) only build an ``Options``;
library users build one directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class TextMode(str, Enum):
    ALL = "all"  # redact every piece of text found
    PHI = "phi"  # redact text that looks identifying (plus the batch deny-list)
    OFF = "off"


class FaceMode(str, Enum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    FILL = "fill"
    EYES = "eyes"  # black bar over both eyes only (consented photos)
    OFF = "off"


class RedactStyle(str, Enum):
    FILL = "fill"
    BLUR = "blur"
    PIXELATE = "pixelate"


# Refuse to decode images above this many pixels unless raised: guards against decompression bombs.
DEFAULT_MAX_PIXELS = 250_000_000


@dataclass(frozen=True)
class DicomOptions:
    """PS3.15 Annex E options; each flag adds its code to DeidentificationMethodCodeSequence."""

    retain_long_modified_dates: bool = False  # 113107: shift dates by a keyed per-patient offset
    retain_patient_characteristics: bool = False  # 113108: age, sex, size, weight
    retain_device_identity: bool = False  # 113109
    clean_descriptors: bool = False  # 113105: keep descriptions after cleaning instead of removing


@dataclass(frozen=True)
class Options:
    text: TextMode = TextMode.ALL
    faces: FaceMode = FaceMode.BLUR
    redact_style: RedactStyle = RedactStyle.FILL
    keep_text: tuple[str, ...] = ()  # regexes of text to leave visible
    output_dir: Path | None = None
    in_place: bool = False
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    seed: int | None = None
    key: bytes | None = None  # secret for UIDs, pseudonyms, date shifts and hashes; see deident.keys
    dicom: DicomOptions = field(default_factory=DicomOptions)
    max_pixels: int = DEFAULT_MAX_PIXELS
    fast: bool = False  # check: metadata, DICOM headers and names only
    rename: bool = False  # neutral names; the mapping goes to ``mapping_file``, never the output folder
    mapping_file: Path | None = None
    fuzz_history: bool = False
    resume: bool = False  # skip outputs made from the same input with the same options, key and version
    overwrite: bool = False  # replace files deident did not write, and read-only originals with in_place
    keep_names: bool = False  # an identifying file or folder name kept on purpose (else scrub fails the file)
    dry_run: bool = False  # scrub: say what would be removed and redacted, write nothing
    reencode: bool = False  # force decode/re-encode for JPEG pixel redaction
    output_format: str | None = None  # convert on write: "jpeg" | "png"
    keep_macro: bool = False  # whole-slide images: keep the macro image with its label filled
    scheduler: str | None = None  # run the batch on Dask: "tcp://HOST:PORT" or "local:N" (deident.cluster)

    @property
    def pixel_stages(self) -> bool:
        return not self.fast and (self.text is not TextMode.OFF or self.faces is not FaceMode.OFF)
