"""One chunk of files in whichever process runs it (the caller, a pool worker, a Dask worker): the
per-file flow over each file, their outputs committed in groups; and what every way of mapping chunks
shares (a worker's setup, the progress callback).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Iterator

from deident.atomic import Staged, commit, discard, stale_finding
from deident.errors import Interrupted
from deident.findings import FileResult, Status
from deident.options import Options
from deident.outputs import made_by, record
from deident.paths import Planned
from deident.pipeline import identifiers_of, process_one


def reported(results: list, progress) -> Iterator:
    """Each result, once ``progress`` has been told of it (the local pool and the cluster alike)."""
    for result in results:
        if progress:
            progress(result)
        yield result


def worker_init(pixel_stages: bool, parent: int | None = None) -> None:
    """A worker process's setup, before its first chunk: Ctrl-C is the parent's, one thread per library;
    a local pool's worker (``parent``: the run's process) ends with the run."""
    if parent is not None:
        _end_with(parent)
    with contextlib.suppress(ValueError):  # not the main thread (a Dask worker's setup): not ours to set
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    # One process per core already; native libraries must not each spawn a thread per core too.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if not pixel_stages:
        _keep_freed_memory()
        return  # metadata only: OpenCV is never loaded, so do not pay for importing it
    import cv2

    cv2.setNumThreads(1)


# In a local pool's worker: held while a chunk runs, so that a worker whose run is gone ends between
# chunks, its outputs committed. None elsewhere: in the run's own process a chunk may start another run
# (a test's commit does), which must not wait for it.
_WORKING: threading.Lock | None = None


def _end_with(parent: int) -> None:
    """End this pool worker once the run that started it is gone (killed with SIGKILL, say), after the
    chunk in hand. Its task queue never tells it: every worker holds that pipe's writing end too, so the
    worker would wait for a next chunk for ever. The parent's death shows as a new parent process id."""

    global _WORKING
    working = _WORKING = threading.Lock()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        working.acquire()  # never released: no chunk starts after this
        os._exit(1)

    threading.Thread(target=watch, name="deident-run-watch", daemon=True).start()


def _keep_freed_memory() -> None:
    """Let a metadata-only worker reuse the memory of one file for the next (glibc's malloc).

    Each file passes through a few buffers of its own size, kept until its commit group is renamed.
    glibc hands that much freed memory back to the kernel, so every group faulted in fresh zeroed pages:
    1,500 photos, -j 2: 164,700 page faults against 15,500 with this, 11 % less CPU (A/B in
    docs/benchmarks.md, "the cost of issues 18 and 20"). Whether that happens depends on the parent's heap
    at fork, so it is pinned here. Pixel-stage workers keep the default: they must give the memory of a
    decoded slide back. Elsewhere than glibc there is no mallopt, and nothing to do.
    """
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: the largest glibc takes; larger buffers keep their own map
    mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: free memory kept at most, a few groups' worth


def travels_alone(fn, options: Options) -> bool:
    """Whether ``fn``'s tasks hold one file each: pixel-stage work takes seconds a file; reading
    identifiers is header work whatever the options, chunked like metadata-only files."""
    return options.pixel_stages and fn is not identifiers_of_chunk


def _whole(task):
    """``task`` run under ``_WORKING`` (where there is one): a worker whose run is gone ends only between
    chunks."""

    @functools.wraps(task)
    def run(*args, **kwargs):
        with _WORKING or contextlib.nullcontext():
            return task(*args, **kwargs)

    return run


@_whole
def identifiers_of_chunk(items: list[Planned], options: Options) -> list[list[str]]:
    """The deny-list phase's task: each file's identifying values (``pipeline.identifiers_of``)."""
    return [identifiers_of(item, options) for item in items]


@_whole
def process_chunk(
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
                    results.append(process_one(item, options, read_only, deny_terms, staged))
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
    record([(s.final, s.fd, s.temp, s.source) for s in group], made)


__all__ = [
    "COMMIT_GROUP",
    "identifiers_of_chunk",
    "process_chunk",
    "reported",
    "travels_alone",
    "worker_init",
]
