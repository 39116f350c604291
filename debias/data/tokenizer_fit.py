"""Does a tokenizer fit the rows? A rewrite with the wrong tokenizer would spell the rows with the
wrong bytes, swap nonsense and still "verify"; so before anything is written (and again when a tail
is verified) a sample of rows must decode and re-encode to nearly the same tokens, and no id may lie
beyond the tokenizer's vocabulary."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.errors import DebiasError
from debias.data.indexed import MMapIndexedDataset
from debias.data.tokenizer_files import read_tokenizer_file

log = logging.getLogger(__name__)

ORDER_META, ORDER_DATA = "data_order.json", "data"  # a data order's record and its rows' prefix name (debias.data.corpus)

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


# Tokenizers whose ids the project knows: a file with the same tokens under other ids round-trips any
# text perfectly (the decode-encode check cannot see it), yet reads every row as other words.
KNOWN_TOKENIZERS = {"GPT-NeoX-20B (Pythia's)": "pythia_tokenizer_config/20B_tokenizer.json"}


def check_tokenizer_identity(prefix: Path, tokenizer: str | Path, tok: Any, *, where: str) -> None:
    """Refuse ``tokenizer`` when (1) the data order beside ``prefix`` records the sha256 of the
    tokenizer that made its rows and this one is another, or (2) it holds the tokens of a tokenizer
    the project knows (GPT-NeoX-20B) under other ids, e.g. " he" and " she" exchanged."""
    from debias.data.fetch import sha256_file

    record = Path(prefix).parent / ORDER_META
    if Path(prefix).name == ORDER_DATA and record.is_file():
        try:
            recorded = json.loads(record.read_text()).get("tokenizer_sha256")
        except (OSError, ValueError):
            recorded = None
        if recorded and sha256_file(tokenizer) != recorded:
            raise TokenizerMismatchError(
                f"{where}: {record} records the tokenizer the rows were made with (sha256 {recorded[:12]}), and "
                f"{tokenizer} is another (sha256 {sha256_file(tokenizer)[:12]}); pass that one (tokenizer=)")
    vocab = tok.get_vocab(with_added_tokens=True)
    for name, relpath in KNOWN_TOKENIZERS.items():
        reference = _local_reference(relpath)
        if reference is None:
            continue
        _, ref = read_tokenizer_file(reference)
        known = ref.get_vocab(with_added_tokens=True)
        if vocab.keys() != known.keys() or vocab == known:
            continue
        moved = sorted((t for t in known if vocab[t] != known[t]), key=lambda t: known[t])
        shown = ", ".join(f"{t!r} is {vocab[t]}, not {known[t]}" for t in moved[:2])
        raise TokenizerMismatchError(
            f"{where}: {tokenizer} holds the tokens of {name} tokenizer under other ids ({len(moved)} moved: "
            f"{shown}): it would read every row as other words; pass the tokenizer itself (tokenizer=neox-20b)")


def _local_reference(relpath: str) -> Path | None:
    """A known tokenizer's file when it is on this machine ($DEBIAS_DATA_DIR or the cache); never downloads."""
    from debias.data.fetch import DataNotFoundError, resolve

    try:
        return resolve(relpath, download=False)
    except (DataNotFoundError, OSError):
        return None


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
    check_tokenizer_identity(dataset.prefix, tokenizer, tok, where=where)
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
