"""Whether a run of Japanese text names no one, for ``--text phi``: janome's IPADIC morphology.

A Japanese name is written in the characters of ordinary words (山下 is a surname and "below the
mountain"), so a word counts only when the dictionary knows it and knows it as no person: every content
word must be a dictionary word that IPADIC lists under no person-name reading at all (左, "left", has a
surname reading and is redacted: PHI mode fails closed), tagged neither a proper noun (a person, an
organisation, a brand) nor a number, and two single-kanji nouns in a row (結 + 菜, a given name split
into kanji the dictionary knows one by one) are taken for a name; hiragana stands alone only as common
grammar or a noun of three letters or more (``HIRAGANA_GRAMMAR``). A proper noun of place is kept when
it names a populous place (``places``), as in Latin letters.

Only text with kana is judged as Japanese; a run of kanji alone may be Chinese, or Hangul the
recogniser misread as kanji (a Korean sign read "品印"), and is kept only when the whole run names a
populous place (港区). Each of 162 common Japanese surnames and given names (kanji, hiragana and
katakana) is redacted in three sentences (tests/test_phi_places_and_scripts.py); a given name that is
an ordinary noun (さくら or サクラ, "cherry blossom") is kept, as "Hope" is in English.
"""

from __future__ import annotations

import re
from functools import cache

from deident.text import places
from deident.text.places import KANA, KANJI

# Parts of speech that carry no meaning of their own: particles, auxiliaries, marks.
_GRAMMAR = frozenset({"助詞", "助動詞", "記号"})
# A given name written in hiragana is cut by the dictionary into grammar and fragments: 患者はなこの写真
# ("patient Hanako's photo") became は + な + この, たろう the auxiliaries たろ + う, けんじ and つむぎ verbs,
# そうた a suffix and an auxiliary. So a token written in hiragana alone must be one of these common
# particles, auxiliaries and polite forms, or a noun of HIRAGANA_NOUN letters or more (きれい, こちら).
HIRAGANA_GRAMMAR = frozenset(
    {"の", "を", "に", "で", "は", "が", "と", "も", "へ", "や", "か", "な", "だ", "です", "ます", "た", "て"}
    | {"し", "から", "まで", "より", "ね", "よ", "ください", "ご", "お"}
)
HIRAGANA_NOUN = 3
_HIRAGANA = re.compile(r"[\u3041-\u309f]+")
# Institutions in Japanese: a name before them is the institution's (山田病院, 港区クリニック).
INSTITUTIONS = ("病院", "医院", "クリニック", "診療所", "医療センター", "大学", "研究所")


def explained(run: str) -> bool:
    """True when ``run`` (one word of a recognised line holding Japanese or Chinese characters) names
    no person, institution or number."""
    tokenizer = _tokenizer()
    if tokenizer is None or any(word in run for word in INSTITUTIONS):
        return False
    tokens = tokenizer.tokenize(run)
    if not KANA.search(run):
        return places.populous(run) and not any(_may_name(t.surface) for t in tokens)
    place = ""
    single_kanji = 0
    for token in tokens:
        pos = token.part_of_speech.split(",")
        hiragana = _HIRAGANA.fullmatch(token.surface)
        if hiragana and token.surface not in HIRAGANA_GRAMMAR:
            if pos[0] != "名詞" or len(token.surface) < HIRAGANA_NOUN:
                return False
        elif hiragana or pos[0] in _GRAMMAR or not any(c.isalnum() for c in token.surface):  # "!" no noun
            single_kanji, place = 0, _closed(place)
            if place is None:
                return False
            continue
        if token.node_type != "SYS_DICT" or _may_name(token.surface) or pos[1] == "数":
            return False
        if "地域" in pos:  # a place, or a place's suffix (港 + 区): judged once the place is whole
            place += token.surface
            continue
        place = _closed(place)
        if place is None or pos[1] == "固有名詞":
            return False
        single_kanji = single_kanji + 1 if len(token.surface) == 1 and KANJI.match(token.surface) else 0
        if single_kanji >= 2:
            return False
    return _closed(place) is not None


def _closed(place: str) -> str | None:
    """An empty string once a run of place tokens ends in a populous place (or there was none), else
    None."""
    return "" if not place or places.populous(place) else None


def _may_name(surface: str) -> bool:
    """True when IPADIC lists ``surface`` as a person's name in any of its readings (an organisation
    reading alone does not count: 港, "harbour", has one; janome's own tag 組織 is judged apart)."""
    dictionary, matcher = _dictionary()
    return any(
        entry[1] == surface and "人名" in dictionary.lookup_extra(entry[0])[0]
        for entry in dictionary.lookup(surface.encode("utf-8"), matcher)
    )


@cache
def _tokenizer():
    """janome's tokenizer (about 0.2 s to open its dictionary), or None without the package: then no
    Japanese is explained, and PHI mode fails closed."""
    try:
        from janome.tokenizer import Tokenizer
    except ImportError:
        return None
    return Tokenizer()


def _dictionary():
    tokenizer = _tokenizer()
    return tokenizer.sys_dic, tokenizer.matcher
