"""pythia-debias data side: the pronoun swapper, Megatron indexed datasets, data orders and the
tail rewrite. Heavy modules (spaCy, tokenizers) load on first use of the name that needs them."""

from __future__ import annotations

from debias.lazy import lazy_getattr

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
    "verify_tail": "debias.tail_verify",
    "TailVerificationError": "debias.tail_verify",
    "DebiasError": "debias.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
