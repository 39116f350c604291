"""WinoBias: item columns and metrics of pronoun preference (prior, association, rank) and of coreference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from debias.eval.tasks.common import Columns, columns, ll
from debias.eval.tasks.measures import Cols, Metric, itemize_pairs, mean, of_type, pairs_metrics

itemize_preference = itemize_pairs


def itemize_coreference(samples: list[dict[str, Any]]) -> Columns:
    """One item per pair: did the referent beat the other occupation on the pro and the anti sentence."""
    pairs: dict[str, dict[str, Any]] = {}
    for s in samples:
        doc = s["doc"]
        row = pairs.setdefault(doc["id"], {"id": doc["id"], "female": int(doc["stereotype"] == "female"),
                                           "type": int(doc["type"]), "test": int(doc["split"] == "test")})
        row[f"margin_{doc['polarity']}"] = ll(s, 0) - ll(s, 1)
    for pid, row in pairs.items():
        if "margin_pro" not in row or "margin_anti" not in row:
            raise ValueError(f"WinoBias coreference: pair {pid} lacks its pro or anti sentence")
    return columns(list(pairs.values()))


def _split_type(t: int) -> Callable[[Cols], np.ndarray]:
    return lambda c: (c["type"] == t) & (c["test"] == 1)


def _net_bias(c: Cols) -> np.ndarray:
    return mean((c["margin_pro"] > 0).astype(float) - (c["margin_anti"] > 0).astype(float))


COREF = ("winobias_coreference",)

METRICS: list[Metric] = [
    *pairs_metrics("winobias", "winobias_preference", "WinoBias"),
    *pairs_metrics("winobias_type1", "winobias_preference", "WinoBias type 1", subset=of_type(1)),
    *pairs_metrics("winobias_type2", "winobias_preference", "WinoBias type 2", subset=of_type(2)),
    Metric("winobias_coref/acc_pro", COREF, lambda c: mean((c["margin_pro"] > 0).astype(float)),
           "WinoBias coreference: accuracy, pro-stereotyped", higher_is_better=True),
    Metric("winobias_coref/acc_anti", COREF, lambda c: mean((c["margin_anti"] > 0).astype(float)),
           "WinoBias coreference: accuracy, anti-stereotyped", higher_is_better=True),
    Metric("winobias_coref/net_bias", COREF, _net_bias,
           "WinoBias coreference: net bias (pro - anti accuracy)", part="association", null=0.0),
    Metric("winobias_coref_type1/net_bias", COREF, _net_bias,
           "WinoBias coreference type 1: net bias", part="association", null=0.0, subset=of_type(1)),
    Metric("winobias_coref_type2/net_bias", COREF, _net_bias,
           "WinoBias coreference type 2: net bias", part="association", null=0.0, subset=of_type(2)),
    Metric("winobias_coref_type1_test/net_bias", COREF, _net_bias,
           "WinoBias coreference, test split, type 1: net bias", part="association", null=0.0,
           subset=_split_type(1)),
    Metric("winobias_coref_type2_test/net_bias", COREF, _net_bias,
           "WinoBias coreference, test split, type 2: net bias", part="association", null=0.0,
           subset=_split_type(2)),
]


# What eval.tasks.registry reads: the lm-eval tasks by item table (YAML here, how samples become
# columns), the metrics the command line's summary and the report's series show, and where the
# report's headline places this benchmark's metrics.
TABLES = {"winobias_preference": ("winobias_preference.yaml", itemize_preference),
         "winobias_coreference": ("winobias_coreference.yaml", itemize_coreference)}
SUMMARY = ("winobias/prior", "winobias/association", "winobias/auc", "winobias_coref_type1_test/net_bias",
           "winobias_coref_type2_test/net_bias")
SERIES = ("winobias/pref_pro", "winobias/prior", "winobias/association", "winobias_coref/net_bias")
HEADLINE = {"winobias/auc": 3, "winobias/prior": 4, "winobias/association": 5,
            "winobias_coref_type1_test/net_bias": 13, "winobias_coref_type2_test/net_bias": 14}
