"""What a reading must show to count as text, for the line rules (``deident.text``) and the detector's
closer looks (``detect``) alike.

Real text reads with a confidence near 1: on ../shared's real-world set and tests/support/textsynth.py,
0.98-1.00 for printed Latin and Japanese tall lines; texture up to 0.88 for one letter (a dark vest read
as "G") and 0.55 for two (re-encoded dog fur read as "LA"), so two letters or digits at 0.8 or more is
confident evidence. One letter or digit at 0.5 is the least a doubtful region must read as.
"""

from __future__ import annotations

TALL_LINE_MIN_SCORE = 0.8
TALL_LINE_MIN_CHARS = 2
INSIDE_MIN_SCORE = 0.5  # a line found inside rejected texture needs this reading confidence


def alnum(text: str) -> int:
    return sum(c.isalnum() for c in text)


def reads_as(read, min_score: float, min_chars: int) -> bool:
    return read.score >= min_score and alnum(read.text) >= min_chars


def reads_as_a_glyph(read) -> bool:
    """One letter or digit read at ``INSIDE_MIN_SCORE``."""
    return reads_as(read, INSIDE_MIN_SCORE, 1)


# A weak line on a photograph that reads no letter confidently still counts when it reads a word at all:
# a 14-px "Semi-Upright" on a 12 MP textsynth label (bench_text.py's first large image) scored 0.59 and
# read "sem-u-rht" at 0.59 with no strokes seen at that size, and was left in ``--text all``; the texture
# lines that give weak readings read four characters at most ("C600" at 0.56, "AVBTCCRT" at 0.39).
WORD_CHARS = 5


def reads_as_a_word(read) -> bool:
    """``WORD_CHARS`` letters or digits read at ``INSIDE_MIN_SCORE``."""
    return reads_as(read, INSIDE_MIN_SCORE, WORD_CHARS)


def reads_confidently(read) -> bool:
    """Two letters or digits read at ``TALL_LINE_MIN_SCORE``: the evidence a doubtful line must give
    (a coat's four buttons read "0000" at 0.79; a taxi's soft phone number "653-5050" at 0.98)."""
    return reads_as(read, TALL_LINE_MIN_SCORE, TALL_LINE_MIN_CHARS)
