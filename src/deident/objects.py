"""Inputs and outputs on an object store (``s3://…``, or any fsspec protocol), for cluster runs.

An object store has no rename, so a worker stages each task: every object of the chunk is downloaded
whole into a folder of the worker's own, laid out as ``BUCKET/KEY`` (file and folder names then read as
they would in a local copy of the bucket, which keeps the deny-list and the outputs identical to a local
run on that copy), processed by the very per-file code of a local run, and each verified output goes up
in one PUT of the complete object: it appears whole under its final key or not at all. Nothing is left
on the worker.

Credentials and endpoints come from the environment every worker has (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ``FSSPEC_S3_*``…), as for any fsspec program. Not supported on object stores yet:
``--resume``, ``--rename``, ``--in-place`` and captions beside images.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from deident.errors import RunUnavailable
from deident.findings import FileResult, Status
from deident.paths import SIDECAR_SUFFIXES, SYSTEM_FILES, Planned, is_temp


@dataclass(frozen=True)
class ObjectItem:
    """One input object: where it is, where it is staged on a worker, where its output goes."""

    url: str
    local: Path  # BUCKET/KEY, relative to the task's staging folder
    output_url: str | None
    skip_reason: str = ""
    shown: str = ""  # what the name check judges: the prefix's own name and below, or below ``-o URL``


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$")


def url_of(path) -> str | None:
    """``s3://b/k`` as given, or as pathlib squashed it (``s3:/b/k``); None for a local path."""
    match = _URL.match(str(path))
    if match is None or match.group(1).lower() == "file" or len(match.group(1)) == 1:  # 1: C:/ on Windows
        return None
    return f"{match.group(1)}://{match.group(2)}"


def plan_objects(paths: Iterable, options, *, read_only: bool) -> tuple[list[ObjectItem], list[FileResult]]:
    """The objects under each URL (a prefix is walked), with their output keys under ``-o URL``."""
    import fsspec

    out = url_of(options.output_dir) if options.output_dir is not None else None
    if not read_only and out is None:
        raise RunUnavailable("inputs on an object store need their outputs on one too: -o s3://BUCKET/PREFIX")
    if options.resume or options.rename or options.in_place:
        raise RunUnavailable("--resume, --rename and --in-place are not supported on object stores yet")
    items: list[ObjectItem] = []
    errors: list[FileResult] = []
    for arg in paths:
        url = url_of(arg)
        if url is None:
            raise RunUnavailable(f"{arg}: give every input on the object store, or every input local")
        protocol = url.split("://", 1)[0]
        fs, root = fsspec.core.url_to_fs(url)
        root = root.rstrip("/")
        if fs.isdir(root):
            keys, base = sorted(fs.find(root)), root
        elif fs.isfile(root):
            keys, base = [root], root.rpartition("/")[0]
        else:
            errors.append(FileResult(url, Status.FAILED, reason="no such object or prefix"))
            continue
        for key in keys:
            rel = key[len(base) :].lstrip("/")
            output = None if read_only else f"{out.rstrip('/')}/{rel}"
            top = out if output else (root if base == root else "")  # below -o; a prefix's own name
            shown = f"{top.rstrip('/').rpartition('/')[2]}/{rel}".lstrip("/")
            items.append(ObjectItem(f"{protocol}://{key}", Path(key), output, _skip_reason(key), shown))
    return items, errors


def _skip_reason(key: str) -> str:
    name = PurePosixPath(key).name
    if name in SYSTEM_FILES:
        return "operating-system file, not copied"
    if is_temp(PurePosixPath(key)):
        return "unfinished deident temporary file"
    if PurePosixPath(key).suffix.lower() in SIDECAR_SUFFIXES:
        return "text file: captions are not read from object stores yet"
    return ""


def run_staged(fn, chunk: list[ObjectItem], options, extra: tuple) -> list:
    """On a worker: download the chunk, run ``fn`` on the local copies, upload each safe output whole."""
    from deident.chunks import process_chunk

    scrub = fn is process_chunk
    back = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="deident-stage-") as stage:
        os.chdir(stage)  # relative BUCKET/KEY paths: no temporary name enters the deny-list
        try:
            local, unread = _download(chunk)
            done = iter(
                fn([p for p, i in zip(local, chunk, strict=True) if i.url not in unread], options, *extra)
            )
            results = []
            for item in chunk:
                if item.url in unread:
                    reason = unread[item.url]
                    results.append(FileResult(item.url, Status.FAILED, reason=reason) if scrub else [])
                    continue
                result = next(done)
                if scrub:
                    _upload(result, item)
                results.append(result)
            return results
        finally:
            os.chdir(back)


def _download(chunk: list[ObjectItem]) -> tuple[list[Planned], dict[str, str]]:
    import fsspec

    local: list[Planned] = []
    unread: dict[str, str] = {}
    for item in chunk:
        try:
            item.local.parent.mkdir(parents=True, exist_ok=True)
            with fsspec.open(item.url, "rb") as src:
                item.local.write_bytes(src.read())
        except (OSError, ValueError) as exc:
            unread[item.url] = f"could not read the object: {exc}"
        output = Path(".deident-out") / item.local if item.output_url else None
        local.append(Planned(item.local, output, shown=Path(item.shown) if item.shown else None))
    return local, unread


def _upload(result: FileResult, item: ObjectItem) -> None:
    """One PUT of the complete, verified output (its name may carry a new suffix, e.g. --format)."""
    import fsspec

    result.input = item.url
    if result.status is not Status.SAFE or not result.output or item.output_url is None:
        return
    local = Path(result.output)
    url = f"{item.output_url.rpartition('/')[0]}/{local.name}"
    try:
        fs, key = fsspec.core.url_to_fs(url)
        fs.pipe_file(key, local.read_bytes())
    except Exception as exc:  # any failure of the store: a failed PUT leaves the key as it was
        result.status, result.output = Status.FAILED, None
        result.reason = f"could not write the output: {exc}: {url}"
        return
    result.output = url


__all__ = ["ObjectItem", "plan_objects", "run_staged", "url_of"]
