"""Train a small byte-level BPE ``tokenizer.json`` shaped like GPT-NeoX-20B's (NFC, byte-level
pre-tokenizer and decoder, no prefix space, ``<|endoftext|>`` = 0, ``<|padding|>`` = 1), so the CPU
suite can use vocabularies of a few thousand tokens with the same code paths as the real one."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from debias.core import atomic

log = logging.getLogger(__name__)

EOD = "<|endoftext|>"
PAD = "<|padding|>"
SPECIAL_TOKENS = (EOD, PAD)
MIN_VOCAB = 256 + len(SPECIAL_TOKENS)


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    out_path: str | os.PathLike,
    *,
    min_frequency: int = 2,
    length: int | None = None,
    progress: bool = False,
) -> Path:
    """Train on ``texts`` and write the tokenizer to ``out_path`` atomically; returns the path.

    Every byte is in the vocabulary (ids 2..257 after the two special tokens), so any text encodes.
    """
    if vocab_size < MIN_VOCAB:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: a byte-level BPE needs at least {MIN_VOCAB} "
            "(256 bytes + <|endoftext|> + <|padding|>)"
        )
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=progress,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=length)
    for i, name in enumerate(SPECIAL_TOKENS):
        if (
            tok.token_to_id(name) != i
        ):  # guards against a tokenizers release that orders them differently
            raise RuntimeError(
                f"trained BPE put {name} at id {tok.token_to_id(name)}, expected {i}"
            )
    got = tok.get_vocab_size()
    if got < vocab_size:
        log.info("BPE: the corpus supports only %d of the %d tokens asked for", got, vocab_size)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(out_path) as tmp:
        tok.save(str(tmp))
    return out_path
