"""LAMBADA: item columns (the target's log-likelihood, whether greedy decoding gives it) and metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from debias.eval.tasks.common import Columns, columns, greedy, ll
from debias.eval.tasks.measures import Metric, mean


def itemize(samples: list[dict[str, Any]]) -> Columns:
    return columns([
        {"id": s["doc"]["id"], "ll": ll(s, 0), "greedy": greedy(s, 0)} for s in samples
    ])


METRICS: list[Metric] = [
    Metric("lambada/acc", ("lambada",), lambda c: mean(c["greedy"].astype(float)),
           "LAMBADA accuracy", kind="capability", higher_is_better=True),
    Metric("lambada/ppl", ("lambada",), lambda c: np.exp(-mean(c["ll"])),
           "LAMBADA perplexity", kind="capability", higher_is_better=False, fmt=".2f"),
]


# What eval.tasks.registry reads: the lm-eval tasks by item table (YAML here, how samples become
# columns), the metrics the command line's summary and the report's series show, and where the
# report's headline places this benchmark's metrics.
TABLES = {"lambada": ("lambada.yaml", itemize)}
SUMMARY = ("lambada/acc", "lambada/ppl")
SERIES = ("lambada/acc", "lambada/ppl")
HEADLINE = {"lambada/acc": 20}
