"""The review page: originals and outputs side by side, every redaction outlined, corrections exported.

``scrub --review`` makes thumbnails in the workers (``render``), then ``write_page`` writes ``index.html``
with its script, style and data beside them. The page loads nothing from anywhere else (its
Content-Security-Policy forbids it) and works from ``file://``. It shows originals, so the folder and its
files are owner-only; ``--review outputs`` writes a variant with outputs only, safe to share.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

from deident.findings import FileResult, Stage, printable
from deident.review.render import FILE_MODE, open_page_dir

OUTPUTS = "outputs"  # --review outputs
STATIC = ("index.html", "review.js", "review.css")


def place(paths: Sequence[Path], output_dir: Path | None, value: str) -> tuple[Path, bool]:
    """Where ``--review [DIR]`` writes, and whether it shows outputs only.

    Default: ``OUTPUT-review/`` beside the output folder; for a single file, ``NAME-review/`` beside its
    output; ``…-review-outputs/`` for the outputs-only page. Never inside the output folder (a later run
    over it would take the thumbnails of originals for inputs).
    """
    outputs_only = value == OUTPUTS
    suffix = "-review-outputs" if outputs_only else "-review"
    if value and not outputs_only:
        folder = Path(value)
    elif output_dir is not None:
        out = output_dir.resolve()
        folder = out.parent / f"{out.name}{suffix}"
    elif len(paths) == 1 and not Path(paths[0]).is_dir():
        first = Path(paths[0]).resolve()
        folder = first.parent / f"{first.stem}{suffix}"
    else:
        first = Path(paths[0]).resolve()
        folder = first.parent / f"{first.name}{suffix}"
    if output_dir is not None and folder.resolve().is_relative_to(output_dir.resolve()):
        raise ValueError("the review page must not be inside the output folder (it shows the originals)")
    if not _ours_or_new(folder):
        raise ValueError(
            f"{folder} holds files deident did not write: the page makes its folder owner-only and writes "
            "into it; give a new or empty folder"
        )
    return folder, outputs_only


def _ours_or_new(folder: Path) -> bool:
    """True for a folder that does not exist, is empty, or is an earlier review page (its marker): an
    input folder given as the page's made it owner-only (755 -> 700) and mixed thumbnails with originals."""
    from deident.paths import REVIEW_MARK

    if not folder.exists():
        return True
    return folder.is_dir() and (not any(folder.iterdir()) or (folder / REVIEW_MARK).is_file())


def page_data(results: Iterable[FileResult], outputs_only: bool) -> dict:
    """What the page shows, per file: status, reasons, findings with their areas, thumbnails."""
    files = []
    for i, r in enumerate(results):
        findings = [f.to_dict() for f in r.findings if not (outputs_only and f.stage is Stage.FILENAME)]
        entry = {
            "id": i,
            "name": _shown_name(r, i) if outputs_only else printable(r.input),
            "output": None if r.output is None else printable(r.output),
            "status": r.status.value,
            "reason": printable(r.said),
            "format": r.format,
            "findings": findings,
            "frames": (r.preview or {}).get("frames", []),
            "removed": (r.preview or {}).get("removed", []),
            "preview_error": (r.preview or {}).get("error", ""),
        }
        if not outputs_only:
            entry["sha256"] = r.sha256
            entry["size"] = _size(r.input)
            entry["path"] = printable(str(Path(r.input).resolve()))
        files.append(entry)
    return {"outputs_only": outputs_only, "files": files}


def _shown_name(r: FileResult, i: int) -> str:
    """A file's name on the outputs-only page: its output's, or for a file nothing was written for (failed,
    skipped) a neutral one. Its input's path is no name for a page meant to be shared: a BMP or a refused
    scan named ``SMITH_John_19700312.bmp``, a folder ``Doe_Jane/``, went onto it in clear."""
    return printable(r.output) if r.output else f"file {i + 1} (nothing written)"


def _size(path: str) -> int | None:
    try:
        return Path(path).stat().st_size
    except OSError:
        return None


def write_page(results: Sequence[FileResult], review_dir: Path, outputs_only: bool) -> Path:
    """Write ``index.html`` (+ script, style, data) into ``review_dir``; returns the page's path."""
    open_page_dir(review_dir)
    data = json.dumps(page_data(results, outputs_only), ensure_ascii=False)
    _write(review_dir / "data.js", f"window.DEIDENT_REVIEW = {data};\n".encode())
    for name in STATIC:
        _write(review_dir / name, resources.files("deident.review").joinpath("static", name).read_bytes())
    return review_dir / "index.html"


def _write(path: Path, data: bytes) -> None:
    from deident.atomic import write_bytes_atomic

    write_bytes_atomic(path, data, mode=FILE_MODE)


__all__ = ["OUTPUTS", "page_data", "place", "write_page"]
