"""What ``crows_pairs_english.yaml`` (and the gender variant, through ``include:``) names with
``!function``: the loader, the sentence pair and the per-pair results. lm-eval loads this file from
beside the YAML and passes ``dataset_kwargs`` and its metadata to the loader (hence ``**_``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from debias.eval.tasks.common import as_dataset
except ModuleNotFoundError:  # lm-eval's own CLI, run outside the repo with the package not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from debias.eval.tasks.common import as_dataset
from debias.eval.tasks.crows_pairs.reader import crows_pairs_docs


def load_crows_pairs(bias_type: str | None = None, limit: int | None = None, seed: int = 0,
                     path: str | None = None, **_: Any) -> dict[str, Any]:
    return as_dataset(crows_pairs_docs(path, bias_type=bias_type, limit=limit, seed=seed))


def sentence_pair(doc: dict[str, Any]) -> list[str]:
    """The more stereotyping sentence first, scored from an empty context."""
    return [doc["sent_more"], doc["sent_less"]]


def crows_pairs_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    (more, _), (less, _) = results
    return {"likelihood_diff": abs(more - less), "pct_stereotype": float(more > less)}
