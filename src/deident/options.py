"""Every knob of a run, as one frozen value passed to the pipeline and to each stage.

The CLI and the configuration file (``[tool.deident]`` / ``.deident.toml``) only build an ``Options``
(``Options.from_values``); library users build one directly. The defaults, the choices the command line
offers (the enums below) and the checks of how options combine live here, once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deident.review.decisions import Decisions


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


# Formats ``output_format`` converts HEIC/AVIF photos to (``--format``).
OUTPUT_FORMATS = ("jpeg", "png")

# Refuse to decode images above this many pixels unless raised: guards against decompression bombs.
DEFAULT_MAX_PIXELS = 250_000_000


@dataclass(frozen=True)
class DicomOptions:
    """PS3.15 Annex E options; each flag adds its code to DeidentificationMethodCodeSequence."""

    retain_long_modified_dates: bool = False  # 113107: shift dates by a keyed per-patient offset
    retain_patient_characteristics: bool = False  # 113108: age, sex, size, weight
    retain_device_identity: bool = False  # 113109
    clean_descriptors: bool = False  # 113105: keep descriptions after cleaning instead of removing


# Command-line / configuration names of the DicomOptions flags
_DICOM_FLAGS = {
    "retain_dates": "retain_long_modified_dates",
    "retain_patient_chars": "retain_patient_characteristics",
    "retain_device": "retain_device_identity",
    "clean_descriptors": "clean_descriptors",
}


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
    cache: bool = True  # check: pixels found clean before (a check, a scrub's output) not looked at again
    all_stages: bool = True  # False (the check gate): a file refused by a first stage is looked at no further
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
    review_dir: Path | None = None  # --review: where the review page goes (deident.review.place)
    review_outputs_only: bool = False  # --review outputs: a page without originals, safe to share
    decisions: Decisions | None = None  # --decisions: a reviewer's corrections, loaded and validated
    scheduler: str | None = None  # run the batch on Dask: "tcp://HOST:PORT" or "local:N" (deident.cluster)

    @property
    def pixel_stages(self) -> bool:
        return not self.fast and (self.text is not TextMode.OFF or self.faces is not FaceMode.OFF)

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> Options:
        """An ``Options`` from flat command-line or configuration values, checked (``ValueError``).

        A name that is not a field is ignored and ``None`` keeps the default, so a command passes all of
        its parameters; enums are given by value, the DICOM flags by their option names.
        """
        given = {f.name: values[f.name] for f in fields(cls) if values.get(f.name) is not None}
        given.pop("dicom", None)
        for name, enum in (("text", TextMode), ("faces", FaceMode), ("redact_style", RedactStyle)):
            if name in given:
                given[name] = enum(given[name])
        if "keep_text" in given:
            given["keep_text"] = tuple(given["keep_text"])
        dicom = {own: bool(values.get(flag)) for flag, own in _DICOM_FLAGS.items()}
        options = cls(**given, dicom=DicomOptions(**dicom))
        options.check()
        return options

    def check(self) -> None:
        """Refuse options that contradict each other before any key is loaded or any file read."""
        if self.in_place and self.output_dir:
            raise ValueError("--in-place and --output-dir exclude each other")
        if self.in_place and self.output_format:
            # a converted picture has a new name (a.heic -> a.png): the original stayed beside it, named safe
            raise ValueError(
                "--in-place and --format exclude each other: a converted picture gets a new name, so its "
                "original would stay beside it; convert into a folder with --output-dir"
            )
        if self.rename and not self.output_dir:
            raise ValueError("--rename needs --output-dir: neutral names go into a folder of their own")
        if (
            self.mapping_file
            and self.output_dir
            and self.mapping_file.resolve().is_relative_to(self.output_dir.resolve())
        ):
            raise ValueError("the --mapping file must not be inside the output folder")
