"""The per-file flow: one file opened, scrubbed (or checked), written, verified.

For each file, in this order::

    open_document(Source)            detect the real format by content; parse
    doc.scrub_metadata(ctx)          EXIF/XMP/IPTC/comments/thumbnails, DICOM PS3.15 profile
    pixel stages per frame           barcodes, text, faces -> Regions -> doc.redact(...)
    doc.pixels_verified(...)         e.g. DICOM BurnedInAnnotation=NO + code 113101
    doc.write(temp file)             beside the final name (atomic.stage)
    verify the temp file             re-parse the bytes written: no metadata finding, no pixel leftover
    commit(chunk)                    (deident.chunks) fsync the chunk's temporaries together, then
                                     os.replace each: a crash never leaves a half-written file at a final name
    sidecar captions                 fuzzed next to the output with --fuzz-history

``check`` runs the same detectors read-only. Any exception from a stage becomes a ``failed`` result with
its reason; other files of the batch go on. Running this over a batch (the deny-list first, the process
pool, the commits) is ``deident.batch``'s and ``deident.chunks``' work.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
from collections.abc import Iterable
from pathlib import Path

from deident.atomic import NameTaken, Staged, discard, mode_like, stage, write_bytes_atomic
from deident.errors import DeidentError, TooLarge, UnsupportedFormat, VerificationFailed
from deident.findings import HEADER_STAGES, Action, Area, FileResult, Finding, Reason, Stage, Status
from deident.formats.base import Context, Document, Source, detect, open_document
from deident.frames_cache import detect_frames, unchanged_kept
from deident.keys import Keyring
from deident.options import Options
from deident.paths import IMAGE_SUFFIXES, Planned

MAX_REDACTION_ROUNDS = 3  # redact, re-check the output, redact what is left; then give up (fail closed)


def identifiers_of(item: Planned, options: Options) -> list[str]:
    """The values a batch's deny-list takes from one file: its name, its headers, its captions."""
    from deident.denylist import collect_from_path, in_file_set
    from deident.history import find_sidecars
    from deident.history.sidecars import read_caption

    values: list[str] = []
    values += collect_from_path(item.input, in_file_set(item.input))
    with contextlib.suppress(DeidentError, OSError, ValueError):
        values += open_input(Source(item.input), options).identifiers()
    with contextlib.suppress(OSError, ValueError, DeidentError):  # an unreadable caption fails its image
        for sidecar in find_sidecars(item.input):
            from deident.history import identifiers_in  # only a file with a caption needs its rules

            values += identifiers_in(read_caption(sidecar).text)
    return values


def process_one(
    item: Planned,
    options: Options,
    read_only: bool,
    deny_terms: tuple[str, ...],
    staged: list[tuple[Staged, FileResult]],
) -> FileResult:
    ctx = Context(options, Keyring(options.key or b""), deny_terms)
    result = FileResult(str(item.input), Status.FAILED)
    try:
        _attach_review(item, ctx, result)
        if read_only:
            _check(item, ctx, result)
        else:
            _scrub(item, ctx, result, staged)
        if ctx.review is not None:
            result.findings += ctx.review.unused()
    except UnsupportedFormat as exc:
        # a folder's notes, slide decks and PDFs: listed, not copied, not a failure; a file asked for by
        # name, or named as an image, that cannot be read fails; check (a gate) fails every such file
        skip = item.walked and not read_only and item.input.suffix.lower() not in IMAGE_SUFFIXES
        result.status = Status.SKIPPED if skip else Status.FAILED
        result.reason = "not an image deident reads: not copied" if skip else str(exc)
    except DeidentError as exc:
        result.status, result.reason = Status.FAILED, str(exc)
    except MemoryError:
        result.status, result.reason = (
            Status.FAILED,
            "out of memory while decoding (raise --max-pixels carefully)",
        )
    except OSError as exc:
        result.status, result.reason = Status.FAILED, f"{exc.strerror or exc}: {exc.filename or item.input}"
    except Exception as exc:  # a bug in one stage must not pass a file as safe, nor stop the batch
        result.status, result.reason = Status.FAILED, INTERNAL_ERROR.format(f"{type(exc).__name__}: {exc}")
    if result.status not in (Status.FAILED, Status.SKIPPED):
        from deident.stages import not_checked

        result.not_checked = not_checked(options)
    if options.review_dir is not None:
        from deident.review.render import render_file

        render_file(item, result, ctx, staged)
    return result


# A bug, never a verdict on the file: say that nothing was written and what to do about it.
INTERNAL_ERROR = (
    "internal error ({}): deident could not handle this file and wrote nothing for it; "
    "please report it (with the file's format, never the file itself if it identifies a patient)"
)


def _attach_review(item: Planned, ctx: Context, result: FileResult) -> None:
    """The input's content hash (review page, decisions) and its reviewer decisions, if any."""
    options = ctx.options
    if options.review_dir is None and options.decisions is None:
        return
    from deident.review.decisions import Applying, file_sha256

    if options.review_dir is None and not options.decisions.may_hold(os.stat(item.input).st_size):
        return  # no decision can be for this file: no need to hash it
    result.sha256 = file_sha256(item.input)
    decision = options.decisions.for_hash(result.sha256) if options.decisions else None
    ctx.review = Applying(decision) if decision else None


def _check(item: Planned, ctx: Context, result: FileResult) -> None:
    source = Source(item.input)
    doc = open_input(source, ctx.options)
    result.format = doc.format
    doc.check_size(ctx)
    doc.prepare(ctx)
    result.findings += [f.as_found() for f in doc.metadata_findings() if not _unlooked_pixels(f, ctx)]
    own = doc.identifiers()
    result.findings += _name_findings(item, own=own, ctx=ctx)
    result.findings += _caption_findings(item.input, (*own, *ctx.deny_terms))
    if ctx.options.pixel_stages and not _refused(result.findings, result, ctx):
        result.findings += _pixel_findings(source, doc, ctx, result)
    result.status = Status.UNSAFE if _unsafe(result.findings) else Status.CLEAN


# Said of a file the check gate refused on the first identifiers it found (``Context.gate``): metadata, a
# name or a caption before any pixel stage, a face before the text look, a first pass's text line.
LOOKED_NO_FURTHER = "refused on the first identifiers found (deident inspect lists every one)"


def _unsafe(findings: list[Finding]) -> bool:
    return any(f.action is not Action.KEPT for f in findings)  # what a reviewer kept is no finding


def _refused(findings: list[Finding], result: FileResult, ctx: Context) -> bool:
    """True when the check gate need look no further: ``findings`` refuse the file already, and its
    reason says so (``deident inspect`` lists every identifier)."""
    if not ctx.gate or not _unsafe(findings):
        return False
    result.reason = LOOKED_NO_FURTHER
    return True


def _pixel_findings(source: Source, doc: Document, ctx: Context, result: FileResult) -> list[Finding]:
    """What the pixel stages find, unless deident found these very bytes clean before (``checked``).

    The verdict is kept under the digest of the bytes looked at: those the document holds in memory (a
    file swapped on disk meanwhile is not what was looked at), or for a streamed format (a whole slide,
    read from disk as it goes) the file's; kept only when the digest after the look is the one before."""
    from deident.checked import CHECKED_BEFORE, entry_for

    held = source.held() is not None  # the bytes the look decodes: their digest holds after it too
    before = entry_for(source, doc.format, ctx.options, ctx.deny_terms)
    if before is not None and before.seen():
        result.reason = CHECKED_BEFORE
        return []
    found = _gate_look(doc, ctx, result)
    if before is None or found:
        return found
    if held or entry_for(source, doc.format, ctx.options, ctx.deny_terms) == before:
        before.remember()
    return found


def _gate_look(doc: Document, ctx: Context, result: FileResult) -> list[Finding]:
    """The pixel stages of a check. For the gate (``Context.gate``) a one-frame picture is looked at for
    faces first, and for text and codes only when it shows none: a photo with a face is refused without the
    text look. The gate's text look ends with the first pass that finds a line (``TextDetector.look``), so
    a refused file's list can be short, and its reason says so."""
    from deident.stages import detectors_for

    detectors = detectors_for(ctx.options)
    if not ctx.gate:
        return _detect_all(doc, ctx, redact=False, detectors=detectors)[0]
    faces = [d for d in detectors if d.name == "faces"]
    frames = doc.frames(ctx)
    head = list(itertools.islice(frames, 2))  # decoded once for both looks
    if not faces or len(faces) == len(detectors) or len(head) != 1:
        found = _detect_all(
            doc, ctx, redact=False, detectors=detectors, frames=itertools.chain(head, frames)
        )[0]
    else:
        found = _detect_all(doc, ctx, redact=False, detectors=faces, frames=head)[0]
        if not _unsafe(found):
            rest = [d for d in detectors if d not in faces]
            found += _detect_all(doc, ctx, redact=False, detectors=rest, frames=head)[0]
    _refused(found, result, ctx)  # the gate's text look stops at its first pass that finds a line
    return found


def _remember_verified(written: Source, fmt: str, ctx: Context) -> None:
    """Keep the verified output's pixel verdict for ``check``, which reads the same bytes as a whole
    frame. The detector is not exact on texture: a face blurred elsewhere in the frame changed its answer
    on a coat's row of buttons (scikit-image's camera), a leather jerkin's rivets and a tie's pattern,
    and 3 of 14 safe outputs of ../shared's real-world photos were then refused by the pre-commit hook.
    Those pixels were looked at in the input and found clean, and are the same in the output.

    Kept for a check with no deny-list (``--text phi``): the outputs' metadata holds no names to list, and
    what this scrub's list (from its inputs) left visible is harmless without one too."""
    from deident.checked import entry_for

    entry = entry_for(written, fmt, ctx.options, ())  # the very bytes written (streamed: read back)
    if entry is not None:
        entry.remember()


def _scrub(item: Planned, ctx: Context, result: FileResult, staged: list[tuple[Staged, FileResult]]) -> None:
    options = ctx.options
    assert item.output is not None
    source = Source(item.input)
    doc = open_input(source, options)
    result.format = doc.format
    doc.check_size(ctx)  # --max-pixels from the header, in every mode
    output = item.output  # its extension already the converted format's (see _converted_names)
    if options.output_format and options.output_format != doc.format and doc.output_suffix(ctx) is None:
        result.reason = f"kept as {doc.format}: --format converts HEIC and AVIF photos only"
        result.findings.append(Finding("output", "output.format-kept", "file", Action.KEPT, result.reason))
    ctx.output = output  # where a format that writes a folder beside its file (MRXS) puts it
    if options.in_place:
        result.findings += _other_links(item.input)
    doc.prepare(ctx)
    own = () if options.rename else doc.identifiers()  # whose file it is, for its name: before the scrub
    result.findings += doc.scrub_metadata(ctx)
    stages: list[str] = []
    redacted: dict[int, list] = {}
    if options.pixel_stages or (ctx.review is not None and ctx.review.decision.hide):  # reviewer's boxes too
        found, redacted, stages = _detect_all(doc, ctx, redact=True)
        result.findings += found
        _static_lines(source, doc, ctx, result, redacted)
        result.findings += doc.pixels_verified(stages, ctx)
    if options.dry_run:  # what would be removed and redacted; nothing written
        names = [] if options.rename else _name_findings(item, Action.KEPT, own, ctx)
        result.findings += names
        result.status, result.output, result.reason = Status.PLANNED, str(output), "dry run: nothing written"
        if names and not options.keep_names:
            result.reason += f"; {NAME_KEPT}"
        return
    mode = None if options.in_place else mode_like(item.input)  # in place: the original's mode stays
    out = _stage_in_folder(output, mode, item)  # committed with its group by process_chunk; run() syncs
    streaming = _streaming(source)
    try:
        for round_ in range(MAX_REDACTION_ROUNDS):
            written = _write(doc, out, ctx, streaming=streaming)
            leftovers, pixel_leftovers = _verify(written, ctx, redacted)
            if not leftovers:
                break
            fixable = not any(f.stage in HEADER_STAGES for f in leftovers)
            if round_ == MAX_REDACTION_ROUNDS - 1 or not fixable:
                raise VerificationFailed(_refusal(leftovers))
            _redact_leftovers(doc, pixel_leftovers, ctx, result, redacted, source)
        names = [] if options.rename else _name_findings(item, Action.KEPT, own, ctx)
        result.findings += names
        result.findings += _fuzz_sidecars(item.input, output, ctx)
    except OSError as exc:
        discard(out)
        if exc.filename is None:  # a write that failed (a full disk): name the output, not the input
            raise OSError(exc.errno, exc.strerror, str(output)) from exc
        raise
    except BaseException:
        discard(out)
        raise
    result.status, result.output = Status.SAFE, str(output)
    if options.pixel_stages:  # check must agree with what verification found in these very pixels
        _remember_verified(written, doc.format, ctx)
    if names and not options.keep_names:  # what check would say of the output: scrub must agree
        result.status, result.reason = Status.UNSAFE, NAME_KEPT
    staged.append((out, result))  # the status holds once commit() has put the file at its final name


NAME_KEPT = "identifying file or folder name kept: use --rename (or --keep-names to keep it on purpose)"


def open_input(source: Source, options: Options) -> Document:
    """Open an input, refusing first, from its size alone, a file held in memory whole that is larger
    than any picture within ``--max-pixels`` could be: never read 2 GB to refuse them afterwards."""
    spec = detect(source.head())
    if spec is not None and not spec.streaming:
        size = source.path.stat().st_size
        limit = options.max_pixels * MAX_BYTES_PER_PIXEL + MAX_METADATA_BYTES
        if size > limit:
            raise TooLarge(
                f"{spec.name} file of {size} bytes: larger than any picture within the limit of "
                f"{options.max_pixels} pixels could be ({limit} bytes; raise --max-pixels to allow it)"
            )
    return open_document(source)


# 16-bit RGBA stored uncompressed is 8 bytes a pixel; metadata, previews and padding get 64 MiB more.
MAX_BYTES_PER_PIXEL = 8
MAX_METADATA_BYTES = 64 << 20


def _stage_in_folder(output: Path, mode: int | None, item: Planned) -> Staged:
    """Stage the output, creating its folder the first time it is missing (not a mkdir per file); its
    rename replaces only what ``deident.outputs.settle`` allowed (``item.replaces``, ``item.overwrite``)."""
    how = {"replaces": item.replaces, "overwrite": item.overwrite, "source": item.input}
    try:
        return stage(output, mode, **how)
    except FileNotFoundError:
        output.parent.mkdir(parents=True, exist_ok=True)
        return stage(output, mode, **how)


def _streaming(source: Source) -> bool:
    spec = detect(source.head())
    return bool(spec and spec.streaming)


def _write(doc: Document, out: Staged, ctx: Context, *, streaming: bool) -> Source:
    """Write the output under its temporary name; return it for verification.

    No flush here: ``commit`` flushes the group before any rename. In-memory
    formats are verified from the very bytes written (reading them back from the page cache would only
    copy them again); streaming formats (whole-slide images) are re-opened from disk.
    """
    temp = out.temp
    with out.writer() as fh:
        if streaming:
            doc.write(fh, ctx)
            data = None
        else:
            data = doc.to_bytes(ctx)
            fh.write(data)
    return Source(temp) if data is None else Source.written(temp, data)


# ---------------------------------------------------------------- pixel stages


def _detectors(ctx: Context, only: list | None = None):
    """The run's detectors (or ``only`` these), each loaded."""
    from deident.stages import detectors_for

    detectors = detectors_for(ctx.options) if only is None else only
    for d in detectors:
        d.ensure_available()
    return detectors


def _detect_all(
    doc: Document,
    ctx: Context,
    *,
    redact: bool,
    detectors: list | None = None,
    frames: Iterable | None = None,
):
    """Run every pixel stage (or ``detectors``) over every frame (or ``frames``, the document's already
    taken); redact in place when asked. A check's gate (``Context.gate``) stops at the first frame with a
    finding: a cine refused by its first frame is not looked at through its other 119.

    Returns (findings, {frame index: regions redacted}, stage names).
    """
    from deident.stages import redactions_for

    detectors = _detectors(ctx, detectors)
    findings: list[Finding] = []
    redacted: dict[int, list] = {}
    taken = doc.frames(ctx) if frames is None else frames
    looked = detect_frames(taken, detectors, ctx, total=doc.frame_count(), ahead=doc.frames_ahead())
    with contextlib.closing(looked):  # a break stops the frames taken ahead
        for frame, regions in looked:
            regions, kept = _reviewed(frame, regions, ctx)
            findings += kept
            if not regions:
                continue
            action = Action.REDACTED if redact else Action.FOUND
            reported = regions
            if frame.revealed and frame.index in redacted:  # redacted all the same: only the report is spared
                reported = _adding_to(regions, redacted[frame.index], frame.rgb.shape)
            findings += [_region_finding(frame.where, r, action, ctx, frame.index) for r in reported]
            if ctx.gate and not redact:
                break
            if redact:
                findings += doc.redact(frame.index, redactions_for(regions, ctx.options), ctx)
                # One picture can be shown more than once (DICOM windows, an alpha plane): what each view
                # found was redacted, so verification must know all of it.
                redacted.setdefault(frame.index, []).extend(regions)
    return findings, redacted, [d.name for d in detectors]


# A further rendering of a picture (local contrast) finds again the lines its displayed rendering found,
# its quad tilted otherwise (4 px higher at one end of a 32-px line): a region that reaches no further than
# this share of its height (and SAME_REGION_PX at least) beyond what was redacted is no finding of its own.
SAME_REGION_SHARE = 0.25
SAME_REGION_PX = 3.0


def _adding_to(regions: list, redacted: list, shape) -> list:
    """The regions that reach beyond ``redacted``: a line found again is not reported twice, while one
    found longer ("+44" before a phone number the first look found) is. Every region is redacted: on
    bench_recall's grey seeds, dropping those that reached 6 px past a fill left a name's edge legible."""
    import cv2
    import numpy as np

    from deident.regions import polygon_mask

    outside = (~polygon_mask(shape, redacted)).astype(np.uint8)
    away = cv2.distanceTransform(outside, cv2.DIST_L2, 3)  # px from the nearest redacted pixel
    kept = []
    for r in regions:
        height = min(cv2.minAreaRect(np.array(r.polygon, np.float32))[1])
        mask = polygon_mask(shape, [r])
        if mask.any() and away[mask].max() > max(SAME_REGION_PX, SAME_REGION_SHARE * height):
            kept.append(r)
    return kept


def _region_finding(where: str, region, action: Action, ctx: Context, frame: int) -> Finding:
    from deident.stages import style_for

    stage, reason = REGION_STAGES[region.kind]
    detail = region.label or region.kind
    if action is Action.REDACTED:
        detail = f"{detail} ({style_for(region, ctx.options)})"
    area = Area(frame, region.polygon)
    where = f"{where} box {region.describe()}"
    return Finding(stage, f"{stage}.{region.kind}", where, action, detail, area, reason=reason)


# A region's kind (what its detector saw, or a reviewer's box to hide) -> its finding's stage and reason.
REGION_STAGES: dict[str, tuple[Stage, Reason | None]] = {
    "face": (Stage.FACES, Reason.FACE),
    "eyes": (Stage.FACES, Reason.EYES),
    "text": (Stage.TEXT, Reason.TEXT),
    "barcode": (Stage.BARCODE, Reason.BARCODE),
    "hide": (Stage.USER, None),  # the reviewer's own label says why
}


def _reviewed(frame, regions: list, ctx: Context) -> tuple[list, list[Finding]]:
    """Apply the reviewer's decisions to one frame: kept detections out (reported as kept), boxes to
    hide in (redacted like any region, reported under the ``user`` stage)."""
    if ctx.review is None:
        return regions, []
    regions, kept = ctx.review.split(frame.index, regions, frame.where)
    height, width = frame.rgb.shape[:2]
    return regions + ctx.review.hides(frame.index, width, height), kept


Leftovers = dict[int, tuple[str, list]]  # frame index -> (where, regions still found)


def _verify(written: Source, ctx: Context, redacted: dict[int, list]) -> tuple[list[Finding], Leftovers]:
    """Re-open what was written: metadata must be gone; redacted frames must show nothing any more.

    Returns every leftover as a finding, and the pixel leftovers as regions of the written frames: the
    written pixels can differ from the in-memory ones (JPEG redaction grows to whole blocks), so a second
    round must redact what the output shows, not what memory shows. Text or a code found (almost) wholly
    inside what the pipeline itself just blurred or filled is the redaction seen again, not a leftover.
    """
    doc = open_document(written)
    leftovers = [f for f in doc.metadata_findings() if not _unlooked_pixels(f, ctx)]
    regions: Leftovers = {}
    if redacted:
        chosen = (f for f in doc.frames(ctx) if f.index in redacted)
        ahead = doc.frames_ahead()
        looked = detect_frames(chosen, _detectors(ctx), ctx, verifying=True, total=len(redacted), ahead=ahead)
        for frame, found in looked:
            where = frame.where
            kept = unchanged_kept(frame, redacted[frame.index])
            found = _outside_redactions(found, redacted[frame.index], frame.rgb.shape, kept)
            found = _read_beside_redactions(found, redacted[frame.index], frame, ctx)
            if ctx.review is not None:  # what the reviewer kept visible does not fail the file
                found = ctx.review.visible(frame.index, found)
            if found:  # a picture can be shown twice (colours, alpha): its leftovers add up
                regions[frame.index] = (where, regions.get(frame.index, ("", []))[1] + found)
                leftovers += [_region_finding(where, r, Action.FOUND, ctx, frame.index) for r in found]
    return leftovers, regions


# A text or code detection with at least this share of its area inside regions the pipeline redacted is
# the redaction itself: blurred heads read as "text" to the DB detector (a two-person photo and a dog
# photo of ../shared's real-world set were refused that way), and a blurred or filled area holds nothing
# legible by construction. Faces found again are never excused: a face seen through its blur is a leak.
# For text, the lines the detection pass read whole and judged harmless (PHI mode), where the output
# still shows their very pixels, count as covered too: verification looks at crops around each fill,
# which cut such a line off, and the cut line reads as something else ("6,001,271.61" read whole at 1.00,
# "6,001 271 61" in a crop: an ID, filled in a second round).
INSIDE_REDACTION = 0.8


def _outside_redactions(found: list, redacted: list, shape, kept_lines: list = ()) -> list:
    from deident.regions import polygon_mask

    if not (redacted or kept_lines) or not found:
        return found
    covered = polygon_mask(shape, redacted)
    read = covered | polygon_mask(shape, kept_lines) if kept_lines else covered
    out = []
    for r in found:
        if r.kind in ("text", "barcode"):
            own = polygon_mask(shape, [r])
            area = int(own.sum())
            if area and (own & (read if r.kind == "text" else covered)).sum() >= INSIDE_REDACTION * area:
                continue
        out.append(r)
    return out


def _read_beside_redactions(found: list, redacted: list, frame, ctx: Context) -> list:
    """Text that verification finds counts only when it reads as text or shows the strokes of print.

    Verification looks at small crops around what the pipeline changed, and the detector takes a fresh
    redaction in such a crop for text: a face with a black bar across it (2008_002470.jpg of ../shared's
    real-world set: a 33x17 bar inside an 80x39 "line", filled again over the whole face), or the border
    between a white label and black foam under two fills (easyocr_Photo-8.jpg: 360x23 and 154x19
    "lines" that read as nothing, 0.39 and 0.31, with no strokes, filled: 1.3 % of the frame). Across a
    face the evidence is two letters or digits read confidently, or strokes; elsewhere two at half
    confidence, or strokes. One letter no longer counts: on Photo-8 (with JPEG fills that followed their
    polygons inside blocks, a variant not kept) five fresh fills of small print read as a "C" (0.75) and a
    car maker's winged logo beside a label's fills as a "B" (0.75, no strokes), and both were filled in a
    second round (2.26 % of the frame changed outside the text instead of 0.62 %); with one letter,
    korean.png came out at 3.18 % changed outside its text, with two under 1 %. A glyph a first fill
    left, in the detector's tight quad, still shows the strokes of print (tests/test_realworld.py); only
    a lone glyph read in a loose quad, with little ink in it, no longer counts.
    """
    faces = [r for r in redacted if r.kind in ("face", "eyes")]
    texts = [r for r in found if r.kind == "text"]
    if not (redacted and texts):
        return found
    from deident.regions import polygon_mask
    from deident.text import reads_as_text
    from deident.text.evidence import INSIDE_MIN_SCORE, TALL_LINE_MIN_SCORE

    shape = frame.rgb.shape
    face_mask = polygon_mask(shape, faces) if faces else None  # once per frame, not once per region
    unread = set()
    for r in texts:
        across = face_mask is not None and bool((polygon_mask(shape, [r]) & face_mask).any())
        if not reads_as_text(frame.rgb, r, ctx.options, TALL_LINE_MIN_SCORE if across else INSIDE_MIN_SCORE):
            unread.add(id(r))
    return [r for r in found if id(r) not in unread]


def _refusal(leftovers: list[Finding]) -> str:
    """Why a file is refused: which region, which stage, and what the user can do about it."""
    pixel = [f for f in leftovers if f.stage not in HEADER_STAGES]
    parts = sorted({f"{f.stage}: {f.detail or f.kind} at {f.where}" for f in leftovers})
    hint = ""
    if any(f.stage is Stage.TEXT for f in pixel):
        hint = (
            " — if that is not identifying text, leave it with --keep-text REGEX (or --text phi for "
            "harmless words), or mark it 'keep visible' on a --review page and scrub again with "
            "--decisions; then check the output by eye"
        )
    elif pixel:
        hint = " — check the region by eye; scrub with a stronger --faces style (fill) to hide it"
    elif any(f.kind == "dicom.BurnedInAnnotation" for f in leftovers):  # left by --text off only
        hint = " — scrub with the text stage on (without --text off) to find and redact that text"
    return "output still carries identifiers after scrub: " + "; ".join(parts) + hint


def _unlooked_pixels(finding: Finding, ctx: Context) -> bool:
    """With the text stage off, a DICOM's "pixel data not verified clean" is the user's choice, said of the
    file by ``not_checked`` as of a photo: ``check --text off`` failed every DICOM scrubbed with --text off
    (exit 1) while it passed the same picture as a PNG. A header that declares text burned in
    (BurnedInAnnotation=YES) is evidence already read, not a look left out: it fails the file in a check
    and in a scrub's verification alike (a scrub with --text off called such a file safe, and a check of
    its output refused it)."""
    return ctx.options.text.value == "off" and finding.kind == "dicom.pixels-unverified"


def _redact_leftovers(
    doc: Document, leftovers: Leftovers, ctx: Context, result, redacted: dict, source: Source
) -> None:
    """A second round over what verification still saw in the output, grown a little further, on every
    frame of a multi-frame picture that shows the very same line (``_on_frames_showing_them``)."""
    from deident.stages import redactions_for

    wheres = {index: where for index, (where, _) in leftovers.items()}
    found = {index: regions for index, (_, regions) in leftovers.items()}
    for index, more in _on_frames_showing_them(source, doc, found, ctx).items():
        found[index] = found.get(index, []) + more
    for index, regions in sorted(found.items()):
        where = wheres.get(index, f"frame {index}")
        grown = [r.grown(max(4.0, 0.25 * (r.bbox()[3] - r.bbox()[1]))) for r in regions]
        result.findings += doc.redact(index, redactions_for(grown, ctx.options), ctx)
        result.findings += [_region_finding(where, r, Action.REDACTED, ctx, index) for r in grown]
        redacted.setdefault(index, []).extend(grown)


def _static_lines(source: Source, doc: Document, ctx: Context, result, redacted: dict) -> None:
    """Every frame of a multi-frame picture that shows a line found in another frame gets it redacted too.

    A cine's frames are looked at where they changed, and a faint static label is found in some crops
    only: on pydicom-data's 30-frame echo examples_ybr_color.dcm the "A" marker beside its icon was
    filled on frame 16 alone, and the other 29 frames kept it."""
    from deident.stages import redactions_for

    if ctx.review is not None:  # the reviewer decided frame by frame what stays visible
        return
    found = {index: regions for index, regions in redacted.items()}
    for index, more in _on_frames_showing_them(source, doc, found, ctx).items():
        result.findings += doc.redact(index, redactions_for(more, ctx.options), ctx)
        result.findings += [_region_finding(f"frame {index}", r, Action.REDACTED, ctx, index) for r in more]
        redacted.setdefault(index, []).extend(more)


def _on_frames_showing_them(
    source: Source, doc: Document, found: dict[int, list], ctx: Context
) -> dict[int, list]:
    """``frames_cache.shown_on_other_frames`` over the input's frames (decoded only when a text line was
    found on a multi-frame picture)."""
    from deident.frames_cache import shown_on_other_frames

    if (doc.frame_count() or 1) < 2:
        return {}
    return shown_on_other_frames(open_input(source, ctx.options).frames(ctx), found)


# ---------------------------------------------------------------- names and captions


def _name_findings(
    item: Planned, action: Action = Action.FOUND, own: Iterable[str] = (), ctx=None
) -> list[Finding]:
    """Identifying parts of the file's and its folders' names: by their shape, and where they hold one of
    the file's ``own`` identifiers (from its headers, read before the scrub) or the batch's deny-list.

    Only the names a user shares are judged (``Planned.shown``): a check's argument as given, a scrub's
    output below ``-o``; a folder above them is never shared, and scrub and check of its output agree."""
    from deident.denylist import DenyList, collect_from_path, deny_list_for, in_file_set, terms_in_path

    path = item.shown or item.input
    parts = collect_from_path(path, in_file_set(item.input))
    batch = deny_list_for(ctx.deny_terms) if ctx is not None and ctx.deny_terms else DenyList()
    parts += [p for p in terms_in_path(path, deny_list_for(tuple(own)), batch) if p not in parts]
    return [
        Finding(
            Stage.FILENAME,
            "filename.identifier",
            str(item.input),
            action,
            f"identifying file or folder name part ({len(p)} chars)"
            + (" kept: use --rename" if action is Action.KEPT else ""),
            reason=Reason.NAME,
        )
        for p in parts
    ]


def _caption_findings(path: Path, own: tuple[str, ...] = ()) -> list[Finding]:
    """What the caption rules find in the captions beside ``path``, and the image's ``own`` identifiers
    (its headers' names, the batch's deny-list) written there, which a scrub cuts (``fuzz_sidecar``)."""
    from deident.history import find_sidecars

    found: list[Finding] = []
    for sidecar in find_sidecars(path):
        from deident.history import check_sidecar  # only a file with a caption needs its rules

        found += check_sidecar(sidecar, own)  # one it cannot read fails the file
    return found


def _other_links(path: Path) -> list[Finding]:
    """``--in-place`` replaces this name's file; other hard links to it keep the original, identifying
    content, and the user should know."""
    links = os.stat(path).st_nlink - 1
    if links < 1:
        return []
    detail = f"{links} other hard link(s) to this file still hold the original: only this name is scrubbed"
    return [Finding("output", "output.hard-links", str(path), Action.KEPT, detail)]


def _fuzz_sidecars(source: Path, output: Path, ctx: Context) -> list[Finding]:
    if not ctx.options.fuzz_history:
        return []
    from deident.history import FuzzSettings, find_sidecars, fuzz_sidecar

    replace = ctx.options.overwrite or ctx.options.in_place  # in place: the caption is the original's own
    settings = FuzzSettings()
    fuzzed = [
        (
            output.with_name(output.stem + s.suffix),
            *fuzz_sidecar(s, ctx.options.seed, settings, ctx.deny_terms),
        )
        for s in find_sidecars(source)
    ]
    # A rerun's caption is the same bytes (the fuzz is seeded): kept. Any other file there is the user's.
    todo = [(target, data) for target, data, _ in fuzzed if not _holds(target, data)]
    taken = [target for target, _ in todo if not replace and target.exists()]
    if taken:
        raise NameTaken(errno.EEXIST, CAPTION_TAKEN, str(taken[0]))
    for target, data in todo:
        write_bytes_atomic(target, data, overwrite=replace)
    return [f for _, _, changes in fuzzed for f in changes]


CAPTION_TAKEN = "a file has the caption's output name already; left as it is (--overwrite replaces it)"


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


__all__ = ["identifiers_of", "open_input", "process_one"]
