"""deident: make clinical images safe to share.

The public Python API mirrors the CLI: ``scrub`` writes safe copies, ``check`` only looks.
Heavy libraries (OpenCV, ONNX runtimes, pydicom) are imported lazily by the stages that need them,
so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deident.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from deident.findings import FileResult
    from deident.options import Options


def scrub(paths, options: Options | None = None) -> list[FileResult]:
    """Write a safe copy of every supported file under ``paths``; see ``deident scrub --help``."""
    from deident.batch import scrub_paths

    return scrub_paths(paths, options)


def check(paths, options: Options | None = None) -> list[FileResult]:
    """Report what still identifies a patient in ``paths`` without writing anything."""
    from deident.batch import check_paths

    return check_paths(paths, options)


__all__ = ["__version__", "check", "scrub"]
