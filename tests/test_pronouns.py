"""The pronoun tables, whole-word matching, casing and the Swap record (no spaCy needed)."""

from __future__ import annotations

import dataclasses

import pytest

from debias.core.contracts import empty_counts
from debias.swap.pronouns import (
    AMBIGUOUS,
    FEMININE,
    MASCULINE,
    PRONOUN_RE,
    TABLE,
    Swap,
    ambiguous_forms,
    apply_swaps,
    canonical_form,
    find_pronouns,
    match_case,
    source_forms,
    tally,
)


def words(text: str, forms=MASCULINE + FEMININE) -> list[str]:
    return [m.group() for m in find_pronouns(text, forms)]


def test_every_form_has_counterparts_of_the_other_gender():
    for form in MASCULINE:
        targets = AMBIGUOUS.get(form) or (TABLE[form],)
        assert all(t in FEMININE for t in targets)
    for form in FEMININE:
        targets = AMBIGUOUS.get(form) or (TABLE[form],)
        assert all(t in MASCULINE for t in targets)
    assert AMBIGUOUS == {"his": ("her", "hers"), "her": ("his", "him")}


def test_directions_and_their_forms():
    assert source_forms("to_feminine") == ("he", "him", "his", "himself")
    assert source_forms("to_masculine") == ("she", "her", "hers", "herself")
    assert set(source_forms("both")) == set(MASCULINE + FEMININE)
    assert ambiguous_forms("to_feminine") == ("his",)
    assert ambiguous_forms("to_masculine") == ("her",)
    assert set(ambiguous_forms("both")) == {"his", "her"}


def test_unknown_direction_lists_the_choices():
    with pytest.raises(ValueError, match="to_feminine, to_masculine, both"):
        source_forms("feminine")


@pytest.mark.parametrize(
    "source, target, expected",
    [("he", "she", "she"), ("He", "she", "She"), ("HE", "she", "SHE"), ("His", "hers", "Hers"),
     ("HERSELF", "himself", "HIMSELF"), ("hE", "she", None), ("HiS", "her", None)],
)
def test_case_follows_the_source(source, target, expected):
    assert match_case(source, target) == expected


@pytest.mark.parametrize("text", ["hearth", "Ashe", "Shepherd", "there", "the", "Theodore", "sheriff",
                                  "Hisham", "hiss", "herb", "whim", "chimney", "ushers", "shell",
                                  "he_1", "her2", "Hé", "he\u0301", "s/he", "(s)he", "S/he",
                                  "www.his.com", "her.txt", "@his", "his@example.org"])
def test_words_that_merely_contain_a_pronoun_are_not_matched(text):
    assert words(text) == []


def test_whole_words_in_every_casing_and_beside_punctuation():
    text = "He, HIM; his! (himself) “She” 'her' hers? HERSELF—he/she"
    assert words(text) == ["He", "HIM", "his", "himself", "She", "her", "hers", "HERSELF", "he", "she"]


def test_contractions_keep_their_clitic_outside_the_match():
    text = "he's she’d HE'LL She’s he’ll"
    found = find_pronouns(text, MASCULINE + FEMININE)
    assert [m.group() for m in found] == ["he", "she", "HE", "She", "he"]
    assert [text[m.end()] for m in found] == ["'", "’", "'", "’", "’"]


def test_old_spelling_hers_is_one_word():
    assert words("the fault was her's, or her’s") == ["her's", "her’s"]
    assert canonical_form("Her’s") == "hers"
    assert words("her's", ["her"]) == []  # not "her" + "'s"


def test_only_the_requested_forms_are_found():
    assert words("She told him that his hat was hers.", MASCULINE) == ["him", "his"]
    assert words("She told him that his hat was hers.", FEMININE) == ["She", "hers"]
    assert PRONOUN_RE.findall("She told him") == ["She", "him"]


def test_swap_is_frozen_and_knows_its_form():
    swap = Swap(4, 9, "Her’s", "His")
    assert swap.form == "hers" and swap.reason is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        swap.target = "x"  # type: ignore[misc]


def test_apply_swaps_replaces_spans_and_keeps_the_rest():
    text = "He\tsaid:\r\n  his  dog’s bowl\u00a0— é"
    at = text.index("his")
    swaps = [Swap(at, at + 3, "his", "her"), Swap(0, 2, "He", "She"), Swap(4, 7, "aid", None, "odd_case")]
    assert apply_swaps(text, swaps) == "She\tsaid:\r\n  her  dog’s bowl\u00a0— é"
    assert apply_swaps("", []) == ""


def test_tally_counts_seen_swapped_and_left_with_reasons():
    counts = empty_counts(MASCULINE)
    tally([Swap(0, 2, "He", "She"), Swap(3, 5, "hE", None, "odd_case"), Swap(6, 9, "his", "her")], counts)
    assert counts["he"] == {"seen": 2, "swapped": 1, "left": {"odd_case": 1}}
    assert counts["his"] == {"seen": 1, "swapped": 1, "left": {}}
    assert counts["him"] == {"seen": 0, "swapped": 0, "left": {}}
