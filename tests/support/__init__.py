"""Builders and oracles the tests share: planted files, synthetic sets, the browser, CLI runs.

Nothing here is a test, and nothing here skips on import: a builder that needs an optional package
(tifffile, scikit-image, pillow-heif) asks for it when called, through ``need``, so only the tests that
use it skip, each with its reason. Test modules import from here, never from each other; benches may too.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def need(module: str, why: str) -> ModuleType:
    """``module``, or skip the calling test saying which package is missing and what it is for."""
    import pytest

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"{module} is not installed ({why}): {exc}")
