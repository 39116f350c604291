"""GPT-NeoX index maps for tests (debias/data/index_maps.py): random documents as one Megatron
dataset, and per seed the three maps of an order over them, with the rows that order defines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from debias.data.indexed import write_indexed_dataset


def write_tokens(prefix: Path, *, docs: int, seed: int = 7, vocab: int = 50_000) -> list[np.ndarray]:
    """``docs`` documents of 1 to 39 random tokens, each its own sequence (as pythia_pile_idxmaps)."""
    rng = np.random.default_rng(seed)
    out = [rng.integers(2, vocab, size=int(n)).astype(np.uint16) for n in rng.integers(1, 40, size=docs)]
    write_indexed_dataset(prefix, out)
    return out


def write_maps(folder: Path, docs: list[np.ndarray], *, seq: int, seed: int, epochs: int = 2) -> np.ndarray:
    """The maps of seed ``seed`` in ``folder``; returns the rows they define, by their definition:
    documents concatenated in doc_idx order, samples of seq + 1 tokens overlapping by one, taken in
    shuffle_idx order."""
    rng = np.random.default_rng(1000 + seed)
    doc_idx = np.concatenate([rng.permutation(len(docs)) for _ in range(epochs)]).astype(np.int32)
    stream = np.concatenate([docs[d] for d in doc_idx])
    starts = np.concatenate([[0], np.cumsum([len(docs[d]) for d in doc_idx])])
    samples = (len(stream) - 1) // seq
    pos = np.arange(samples + 1) * seq
    where = np.searchsorted(starts, pos, side="right") - 1
    sample_idx = np.stack([where, pos - starts[where]], axis=1).astype(np.int32)
    shuffle_idx = rng.permutation(samples).astype(np.uint32)
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in (("doc_idx", doc_idx), ("sample_idx", sample_idx), ("shuffle_idx", shuffle_idx)):
        np.save(folder / f"pile_train_0_indexmap_{samples}ns_{seq}sl_{seed}s_{name}.npy", arr)
    return np.stack([stream[k * seq:k * seq + seq + 1] for k in shuffle_idx])
