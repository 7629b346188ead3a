"""The same batch on a Dask cluster: ``--scheduler tcp://HOST:PORT`` or ``--scheduler local:N``.

``batch.run`` hands a batch with a scheduler to ``on_cluster``, which connects (or starts a
``LocalCluster``) once for the run; ``batch._map`` then sends each of the batch's two phases here
(``map_chunks``) instead of to its process pool. Nothing else differs from a local run:

- the deny-list is still collected first (workers read the files' identifiers and merge each chunk's;
  the client unions the chunks') and the scrub then runs with it; the options (key included) and the deny-list
  reach every worker once per phase, and each task names them instead of carrying them;
- a task is a chunk of files, and each worker runs the very ``chunks.process_chunk`` a local worker runs,
  writing beside the final name and renaming (deident.atomic) on storage every worker mounts;
- keyed UIDs, pseudonyms and date shifts come from the key alone, so outputs are byte-identical to a
  local run with the same key and options;
- a worker that dies mid-task (killed, out of memory) loses nothing at a final name: Dask runs its
  task again elsewhere; the files of a task Dask gives up on run one at a time, alone, and a file
  that still kills its worker is a ``failed`` result, not a failed batch (``_Phase``);
- inputs and outputs on an object store (``s3://…``) are staged on the workers (deident.objects).

``distributed`` is imported here only, and this module only when a scheduler is given.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deident.errors import RunUnavailable, StageUnavailable

try:
    from distributed import WorkerPlugin
except ImportError:  # the flag then fails with INSTALL_HINT before any plugin is made
    WorkerPlugin = object  # type: ignore[assignment,misc]

INSTALL_HINT = "--scheduler needs Dask's distributed: pip install 'deident[dask]'"

# Files per task for metadata-only work. One task cost the client, scheduler and round trip 6 to 11 ms
# and a DICOM header scrub 8 to 11 ms per file (bench/bench_dask.py on a loaded 2-CPU machine, see
# docs/scaling.md): with 64 files a task's overhead stays near 1 to 2 %. Pixel-stage files take
# seconds: one file per task keeps every worker busy to the end.
CLUSTER_CHUNK = 64


@dataclass(frozen=True)
class Scheduler:
    """Where to run: an existing scheduler's address, or a LocalCluster of ``workers`` processes."""

    address: str | None
    workers: int = 0

    @classmethod
    def parse(cls, spec: str) -> Scheduler:
        spec = spec.strip()
        if spec.startswith("local:") or spec == "local":
            count = spec.partition(":")[2] or str(os.cpu_count() or 1)
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"--scheduler {spec!r}: local:N needs a number of workers N >= 1")
            return cls(None, int(count))
        if "://" not in spec and ":" not in spec:
            raise ValueError(f"--scheduler {spec!r}: give a scheduler address (tcp://HOST:PORT) or local:N")
        return cls(spec if "://" in spec else f"tcp://{spec}")


def check_scheduler(spec: str) -> Scheduler:
    """Refuse a malformed spec, or a missing ``distributed``, before anything runs."""
    scheduler = Scheduler.parse(spec)
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise StageUnavailable(INSTALL_HINT) from exc
    return scheduler


_client: contextvars.ContextVar = contextvars.ContextVar("deident_dask_client", default=None)


def on_cluster(run_batch: Callable, run_objects: Callable, paths, options, *, read_only: bool, progress=None):
    """Run ``run_batch`` (the local batch of ``deident.batch``), or ``run_objects`` for inputs on an object
    store, with its phases mapped on the cluster."""
    from deident.objects import url_of

    on_objects = any(url_of(p) for p in paths)
    with _connected(options) as client:
        _wait_for_workers(client, progress)
        _note(progress, client)
        if not on_objects:
            _refuse_unseen(client, paths, None if read_only else options.output_dir)
        token = _client.set(client)
        try:
            run = run_objects if on_objects else run_batch
            return run(paths, options, read_only=read_only, progress=progress)
        finally:
            _client.reset(token)


@contextlib.contextmanager
def _connected(options) -> Iterator:
    """The run's client: on the running ``on_cluster`` session, else one of its own."""
    current = _client.get()
    if current is not None:
        yield current
        return
    from distributed import Client, LocalCluster

    scheduler = check_scheduler(options.scheduler)
    with contextlib.ExitStack() as stack:
        if scheduler.address is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=scheduler.workers,
                    threads_per_worker=1,  # the work is Python: one process per core, as the local pool
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler.address))
            except OSError as exc:  # refused, unknown host, timed out
                raise RunUnavailable(f"cannot reach the Dask scheduler {scheduler.address}: {exc}") from exc
        client.register_plugin(WorkerSetup(options.pixel_stages, options.text, options.faces), name=PLUGIN)
        stack.callback(_unregister, client)  # a cluster that outlives the run keeps nothing of it
        yield client


def _unregister(client) -> None:
    with contextlib.suppress(Exception):  # the run's outcome stands whether or not the scheduler answers
        client.unregister_worker_plugin(PLUGIN)


PLUGIN = "deident-worker-setup"


class WorkerSetup(WorkerPlugin):
    """Once per worker process (and again in one that replaces a dead worker): what a local pool worker
    does at start, then the run's models loaded, so no task pays for loading them."""

    def __init__(self, pixel_stages: bool, text, faces) -> None:
        self.pixel_stages, self.text, self.faces = pixel_stages, text, faces

    def setup(self, worker=None) -> None:
        from deident.chunks import worker_init
        from deident.options import Options
        from deident.stages import detectors_for

        worker_init(self.pixel_stages)
        for detector in detectors_for(Options(text=self.text, faces=self.faces)):
            with contextlib.suppress(StageUnavailable):  # each file then fails closed with the reason
                detector.ensure_available()


def _wait_for_workers(client, progress) -> None:
    """A batch job's workers may still be queued (SLURM, Kubernetes): wait for one, a while."""
    if client.nthreads():
        return
    note = getattr(progress, "note", None)
    if note is not None:
        note(f"waiting up to {WORKER_WAIT} s for a Dask worker to join {client.scheduler.address}")
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError as exc:
        raise RunUnavailable(f"no Dask worker joined {client.scheduler.address} in {WORKER_WAIT} s") from exc


WORKER_WAIT = 600  # seconds


def _note(progress, client) -> None:
    """Tell the user where the dashboard is (through the progress reporter, when it can print)."""
    note = getattr(progress, "note", None)
    if note is None:
        return
    info = client.scheduler_info()
    where = f", dashboard {client.dashboard_link}" if "dashboard" in info.get("services", {}) else ""
    workers = len(info.get("workers", {}))
    note(f"Dask scheduler {client.scheduler.address}: {workers} workers{where}")


def _refuse_unseen(client, paths, output_dir: Path | None) -> None:
    """Every worker must see the inputs, and the output folder, where the client does (shared storage,
    same mount point): else outputs would land on the workers' own disks."""
    wanted = [str(Path(p).absolute()) for p in paths]
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        wanted.append(str(output_dir.absolute()))
    seen = client.run(_all_exist, wanted)
    blind = sorted(addr for addr, ok in seen.items() if not ok)
    if blind:
        raise RunUnavailable(
            f"worker {blind[0]} does not see {wanted[0]} (or another input): run on storage every worker "
            "mounts at the same path"
        )


def _all_exist(paths: list[str]) -> bool:
    return all(os.path.lexists(p) for p in paths)


def map_chunks(fn: Callable, items: list, options, extra: tuple, progress=None) -> Iterator:
    """Yield the results of ``fn(chunk, options, *extra)`` over chunks of ``items``, run on the workers.

    At most a few tasks per worker thread are in flight, so the scheduler's memory stays flat however
    large the batch; results come back in the order tasks finish, as from the local pool.
    """
    from deident.chunks import reported, travels_alone

    with _connected(options) as client:
        threads = max(1, sum(client.nthreads().values()))
        size = chunk_size(len(items), threads, travels_alone(fn, options))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        shared = [client.submit(_held, value, pure=False) for value in (os.getcwd(), options, *extra)]
        phase = _Phase(client, fn, shared, deque(chunks))
        for results in phase.run():
            yield from reported(results, progress)


def chunk_size(files: int, threads: int, pixel_stages: bool) -> int:
    """Files per task: ``CLUSTER_CHUNK``, more on a large cluster, fewer at the end of a small batch.

    The scheduler handles tasks one after another; with many workers they would finish tasks faster
    than it hands them out unless each task holds more files: ``files per task > workers x (cost of a
    task to the scheduler) / (cost of a file)``; that ratio measured 0.6 and 1.4 (docs/scaling.md), so
    two files per worker thread keep it ahead. At least four tasks per thread keep the last of the batch
    spread over every worker.
    """
    if pixel_stages:
        return 1
    return max(1, min(max(CLUSTER_CHUNK, 2 * threads), files // (4 * threads)))


def _held(value):
    """A value every task of a phase uses (options and key, the deny-list): sent to the scheduler once,
    copied to each worker once, by the first task there that needs it. Held as a task's result rather
    than scattered: if every worker holding it dies, the scheduler makes it again from the task."""
    return value


WINDOW_EVERY = 2.0  # seconds between asking the scheduler how many worker threads there are


@dataclass
class _Phase:
    """The tasks of one phase, and what happens when Dask gives up on one (``KilledWorker``: the workers
    it ran on died ``allowed-failures`` + 1 times).

    Its files become suspects, run one at a time with nothing else on the cluster: a suspect that
    still kills its worker there is the culprit, a ``failed`` result (fail closed); the others, and
    every other file, are not lost with it.
    """

    client: object
    fn: Callable
    shared: list
    queue: deque
    suspects: deque = dataclasses.field(default_factory=deque)
    running: dict = dataclasses.field(default_factory=dict)  # future key -> (chunk, isolated)
    window: int = 0  # tasks in flight: two per worker thread (and two more), as workers come and go
    window_at: float = -WINDOW_EVERY

    def _window(self) -> int:
        now = time.monotonic()
        if now - self.window_at >= WINDOW_EVERY:
            self.window = 2 * sum(self.client.nthreads().values()) + 2
            self.window_at = now
        return self.window

    def run(self) -> Iterator[list]:
        from distributed import as_completed

        self.done = as_completed()
        self._submit()
        for future in self.done:
            chunk, isolated = self.running.pop(future.key)
            if future.status == "finished":
                yield future.result()
            else:
                yield self._after_error(future, chunk, isolated)
            future.release()
            self._submit()

    def _submit(self) -> None:
        if self.suspects:
            if not self.running:
                self._start([self.suspects.popleft()], isolated=True)
            return
        while self.queue and len(self.running) < self._window():
            self._start(self.queue.popleft(), isolated=False)

    def _start(self, chunk: list, *, isolated: bool) -> None:
        future = self.client.submit(_task, self.fn, chunk, *self.shared, pure=False)
        self.running[future.key] = (chunk, isolated)
        self.done.add(future)

    def _after_error(self, future, chunk: list, isolated: bool) -> list:
        from distributed import KilledWorker

        error = future.exception() if future.status == "error" else None
        # "lost": the worker holding the task's result died before the result reached us (seen when a
        # crash takes a second worker down with it): its files are run again, alone, like a killed one's.
        died = isinstance(error, KilledWorker) or future.status == "lost"
        if not died:  # a bug outside the per-file guard stops the run, as locally
            raise error or RuntimeError(f"a Dask task ended {future.status}: the run cannot be complete")
        if isolated:
            return [_lost(self.fn, chunk[0])]
        self.suspects.extend(chunk)
        return []


def _lost(fn: Callable, item):
    """The result of a file that killed every worker it was given to (fail closed)."""
    from deident.chunks import process_chunk
    from deident.findings import FileResult, Status

    if fn is not process_chunk:
        return []  # the deny-list phase: nothing read from it; its scrub will meet the same crash
    reason = "the worker processing this file died each time it was tried (crash or out of memory)"
    return FileResult(str(item.input), Status.FAILED, reason=reason)


def _task(fn: Callable, chunk: list, cwd: str, options, *extra):
    """On a worker: the chunk, with relative input paths meaning what they mean to the client; objects
    staged through this worker's own disk (deident.objects)."""
    from deident.chunks import identifiers_of_chunk
    from deident.objects import ObjectItem, run_staged

    if chunk and isinstance(chunk[0], ObjectItem):
        results = run_staged(fn, chunk, options, extra)
    else:
        if os.getcwd() != cwd:  # workers run one thread each (see _connected and docs/cluster.md)
            with contextlib.suppress(OSError):  # not mounted here: relative inputs then fail, each named
                os.chdir(cwd)
        results = fn(chunk, options, *extra)
    if fn is identifiers_of_chunk:  # the map-side combine: a study's files repeat the same values
        return [sorted({value for found in results for value in found})]
    return results


__all__ = [
    "CLUSTER_CHUNK",
    "INSTALL_HINT",
    "Scheduler",
    "check_scheduler",
    "chunk_size",
    "map_chunks",
    "on_cluster",
]
