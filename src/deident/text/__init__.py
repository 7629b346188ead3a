"""Burned-in text: find every line (ALL) or the identifying ones (PHI) and return regions to redact.

PP-OCR (rapidocr's bundled ONNX models) finds the lines: an overview pass plus finer tiles on large
frames (detect.py). ALL mode needs only the boxes; PHI mode and ``--keep-text`` also read each line
(the classifier turns 90/180/270-degree lines upright first) and judge it against phi.json (phi.py) and
the batch deny-list. Regions never carry the text read, only a category. Heavy imports stay inside
functions so the CLI starts fast.
"""

from __future__ import annotations

import re
from functools import cached_property

from deident.formats.base import Context, Frame
from deident.options import Options, TextMode
from deident.regions import Region


class TextDetector:
    name = "text"

    def __init__(self, options: Options):
        self.options = options

    @cached_property
    def _keep(self) -> tuple[re.Pattern, ...]:
        return tuple(re.compile(p, re.I) for p in self.options.keep_text)

    def _engine(self, options: Options):
        from deident.text import engine

        return engine.load(engine.threads_for(options.jobs))

    def ensure_available(self) -> None:
        """Load the models now (raises StageUnavailable with the install command when they cannot)."""
        self._engine(self.options)

    def detect(self, frame: Frame, ctx: Context) -> list[Region]:
        from deident.text import detect, engine, phi

        options = ctx.options
        eng = self._engine(options)
        bgr = frame.rgb[..., ::-1]
        lines = detect.find_lines(eng, bgr)
        reading = options.text is TextMode.PHI or bool(self._keep)
        texts = engine.recognise(eng, bgr, [ln.quad for ln in lines]) if reading else []
        deny = _deny_list(ctx.deny_terms) if options.text is TextMode.PHI else None
        regions = []
        for i, ln in enumerate(lines):
            label = "text line"
            if reading:
                read = texts[i]
                if read.score >= phi.MIN_SCORE and phi.kept_by(read.text, self._keep):
                    continue
                if options.text is TextMode.PHI:
                    category = phi.classify(read.text, read.score, deny)
                    if category is None:
                        continue
                    label = f"text line ({category})"
            quad = detect.grown(ln.quad)
            regions.append(Region(tuple((float(x), float(y)) for x, y in quad), "text", label, ln.score))
        return regions


def _deny_list(terms: tuple[str, ...]):
    """The batch deny-list matcher when the module and terms exist (it lives in deident.denylist)."""
    if not terms:
        return None
    return _cached_deny(terms)


_deny_cache: dict[tuple[str, ...], object] = {}


def _cached_deny(terms: tuple[str, ...]):
    if terms not in _deny_cache:
        try:
            from deident.denylist import DenyList
        except ImportError:
            return None
        _deny_cache.clear()
        _deny_cache[terms] = DenyList(terms)
    return _deny_cache[terms]
