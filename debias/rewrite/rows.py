"""Rewrite the pronouns (and, with the ``nouns`` group, the gendered nouns) of token rows in place,
and check that a rewritten row differs from its source only there.

A row is decoded from its tokens' bytes; ``<|endoftext|>`` (any special token) splits it into
segments, each a piece of one document, and the swapper plans each segment from its own text (in
Pythia's files neighbouring rows are unrelated text). A planned swap becomes a token edit: the
tokens that overlap the pronoun's bytes are replaced by as many tokens spelling the same bytes with
the counterpart in place of the pronoun; where no such spelling exists the pronoun is left.

Row edges: a row may start or end inside a word or a character (``s`` + ``he`` of "Ashe" may sit on
either side of a row boundary). A pronoun at the row's start is taken as a whole word only when a
known, non-word character precedes it inside the row (three when it is ``/`` or ``)``, the
neutral spellings ``s/he`` and ``(s)he``); at the row's end, only when a known character follows
it. Bytes that are not whole UTF-8 characters (a character cut by the row edge) count as unknown.
Others are left and counted as ``row_edge``. An ``<|endoftext|>`` is a true document edge. Inside a
row, bytes that are no character (corrupt source text) make a pronoun beside them doubtful too
(``invalid_utf8``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from debias.core.contracts import Counts, FormCount, add_left, form_count, merge_counts
from debias.data.token_bytes import ByteVocab
from debias.swap import gendered_nouns
from debias.swap.pronouns import (
    AMBIGUOUS,
    TABLE,
    Swap,
    canonical_form,
    find_pronouns,
    match_case,
    source_forms,
)

ROW_EDGE = "row_edge"
INVALID_UTF8 = "invalid_utf8"
NO_SPELLING = "no_equal_length_encoding"
SHARED_TOKEN = "shared_token"
_UNKNOWN = re.compile(
    "[\udc80-\udcff]"
)  # bytes that did not decode: surrogateescape's lone surrogates


def _unknown(ch: str) -> bool:
    return "\udc80" <= ch <= "\udcff"


class Planner(Protocol):
    def plan_batch(self, texts: Sequence[str]) -> list[list[Swap]]: ...


@dataclass
class Segment:
    """Tokens ``t0..t1-1`` of a row between special tokens, with their bytes and text."""

    t0: int
    t1: int
    data: bytes
    text: str
    open_start: bool  # starts at the row's start: what precedes it is unknown
    open_end: bool  # ends at the row's end: what follows it is unknown

    def token_starts(self, vocab: ByteVocab, row: np.ndarray) -> np.ndarray:
        """Byte offset of each token in ``data``, plus ``len(data)`` at the end."""
        out = np.zeros(self.t1 - self.t0 + 1, dtype=np.int64)
        np.cumsum(vocab.lengths[row[self.t0 : self.t1]], out=out[1:])
        return out


def row_segments(vocab: ByteVocab, row: np.ndarray) -> list[Segment]:
    """The text segments of a row (special tokens are boundaries, never text)."""
    cuts = np.flatnonzero(vocab.special[row]).tolist()
    out = []
    prev = 0
    n = len(row)
    for c in [*cuts, n]:
        if c > prev:
            data = vocab.spell(row[prev:c])
            out.append(
                Segment(prev, c, data, data.decode("utf-8", "surrogateescape"), prev == 0, c == n)
            )
        prev = c + 1
    return out


def plan_text(text: str) -> str:
    """The text handed to the swapper: unknown bytes shown as U+FFFD, one character each."""
    return _UNKNOWN.sub("\ufffd", text) if not text.isascii() else text


def uncertainty(seg: Segment, start: int, end: int) -> str | None:
    """Why a pronoun match at characters ``start..end`` may not be a whole word (``row_edge``: the
    row cuts its surroundings; ``invalid_utf8``: bytes that are no character touch it), or None
    when the row shows that it is one (see the module docstring)."""
    text = seg.text
    if seg.open_start:
        lead = 0
        while lead < start and _unknown(text[lead]):
            lead += 1
        known = start - lead
        if known < 1 or (known < 3 and text[start - 1] in "/)"):
            return ROW_EDGE
    if seg.open_end:
        tail = len(text)
        while tail > end and _unknown(text[tail - 1]):
            tail -= 1
        if tail <= end:
            return ROW_EDGE
    if (start > 0 and _unknown(text[start - 1])) or (end < len(text) and _unknown(text[end])):
        return INVALID_UTF8
    return None


def is_whole_word(seg: Segment, start: int, end: int) -> bool:
    return uncertainty(seg, start, end) is None


def char_to_byte(text: str, positions: Sequence[int]) -> list[int]:
    """Byte offsets in ``text.encode('utf-8', 'surrogateescape')`` of sorted character positions."""
    if len(text) == len(text.encode("utf-8", "surrogateescape")):
        return list(positions)
    out, pos, acc = [], 0, 0
    for p in positions:
        acc += len(text[pos:p].encode("utf-8", "surrogateescape"))
        pos = p
        out.append(acc)
    return out


def token_span(starts: np.ndarray, b0: int, b1: int) -> tuple[int, int]:
    """Segment-local tokens ``i..j`` (inclusive) that overlap bytes ``b0..b1-1``."""
    i = int(np.searchsorted(starts, b0, side="right")) - 1
    j = int(np.searchsorted(starts, b1 - 1, side="right")) - 1
    return i, j


@dataclass
class RewriteStats:
    """What a rewrite did, per lower-case form; merges across shards."""

    counts: Counts = field(default_factory=dict)
    noncanonical: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    tokens: int = 0
    changed_tokens: int = 0
    changed_rows: int = 0

    def _form(self, form: str) -> FormCount:
        return self.counts.setdefault(form, form_count())

    def swapped(self, form: str, canonical: bool) -> None:
        row = self._form(form)
        row["seen"] += 1
        row["swapped"] += 1
        if not canonical:
            self.noncanonical[form] = self.noncanonical.get(form, 0) + 1

    def left(self, form: str, reason: str) -> None:
        row = self._form(form)
        row["seen"] += 1
        add_left(row, reason)

    def merge(self, other: RewriteStats | dict) -> None:
        other = other if isinstance(other, RewriteStats) else RewriteStats(**other)
        merge_counts(self.counts, other.counts)
        for form, n in other.noncanonical.items():
            self.noncanonical[form] = self.noncanonical.get(form, 0) + n
        self.rows += other.rows
        self.tokens += other.tokens
        self.changed_tokens += other.changed_tokens
        self.changed_rows += other.changed_rows

    def as_dict(self) -> dict:
        counts = {
            f: {**c, "left": dict(sorted(c["left"].items()))}
            for f, c in sorted(self.counts.items())
        }
        return {
            "counts": counts,
            "noncanonical": dict(sorted(self.noncanonical.items())),
            "rows": self.rows,
            "tokens": self.tokens,
            "changed_tokens": self.changed_tokens,
            "changed_rows": self.changed_rows,
        }

    @property
    def swaps(self) -> int:
        return sum(c["swapped"] for c in self.counts.values())


class RowRewriter:
    """Rewrites batches of rows with a planner (``debias.swap.swapper.PronounSwapper``)."""

    def __init__(self, vocab: ByteVocab, planner: Planner) -> None:
        self.vocab = vocab
        self.planner = planner

    def rewrite(self, rows: np.ndarray, stats: RewriteStats) -> np.ndarray:
        """A rewritten copy of ``rows`` (2-D); ``stats`` gains what was done."""
        out = np.array(rows, copy=True)
        segments = [(r, seg) for r in range(len(rows)) for seg in row_segments(self.vocab, rows[r])]
        plans = self.planner.plan_batch([plan_text(seg.text) for _, seg in segments])
        for (r, seg), plan in zip(segments, plans, strict=True):
            if plan:
                self._apply(rows[r], out[r], seg, sorted(plan, key=lambda s: s.start), stats)
        changed = out != rows
        stats.rows += len(rows)
        stats.tokens += int(rows.size)
        stats.changed_tokens += int(changed.sum())
        stats.changed_rows += int(changed.any(axis=1).sum())
        return out

    def _apply(
        self, row: np.ndarray, out: np.ndarray, seg: Segment, plan: list[Swap], stats: RewriteStats
    ) -> None:
        starts = seg.token_starts(self.vocab, row)
        edges = char_to_byte(seg.text, [p for s in plan for p in (s.start, s.end)])
        busy_until = -1  # last segment-local token already edited
        for k, swap in enumerate(plan):
            form = canonical_form(swap.source)
            if (doubt := uncertainty(seg, swap.start, swap.end)) is not None:
                stats.left(form, doubt)
                continue
            if swap.target is None:
                stats.left(form, swap.reason or "unknown")
                continue
            b0, b1 = edges[2 * k], edges[2 * k + 1]
            i, j = token_span(starts, b0, b1)
            if i <= busy_until:
                stats.left(form, SHARED_TOKEN)
                continue
            data = (
                seg.data[starts[i] : b0]
                + swap.target.encode("utf-8")
                + seg.data[b1 : starts[j + 1]]
            )
            found = self.vocab.respell(data, j - i + 1)
            if found is None:
                stats.left(form, NO_SPELLING)
                continue
            ids, canonical = found
            out[seg.t0 + i : seg.t0 + j + 1] = ids
            busy_until = j
            stats.swapped(form, canonical)


def counterparts(source: str, groups: Sequence[str] = ("pronouns",)) -> set[str]:
    """Every replacement a swap of the word ``source`` may write (case-matched)."""
    form = canonical_form(source)
    targets = {TABLE[form]} if form in TABLE else set()
    targets.update(AMBIGUOUS.get(form, ()))
    found = {t for t in (match_case(source, t) for t in targets) if t is not None}
    if "nouns" in groups:
        found |= gendered_nouns.counterparts(source)
    return found


def _matches(text: str, direction: str, groups: Sequence[str]) -> list[re.Match[str]]:
    """The words of the groups that a rewrite of ``direction`` may have swapped, in text order."""
    found = find_pronouns(text, source_forms(direction)) if "pronouns" in groups else []
    if "nouns" in groups:
        found = sorted(
            [*found, *gendered_nouns.noun_pattern(direction).finditer(text)],
            key=lambda m: m.start(),
        )
    return found


def check_row(
    vocab: ByteVocab,
    old: np.ndarray,
    new: np.ndarray,
    direction: str,
    groups: Sequence[str] = ("pronouns",),
) -> tuple[int, str | None]:
    """``(swaps, problem)``: how many words ``new`` swapped relative to ``old``, and a description
    of the first difference that is not a whole word of ``groups`` (pronouns, nouns) replaced by a
    counterpart (else None)."""
    diff = np.flatnonzero(old != new)
    if diff.size == 0:
        return 0, None
    if vocab.special[new[diff]].any() or vocab.special[old[diff]].any():
        return 0, f"a special token changed at position {int(diff[0])}"
    allowed: list[
        tuple[int, int, Segment, int, int, str]
    ] = []  # row tokens a..b, the match's bytes
    for seg in row_segments(vocab, old):
        matches = [
            m
            for m in _matches(plan_text(seg.text), direction, groups)
            if is_whole_word(seg, m.start(), m.end())
        ]
        if not matches:
            continue
        starts = seg.token_starts(vocab, old)
        edges = char_to_byte(seg.text, [p for m in matches for p in (m.start(), m.end())])
        for k, m in enumerate(matches):
            i, j = token_span(starts, edges[2 * k], edges[2 * k + 1])
            b0, b1 = edges[2 * k] - int(starts[i]), edges[2 * k + 1] - int(starts[i])
            allowed.append((seg.t0 + i, seg.t0 + j, seg, b0, b1, m.group()))
    swaps, covered = 0, np.zeros(len(old), dtype=bool)
    for a, b, _seg, b0, b1, word in allowed:
        if covered[a : b + 1].any() or not (old[a : b + 1] != new[a : b + 1]).any():
            continue  # unchanged, or a second pronoun in tokens an earlier swap rewrote
        old_bytes, new_bytes = vocab.spell(old[a : b + 1]), vocab.spell(new[a : b + 1])
        prefix, suffix = old_bytes[:b0], old_bytes[b1:]
        middle = new_bytes[len(prefix) : len(new_bytes) - len(suffix)]
        if not (new_bytes.startswith(prefix) and new_bytes.endswith(suffix)) or len(
            new_bytes
        ) < len(prefix) + len(suffix):
            return (
                swaps,
                f"tokens {a}..{b} around {word!r} do not keep the bytes beside the pronoun",
            )
        if middle.decode("utf-8", "replace") not in counterparts(word, groups):
            return (
                swaps,
                f"{word!r} at tokens {a}..{b} became {middle.decode('utf-8', 'replace')!r}, not a counterpart",
            )
        covered[a : b + 1] = True
        swaps += 1
    stray = diff[~covered[diff]]
    if stray.size:
        p = int(stray[0])
        return swaps, (
            f"token {p} changed ({int(old[p])} -> {int(new[p])}, "
            f"{vocab.token_bytes[int(old[p])]!r} -> {vocab.token_bytes[int(new[p])]!r}) "
            "where no whole-word pronoun is"
        )
    return swaps, None
