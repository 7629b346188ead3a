"""The few libc calls deident makes through ctypes, where Python has no wrapper (Linux only)."""

from __future__ import annotations

import functools
import sys


@functools.cache
def linux_call(name: str, *argtypes: str):
    """libc's ``name`` with its argument types (ctypes names), or None off Linux or where it is missing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = [getattr(ctypes, t) for t in argtypes]
    return fn
