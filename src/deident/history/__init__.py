"""Case-history fuzzing: rewrite captions so a case cannot be tied back to a patient.

``fuzz_text`` rewrites free text; ``find_sidecars``/``fuzz_sidecar`` handle caption files beside an image;
``check_caption`` and ``identifiers_in`` are the read-only faces of the same rules.
"""

from __future__ import annotations

import importlib

# name -> its module, imported at first use: most checked files have no caption, and the rules' regular
# expressions cost 0.05 CPU-s to compile in every process that imports them
_WHERE = {
    "Change": "rules",
    "FuzzResult": "fuzz",
    "FuzzSettings": "fuzz",
    "check_caption": "captions",
    "check_sidecar": "captions",
    "find_sidecars": "sidecars",
    "fuzz_sidecar": "captions",
    "fuzz_text": "fuzz",
    "identifiers_in": "captions",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = sorted(_WHERE)
