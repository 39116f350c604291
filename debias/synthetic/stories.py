"""A seeded synthetic corpus whose gender bias has a known strength.

Short stories in plain English about two or three people known by their occupations. Each
character's pronouns match the occupation's stereotyped gender with probability
``stereotype_rate`` (else the other gender), so a language model trained on the corpus learns an
occupation-pronoun association of a chosen strength; ``neutral_fraction`` of the sentences are
narrative with no people in them. Pronouns appear in every grammatical role (he/him/his/himself,
she/her/hers/herself), sentence-initial and in contractions, so a pronoun rewrite has real work.

The corpus needs nothing from the network: it is the offline demo's data and the tests' source of
a bias of known strength. ``probe_pairs`` gives held-out she/he sentence pairs on the same
occupations, worded unlike any training story, to measure what a model learned.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from debias.config import SyntheticConfig
from debias.core.atomic import atomic_path
from debias.core.config_errors import ConfigError
from debias.synthetic.vocab import (
    CLOSING,
    CONTINUE,
    HANDOFF,
    INTRO,
    NAMES,
    NEUTRAL,
    OCCUPATIONS,
    PAIR,
    PROBES,
    SOLO,
    WORDS,
)

log = logging.getLogger(__name__)

__all__ = [
    "OCCUPATIONS",
    "Character",
    "PronounUse",
    "Story",
    "ProbePair",
    "generate_stories",
    "generate_story",
    "generate_documents",
    "write_jsonl",
    "probe_pairs",
    "corpus_stats",
    "gendered_words",
    "gendered_spans",
]

PRONOUNS: dict[str, dict[str, str]] = {
    "female": {"s": "she", "o": "her", "d": "her", "p": "hers", "r": "herself"},
    "male": {"s": "he", "o": "him", "d": "his", "p": "his", "r": "himself"},
}
ROLES = {"s": "subject", "o": "object", "d": "determiner", "p": "possessive", "r": "reflexive"}
OTHER = {"female": "male", "male": "female"}

# Story shape. Not config: changing them changes what "the synthetic corpus" is.
_NAME_RATE = 0.25  # a named character is called by name instead of occupation this often
_INTRO_RATE = 0.5  # chance that a character sentence introduces the next newcomer
_PAIR_RATE = 0.45
_HANDOFF_RATE = 0.6  # share of two-person sentences whose pronoun only syntax resolves
_CONTINUE_RATE = 0.4
_CLOSING_RATE = 0.6
_PARAGRAPH_RATE = 0.2
_CURLY_RATE = 0.15  # documents typeset with ’ instead of '

# The names of the random streams the corpus and the probes are drawn from. They are part of the
# data's identity, not of the code's layout: a story is ``random.Random(f"{STORY_STREAM}:{seed}:{index}")``
# and the probe set ``random.Random(f"{PROBE_STREAM}:{seed}")`` wherever this module lives. Changing
# either changes every corpus, tokenizer, data order and probe set built from them, which
# tests/test_data_identity.py pins by sha256.
STORY_STREAM = "pythia-debias synthetic story"
PROBE_STREAM = "pythia-debias synthetic probes"

_SLOT = re.compile(r"\{([A-C])(?:\.([istnodpr]))?\}")
_WORD_SLOT = re.compile(r"\{([a-z]+)\}")
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")
_GENDERED = re.compile(
    r"(?<![\w'’])(he|him|his|himself|she|her|hers|herself)(?:['’](?:s|d|ll))?(?![\w'’])", re.I
)


@dataclass(frozen=True)
class Character:
    occupation: str
    stereotype: str  # "male" | "female": the occupation's stereotyped gender
    gender: str  # the gender of this character's pronouns
    name: str

    @property
    def stereotyped(self) -> bool:
        return self.gender == self.stereotype


@dataclass(frozen=True)
class PronounUse:
    """One pronoun as written, for corpus statistics (``surface`` keeps case and clitic)."""

    character: int
    gender: str
    role: str
    surface: str


@dataclass(frozen=True)
class Story:
    text: str
    characters: tuple[Character, ...]  # those that appear, in order of appearance
    pronouns: tuple[PronounUse, ...]
    sentences: int
    neutral_sentences: int


@dataclass(frozen=True)
class ProbePair:
    """Two sentences that differ only in one pronoun, about one occupation."""

    occupation: str
    stereotype: str
    template: int
    role: str
    she_sentence: str
    he_sentence: str

    @property
    def pro_sentence(self) -> str:
        return self.she_sentence if self.stereotype == "female" else self.he_sentence

    @property
    def anti_sentence(self) -> str:
        return self.he_sentence if self.stereotype == "female" else self.she_sentence


class _Writer:
    """Fills templates for one story, remembering which characters have names and pronouns."""

    def __init__(self, rng: random.Random, cast: list[Character], apostrophe: str) -> None:
        self.rng = rng
        self.cast = cast
        self.apostrophe = apostrophe
        self.named: set[int] = set()
        self.pronouns: list[PronounUse] = []

    def fill(self, template: str, roles: dict[str, int]) -> str:
        def slot(m: re.Match[str]) -> str:
            letter, form = m.groups()
            who = roles[letter]
            c = self.cast[who]
            initial = not any(ch.isalpha() for ch in template[: m.start()])
            if form in ROLES:
                text = PRONOUNS[c.gender][form]
                clitic = re.match(r"'[a-z]+", template[m.end() :])
                surface = (text.capitalize() if initial else text) + (
                    clitic.group().replace("'", self.apostrophe) if clitic else ""
                )
                self.pronouns.append(PronounUse(who, c.gender, ROLES[form], surface))
                return text
            if form == "n":
                self.named.add(who)
                return c.name
            if form == "i":
                return f"a {c.occupation}"
            if form is None and who in self.named and self.rng.random() < _NAME_RATE:
                return c.name
            return f"the {c.occupation}"

        # Word lists may hold slots themselves ("gave {B.o} a {thing}"): expand those first, so
        # that the character pass sees where each pronoun sits in the finished sentence.
        while _WORD_SLOT.search(template):
            template = _WORD_SLOT.sub(lambda m: self.rng.choice(WORDS[m.group(1)]), template)
        text = _ARTICLE.sub(r"\1n ", _SLOT.sub(slot, template))
        first = next(i for i, ch in enumerate(text) if ch.isalpha())
        text = text[:first] + text[first].upper() + text[first + 1 :]
        return text.replace("'", self.apostrophe)


def _story(cfg: SyntheticConfig, index: int, stereotype_rates: dict[str, float] | None = None) -> Story:
    # One generator per document: document i is the same whatever num_documents is.
    rng = random.Random(f"{STORY_STREAM}:{cfg.seed}:{index}")
    n_cast = rng.randint(cfg.min_characters, cfg.max_characters)
    cast = []
    for occupation, name in zip(
        rng.sample(sorted(OCCUPATIONS), n_cast), rng.sample(NAMES, n_cast), strict=True
    ):
        stereotype = OCCUPATIONS[occupation]
        rate = cfg.stereotype_rate if stereotype_rates is None else stereotype_rates[stereotype]
        gender = stereotype if rng.random() < rate else OTHER[stereotype]
        cast.append(Character(occupation, stereotype, gender, name))
    writer = _Writer(rng, cast, "’" if rng.random() < _CURLY_RATE else "'")

    n_sentences = rng.randint(cfg.min_sentences, cfg.max_sentences)
    introduced: list[int] = []
    focus: int | None = None
    neutral = 0
    parts: list[str] = []
    for i in range(n_sentences):
        if rng.random() < cfg.neutral_fraction:
            sentence = writer.fill(rng.choice(NEUTRAL), {})
            neutral += 1
        elif len(introduced) < n_cast and (
            not introduced or (i < n_sentences - 1 and rng.random() < _INTRO_RATE)
        ):
            focus = len(introduced)  # characters appear in cast order
            introduced.append(focus)
            sentence = writer.fill(rng.choice(INTRO), {"A": focus})
        elif i == n_sentences - 1 and rng.random() < _CLOSING_RATE:
            sentence = writer.fill(rng.choice(CLOSING), {"A": rng.choice(introduced)})
        elif len(introduced) >= 2 and rng.random() < _PAIR_RATE:
            a, b = rng.sample(introduced, 2)
            family = HANDOFF if rng.random() < _HANDOFF_RATE else PAIR
            sentence = writer.fill(rng.choice(family), {"A": a, "B": b})
            focus = None  # after two people, a bare pronoun would be ambiguous
        elif focus is not None and rng.random() < _CONTINUE_RATE:
            sentence = writer.fill(rng.choice(CONTINUE), {"A": focus})
        else:
            focus = rng.choice(introduced)
            sentence = writer.fill(rng.choice(SOLO), {"A": focus})
        if parts and rng.random() < _PARAGRAPH_RATE:
            parts.append("\n\n")
        elif parts:
            parts.append(" ")
        parts.append(sentence)
    return Story(
        text="".join(parts),
        characters=tuple(cast[: len(introduced)]),
        pronouns=tuple(writer.pronouns),
        sentences=n_sentences,
        neutral_sentences=neutral,
    )


def generate_stories(
    cfg: SyntheticConfig, *, start: int = 0, progress: bool = False
) -> Iterator[Story]:
    """Stories ``start .. cfg.num_documents - 1`` with their metadata (who is who, every pronoun)."""
    _check(cfg)
    indices = range(start, cfg.num_documents)
    for index in tqdm(
        indices, desc="synthetic corpus", unit="doc", disable=None if progress else True
    ):
        yield _story(cfg, index)


def generate_story(
    cfg: SyntheticConfig, index: int, *, stereotype_rates: dict[str, float] | None = None
) -> Story:
    """Story ``index`` of the corpus. ``stereotype_rates`` (``{"female": p, "male": q}``) replaces
    ``cfg.stereotype_rate`` per stereotyped gender while every draw of the story's generator stays
    the same: each character's gender is decided from the same uniform, so the text differs only
    in the pronouns of the characters whose gender changes (the placebo arm, ``debias.rewrite.arms.placebo``)."""
    _check(cfg)
    if not 0 <= index < cfg.num_documents:
        raise IndexError(f"story {index} is outside the corpus's {cfg.num_documents} documents")
    return _story(cfg, index, stereotype_rates)


def generate_documents(cfg: SyntheticConfig) -> list[str]:
    """The corpus as plain texts, one story each. Same config, same texts."""
    return [story.text for story in generate_stories(cfg)]


def write_jsonl(path: str | Path, cfg: SyntheticConfig) -> Path:
    """Write the corpus as JSON lines ``{"text", "meta"}``, all or nothing (temp file, then rename).

    ``meta`` lists each character's occupation, stereotype and gender, for analysis.
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for story in generate_stories(cfg, progress=True):
            meta = {
                "characters": [[c.occupation, c.stereotype, c.gender] for c in story.characters]
            }
            fh.write(json.dumps({"text": story.text, "meta": meta}, ensure_ascii=False) + "\n")
    log.info("wrote %d synthetic documents to %s", cfg.num_documents, path)
    return path


def probe_pairs(
    seed: int = 0, n_per_occupation: int = 8, occupations: Iterable[str] | None = None
) -> list[ProbePair]:
    """Held-out she/he sentence pairs: ``n_per_occupation`` probe templates per occupation, drawn
    without replacement by ``seed``. Their wordings never occur in training stories."""
    if not 1 <= n_per_occupation <= len(PROBES):
        raise ValueError(
            f"probe_pairs: n_per_occupation={n_per_occupation} must lie in 1..{len(PROBES)} "
            "(the number of held-out probe templates in debias/synthetic/vocab.py)"
        )
    names = list(OCCUPATIONS) if occupations is None else list(occupations)
    unknown = [o for o in names if o not in OCCUPATIONS]
    if unknown:
        raise ValueError(
            f"probe_pairs: unknown occupation(s) {unknown}; choose from debias.synthetic.stories.OCCUPATIONS"
        )
    rng = random.Random(f"{PROBE_STREAM}:{seed}")
    out = []
    for occupation in names:
        for t in sorted(rng.sample(range(len(PROBES)), n_per_occupation)):
            role, template = PROBES[t]
            she, he = (template.format(occ=occupation, **PRONOUNS[g]) for g in ("female", "male"))
            out.append(ProbePair(occupation, OCCUPATIONS[occupation], t, role, she, he))
    return out


def corpus_stats(stories: Iterable[Story]) -> dict:
    """What a generated corpus holds: documents, words per document, realised stereotype and
    neutral rates, and counts of each pronoun as written and by gender and role."""
    docs = words = sentences = neutral = chars = stereotyped = 0
    surfaces: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    for story in stories:
        docs += 1
        words += len(story.text.split())
        sentences += story.sentences
        neutral += story.neutral_sentences
        chars += len(story.characters)
        stereotyped += sum(c.stereotyped for c in story.characters)
        for p in story.pronouns:
            surfaces[p.surface] += 1
            roles[f"{p.gender}/{p.role}"] += 1
    return {
        "documents": docs,
        "words_per_document": words / max(docs, 1),
        "characters": chars,
        "stereotype_rate": stereotyped / max(chars, 1),
        "neutral_fraction": neutral / max(sentences, 1),
        "pronouns": dict(sorted(surfaces.items())),
        "pronoun_roles": dict(sorted(roles.items())),
    }


def gendered_words(text: str) -> list[str]:
    """Every whole-word gendered pronoun in ``text`` as written (with any clitic)."""
    return [m.group() for m in _GENDERED.finditer(text)]


def gendered_spans(text: str, *, clitic: bool = True) -> list[tuple[int, int]]:
    """``(start, end)`` of every whole-word gendered pronoun in ``text``, with any clitic ('s, 'd,
    'll) unless ``clitic=False``."""
    return [m.span() if clitic else m.span(1) for m in _GENDERED.finditer(text)]


def _check(cfg: SyntheticConfig) -> None:
    problems = cfg.problems()
    if problems:
        raise ConfigError(problems, where="synthetic corpus config (data.synthetic)")
