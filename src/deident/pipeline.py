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
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from deident.atomic import (
    Staged,
    commit,
    discard,
    mode_like,
    stage,
    stale_finding,
    sweep_stale,
    sync_dirs,
    write_bytes_atomic,
)
from deident.errors import DeidentError, Interrupted, TooLarge, UnsupportedFormat, VerificationFailed
from deident.findings import Action, Area, FileResult, Finding, Status
from deident.formats.base import Context, Document, Source, detect, open_document
from deident.frames_cache import detect_frames, unchanged_kept
from deident.keys import Keyring, load_key
from deident.options import Options
from deident.outputs import made_by, record, settle
from deident.paths import IMAGE_SUFFIXES, Planned, plan

MAX_REDACTION_ROUNDS = 3  # redact, re-check the output, redact what is left; then give up (fail closed)

Progress = Callable[[FileResult], None]


# ---------------------------------------------------------------- public entry points


def scrub_paths(paths: Iterable, options: Options | None = None, progress: Progress | None = None):
    return run(paths, options or Options(), read_only=False, progress=progress)


def check_paths(paths: Iterable, options: Options | None = None, progress: Progress | None = None):
    return run(paths, options or Options(), read_only=True, progress=progress)


def prepare_options(options: Options, *, read_only: bool) -> tuple[Options, str | None]:
    """Resolve the key once in the parent process; returns a note for the user when a key was created, or
    when its file is readable by others."""
    if options.key is not None:
        return options, None
    source = load_key(create=not read_only)
    created = source.created and not read_only  # a check creates no key: nothing to keep private
    note = f"deident key: {source.origin}" if created else (source.warning or None)
    return dataclasses.replace(options, key=source.keyring.secret), note


def run(paths: Iterable, options: Options, *, read_only: bool, progress: Progress | None = None):
    """Every file's result, in the order given. A scrub first settles where each output goes (see
    ``deident.outputs``): ``BatchRefused`` before anything is written when the batch would lose or
    overwrite a file. Ctrl-C raises ``Interrupted`` with the results of the files that finished."""
    if options.scheduler:  # the same batch, its phases mapped on a Dask cluster (deident.cluster)
        from deident.cluster import on_cluster

        return on_cluster(_run_batch, paths, options, read_only=read_only, progress=progress)
    return _run_batch(paths, options, read_only=read_only, progress=progress)


def _run_batch(paths: Iterable, options: Options, *, read_only: bool, progress: Progress | None = None):
    options, _ = prepare_options(options, read_only=read_only)
    rename = options.rename and not read_only
    mapping = mapping_path(options) if rename else None  # refuse a bad mapping place before writing
    planned, results = _split_plan(paths, options, read_only)
    if rename:
        planned = [_neutral_name(p, options) for p in planned]
    for p in planned:
        if p.skip_reason:
            results.append(FileResult(str(p.input), Status.SKIPPED, reason=p.skip_reason))
    work = [p for p in planned if not p.skip_reason]
    if not read_only:
        work = _settle(_converted_names(work, options), options, results)
    for result in results if progress else ():  # the bar counts every row of the summary
        progress(result)
    try:
        deny_terms = _collect_deny_terms(planned, options) if _wants_deny_list(options) else ()
        for result in _map(_process_chunk, work, options, (read_only, deny_terms), progress):
            results.append(result)
    except Interrupted as exc:
        results.extend(exc.results)
        interrupted = True
    except KeyboardInterrupt:
        interrupted = True
    else:
        interrupted = False
    order = {str(p.input): i for i, p in enumerate(planned)}
    results.sort(key=lambda r: order.get(r.input, -1))
    sync_dirs(Path(r.output).parent for r in results if r.written)
    if mapping is not None:
        if not options.dry_run:
            write_mapping(mapping, results)
        results = [_neutral_report(r, options) for r in results]
    _after_review(results, options, read_only)
    if interrupted:
        raise Interrupted(results)
    return results


def _settle(work: list[Planned], options: Options, results: list[FileResult]) -> list[Planned]:
    """What may be written (see ``deident.outputs.settle``); what is left as it is goes into ``results``."""
    settled = settle(work, options)
    for item, reason in settled.done:
        output = str(item.output) if item.output and item.output != item.input else None
        results.append(FileResult(str(item.input), Status.SKIPPED, output=output, reason=reason))
    results.extend(FileResult(str(item.input), Status.FAILED, reason=why) for item, why in settled.refused)
    sweep_stale(item.output for item, _ in settled.done if item.output)  # what a killed run left beside
    return settled.work


def _converted_names(work: list[Planned], options: Options) -> list[Planned]:
    """With ``--format``, an output's extension is the new format's: known before anything is written, so
    that ``a.heic`` and ``a.png`` converted beside each other are seen to collide."""
    if not options.output_format:
        return work
    ctx = Context(options, Keyring(options.key or b""), ())
    converted = []
    for item in work:
        suffix = None
        with contextlib.suppress(DeidentError, OSError, ValueError):  # the file fails later, with its reason
            suffix = open_input(Source(item.input), options).output_suffix(ctx)
        if suffix and item.output is not None:
            item = dataclasses.replace(item, output=item.output.with_suffix(suffix))
        converted.append(item)
    return converted


def _after_review(results: list[FileResult], options: Options, read_only: bool) -> None:
    """--review: the page, once every thumbnail is made; --decisions: the outputs' kept regions written
    to ``NAME-outputs.json`` beside the reviewer's file (never rewritten), so that ``check --decisions``
    of the outputs honours them. Neither changes what the outputs are: a failure here is a warning, and
    the run's results stand."""
    import warnings

    try:
        if options.review_dir is not None:
            from deident.review import write_page

            write_page(results, options.review_dir, options.review_outputs_only)
        writes = not (read_only or options.dry_run)
        if options.decisions is not None and options.decisions.source is not None and writes:
            from deident.review.decisions import with_outputs

            updated = with_outputs(options.decisions, results)
            if updated is not None:
                write_bytes_atomic(updated.source, (updated.to_json() + "\n").encode(), mode=0o600)
    except OSError as exc:
        warnings.warn(f"review page or decisions file not written: {exc}", stacklevel=1)


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
    return dataclasses.replace(item, output=options.output_dir / neutral_label(item.input, options))


def neutral_label(path: Path, options: Options) -> str:
    digest = Keyring(options.key or b"").digest("rename", str(path.resolve())).hex()[:16]
    name = digest.translate(_HEX_TO_LETTERS)  # hex digits would make runs of 6+ digits, an "MRN-like" name
    return f"{name}{path.suffix.lower()}"


def _neutral_report(result: FileResult, options: Options) -> FileResult:
    """With --rename the report names inputs only by their neutral names (the mapping says the rest):
    the input path and name are replaced wherever the result quotes them, and so is the name of a
    caption beside the input (``NAME.txt: …``)."""
    path = Path(result.input)
    label = neutral_label(path, options)
    quoted = sorted({result.input, path.name} - {""}, key=len, reverse=True)

    def neutral(text: str) -> str:
        for q in quoted:
            text = text.replace(q, label)
        return text

    def where(f: Finding) -> str:
        if f.stage == "caption" and f.where.startswith(path.stem + "."):
            return Path(label).stem + f.where[len(path.stem) :]
        return neutral(f.where)

    findings = [dataclasses.replace(f, where=where(f), detail=neutral(f.detail)) for f in result.findings]
    return dataclasses.replace(result, input=label, reason=neutral(result.reason), findings=findings)


_HEX_TO_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def write_mapping(path: Path, results: list[FileResult]) -> None:
    """Private CSV (mode 0600) of original -> neutral names, merged with earlier runs."""
    import csv
    import io

    rows: dict[str, str] = {}
    if path.exists():
        with open(path, newline="", encoding=_NAMES_AS_ON_DISK[0], errors=_NAMES_AS_ON_DISK[1]) as fh:
            rows.update({r["original"]: r["output"] for r in csv.DictReader(fh)})
    rows.update({r.input: r.output for r in results if r.written and r.output})
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
    if options.scheduler:
        from deident.cluster import map_chunks

        yield from map_chunks(fn, items, options, extra, progress)
        return
    jobs = max(1, min(options.jobs, len(items)))
    options = dataclasses.replace(options, jobs=jobs)  # the workers really running share out the cores
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
        try:
            for chunk in chunks:
                pending.add(pool.submit(fn, chunk, options, *extra))
                if len(pending) >= 2 * jobs:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from _drain(done, progress)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _drain(done, progress)
        except KeyboardInterrupt:
            yield from _finish_started(pending, progress)
            raise


def _finish_started(pending: set[Future], progress) -> Iterator:
    """Ctrl-C: drop the chunks not started; let the started ones finish (workers ignore SIGINT), so every
    output in place is reported. A second Ctrl-C stops the wait."""
    started = {fut for fut in pending if not fut.cancel()}
    wait(started)
    yield from _drain({f for f in started if f.exception() is None}, progress)


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
    with contextlib.suppress(ValueError):  # not the main thread (a Dask worker's setup): not ours to set
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    # One process per core already; native libraries must not each spawn a thread per core too.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if not pixel_stages:
        return  # metadata only: OpenCV is never loaded, so do not pay for importing it
    with contextlib.suppress(ImportError):
        import cv2

        cv2.setNumThreads(1)


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
        values += open_input(Source(item.input), options).identifiers()
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
    made = made_by(options)
    with ThreadPoolExecutor(1, thread_name_prefix="deident-commit") as committer:
        pending, staged, submitted = None, [], 0  # submitted: results whose group went to the committer
        try:
            for start in range(0, len(items), COMMIT_GROUP):
                staged = []
                for item in items[start : start + COMMIT_GROUP]:
                    results.append(_process_one(item, options, read_only, deny_terms, staged))
                if pending is not None:
                    pending.result()
                pending = committer.submit(_commit_group, staged, made) if staged else None
                submitted = len(results)
        except KeyboardInterrupt:  # in-process only (workers ignore SIGINT): keep what is committed
            if submitted < len(results):
                for s, _ in staged:  # verified but never renamed into place
                    discard(s)
            if pending is not None:
                pending.result()
            raise Interrupted(results[:submitted]) from None
        if pending is not None:
            pending.result()
    return results


COMMIT_GROUP = 8  # outputs flushed and renamed together (their fsyncs run concurrently)


def _commit_group(staged: list[tuple[Staged, FileResult]], made) -> None:
    errors = commit([s for s, _ in staged], before_rename=lambda group: _journal(group, made))
    for (s, result), err in zip(staged, errors, strict=True):
        if err is not None:
            result.status, result.output = Status.FAILED, None
            result.reason = f"could not write the output: {err.strerror or err}: {s.final}"
        elif found := stale_finding(s):
            result.findings.append(found)  # temporaries a killed earlier run left beside this output


def _journal(group, made) -> None:
    """Record what made each output, once its data is on disk and before its rename (deident.outputs)."""
    record([(s.final, s.fd, s.temp) for s in group], made)


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
    doc = open_input(Source(item.input), ctx.options)
    result.format = doc.format
    doc.check_size(ctx)
    doc.prepare(ctx)
    result.findings += [f.as_found() for f in doc.metadata_findings()]
    result.findings += _name_findings(item.input)
    result.findings += _caption_findings(item.input)
    if ctx.options.pixel_stages:
        result.findings += _detect_all(doc, ctx, redact=False)[0]
    unsafe = any(f.action is not Action.KEPT for f in result.findings)  # what a reviewer kept is no finding
    result.status = Status.UNSAFE if unsafe else Status.CLEAN


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
    doc.prepare(ctx)
    result.findings += doc.scrub_metadata(ctx)
    stages: list[str] = []
    redacted: dict[int, list] = {}
    if options.pixel_stages or (ctx.review is not None and ctx.review.decision.hide):  # reviewer's boxes too
        found, redacted, stages = _detect_all(doc, ctx, redact=True)
        result.findings += found
        result.findings += doc.pixels_verified(stages, ctx)
    if options.dry_run:  # what would be removed and redacted; nothing written
        names = [] if options.rename else _name_findings(item.input, Action.KEPT)
        result.findings += names
        result.status, result.output, result.reason = Status.PLANNED, str(output), "dry run: nothing written"
        if names and not options.keep_names:
            result.reason += f"; {NAME_KEPT}"
        return
    mode = None if options.in_place else mode_like(item.input)  # in place: the original's mode stays
    out = _stage_in_folder(output, mode)  # committed with its group by _process_chunk; run() syncs folders
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
        names = [] if options.rename else _name_findings(item.input, Action.KEPT)
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


def _stage_in_folder(output: Path, mode: int | None) -> Staged:
    """Stage the output, creating its folder the first time it is missing (not a mkdir per file)."""
    try:
        return stage(output, mode)
    except FileNotFoundError:
        output.parent.mkdir(parents=True, exist_ok=True)
        return stage(output, mode)


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
    for frame, regions in detect_frames(doc.frames(ctx), detectors, ctx, total=doc.frame_count()):
        regions, kept = _reviewed(frame, regions, ctx)
        findings += kept
        if not regions:
            continue
        action = Action.REDACTED if redact else Action.FOUND
        findings += [_region_finding(frame.where, r, action, ctx, frame.index) for r in regions]
        if redact:
            findings += doc.redact(frame.index, redactions_for(regions, ctx.options), ctx)
            # One picture can be shown more than once (DICOM windows, an alpha plane): what each view
            # found was redacted, so verification must know all of it.
            redacted.setdefault(frame.index, []).extend(regions)
    return findings, redacted, [d.name for d in detectors]


def _region_finding(where: str, region, action: Action, ctx: Context, frame: int) -> Finding:
    from deident.stages import style_for

    stage = {"eyes": "faces", "face": "faces", "hide": "user"}.get(region.kind, region.kind)
    detail = region.label or region.kind
    if action is Action.REDACTED:
        detail = f"{detail} ({style_for(region, ctx.options)})"
    area = Area(frame, region.polygon)
    return Finding(stage, f"{stage}.{region.kind}", f"{where} box {region.describe()}", action, detail, area)


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
    leftovers = [f for f in doc.metadata_findings() if not _is_pixel_notice(f, ctx)]
    regions: Leftovers = {}
    if redacted:
        chosen = (f for f in doc.frames(ctx) if f.index in redacted)
        for frame, found in detect_frames(chosen, _detectors(ctx), ctx, verifying=True, total=len(redacted)):
            where = frame.where
            kept = unchanged_kept(frame, redacted[frame.index])
            found = _outside_redactions(found, redacted[frame.index], frame.rgb.shape, kept)
            found = _read_beside_faces(found, redacted[frame.index], frame, ctx)
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


def _read_beside_faces(found: list, redacted: list, frame, ctx: Context) -> list:
    """Text found across a face or eye bar the pipeline just drew counts only when it reads as text.

    Verification looks at small crops around what changed, and the detector takes a face with a black
    bar across it for a line of text there (2008_002470.jpg of ../shared's real-world set: a 33x17 bar
    inside an 80x39 "line", filled again over the whole face). Real text beside a face still reads.
    """
    faces = [r for r in redacted if r.kind in ("face", "eyes")]
    suspects = [r for r in found if r.kind == "text" and faces and _overlaps(r, faces, frame.rgb.shape)]
    if not suspects:
        return found
    from deident.text import reads_as_text

    unread = {id(r) for r in suspects if not reads_as_text(frame.rgb, r, ctx.options)}
    return [r for r in found if id(r) not in unread]


def _overlaps(region, others: list, shape) -> bool:
    from deident.regions import polygon_mask

    return bool((polygon_mask(shape, [region]) & polygon_mask(shape, others)).any())


def _refusal(leftovers: list[Finding]) -> str:
    """Why a file is refused: which region, which stage, and what the user can do about it."""
    pixel = [f for f in leftovers if f.stage not in ("metadata", "dicom")]
    parts = sorted({f"{f.stage}: {f.detail or f.kind} at {f.where}" for f in leftovers})
    hint = ""
    if any(f.stage == "text" for f in pixel):
        hint = (
            " — if that is not identifying text, leave it with --keep-text REGEX (or --text phi for "
            "harmless words), or mark it 'keep visible' on a --review page and scrub again with "
            "--decisions; then check the output by eye"
        )
    elif pixel:
        hint = " — check the region by eye; scrub with a stronger --faces style (fill) to hide it"
    return "output still carries identifiers after scrub: " + "; ".join(parts) + hint


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
        result.findings += [_region_finding(where, r, Action.REDACTED, ctx, index) for r in grown]
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
