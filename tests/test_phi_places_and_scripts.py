"""--text phi keeps a sign's place names, Japanese text and code identifiers, and still no name (issue 17).

../shared's real-world set lost 6 of its 62 harmless lines this way (a road sign's "Pyeongyang", a
Tokyo ward's litter notice in Japanese, two "width_ths = 0.5" labels): judged word by word here, on the
recognised text; tests/test_realworld.py scrubs the images themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deident.text import japanese, phi, places

DATA = Path(__file__).parent / "data"
SURE = 0.99  # a line read as well as the set's Japanese signs (0.98-1.00)

# The commonest Japanese surnames and given names (kanji and kana): each a name to PHI mode in each
# sentence below (hiragana names were cut into grammar and fragments: は + な + この). Not among them: a
# given name that is an ordinary noun (さくら, "cherry blossom"), kept as "Hope" is in English.
NAMES = [
    n
    for line in (DATA / "japanese_names.txt").read_text("utf-8").splitlines()
    if not line.startswith("#")
    for n in line.split()
]
SENTENCES = ("{}の左膝", "患者{}の写真", "{}です")


def test_japanese_and_korean_signs_of_the_real_world_set():
    """The three Japanese lines of easyocr_japanese.jpg as the recogniser reads them; the Korean sign's
    Hangul, which it cannot read, came back as kanji ("品印" at 0.72) and stays redacted."""
    assert phi.classify("ポイ捨て禁止!", 0.98) is None  # "no littering!"
    assert phi.classify("清潔できれいな港区を", 1.0) is None  # "(keep) Minato ward clean and tidy"
    assert phi.classify("港区 MINATO CITY", SURE) is None
    assert phi.classify("品印", 0.72) == "possible name"
    assert phi.classify("서울", SURE) == "possible name"  # no reader of Hangul judges it


@pytest.mark.parametrize("sentence", SENTENCES)
def test_japanese_names_stay_redacted_in_a_sentence(sentence):
    kept = {name for name in NAMES if phi.classify(sentence.format(name), SURE) is None}
    assert kept == set()


@pytest.mark.parametrize(
    "line",
    [
        "田中様",  # an honorific after a name
        "山田太郎",
        "港区クリニックの写真",  # an institution
        "東京大学の研究",  # an organisation
        "令和5年3月の写真",  # a date
        "二〇二四年の写真",
        "左の膝",  # 左 ("left") is a surname too: fails closed
        "禁止",  # kanji alone may be Chinese: only a place's whole name is kept
        "松本",  # a city of 240,000 and a surname
        "結菜の写真",  # a given name the dictionary knows only as two single kanji
    ],
)
def test_japanese_that_may_name_someone_is_redacted(line):
    assert phi.classify(line, SURE) is not None


def test_japanese_read_below_the_bar_is_not_judged():
    assert phi.classify("ポイ捨て禁止!", phi.CJK_MIN_SCORE - 0.01) == "possible name"
    assert japanese.explained("ポイ捨て禁止!")  # the text itself would pass


def test_places_of_a_million_people_and_their_close_spellings_are_kept():
    for line in ("Pyeongyang", "Seoul", "Lagos", "MINATO CITY", "東京"):
        assert phi.classify(line, SURE) is None, line


@pytest.mark.parametrize(
    "line",
    [
        "Jackson",  # a city of 150,000, and a census name
        "Bentley",  # a city too
        "Minato",  # a city of 375,000 alone: a surname as often
        "Anand",  # a city of 200,000 and an Indian name
        "Basrurkar",  # a surname after a small town
        "Sofija",  # a name spelt nearly as Sofia
        "Aba",  # too short to tell from a code
        "12 Main St, Springfield, IL 62701",  # an address names its city and still goes
    ],
)
def test_names_small_places_and_addresses_stay_redacted(line):
    assert phi.classify(line, SURE) is not None


def test_without_the_gazetteer_no_place_is_kept(monkeypatch):
    monkeypatch.setattr(places, "_names", lambda: places._Names([]))
    assert phi.classify("Pyeongyang", SURE) == "possible name"
    assert phi.classify("港区 MINATO CITY", SURE) == "possible name"


def test_a_programming_identifier_is_no_name():
    assert phi.classify("width_ths = 0.5", 1.0) is None
    for line in ("mary_jones", "john_smith = 1", "okafor_width", "width_lee"):
        assert phi.classify(line, 1.0) == "possible name", line
