"""The batch on a Dask cluster (deident.cluster): a real LocalCluster of two worker processes, real
SIGKILLs of workers, outputs compared byte for byte with a local run of the same batch."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deident.findings import Status
from deident.options import FaceMode, Options, TextMode
from support import need
from support.photos import segment

try:
    from distributed import WorkerPlugin
except ImportError:  # the tests that run a cluster skip, each saying so (``_distributed``)
    WorkerPlugin = object

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
METADATA_ONLY = {"text": TextMode.OFF, "faces": FaceMode.OFF}


def _distributed():
    return need("distributed", "the dask extra: batches on a cluster")


# ---------------------------------------------------------------- without a cluster


def test_scheduler_spec() -> None:
    from deident.cluster import Scheduler

    assert Scheduler.parse("local:3") == Scheduler(None, 3)
    assert Scheduler.parse("10.0.0.5:8786") == Scheduler("tcp://10.0.0.5:8786")
    assert Scheduler.parse("tls://sched:8786") == Scheduler("tls://sched:8786")
    for bad in ("local:0", "local:x", "scheduler"):
        with pytest.raises(ValueError):
            Scheduler.parse(bad)


def test_files_per_task() -> None:
    """64 metadata-only files a task; more on a large cluster (the scheduler must keep up); fewer at the
    end of a small batch; one file a task through the pixel stages."""
    from deident.cluster import chunk_size

    assert chunk_size(10_000, 2, pixel_stages=False) == 64
    assert chunk_size(10_000_000, 1_000, pixel_stages=False) == 2_000
    assert chunk_size(100, 2, pixel_stages=False) == 12
    assert chunk_size(3, 2, pixel_stages=False) == 1
    assert chunk_size(10_000, 2, pixel_stages=True) == 1


def test_without_distributed_the_flag_fails_with_the_install_hint(monkeypatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from deident.cli import cli

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    (tmp_path / "a.png").write_bytes(b"")
    args = ["scrub", str(tmp_path), "-o", str(tmp_path / "o"), "--scheduler", "local:2"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 2
    assert "pip install 'deident[dask]'" in out.output
    assert not (tmp_path / "o").exists()


def test_the_scheduler_comes_from_the_configuration_file(monkeypatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from deident.cli import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".deident.toml").write_text('scheduler = "local:0"\n')
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    out = CliRunner().invoke(cli, ["scrub", "a.png", "-o", "out"])
    assert out.exit_code == 2 and "local:N needs a number of workers" in out.output


def test_an_unreachable_scheduler_is_named_without_a_traceback(tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from deident.cli import cli

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    args = ["scrub", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--text", "off", "--faces", "off"]
    with dask_timeouts("2s"):
        out = CliRunner().invoke(cli, [*args, "--scheduler", f"127.0.0.1:{port}"])
    assert out.exit_code == 1, out.output
    assert f"cannot reach the Dask scheduler tcp://127.0.0.1:{port}" in out.output
    assert not (tmp_path / "o").exists()


def dask_timeouts(connect: str):
    _distributed()
    import dask

    return dask.config.set({"distributed.comm.timeouts.connect": connect})


def test_a_local_run_never_imports_distributed(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    code = (
        "import sys; from pathlib import Path; from deident.options import Options; "
        "from deident.options import FaceMode, TextMode; from deident.batch import scrub_paths; "
        f"r = scrub_paths([Path({str(tmp_path)!r})], Options(TextMode.OFF, FaceMode.OFF, jobs=1, "
        f"output_dir=Path({str(tmp_path / 'o')!r}))); "
        "assert r[0].status.value == 'safe', r; print('distributed' in sys.modules)"
    )
    env = dict(os.environ, DEIDENT_KEY=KEY.hex())
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "False"


def test_a_scheduler_without_workers_is_refused_after_a_wait(monkeypatch, tmp_path: Path) -> None:
    LocalCluster = _distributed().LocalCluster

    import deident.cluster
    from deident.batch import scrub_paths
    from deident.errors import RunUnavailable

    monkeypatch.setattr(deident.cluster, "WORKER_WAIT", 1)
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    progress = _Progress()
    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as empty:
        options = Options(
            **METADATA_ONLY, key=KEY, scheduler=empty.scheduler_address, output_dir=tmp_path / "o"
        )
        with pytest.raises(RunUnavailable, match="no Dask worker joined"):
            scrub_paths([tmp_path / "a.png"], options, progress=progress)
    assert progress.notes == [f"waiting up to 1 s for a Dask worker to join {empty.scheduler_address}"]
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- batches


def _dicom(path: Path, name: str, pid: str, pixels: np.ndarray) -> None:
    from support.dicom import secondary_capture

    path.parent.mkdir(parents=True, exist_ok=True)
    secondary_capture(path, pixels, PatientName=name, PatientID=pid, StudyDate="20120109")


def _photo(path: Path, seed: int) -> None:
    from support import planted

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    planted.picture(64, 48, seed).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    app1 = segment(0xE1, b"Exif\0\0" + planted.exif_block(orientation=1))
    path.write_bytes(data[:2] + app1 + data[2:])


def _metadata_batch(root: Path, n: int) -> Path:
    """Small DICOM studies and photos with planted EXIF, plus a file that cannot be parsed."""
    rng = np.random.default_rng(7)
    for i in range(n):
        pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
        _dicom(root / f"ct{i % 3}" / f"im{i:03d}.dcm", f"PATIENT^NUMBER{i % 5}", f"{4000 + i % 5}", pixels)
    for i in range(4):
        _photo(root / "photos" / f"p{i}.jpg", i)
    (root / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _summary(results) -> list[tuple]:
    return [
        (Path(r.input).name, r.status, r.reason, Path(r.output).name if r.output else None, len(r.findings))
        for r in results
    ]


class _Progress:
    def __init__(self) -> None:
        self.results, self.notes = 0, []

    def __call__(self, result) -> None:
        self.results += 1

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.mark.slow
def test_cluster_outputs_are_byte_identical_to_a_local_run(tmp_path: Path) -> None:
    """Photos and DICOM, text in phi mode: a name read from one file's header is redacted from the pixels
    of another file (the deny-list built on the workers), and every byte matches a local run."""
    from deident.batch import scrub_paths
    from support.textsynth import lines_image

    _distributed()
    root = _metadata_batch(tmp_path / "in", 4)
    _dicom(root / "ct0" / "header.dcm", "DAVIDSON^DOUGLAS", "00482913", np.full((64, 64), 30, np.uint8))
    burned = lines_image(["DAVIDSON^DOUGLAS", "Portable"], 1, grey=True).rgb[..., 0].copy()
    _dicom(root / "ct1" / "burned.dcm", "OTHER^PERSON", "917", burned)
    base = Options(text=TextMode.PHI, faces=FaceMode.OFF, key=KEY)
    local = scrub_paths([root], dataclasses.replace(base, jobs=1, output_dir=tmp_path / "local"))
    progress = _Progress()
    on_dask = dataclasses.replace(base, scheduler="local:2", output_dir=tmp_path / "dask")
    cluster = scrub_paths([root], on_dask, progress=progress)
    assert _summary(cluster) == _summary(local)
    statuses = {Path(r.input).name: r.status for r in cluster}
    assert statuses.pop("broken.jpg") is Status.FAILED
    assert set(statuses.values()) == {Status.SAFE}
    burned_result = next(r for r in cluster if r.input.endswith("burned.dcm"))
    assert any("listed identifier" in f.detail for f in burned_result.findings)  # the cross-file hit
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")
    assert progress.results == len(cluster) - sum(r.status is Status.SKIPPED for r in cluster)
    assert len(progress.notes) == 1
    assert "2 workers" in progress.notes[0] and "dashboard http://127.0.0.1:" in progress.notes[0]


# ---------------------------------------------------------------- faults


class _KillOnWrite(WorkerPlugin):
    """A worker plugin (test only): a worker that writes ``victim`` writes half of it, then SIGKILLs its
    own process. ``once``: only the first worker to try (a marker file on the shared storage says so)."""

    name = "test-kill-on-write"

    def __init__(self, victim: str, marker: str, once: bool) -> None:
        self.victim, self.marker, self.once = victim, marker, once

    def setup(self, worker=None) -> None:
        import deident.pipeline as pipeline

        write = pipeline._write
        victim, marker, once = self.victim, self.marker, self.once

        def killing_write(doc, out, ctx, *, streaming):
            if out.final.name == victim:
                first = True
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    first = False
                if first or not once:
                    data = doc.to_bytes(ctx)
                    with out.writer() as fh:
                        fh.write(data[: len(data) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
            return write(doc, out, ctx, streaming=streaming)

        pipeline._write = killing_write


@contextlib.contextmanager
def _cluster_with(plugin, **config):
    """A LocalCluster of two worker processes on 127.0.0.1, ``plugin`` on every worker; its address."""
    distributed = _distributed()
    import dask

    with (
        dask.config.set(config),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.register_plugin(plugin, name=plugin.name)
        yield cluster.scheduler_address, client


@pytest.mark.slow
def test_worker_killed_mid_write_loses_nothing_and_resume_works(tmp_path: Path) -> None:
    from deident.batch import scrub_paths

    root = _metadata_batch(tmp_path / "in", 40)
    local = scrub_paths([root], Options(**METADATA_ONLY, key=KEY, jobs=1, output_dir=tmp_path / "local"))
    marker = tmp_path / "killed-once"
    out = tmp_path / "dask"
    plugin = _KillOnWrite("im017.dcm", str(marker), once=True)
    with _cluster_with(plugin) as (address, _):
        options = Options(**METADATA_ONLY, key=KEY, scheduler=address, output_dir=out)
        results = scrub_paths([root], options)
        written = _files(out)
        resumed = scrub_paths([root], dataclasses.replace(options, resume=True))
    assert marker.exists()
    assert _summary(results) == _summary(local)  # every file accounted for, the same way
    finals = {k: v for k, v in written.items() if ".deid-tmp-" not in k}
    assert finals == _files(tmp_path / "local")  # no half-written file at a final name
    # What the killed worker had staged stays under temporary names (the next run writing those outputs
    # removes them, see atomic.sweep_stale); among them the half-written one.
    half = [v for k, v in written.items() if Path(k).name.startswith(".im017.dcm.deid-tmp-")]
    assert len(half) == 1 and 0 < len(half[0]) < len(finals["ct2/im017.dcm"])
    again = [r for r in resumed if not r.input.endswith("broken.jpg")]
    assert {r.status for r in again} == {Status.SKIPPED}
    assert all(r.reason.startswith("output already written") for r in again)


@pytest.mark.slow
def test_a_file_that_kills_every_worker_fails_alone(tmp_path: Path) -> None:
    from deident.batch import scrub_paths

    root = _metadata_batch(tmp_path / "in", 12)
    plugin = _KillOnWrite("im005.dcm", str(tmp_path / "marker"), once=False)
    with _cluster_with(plugin, **{"distributed.scheduler.allowed-failures": 1}) as (address, _):
        out = tmp_path / "dask"
        results = scrub_paths([root], Options(**METADATA_ONLY, key=KEY, scheduler=address, output_dir=out))
    by_name = {Path(r.input).name: r for r in results}
    assert by_name.pop("im005.dcm").reason.startswith("the worker processing this file died")
    assert by_name.pop("broken.jpg").status is Status.FAILED
    assert {r.status for r in by_name.values()} == {Status.SAFE}
    assert len(results) == 12 + 5  # every input has its result
    assert not (out / "ct2" / "im005.dcm").exists()


# ---------------------------------------------------------------- object store


@pytest.mark.slow
def test_objects_on_a_local_s3_server_come_out_as_from_a_local_run(tmp_path: Path, monkeypatch) -> None:
    """Inputs and outputs in a bucket of moto's S3 server on 127.0.0.1: each output is the bytes a local
    run writes from a copy of the bucket, and nothing else appears under the output prefix."""
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    import fsspec

    from deident.batch import scrub_paths

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = fsspec.filesystem("s3", skip_instance_cache=True)
        s3.mkdir("bkt")
        root = _metadata_batch(tmp_path / "bkt" / "in", 6)
        for rel, data in _files(root).items():
            s3.pipe_file(f"bkt/in/{rel}", data)
        monkeypatch.chdir(tmp_path)  # the local run reads bkt/in/...: the names a worker stages
        options = Options(text=TextMode.PHI, faces=FaceMode.OFF, key=KEY)
        local = scrub_paths([Path("bkt/in")], dataclasses.replace(options, jobs=1, output_dir=Path("local")))
        on_s3 = dataclasses.replace(options, scheduler="local:2", output_dir=Path("s3://bkt/out"))
        results = scrub_paths(["s3://bkt/in"], on_s3)
        assert _summary(results) == _summary(local)
        assert {r.output for r in results if r.output} == {f"s3://bkt/out/{k}" for k in _files(Path("local"))}
        uploaded = {k.removeprefix("bkt/out/"): s3.cat_file(k) for k in s3.find("bkt/out")}
        assert uploaded == _files(Path("local"))
    finally:
        server.stop()
