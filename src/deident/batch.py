"""Running the per-file flow (``deident.pipeline``) over a batch.

A scrub first settles where each output goes (``deident.outputs``), a batch then collects identifying
values from every file (headers, names, captions) into a deny-list held in memory, and scrubs with it.
Both phases map chunks of files (``deident.chunks``) on one process pool, or on a Dask cluster
(``deident.cluster``) with ``--scheduler``. ``--rename`` and the review page are settled here, once
every file is done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from deident.atomic import sweep_stale, sync_dirs, write_bytes_atomic
from deident.chunks import identifiers_of_chunk, process_chunk, reported, travels_alone, worker_init
from deident.errors import DeidentError, Interrupted
from deident.findings import FileResult, Finding, Stage, Status
from deident.formats.base import Context, Source
from deident.keys import Keyring, load_key
from deident.options import Options
from deident.outputs import BatchRefused, output_folder_problems, read_mapping, settle
from deident.paths import Planned, plan
from deident.pipeline import open_input

Progress = Callable[[FileResult], None]


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

        return on_cluster(_run_batch, _run_objects, paths, options, read_only=read_only, progress=progress)
    return _run_batch(paths, options, read_only=read_only, progress=progress)


def _run_batch(paths: Iterable, options: Options, *, read_only: bool, progress: Progress | None = None):
    options, _ = prepare_options(options, read_only=read_only)
    rename = options.rename and not read_only
    mapping = mapping_path(options) if rename else None  # refuse a bad mapping place before writing
    if mapping is not None:
        read_mapping(mapping)  # a file there that is not a mapping: refused before any work
    paths = list(paths)  # walked twice when the output folder is inside an input folder
    if not read_only and (problems := output_folder_problems(paths, options)):
        raise BatchRefused(problems)
    planned, results = _split_plan(paths, options, read_only)
    if rename:
        planned = [_neutral_name(p, options) for p in planned]
    for p in planned:
        if p.skip_reason:
            results.append(FileResult(str(p.input), Status.SKIPPED, reason=p.skip_reason))
    work = [p for p in planned if not p.skip_reason]
    files = len(work)  # before any is settled: the pool serves the deny-list phase too
    if not read_only:
        work = _settle(_converted_names(work, options), options, results)
    for result in results if progress else ():  # the bar counts every row of the summary
        progress(result)
    try:
        with _workers(options, files, work[0] if work else None, read_only) as pool:  # both phases' workers
            deny_terms = _collect_deny_terms(planned, options, pool) if _wants_deny_list(options) else ()
            for result in _map(process_chunk, work, options, (read_only, deny_terms), progress, pool):
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


def _run_objects(paths, options, *, read_only: bool, progress=None) -> list[FileResult]:
    """``run`` on objects: the deny-list from every object, then the scrub."""
    from deident.objects import plan_objects

    options, _ = prepare_options(options, read_only=read_only)
    items, results = plan_objects(paths, options, read_only=read_only)
    work = [i for i in items if not i.skip_reason]
    results += [FileResult(i.url, Status.SKIPPED, reason=i.skip_reason) for i in items if i.skip_reason]
    deny_terms = _collect_deny_terms(work, options) if _wants_deny_list(options) else ()
    results += _map(process_chunk, work, options, (read_only, deny_terms), progress)
    order = {i.url: n for n, i in enumerate(items)}
    return sorted(results, key=lambda r: order.get(r.input, -1))


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
        if f.stage is Stage.CAPTION and f.where.startswith(path.stem + "."):
            return Path(label).stem + f.where[len(path.stem) :]
        return neutral(f.where)

    findings = [dataclasses.replace(f, where=where(f), detail=neutral(f.detail)) for f in result.findings]
    return dataclasses.replace(result, input=label, reason=neutral(result.reason), findings=findings)


_HEX_TO_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def write_mapping(path: Path, results: list[FileResult]) -> None:
    """Private CSV (mode 0600) of original -> neutral names, merged with earlier runs."""
    import csv
    import io

    rows = read_mapping(path)
    rows.update({r.input: r.output for r in results if r.written and r.output})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["original", "output"])
    writer.writerows(sorted(rows.items()))
    write_bytes_atomic(path, buf.getvalue().encode(*_NAMES_AS_ON_DISK), mode=0o600)


_NAMES_AS_ON_DISK = ("utf-8", "surrogateescape")  # a non-UTF-8 file name keeps its real bytes


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


def _map(
    fn,
    items: list,
    options: Options,
    extra: tuple = (),
    progress: Progress | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> Iterator:
    """Yield the results of ``fn(chunk, options, *extra)`` over chunks of ``items``, in worker processes
    when jobs > 1, on ``pool`` (a batch's phases share one: ``_workers``, which starts none for one job).

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
    size = 1 if travels_alone(fn, options) else max(1, min(MAX_CHUNK, len(items) // (8 * jobs)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if jobs == 1:
        for chunk in chunks:
            yield from reported(fn(chunk, options, *extra), progress)
        return
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


@contextlib.contextmanager
def _workers(
    options: Options, files: int, first: Planned | None, read_only: bool
) -> Iterator[ProcessPoolExecutor | None]:
    """The worker processes of a batch of ``files``, shared by its deny-list phase and its processing:
    a pixel-stage worker's start (Python, deident and OpenCV: 0.25 CPU-s) is paid once per run, not once
    per phase. None where nothing runs in a pool (one job, or a Dask cluster). Forked workers start
    with what the batch's ``first`` file needed loaded already (``_rehearse``)."""
    jobs = max(1, min(options.jobs, files))
    if jobs == 1 or options.scheduler:
        yield None
        return
    method = _start_method(options)
    if method == "fork" and first is not None:
        _rehearse(first, options, read_only)
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=worker_init,
        initargs=(options.pixel_stages, os.getpid()),
    ) as pool:
        yield pool


def _start_method(options: Options) -> str:
    """Fork only where nothing has started native thread pools: the OCR and face runtimes have.

    A process that forks while onnxruntime or OpenCV threads hold a lock hands the child that lock,
    locked for ever (seen here: a batch hung after a check had loaded the models in the same process).
    Pixel-stage files take seconds each, so starting clean workers costs nothing that shows.
    """
    if options.pixel_stages or not sys.platform.startswith("linux"):
        return "spawn"
    return "fork"


def _rehearse(first: Planned, options: Options, read_only: bool) -> None:
    """Before forking, run the batch's first file through the per-file flow here as a dry run (nothing
    written, the result dropped): forked workers inherit what it loaded (pydicom, deident's DICOM
    modules, the PS3.15 table, compiled patterns), where each would otherwise load all of it itself.
    A worker's first DICOM file took 360 CPU-ms, its next ones 10. 300 header-only DICOM files, -j 2, seven
    interleaved rounds: 15.9 -> 14.6 CPU-ms a file (-8 %, docs/benchmarks.md); -j 1 forks nothing. What it
    loads starts no thread but numpy's and OpenCV's idle OpenBLAS pools, which OpenBLAS rebuilds in a
    forked child (as for any multiprocessing fork after ``import numpy``)."""
    from deident.pipeline import process_one

    rehearsal = dataclasses.replace(options, dry_run=True, review_dir=None, decisions=None)  # no pixel look
    process_one(first, rehearsal, read_only, (), [])


def _drain(done: set[Future], progress) -> Iterator:
    for fut in done:
        yield from reported(fut.result(), progress)


def _collect_deny_terms(
    planned: list[Planned], options: Options, pool: ProcessPoolExecutor | None = None
) -> tuple[str, ...]:
    work = [p for p in planned if not p.skip_reason]
    terms: set[str] = set()
    for found in _map(identifiers_of_chunk, work, options, pool=pool):
        terms.update(found)
    return tuple(sorted(terms))


__all__ = ["check_paths", "prepare_options", "run", "scrub_paths"]
