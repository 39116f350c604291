"""The published rewrite, reproduced to measure what morphological correctness changes: each row
is decoded to text, every whole-word he/his/him/himself (lower case or capitalised) is replaced
by she/her/her/herself, as the published intervention's code did, whatever the role of the word
("his" standing alone becomes "her", "his own" and "a friend of his" alike), and the text is
encoded again and padded with ``<|padding|>`` (``<|endoftext|>`` when the tokenizer has none) or
cut back to the row's length. Rows keep their number and length; their tokens need not line up
with the source's (a longer re-encoding shifts or cuts the rest of the row).

The manifest counts the rows whose re-encoding changed length before the pad or cut (``longer``,
``shorter``), the padding and cut tokens, and the rows that changed without any replacement
(decoding and re-encoding alone: a word cut at the row's edge, a non-canonical spelling).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.contracts import Counts, empty_counts
from debias.data.corpus import load_tokenizer
from debias.rewrite.arms.tailfile import TailSpan, verify_arm_tail, write_tail

log = logging.getLogger(__name__)

ALGORITHM = "published decode-replace-encode v1"
REPLACEMENTS = {"he": "she", "his": "her", "him": "her", "himself": "herself"}
TABLE = {**REPLACEMENTS, **{k.capitalize(): v.capitalize() for k, v in REPLACEMENTS.items()}}
PATTERN = re.compile(r"\b(" + "|".join(sorted(TABLE, key=len, reverse=True)) + r")\b")
PAD = "<|padding|>"


def replace_text(text: str) -> str:
    """The published replacement on plain text (e.g. held-out text rewritten the arm's way)."""
    return PATTERN.sub(lambda m: TABLE[m.group()], text)


class PublishedRewriter:
    """Rows through decode, whole-word replacement, encode, and pad or cut; keeps the counts."""

    def __init__(self, tokenizer: str | os.PathLike) -> None:
        self.tok, eod = load_tokenizer(tokenizer)
        pad = self.tok.token_to_id(PAD)
        self.pad_id = eod if pad is None else pad
        self.counts: Counts = empty_counts(REPLACEMENTS)
        self.rows = {"with_replacement": 0, "longer": 0, "shorter": 0, "changed_without_replacement": 0}
        self.padded_tokens = self.cut_tokens = 0

    def _replace(self, m: re.Match[str]) -> str:
        c = self.counts[m.group().lower()]
        c["seen"] += 1
        c["swapped"] += 1
        return TABLE[m.group()]

    def rewrite(self, rows: np.ndarray) -> np.ndarray:
        length = rows.shape[1]
        texts = self.tok.decode_batch(rows.tolist(), skip_special_tokens=False)
        swapped = []
        for text in texts:
            new, n = PATTERN.subn(self._replace, text)
            self.rows["with_replacement"] += n > 0
            swapped.append((new, n))
        out = np.empty_like(rows)
        for i, enc in enumerate(self.tok.encode_batch([t for t, _ in swapped], add_special_tokens=False)):
            ids = enc.ids
            if len(ids) > length:
                self.rows["longer"] += 1
                self.cut_tokens += len(ids) - length
                ids = ids[:length]
            elif len(ids) < length:
                self.rows["shorter"] += 1
                self.padded_tokens += length - len(ids)
                ids = ids + [self.pad_id] * (length - len(ids))
            out[i] = ids
            if swapped[i][1] == 0 and (out[i] != rows[i]).any():
                self.rows["changed_without_replacement"] += 1
        return out

    def fields(self) -> dict[str, Any]:
        return {"counts": self.counts, "noncanonical": None,
                "rows_changed_length": {"longer": self.rows["longer"], "shorter": self.rows["shorter"],
                                        "total": self.rows["longer"] + self.rows["shorter"]},
                "rows_with_replacement": self.rows["with_replacement"],
                "rows_changed_without_replacement": self.rows["changed_without_replacement"],
                "padded_tokens": self.padded_tokens, "cut_tokens": self.cut_tokens, "pad_id": self.pad_id}


def rewrite_published(span: TailSpan, *, progress: bool = True) -> dict[str, Any]:
    """The published rewrite of the rows of ``span``; returns the manifest."""
    tokenizer = Path(span.tokenizer).resolve()
    order, first, stop = span.rows()
    rewriter = PublishedRewriter(tokenizer)
    identity = {**span.steps(), "direction": "to_feminine", "method": "published", "parameters": {},
                "algorithm": ALGORITHM}
    manifest = write_tail(span.output, order, first, stop, lambda _lo, rows: rewriter.rewrite(rows), identity=identity,
                          tokenizer=tokenizer, fields=rewriter.fields, progress=progress)
    log.info("published rewrite: %s rows changed length before the pad or cut", manifest["rows_changed_length"])
    return manifest


def verify_published(source: str | os.PathLike, output: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """``verify_arm_tail``: rows, lengths and checksums (the published rewrite promises no more)."""
    return verify_arm_tail(source, output, progress=progress)
