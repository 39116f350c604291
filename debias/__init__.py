"""pythia-debias data side: the pronoun swapper, Megatron indexed datasets, data orders and the
tail rewrite. Heavy modules (spaCy, tokenizers) load on first use of the name that needs them."""

from __future__ import annotations

from debias.core.lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "PronounSwapper": "debias.swap.swapper",
    "MMapIndexedDataset": "debias.data.indexed",
    "IndexedDatasetError": "debias.data.indexed",
    "write_indexed_dataset": "debias.data.indexed",
    "IndexedDatasetWriter": "debias.data.indexed",
    "DataOrder": "debias.data.order",
    "StepOutOfRangeError": "debias.data.order",
    "prepare_data_order": "debias.data.corpus",
    "build_data_order": "debias.data.corpus",
    "train_bpe": "debias.data.bpe",
    "nearest_checkpoint": "debias.rewrite.intervention",
    "intervention_steps": "debias.rewrite.intervention",
    "rewrite_tail": "debias.rewrite.tail",
    "verify_tail": "debias.rewrite.verify",
    "TailVerificationError": "debias.rewrite.verify",
    "DebiasError": "debias.core.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
