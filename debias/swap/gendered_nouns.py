"""Gendered nouns and titles (father/mother, king/queen, actor/actress, Mr/Ms ...): the opt-in
``nouns`` group of ``debias.swap.swapper.PronounSwapper``.

Table work plus two context rules, no tagger, so the group costs one regex pass. The pairs start
from WinoBias's ``generalized_swaps.txt`` and ``extra_gendered_words.txt`` (MIT, uclanlp/corefBias);
each was checked by hand, and the decisions are in ``PAIRS`` below. Morphology: every pair lists
its singular and plural; a possessive clitic stays outside the match and is kept as written
("father's" -> "mother's", "fathers'" -> "mothers'"), as does the period of "Mr."; casing carries
over like the pronouns' (lower, Title, UPPER; other mixes are left as ``odd_case``).

Whole words only, with the pronouns' edges ("manhole", "Amanda", "woman" hold no "man"); a word
joined to the next by a hyphen is a compound and is left ("man-made", "he-man"), except before
"-in-law" ("mother-in-law" -> "father-in-law"); after a hyphen it swaps only after a prefix
("ex-wife", "step-son", "great-grandfather"), else it is left (``compound``: "he-man").

Context rules:
- ``title``: Sir/Dame, Lord/Lady and Miss are titles only when written capitalised (not
  in capitals: "I MISS YOU") before a capitalised word ("Sir Walter", "Lady Catherine", "Miss Bennet"); elsewhere "sir" is the
  address (-> "madam"), "lady" the noun (-> "gentleman"), and "lord", "dame" and "miss" (a verb,
  "a near miss", "the Lord") are left (``not_a_title``).
- ``in_name``: a capitalised noun right after a capitalised word that is not a title nor a
  function word is part of a name, and is left ("Stephen King", "Burger King", "Mr. King");
  "The King", "Then Queen Mary", "Dear Mother" still swap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from debias.swap.pronouns import Swap, match_case

# One pair a line: masculine singular and plural, a direction mark, feminine singular and plural;
# "-" where a form has no counterpart, an optional flag last. "=" swaps both ways, "->" only the
# masculine forms (to_feminine), "<-" only the feminine ones (to_masculine). Decisions:
# - Mr <-> Ms: neither says whether the person is married; Mrs and Miss -> Mr, one way.
# - sir: before a name -> Dame, else -> madam; madam and ma'am -> sir.
# - lady: before a name (Lady Catherine) <-> Lord; the noun <-> gentleman. "lord" alone and "the
#   Lord" are left.
# - Left out, ambiguous or not a counterpart: master/mistress (a master's degree, to master; a
#   mistress is not a female master), guy/gal and dude/chick (guys is often neutral, a chick is a
#   bird), god/goddess (God), count/countess (to count), host (neutral; hostess -> host one way),
#   bachelor/spinster (a bachelor's degree), tailor/seamstress, governor/governess, wizard/witch,
#   beau/belle, busboy/bellboy (no real feminine), mum/mummy (to keep mum, the mummy).
# - WinoBias misspellings fixed: godess, barnoesses, heros, adultor, mentleman.
PAIRS = """
man men = woman women
gentleman gentlemen = lady ladies
boy boys = girl girls
father fathers = mother mothers
dad dads = mom moms
daddy daddies = mommy mommies
son sons = daughter daughters
brother brothers = sister sisters
husband husbands = wife wives
uncle uncles = aunt aunts
nephew nephews = niece nieces
grandfather grandfathers = grandmother grandmothers
grandpa grandpas = grandma grandmas
grandson grandsons = granddaughter granddaughters
stepfather stepfathers = stepmother stepmothers
stepson stepsons = stepdaughter stepdaughters
boyfriend boyfriends = girlfriend girlfriends
schoolboy schoolboys = schoolgirl schoolgirls
fiance fiances = fiancee fiancees
fiancé fiancés = fiancée fiancées
widower widowers = widow widows
groom grooms = bride brides
bridegroom bridegrooms -> bride brides
lad lads = lass lasses
king kings = queen queens
prince princes = princess princesses
duke dukes = duchess duchesses
emperor emperors = empress empresses
baron barons = baroness baronesses
marquis marquises = marchioness marchionesses
abbot abbots = abbess abbesses
monk monks = nun nuns
priest priests = priestess priestesses
actor actors = actress actresses
waiter waiters = waitress waitresses
steward stewards = stewardess stewardesses
host hosts <- hostess hostesses
hero heroes = heroine heroines
sorcerer sorcerers = sorceress sorceresses
enchanter enchanters = enchantress enchantresses
headmaster headmasters = headmistress headmistresses
landlord landlords = landlady landladies
masseur masseurs = masseuse masseuses
manservant manservants = maidservant maidservants
cowboy cowboys = cowgirl cowgirls
male males = female females
chairman chairmen = chairwoman chairwomen
spokesman spokesmen = spokeswoman spokeswomen
businessman businessmen = businesswoman businesswomen
policeman policemen = policewoman policewomen
congressman congressmen = congresswoman congresswomen
salesman salesmen = saleswoman saleswomen
sportsman sportsmen = sportswoman sportswomen
cameraman cameramen = camerawoman camerawomen
airman airmen = airwoman airwomen
barman barmen = barwoman barwomen
mr - = ms -
mr - <- mrs -
mr - <- miss - title
sir - = madam -
sir - <- ma'am -
sir - = dame - title
lord - = lady - title
"""

NOT_A_TITLE = "not_a_title"
COMPOUND = "compound"
# Prefixes after whose hyphen a noun is still the word swapped ("ex-wife", "step-son").
PREFIXES = frozenset({"ex", "step", "great", "grand", "half", "foster", "god", "future", "former"})
IN_NAME = "in_name"
GROUP = "nouns"

# Capitalised words after which a capitalised noun is still a noun, not part of a name.
FUNCTION_WORDS = frozenset(
    """the a an this that these those my your his her its our their and or but nor so then
    when while if as at in on of to for from by with o oh dear good old young poor little great
    late new our every each no some any all both said says cried and yes no well now""".split()
)
# Capitalised words before a name; after them a capitalised noun is a surname ("Mr. King").
_TITLE_WORDS = frozenset({"mr", "mrs", "ms", "miss", "dr", "sir", "dame", "lord", "lady", "st"})


@dataclass(frozen=True)
class Target:
    """Where a source form goes: ``plain`` anywhere, ``title`` before a name (None: no such use)."""

    plain: str | None
    title: str | None


def _parse(pairs: str) -> dict[str, dict[str, Target]]:
    """direction -> source form -> Target, from the ``PAIRS`` table."""
    maps: dict[str, dict[str, dict[str, str | None]]] = {"to_feminine": {}, "to_masculine": {}}
    for line in pairs.strip().splitlines():
        fields = line.split()
        msg, mpl, mark, fsg, fpl, *flag = fields
        kind = "title" if flag == ["title"] else "plain"
        ways = {
            "=": ("to_feminine", "to_masculine"),
            "->": ("to_feminine",),
            "<-": ("to_masculine",),
        }[mark]
        for direction in ways:
            pairs_of = (
                ((msg, fsg), (mpl, fpl)) if direction == "to_feminine" else ((fsg, msg), (fpl, mpl))
            )
            for src, dst in pairs_of:
                if src != "-" and dst != "-":
                    slot = maps[direction].setdefault(src, {"plain": None, "title": None})
                    if slot[kind] is not None:
                        raise ValueError(f"gendered noun {src!r} has two {kind} counterparts")
                    slot[kind] = dst
    return {d: {s: Target(**t) for s, t in m.items()} for d, m in maps.items()}


TARGETS = _parse(PAIRS)


def noun_forms(direction: str) -> tuple[str, ...]:
    """The noun forms a direction rewrites (lower case), in table order."""
    dirs = ("to_feminine", "to_masculine") if direction == "both" else (direction,)
    return tuple(f for d in dirs for f in TARGETS[d])


def _targets(direction: str) -> dict[str, Target]:
    if direction == "both":
        return {**TARGETS["to_feminine"], **TARGETS["to_masculine"]}
    return TARGETS[direction]


@lru_cache(maxsize=4)
def noun_pattern(direction: str) -> re.Pattern[str]:
    """Whole-word occurrences of the direction's noun forms, in any casing (see the docstring)."""
    forms = noun_forms(direction)
    first = "".join(sorted({c for f in forms for c in (f[0], f[0].upper())}))
    return re.compile(
        rf"(?=[{first}])(?<![\w\u0300-\u036f@])(?<!\w\.){_trie(forms)}"
        rf"(?![\w\u0300-\u036f@])(?!(?-i:\.[a-z0-9]))(?!-(?!in-law))",
        re.IGNORECASE,
    )


def _trie(words: tuple[str, ...]) -> str:
    """One regex for ``words`` that shares their prefixes ("fathers?" rather than "fathers|father"):
    the engine then tries one branch per letter instead of every word (about 10x faster here)."""
    tree: dict = {}
    for word in words:
        node = tree
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        ends = "" in node
        branches = [
            ("['’]" if ch == "'" else re.escape(ch)) + pattern(sub)
            for ch, sub in sorted(node.items())
            if ch
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        if ends:
            body = f"(?:{body})?" if len(branches) == 1 and len(body) > 1 else f"{body}?"
        return body

    return f"(?:{pattern(tree)})"


_NEXT = re.compile(r"\.?(?=\s)[^\S\n]*\n?[^\S\n]*([^\W\d_])")
_PREV = re.compile(r"(\S+)\s+$")


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and not word.isupper()


def _before_name(text: str, end: int) -> bool:
    """A capitalised word follows (after an optional period and a space)."""
    m = _NEXT.match(text, end, min(len(text), end + 8))
    return bool(m and m.group(1).isupper())


def _in_name(text: str, start: int) -> bool:
    """The word before is capitalised and is neither a function word nor the end of a sentence."""
    m = _PREV.search(text, max(0, start - 40), start)
    if m is None:
        return False
    word = m.group(1).lstrip("\"'“‘([")
    bare = word.rstrip(".").lower()
    if (
        word.endswith((".", "!", "?", ",", ";", ":", '"', "”", "'", "’", ")"))
        and bare not in _TITLE_WORDS
    ):
        return False
    return _capitalised(word) and bare not in FUNCTION_WORDS


def _after_prefix(text: str, hyphen: int) -> bool:
    """The word before the hyphen at ``hyphen`` is one of ``PREFIXES``."""
    lo = hyphen
    while lo > 0 and text[lo - 1].isalpha():
        lo -= 1
    return text[lo:hyphen].lower() in PREFIXES


def plan_nouns(text: str, direction: str) -> list[Swap]:
    """Every gendered noun or title of ``direction`` in ``text`` with its replacement (None and
    a reason when it is left), in text order."""
    targets = _targets(direction)
    out = []
    for m in noun_pattern(direction).finditer(text):
        source = m.group()
        target = targets[source.lower().replace("’", "'")]
        chosen, reason = target.plain, None
        if m.start() > 0 and text[m.start() - 1] == "-" and not _after_prefix(text, m.start() - 1):
            chosen, reason = None, COMPOUND
        elif target.title is not None:
            if _capitalised(source) and _before_name(text, m.end()):
                chosen = target.title
            elif chosen is None:
                reason = NOT_A_TITLE
        elif _capitalised(source) and _in_name(text, m.start()):
            chosen, reason = None, IN_NAME
        if chosen is not None:
            if "’" in source:
                chosen = chosen.replace("'", "’")
            cased = match_case(source, chosen)
            chosen, reason = cased, None if cased is not None else "odd_case"
        out.append(Swap(m.start(), m.end(), source, chosen, reason))
    return out


def counterparts(source: str) -> set[str]:
    """Every replacement a noun swap of ``source`` may write (case-matched)."""
    key = source.lower().replace("’", "'")
    found = set()
    for table in TARGETS.values():
        t = table.get(key)
        for word in (t.plain, t.title) if t else ():
            if word is not None:
                word = word.replace("'", "’") if "’" in source else word
                cased = match_case(source, word)
                if cased is not None:
                    found.add(cased)
    return found
