"""What ``heldout_perplexity.yaml`` names with ``!function``: the chunk loader (the text as it is,
or rewritten by ``swap``) and per-chunk results for per-byte perplexity. lm-eval loads this file
from beside the YAML; ``**_`` takes its metadata."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from debias.eval.tasks.common import as_dataset
except ModuleNotFoundError:  # lm-eval's own CLI, run outside the repo with the package not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from debias.eval.tasks.common import as_dataset
from debias.eval.tasks.heldout.reader import heldout_docs


def load_heldout(path: str | None = None, chunk_chars: int = 4000, limit: int | None = None,
                 seed: int = 0, unwrap: bool = True, swap: str | None = None, **_: Any) -> dict[str, Any]:
    return as_dataset(heldout_docs(path, chunk_chars=chunk_chars, limit=limit, seed=seed, unwrap=unwrap, swap=swap))


def heldout_results(doc: dict[str, Any], results: list[float]) -> dict[str, tuple[float, int]]:
    (loglikelihood,) = results
    return {"byte_perplexity": (loglikelihood, doc["n_bytes"]), "bits_per_byte": (loglikelihood, doc["n_bytes"])}
