"""The per-file flow, and running it over a batch.

For each file, in this order::

    open_document(Source)            detect the real format by content; parse
    doc.scrub_metadata(ctx)          EXIF/XMP/IPTC/comments/thumbnails, DICOM PS3.15 profile
    pixel stages per frame           barcodes, text, faces -> Regions -> doc.redact(...)
    doc.pixels_verified(...)         e.g. DICOM BurnedInAnnotation=NO + code 113101
    doc.write(temp file)             beside the final name (atomic.stage)
    verify the temp file             re-parse the bytes written: no metadata finding, no pixel leftover
    commit(chunk)                    fsync the chunk's temporaries together, then os.replace each:
                                     a crash never leaves a half-written file at a final name
    sidecar captions                 fuzzed next to the output with --fuzz-history

``check`` runs the same detectors read-only. Any exception from a stage becomes a ``failed`` result with
its reason; other files of the batch go on. A batch first collects identifying values from every file
(headers, names, captions) into a deny-list held in memory, then scrubs with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from deident.atomic import (
    Staged,
    commit,
    discard,
    stage,
    stale_finding,
    start_writeback,
    sweep_stale,
    sync_dirs,
    write_bytes_atomic,
)
from deident.errors import DeidentError, VerificationFailed
from deident.findings import Action, FileResult, Finding, Status
from deident.formats.base import Context, Document, Source, detect, open_document
from deident.keys import Keyring, load_key
from deident.options import Options
from deident.paths import Planned, plan

MAX_REDACTION_ROUNDS = 3  # redact, re-check the output, redact what is left; then give up (fail closed)

Progress = Callable[[FileResult], None]


# ---------------------------------------------------------------- public entry points


def scrub_paths(paths: Iterable, options: Options | None = None, progress: Progress | None = None):
    return run(paths, options or Options(), read_only=False, progress=progress)


def check_paths(paths: Iterable, options: Options | None = None, progress: Progress | None = None):
    return run(paths, options or Options(), read_only=True, progress=progress)


def prepare_options(options: Options, *, read_only: bool) -> tuple[Options, str | None]:
    """Resolve the key once in the parent process; returns a note for the user when a key was created."""
    if options.key is not None:
        return options, None
    source = load_key(create=not read_only)
    note = f"deident key: {source.origin}" if source.created else None
    return dataclasses.replace(options, key=source.keyring.secret), note


def run(paths: Iterable, options: Options, *, read_only: bool, progress: Progress | None = None):
    options, _ = prepare_options(options, read_only=read_only)
    rename = options.rename and not read_only
    mapping = mapping_path(options) if rename else None  # refuse a bad mapping place before writing
    planned, results = _split_plan(paths, options, read_only)
    if rename:
        planned = [_neutral_name(p, options) for p in planned]
    deny_terms = _collect_deny_terms(planned, options) if _wants_deny_list(options) else ()
    work = [p for p in planned if not p.skip_reason]
    for p in planned:
        if p.skip_reason:
            results.append(FileResult(str(p.input), Status.SKIPPED, reason=p.skip_reason))
    results.extend(_map(_process_chunk, work, options, (read_only, deny_terms), progress))
    order = {str(p.input): i for i, p in enumerate(planned)}
    results.sort(key=lambda r: order.get(r.input, -1))
    sync_dirs(Path(r.output).parent for r in results if r.status is Status.SAFE and r.output)
    if mapping is not None:
        write_mapping(mapping, results)
    return results


def mapping_path(options: Options) -> Path:
    """Where --rename keeps original names: given, or beside (never inside) the output folder."""
    if options.mapping_file:
        out = options.output_dir.resolve() if options.output_dir else None
        if out is not None and options.mapping_file.resolve().is_relative_to(out):
            raise ValueError("the --rename mapping must not be inside the output folder (it names patients)")
        return options.mapping_file
    if options.output_dir is None:
        raise ValueError("--rename needs --output-dir (or a mapping file outside the output folder)")
    out = options.output_dir.resolve()
    return out.parent / f"{out.name}-mapping.csv"


def _neutral_name(item: Planned, options: Options) -> Planned:
    """Flat in the output folder under a keyed hash: folder names can identify a patient too."""
    if item.output is None or item.skip_reason or options.output_dir is None:
        return item
    digest = Keyring(options.key or b"").digest("rename", str(item.input.resolve())).hex()[:16]
    name = digest.translate(_HEX_TO_LETTERS)  # hex digits would make runs of 6+ digits, an "MRN-like" name
    return dataclasses.replace(item, output=options.output_dir / f"{name}{item.input.suffix.lower()}")


_HEX_TO_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def write_mapping(path: Path, results: list[FileResult]) -> None:
    """Private CSV (mode 0600) of original -> neutral names, merged with earlier runs."""
    import csv
    import io

    rows: dict[str, str] = {}
    if path.exists():
        with open(path, newline="", encoding=_NAMES_AS_ON_DISK[0], errors=_NAMES_AS_ON_DISK[1]) as fh:
            rows.update({r["original"]: r["output"] for r in csv.DictReader(fh)})
    rows.update({r.input: r.output for r in results if r.status is Status.SAFE and r.output})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["original", "output"])
    writer.writerows(sorted(rows.items()))
    write_bytes_atomic(path, buf.getvalue().encode(*_NAMES_AS_ON_DISK), mode=0o600)


_NAMES_AS_ON_DISK = ("utf-8", "surrogateescape")  # a non-UTF-8 file name keeps its real bytes


# ---------------------------------------------------------------- batch plumbing


def _split_plan(paths, options: Options, read_only: bool) -> tuple[list[Planned], list[FileResult]]:
    planned: list[Planned] = []
    errors: list[FileResult] = []
    for item in plan(paths, output_dir=options.output_dir, in_place=options.in_place, read_only=read_only):
        if isinstance(item, Planned):
            planned.append(item)
        else:
            errors.append(FileResult(str(item[0]), Status.FAILED, reason=item[1]))
    return planned, errors


def _wants_deny_list(options: Options) -> bool:
    return options.pixel_stages and options.text.value != "off"


def _map(fn, items: list, options: Options, extra: tuple = (), progress: Progress | None = None) -> Iterator:
    """Yield the results of ``fn(chunk, options, *extra)`` over chunks of ``items``, in worker processes
    when jobs > 1.

    Metadata-only files take a millisecond or two, less than a round trip to a worker, so they travel
    in chunks (and a chunk's outputs are committed to disk together); files that go through the pixel
    stages take seconds and travel one by one, which keeps both cores busy to the end. At most
    ``2 * jobs`` chunks are in flight, so memory stays flat however large the batch.
    """
    jobs = max(1, min(options.jobs, len(items)))
    size = 1 if options.pixel_stages else max(1, min(MAX_CHUNK, len(items) // (8 * jobs)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if jobs == 1:
        for chunk in chunks:
            yield from _report(fn(chunk, options, *extra), progress)
        return
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(_start_method(options)),
        initializer=_worker_init,
        initargs=(options.pixel_stages,),
    ) as pool:
        pending: set[Future] = set()
        for chunk in chunks:
            pending.add(pool.submit(fn, chunk, options, *extra))
            if len(pending) >= 2 * jobs:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _drain(done, progress)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from _drain(done, progress)


MAX_CHUNK = 32  # files per worker task (and per disk flush) for metadata-only work


def _start_method(options: Options) -> str:
    """Fork only where nothing has started native thread pools: the OCR and face runtimes have.

    A process that forks while onnxruntime or OpenCV threads hold a lock hands the child that lock,
    locked for ever (seen here: a batch hung after a check had loaded the models in the same process).
    Pixel-stage files take seconds each, so starting clean workers costs nothing that shows.
    """
    if options.pixel_stages or not sys.platform.startswith("linux"):
        return "spawn"
    return "fork"


def _drain(done: set[Future], progress) -> Iterator:
    for fut in done:
        yield from _report(fut.result(), progress)


def _report(results: list, progress) -> Iterator:
    for result in results:
        if progress:
            progress(result)
        yield result


def _worker_init(pixel_stages: bool) -> None:
    # One process per core already; native libraries must not each spawn a thread per core too.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # What the worker starts with (the parent's modules, forked or imported) lives as long as it does:
    # the collector need not walk it again at every full collection (1,500 photos: 16% less CPU).
    gc.freeze()
    if not pixel_stages:
        _keep_freed_memory()
        return  # metadata only: OpenCV is never loaded, so do not pay for importing it
    with contextlib.suppress(ImportError):
        import cv2

        cv2.setNumThreads(1)


def _keep_freed_memory() -> None:
    """Let a metadata-only worker reuse the memory of one file for the next (glibc malloc).

    Each file passes through a few buffers of its own size (read, filtered, compared). By default
    glibc hands buffers that large back to the kernel when they are freed, so every file faulted in
    fresh zeroed pages: half of the batch's system time (measured, 1,500 photos of 470 KB: 1.18 s of
    system time, 0.63 s with this). Pixel-stage workers keep the default: they must give the memory
    of a decoded slide back.
    """
    from deident.libc import linux_call

    mallopt = linux_call("mallopt", "c_int", "c_int")
    if mallopt is None:  # not Linux's glibc: nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # the largest glibc takes; files above it keep their own map
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)  # free memory kept at most: a few files' worth is enough


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h


def _collect_deny_terms(planned: list[Planned], options: Options) -> tuple[str, ...]:
    work = [p for p in planned if not p.skip_reason]
    terms: set[str] = set()
    for found in _map(_identifiers_of_chunk, work, options):
        terms.update(found)
    return tuple(sorted(terms))


def _identifiers_of_chunk(items: list[Planned], options: Options) -> list[list[str]]:
    return [_identifiers_of(item, options) for item in items]


def _identifiers_of(item: Planned, options: Options) -> list[str]:
    values: list[str] = []
    with contextlib.suppress(ImportError):
        from deident.denylist import collect_from_path

        values += collect_from_path(item.input)
    with contextlib.suppress(DeidentError, OSError, ValueError):
        values += open_document(Source(item.input)).identifiers()
    with contextlib.suppress(ImportError, OSError, ValueError):
        from deident.history import find_sidecars, identifiers_in

        for sidecar in find_sidecars(item.input):
            values += identifiers_in(sidecar.read_text(errors="replace"))
    return values


# ---------------------------------------------------------------- one file


def _process_chunk(
    items: list[Planned], options: Options, read_only: bool, deny_terms: tuple[str, ...]
) -> list[FileResult]:
    """Process files and commit their outputs; a result is SAFE once its file is in place.

    Outputs are committed in groups of ``COMMIT_GROUP`` on a background thread while the next group is
    processed, so the wait for the disk overlaps with work; the chunk returns only once every commit
    has settled.
    """
    from concurrent.futures import ThreadPoolExecutor

    results: list[FileResult] = []
    with ThreadPoolExecutor(1, thread_name_prefix="deident-commit") as committer:
        pending = None
        for start in range(0, len(items), COMMIT_GROUP):
            staged: list[tuple[Staged, FileResult]] = []
            for item in items[start : start + COMMIT_GROUP]:
                results.append(_process_one(item, options, read_only, deny_terms, staged))
            if pending is not None:
                pending.result()
            pending = committer.submit(_commit_group, staged) if staged else None
        if pending is not None:
            pending.result()
    return results


COMMIT_GROUP = 8  # outputs flushed and renamed together (their fsyncs run concurrently)


def _commit_group(staged: list[tuple[Staged, FileResult]]) -> None:
    errors = commit([s for s, _ in staged])
    for (s, result), err in zip(staged, errors, strict=True):
        if err is not None:
            result.status, result.output = Status.FAILED, None
            result.reason = f"could not write the output: {err.strerror or err}: {s.final}"
        elif found := stale_finding(s):
            result.findings.append(found)  # temporaries a killed earlier run left beside this output


def _process_one(
    item: Planned,
    options: Options,
    read_only: bool,
    deny_terms: tuple[str, ...],
    staged: list[tuple[Staged, FileResult]],
) -> FileResult:
    ctx = Context(options, Keyring(options.key or b""), deny_terms)
    result = FileResult(str(item.input), Status.FAILED)
    try:
        if read_only:
            _check(item, ctx, result)
        else:
            _scrub(item, ctx, result, staged)
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
        result.status, result.reason = Status.FAILED, f"internal error ({type(exc).__name__}: {exc})"
    return result


def _check(item: Planned, ctx: Context, result: FileResult) -> None:
    doc = open_document(Source(item.input))
    result.format = doc.format
    result.findings += [f.as_found() for f in doc.metadata_findings()]
    result.findings += _name_findings(item.input)
    result.findings += _caption_findings(item.input)
    if ctx.options.pixel_stages:
        result.findings += _detect_all(doc, ctx, redact=False)[0]
    result.status = Status.UNSAFE if result.findings else Status.CLEAN


def _scrub(item: Planned, ctx: Context, result: FileResult, staged: list[tuple[Staged, FileResult]]) -> None:
    options = ctx.options
    assert item.output is not None
    source = Source(item.input)
    doc = open_document(source)
    result.format = doc.format
    output = item.output
    suffix = doc.output_suffix(ctx)
    if suffix:
        output = output.with_suffix(suffix)
    if options.resume and _finished(item.input, output):
        result.status, result.output, result.reason = Status.SKIPPED, str(output), "output already written"
        sweep_stale([output])  # what a killed run left beside a finished output
        return
    result.findings += doc.scrub_metadata(ctx)
    stages: list[str] = []
    redacted: dict[int, list] = {}
    if options.pixel_stages:
        found, redacted, stages = _detect_all(doc, ctx, redact=True)
        result.findings += found
        result.findings += doc.pixels_verified(stages, ctx)
    out = _stage_in_folder(output)  # committed with its group by _process_chunk; run() syncs each folder
    streaming = _streaming(source)
    try:
        for round_ in range(MAX_REDACTION_ROUNDS):
            written = _write(doc, out, ctx, streaming=streaming)
            leftovers, pixel_leftovers = _verify(written, ctx, redacted)
            if not leftovers:
                break
            fixable = not any(f.stage in ("metadata", "dicom") for f in leftovers)
            if round_ == MAX_REDACTION_ROUNDS - 1 or not fixable:
                raise VerificationFailed(_refusal(leftovers))
            _redact_leftovers(doc, pixel_leftovers, ctx, result, redacted)
        if not options.rename:
            result.findings += _name_findings(item.input, Action.KEPT)
        result.findings += _fuzz_sidecars(item.input, output, ctx)
    except BaseException:
        discard(out)
        raise
    result.status, result.output = Status.SAFE, str(output)
    staged.append((out, result))  # SAFE holds once commit() has put the file at its final name


def _stage_in_folder(output: Path) -> Staged:
    """Stage the output, creating its folder the first time it is missing (not a mkdir per file)."""
    try:
        return stage(output)
    except FileNotFoundError:
        output.parent.mkdir(parents=True, exist_ok=True)
        return stage(output)


def _streaming(source: Source) -> bool:
    spec = detect(source.head())
    return bool(spec and spec.streaming)


def _write(doc: Document, out: Staged, ctx: Context, *, streaming: bool) -> Source:
    """Write the output under its temporary name; return it for verification.

    No flush here: the data is only sent on its way; ``commit`` flushes the group before any rename. In-memory
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
    start_writeback(out)  # on its way to disk while the next files are parsed
    return Source(temp) if data is None else Source.written(temp, data)


def _finished(source: Path, output: Path) -> bool:
    """Outputs only ever appear atomically after verification, so one newer than its input is done."""
    try:
        return output.stat().st_mtime >= source.stat().st_mtime and output != source
    except OSError:
        return False


# ---------------------------------------------------------------- pixel stages


def _detectors(ctx: Context):
    from deident.stages import detectors_for

    detectors = detectors_for(ctx.options)
    for d in detectors:
        d.ensure_available()
    return detectors


def _detect_all(doc: Document, ctx: Context, *, redact: bool):
    """Run every pixel stage over every frame; redact in place when asked.

    Returns (findings, {frame index: regions redacted}, stage names).
    """
    from deident.stages import redactions_for

    detectors = _detectors(ctx)
    findings: list[Finding] = []
    redacted: dict[int, list] = {}
    for frame in doc.frames(ctx):
        regions = [r for d in detectors for r in d.detect(frame, ctx)]
        if not regions:
            continue
        action = Action.REDACTED if redact else Action.FOUND
        findings += [_region_finding(frame.label or f"frame {frame.index}", r, action, ctx) for r in regions]
        if redact:
            findings += doc.redact(frame.index, redactions_for(regions, ctx.options), ctx)
            redacted[frame.index] = regions
    return findings, redacted, [d.name for d in detectors]


def _region_finding(where: str, region, action: Action, ctx: Context) -> Finding:
    from deident.stages import style_for

    stage = {"eyes": "faces", "face": "faces"}.get(region.kind, region.kind)
    detail = region.label or region.kind
    if action is Action.REDACTED:
        detail = f"{detail} ({style_for(region, ctx.options)})"
    return Finding(stage, f"{stage}.{region.kind}", f"{where} box {region.describe()}", action, detail)


Leftovers = dict[int, tuple[str, list]]  # frame index -> (where, regions still found)


def _verify(written: Source, ctx: Context, redacted: dict[int, list]) -> tuple[list[Finding], Leftovers]:
    """Re-open what was written: metadata must be gone; redacted frames must show nothing any more.

    Returns every leftover as a finding, and the pixel leftovers as regions of the written frames: the
    written pixels can differ from the in-memory ones (JPEG redaction grows to whole blocks), so a second
    round must redact what the output shows, not what memory shows. Text or a code found (almost) wholly
    inside what the pipeline itself just blurred or filled is the redaction seen again, not a leftover.
    """
    doc = open_document(written)
    leftovers = [f for f in doc.metadata_findings() if not _is_pixel_notice(f, ctx)]
    regions: Leftovers = {}
    if redacted:
        for frame in doc.frames(ctx):
            if frame.index not in redacted:
                continue
            where = frame.label or f"frame {frame.index}"
            found = [r for d in _detectors(ctx) for r in _verification_regions(d, frame, ctx)]
            found = _outside_redactions(found, redacted[frame.index], frame.rgb.shape)
            if found:
                regions[frame.index] = (where, found)
                leftovers += [_region_finding(where, r, Action.FOUND, ctx) for r in found]
    return leftovers, regions


# A text or code detection with at least this share of its area inside regions the pipeline redacted is
# the redaction itself: blurred heads read as "text" to the DB detector (a two-person photo and a dog
# photo of ../shared's real-world set were refused that way), and a blurred or filled area holds nothing
# legible by construction. Faces found again are never excused: a face seen through its blur is a leak.
INSIDE_REDACTION = 0.8


def _outside_redactions(found: list, redacted: list, shape) -> list:
    from deident.regions import polygon_mask

    if not redacted or not found:
        return found
    covered = polygon_mask(shape, redacted)
    kept = []
    for r in found:
        if r.kind in ("text", "barcode"):
            own = polygon_mask(shape, [r])
            area = int(own.sum())
            if area and (own & covered).sum() >= INSIDE_REDACTION * area:
                continue
        kept.append(r)
    return kept


def _refusal(leftovers: list[Finding]) -> str:
    """Why a file is refused: which region, which stage, and what the user can do about it."""
    pixel = [f for f in leftovers if f.stage not in ("metadata", "dicom")]
    parts = sorted({f"{f.stage}: {f.detail or f.kind} at {f.where}" for f in leftovers})
    hint = ""
    if any(f.stage == "text" for f in pixel):
        hint = (
            " — if that is not identifying text, leave it with --keep-text REGEX (or --text phi for "
            "harmless words), then check the output by eye"
        )
    elif pixel:
        hint = " — check the region by eye; scrub with a stronger --faces style (fill) to hide it"
    return "output still carries identifiers after scrub: " + "; ".join(parts) + hint


def _verification_regions(detector, frame, ctx: Context):
    verify = getattr(detector, "verify", None)  # a stage may define what "nothing left" means (eye bars)
    return verify(frame, ctx) if verify else detector.detect(frame, ctx)


def _is_pixel_notice(finding: Finding, ctx: Context) -> bool:
    """With the text stage off the user chose not to clean pixels: that notice must not fail the file."""
    return ctx.options.text.value == "off" and finding.kind in PIXEL_NOTICE_KINDS


PIXEL_NOTICE_KINDS = {"dicom.pixels-unverified", "dicom.BurnedInAnnotation"}


def _redact_leftovers(doc: Document, leftovers: Leftovers, ctx: Context, result, redacted: dict) -> None:
    """A second round over what verification still saw in the output, grown a little further."""
    from deident.stages import redactions_for

    for index, (where, regions) in leftovers.items():
        grown = [r.grown(max(4.0, 0.25 * (r.bbox()[3] - r.bbox()[1]))) for r in regions]
        result.findings += doc.redact(index, redactions_for(grown, ctx.options), ctx)
        result.findings += [_region_finding(where, r, Action.REDACTED, ctx) for r in grown]
        redacted.setdefault(index, []).extend(grown)


# ---------------------------------------------------------------- names and captions


def _name_findings(path: Path, action: Action = Action.FOUND) -> list[Finding]:
    try:
        from deident.denylist import collect_from_path
    except ImportError:
        return []
    parts = collect_from_path(path)
    return [
        Finding(
            "filename",
            "filename.identifier",
            str(path),
            action,
            f"identifying file or folder name part ({len(p)} chars)"
            + (" kept: use --rename" if action is Action.KEPT else ""),
        )
        for p in parts
    ]


def _caption_findings(path: Path) -> list[Finding]:
    try:
        from deident.history import check_caption, find_sidecars
    except ImportError:
        return []
    found: list[Finding] = []
    for sidecar in find_sidecars(path):
        for f in check_caption(sidecar.read_text(errors="replace")):
            found.append(dataclasses.replace(f, where=f"{sidecar.name}: {f.where}"))
    return found


def _fuzz_sidecars(source: Path, output: Path, ctx: Context) -> list[Finding]:
    if not ctx.options.fuzz_history:
        return []
    from deident.history import FuzzSettings, find_sidecars, fuzz_sidecar

    findings: list[Finding] = []
    for sidecar in find_sidecars(source):
        data, changes = fuzz_sidecar(sidecar, ctx.options.seed, FuzzSettings())
        target = output.with_name(output.stem + sidecar.suffix)
        write_bytes_atomic(target, data)
        findings += changes
    return findings


__all__ = ["check_paths", "prepare_options", "run", "scrub_paths"]
