"""Held-out perplexity: item columns (a chunk's log-likelihood, bytes, and, from the runner, its
tokens split by token class) and perplexity per token, per token class, per byte."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from debias.eval.tasks.common import Columns, columns, ll
from debias.eval.tasks.heldout.config import SWAP_DIRECTIONS
from debias.eval.tasks.measures import Cols, Metric


def itemize(samples: list[dict[str, Any]]) -> Columns:
    # n_tokens is filled in by the runner, which has the tokenizer.
    return columns([
        {"id": s["doc"]["id"], "ll": ll(s, 0), "n_bytes": int(s["doc"]["n_bytes"]), "text": s["doc"]["text"]}
        for s in samples
    ])


def _token_ppl(ll_col: str, n: str) -> Callable[[Cols], np.ndarray]:
    return lambda c: np.exp(-np.sum(c[ll_col], -1) / np.sum(c[n], -1))


METRICS: list[Metric] = [
    Metric("heldout/ppl_token", ("heldout",), lambda c: np.exp(-np.sum(c["ll"], -1) / np.sum(c["n_tokens"], -1)),
           "Held-out perplexity per token", kind="capability", higher_is_better=False, fmt=".2f"),
    Metric("heldout/ppl_other", ("heldout",), _token_ppl("ll_other", "n_other"),
           "Held-out perplexity per token, tokens of words other than gendered ones",
           kind="capability", higher_is_better=False, fmt=".3f"),
    Metric("heldout/ppl_gendered", ("heldout",), _token_ppl("ll_gendered", "n_gendered"),
           "Held-out perplexity per token, gendered-word tokens",
           kind="capability", higher_is_better=False, fmt=".2f"),
    *[Metric(f"heldout_{d}/ppl_token", (f"heldout_{d}",), _token_ppl("ll", "n_tokens"),
             f"Held-out perplexity per token, text rewritten {d}", kind="capability",
             higher_is_better=False, fmt=".3f") for d in SWAP_DIRECTIONS],
    Metric("heldout/ppl_byte", ("heldout",), lambda c: np.exp(-np.sum(c["ll"], -1) / np.sum(c["n_bytes"], -1)),
           "Held-out perplexity per byte", kind="capability", higher_is_better=False, fmt=".4f"),
    Metric("heldout/bits_per_byte", ("heldout",),
           lambda c: -np.sum(c["ll"], -1) / np.sum(c["n_bytes"], -1) / np.log(2),
           "Held-out bits per byte", kind="capability", higher_is_better=False, fmt=".4f"),
]


# What eval.tasks.registry reads: the lm-eval tasks by item table (YAML here, how samples become
# columns), the metrics the command line's summary and the report's series show, and where the
# report's headline places this benchmark's metrics.
TABLES = {"heldout": ("heldout_perplexity.yaml", itemize)}
SUMMARY = ("heldout/ppl_token", "heldout/ppl_other")
SERIES = ("heldout/ppl_token", "heldout/ppl_other")
HEADLINE = {"heldout/ppl_other": 1, "heldout/ppl_token": 16, "heldout/ppl_gendered": 17,
            "heldout_to_feminine/ppl_token": 18, "heldout_both/ppl_token": 19}
