"""Held-out log-likelihood split by token class: tokens of gendered words, and all the others.

A rewrite that teaches "she" everywhere makes every "he" of ordinary text less likely, so its
per-token perplexity rises even if nothing else about the model changed. The language-modelling
cost of an intervention is read from the other tokens alone.

lm-eval's ``loglikelihood_rolling`` gives one sum per document. This module scores the same
windows that it scores (``lm_eval.utils.get_rolling_token_windows`` with the model's
``max_length``, then ``make_disjoint_window``) token by token, so that the two classes add up to
lm-eval's own figure; ``eval.runner`` checks that they do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from debias.swap.pronouns import FEMININE, MASCULINE, pronoun_pattern

log = logging.getLogger(__name__)

GENDERED_FORMS = frozenset(MASCULINE + FEMININE)


def gendered_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the whole-word gendered pronouns of ``text``."""
    return [m.span() for m in pronoun_pattern(GENDERED_FORMS).finditer(text)]


def gendered_mask(text: str, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """For each token (by its character span), whether it overlaps a gendered word."""
    spans = gendered_spans(text)
    mask = np.zeros(len(offsets), dtype=bool)
    if not spans:
        return mask
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    for i, (a, b) in enumerate(offsets):
        j = np.searchsorted(ends, a, side="right")  # first word ending after the token starts
        mask[i] = j < len(spans) and starts[j] < b
    return mask


def _token_ids_and_offsets(lm: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    ids = lm.tok_encode(text)
    enc = lm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if list(enc["input_ids"]) != list(ids):
        raise ValueError("the tokenizer's offsets do not describe lm-eval's tokens; a fast tokenizer is needed "
                         "to split held-out perplexity by token class")
    return ids, [tuple(o) for o in enc["offset_mapping"]]


def token_logprobs(lm: Any, ids: list[int]) -> np.ndarray:
    """log P(token | what precedes it in its window) for every token of ``ids``, windows as lm-eval's."""
    import torch
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    windows = [make_disjoint_window(w) for w in get_rolling_token_windows(
        token_list=ids, prefix_token=lm.prefix_token_id, max_seq_len=lm.max_length, context_len=1)]
    out = []
    for context, continuation in windows:
        window = (context + continuation)[-(lm.max_length + 1):][:-1]
        with torch.no_grad():
            logits = lm.model(torch.tensor([window], device=lm.device)).logits[0].float()
        logp = torch.log_softmax(logits[-len(continuation):], dim=-1)
        target = torch.tensor(continuation, device=logp.device)
        out.append(logp.gather(1, target[:, None])[:, 0].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def split_columns(lm: Any, texts: Sequence[str]) -> dict[str, list[float | int]]:
    """Per text: log-likelihood and token count of gendered-word tokens and of the others."""
    cols: dict[str, list[float | int]] = {"ll_gendered": [], "n_gendered": [], "ll_other": [], "n_other": []}
    for text in texts:
        ids, offsets = _token_ids_and_offsets(lm, text)
        logp = token_logprobs(lm, ids)
        mask = gendered_mask(text, offsets)
        cols["ll_gendered"].append(float(logp[mask].sum()))
        cols["n_gendered"].append(int(mask.sum()))
        cols["ll_other"].append(float(logp[~mask].sum()))
        cols["n_other"].append(int((~mask).sum()))
    return cols
