"""Where text lines are: PP-OCR's DB detector over an overview and, on large frames, finer tiles.

One downscaled overview (long side 1280) finds large text whole; tiles of the frame at 0.6 scale find
14-px lines on multi-megapixel photos that the overview shrinks below what the detector sees. Quads
from all passes are kept (a line cut by a tile edge is covered piece by piece) except those almost
inside another. Each quad is grown along its own axes by a share of its height, so the redaction covers
anti-aliased ink and the halo a JPEG leaves around it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deident.formats.pixels import is_grey
from deident.text import engine as ocr
from deident.text.evidence import reads_as_a_glyph, reads_confidently
from deident.text.geometry import axes, same_line, side_axes

OVERVIEW_SIDE = 1280  # long side of the overview pass
TILE = 1536  # longest tile side (in fine-pass pixels)
TILE_SCALE = 0.6  # fine passes see the frame at this scale: 14-px text stays >= 8 px
OVERLAP = 160  # tiles overlap by more than a large label's height
TILE_ABOVE = 2400  # frames whose long side exceeds this are also tiled (overview scale < 0.53)
BOX_THRESH = 0.4  # DB mean score a box needs to count as text
GROW = 0.3  # each side grows by this share of the line height...
GROW_CAP = 4.0  # ...but by at most this many px plus GROW_CAP_SHARE of it: a halo does not scale with text
GROW_CAP_SHARE = 0.1
TO_BORDER = 1.0  # a line end this many heights or less from the frame's edge is covered to the edge...
BORDER_WIDEN = 0.35  # ...and, when tilted, widened by this share of its height on each side
BORDER_TILT = 10.0  # degrees off the frame's axes from which a cut line counts as tilted
BORDER_MAX_HEIGHT = 80  # px (grown quad): taller "lines" stay as found (a blob must not grow to a frame)
CONTAINED = 0.85  # a quad this much inside another adds nothing
MIN_BOX_AREA = 100  # px: smaller flat patches are left alone
FILL_NOISE = 4  # grey levels: black this close to 0 is a fill's black after lossy coding
SOLID = 0.97  # area / convex hull area of a patch that is a filled box rather than a background
# The second pass costs one more overview on a text photo (0.9 of 7.0 CPU-s on ../shared's 7 text photos,
# no region of their own there), but found 25 of bench_recall's 543 colour regions alone: without it one
# line leaked there and an echo's orientation letter was left (docs/benchmarks.md, "per-look cost").
ROUNDS = 2  # detector passes at most: the first, then after filling what was found
MAX_LINE_SHARE = 0.35  # a "line" taller than this share of the frame's short side is texture, not text
MAX_LINE_PX = 200  # ...but a line up to this height always counts (small frames, e.g. a cropped label)
FLAT = 8  # grey levels: a quad whose core spans fewer (2nd-98th percentile) holds no ink
REFINE_BELOW = 48  # px: lines thinner than this, found on a downscaled frame, are looked at again...
REFINE_HEIGHT = 28  # ...in a strip along the line, scaled so the text stands this many px high
REFINE_TALLER = 2.0  # a line found in such a strip more than this many times the looked-at line's height...
MAX_REFINE = 64  # strips per frame at most (dense documents are found whole by the overview anyway)
NEAR = 4.0  # a second round looks this many line heights around each line the first found...
NEAR_MIN = 64  # ...and at least this many px (the detector needs room around the ink)...
NEAR_SHARE = 0.5  # ...unless those windows cover more than this share of the frame: then all of it
GRID = 32  # px: windows on the detector's own grid, so it sees their pixels as it saw the whole frame's
FAINT = 0.05  # text probability of the overview's faint heat: text too small or soft for a box...
FAINT_PEAK = 0.08  # ...a cluster of it peaking this high, and thinner than REFINE_BELOW, is looked at
MAX_FAINT = 16  # closer as a small line is (``_refine``), the strongest this many clusters per frame


@dataclass(frozen=True)
class Line:
    quad: np.ndarray  # 4x2 float, frame coordinates, clockwise from top-left of the text
    score: float
    read: ocr.Recognised | None = None  # its reading where a closer look read it (``near_faces``)

    @property
    def height(self) -> float:
        q = self.quad
        return float(min(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[0] - q[1])))


def _resize(img: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(32, round(w * scale)), max(32, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _windows(length: int) -> list[tuple[int, int]]:
    """(start, size) of the fewest equal tiles no longer than TILE that overlap by OVERLAP."""
    if length <= TILE:
        return [(0, length)]
    n = -(-(length - OVERLAP) // (TILE - OVERLAP))
    size = -(-(length + (n - 1) * OVERLAP) // n)
    return [(round(i * (length - size) / (n - 1)), size) for i in range(n)]


def neutralise_boxes(bgr: np.ndarray, plain: bool = False) -> np.ndarray:
    """Repaint solid one-colour convex patches (filled redactions) with the colour around them: inpainted,
    or with ``plain``, flat in the median colour of a plain ground around them (``_repainted``).

    Verification re-runs the detector on the redacted frame, and DB segmentation reads a black box on a
    busy background as one big word. A patch of a single exact colour with no holes holds no ink by
    construction, so inpainting it from its surroundings changes nothing that could be text; text on a
    flat background is untouched because its letters are holes in the flat patch. Black counts as one
    colour up to ``FILL_NOISE`` levels: a fill written in a lossy format (AVIF, HEIC) decodes with a few
    pixels at 1 or 2, which made holes in its patch, and a ``check`` of the output read the bar's end as
    a glyph.
    """
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    grown = cv2.dilate(bgr, kernel)
    flat = _every_channel(grown == cv2.erode(bgr, kernel)) | _every_channel(grown <= FILL_NOISE)
    flat = flat.astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
    out = None
    for i in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_BOX_AREA) + 1:
        x, y, w, h, area = (int(v) for v in stats[i])
        comp = (labels[y : y + h, x : x + w] == i).astype(np.uint8)
        contours, hierarchy = cv2.findContours(comp, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None or (hierarchy[0][:, 3] >= 0).any():
            continue  # holes: something (letters) sits inside this patch, so it is a background
        hull = cv2.contourArea(cv2.convexHull(np.concatenate(contours)))
        if hull <= 0 or area / hull < SOLID:
            continue
        y0, x0 = max(0, y - 3), max(0, x - 3)
        sub = bgr[y0 : y + h + 3, x0 : x + w + 3]
        mask = np.zeros(sub.shape[:2], np.uint8)
        mask[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = comp
        mask = cv2.dilate(mask, kernel, iterations=2)  # the erosion above shaved one pixel off
        if out is None:
            out = bgr.copy()
        view = out[y0 : y + h + 3, x0 : x + w + 3]
        view[:] = _repainted(np.ascontiguousarray(view), mask, plain)
    return bgr if out is None else out


def _every_channel(mask: np.ndarray) -> np.ndarray:
    """``mask.all(axis=2)`` for an HxWxC mask, one plane at a time: numpy reduces a 3-long last axis
    element by element (8.4 against 0.7 ms on a 420x629 photo, where it was a quarter of
    ``neutralise_boxes``)."""
    out = mask[..., 0].copy()
    for c in range(1, mask.shape[2]):
        out &= mask[..., c]
    return out


PLAIN_LEVELS = 16  # a ring with PLAIN_SHARE of its pixels within this many levels of its median colour...
PLAIN_SHARE = 0.5  # ...is a plain ground (a label round a fill, with a logo's wing tips beside it)


def _repainted(view: np.ndarray, mask: np.ndarray, plain: bool) -> np.ndarray:
    """``view`` with ``mask`` painted over from the pixels right around it: inpainted, or with ``plain``
    and a plain ground around it, flat in the ground's median colour.

    Verification asks for ``plain``: inpainting drew a logo's wing tips just under a label's fill up into
    it as a grey band like blurred print (easyocr_Photo-8.jpg of ../shared's real-world set, with JPEG
    fills that followed their polygons inside blocks, a variant tried and not kept: the detector took the
    band and the logo for one line across the label, and 11.6 % of the frame was filled again). On a
    textured ground a flat patch is a box the detector reads as a word, so there, and in the detection
    pass's own second round (whose flat patches on synthetic labels' tissue and photos came back as
    234x288 px "lines"), the patch is inpainted."""
    import cv2

    if plain:
        ring = cv2.dilate(mask, np.ones((3, 3), np.uint8)) > mask
        around = view[ring].astype(np.int16)
        ground = np.median(around, axis=0) if around.size else None
        if ground is not None and (np.abs(around - ground).max(axis=1) <= PLAIN_LEVELS).mean() >= PLAIN_SHARE:
            out = view.copy()
            out[mask > 0] = ground.astype(view.dtype)
            return out
    return cv2.inpaint(view, mask, 3, cv2.INPAINT_TELEA)


def _overview(engine, bgr: np.ndarray, box_thresh: float, windows=None) -> list[Line]:
    """The whole frame at the overview scale, or only ``windows`` of it (a second round's screen)."""
    return _overview_heat(engine, bgr, box_thresh, windows)[0]


def _overview_heat(
    engine, bgr: np.ndarray, box_thresh: float, windows=None
) -> tuple[list[Line], np.ndarray | None]:
    """``_overview``'s lines, and the detector's text probability map over its last window (the whole
    frame when no ``windows`` are given), at the detector's own resolution."""
    h, w = bgr.shape[:2]
    scale = min(1.0, OVERVIEW_SIDE / max(h, w))
    if min(h, w) * scale < 64:  # tiny frames: the detector needs room around the ink
        scale = 64 / min(h, w)
    found: list[Line] = []
    heat = None
    for x0, y0, x1, y1 in windows or [(0, 0, w, h)]:
        quads, scores, pred = ocr.detect_heat(engine, _resize(bgr[y0:y1, x0:x1], scale), box_thresh)
        shift = np.array([x0, y0], np.float32)
        found += [Line(q / scale + shift, float(s)) for q, s in zip(quads, scores, strict=True)]
        heat = pred if pred is not None else heat
    return _plausible(bgr, found), heat


# Large text turned 90 degrees: the detector sees a column of big turned glyphs as scattered blobs, and
# found a 96-px date turned 90 degrees on a textsynth radiograph only as two 14-px slivers, an e-mail
# turned 270 degrees without its first letters. On the frame turned upright and shrunk to TURNED_SCALE
# (at most TURNED_SIDE px long) it finds such lines whole, for about a seventh of the overview's cost (0.32
# against 2.17 CPU-s on ../shared's 7 real-world text photos); text under about 30 px is found turned by
# the overview itself. What it alone finds must read as text
# confidently (``reads_confidently``): stacked words seen turned are no line.
TURNED_SCALE = 0.4
TURNED_SIDE = 1024
TURNED_ASPECT = 2.0  # a line across the turned frame, at least this elongated


def _turned(engine, bgr: np.ndarray, box_thresh: float) -> list[Line]:
    """Lines running up or down the frame, found on the frame turned a quarter upright."""
    h, w = bgr.shape[:2]
    scale = min(TURNED_SCALE, TURNED_SIDE / max(h, w))
    if min(h, w) * scale < 64:
        return []
    quads, scores, _ = ocr.detect_heat(engine, _resize(np.rot90(bgr), scale), box_thresh)
    across = [
        (clockwise(np.stack([w - q[:, 1], q[:, 0]], axis=1)), float(sc))  # back: turned (x, y) -> (w - y, x)
        for q, sc in zip(quads / scale, scores, strict=True)
        if np.ptp(q[:, 0]) >= TURNED_ASPECT * np.ptp(q[:, 1])
    ]
    lines = _plausible(bgr, [Line(q, sc) for q, sc in across])
    reads = ocr.recognise(engine, bgr, [ln.quad for ln in lines]) if lines else []
    return [
        Line(ln.quad, ln.score, read)
        for ln, read in zip(lines, reads, strict=True)
        if reads_confidently(read)
    ]


def _fine(engine, bgr: np.ndarray, box_thresh: float, near: list[Line] | None) -> list[Line]:
    """Large frames: the fine tiles, or only those touching ``near``; small frames have none."""
    h, w = bgr.shape[:2]
    if max(h, w) <= TILE_ABOVE:
        return []
    found: list[Line] = []
    fine = _resize(bgr, TILE_SCALE)
    for (y, th), (x, tw) in _tiles(*fine.shape[:2]):
        if near is not None and not _touches(
            near, x / TILE_SCALE, y / TILE_SCALE, tw / TILE_SCALE, th / TILE_SCALE
        ):
            continue
        quads, scores = ocr.detect_boxes(engine, fine[y : y + th, x : x + tw], box_thresh)
        shift = np.array([x, y], np.float32)
        found += [Line((q + shift) / TILE_SCALE, float(s)) for q, s in zip(quads, scores, strict=True)]
    return _plausible(bgr, found)


def _plausible(bgr: np.ndarray, found: list[Line]) -> list[Line]:
    """Lines no taller than a line can be, over some ink."""
    tallest = max(MAX_LINE_PX, MAX_LINE_SHARE * min(bgr.shape[:2]))
    return [ln for ln in found if ln.height <= tallest and has_ink(bgr, ln.quad)]


def _near_windows(lines: list[Line], h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Where a second round first looks (a screen): around each line the first found, ``NEAR`` of its
    heights (at least ``NEAR_MIN`` px) on every side, snapped to the ``GRID``; or the whole frame when
    those windows would cover most of it. Only when the screen finds something is the whole frame looked
    at again: the windows alone found blobs on textured backgrounds that the whole frame did not, and a
    blob can swallow a real line (tests/test_text.py's synthetic set).

    What the second round adds lies next to a fresh fill: on ../shared's real-world set it found 2 lines,
    1.3 and 1.5 heights from one the first round found. Looking at the whole frame again doubled the
    detector's work on every cine frame whose moving image holds one blob read as text.
    """
    from deident.frames_cache import merged

    boxes = []
    for ln in lines:
        m = max(NEAR_MIN, NEAR * ln.height)
        (x0, y0), (x1, y1) = ln.quad.min(axis=0), ln.quad.max(axis=0)
        x0, y0, x1, y1 = (int(v // GRID * GRID) for v in (x0 - m, y0 - m, x1 + m + GRID, y1 + m + GRID))
        boxes.append((max(0, x0), max(0, y0), min(w, x1), min(h, y1)))
    boxes = merged(boxes)
    if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes) > NEAR_SHARE * h * w:
        return [(0, 0, w, h)]
    return boxes


def _touches(lines: list[Line], x: float, y: float, w: float, h: float) -> bool:
    for ln in lines:
        (x0, y0), (x1, y1) = ln.quad.min(axis=0), ln.quad.max(axis=0)
        if x0 < x + w and x1 > x and y0 < y + h and y1 > y:
            return True
    return False


def _tiles(h: int, w: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    return [(ys, xs) for ys in _windows(h) for xs in _windows(w)]


def find_lines(
    engine,
    bgr: np.ndarray,
    box_thresh: float = BOX_THRESH,
    faint: bool = True,
    work: np.ndarray | None = None,
    plain: bool = False,
    settle: Callable[[list[Line]], list[Line]] | None = None,
    enough: bool = False,
    faces: Callable[[], list[tuple[float, float, float, float]]] | None = None,
) -> list[Line]:
    """Every text line the detector finds in ``bgr`` (HxWx3 uint8), in frame coordinates; with ``faint``,
    also those its heat only hints at (``_faint``). ``work``: ``neutralise_boxes(bgr, plain)``, if the
    caller has it already; ``plain``: how fills are repainted (``_repainted``).

    After a pass, the lines found are filled the way a redaction would fill them and the detector looks
    again (overview, and the tiles those lines touch): the parts of a line it first read as texture,
    and whatever the pipeline's verification pass would find next to a fresh box, are found here.
    ``settle``: what the caller keeps of the first pass's lines (``TextDetector.look``: a very tall or
    near-square "line" must read as text). The second round looks around those only, and not at all when
    none is kept: on ../shared's real-world set, blobs the caller then dropped made the whole overview
    run again on three photos with no text (a portrait's face and hair, a giraffe), which found
    only two rivets on a leather jerkin. What it drops is filled all the same, or the second round finds
    it again as a slightly different quad that reads otherwise (an ultrasound's marker triangle, read as
    a glyph there). ``enough``: a first pass that keeps a line is the answer (a check's gate needs one
    line to refuse a file): no closer look at faint heat, no second round.
    """
    import cv2

    work = neutralise_boxes(bgr, plain) if work is None else work
    lines, heat = _overview_heat(engine, work, box_thresh)
    lines = drop_contained(lines + _fine(engine, work, box_thresh, None) + _turned(engine, work, box_thresh))
    if max(bgr.shape[:2]) > OVERVIEW_SIDE:
        lines = drop_contained(lines + _refine(engine, work, lines, box_thresh))
    elif is_grey(bgr):
        lines = drop_contained(lines + _beyond_ends(engine, work, lines, box_thresh))
    if enough and settle is not None and (kept := settle(lines)):
        return kept
    if faint:
        lines = drop_contained(lines + _faint(engine, work, lines, heat, box_thresh))
    first, seen = lines, work
    if settle is not None:
        lines = settle(lines)
    new = lines
    for _ in range(ROUNDS - 1):
        if not new:
            break
        filled = work.copy()
        for ln in first + lines:
            cv2.fillPoly(filled, [np.round(grown(ln.quad)).astype(np.int32)], (0, 0, 0))
        work = neutralise_boxes(filled, plain)
        h, w = work.shape[:2]
        windows = _near_windows(new, h, w)
        tiles = _fine(engine, work, box_thresh, new)
        found = _overview(engine, work, box_thresh, windows) + tiles
        if found and windows != [(0, 0, w, h)]:  # the screen found something: the whole overview too
            found = _overview(engine, work, box_thresh) + tiles
        if settle is not None:
            # A second round's blob of fresh fills and the texture between them (a textsynth label on
            # tissue: two lines filled 30 px apart) swallowed a kept 14-px name, then was dropped itself.
            found = settle(found)
        lines = drop_contained(lines + found)
        new = [ln for ln in found if any(ln is k for k in lines)]
    if faint and faces is not None:
        lines = drop_contained(lines + near_faces(engine, seen, lines, heat, faces, box_thresh))
    return lines


# Badges, name tags, wristbands: small print on the body around a face. The overview sees 6-8 px text
# there as faint heat only (scikit-image's astronaut, 512x512: the crew names on a mission patch peak at
# 0.068, under FAINT_PEAK). Around each face big enough for such print to be legible, in BODY_ACROSS face
# widths either side of its centre and BODY_BELOW face heights below it, each cluster of heat peaking at
# BODY_PEAK or more is looked at again, enlarged so that print of BADGE_TEXT of the face's height stands
# BADGE_HEIGHT px high (at most BODY_SCALE times), and what is found there must read as text confidently
# (``reads_confidently``) on the enlarged pixels, as the faint look asks. Where it does, the window is
# looked at once more at BADGE_AGAIN times that scale: the patch's curved 7-px names are found whole at
# one scale or another, a pixel's shift of the window apart (all five names in 6-12 of 18 windows shifted
# by up to 4 px at one scale from 5x to 6.5x, 0-2 at 3.5x-4x; in 16-18 with two).
BODY_ACROSS = 2.5
BODY_BELOW = 3.5
BODY_PEAK = 0.03
BODY_LEVEL = 0.01  # heat level a cluster spans
BADGE_TEXT = 0.065
BADGE_HEIGHT = 40  # px: the height the detector finds such print at best (the patch: 5.5x)
BADGE_AGAIN = 1.18
BODY_MIN_FACE = 64  # px: a smaller face's badge print is under 4 px, legible to no one
BODY_SCALE = 6.0
BODY_MIN_SCALE = 2.0  # a face so large that less would do: its badges are found by the normal look
BODY_PAD = 0.25  # face heights round a cluster's box (all five names in 18 of 18 shifted windows; 0.3: 16)
MAX_BODY = 4  # windows per frame at most, the strongest clusters first


def near_faces(
    engine,
    bgr: np.ndarray,
    lines: list[Line],
    heat: np.ndarray | None,
    faces: Callable[[], list[tuple[float, float, float, float]]],
    box_thresh: float,
) -> list[Line]:
    """Small lines on the body around each face (see BODY_ACROSS), read on the enlarged window where
    they were found; none when no heat hints at text anywhere (the faces are then not even asked for)."""
    import cv2

    from deident.frames_cache import merged

    hot = None if heat is None else heat >= BODY_PEAK
    if hot is None or not hot.any():
        return []
    shapes = [(fx0, fy0, fx1, fy1) for fx0, fy0, fx1, fy1 in faces() if fy1 - fy0 >= BODY_MIN_FACE]
    if not shapes:
        return []
    h, w = bgr.shape[:2]
    sx, sy = w / heat.shape[1], h / heat.shape[0]
    near = cv2.dilate((heat > BODY_LEVEL).astype(np.uint8), np.ones((3, 7), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
    clusters = []
    for i in np.unique(labels[hot]):
        x, y, cw, ch = (int(v) for v in stats[i, :4])
        peak = float(heat[y : y + ch, x : x + cw][labels[y : y + ch, x : x + cw] == i].max())
        x, y, cw, ch = x * sx, y * sy, cw * sx, ch * sy
        if ch < REFINE_BELOW and not _touches(lines, x, y, cw, ch):
            clusters.append((peak, x, y, x + cw, y + ch))
    # Each cluster goes with the face it is nearest to, below it. A window (clusters padded, merged) is
    # looked at when one of its clusters' own boxes reads as a letter or digit (``reads_as_a_glyph``; one
    # reading for all): on ../shared's real-world set no cluster on a group photo's shirts does (0.22-0.41),
    # the patch's first line reads "COLLINS ASMBY" at 0.95.
    claimed: dict[int, list[tuple]] = {}
    for c in clusters:
        _, x0, y0, x1, y1 = c
        best = None
        for k, (fx0, fy0, fx1, fy1) in enumerate(shapes):
            fw, fh, cx = fx1 - fx0, fy1 - fy0, (fx0 + fx1) / 2
            if (
                x0 < cx + BODY_ACROSS * fw
                and x1 > cx - BODY_ACROSS * fw
                and y0 < fy1 + BODY_BELOW * fh
                and y1 > fy1
            ):
                far = math.hypot((x0 + x1) / 2 - cx, (y0 + y1) / 2 - fy1) / fh
                best = (far, k) if best is None or far < best[0] else best
        if best is not None:
            claimed.setdefault(best[1], []).append(c)
    if not claimed:
        return []
    boxes = [
        np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        for cs in claimed.values()
        for _, x0, y0, x1, y1 in cs
    ]
    hints = iter(ocr.recognise(engine, bgr, boxes))
    windows: list[tuple[float, tuple[int, int, int, int], float]] = []
    for k, cs in claimed.items():
        fh = shapes[k][3] - shapes[k][1]
        scale = min(BODY_SCALE, BADGE_HEIGHT / (BADGE_TEXT * fh))
        pad = BODY_PAD * fh
        read = [c for c in cs if not_round(next(hints), reads_as_a_glyph)]
        if scale < BODY_MIN_SCALE or not read:
            continue
        boxes = [
            (int(max(0, x0 - pad)), int(max(0, y0 - pad)), int(min(w, x1 + pad)), int(min(h, y1 + pad)))
            for _, x0, y0, x1, y1 in cs
        ]
        for box in merged(boxes):  # a window with a cluster that reads, its neighbours with it
            x0, y0, x1, y1 = box
            inside = [c[0] for c in read if c[1] < x1 and c[3] > x0 and c[2] < y1 and c[4] > y0]
            if inside:
                windows.append((max(inside), box, scale))
    found: list[Line] = []
    for _, box, scale in sorted(windows, key=lambda t: -t[0])[:MAX_BODY]:
        read = _read_closer(engine, bgr, box, scale, box_thresh)
        if read:
            found += read + _read_closer(engine, bgr, box, scale * BADGE_AGAIN, box_thresh)
    return [ln for ln in drop_contained(found) if has_ink(bgr, ln.quad)]


def _read_closer(engine, bgr: np.ndarray, box: tuple[int, int, int, int], scale: float, box_thresh: float):
    """The lines the detector finds in ``box`` of the frame enlarged ``scale`` times that read as text
    confidently there, in frame coordinates, each with its reading."""
    x0, y0, x1, y1 = box
    big = _resize(np.ascontiguousarray(bgr[y0:y1, x0:x1]), scale)
    quads, scores = ocr.detect_boxes(engine, big, box_thresh)
    reads = ocr.recognise(engine, big, list(quads))
    shift = np.array([x0, y0], np.float32)
    return [
        Line(q / scale + shift, float(s), read)
        for q, s, read in zip(quads, scores, reads, strict=True)
        if not_round(read, reads_confidently)
    ]


# Glyphs a row of buttons, rivets or eyelets reads as: a reading of these alone is no evidence of text
# (the coat of scikit-image's cameraman read "C000" at 0.81 as a cluster of heat, and at 0.82 enlarged 6x).
ROUND = set("0OoCcQ")


def not_round(read, evidence) -> bool:
    """``evidence(read)``, from a reading with some glyph other than the ROUND ones."""
    return evidence(read) and not set(read.text.replace(" ", "")) <= ROUND


def _faint(
    engine, bgr: np.ndarray, lines: list[Line], heat: np.ndarray | None, box_thresh: float
) -> list[Line]:
    """Lines too small or soft for the overview, looked at closer where its heat hints at them.

    The detector sees 10-px text poorly at 1x: a taxi's blurred phone number 14 px high in a 928x478
    street photo of ../shared's real-world set left only specks of heat (0.05-0.11) in a row, and the
    whole frame at 2.5x (3.5 CPU-s instead of 0.5) was needed to find it. Each cluster of faint heat that
    no line covers is looked at in a window scaled by its own height (the text's, not the frame's), and
    what is found there must read as text, two letters or digits confidently: hair, fur and buttons give
    heat too, and a logo's crisp strokes are no line (a car maker's "B" on a label read at 1.00), nor a
    reading of round glyphs alone (``ROUND``): the coat buttons of scikit-image's cameraman, their face
    blurred, read "0000" at 0.90 here, and a check of the scrubbed photo refused it.
    """
    import cv2

    h, w = bgr.shape[:2]
    if heat is None:
        return []
    sx, sy = w / heat.shape[1], h / heat.shape[0]  # frame px per heat px
    near = cv2.dilate((heat > FAINT).astype(np.uint8), np.ones((3, 7), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
    peaks = np.zeros(n, np.float32)
    np.maximum.at(peaks, labels.ravel(), heat.ravel())
    clusters = []
    for i in np.flatnonzero(peaks[1:] >= FAINT_PEAK) + 1:  # label 0 is the background
        x, y, cw, ch = stats[i, 0] * sx, stats[i, 1] * sy, stats[i, 2] * sx, stats[i, 3] * sy
        box = np.array([[x, y], [x + cw, y], [x + cw, y + ch], [x, y + ch]], np.float32)
        if not _touches(lines, x, y, cw, ch):
            clusters.append(Line(box, float(peaks[i])))

    found = drop_contained(_refine(engine, bgr, _hinting(engine, bgr, clusters), box_thresh, MAX_FAINT))
    if not found:
        return []
    reads = ocr.recognise(engine, bgr, [ln.quad for ln in found])
    return [ln for ln, read in zip(found, reads, strict=True) if not_round(read, reads_confidently)]


def _hinting(engine, bgr: np.ndarray, clusters: list[Line]) -> list[Line]:
    """The clusters ``_refine`` would look at whose own box, grown by its height, reads as a letter or
    digit: one batched reading instead of a detector pass over an enlarged strip for each. On ../shared's
    real-world set every cluster that led to a line reads so (at 0.63-1.00: "653-050" for the taxi's
    phone number, "600 kg", "Tara"), and 21 of the 24 on face photos do not (hair, ears, collars, at
    0.00-0.45); their strips took a third of the text stage on such a photo."""
    small = [c for c in clusters if c.height < REFINE_BELOW]
    grown = []
    for c in small:
        t = max(2.0, c.height)
        grown.append(c.quad + np.array([[-2 * t, -t], [2 * t, -t], [2 * t, t], [-2 * t, t]], np.float32))
    reads = ocr.recognise(engine, bgr, grown) if grown else []
    return [c for c, read in zip(small, reads, strict=True) if reads_as_a_glyph(read)]


def _refine(
    engine, bgr: np.ndarray, lines: list[Line], box_thresh: float, most: int = MAX_REFINE
) -> list[Line]:
    """Small lines again, at full resolution, in a strip along each one's own axis.

    Thin strokes shrunk below two pixels by the overview or the 0.6-scale tiles are found only in part
    (the brightest glyphs); the rest of such a line lies along its axis, so a strip there sees it whole.
    What the strip shows taller than REFINE_TALLER times the line (and than REFINE_BELOW) is not that
    line: the overview sees lines so tall itself. On face_recognition's biden.jpg (970x2204) the strip
    around a 22-px flag pin on a lapel found the striped tie beside it as a 148-px "line" (read "N" at
    0.74, with the stripes' strokes), and a 280x182 px black box covered tie and shirt.
    """
    h, w = bgr.shape[:2]
    found: list[Line] = []
    small = sorted((ln for ln in lines if ln.height < REFINE_BELOW), key=lambda ln: -ln.score)
    for ln in small[:most]:
        (x0, y0), (x1, y1) = ln.quad.min(axis=0), ln.quad.max(axis=0)
        t = max(2.0, ln.height)
        along, across = 12 * t + 32, 2 * t + 16
        px, py = (along, across) if x1 - x0 >= y1 - y0 else (across, along)
        cx0, cy0 = int(max(0, x0 - px)), int(max(0, y0 - py))
        cx1, cy1 = int(min(w, x1 + px)), int(min(h, y1 + py))
        scale = min(3.0, max(1.0, REFINE_HEIGHT / t))
        quads, scores = ocr.detect_boxes(engine, _resize(bgr[cy0:cy1, cx0:cx1], scale), box_thresh)
        shift = np.array([cx0, cy0], np.float32)
        tallest = max(REFINE_BELOW, REFINE_TALLER * ln.height)
        seen = (Line(q / scale + shift, float(s)) for q, s in zip(quads, scores, strict=True))
        found += [f for f in seen if f.height <= tallest]
    return [ln for ln in found if has_ink(bgr, ln.quad)]


# On a grey frame (a radiograph, a grey micrograph) a small line seen at the frame's own scale can stop
# where its text goes on over a ground of about its own brightness, which in colour its hue sets apart:
# "DAVIDSON, Douglas" (14 px, dark grey) on a greyscale textsynth picture, "Douglas" over dark bark, heats
# 0.01 at scale 1 and 0.99 at 1.5, and was left legible beside the fill of "DAVIDSON,". From each small
# line's middle, a window ENDS_ALONG of its heights past each end is looked at ENDS_SCALE times larger,
# and what it finds counts only as the line's own continuation: on its baseline, of its height, reaching
# past its end (``geometry.same_line``). Whatever else such windows found on ../shared's real-world
# photos (texture, a sign's frame) filled up to 5 % of a frame. bench_recall.py's seven seeds turned grey:
# 28 -> 25 of 485 lines leaked (in colour 0 before and after); on colour photos the look cost 38 % of the
# text stage's CPU and found nothing, so only grey frames get it, their windows merged where they overlap
# (a grey printed page, 384x191 px: +0.5 CPU-s a window each, +0.1 merged).
ENDS_SCALE = 2.0
ENDS_ALONG = 8.0
ENDS_PAST = 0.5  # a continuation reaches past the line's end by at least this share of its height...
ENDS_HEIGHT = 0.3  # ...and its height is the line's within this share


def _beyond_ends(engine, bgr: np.ndarray, lines: list[Line], box_thresh: float) -> list[Line]:
    """The continuations of small lines past their ends, found enlarged (overlapping windows looked at
    once: a page's lines share theirs)."""
    from deident.frames_cache import merged

    h, w = bgr.shape[:2]
    small = sorted((ln for ln in lines if ln.height < REFINE_BELOW), key=lambda ln: -ln.score)[:MAX_REFINE]
    boxes = []
    for ln in small:
        (x0, y0), (x1, y1) = ln.quad.min(axis=0), ln.quad.max(axis=0)
        t = max(2.0, ln.height)
        reach, side = ENDS_ALONG * t, 2 * t + 16  # the detector needs room around the ink (``_refine``)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2  # from the line's middle: its own ink gives the context
        if x1 - x0 >= y1 - y0:
            windows = [(x0 - reach, y0 - side, cx, y1 + side), (cx, y0 - side, x1 + reach, y1 + side)]
        else:
            windows = [(x0 - side, y0 - reach, x1 + side, cy), (x0 - side, cy, x1 + side, y1 + reach)]
        boxes += [(int(max(0, a)), int(max(0, b)), int(min(w, c)), int(min(h, d))) for a, b, c, d in windows]
    pieces: list[Line] = []
    for cx0, cy0, cx1, cy1 in merged([b for b in boxes if b[2] - b[0] >= 4 and b[3] - b[1] >= 4]):
        quads, scores = ocr.detect_boxes(engine, _resize(bgr[cy0:cy1, cx0:cx1], ENDS_SCALE), box_thresh)
        shift = np.array([cx0, cy0], np.float32)
        pieces += [Line(q / ENDS_SCALE + shift, float(sc)) for q, sc in zip(quads, scores, strict=True)]
    spans = []  # each small line, its axis, and its extent along it
    for ln in small:
        u = axes(ln.quad)[0]
        spans.append((ln, u, float((ln.quad @ u).min()), float((ln.quad @ u).max())))
    found = []
    for piece in pieces:
        for ln, u, a0, a1 in spans:
            b0, b1 = float((piece.quad @ u).min()), float((piece.quad @ u).max())
            past = max(a0 - b0, b1 - a1) >= ENDS_PAST * max(2.0, ln.height)
            alike = abs(piece.height - ln.height) <= ENDS_HEIGHT * ln.height
            if past and alike and same_line(ln.quad, piece.quad) and has_ink(bgr, piece.quad):
                found.append(piece)
                break
    return found


def _upright(img: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """The quad's pixels warped to an upright rectangle (None when under 4 px either way)."""
    import cv2

    q = quad.astype(np.float32)
    w = int(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[3] - q[2])))
    h = int(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2])))
    if w < 4 or h < 4:
        return None
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return cv2.warpPerspective(img, cv2.getPerspectiveTransform(q, rect), (w, h), flags=cv2.INTER_NEAREST)


def _upright_grey(img: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """``_upright`` in grey levels (None when under 4 px either way)."""
    import cv2

    patch = _upright(img, quad)
    if patch is None or patch.ndim == 2:
        return patch
    return cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)


def has_ink(img: np.ndarray, quad: np.ndarray) -> bool:
    """False for a quad whose core is one flat colour: a filled redaction box the detector took for text.

    Verification re-runs the detector on the redacted frame, and DB segmentation reads a solid box on a
    busy background as one big word. Real text, even 14 px high, always leaves strokes in the core.
    """
    patch = _upright(img, quad)
    if patch is None:
        return True
    h, w = patch.shape[:2]
    trim = max(1, int(0.3 * min(w, h)))
    core = patch[trim : h - trim, trim : w - trim].reshape(-1, patch.shape[2] if patch.ndim == 3 else 1)
    if core.size == 0:
        return True
    lo, hi = np.percentile(core, [2, 98], axis=0)
    return bool(np.max(hi - lo) >= FLAT)


# Strokes: ink and background split by Otsu stand apart (class means this many summed class standard
# deviations apart), the ink (the smaller class) is a real share of the line, and it is thin: almost all of
# it lies within STROKE_HALF_WIDTH of the line's height from the background. Measured on the detector's tall
# "lines" (over 64 px) of ../shared's real-world set and tests/support/textsynth.py: printed signs and
# labels in Latin, Japanese and Hangul 2.8-5.7 with 24-37 % ink; hair, fur, fabric and blurred heads
# 1.2-2.4, a dark vest 3.5 with 14 % "ink"; a CT slice (pydicom's CT_small) is bimodal but its "ink" is one
# thick body.
STROKE_SEPARATION = 2.5
STROKE_INK_SHARE = 0.2
STROKE_HALF_WIDTH = 0.15


def has_strokes(img: np.ndarray, quad: np.ndarray) -> bool:
    """True when the quad's pixels split into crisp, thin ink on a background, as printed text does."""
    import cv2

    grey = _upright_grey(img, quad)
    if grey is None:
        return False
    _, split = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = split > 0
    a, b = grey[bright].astype(np.float64), grey[~bright].astype(np.float64)
    if a.size < 8 or b.size < 8:
        return False
    ink = bright if a.size < b.size else ~bright
    share = float(ink.mean())
    separation = abs(a.mean() - b.mean()) / (a.std() + b.std() + 1.0)
    if separation < STROKE_SEPARATION or share < STROKE_INK_SHARE:
        return False
    depth = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 3)
    return float(np.percentile(depth[ink], 95)) <= STROKE_HALF_WIDTH * min(grey.shape[:2])


# A scale bar (a colour or grey legend): the middle of its quad, SCALE_TRIM of each side left out, is flat
# across one axis (pixels within SCALE_FLAT grey levels of their row's or column's median, on average)
# and takes at least SCALE_TONES tones along the other (medians in 8-level bins). Measured: the power
# Doppler bar of pydicom-data's US1_UNCR.dcm between its two filled "PWR" labels, 0.0 levels across and
# 16-24 tones along, in each quad the detector gave it; DejaVu "1", "l", "I", "i" at 12-40 px in a quad
# 0-3 px beyond their ink are flat across too (a stem), but take 3-4 tones along (ink, ground, an edge).
SCALE_TRIM = 0.2
SCALE_FLAT = 3.0
SCALE_TONES = 8


def is_scale(img: np.ndarray, quad: np.ndarray) -> bool:
    """True when the quad holds a smooth scale bar rather than a glyph (see SCALE_TONES)."""
    patch = _upright_grey(img, quad)
    if patch is None:
        return False
    grey = patch.astype(np.float64)
    h, w = grey.shape
    dy, dx = int(SCALE_TRIM * h), int(SCALE_TRIM * w)
    middle = grey[dy : h - dy, dx : w - dx]
    for lines in (middle, middle.T):  # rows flat and tones along the columns, or the other way round
        if lines.size == 0:
            return False
        medians = np.median(lines, axis=1, keepdims=True)
        flat = float(np.mean(np.abs(lines - medians))) <= SCALE_FLAT
        if flat and len(np.unique(medians // 8)) >= SCALE_TONES:
            return True
    return False


def _area(q: np.ndarray) -> float:
    import cv2

    return abs(float(cv2.contourArea(q.astype(np.float32))))


def drop_contained(lines: list[Line]) -> list[Line]:
    """Remove quads lying (almost) wholly inside a larger kept one; order-independent and deterministic."""
    import cv2

    order = sorted(range(len(lines)), key=lambda i: (-_area(lines[i].quad), i))
    kept: list[Line] = []
    for i in order:
        q = lines[i].quad.astype(np.float32)
        a = _area(q)
        inside = False
        for k in kept:
            inter, _ = cv2.intersectConvexConvex(q, k.quad.astype(np.float32))
            if a > 0 and inter / a >= CONTAINED:
                inside = True
                break
        if not inside:
            kept.append(lines[i])
    return kept


def grown(quad: np.ndarray, share: float = GROW) -> np.ndarray:
    """The quad pushed outwards along its own two axes by ``share`` of its short side (capped).

    DB quads already reach the ink's edge (its unclip restores the shrunk kernel); the margin only
    covers anti-aliasing and JPEG ringing, a few pixels whatever the text size. Uncapped, a 95-px sign
    line grew by 30 px on every side (a third of the real-world set's over-redaction on sign photos).
    """
    q = quad.astype(np.float64)
    centre = q.mean(axis=0)
    u, v, nu, nv = side_axes(q)
    if nu < 1e-6 or nv < 1e-6:
        return q
    height = min(nu, nv) / 2
    margin = min(share * height, GROW_CAP + GROW_CAP_SHARE * height) + 2.0
    out = []
    for p in q:
        d = p - centre
        out.append(p + margin * np.sign(d @ u) * u + margin * np.sign(d @ v) * v)
    return np.array(out)


# Ink: pixels at least INK_CONTRAST of the line's contrast (98th percentile of the colour distance
# from the background) away from the background, the median colour of the quad's outer ring. A ring
# varying by more than RING_NOISE of that contrast (text on tissue, foliage, a cut-off glyph at the quad's
# edge) is no plain background: such a line, or one whose "ink" covers more than BUSY_SHARE of its quad,
# is left as found.
INK_CONTRAST = 0.35
RING_NOISE = 0.2
BUSY_SHARE = 0.6
RING_PX = 2
TIGHT_GROW = 0.1  # a quad fitted to its ink grows by this share of its height (+2 px) for the halo


def tight(img: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, float, np.ndarray | None] | None:
    """The quad narrowed, along its own axes, to the ink inside it (never grown), the height of the
    line's glyphs (``_glyph_height``), in frame px, and the narrowed quad without a lone long blob at
    either end (``_end_blobs``; None when there is none); None when its background is not plain.

    DB quads reach well past the glyphs on large sign text (the detector's unclip, plus a downscaled
    pass): a 71-px Hangul line of ../shared's real-world set came back 94 px high and 30 px wider, and
    the grown redaction slabbed the sign around it. Ink is measured against the plain background around
    the glyphs, at a third of the line's contrast, so anti-aliased and faint strokes count as ink.
    """
    patch = _upright(img, quad)
    if patch is None or patch.ndim != 3 or min(patch.shape[:2]) <= 4 * RING_PX:
        return None
    p = patch.astype(np.float32)
    r = RING_PX
    ring = np.concatenate(
        [p[:r].reshape(-1, 3), p[-r:].reshape(-1, 3), p[r:-r, :r].reshape(-1, 3), p[r:-r, -r:].reshape(-1, 3)]
    )
    background = np.median(ring, axis=0)
    distance = np.abs(p - background).max(axis=2)
    contrast = float(np.percentile(distance, 98))
    if contrast < FLAT:
        return None
    ink = distance >= INK_CONTRAST * contrast
    if ink.mean() > BUSY_SHARE:
        return None
    ink = _without_specks(ink)
    if float(np.percentile(np.abs(ring - background).max(axis=1), 90)) > RING_NOISE * contrast:
        ink = _own_band(ink)  # the ring holds other ink: neighbouring lines, ruling, a box drawn round
        if ink is None:
            return None
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    h, w = ink.shape
    t0, t1 = rows[0] / h, (rows[-1] + 1) / h
    q = quad.astype(np.float64)

    def fitted(c0: int, c1: int) -> np.ndarray:  # columns [c0, c1) of the upright patch, in the frame
        corners = [(c0 / w, t0), (c1 / w, t0), (c1 / w, t1), (c0 / w, t1)]
        return np.array(
            [(1 - t) * ((1 - s) * q[0] + s * q[1]) + t * ((1 - s) * q[3] + s * q[2]) for s, t in corners],
            np.float32,
        )

    blobs = _blobs(ink)
    glyphs = _glyph_height(ink, blobs)
    trimmed = _end_blobs(ink, blobs, glyphs)
    fit = fitted(cols[0], cols[-1] + 1)
    return fit, glyphs * Line(quad, 0.0).height / min(h, w), None if trimmed is None else fitted(*trimmed)


END_BLOB = 1.5  # a blob at a line's end this many glyph heights long, alone in its columns, may be no text


def _blobs(ink: np.ndarray) -> np.ndarray:
    """OpenCV's stats (left, top, width, height, area) of each 8-connected ink blob, background left out."""
    import cv2

    return cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)[2][1:]


def _end_blobs(ink: np.ndarray, blobs: np.ndarray, glyphs: float) -> tuple[int, int] | None:
    """Columns [c0, c1) of a line's ink without the lone long blob at either end, or None when there is
    none: on a road sign of ../shared's real-world set the arrow 10 px beside "205Km" is one blob as long
    as three of its digits are high, inside the detector's quad, and its fill took 1.15 % of the frame.
    Only a candidate: ``covering`` keeps the cut when the line reads the same without it."""
    import cv2

    if ink.shape[0] > ink.shape[1]:
        return None  # an upright column: its glyphs stand along the rows
    if len(blobs) < 2:
        return None  # one blob: nothing would be left
    left = blobs[:, cv2.CC_STAT_LEFT]
    right = left + blobs[:, cv2.CC_STAT_WIDTH]
    long = right - left >= END_BLOB * glyphs
    rest = np.ones(len(left), bool)
    last, first = int(np.argmax(right)), int(np.argmin(left))
    if long[last] and np.delete(right, last).max() <= left[last]:  # alone in its columns
        rest[last] = False
    others = rest & (np.arange(len(left)) != first)
    if first != last and long[first] and others.any() and left[others].min() >= right[first]:
        rest[first] = False
    if rest.all():
        return None
    return int(left[rest].min()), int(right[rest].max())


GLYPH_PERCENTILE = 75  # of the ink blobs' extents across the line: ascenders and capitals...
GLYPH_LEAST = 0.25  # ...counting only blobs this share of the quad's height or more (not commas, grain)


def _glyph_height(ink: np.ndarray, blobs: np.ndarray) -> float:
    """How tall the line's glyphs stand (px of the upright patch, across the line): a high percentile of
    its ink blobs' extents, so a box drawn round the figures or a ruling that touches them is not taken
    for the text (easyocr_width_ths.png of ../shared's real-world set: 25-px quads and boxes over 12-px
    digits). Blobs under GLYPH_LEAST of the quad are punctuation or the grain of a textured ground (a
    white line on tissue gave 3-8 px blobs beside its 46-px glyphs merged with the ground)."""
    across = 3 if ink.shape[0] <= ink.shape[1] else 2  # CC_STAT_HEIGHT, or WIDTH for an upright column
    height = min(ink.shape)
    extents = blobs[:, across]
    extents = extents[extents >= GLYPH_LEAST * height]
    return float(np.percentile(extents, GLYPH_PERCENTILE)) if extents.size else float(height)


OWN_BAND_INK = 0.6  # the line's own band of rows holds at least this share of the quad's ink


def _own_band(ink: np.ndarray) -> np.ndarray | None:
    """``ink`` of the quad's own line only: the run of rows holding ink, between blank rows, that crosses
    the quad's middle; None when that run holds under OWN_BAND_INK of the ink (the middle row is blank, or
    the quad is mostly another line). Where no blank row splits the quad the run is all of it, and the line
    is fitted to its ink's extent as on a plain ground (page.png's lines: descenders touch ascenders).

    DB quads on dense print reach into the lines above and below, and on a scanned table over the ruling
    and the boxes drawn round the figures: page.png of ../shared's real-world set has 26-px quads over
    12-px lines, easyocr_width_ths.png 25-px quads whose rings hold red boxes. Their plain background is
    still the median of the ring, but the ring's own ink says nothing about where this line's glyphs stop
    across it; the blank rows between lines do.
    """
    if ink.shape[0] > ink.shape[1]:
        return None  # an upright column: its rows run along the line, and glyphs stand between blank ones
    filled = ink.any(axis=1)
    mid = ink.shape[0] // 2
    if not filled[mid]:
        return None
    top, bottom = mid, mid + 1
    while top > 0 and filled[top - 1]:
        top -= 1
    while bottom < filled.size and filled[bottom]:
        bottom += 1
    if ink[top:bottom].sum() < OWN_BAND_INK * ink.sum():
        return None
    own = np.zeros_like(ink)
    own[top:bottom] = ink[top:bottom]
    return own


SPECK = 0.002  # ink blobs smaller than this share of the height squared (at least 4 px) are noise


def _without_specks(ink: np.ndarray) -> np.ndarray:
    """``ink`` without blobs too small to be any part of a legible glyph (JPEG noise, dust): a 22-px
    blob beside 106-px text; the dot of an i is about five times larger."""
    import cv2

    least = max(4.0, SPECK * min(ink.shape) ** 2)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < least)
    small = small[small > 0]
    return ink & ~np.isin(labels, small) if small.size else ink


def covering(img: np.ndarray, quad: np.ndarray, read=None) -> np.ndarray:
    """The polygon a line's redaction fills: its ink (``tight``) and a halo, carried past a near frame
    edge (``to_border``), clipped to the frame. A lone long blob at an end of the ink (an arrow beside a
    distance) is left out when ``read`` (quads -> readings) reads the line the same without it: the same
    letters and digits, at least one. A fit that stops short of an end of the detector's quad
    (``_ends_trimmed``) must read as the quad does, or the quad is covered as found.

    The carry is decided from the line itself, before the halo: the fitted ink against its glyphs'
    height (``_glyph_height``) where it was fitted, else the detector's quad against its height. A line
    cut by the edge ends within a glyph of it; measured from the grown polygon against the grown height
    (a 18-px sign line came out 33 px high), lines 28 px from the edge of a 231-px sign photo were carried
    over the sign's border and the trees, and against a 25-px quad round 12-px figures, a figure 16 px
    from the edge was.
    """
    found = tight(img, quad)
    if found is not None and read is not None and _ends_trimmed(quad, found[0]):
        line, fit = (_letters(r.text) for r in read([quad, found[0]]))
        found = found if fit == line else None  # the fit left glyphs out: the detector's quad is covered
    if found is None:
        return clipped(to_border(grown(quad), img.shape, quad, Line(quad, 0.0).height), img.shape)
    fit, glyphs, trimmed = found
    if trimmed is not None and read is not None:
        whole, cut = (_letters(r.text) for r in read([fit, trimmed]))
        fit = trimmed if cut and cut == whole else fit
    return clipped(to_border(grown(fit, TIGHT_GROW), img.shape, fit, glyphs), img.shape)


# A fit to the ink that leaves out more than this share of the line's height at either end of the line is
# read against the detector's quad, and kept only when both read the same. Ink is measured against the
# median of the quad's ring: where the ground darkens along the line, dark glyphs there fall under the
# contrast bar. On a synthetic label (tests/support/textsynth.py, seed 6, coffee-7) the detector's quad
# read "Pt: KOWALSKI Anna" and the fit left "Pt: K" out, visible. A sign line's loose DB quad (0.4 of its
# height too wide) trims less.
END_TRIM_CHECK = 0.5


def _ends_trimmed(quad: np.ndarray, fit: np.ndarray) -> bool:
    """True when ``fit`` stops short of either end of the line ``quad`` by more than END_TRIM_CHECK."""
    q, f = quad.astype(np.float64), fit.astype(np.float64)
    u, v, nu, nv = side_axes(q)
    along = u if nu >= nv else v
    (a0, a1), (b0, b1) = ((float(p.min()), float(p.max())) for p in (q @ along, f @ along))
    return max(b0 - a0, a1 - b1) > END_TRIM_CHECK * min(nu, nv) / 2


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def spared(cover: np.ndarray, quad: np.ndarray, neighbours: list[np.ndarray]) -> np.ndarray:
    """``cover`` (a line's fill) kept within the band its detector ``quad`` spans across the line, when it
    reaches into one of ``neighbours`` (lines left visible): the halo is for anti-aliasing, and the DB
    quad already reaches the ink's edge. On a sign photo of ../shared's real-world set the halo of a
    name line 18 px high reached 7 px into the harmless line below and cut its glyphs in half."""
    import cv2

    c = cover.astype(np.float32)
    if not any(cv2.intersectConvexConvex(c, n.astype(np.float32))[0] > 0 for n in neighbours):
        return cover
    q = quad.astype(np.float64)
    u, v, nu, nv = side_axes(q)
    if nv > nu:
        u = v
    v = np.array([-u[1], u[0]])
    (a0, a1), (b0, b1) = ((float(p.min()) - 1, float(p.max()) + 1) for p in (cover @ u, q @ v))
    band = np.array([a0 * u + b0 * v, a1 * u + b0 * v, a1 * u + b1 * v, a0 * u + b1 * v], np.float32)
    area, poly = cv2.intersectConvexConvex(c, band)
    return poly.reshape(-1, 2).astype(np.float64) if area > 0 and poly is not None else cover


def clockwise(points: np.ndarray) -> np.ndarray:
    """Four corners in the detector's order: clockwise (on screen) from the top-left one.

    Not ``db._clockwise``, which copies rapidocr's order (two leftmost, then by height) bit for bit: on
    lines tilted more than 45 degrees it starts elsewhere (173 of 357 tilts from -89 to 89 differ)."""
    p = np.asarray(points, np.float32)
    c = p.mean(axis=0)
    p = p[np.argsort(np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0]))]
    return np.roll(p, -int(np.argmin(p.sum(axis=1))), axis=0)


def core(quad: np.ndarray, trim: float) -> np.ndarray:
    """The quad without ``trim`` of its height along each long side (the line's ends kept)."""
    q = quad.astype(np.float64)
    a, b, c, d = q
    if np.linalg.norm(b - a) >= np.linalg.norm(d - a):  # a line along a-b: trim towards its middle
        s, t = (d - a) * trim, (c - b) * trim
        out = [a + s, b + t, c - t, d - s]
    else:  # a vertical line (along a-d)
        s, t = (b - a) * trim, (c - d) * trim
        out = [a + s, b - s, c - t, d + t]
    return np.array(out, np.float32)


def to_border(quad: np.ndarray, shape, line: np.ndarray, height: float) -> np.ndarray:
    """A line whose end stops near the frame's edge, as a rectangle carried past that edge.

    A line cut by the border (a label photographed at 35 degrees, running off the picture) is found only
    up to its last whole glyphs, and the detector fits the cut end loosely (the top of "19" at a
    35-degree border stood above its quad). An end within TO_BORDER line heights of the edge, measured
    along the line, is carried past it, and the line is widened across by BORDER_WIDEN of its height.
    Other lines are returned as they are. ``quad`` is what gets carried; ``line`` and ``height`` decide
    which ends are cut.
    """
    q = quad.astype(np.float64)
    u, v, nu, nv = side_axes(q)
    if nu < 1e-6 or nv < 1e-6:
        return q
    if nv > nu:  # the line runs along the longer side pair
        u = v
    v = np.array([-u[1], u[0]])  # a true rectangle: cut quads come back as parallelograms
    a, b = q @ u, q @ v
    ends, (b0, b1) = [float(a.min()), float(a.max())], (float(b.min()), float(b.max()))
    if b1 - b0 > BORDER_MAX_HEIGHT:
        return q
    h, w = shape[:2]

    def reach(end: float, sign: float, lo: float, hi: float) -> float:
        return max(_to_edge(end * u + t * v, sign * u, w, h) for t in (lo, hi))

    # An end is cut when the line's band meets the edge within the yardstick of it: at the nearer of the
    # band's two corners (on a tilted line the farther one lies a height times the tilt's tangent beyond)
    # that lies in the frame (a corner past the top or bottom edge says nothing about the line's end).
    ref = line.astype(np.float64)
    (r0, r1), (c0, c1) = ((float(p.min()), float(p.max())) for p in (ref @ u, ref @ v))
    yardstick = TO_BORDER * height

    def near(end: float, sign: float) -> float:
        corners = [end * u + t * v for t in (c0, c1)]
        inside = [p for p in corners if 0 <= p[0] <= w and 0 <= p[1] <= h]
        return min(_to_edge(p, sign * u, w, h) for p in inside or [(corners[0] + corners[1]) / 2])

    cut = [k for k, end, sign in ((0, r0, -1.0), (1, r1, 1.0)) if near(end, sign) <= yardstick]
    if not cut:
        return q
    height = b1 - b0
    tilt = math.degrees(math.atan2(abs(u[1]), abs(u[0])))
    if min(tilt, 90 - tilt) > BORDER_TILT:
        b0, b1 = b0 - BORDER_WIDEN * height, b1 + BORDER_WIDEN * height
    for k in cut:
        sign = 1.0 if k else -1.0
        ends[k] += sign * (reach(ends[k], sign, b0, b1) + 2.0)
    return np.array([ends[0] * u + b0 * v, ends[1] * u + b0 * v, ends[1] * u + b1 * v, ends[0] * u + b1 * v])


def _to_edge(p: np.ndarray, d: np.ndarray, w: int, h: int) -> float:
    """Distance from ``p`` along unit vector ``d`` until it leaves the frame (0 when already outside)."""
    if not (0 <= p[0] <= w and 0 <= p[1] <= h):
        return 0.0
    ts = []
    for coord, step, hi in ((p[0], d[0], w), (p[1], d[1], h)):
        if step > 1e-9:
            ts.append((hi - coord) / step)
        elif step < -1e-9:
            ts.append(-coord / step)
    return min(ts) if ts else np.inf


def clipped(quad: np.ndarray, shape) -> np.ndarray:
    """The polygon of ``quad`` inside the frame (redaction never reaches outside the picture)."""
    import cv2

    h, w = shape[:2]
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    area, poly = cv2.intersectConvexConvex(quad.astype(np.float32), frame)
    if area <= 0 or poly is None:
        return quad
    return poly.reshape(-1, 2).astype(np.float64)
