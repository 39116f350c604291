"""The gendered pronoun forms, their counterparts and how a source word's casing carries over.

Everything here is table work: finding whole-word pronouns in a text, mapping the unambiguous
forms, and naming the two possible counterparts of the ambiguous ones (``his`` -> ``her``/``hers``,
``her`` -> ``his``/``him``). Which of the two applies is decided in context by ``debias.swap.swapper``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from debias.config import DIRECTIONS
from debias.core.contracts import Counts, add_left, form_count

MASCULINE = ("he", "him", "his", "himself")
FEMININE = ("she", "her", "hers", "herself")

# Forms whose counterpart is fixed, whatever the context.
TABLE = {
    "he": "she",
    "him": "her",
    "himself": "herself",
    "she": "he",
    "hers": "his",
    "herself": "himself",
}

# Forms with two counterparts: (as a determiner, PRP$; standing alone or as an object, PRP).
AMBIGUOUS = {
    "his": ("her", "hers"),
    "her": ("his", "him"),
}

# Why an occurrence was left as written (``Swap.reason``).
ODD_CASE = "odd_case"

# A whole word: no letter, digit, underscore or combining mark on either side. "her's" is the
# older spelling of "hers" (Austen writes it) and is one word, unlike the clitics of "he's",
# "she'd" or "he'll", which stay outside the match and so are kept as written. The neutral
# spellings "s/he" and "(s)he" are not masculine pronouns, and a word inside an address or a
# file name ("@his", "www.his.com", "her.txt") is not a word of the text. The lookahead on the
# first letter lets the regex engine skip most positions at once (about twice as fast).
_EDGE = r"\w\u0300-\u036f"
_SPELLINGS = {"hers": ("her['’]s", "hers")}


@lru_cache(maxsize=16)
def pronoun_pattern(forms: frozenset[str]) -> re.Pattern[str]:
    """A regex for the whole-word occurrences of ``forms`` (lower-case), in any casing."""
    if "her" in forms:
        forms = forms | {"hers"}  # so that "her's" is never read as "her" + "'s"
    spellings = [sp for f in forms for sp in _SPELLINGS.get(f, (re.escape(f),))]
    spellings.sort(key=len, reverse=True)  # "himself" before "him", "hers" before "her"
    first = "".join(sorted({f[0] + f[0].upper() for f in forms}))
    return re.compile(
        rf"(?=[{first}])(?<![{_EDGE}@])(?<!\w\.)(?<!(?<!\w)[sS]/)(?<!\([sS]\))"
        rf"(?:{'|'.join(spellings)})"
        rf"(?![{_EDGE}@])(?!(?-i:\.[a-z0-9]))",
        re.IGNORECASE,
    )


@dataclass(frozen=True)
class Swap:
    """One pronoun occurrence: its character span in the text (clitic excluded), the word as
    written, its case-matched replacement, or ``None`` with the ``reason`` it was left."""

    start: int
    end: int
    source: str
    target: str | None
    reason: str | None = None

    @property
    def form(self) -> str:
        """The lower-case pronoun form this occurrence counts under ("her's" counts as "hers")."""
        return canonical_form(self.source)


PRONOUN_RE = pronoun_pattern(frozenset(MASCULINE + FEMININE))


def canonical_form(word: str) -> str:
    """The lower-case form a word counts under, curly apostrophes as straight ones; "her's" is "hers"."""
    lower = word.lower().replace("’", "'")
    return "hers" if lower == "her's" else lower


def source_forms(direction: str) -> tuple[str, ...]:
    """The forms a direction rewrites; raises ValueError listing the choices for an unknown one."""
    if direction == "to_feminine":
        return MASCULINE
    if direction == "to_masculine":
        return FEMININE
    if direction == "both":
        return MASCULINE + FEMININE
    raise ValueError(f"unknown direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")


def ambiguous_forms(direction: str) -> tuple[str, ...]:
    """The forms of a direction that need the tagger (``his`` for to_feminine, ``her`` ...)."""
    return tuple(f for f in source_forms(direction) if f in AMBIGUOUS)


def match_case(source: str, target: str) -> str | None:
    """``target`` spelled in ``source``'s casing (he->she, He->She, HE->SHE); None when the source
    mixes cases in another way ("hE"), which is more likely an identifier than a pronoun."""
    if source.islower():
        return target
    if source.isupper():
        return target.upper()
    if source[0].isupper() and source[1:].islower():
        return target[0].upper() + target[1:]
    return None


def find_pronouns(text: str, forms: Iterable[str]) -> list[re.Match[str]]:
    """Every whole-word occurrence in ``text`` of one of ``forms`` (lower-case), in text order."""
    wanted = frozenset(forms)
    found = pronoun_pattern(wanted).finditer(text)
    if "her" in wanted and "hers" not in wanted:
        return [m for m in found if canonical_form(m.group()) in wanted]
    return list(found)


def tally(swaps: Iterable[Swap], counts: Counts) -> None:
    """Add ``swaps`` to ``counts`` (the one shape of ``debias.core.contracts``: form -> seen,
    swapped, and left by reason), in place."""
    for swap in swaps:
        row = counts.setdefault(swap.form, form_count())
        row["seen"] += 1
        if swap.target is None:
            add_left(row, swap.reason or "unknown")
        else:
            row["swapped"] += 1


def apply_swaps(text: str, swaps: Iterable[Swap]) -> str:
    """``text`` with each swap's span replaced by its target; everything else kept as is."""
    parts: list[str] = []
    pos = 0
    for swap in sorted(swaps, key=lambda s: s.start):
        if swap.target is None:
            continue
        parts.append(text[pos : swap.start])
        parts.append(swap.target)
        pos = swap.end
    parts.append(text[pos:])
    return "".join(parts)
