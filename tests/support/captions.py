"""The caption leak tests' two checks, over several seeds: a rule must hold whatever a seed draws."""

from __future__ import annotations

import re

from deident.history import FuzzSettings, fuzz_text

SEEDS = range(6)
KEEP_SEX_AND_SIDE = FuzzSettings(sex_change_rate=0.0, laterality_swap_rate=0.0)


def assert_gone_and_kept(
    text: str, gone: str, kept: str, settings: FuzzSettings = KEEP_SEX_AND_SIDE, any_case: bool = False
) -> None:
    """Fuzzed, ``text`` matches no ``gone`` and still holds ``kept`` (in any case with ``any_case``: a
    sentence may open with what the rule left)."""
    for seed in SEEDS:
        out = fuzz_text(text, seed=seed, settings=settings).text
        assert not re.search(gone, out), out
        assert (kept.lower() in out.lower()) if any_case else (kept in out), out


def assert_fuzzed_to(
    text: str, expected: str | None = None, settings: FuzzSettings = KEEP_SEX_AND_SIDE
) -> None:
    """Fuzzed, ``text`` becomes ``expected`` (by default itself: nothing in it identifies)."""
    for seed in SEEDS:
        assert fuzz_text(text, seed=seed, settings=settings).text == (text if expected is None else expected)
