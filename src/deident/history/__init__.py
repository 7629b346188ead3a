"""Case-history fuzzing: rewrite captions so a case cannot be tied back to a patient.

``fuzz_text`` rewrites free text; ``find_sidecars``/``fuzz_sidecar`` handle caption files beside an image;
``check_caption`` and ``identifiers_in`` are the read-only faces of the same rules.
"""

from __future__ import annotations

from deident.history.captions import check_caption, find_sidecars, fuzz_sidecar, identifiers_in
from deident.history.fuzz import FuzzResult, FuzzSettings, fuzz_text
from deident.history.rules import Change

__all__ = [
    "Change",
    "FuzzResult",
    "FuzzSettings",
    "check_caption",
    "find_sidecars",
    "fuzz_sidecar",
    "fuzz_text",
    "identifiers_in",
]
