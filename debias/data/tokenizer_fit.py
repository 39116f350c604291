"""Does a tokenizer fit the rows? A rewrite with the wrong tokenizer would spell the rows with the
wrong bytes, swap nonsense and still "verify"; so before anything is written (and again when a tail
is verified) a sample of rows must decode and re-encode to nearly the same tokens, and no id may lie
beyond the tokenizer's vocabulary."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from debias.core.errors import DebiasError
from debias.data.indexed import MMapIndexedDataset
from debias.data.tokenizer_files import read_tokenizer_file

log = logging.getLogger(__name__)

SAMPLE_ROWS = 32
# The tokenizer that made the rows reproduces >99.9% of their tokens (rows cut mid-word lose a few at
# their edges); the 20B tokenizer on rows of a 400-token BPE reproduces about 55%.
MIN_REPRODUCED = 0.9


class TokenizerMismatchError(DebiasError, ValueError):
    """The tokenizer given is not the one the rows were made with."""


def ids_beyond(rows: np.ndarray, vocab_size: int, where: str, tokenizer: Path) -> None:
    """Raise ``TokenizerMismatchError`` when ``rows`` hold an id ``>= vocab_size``."""
    top = int(rows.max(initial=0))
    if top >= vocab_size:
        raise TokenizerMismatchError(
            f"{where}: holds token id {top}, beyond the {vocab_size} tokens of {tokenizer}; "
            "the rows were made with another tokenizer: pass that one (tokenizer=)"
        )


def check_tokenizer_fits(
    dataset: MMapIndexedDataset,
    start: int,
    stop: int,
    tokenizer: str | Path,
    vocab_size: int,
    *,
    where: str,
    sample_rows: int = SAMPLE_ROWS,
) -> float:
    """Check rows ``start..stop-1`` of ``dataset`` against ``tokenizer`` on an evenly spaced sample;
    returns the share of tokens reproduced, or raises ``TokenizerMismatchError``."""

    if stop <= start:
        return 1.0
    picks = np.unique(np.linspace(start, stop - 1, min(sample_rows, stop - start)).astype(np.int64))
    _, tok = read_tokenizer_file(tokenizer)
    kept = total = 0
    for r in picks.tolist():
        row = dataset.rows(r, r + 1)[0]
        ids_beyond(row, vocab_size, f"{where} row {r}", Path(tokenizer))
        ids = row.tolist()
        again = tok.encode(tok.decode(ids, skip_special_tokens=False), add_special_tokens=False).ids
        kept += sum((Counter(ids) & Counter(again)).values())
        total += len(ids)
    rate = kept / total if total else 1.0
    log.debug("%s: %s reproduces %.4f of %d sampled tokens", where, tokenizer, rate, total)
    if rate < MIN_REPRODUCED:
        raise TokenizerMismatchError(
            f"{where}: {tokenizer} reproduces only {100 * rate:.1f}% of the tokens of {len(picks)} "
            f"sampled rows when it decodes and re-encodes them (the tokenizer that made them: "
            f">{100 * MIN_REPRODUCED:.0f}%); pass the tokenizer the rows were made with (tokenizer=)"
        )
    return rate
