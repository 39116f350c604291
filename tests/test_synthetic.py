"""The synthetic corpus: seeded, the configured bias strength realised, every pronoun form present,
gender carried by pronouns alone, probes held out, and the bias learnable by a simple model."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from debias.config import DataConfig, SyntheticConfig
from debias.data.fetch import resolve
from debias.synthetic.stories import (
    OCCUPATIONS,
    corpus_stats,
    gendered_words,
    generate_documents,
    generate_stories,
    probe_pairs,
    write_jsonl,
)
from debias.synthetic.vocab import PROBES

REPO = Path(__file__).resolve().parents[1]
CFG = SyntheticConfig(num_documents=2000, seed=7)
FEMININE = {"she", "her", "hers", "herself"}
MASCULINE = {"he", "him", "his", "himself"}


@pytest.fixture(scope="module")
def stories():
    return list(generate_stories(CFG))


def _pronoun(word: str) -> str:
    return re.split(r"['’]", word.lower())[0]


def test_same_seed_same_corpus_other_seed_other_corpus():
    small = replace(CFG, num_documents=50)
    assert generate_documents(small) == generate_documents(small)
    assert generate_documents(replace(small, seed=8)) != generate_documents(small)
    # Document i does not depend on how many documents are asked for.
    assert generate_documents(replace(small, num_documents=80))[:50] == generate_documents(small)


def test_bad_config_lists_every_problem_and_stops_generation():
    bad = SyntheticConfig(
        num_documents=0,
        stereotype_rate=1.5,
        neutral_fraction=-0.1,
        min_characters=3,
        max_characters=2,
    )
    problems = bad.problems()
    assert len(problems) == 4
    assert any("stereotype_rate" in p for p in problems) and any(
        "neutral_fraction" in p for p in problems
    )
    with pytest.raises(ValueError, match="stereotype_rate"):
        generate_documents(bad)


def test_occupations_cover_winobias_with_its_stereotypes():
    for gender in ("male", "female"):
        listed = resolve(f"winobias/data/{gender}_occupations.txt").read_text().split("\n")
        listed = [o.strip() for o in listed if o.strip()]
        assert len(listed) == 20
        assert {o: OCCUPATIONS.get(o) for o in listed} == dict.fromkeys(listed, gender)
    stereotypes = Counter(OCCUPATIONS.values())
    assert stereotypes["male"] == stereotypes["female"] >= 25  # balanced: no prior from the cast


@pytest.mark.parametrize("rate", [0.9, 0.6])
def test_realised_stereotype_rate_is_within_sampling_error(rate):
    stats = corpus_stats(generate_stories(replace(CFG, stereotype_rate=rate)))
    sigma = math.sqrt(rate * (1 - rate) / stats["characters"])
    print(
        f"stereotype_rate {rate}: realised {stats['stereotype_rate']:.4f} over {stats['characters']} characters"
    )
    assert abs(stats["stereotype_rate"] - rate) < 4 * sigma


def test_extreme_rates_are_exact():
    small = replace(CFG, num_documents=200)
    assert (
        corpus_stats(generate_stories(replace(small, stereotype_rate=1.0)))["stereotype_rate"]
        == 1.0
    )
    assert (
        corpus_stats(generate_stories(replace(small, stereotype_rate=0.0)))["stereotype_rate"]
        == 0.0
    )
    none = list(generate_stories(replace(small, neutral_fraction=1.0)))
    assert not any(s.characters or gendered_words(s.text) for s in none)
    assert (
        corpus_stats(generate_stories(replace(small, neutral_fraction=0.0)))["neutral_fraction"]
        == 0.0
    )


def test_neutral_fraction_is_realised(stories):
    stats = corpus_stats(stories)
    n = sum(s.sentences for s in stories)
    sigma = math.sqrt(CFG.neutral_fraction * (1 - CFG.neutral_fraction) / n)
    assert abs(stats["neutral_fraction"] - CFG.neutral_fraction) < 4 * sigma


def test_every_pronoun_form_and_role_occurs(stories):
    stats = corpus_stats(stories)
    print(json.dumps({k: v for k, v in stats.items()}, indent=1, ensure_ascii=False))
    counts = stats["pronouns"]
    # fmt: off
    required = [
        "he", "him", "his", "himself", "she", "her", "hers", "herself",  # every role
        "He", "His", "She", "Her", "Hers",  # sentence-initial
        "he's", "he'd", "he'll", "she's", "she'd", "she'll", "He'd", "She's",  # contractions
        "he’s", "she’d",  # with a typographic apostrophe
    ]
    # fmt: on
    assert {f: counts.get(f, 0) for f in required if counts.get(f, 0) < 5} == {}
    roles = stats["pronoun_roles"]
    for gender in ("male", "female"):
        for role in ("subject", "object", "determiner", "possessive", "reflexive"):
            assert roles[f"{gender}/{role}"] >= 200, (gender, role)
    assert 60 <= stats["words_per_document"] <= 200


def test_text_holds_exactly_the_pronouns_the_story_records(stories):
    # No gendered pronoun slips in through the vocabulary, and the statistics count what is written.
    for story in stories:
        assert gendered_words(story.text) == [p.surface for p in story.pronouns]
        for p in story.pronouns:  # each pronoun belongs to a character of the story, and agrees
            assert p.gender == story.characters[p.character].gender


def test_pronouns_follow_the_characters_genders(stories):
    seen = Counter()
    for story in stories:
        genders = {c.gender for c in story.characters}
        words = {_pronoun(w) for w in gendered_words(story.text)}
        if genders == {"female"}:
            assert not words & MASCULINE, story.text
            seen["female"] += 1
        if genders == {"male"}:
            assert not words & FEMININE, story.text
            seen["male"] += 1
    assert seen["female"] > 50 and seen["male"] > 50


def test_gender_is_carried_by_pronouns_alone(stories):
    # fmt: off
    gendered_nouns = {
        "man", "men", "woman", "women", "boy", "girl", "mother", "father", "mom", "dad", "sister",
        "brother", "wife", "husband", "son", "daughter", "aunt", "uncle", "king", "queen", "lady",
        "gentleman", "mr", "mrs", "ms", "miss", "sir", "madam", "waitress", "actress", "fisherman",
        "chairman", "girlfriend", "boyfriend", "grandmother", "grandfather",
    }
    words = Counter(w.lower() for s in stories for w in re.findall(r"[A-Za-z]+", s.text))
    assert not gendered_nouns & set(words)
    # ...and words that only contain a pronoun are there, to trap a careless swapper.
    traps = {"sheriff", "shepherd", "therapist", "hearth", "shelf", "herbs", "there", "then", "ashe", "hen"}
    # fmt: on
    assert {t for t in traps if words[t] == 0} == set()


def test_documents_are_multi_character_stories(stories):
    casts = Counter(len(s.characters) for s in stories)
    assert casts[2] + casts[3] > 0.95 * len(stories)
    two_genders = sum(len({c.gender for c in s.characters}) == 2 for s in stories)
    assert two_genders > 0.3 * len(stories)  # coreference by gender is needed often


def test_probe_pairs_differ_only_in_the_pronoun():
    pairs = probe_pairs(seed=3, n_per_occupation=6)
    assert pairs == probe_pairs(seed=3, n_per_occupation=6)
    assert pairs != probe_pairs(seed=4, n_per_occupation=6)
    assert len(pairs) == 6 * len(OCCUPATIONS)
    assert Counter(p.occupation for p in pairs) == dict.fromkeys(OCCUPATIONS, 6)
    counterpart = {"she": {"he"}, "her": {"his", "him"}, "hers": {"his"}, "herself": {"himself"}}
    for p in pairs:
        assert p.stereotype == OCCUPATIONS[p.occupation]
        assert p.occupation in p.she_sentence
        she, he = p.she_sentence.split(), p.he_sentence.split()
        diff = [(a, b) for a, b in zip(she, he, strict=True) if a != b]
        assert len(diff) == 1, p
        a, b = (re.sub(r"['’]\w+|[^\w]", "", w) for w in diff[0])
        assert b in counterpart[a], p
        assert (p.pro_sentence, p.anti_sentence) == (
            (p.she_sentence, p.he_sentence)
            if p.stereotype == "female"
            else (p.he_sentence, p.she_sentence)
        )
    per_occupation = defaultdict(list)
    for p in pairs:
        per_occupation[p.occupation].append(p.template)
    assert all(len(set(t)) == 6 for t in per_occupation.values())  # distinct templates


def test_probe_pairs_reject_bad_arguments():
    with pytest.raises(ValueError, match="n_per_occupation"):
        probe_pairs(n_per_occupation=len(PROBES) + 1)
    with pytest.raises(ValueError, match="astronaut"):
        probe_pairs(occupations=["nurse", "astronaut"])
    assert {
        p.occupation for p in probe_pairs(occupations=["nurse", "CEO"], n_per_occupation=2)
    } == {"nurse", "CEO"}


def test_probe_wordings_never_occur_in_training_stories(stories):
    corpus = "\n".join(s.text for s in stories).replace("’", "'")
    for _, template in PROBES:
        prefix, suffix = template.split("{occ}")
        if len(prefix.split()) > 2:
            assert prefix.lower() not in corpus.lower(), template
        for pronouns in (
            {"s": "she", "o": "her", "d": "her", "p": "hers", "r": "herself"},
            {"s": "he", "o": "him", "d": "his", "p": "his", "r": "himself"},
        ):
            assert suffix.format(**pronouns) not in corpus, template


def test_write_jsonl_is_the_corpus_and_atomic(tmp_path):
    cfg = replace(CFG, num_documents=30)
    out = write_jsonl(tmp_path / "corpus" / "synthetic.jsonl", cfg)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == generate_documents(cfg)
    assert all(len(r["meta"]["characters"]) >= 1 for r in rows)
    assert [p.name for p in out.parent.iterdir()] == ["synthetic.jsonl"]  # no temp file left
    with pytest.raises(ValueError):
        write_jsonl(tmp_path / "bad.jsonl", replace(cfg, stereotype_rate=2.0))
    assert not (tmp_path / "bad.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def _gender_counts(texts):
    """Count model: attribute each pronoun to the last occupation mentioned before it."""
    occupation = "|".join(sorted(map(re.escape, OCCUPATIONS), key=len, reverse=True))
    token = re.compile(rf"\b({occupation})\b|\b([A-Za-z]+)\b")
    counts = defaultdict(Counter)
    for text in texts:
        last = None
        for m in token.finditer(text):
            if m.group(1):
                last = m.group(1)
            elif last and m.group(2).lower() in FEMININE | MASCULINE:
                counts[last]["she" if m.group(2).lower() in FEMININE else "he"] += 1
    return counts


def _prior_and_association(counts):
    logodds = {o: math.log((c["she"] + 1) / (c["he"] + 1)) for o, c in counts.items()}
    female = [v for o, v in logodds.items() if OCCUPATIONS[o] == "female"]
    male = [v for o, v in logodds.items() if OCCUPATIONS[o] == "male"]
    return sum(logodds.values()) / len(logodds), sum(female) / len(female) - sum(male) / len(male)


def _to_feminine(text):
    table = {"he": "she", "him": "her", "his": "her", "himself": "herself"}
    return re.sub(r"\b([Hh]e|[Hh]im|[Hh]is|[Hh]imself)\b", lambda m: table[m.group().lower()], text)


def test_bias_is_learnable_and_a_tail_rewrite_moves_it(stories):
    """The study in miniature with a count model: it learns the stereotypes, and rewriting the last
    21% of the corpus to feminine raises the prior and shrinks the association."""
    texts = [s.text for s in stories]
    counts = _gender_counts(texts)
    she_share = {o: c["she"] / (c["she"] + c["he"]) for o, c in counts.items()}
    assert set(she_share) == set(OCCUPATIONS)
    assert all((share > 0.6) == (OCCUPATIONS[o] == "female") for o, share in she_share.items())
    cut = int(0.79 * len(texts))
    rewritten = texts[:cut] + [_to_feminine(t) for t in texts[cut:]]
    prior, association = _prior_and_association(counts)
    new_prior, new_association = _prior_and_association(_gender_counts(rewritten))
    print(
        f"count model: prior {prior:+.2f} -> {new_prior:+.2f}, association {association:.2f} -> {new_association:.2f}"
    )
    assert abs(prior) < 0.3 and association > 2.5
    assert new_prior > prior + 0.3 and new_association < association - 0.3


def test_conf_data_synthetic_composes():
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    # The contract's registration (group=data, name=base_data), repeated so this test stands alone.
    ConfigStore.instance().store(group="data", name="base_data", node=DataConfig)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(overrides=["+data=synthetic"])
    data = OmegaConf.to_object(cfg.data)
    assert isinstance(data, DataConfig) and isinstance(data.synthetic, SyntheticConfig)
    assert data.source == "synthetic" and data.problems() == []
    assert data.synthetic.stereotype_rate == 1.0  # the study's strong, known bias
