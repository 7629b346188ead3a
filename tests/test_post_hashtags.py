"""Hashtags for ``deident post``: the curated vocabularies, matching rules, user edits and order."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deident.post.hashtags import (
    diagnoses,
    fields,
    find_diagnoses,
    find_fields,
    hashtags_for,
    normalise_tag,
    parse_edits,
)

# caption, tags that must be there, tags that must not
CASES = [
    ("Punch biopsy: basal cell carcinoma, nodular type", ["#dermpath", "#pathology", "#BCC"], []),
    ("Another BCC today, an infiltrative basal cell carcinoma", ["#BCC"], []),
    ("I saw all of it, ALL good", [], ["#ALL"]),
    ("A nodular melanoma on the back", ["#NodularMelanoma"], ["#Melanoma"]),
    ("Multiple lipomas excised", ["#Lipoma"], []),
    ("Crohn’s disease of the ileum, biopsy", ["#CrohnDisease", "#gipath", "#pathology"], []),
    ("Left thigh mass: nodular fasciitis vs leiomyosarcoma", ["#NodularFasciitis", "#Leiomyosarcoma"], []),
    ("Nodular-fasciitis in the forearm", ["#NodularFasciitis"], []),
    ("CXR shows a lung mass", ["#radiology"], ["#pulmpath", "#pathology"]),
    ("Lung biopsy with granulomas", ["#pulmpath", "#pathology", "#Granuloma"], []),
    ("Psoriasis on the elbows", ["#dermatology", "#Psoriasis"], ["#pathology"]),
    ("Dermatofibroma with collagen trapping", ["#Dermatofibroma", "#dermpath"], []),
    ("GISTs of the stomach", ["#GIST", "#gipath"], []),
    ("A case of melanoma in situ, lentigo maligna type", ["#MelanomaInSitu"], ["#Melanoma"]),
    ("Kaposi sarcoma in an HIV patient", ["#KaposiSarcoma"], ["#Sarcoma"]),
    ("pe and tb were ruled out; ALT was normal", [], ["#PulmonaryEmbolism", "#Tuberculosis"]),
]


@pytest.mark.parametrize(("caption", "present", "absent"), CASES)
def test_tags_found_in_caption(caption, present, absent):
    tags = hashtags_for(caption)
    for tag in present:
        assert tag in tags, (caption, tags)
    for tag in absent:
        assert tag not in tags, (caption, tags)


def test_order_fields_then_diagnoses_in_mention_order_then_added():
    tags = hashtags_for("leiomyosarcoma next to a lipoma, skin biopsy", tags=["+teaching"])
    assert tags.index("#pathology") < tags.index("#dermpath") < tags.index("#Leiomyosarcoma")
    assert tags.index("#Leiomyosarcoma") < tags.index("#Lipoma") < tags.index("#teaching")
    assert tags[-1] == "#teaching"


def test_no_duplicates_and_caption_tags_not_repeated():
    tags = hashtags_for(
        "#dermpath BCC, basal cell carcinoma and a bcc", tags=["bcc", "BCC", "#Teaching", "teaching"]
    )
    lowered = [t.lower() for t in tags]
    assert len(lowered) == len(set(lowered))
    assert "#dermpath" not in lowered  # already written in the caption
    assert lowered.count("#bcc") == 1 and lowered.count("#teaching") == 1


def test_edits_add_and_remove():
    added, removed = parse_edits(["+foo", "bar", "-pathology", "baz, -qux #Path-Twitter"])
    assert added == ["foo", "bar", "baz", "PathTwitter"]
    assert removed == {"pathology", "qux"}
    tags = hashtags_for("skin biopsy: melanoma", tags=["-pathology", "-Melanoma", "+dermatology"])
    assert "#pathology" not in tags and "#Melanoma" not in tags
    assert "#dermpath" in tags and "#dermatology" in tags


def test_given_fields_and_unknown_field():
    assert find_fields("", ["dermpath"]) == ["pathology", "dermpath"]
    assert hashtags_for("nothing here", fields_given=["radiology"]) == ["#radiology"]
    with pytest.raises(ValueError, match="unknown field"):
        find_fields("", ["astrology"])


def test_context_words_need_the_parent_field():
    assert "gipath" not in find_fields("a colon photo")
    assert "gipath" in find_fields("colon biopsy")


@pytest.mark.parametrize("bad", ["", "#", "---", "!!"])
def test_unusable_tags_rejected(bad):
    with pytest.raises(ValueError):
        normalise_tag(bad)


def test_vocabulary_is_consistent():
    field_tags = {f.tag for f in fields()}
    assert {"pathology", "dermpath", "dermatology", "radiology", "gipath"} <= field_tags
    assert all(f.parent in field_tags for f in fields() if f.parent)
    assert len(diagnoses()) >= 300
    owners: dict[str, str] = {}
    for d in diagnoses():
        assert d.field in field_tags, d
        assert normalise_tag(d.tag) == d.tag, d
        for name in d.names:
            key = re.sub(r"[\s-]+", " ", name.lower())
            assert owners.setdefault(key, d.tag) == d.tag, f"{name!r} belongs to {owners[key]} and {d.tag}"
    # each entry is found by its own first name
    for d in diagnoses():
        assert d in find_diagnoses(f"the slide shows {d.names[0]} today"), d


_WORDS = ["melanoma", "BCC", "skin", "biopsy", "lung", "all", "#dermpath", "the", "of", "Lipomas", "CT", "-"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=12), st.lists(st.sampled_from(["+x", "-biopsy", "y,z"])))
def test_hashtags_always_well_formed(words, edits):
    tags = hashtags_for(" ".join(words), tags=edits)
    assert all(re.fullmatch(r"#\w+", t) for t in tags)
    assert len({t.lower() for t in tags}) == len(tags)
    assert tags == hashtags_for(" ".join(words), tags=edits)  # stable
