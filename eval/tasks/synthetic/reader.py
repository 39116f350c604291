"""She/he probe pairs on the synthetic corpus's own occupations (``debias.synthetic.stories.probe_pairs``),
shaped like WinoBias pairs; generated, so their text itself is what a cached score depends on."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from debias.eval.tasks.common import subsample


def synthetic_probe_docs(
    probe_seed: int = 0, n_per_occupation: int = 8, *, limit: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """She/he probe pairs on the synthetic corpus's occupations, shaped like WinoBias pairs."""
    from debias.synthetic.stories import probe_pairs

    docs = [
        {"id": f"synthetic.{p.occupation}.{p.template}", "type": 0, "occupation": p.occupation,
         "stereotype": p.stereotype, "role": p.role, "pro": p.pro_sentence, "anti": p.anti_sentence}
        for p in probe_pairs(probe_seed, n_per_occupation)
    ]
    return subsample(docs, limit, seed)


def data_sources(options: dict[str, Any]) -> dict[str, str]:
    # The probes are generated, so their text itself is what must not change.
    docs = synthetic_probe_docs(options.get("probe_seed", 0), options.get("n_per_occupation", 8))
    return {"debias.synthetic.stories.probe_pairs": hashlib.sha256(json.dumps(docs, sort_keys=True).encode()).hexdigest()}
