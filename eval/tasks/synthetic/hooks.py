"""What ``synthetic_probes.yaml`` names with ``!function``: the probes' loader, and the pair
choices and results shared with WinoBias preference (``eval.tasks.common``). lm-eval loads this
file from beside the YAML; ``**_`` takes its metadata."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from debias.eval.tasks.common import as_dataset
except ModuleNotFoundError:  # lm-eval's own CLI, run outside the repo with the package not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from debias.eval.tasks.common import as_dataset
from debias.eval.tasks.common import pair_choices, pair_results  # noqa: F401  (named by synthetic_probes.yaml)
from debias.eval.tasks.in_lm_eval import aggregate, with_records
from debias.eval.tasks.synthetic.reader import synthetic_probe_docs


def load_synthetic_probes(probe_seed: int = 0, n_per_occupation: int = 8, limit: int | None = None,
                          seed: int = 0, **_: Any) -> dict[str, Any]:
    return as_dataset(synthetic_probe_docs(probe_seed, n_per_occupation, limit=limit, seed=seed))


# The headline measures, inside lm-eval (eval.tasks.in_lm_eval).
probe_results = with_records(pair_results, "association", "auc")
association = aggregate("synthetic/association")
auc = aggregate("synthetic/auc")
