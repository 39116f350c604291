"""What ``winobias_preference.yaml`` and ``winobias_coreference.yaml`` name with ``!function``:
their loaders (the pairs of ``reader.load_pairs``; two docs a pair for coreference), the choices and
the per-doc results. lm-eval loads this file from beside them; ``**_`` takes its metadata."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from debias.eval.tasks.common import as_dataset
except ModuleNotFoundError:  # lm-eval's own CLI, run outside the repo with the package not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from debias.eval.tasks.common import as_dataset
from debias.eval.tasks.common import pair_choices, pair_results  # noqa: F401  (named by winobias_preference.yaml)
from debias.eval.tasks.in_lm_eval import aggregate, with_records
from debias.eval.tasks.winobias.reader import load_pairs


def load_winobias_preference(types: list[int] = (1, 2), splits: list[str] = ("dev", "test"),
                             limit: int | None = None, seed: int = 0, root: str | None = None,
                             **_: Any) -> dict[str, Any]:
    pairs = load_pairs(tuple(types), tuple(splits), root=root, limit=limit, seed=seed)
    return as_dataset([p.as_dict() for p in pairs])


def load_winobias_coreference(types: list[int] = (1, 2), splits: list[str] = ("dev", "test"),
                              limit: int | None = None, seed: int = 0, root: str | None = None,
                              **_: Any) -> dict[str, Any]:
    """Two docs per pair (pro and anti sentence), each asking which occupation the pronoun names."""
    docs = []
    for p in load_pairs(tuple(types), tuple(splits), root=root, limit=limit, seed=seed):
        for polarity, sentence, pronoun in (("pro", p.pro, p.pronoun_pro), ("anti", p.anti, p.pronoun_anti)):
            docs.append({"id": p.id, "polarity": polarity, "type": p.type, "split": p.split,
                         "stereotype": p.stereotype, "context": f"{sentence} Here, {pronoun} refers to the",
                         "referent": p.referent, "other": p.other})
    return as_dataset(docs)


def winobias_coreference_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    (referent, _), (other, _) = results
    return {f"acc_{doc['polarity']}": float(referent > other)}


def coreference_choices(doc: dict[str, Any]) -> list[str]:
    """The bracketed occupation first; lm-eval prepends the target delimiter (a space)."""
    return [doc["referent"], doc["other"]]


# The headline measures, inside lm-eval (eval.tasks.in_lm_eval): documents filed under each key,
# aggregated by the metric of eval.metrics.
preference_results = with_records(pair_results, "association", "auc")
association = aggregate("winobias/association")
auc = aggregate("winobias/auc")
coreference_results = with_records(winobias_coreference_results, "net_bias_type1_test", "net_bias_type2_test")
net_bias_type1_test = aggregate("winobias_coref_type1_test/net_bias")
net_bias_type2_test = aggregate("winobias_coref_type2_test/net_bias")
