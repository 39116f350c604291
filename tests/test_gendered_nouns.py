"""The opt-in ``nouns`` group: every pair's morphology (singular, plural, casing, possessives),
the stated decisions for titles and ambiguous words, whole words only, names that are common
words, and the groups API of PronounSwapper and SwapConfig."""

from __future__ import annotations

import pytest

from debias.config import SwapConfig
from debias.swap import gendered_nouns as gn
from debias.swap.pronouns import apply_swaps

PLAIN = [(d, s, t.plain) for d, table in gn.TARGETS.items() for s, t in table.items() if t.plain]
TITLES = [(d, s, t.title) for d, table in gn.TARGETS.items() for s, t in table.items() if t.title]


def swap(text: str, direction: str) -> str:
    return apply_swaps(text, gn.plan_nouns(text, direction))


def title(word: str) -> str:
    return word[0].upper() + word[1:]


@pytest.mark.parametrize("direction, source, target", PLAIN, ids=[f"{d}-{s}" for d, s, _ in PLAIN])
def test_every_pair_swaps_in_each_casing_and_with_its_possessive(direction, source, target):
    assert swap(f"I met the {source} today.", direction) == f"I met the {target} today."
    assert swap(f"THE {source.upper()} LEFT.", direction) == f"THE {target.upper()} LEFT."
    assert swap(f"{title(source)} left.", direction) == f"{title(target)} left."
    # the clitic stays outside the word, so both possessives keep their spelling
    assert swap(f"the {source}'s hat, the {source}' hats", direction) == f"the {target}'s hat, the {target}' hats"
    assert swap(f"the {source}. {title(source)}!", "both") == swap(f"the {source}. {title(source)}!", direction)


@pytest.mark.parametrize("direction, source, target", TITLES, ids=[f"{d}-{s}" for d, s, _ in TITLES])
def test_titles_swap_before_a_name(direction, source, target):
    assert swap(f"We saw {title(source)} Jones there.", direction) == f"We saw {title(target)} Jones there."


def test_two_way_pairs_come_back():
    for line in gn.PAIRS.strip().splitlines():
        msg, mpl, mark, fsg, fpl, *flag = line.split()
        if mark != "=":
            continue
        kind = "title" if flag else "plain"
        for m, f in ((msg, fsg), (mpl, fpl)):
            if m != "-":
                assert getattr(gn.TARGETS["to_feminine"][m], kind) == f
                assert getattr(gn.TARGETS["to_masculine"][f], kind) == m


def test_singular_and_plural_are_both_in_the_table():
    forms = set(gn.noun_forms("both"))
    for singular, plural in [("father", "fathers"), ("man", "men"), ("wife", "wives"), ("actress", "actresses"),
                             ("princess", "princesses"), ("lady", "ladies"), ("hero", "heroes"), ("chairman", "chairmen")]:
        assert {singular, plural} <= forms
    assert not set(gn.noun_forms("to_feminine")) & set(gn.noun_forms("to_masculine"))


@pytest.mark.parametrize(
    "text",
    ["The manhole near Amanda's mansion.", "He did it hisself.", "Germany's humane manager.",
     "The kingfisher and the sonar.", "A man-made lake, a he-man.", "www.king.com and king.txt"],
)
def test_words_that_merely_contain_a_gendered_word_stay(text):
    assert swap(text, "both") == text


def test_compounds_and_prefixes():
    assert swap("my mother-in-law and his ex-wife", "both") == "my father-in-law and his ex-husband"
    assert swap("her great-grandfather", "to_feminine") == "her great-grandmother"
    assert [s.reason for s in gn.plan_nouns("man-made", "to_feminine")] == []
    assert [s.reason for s in gn.plan_nouns("a he-man", "to_feminine")] == [gn.COMPOUND]


def test_names_that_are_common_words_stay():
    text = "Stephen King met Billie Jean King at Burger King; Mr. King smiled."
    assert swap(text, "to_feminine") == "Stephen King met Billie Jean King at Burger King; Ms. King smiled."
    assert {s.reason for s in gn.plan_nouns(text, "to_feminine") if s.source == "King"} == {gn.IN_NAME}
    assert swap("The King spoke. Then Queen Mary answered.", "both") == "The Queen spoke. Then King Mary answered."
    assert swap("Dear Mother, come.", "to_masculine") == "Dear Father, come."


def test_title_decisions():
    assert swap("Mr. Darcy, Mrs. Bennet and Ms. Lucas", "both") == "Ms. Darcy, Mr. Bennet and Mr. Lucas"
    assert swap("I miss you, Miss Bennet; a near miss.", "to_masculine") == "I miss you, Mr Bennet; a near miss."
    assert swap("Yes, sir. Sir Walter came.", "to_feminine") == "Yes, madam. Dame Walter came."
    assert swap("Thank you, ma'am. Thank you, ma’am.", "to_masculine") == "Thank you, sir. Thank you, sir."
    assert swap("The Lord is kind; Lord Byron was no lord.", "to_feminine") == "The Lord is kind; Lady Byron was no lord."
    assert swap("Lady Russell and the lady", "to_masculine") == "Lord Russell and the gentleman"
    assert swap("Miss\nBennet; Miss\n\nBennet", "to_masculine") == "Mr\nBennet; Miss\n\nBennet"  # a line
    # break may sit between a title and its name, a blank line may not
    reasons = [s.reason for s in gn.plan_nouns("The Lord is kind, lord.", "to_feminine")]
    assert reasons == [gn.NOT_A_TITLE, gn.NOT_A_TITLE]


def test_mixed_case_is_left():
    assert [(s.target, s.reason) for s in gn.plan_nouns("mOther", "to_masculine")] == [(None, "odd_case")]


def test_swapper_groups_api():
    from debias.swap.swapper import PronounSwapper

    text = "He told his father's brother."
    plain = PronounSwapper("to_feminine")
    assert plain.groups == ("pronouns",) and plain.swap(text) == "She told her father's brother."
    both = PronounSwapper("to_feminine", groups=("nouns", "pronouns"))
    assert both.groups == ("pronouns", "nouns")
    assert both.swap(text) == "She told her mother's sister."
    assert both.counts["father"] == {"seen": 1, "swapped": 1, "left": {}}
    assert both.counts["he"]["swapped"] == 1 and both.counts["kings"]["seen"] == 0  # every form counted
    assert both.model_info["groups"] == ["pronouns", "nouns"]
    nouns = PronounSwapper("to_feminine", groups=("nouns",))
    assert nouns.swap(text) == "He told his mother's sister." and "he" not in nouns.counts
    for bad in (("verbs",), (), "nouns"):
        with pytest.raises(ValueError, match="choose one or more of pronouns, nouns"):
            PronounSwapper("to_feminine", groups=bad)


def test_swap_config_groups():
    assert SwapConfig().groups == ["pronouns"] and SwapConfig().problems() == []
    assert SwapConfig(groups=["pronouns", "nouns"]).problems() == []
    assert "swap.groups=['names']" in SwapConfig(groups=["names"]).problems()[0]


def test_tail_rewrite_with_nouns_verifies_and_counts_every_form(tmp_path, neox_tokenizer_path):
    from debias.data.corpus import build_data_order
    from debias.rewrite.tail import rewrite_tail
    from debias.rewrite.verify import verify_tail

    docs = ["His father met the King and Mr. Smith; the men's wives came too. " * 6] * 40
    source = tmp_path / "order"
    build_data_order(docs, neox_tokenizer_path, source, seq_length=128, seed=0, progress=False)
    args = dict(start_step=0, end_step=4, rows_per_step=4, tokenizer=neox_tokenizer_path,
                direction="to_feminine", progress=False)
    manifest = rewrite_tail(source, tmp_path / "tail", groups=("pronouns", "nouns"), **args)
    counts = manifest["counts"]
    assert manifest["groups"] == ["pronouns", "nouns"]
    assert set(gn.noun_forms("to_feminine")) <= set(counts)  # every form, seen or not
    assert counts["father"]["swapped"] > 10 and counts["king"]["swapped"] > 10
    assert counts["mr"]["swapped"] > 10 and counts["kings"]["seen"] == 0
    assert verify_tail(source, tmp_path / "tail", progress=False)["swaps"] > 50
    plain = rewrite_tail(source, tmp_path / "plain", **args)
    assert "father" not in plain["counts"] and plain["groups"] == ["pronouns"]
