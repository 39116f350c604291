"""pythia-debias data side: the pronoun swapper, Megatron indexed datasets, data orders and the
tail rewrite. Heavy modules (spaCy, tokenizers) load on first use of the name that needs them."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "PronounSwapper": "debias.swapper",
    "MMapIndexedDataset": "debias.indexed",
    "IndexedDatasetError": "debias.indexed",
    "write_indexed_dataset": "debias.indexed",
    "IndexedDatasetWriter": "debias.indexed",
    "DataOrder": "debias.data_order",
    "StepOutOfRangeError": "debias.data_order",
    "prepare_data_order": "debias.corpus",
    "build_data_order": "debias.corpus",
    "train_bpe": "debias.bpe",
    "nearest_checkpoint": "debias.intervention",
    "intervention_steps": "debias.intervention",
    "rewrite_tail": "debias.tail",
    "verify_tail": "debias.tail",
    "TailVerificationError": "debias.tail",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'debias' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
