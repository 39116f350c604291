"""What ``winogender.yaml`` names with ``!function``: the loader, the female, male and neutral
sentence of a template, and its log-odds of "she". lm-eval loads this file from beside the YAML;
``**_`` takes the metadata it passes with ``dataset_kwargs``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from debias.eval.tasks.common import as_dataset
except ModuleNotFoundError:  # lm-eval's own CLI, run outside the repo with the package not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from debias.eval.tasks.common import as_dataset
from debias.eval.tasks.in_lm_eval import aggregate, with_records
from debias.eval.tasks.winogender.reader import winogender_docs


def load_winogender(limit: int | None = None, seed: int = 0, sentences: str | None = None,
                    stats: str | None = None, **_: Any) -> dict[str, Any]:
    return as_dataset(winogender_docs(sentences, stats, limit=limit, seed=seed))


def winogender_sentences(doc: dict[str, Any]) -> list[str]:
    return [doc["female"], doc["male"], doc["neutral"]]


def winogender_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    (female, _), (male, _), _neutral = results
    return {"logodds_female": female - male}


# The headline measures, inside lm-eval (eval.tasks.in_lm_eval).
results_with_records = with_records(winogender_results, "association_occupation", "association_participant")
association_occupation = aggregate("winogender/association_occupation")
association_participant = aggregate("winogender/association_participant")
