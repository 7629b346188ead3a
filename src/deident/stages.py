"""The pixel stages' shared contract, and which of them a run uses.

A detector looks at one decoded frame and returns ``Region``s in that frame's coordinates. It never
edits pixels (documents do, in their native values) and never returns identifying text in clear.
``ensure_available`` raises ``StageUnavailable`` with an install hint when its engine or model cannot
load: the pipeline then fails the file closed instead of calling it safe.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from deident.formats.base import Context, Frame
from deident.options import FaceMode, Options, TextMode
from deident.regions import Redaction, Region


class Detector(Protocol):
    name: str  # "text" | "barcode" | "faces"; also the Finding.stage of what it reports
    runs_beside: bool  # single-threaded, no process-wide setting: may look while the others do

    def ensure_available(self) -> None: ...

    def detect(self, frame: Frame, ctx: Context) -> list[Region]: ...


# (stage name, "module:factory", enabled(options)) — factories are imported lazily.
_STAGES = (
    ("barcode", "deident.barcodes.detect:BarcodeDetector", lambda o: o.text is not TextMode.OFF),
    ("text", "deident.text:TextDetector", lambda o: o.text is not TextMode.OFF),
    ("faces", "deident.faces:FaceDetector", lambda o: o.faces is not FaceMode.OFF),
)

# What a run's options can leave unlooked-at in every picture, and the option that did.
_OFF = (
    ("burned-in text and barcodes", "--text off", lambda o: o.text is TextMode.OFF),
    ("faces", "--faces off", lambda o: o.faces is FaceMode.OFF),
)

_cache: dict[tuple[str, str], Detector] = {}


def not_checked(options: Options) -> str:
    """What these options leave unlooked-at in every picture; "" when every pixel stage runs.

    The user chose it, so no file fails for it; but a PNG with a name burned in was reported plainly
    "safe" with ``--text off`` on the command line (a configuration file's choice was at least noted)."""
    if options.fast:
        return "pixels not checked (--fast)"
    off = [(what, flag) for what, flag, is_off in _OFF if is_off(options)]
    if not off:
        return ""
    what = "pixels" if len(off) == len(_OFF) else off[0][0]
    return f"{what} not checked ({', '.join(flag for _, flag in off)})"


def detectors_for(options: Options) -> list[Detector]:
    """The detectors this run needs, created once per process (models are loaded once)."""
    if not options.pixel_stages:
        return []
    out = []
    for name, target, enabled in _STAGES:
        if not enabled(options):
            continue
        key = (name, options.faces.value if name == "faces" else options.text.value)
        if key not in _cache:
            module, factory = target.split(":")
            _cache[key] = getattr(importlib.import_module(module), factory)(options)
        out.append(_cache[key])
    return out


def style_for(region: Region, options: Options) -> str:
    """How a region is hidden: text by --redact-style, faces by --faces, eye bars and codes by fill.

    In eyes mode a face whose eyes cannot be placed is blurred whole (a bar would miss the eyes)."""
    if region.kind == "face":
        return options.faces.value if options.faces.value in ("blur", "pixelate", "fill") else "blur"
    if region.kind == "text":
        return options.redact_style.value
    return "fill"


def redactions_for(regions: list[Region], options: Options) -> list[Redaction]:
    return [Redaction(r, style_for(r, options)) for r in regions]
