"""The sham arm: the intervention's kind of rewrite (in place, on tokens, every row and its length
kept, ``tail.bin``/``tail.idx`` + manifest) applied to a gender-neutral word pair instead of the
pronouns, so that whatever a rewrite does to a model by itself is measured apart from gender.

The pair was picked by counting words in the synthetic corpus (4,000 stories of seed 0, 423,291
words): he/him/his/himself (any case) occur 13,136 times at ``stereotype_rate`` 0.8 (12,972 at
1.0), and the article "a" 13,131 times; "the" is its gender-neutral counterpart that fits every
place "a" stands (the corpus writes "an" before vowels, which the sham leaves alone). Other words
of that frequency change grammar or meaning more: "was" 12,727 (tense), "and" 11,485 (logic).
Case follows the source (a -> the, A -> The; a source word longer than a letter also maps
UPPER -> UPPER). An occurrence is swapped when one token spells it (with its leading space, if
any) and one token spells the replacement; otherwise it is left and counted by reason:
``row_edge`` (the row's first or last word, which may be cut from the rest of it),
``split_token`` (spelled over several tokens), ``no_single_token`` (the replacement has no
one-token spelling).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from debias.config import DIRECTIONS
from debias.core.contracts import MANIFEST, Counts, RewriteManifest, add_left, empty_counts
from debias.data.token_bytes import ByteVocab
from debias.rewrite.arms.tailfile import TailSpan, verify_arm_tail, write_tail

log = logging.getLogger(__name__)

ALGORITHM = "debias sham token rewrite v1"
_NOT_WORD = rb"A-Za-z0-9_'\x80-\xff"  # letters, digits, apostrophes (also the bytes of ’ and other non-ASCII)


def swap_table(source_word: str, target_word: str, direction: str) -> dict[bytes, bytes]:
    """Each spelling the sham replaces, with its replacement (both cases of both words)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")
    pairs = {"to_feminine": [(source_word, target_word)], "to_masculine": [(target_word, source_word)],
             "both": [(source_word, target_word), (target_word, source_word)]}[direction]
    table: dict[bytes, bytes] = {}
    for a, b in pairs:
        table[a.encode()] = b.encode()
        table[a.capitalize().encode()] = b.capitalize().encode()
        if len(a) > 1:
            table[a.upper().encode()] = b.upper().encode()
    return table


def swap_text(text: str, source_word: str, target_word: str, direction: str = "to_feminine") -> str:
    """The sham's swap on plain text (e.g. held-out text rewritten the arm's way): every whole word
    of the table replaced, whatever its tokens."""
    table = {a.decode(): b.decode() for a, b in swap_table(source_word, target_word, direction).items()}
    words = "|".join(re.escape(w) for w in sorted(table, key=len, reverse=True))
    return re.sub(r"(?<![\w'’])(?:" + words + r")(?![\w'’])", lambda m: table[m.group()], text)


class ShamRewriter:
    """Swaps the words of ``table`` in rows of token ids, in place."""

    def __init__(self, vocab: ByteVocab, table: dict[bytes, bytes]) -> None:
        self.vocab = vocab
        self.table = table
        words = b"|".join(re.escape(w) for w in sorted(table, key=len, reverse=True))
        self.pattern = re.compile(rb"(?<![" + _NOT_WORD + rb"])(?:" + words + rb")(?![" + _NOT_WORD + rb"])")
        self.counts: Counts = empty_counts(w.decode().lower() for w in table)

    def _left(self, word: bytes, reason: str) -> None:
        add_left(self.counts[word.decode().lower()], reason)

    def row(self, row: np.ndarray) -> np.ndarray:
        """The row with every swappable occurrence replaced (a new array)."""
        vocab, out = self.vocab, row.copy()
        pieces = [vocab.token_bytes[t] or b"\0" for t in row.tolist()]  # special tokens: a boundary
        ends = np.cumsum([len(p) for p in pieces])
        starts = ends - np.array([len(p) for p in pieces])
        text = b"".join(pieces)
        for m in self.pattern.finditer(text):
            word = m.group()
            self.counts[word.decode().lower()]["seen"] += 1
            if m.start() == 0 or m.end() == len(text):
                self._left(word, "row_edge")
                continue
            k = int(np.searchsorted(ends, m.start(), side="right"))
            lead = text[starts[k]:m.start()]
            if ends[k] != m.end() or lead not in (b"", b" "):
                self._left(word, "split_token")
                continue
            tid = vocab.by_bytes.get(lead + self.table[word])
            if tid is None:
                self._left(word, "no_single_token")
                continue
            out[k] = tid
            self.counts[word.decode().lower()]["swapped"] += 1
        return out

    def check(self, old: np.ndarray, new: np.ndarray) -> str | None:
        """Why ``new`` is not ``old`` with some of the table's words swapped (None when it is)."""
        for k in np.flatnonzero(old != new).tolist():
            a, b = self.vocab.token_bytes[int(old[k])], self.vocab.token_bytes[int(new[k])]
            lead = b" " if a.startswith(b" ") else b""
            if self.table.get(a[len(lead):]) is None or lead + self.table[a[len(lead):]] != b:
                return f"token {k} changed from {a!r} to {b!r}, which is not a swap of the sham's words"
        return None


def rewrite_sham(
    span: TailSpan,
    *,
    source_word: str,
    target_word: str,
    direction: str = "to_feminine",
    progress: bool = True,
) -> dict[str, Any]:
    """Swap ``source_word`` -> ``target_word`` (``direction`` as in ``swap_table``) in the rows of
    ``span``; returns the manifest."""
    tokenizer = Path(span.tokenizer).resolve()
    order, first, stop = span.rows()
    rewriter = ShamRewriter(ByteVocab(tokenizer), swap_table(source_word, target_word, direction))
    identity = {**span.steps(), "direction": direction, "method": "sham",
                "parameters": {"sham_source": source_word, "sham_target": target_word}, "algorithm": ALGORITHM}
    return write_tail(span.output, order, first, stop, lambda _lo, rows: np.stack([rewriter.row(r) for r in rows]),
                      identity=identity, tokenizer=tokenizer,
                      fields=lambda: {"counts": rewriter.counts, "noncanonical": None}, progress=progress)


def verify_sham(source: str | os.PathLike, output: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """``verify_arm_tail`` with the check that every changed token is a swap of the sham's words."""
    manifest = RewriteManifest.read(Path(output) / MANIFEST).to_dict()
    params = manifest["parameters"]
    rewriter = ShamRewriter(ByteVocab(manifest["tokenizer"]["path"]),
                            swap_table(params["sham_source"], params["sham_target"], manifest["direction"]))
    return verify_arm_tail(source, output, rewriter.check, progress=progress)
