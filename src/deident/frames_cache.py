"""Detect once across frames that share their pixels: cine loops, fluoroscopy runs, endoscopy video.

An ultrasound cine shows the same burned-in overlay (names, dates, settings) on every frame around a
moving image. The first frame is looked at whole and becomes the reference. Each later frame is compared
with the reference (any channel differing by more than ``TOLERANCE``, taken per 8x8 block): the
reference's regions hold for it, and every changed area, padded by ``PAD``, is looked at again as a crop
of the frame, its unchanged pixels shown black. So text that appears in one frame only is found there
(it changes that frame's pixels), and static text costs one look. A frame whose changed areas cover more
than ``FULL_SHARE`` of it is looked at whole and becomes the reference.

Looks are remembered by what they saw (the detector, the crop's place and a digest of its pixels), for
one file's context: verification re-opens the written frames, whose moving parts are the very pixels the
detection pass already looked at, so only what a redaction changed is looked at again.

Measured side by side (CPU-s, loaded machine; docs/benchmarks.md, "Issue 24 changes"): the first 30
frames of pydicom-data's ``color3d_jpeg_baseline.dcm`` (640x480, the moving sector 49-64 % of a frame),
detection 31.3 -> 12.6 and verification 15.8 -> 7.1; five real photos, verification 22.9 -> 11.7.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING

from deident.regions import KEPT

if TYPE_CHECKING:
    import numpy as np

    from deident.formats.base import Context, Frame
    from deident.regions import Region

TOLERANCE = 10  # grey levels: a smaller change (compression noise) is not a change
BLOCK = 8  # px: changes are mapped on this grid (one JPEG block)
REDACTION_REACH = 16  # px: how far a written redaction can reach past its region (a JPEG MCU)
PAD = 16  # px of context around a changed area (the detector needs room around the ink)
FULL_SHARE = 0.75  # changed crops covering more than this share of the frame: look at it whole

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

_memo: dict[tuple, Future] = {}  # (detector method, box, digest) -> its regions, for one context
_memo_owner: list = [None]  # the context the memo belongs to (a new file starts a new memo)


# Told after each frame (frames done, frames in all or None, verifying?): one long file's progress bar.
_on_frame: list[Callable[[int, int | None, bool], None] | None] = [None]


@contextlib.contextmanager
def reporting_frames(report: Callable[[int, int | None, bool], None]):
    """Within the block, ``detect_frames`` reports each frame it finishes to ``report``."""
    saved, _on_frame[0] = _on_frame[0], report
    try:
        yield
    finally:
        _on_frame[0] = saved


def _reported(pairs: Iterator, total: int | None, verifying: bool) -> Iterator:
    """``pairs`` passed on, each stored frame counted once (a frame can be shown in several renderings)."""
    done = set()
    for frame, regions in pairs:
        done.add(frame.index)
        if _on_frame[0] is not None:
            _on_frame[0](len(done), total, verifying)
        yield frame, regions


def look_of(detector, verifying: bool) -> Callable[[Frame, Context], list[Region]]:
    """What a detector runs: ``verify`` when checking an output and it defines what "nothing left"
    means (eye bars), else ``detect``; ``look`` when detecting and it also tells what it judged harmless
    (regions of kind ``KEPT``, kept out of what ``detect_frames`` yields)."""
    if verifying:
        return getattr(detector, "verify", None) or detector.detect
    return getattr(detector, "look", None) or detector.detect


def detect_frames(
    frames: Iterable[Frame],
    detectors: list,
    ctx: Context,
    verifying: bool = False,
    total: int | None = None,
    ahead: bool = False,
) -> Iterator[tuple[Frame, list[Region]]]:
    """Yield each frame with the regions every detector's look (``look_of``) finds in it (``total``:
    how many stored frames there are, for ``reporting_frames``; ``ahead``: later frames may be taken
    before the caller has redacted earlier ones, so several can be looked at side by side).

    What looking at every frame whole finds, except that a frame's unchanged areas are not looked at
    again: they keep the reference frame's regions.
    """
    yield from _reported(_detect_frames(frames, detectors, ctx, verifying, total, ahead), total, verifying)


def _detect_frames(
    frames: Iterable[Frame], detectors: list, ctx: Context, verifying: bool, total: int | None, ahead: bool
) -> Iterator[tuple[Frame, list[Region]]]:
    looks = [look_of(d, verifying) for d in detectors]
    if _memo_owner[0] is not ctx:
        _memo.clear()
        _seen.clear()
        _memo_owner[0] = ctx
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    faces = first.photographic and any(d.name == "faces" for d in detectors)
    with _side_by_side(ctx, ahead and not faces and (total or 0) > 1) as (run, depth):
        plan = _verify_frames if verifying else _plan_frames
        planned = plan(itertools.chain([first], frames), looks, ctx, run)
        queue: collections.deque = collections.deque()
        for done in planned:
            queue.append(done)
            while len(queue) > depth:  # in order; none taken ahead when looking one frame at a time
                yield queue.popleft()()
        while queue:
            yield queue.popleft()()


def _plan_frames(frames: Iterable[Frame], looks: list, ctx: Context, run) -> Iterator[Callable]:
    """For each frame, what gives its regions once its looks (started with ``run``) are done."""
    refs: dict[str, tuple[np.ndarray, list]] = {}  # per rendering: the reference and its looks
    for frame in frames:
        h, w = frame.rgb.shape[:2]
        ref_rgb, ref_looks = refs.get(_rendering(frame), (None, []))
        same_shape = ref_rgb is not None and ref_rgb.shape == frame.rgb.shape
        crops, keep = _changed(ref_rgb, frame.rgb) if same_shape else (None, None)
        if crops is None or _area(crops) > FULL_SHARE * h * w:
            started = _look(looks, frame, ctx, (0, 0, w, h), None, run)
            # a copy: the rgb is a view, and the caller may redact the frame once it has its regions
            refs[_rendering(frame)] = (frame.rgb.copy(), started)
        else:
            started = list(ref_looks)  # kept where the frame changed too: a crop may see a part only
            for box in crops:
                started += _look(looks, frame, ctx, box, keep, run)
        yield functools.partial(_seen_in, frame, started)


def _seen_in(frame: Frame, started: list[Future]) -> tuple[Frame, list[Region]]:
    """The frame and its regions, once its looks are done; what was seen is remembered for verification
    (before the frame is yielded, so before the caller redacts it)."""
    regions = [r for f in started for r in f.result()]
    kept = [Kept(r, _pixels(frame.rgb, r)) for r in regions if r.kind == KEPT]
    regions = [r for r in regions if r.kind != KEPT]
    _seen[(frame.index, frame.label)] = Seen(frame.rgb.shape, _fingerprints(frame.rgb), list(regions), kept)
    return frame, regions


MAX_AHEAD = 2  # frames started per thread before the oldest is yielded


@contextlib.contextmanager
def _side_by_side(ctx: Context, ahead: bool) -> Iterator[tuple[Callable[..., Future], int]]:
    """(how a look is started, how many frames may be started ahead of the one yielded).

    Where frames can be taken ahead, one file's frames are looked at side by side, one per core of this
    worker's share (``engine.threads_for(jobs)``, which the parallel workers of ``-j`` already divide),
    each on a thread whose models run single-threaded (``side_by_side``): never more threads than cores.
    onnxruntime, zxing-cpp and OpenCV release the GIL while they work. Results do not depend on it: the
    detector's outputs are bit-identical on one or two threads, and regions are gathered in frame order.
    Else (one frame, a redaction that may change what a later frame shows, faces: OpenCV's thread count
    is one setting for the whole process) each look runs at once, in order, except that a detector that
    ``runs_beside`` the others looks on a helper thread meanwhile, where this worker has two cores
    (``_beside``).
    """
    from deident.text.engine import threads_for

    width = threads_for(ctx.options.jobs) if ahead else 1
    if width == 1:
        helper = ThreadPoolExecutor(1, "deident-beside")  # its thread starts at its first task, if any
        try:
            yield functools.partial(_beside, helper, ctx), 0
        finally:
            helper.shutdown(cancel_futures=True)
        return
    pool = ThreadPoolExecutor(width, "deident-frames", initializer=_in_pool, initargs=(width,))
    try:
        yield pool.submit, MAX_AHEAD * width
    finally:
        pool.shutdown(cancel_futures=True)


_pooled = threading.local()  # in a frame pool's thread: how many frames are looked at side by side


def _in_pool(width: int) -> None:
    _pooled.width = width


def side_by_side() -> int:
    """Frames this thread's file is looked at in at once (1 outside ``_side_by_side``'s pool): a model
    runs on ``threads_for(jobs * side_by_side())`` threads."""
    return getattr(_pooled, "width", 1)


def _beside(helper: ThreadPoolExecutor, ctx: Context, fn: Callable, *args) -> Future:
    """``fn(*args)`` started on ``helper`` when it runs the look (``args[0]``) of a detector that
    ``runs_beside`` the others (first in the stage order, so it runs while they do) and this worker has
    two cores (``engine.threads_for``), else run now.

    The barcode reader is single-threaded and holds no process-wide setting, while the text detector's
    Python steps leave one of its two cores idle. Measured on one file at a time (``-j 1``, 2 cores,
    A/B in one run): 7 photos with text 6.0 -> 5.5 s, 5 text-free controls with faces 2.8 -> 2.5 s, the
    same CPU time and the same outputs (docs/benchmarks.md, "detectors side by side")."""
    from deident.text.engine import threads_for

    detector = getattr(args[0], "__self__", None) if args else None
    if getattr(detector, "runs_beside", False) and threads_for(ctx.options.jobs) > 1:
        return helper.submit(fn, *args)
    return _now(fn, *args)


def _now(fn: Callable, *args) -> Future:
    """``fn(*args)`` run now, as a done future (its exception raised where the result is asked for)."""
    done: Future = Future()
    try:
        done.set_result(fn(*args))
    except Exception as exc:  # handed on to whoever asks for the result, as a pool's future does
        done.set_exception(exc)
    return done


def _rendering(frame: Frame) -> str:
    """Which rendering of its stored frame this is: a DICOM greyscale frame comes as displayed
    ("frame 3") and under other windows ("frame 3, full range"); each is compared with its own kind."""
    return frame.label.partition(", ")[2]


@dataclasses.dataclass
class Seen:
    """What the detection pass looked at in one frame: its 8x8 blocks' fingerprints, and what it found."""

    shape: tuple[int, ...]
    blocks: np.ndarray
    regions: list[Region]
    kept: list[Kept] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Kept:
    """A line the detection pass read whole and judged harmless (PHI mode), and its pixels then."""

    region: Region
    pixels: np.ndarray


def _pixels(rgb: np.ndarray, region: Region) -> np.ndarray:
    x0, y0, x1, y1 = region.bbox()
    return rgb[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)].copy()


def unchanged_kept(frame: Frame, redacted: list[Region]) -> list[Region]:
    """The lines the detection pass judged harmless in this frame that the written frame still shows as
    they were, except where the pipeline redacted (a fill can reach a neighbour; JPEG grows it to whole
    blocks, hence the ``REDACTION_REACH`` px): what text verification finds there shows nothing the
    harmless line did not, though a crop that cuts the line off can read it as something else."""
    import cv2
    import numpy as np

    from deident.regions import polygon_mask

    seen = _seen.get((frame.index, frame.label))
    if seen is None or seen.shape != frame.rgb.shape or not seen.kept:
        return []
    reach = 2 * REDACTION_REACH + 1
    filled = None  # the frame's redactions and their reach, drawn once a kept line has moved pixels
    out = []
    for k in seen.kept:
        x0, y0 = (max(0, v) for v in k.region.bbox()[:2])
        now = frame.rgb[y0 : y0 + k.pixels.shape[0], x0 : x0 + k.pixels.shape[1]]
        diff = np.abs(now.astype(np.int16) - k.pixels.astype(np.int16))
        moved = diff.max(axis=2) > TOLERANCE if diff.ndim == 3 else diff > TOLERANCE
        if moved.any():
            if filled is None:
                mask = polygon_mask(frame.rgb.shape, redacted).astype(np.uint8)
                filled = cv2.dilate(mask, np.ones((reach, reach), np.uint8)).astype(bool)
            if (moved & ~filled[y0 : y0 + moved.shape[0], x0 : x0 + moved.shape[1]]).any():
                continue
        out.append(k.region)
    return out


_seen: dict[tuple[int, str], Seen] = {}  # (frame index, label) -> Seen, for one context (as the memo)


def _verify_frames(frames: Iterable[Frame], looks: list, ctx: Context, run) -> Iterator[Callable]:
    """Look at each written frame where it differs from the frame the detection pass saw, and around
    everything that pass found; the rest holds the very pixels already found clean.

    A frame the detection pass did not see (or of another size) is looked at whole. Measured on 5 real
    photos, verification was twice the CPU of detection when it looked at every frame whole. Where
    several frames share a size (a cine), pixels of a crop farther than ``PAD`` from what changed or was
    found are shown black, as in detection: the crop around a static overlay then holds the same pixels on
    every frame and is looked at once (the 120-frame ultrasound: 340 detector looks -> 228, verification
    15.8 -> 6.9 CPU-s). A picture with no frame of its size (a photo; a slide's macro beside its
    overview) repeats nothing, and a masked crop cut a line that the first pass read and kept, which then
    read as an identifying fragment and was filled (../shared's example3 in phi mode: over-redaction 1.05
    -> 3.98 % of the frame), so such a picture's crops are shown whole.
    """
    import numpy as np

    frames_of_size: dict[tuple, set[int]] = {}
    for (index, _), s in _seen.items():
        frames_of_size.setdefault(s.shape, set()).add(index)
    for frame in frames:
        h, w = frame.rgb.shape[:2]
        seen = _seen.get((frame.index, frame.label))
        boxes = keep = None
        if seen is not None and seen.shape == frame.rgb.shape:
            blocks = _fingerprints(frame.rgb) != seen.blocks
            for r in seen.regions:
                x0, y0, x1, y1 = r.bbox()
                blocks[max(0, y0) // BLOCK : y1 // BLOCK + 1, max(0, x0) // BLOCK : x1 // BLOCK + 1] = True
            boxes, keep = _padded_boxes(blocks.astype(np.uint8), h, w)
        if boxes is None or _area(boxes) > FULL_SHARE * h * w:
            started = _look(looks, frame, ctx, (0, 0, w, h), None, run)
        else:
            masked = keep if len(frames_of_size[seen.shape]) > 1 else None  # ``seen`` is set with ``boxes``
            started = [f for box in boxes for f in _look(looks, frame, ctx, box, masked, run)]
        yield functools.partial(_verified, frame, started, seen)


def _verified(frame: Frame, started: list[Future], seen: Seen | None) -> tuple[Frame, list[Region]]:
    regions = [r for f in started for r in f.result()]
    if seen is not None:
        seen.regions += regions  # a second round must look around what this one found, too
    return frame, regions


def _fingerprints(rgb: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of every 8x8 block (a keyed sum of its bytes; equal blocks, equal prints).

    A block's row of 8 pixels is ``c`` whole 64-bit words, summed row by row in place: no transposed
    copy, no reduction over a short last axis (1.1 -> 0.2 ms a 640x480 frame, the same prints)."""
    import numpy as np

    h, w = rgb.shape[:2]
    c = rgb.shape[2] if rgb.ndim == 3 else 1
    bh, bw = -(-h // BLOCK), -(-w // BLOCK)
    padded = np.zeros((bh * BLOCK, bw * BLOCK, c), np.uint8)
    padded[:h, :w] = rgb.reshape(h, w, c)
    words = padded.reshape(bh, BLOCK, bw, BLOCK * c).view(np.uint64)  # (block row, pixel row, block, word)
    keys = _keys()[: BLOCK * c].reshape(BLOCK, c)
    out = np.zeros((bh, bw), np.uint64)
    for row in range(BLOCK):
        for word in range(c):
            out += words[:, row, :, word] * keys[row, word]
    return out


@cache
def _keys():
    import numpy as np

    return np.random.default_rng(24).integers(1, 2**62, size=BLOCK * BLOCK * 4 // 8, dtype=np.uint64) * 2 + 1


def _area(boxes: list[Box]) -> int:
    return sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)


def _look(
    looks: list, frame: Frame, ctx: Context, box: Box, keep: np.ndarray | None, run: Callable[..., Future]
) -> list[Future]:
    """Every detector's regions in ``box`` of the frame (frame coordinates), remembered by content:
    the looks started with ``run``, one future per detector.

    Pixels outside ``keep`` (areas that did not change, whose regions the reference gives) are shown
    black: the crop of a fan-shaped moving image must not find the static labels in its corners again,
    which would also make the written frame's crop differ from the one remembered here.
    """
    import numpy as np

    x0, y0, x1, y1 = box
    crop = np.array(frame.rgb[y0:y1, x0:x1], order="C")  # a copy whose bytes can be hashed
    whole = None
    if keep is not None:
        hidden = ~keep[y0:y1, x0:x1]
        if hidden.any():
            whole = Unmasked(crop.copy(), hidden)  # a copy: the caller may redact the frame meanwhile
            crop[hidden] = 0
    digest = hashlib.blake2b(crop.data, digest_size=16).digest()
    part = frame if box == (0, 0, frame.rgb.shape[1], frame.rgb.shape[0]) else None
    out: list[Future] = []
    for look in looks:
        key = (look, box, digest)
        if key not in _memo:
            part = part or frame.cropped(x0, y0, crop)
            _memo[key] = run(_looked_at, look, part, ctx, x0, y0, whole)
        out.append(_memo[key])
    return out


@dataclasses.dataclass(frozen=True)
class Unmasked:
    """A crop as the frame shows it, and where ``_look`` showed it black."""

    rgb: np.ndarray
    hidden: np.ndarray


def _looked_at(
    look, part: Frame, ctx: Context, x0: int, y0: int, whole: Unmasked | None = None
) -> list[Region]:
    found = look(part, ctx)
    if whole is not None:
        found = _not_cut_by_the_mask(look, found, part, whole, ctx)
    return [r.mapped(lambda x, y: (x + x0, y + y0)) for r in found]


def _not_cut_by_the_mask(
    look, found: list[Region], part: Frame, whole: Unmasked, ctx: Context
) -> list[Region]:
    """``found`` without what the black mask made: a region reaching into the pixels shown black is kept
    only where the crop shown whole has a region over it too.

    The mask's edge follows 8x8 blocks, not objects: on pydicom-data's 120-frame echo
    color3d_jpeg_baseline.dcm it cut the probe's orientation dot at the sector's apex in half on one
    frame, the half-disc read as a glyph, and the dot, static, was filled on all 120 frames. In the same
    crop shown whole the dot is no text. The same box, not a window around the region: a faint static
    label that only some crops read (the "A" marker of examples_ybr_color.dcm) was lost when looked at
    in a small window. On pydicom-data's other multi-frame files nothing else is dropped.
    """
    from deident.regions import polygon_mask

    cut = [
        r for r in found if r.kind != KEPT and (polygon_mask(whole.hidden.shape, [r]) & whole.hidden).any()
    ]
    if not cut:
        return found
    seen = [r.bbox() for r in look(dataclasses.replace(part, rgb=whole.rgb), ctx) if r.kind != KEPT]
    return [r for r in found if not any(r is c for c in cut) or any(_overlap(r.bbox(), b) for b in seen)]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _changed(ref: np.ndarray, rgb: np.ndarray) -> tuple[list[Box], np.ndarray]:
    """Boxes around the areas where ``rgb`` differs from ``ref`` (none: an empty list), and the mask of
    those areas (changed blocks padded by ``PAD``)."""
    h, w = rgb.shape[:2]
    blocks = _changed_blocks(ref, rgb)
    if not blocks.any():
        return [], None
    return _padded_boxes(blocks, h, w)


def _changed_blocks(ref: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """1 for each BLOCK x BLOCK block where some channel of ``rgb`` differs from ``ref`` by more than
    TOLERANCE: the block means of the thresholded difference (exact: a block holding one 255 averages
    4), 6.5x faster than numpy's channel and block reductions (7.8 -> 1.2 ms a 640x480 frame)."""
    import cv2
    import numpy as np

    h, w = rgb.shape[:2]
    bh, bw = -(-h // BLOCK), -(-w // BLOCK)
    _, over = cv2.threshold(cv2.absdiff(ref, rgb), TOLERANCE, 255, cv2.THRESH_BINARY)
    over = cv2.copyMakeBorder(over, 0, bh * BLOCK - h, 0, bw * BLOCK - w, cv2.BORDER_CONSTANT, value=0)
    means = cv2.resize(over, (bw, bh), interpolation=cv2.INTER_AREA)
    return (means.reshape(bh, bw, -1) > 0).any(axis=2).astype(np.uint8)


def _padded_boxes(blocks: np.ndarray, h: int, w: int) -> tuple[list[Box], np.ndarray]:
    """Boxes around the marked blocks padded by ``PAD`` (areas that near joined), and the padded mask."""
    import cv2
    import numpy as np

    reach = -(-PAD // BLOCK)
    joined = cv2.dilate(blocks, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = [
        (int(x) * BLOCK, int(y) * BLOCK, min(w, int(x + bw_) * BLOCK), min(h, int(y + bh_) * BLOCK))
        for x, y, bw_, bh_, _area in stats[1:n]
    ]
    keep = np.repeat(np.repeat(joined.astype(bool), BLOCK, axis=0), BLOCK, axis=1)[:h, :w]
    return merged(boxes), keep


def merged(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes joined into their union, until none overlap (each area looked at once)."""
    out = sorted(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if _overlap(a, b):
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del out[j]
                    changed = True
                    break
            if changed:
                break
    return out


# A frame shows a line found in another frame too when at most this share of the line's box differs from
# that frame by more than TOLERANCE (JPEG noise on a static overlay stays under it).
STATIC_CHANGED = 0.01


def shown_on_other_frames(frames: Iterable[Frame], found: dict[int, list]) -> dict[int, list]:
    """The text lines ``found`` on some frames of a multi-frame picture, for each other frame whose
    original pixels in the line's box are those of the frame it was found on: the same overlay on every
    frame is the same text there. ``frames`` are the input's, as it shows them (a fill already made on
    the frame a line was found on would hide the match); they are decoded only when a text line was found.

    Verification looks at crops around what changed, and a faint static label is read in some crops only:
    on pydicom-data's 30-frame echo examples_ybr_color.dcm a marker turned up on four frames in one round
    and on one more in the next, which then had no round left: the whole cine was refused."""
    where: dict[tuple, tuple[int, object]] = {}  # a line's box -> the first frame it was found on, the line
    for index, regions in sorted(found.items()):
        for r in regions:
            if r.kind == "text":
                where.setdefault(r.bbox(), (index, r))
    if not where:
        return {}
    import numpy as np

    boxes = list(where)
    crops: dict[int, list] = {}  # frame index -> the crop of every box, as that frame shows it
    for frame in frames:
        if frame.revealed or frame.index in crops:  # the displayed rendering of each stored frame
            continue
        h, w = frame.rgb.shape[:2]
        crops[frame.index] = [
            frame.rgb[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)].astype(np.int16)
            for x0, y0, x1, y1 in boxes
        ]
    out: dict[int, list] = {}
    for k, box in enumerate(boxes):
        index, region = where[box]
        seen = crops[index][k] if index in crops else None
        if seen is None or seen.size == 0:
            continue
        for other, theirs in crops.items():
            if other == index or theirs[k].shape != seen.shape:
                continue
            if any(_covers(r, region) for r in found.get(other, []) + out.get(other, [])):
                continue
            changed = np.abs(theirs[k] - seen)
            changed = changed.max(axis=2) if changed.ndim == 3 else changed
            if (changed > TOLERANCE).mean() <= STATIC_CHANGED:
                out.setdefault(other, []).append(region)
    return dict(sorted(out.items()))


def _covers(b, a) -> bool:
    """True when region ``b`` covers region ``a``'s box (the frame already has that line)."""
    ax0, ay0, ax1, ay1 = a.bbox()
    bx0, by0, bx1, by1 = b.bbox()
    return bx0 <= ax0 and by0 <= ay0 and bx1 >= ax1 and by1 >= ay1
