"""The loader that ``lambada.yaml`` names with ``!function`` (lm-eval loads this file from beside
it and passes ``dataset_kwargs`` with its metadata, hence ``**_``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from debias.eval.tasks.common import as_dataset
except ModuleNotFoundError:  # lm-eval's own CLI, run outside the repo with the package not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from debias.eval.tasks.common import as_dataset
from debias.eval.tasks.lambada.reader import lambada_docs


def load_lambada(limit: int | None = None, seed: int = 0, path: str | None = None, **_: Any) -> dict[str, Any]:
    return as_dataset(lambada_docs(path, limit=limit, seed=seed))
