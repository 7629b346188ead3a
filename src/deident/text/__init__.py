"""Burned-in text: find every line (ALL) or the identifying ones (PHI) and return regions to redact.

PP-OCR (rapidocr's bundled ONNX models) finds the lines: an overview pass plus finer tiles on large
frames (detect.py). ALL mode needs only the boxes; PHI mode and ``--keep-text`` also read each line
(the classifier turns 90/180/270-degree lines upright first) and judge it against phi.json (phi.py) and
the batch deny-list. PHI mode also judges each run of fragments on one baseline together (the detector
may split one large or tilted line into pieces that mean nothing alone). Regions never carry the text
read, only a category. Heavy imports stay inside functions so the CLI starts fast.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from functools import lru_cache

from deident.formats.base import Context, Frame
from deident.options import Options, TextMode
from deident.regions import KEPT, Region
from deident.text.evidence import (
    TALL_LINE_MIN_CHARS,
    TALL_LINE_MIN_SCORE,
    alnum,
    reads_as,
    reads_as_a_glyph,
    reads_as_a_word,
    reads_confidently,
)
from deident.text.geometry import RUN_GAP, SQUARE, axes, same_line


@lru_cache(maxsize=16)
def _keep_patterns(keep_text: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    """The --keep-text regexes of a run. Read from each file's options, not from the detector: detectors
    are made once per process (``stages.detectors_for``, keyed by mode), and a Dask worker or a library
    caller serves run after run, so the first run's regexes ('.*' keeps every line) were applied to
    every later run of the process, and a later run's were never applied."""
    return tuple(re.compile(p, re.I) for p in keep_text)


class TextDetector:
    name = "text"
    runs_beside = False  # its models run on the worker's cores (``engine.threads_for``)

    def __init__(self, options: Options):
        self.options = options

    @staticmethod
    def _engine(options: Options):
        from deident.frames_cache import side_by_side
        from deident.text import engine

        return engine.load(engine.threads_for(options.jobs * side_by_side()))

    def ensure_available(self) -> None:
        """Load the models now (raises StageUnavailable with the install command when they cannot)."""
        self._engine(self.options)

    def detect(self, frame: Frame, ctx: Context) -> list[Region]:
        return [r for r in self.look(frame, ctx) if r.kind != KEPT]

    def verify(self, frame: Frame, ctx: Context) -> list[Region]:
        """``detect`` without its closer look at faint heat (``detect._faint``): verification looks at
        crops around fresh fills, whose edges and cut-off neighbours give such heat. On a sign photo of
        ../shared's real-world set a harmless line beside a name's fill was found again there as a wider
        line, read with the cut name as a name, and filled in a second round."""
        return [r for r in self.look(frame, ctx, faint=False) if r.kind != KEPT]

    def look(
        self, frame: Frame, ctx: Context, faint: bool = True, tallest: float | None = None
    ) -> list[Region]:
        """``detect``'s regions, plus (PHI mode) each line read whole and judged harmless, as a region of
        kind ``KEPT``: verification must not re-judge such a line from a crop that cuts it off
        (``frames_cache.unchanged_kept``). ``tallest``: lines taller than this (px) are no text."""
        from deident.text import detect, engine, phi

        if frame.tiles is not None:
            return _tile_by_tile(self.look, frame, ctx, faint)
        options = ctx.options
        eng = self._engine(options)
        bgr = frame.rgb[..., ::-1]
        # Verification reads tall and near-square lines with the frame's solid fills repainted, as the
        # detector saw it: on a sign of ../shared's real-world set (easyocr_example3.png) two fresh fills
        # stacked in a yellow frame read as "D" (0.51) and counted as a glyph, and the whole sign was filled
        # in a second round (23 % of the frame); with the fills repainted the quad reads "b" at 0.41.
        work = None if faint else detect.neutralise_boxes(bgr, plain=True)
        shown = bgr if work is None else work

        def settled(found: list) -> list:
            tall = _resolve_tall(eng, shown, found, faint=faint, photographic=frame.photographic)
            kept = _glyphs_read(eng, shown, tall, frame.photographic)
            return _with_continuations(kept, found)

        keep = _keep_patterns(options.keep_text)  # this run's, never the first run's of the process
        reading = options.text is TextMode.PHI or bool(keep)
        enough = faint and ctx.gate and not reading  # a check's gate: one line found refuses the file
        faces = _faces_of(frame, ctx) if faint else None
        found = detect.find_lines(
            eng, bgr, faint=faint, work=work, plain=not faint, settle=settled, enough=enough, faces=faces
        )
        lines = settled(found) if frame.photographic else _shows_a_letter(eng, bgr, settled(found))
        if tallest is not None:
            lines = [ln for ln in lines if ln.height <= tallest]
        if frame.revealed:
            lines = _read_as_text(eng, bgr, lines)
        texts = _read(eng, bgr, lines) if reading else []
        deny = None
        if reading and ctx.deny_terms:
            from deident.denylist import deny_list_for  # part of the package: never optional

            deny = deny_list_for(ctx.deny_terms)
        categories = _phi_categories(eng, bgr, lines, texts, deny) if options.text is TextMode.PHI else []
        visible = [lines[i].quad for i, c in enumerate(categories) if c is None]  # PHI mode only
        regions = []
        for i, ln in enumerate(lines):
            kind, label = "text", "text line"
            if reading:
                read = texts[i]
                if read.score >= phi.MIN_SCORE and phi.kept_by(read.text, keep):
                    held = phi.identifier_in(read.text, deny)
                    if held is None:
                        continue
                    label = f"text line ({held}; --keep-text keeps no identifier)"
                elif options.text is TextMode.PHI:
                    harmless = categories[i] is None
                    kind, label = (KEPT, "kept") if harmless else ("text", f"text line ({categories[i]})")
            quad = detect.covering(bgr, ln.quad, lambda quads: engine.recognise(eng, bgr, quads))
            if kind == "text" and visible:
                quad = detect.spared(quad, ln.quad, visible)
            regions.append(Region(tuple((float(x), float(y)) for x, y in quad), kind, label, ln.score))
        return regions


# A line in a mosaic's tile is at most this share of the tile's short side. The slices the detector took
# for lines fill most of their tile: 54 of axasc35's 64 px, 130-155 px of b0dwi_for_fmap's 150 x 152 (as
# rows of slices); an 11-px "Pt: DOE" burned into a 64-px tile is a 28-px quad (0.44).
TILE_LINE_SHARE = 0.5


def _tile_by_tile(look: Callable, frame: Frame, ctx: Context, faint: bool) -> list[Region]:
    """A mosaic's regions: each tile's, looked at as a picture of its own, and the whole frame's lines
    that cross tiles (a label written across them); in both, a line is no taller than TILE_LINE_SHARE of
    a tile.

    Looked at whole, a row of round slices is one "line" to the detector and reads as "000000000", "C:CC"
    or "398", and the rules for a frame that is no photograph (``_printed``: a very tall line's share of
    the frame) see a 1350 x 1368 frame, not a 150 x 152 slice: on heudiconv's b0dwi_for_fmap mosaics
    35-42 % of the frame was filled, on axasc35.dcm a column of three slices (8 %)."""
    import numpy as np

    whole = dataclasses.replace(frame, tiles=None)
    boxes = frame.tiles.boxes(*frame.rgb.shape[1::-1])
    tallest = TILE_LINE_SHARE * min(frame.tiles.width, frame.tiles.height)
    regions = []
    for x0, y0, x1, y1 in boxes:
        tile = dataclasses.replace(whole, rgb=np.ascontiguousarray(frame.rgb[y0:y1, x0:x1]))
        found = look(tile, ctx, faint, tallest)
        regions += [r.mapped(lambda x, y, dx=x0, dy=y0: (x + dx, y + dy)) for r in found]
    across = look(whole, ctx, faint, tallest)
    return regions + [r for r in across if r.kind == KEPT or _across(r.bbox(), boxes)]


def _across(box: tuple[int, int, int, int], tiles: list[tuple[int, int, int, int]]) -> bool:
    """Whether ``box`` reaches into more than one of ``tiles``."""
    x0, y0, x1, y1 = box
    return sum(x0 < tx1 and tx0 < x1 and y0 < ty1 and ty0 < y1 for tx0, ty0, tx1, ty1 in tiles) > 1


def _with_continuations(kept: list, found: list) -> list:
    """``kept`` and the glyphs of ``found`` that lie between two kept lines of one line of text (``_runs``),
    each long enough to have an axis of its own (SHORT_ASPECT).

    Large text tilted comes out of the detector in pieces, and a piece of a glyph or two rarely reads as
    itself: the "-07" of a 96-px date tilted 7 degrees, between "2019" and "-23 14:02" on a textsynth
    label photo, read "0" and was left legible between two fills. Between short pieces a glyph is no
    part of a line: the icons between an echo's settings on its bottom bar, or a short label in a column
    of them."""
    ids = {id(ln) for ln in kept}
    dropped = [ln for ln in found if id(ln) not in ids and axes(ln.quad)[1] < SHORT_ASPECT]
    pieces = kept + dropped
    out = list(kept)
    for run in _runs(pieces, SHORT_ASPECT) if dropped else []:
        long = [
            k for k, i in enumerate(run) if id(pieces[i]) in ids and axes(pieces[i].quad)[1] >= SHORT_ASPECT
        ]
        out += [
            pieces[i]
            for k, i in enumerate(run)
            if id(pieces[i]) not in ids and long and long[0] < k < long[-1]
        ]
    return out


def _read_as_text(eng, bgr, lines: list) -> list:
    """The lines that read as text: a letter or digit read confidently, or two or more read at all, not
    only round ones (``detect.ROUND``: local contrast turns scikit-image's cameraman's cuff buttons into
    "0000"), or a glyph (``reads_as_a_glyph``) with the strokes of print. What a frame rendered to reveal
    faint labels must show, since such a rendering turns texture up as much as a label: a dark blob in the
    local contrast of pydicom's JPEG2000_UNC.dcm read "0" at 0.47 and was filled; the faint "Portable" of
    presidio's 2_ORIGINAL.dcm, seen over the full stored range only, reads "git" at 0.46; a leg
    radiograph's "R" marker reads at 1.00. The orientation "P" of pydicom-data's palette ultrasound
    OBXXXX1A.dcm, found only in its palette-entries rendering, reads at 0.73 with strokes: it was left,
    and a check of the output, with the labels beside it filled, read it at 0.95 and refused the file."""
    from deident.text import detect, engine

    reads = engine.recognise(eng, bgr, [ln.quad for ln in lines]) if lines else []
    readings = ((ln, ln.read or read) for ln, read in zip(lines, reads, strict=True))  # a closer look first
    return [
        ln
        for ln, read in readings
        if detect.not_round(
            read, lambda r: reads_as(r, TALL_LINE_MIN_SCORE, 1) or alnum(r.text) >= TALL_LINE_MIN_CHARS
        )
        or (reads_as_a_glyph(read) and detect.has_strokes(bgr, ln.quad))
    ]


def _shows_a_letter(eng, bgr, lines: list) -> list:
    """The lines that read as some letter or digit, however poorly, or show the strokes of print, and
    are no smooth scale bar (``detect.is_scale``).

    A grey-scale legend is a smooth bar the detector takes for a line: on pydicom-data's 8-bit echo
    (JPGLosslessP14SV1_1s_1f_8b.dcm) the 18x170 px gradient bar beside the sector read "_" (0.50), had
    no strokes, and was filled black. Text, even misread, gives the recogniser a letter or digit. A
    colour bar can read as one, too: on US1_UNCR.dcm, with the "PWR" labels above and below it filled,
    a check of the scrubbed echo read the power Doppler bar as "1" (0.58) and refused the file. A
    printed lone "1" has no strokes by ``has_strokes`` either, but it is no scale: two tones, not many.

    Asked of frames that are not photographs only (radiographs, ultrasounds, renderings), where scales
    and legends are drawn: on photos most lines show no strokes by this test and need a read of their
    own, which cost a third of the text stage on the real-world set's photos (5.5 -> 7.3 s, -j 1)."""
    from deident.text import detect, engine

    unread = [ln for ln in lines if ln.read is None]
    reads = engine.recognise(eng, bgr, [ln.quad for ln in unread]) if unread else []
    blank = {
        id(ln)
        for ln, read in zip(unread, reads, strict=True)
        if (alnum(read.text) == 0 and not detect.has_strokes(bgr, ln.quad)) or detect.is_scale(bgr, ln.quad)
    }
    return [ln for ln in lines if id(ln) not in blank]


def _faces_of(frame: Frame, ctx: Context):
    """The face stage's face boxes in the frame, asked for later (``detect.near_faces``), or None when
    the run looks for no faces or the frame is no photograph: badges are looked for around faces."""
    from deident.options import FaceMode

    if ctx.options.faces is FaceMode.OFF or not frame.photographic:
        return None

    def boxes() -> list[tuple[float, float, float, float]]:
        from deident.stages import detectors_for

        stage = next((d for d in detectors_for(ctx.options) if d.name == "faces"), None)
        return [] if stage is None else [f.box for f in stage.faces(frame, ctx)]

    return boxes


# A line read with less confidence than this is read again from the middle of its quad: on small, dense
# print the detector's quads reach into the lines above and below (page.png of ../shared's real-world set:
# 26-px quads on 12-px lines, read as "Leut t s t e t s s the" at 0.59), and the core alone reads right
# ("Let us first determine markers of the coins and the" at 1.00). The core drops REREAD_TRIM of the
# quad's height on each side.
REREAD_BELOW = 0.97
REREAD_TRIM = 0.12


def _read(eng, bgr, lines: list, worth_a_core: Callable = lambda read: read.score < REREAD_BELOW) -> list:
    """Each line's reading: the whole quad's, or its core's where that reads better and no shorter (asked
    only of readings ``worth_a_core``).

    The core's reading replaces the first only with a higher confidence and at least as many letters and
    digits, so a line the trim cut off the top or bottom of the quad can never read as a shorter, tidier
    harmless text.
    """
    from deident.text import detect, engine

    texts = engine.recognise(eng, bgr, [ln.quad for ln in lines])
    texts = [t if ln.read is None else ln.read for ln, t in zip(lines, texts, strict=True)]
    poor = [i for i, t in enumerate(texts) if worth_a_core(t) and lines[i].read is None]
    if not poor:
        return texts
    again = engine.recognise(eng, bgr, [detect.core(lines[i].quad, REREAD_TRIM) for i in poor])
    for i, read in zip(poor, again, strict=True):
        if read.score > texts[i].score and alnum(read.text) >= alnum(texts[i].text):
            texts[i] = read
    return texts


def reads_as_text(rgb, region: Region, options: Options, score: float = TALL_LINE_MIN_SCORE) -> bool:
    """True when the region's pixels read as text (two letters or digits at ``score``) or show printed
    strokes. The default is the evidence ``_resolve_tall`` asks of a very tall line (read confidently)."""
    import cv2
    import numpy as np

    from deident.text import detect, engine

    eng = TextDetector._engine(options)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    quad = cv2.boxPoints(cv2.minAreaRect(np.asarray(region.polygon, np.float32)))
    quad = detect.clockwise(quad)
    read = engine.recognise(eng, bgr, [quad])[0]
    return _shows_text(bgr, quad, read, score)


def _shows_text(bgr, quad, read, score: float = TALL_LINE_MIN_SCORE) -> bool:
    """The evidence a very tall "line" must give to count as text: two letters or digits read at
    ``score`` (by default confidently), or the strokes of print read as some letter or digit, however
    poorly (texture, fur and blurred heads give neither; Hangul reads at 0.24-0.60 with strokes; the stars
    of a flag behind matplotlib's Grace Hopper have strokes and read as "***")."""
    from deident.text import detect

    return reads_as(read, score, TALL_LINE_MIN_CHARS) or (
        alnum(read.text) > 0 and detect.has_strokes(bgr, quad)
    )


def _phi_categories(eng, bgr, lines: list, texts: list, deny) -> list[str | None]:
    """Each line's PHI category (None: harmless), judged alone and with its run of neighbours.

    A run (see ``_runs``) whose fragments are not all identifying already is judged on its joined text,
    in both orders (reading direction is unknown for turned lines) and with and without a space between
    fragments; if that is harmless, the run's union quad is read once more as one line. Whatever makes
    the run identifying makes every fragment of it identifying, except a read-out beside a fragment
    identifying alone (``_mark``). Only such candidate runs cost a read.
    """
    from deident.text import engine, phi

    cats = [phi.classify(t.text, t.score, deny) for t in texts]
    pending = []
    for run in _runs(lines):
        if all(cats[i] is not None for i in run):
            continue
        readable = [i for i in run if texts[i].score >= phi.MIN_SCORE]
        category = None
        if len(readable) > 1:
            score = min(texts[i].score for i in readable)
            touching = _touching(readable, lines)
            for order, gaps in ((readable, touching), (readable[::-1], touching[::-1])):
                for seps in ([" "] * len(gaps), ["" if t else " " for t in gaps]):
                    joined = texts[order[0]].text + "".join(
                        s + texts[i].text for s, i in zip(seps, order[1:], strict=True)
                    )
                    # joined without a space, only numbers count (no new "words")
                    category = category or phi.classify(
                        joined, score, deny, words=" " in seps and "" not in seps
                    )
        if category is None:
            pending.append(run)
        else:
            _mark(cats, run, category, texts)
    if pending:
        reads = engine.recognise(eng, bgr, [_union_quad([lines[i].quad for i in run]) for run in pending])
        for run, read in zip(pending, reads, strict=True):
            # A poorly read union (an awkward crop) proves nothing: its fragments were read well alone.
            if read.score >= phi.MIN_SCORE and (category := phi.classify(read.text, read.score, deny)):
                _mark(cats, run, category, texts)
    return cats


# Fragments of a run are joined without a space only across a gap under this share of their height: a
# line the detector split inside a word ("4455" "667" of one ID). On an echo's bottom bar an icon read
# as "0001" stood 0.9 heights from the setting "0": joined as "00010", they were filled as an ID.
TOUCHING_GAP = 0.5


def _touching(run: list[int], lines: list) -> list[bool]:
    """For each pair of neighbours along ``run`` (ordered along its axis): whether they nearly touch."""
    import numpy as np

    quads = [np.asarray(lines[i].quad, np.float64) for i in run]
    u = axes(max(quads, key=lambda q: axes(q)[1]))[0]
    out = []
    for a, b in itertools.pairwise(quads):
        (a0, a1), (b0, b1) = ((float(p.min()), float(p.max())) for p in (a @ u, b @ u))
        out.append(max(b0 - a1, a0 - b1) < TOUCHING_GAP * _height_across(a, b, u))
    return out


def _height_across(a, b, u) -> float:
    """The mean height of two quads across the axis ``u``."""
    import numpy as np

    across = np.array([-u[1], u[0]])
    return float(np.mean([np.ptp(q @ across) for q in (a, b)]))


def _mark(cats: list, run: list[int], category: str, texts: list) -> None:
    """Mark the run's fragments with ``category``; a read-out (``phi.read_out``) stays harmless when
    another fragment is identifying alone: it is a field of its own beside that one. On an ultrasound of
    ../shared's real-world set "TIB 0.2" stands a word space from the time "2:56:22 PM" and was filled
    with it; a run that only its join makes identifying ("12 03" "1970") is still marked whole."""
    from deident.text import phi

    beside = any(cats[i] is not None for i in run)
    for i in run:
        if cats[i] is None and not (beside and phi.read_out(texts[i].text)):
            cats[i] = category


def _runs(lines: list, square: float = SQUARE) -> list[list[int]]:
    """Indices of lines grouped into runs of neighbouring fragments on one baseline (2 or more each);
    ``square`` as in ``same_line``."""
    import numpy as np

    n = len(lines)
    if n < 2:
        return []
    quads = np.stack([np.asarray(ln.quad, np.float64) for ln in lines])
    lo, hi = quads.min(axis=1), quads.max(axis=1)
    reach = RUN_GAP * np.array([max(1.0, ln.height) for ln in lines])[:, None]
    lo, hi = lo - reach, hi + reach
    near = np.all((lo[:, None, :] <= hi[None, :, :]) & (lo[None, :, :] <= hi[:, None, :]), axis=2)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(near, 1)), strict=True):
        if root(int(i)) != root(int(j)) and same_line(quads[i], quads[j], square):
            parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    runs = [g for g in groups.values() if len(g) > 1]
    return [_along(g, quads) for g in runs]


def _along(run: list[int], quads) -> list[int]:
    """``run`` ordered along the axis of its most elongated fragment."""
    ref = max(run, key=lambda i: (axes(quads[i])[1], -i))
    u = axes(quads[ref])[0]
    return sorted(run, key=lambda i: (float(quads[i].mean(axis=0) @ u), i))


def _union_quad(quads: list):
    """One quad around all ``quads``, on the axes (and corner order) of the most elongated of them."""
    import numpy as np

    ref = np.asarray(max(quads, key=lambda q: axes(q)[1]), np.float64)
    a = (ref[1] - ref[0]) + (ref[2] - ref[3])
    a /= max(float(np.linalg.norm(a)), 1e-6)
    b = (ref[3] - ref[0]) + (ref[2] - ref[1])
    b -= (b @ a) * a
    b /= max(float(np.linalg.norm(b)), 1e-6)
    pts = np.concatenate([np.asarray(q, np.float64) for q in quads])
    (a0, a1), (b0, b1) = ((float(p.min()), float(p.max())) for p in (pts @ a, pts @ b))
    corners = [(a0, b0), (a1, b0), (a1, b1), (a0, b1)]
    return np.array([s * a + t * b for s, t in corners], np.float32)


# A "line" taller than this must also be read as text (``evidence.reads_confidently``), or show the strokes
# of printed text, to count. Dense tissue (nuclei on a stained section) or a textured object can look like
# one huge word to the detector, above all once a label beside it is filled. Hangul reads poorly (0.24 and
# 0.60) but has the strokes ``detect.has_strokes`` measures. Such a quad can also swallow small labels lying
# on the texture, so what does not count is searched again at full resolution and the lines inside it are
# kept when they read as text themselves.
TALL_LINE_PX = 64


def _a_glyph_at_least(read) -> bool:
    """Whether a very tall line's reading is worth its core's: it reads as a glyph, not yet as text.
    "AP" at 96 px turned 270 degrees on a textsynth label photo reads "A" (0.93) whole and "AP" (1.00)
    by its core; texture seldom reads as a glyph at all, so its lines cost no second read."""
    return reads_as_a_glyph(read) and not reads_confidently(read)


def _resolve_tall(
    eng, bgr, lines: list, depth: int = 0, faint: bool = True, photographic: bool = True
) -> list:
    from deident.text import detect

    tall = [ln for ln in lines if ln.height > TALL_LINE_PX]
    if not tall:
        return lines
    out = [ln for ln in lines if ln.height <= TALL_LINE_PX]
    for ln, read in zip(tall, _read(eng, bgr, tall, _a_glyph_at_least), strict=True):
        if _shows_text(bgr, ln.quad, read) if photographic else _printed(bgr, ln, read):
            out.append(ln)
        elif depth == 0:
            out += _read_inside(eng, bgr, ln, faint, photographic)
    return detect.drop_contained(out)


def _printed(bgr, line, read) -> bool:
    """What a very tall line must show on a frame that is no photograph (a radiograph, an MR slice, a
    rendering): what it must show on a photograph, within MAX_LINE_SHARE of the frame's short side. The
    small frames that may hold taller lines (``detect.MAX_LINE_PX``) are photographs of a label; an MR
    phantom filling its 162-px frame (heudiconv's Enhanced MR test file) read "0" at 0.99, showed the
    strokes of a thick ring, and was filled whole."""
    from deident.text import detect

    within = line.height <= detect.MAX_LINE_SHARE * min(bgr.shape[:2])
    return within and _shows_text(bgr, line.quad, read)


# A "line" this close to square holds a glyph or two at most, and counts as text only when it reads as one
# (one letter or digit at INSIDE_MIN_SCORE): a petrol company's logo on a sign photo of ../shared's
# real-world set ("T" at 0.36) and a ward's emblem beside a Japanese sign line ("e" at 0.21) were filled as
# text; a taxi's fleet number "72" reads at 0.83.
GLYPH_ASPECT = 1.5
# On a photograph, a "line" less elongated than this holds three glyphs at most, and counts only when it
# reads as a letter or digit at all or shows strokes (``_short_text``; a near-square one, ``_a_glyph``):
# the flag pins on the lapels of face_recognition's portraits (1.6-2.3x) read "M" 0.28-0.36, "盟" 0.36,
# "一" 0.15, "S" 0.18 and were filled black; an airframe's "SX336" (1.9x) on Pillow's exif_gps_typeerror.jpg
# reads at 1.00. Not on other frames, where faint markers read poorly: pydicom-data's echo's "A" and the
# "Portable" of presidio's radiograph (seen over the full stored range, "git" at 0.46) must stay lines.
SHORT_ASPECT = 2.5
# ...and only where the detector found it weakly: the pins scored 0.43-0.51, while an upside-down, embossed
# "EMPTY" cut by the frame's edge on ../shared's parts-label photo (0.78) reads "k1e" at 0.30 with no
# strokes, and was left in ``--text all`` when every short line had to read. A weak line longer than
# SHORT_ASPECT must give the same evidence: the three cuff buttons of face_recognition's obama.jpg (0.54,
# 3.4x) read "OO0" at 0.28 and were filled black, and a check of the output then read the shirt cuff
# beside the fill as "V". Of the weak long lines on 58 real photos and 39 of bench_recall's label photos,
# the 5 that were text read at 0.85-1.00; the 7 that did not (buttons, a rocket's gantry, sky at a frame's
# top edge, a retina's rim, buildings) read at most "C600" at 0.56, none with strokes; bench_recall's
# whole set leaks nothing with the rule (0 of 485, and the same 25 lines turned grey). bench_text's 12 MP
# label did: its weak 14-px line reads a word, which ``_short_text`` now counts (``reads_as_a_word``).
SHORT_WEAK = 0.6


def _glyphs_read(eng, bgr, lines: list, photographic: bool) -> list:
    """``lines`` without the near-square ones, and on a ``photographic`` frame the weak ones, that do
    not read as a letter or digit (logos, emblems, pins, buttons)."""
    from deident.text import engine

    short = [ln for ln in lines if _doubtful(ln, photographic)]
    if not short:
        return lines
    reads = engine.recognise(eng, bgr, [ln.quad for ln in short])
    unread = {
        id(ln)
        for ln, r in zip(short, reads, strict=True)
        if not (
            _a_glyph(bgr, ln.quad, r) if axes(ln.quad)[1] < GLYPH_ASPECT else _short_text(bgr, ln.quad, r)
        )
    }
    return [ln for ln in lines if id(ln) not in unread]


def _doubtful(line, photographic: bool) -> bool:
    """Whether ``line`` must read as text to count: a near-square one, and on a ``photographic`` frame one
    the detector itself found weakly (under SHORT_WEAK). Not one read closer already, nor a tall one
    (``_resolve_tall``)."""
    if line.height > TALL_LINE_PX or line.read is not None:
        return False
    return axes(line.quad)[1] < GLYPH_ASPECT or (photographic and line.score < SHORT_WEAK)


def _short_text(bgr, quad, read) -> bool:
    """A weak or short line on a photograph is text when it reads as a letter or digit confidently
    (``TALL_LINE_MIN_SCORE``) or as a word at all (``reads_as_a_word``), or shows the strokes of print: a
    sign in a script the recogniser does not read has strokes (a two-glyph Devanagari word on ../shared's
    easyocr_example3.png reads "h" at 0.46, and without this was left in ``--text all``); a piece of a
    96-px e-mail address tilted 7 degrees on a textsynth label reads "C" at 0.84. The flag pins on lapels
    have neither, nor texture beside a fresh blur, which a check of the scrubbed portrait elsewhere took
    for text: a leather jerkin's rivet read "O" at 0.61 on face_recognition's Jon Snow, the pattern of a
    tie "8" at 0.59 on its Obama. Asked (at 0.5) only whether some glyph read, those texture lines refused
    the outputs. A line of text that reads no letter at 0.8 and shows no strokes reads a word: a 14-px
    label on a 12 MP photo, "sem-u-rht" at 0.59 (bench_text), left by the rule until ``reads_as_a_word``."""
    from deident.text import detect

    return reads_as(read, TALL_LINE_MIN_SCORE, 1) or reads_as_a_word(read) or detect.has_strokes(bgr, quad)


def _a_glyph(bgr, quad, read) -> bool:
    """A letter or digit read confidently (``TALL_LINE_MIN_SCORE``), not only a round one
    (``detect.ROUND``), or read at all (``reads_as_a_glyph``) with the strokes of print: the stars of a
    flag behind matplotlib's Grace Hopper read as "X1" at 0.69 and have none; the ring phantom of
    heudiconv's MR scout (01-anat-scout/0001.dcm) reads "O" at 0.83 over local contrast, has no strokes
    either, and was filled (15 % of the frame)."""
    from deident.text import detect

    return detect.not_round(read, lambda r: reads_as(r, TALL_LINE_MIN_SCORE, 1)) or (
        reads_as_a_glyph(read) and detect.has_strokes(bgr, quad)
    )


def _read_inside(eng, bgr, line, faint: bool = True, photographic: bool = True) -> list:
    """The lines inside rejected texture that read as text on their own (hair, fur and fabric do not)."""
    from deident.text import engine

    inside = _lines_inside(eng, bgr, line, faint, photographic)
    reads = engine.recognise(eng, bgr, [ln.quad for ln in inside])
    return [ln for ln, read in zip(inside, reads, strict=True) if reads_as_a_glyph(read)]


def _lines_inside(eng, bgr, line, faint: bool = True, photographic: bool = True) -> list:
    """The detector's lines within ``line``'s bounding box, looked at on their own (with the closer look
    at faint heat unless ``faint`` is off, as in verification), each very tall one kept only where it
    shows text (``_resolve_tall``, once more, no deeper).

    That rule is also the look's ``settle``, so that a blob of its second round cannot swallow a line of
    its first and then be dropped itself: on ultralytics' bus photo the white swoosh beside a fleet
    number is a tall line reading "2"; inside it, the number "10" was found, filled, and the second
    round's overview took the whole 188 x 201 crop for one line, which swallowed the "10" and read "2" at
    0.49. The scrub left the number; a check of its output (the face blurred, the second round finding
    nothing) found it and refused the file."""
    import numpy as np

    from deident.text import detect

    h, w = bgr.shape[:2]
    (x0, y0), (x1, y1) = line.quad.min(axis=0), line.quad.max(axis=0)
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(w, int(x1) + 1), min(h, int(y1) + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])

    def settled(found: list) -> list:
        return _resolve_tall(eng, crop, found, depth=1, faint=faint, photographic=photographic)

    shift = np.array([x0, y0], np.float32)
    found = detect.find_lines(eng, crop, faint=faint, settle=settled)
    return [detect.Line(ln.quad + shift, ln.score) for ln in found]
