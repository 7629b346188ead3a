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
        lines = _resolve_tall(eng, bgr, detect.find_lines(eng, bgr))
        reading = options.text is TextMode.PHI or bool(self._keep)
        texts = engine.recognise(eng, bgr, [ln.quad for ln in lines]) if reading else []
        deny = None
        if options.text is TextMode.PHI and ctx.deny_terms:
            from deident.denylist import deny_list_for  # part of the package: never optional

            deny = deny_list_for(ctx.deny_terms)
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


# A "line" taller than this must also be read as text to count. Dense tissue (nuclei on a stained
# section) or a textured object can look like one huge word to the detector, above all once a label
# beside it is filled; real text that large reads with a confidence near 1 (measured: a 118-px line 1.00,
# a tissue blob 0.22). Such a quad can also swallow small labels lying on the texture, so what does not
# read as text is searched again at full resolution and the lines inside it are kept.
TALL_LINE_PX = 64
TALL_LINE_MIN_SCORE = 0.5


def _resolve_tall(eng, bgr, lines: list, depth: int = 0) -> list:
    from deident.text import detect, engine

    tall = [ln for ln in lines if ln.height > TALL_LINE_PX]
    if not tall:
        return lines
    out = [ln for ln in lines if ln.height <= TALL_LINE_PX]
    for ln, read in zip(tall, engine.recognise(eng, bgr, [ln.quad for ln in tall]), strict=True):
        if read.score >= TALL_LINE_MIN_SCORE and any(c.isalnum() for c in read.text):
            out.append(ln)
        elif depth == 0:
            out += _resolve_tall(eng, bgr, _lines_inside(eng, bgr, ln), depth + 1)
    return detect.drop_contained(out)


def _lines_inside(eng, bgr, line) -> list:
    """The detector's lines within ``line``'s bounding box, looked at on their own."""
    import numpy as np

    from deident.text import detect

    h, w = bgr.shape[:2]
    (x0, y0), (x1, y1) = line.quad.min(axis=0), line.quad.max(axis=0)
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(w, int(x1) + 1), min(h, int(y1) + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    shift = np.array([x0, y0], np.float32)
    found = detect.find_lines(eng, np.ascontiguousarray(bgr[y0:y1, x0:x1]))
    return [detect.Line(ln.quad + shift, ln.score) for ln in found]
