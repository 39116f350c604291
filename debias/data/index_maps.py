"""A PolyPythias seed's data order from GPT-NeoX's index maps: the rows of the steps a run needs,
gathered from the unshuffled tokenized Pile and written as a step range (``debias.data.step_range``).

PolyPythias publishes no preshuffled rows for its seeds. ``EleutherAI/pile-preshuffled-seeds``
holds, per seed (``seed0`` is Pythia's own order, shuffle seed 1234), the three ``.npy`` maps
GPT-NeoX's ``GPT2Dataset`` builds: ``doc_idx`` (the documents in shuffled order, epochs
concatenated), ``sample_idx`` (for each sample, the position in ``doc_idx`` and the token offset
where it starts; sample ``i`` ends where ``i + 1`` starts, one token shared) and ``shuffle_idx``
(which sample the ``j``-th row of training is). The tokens are the standard Pile as one Megatron
dataset, a document a sequence (``EleutherAI/pythia_pile_idxmaps``). Row ``j`` of training is
then sample ``shuffle_idx[j]``: the tokens from ``(doc_idx[d0], o0)`` through ``(doc_idx[d1], o1)``,
both ends included, where ``(d0, o0), (d1, o1) = sample_idx[k], sample_idx[k + 1]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from debias.core.contracts import StepRangeRecord
from debias.data.indexed import MMapIndexedDataset
from debias.data.step_range import PARTS, StepRangeError, assemble, building, finished, write_part

log = logging.getLogger(__name__)

MAPS = ("doc_idx", "sample_idx", "shuffle_idx")


def find_maps(folder: str | Path) -> dict[str, Path]:
    """The three maps in ``folder`` (files ending ``_doc_idx.npy``, ``_sample_idx.npy``, ``_shuffle_idx.npy``)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for name in MAPS:
        hits = sorted(folder.glob(f"*_{name}.npy"))
        if len(hits) != 1:
            raise StepRangeError(folder, f"holds {len(hits)} files ending _{name}.npy, not one",
                                 "point data.index_maps_root at a copy of EleutherAI/pile-preshuffled-seeds "
                                 "(one seed<k>/ folder per seed, three .npy maps each)")
        found[name] = hits[0]
    return found


class IndexMaps:
    """Rows of training from the maps in ``folder`` over the tokens ``tokens`` (memory-mapped; never
    unpickled: ``allow_pickle=False``)."""

    def __init__(self, folder: str | Path, tokens: MMapIndexedDataset, row_length: int) -> None:
        paths = find_maps(folder)
        self.folder = Path(folder)
        self.doc_idx, self.sample_idx, self.shuffle_idx = (
            np.load(paths[name], mmap_mode="r", allow_pickle=False) for name in MAPS)
        if self.sample_idx.ndim != 2 or self.sample_idx.shape[1] != 2:
            raise StepRangeError(paths["sample_idx"], f"has shape {self.sample_idx.shape}, not (samples + 1, 2)",
                                 "the file is not GPT-NeoX's sample index")
        self.tokens, self.row_length = tokens, row_length

    def __len__(self) -> int:
        return min(len(self.shuffle_idx), len(self.sample_idx) - 1)

    def row(self, j: int) -> np.ndarray:
        """Row ``j`` of training (``row_length`` tokens)."""
        k = int(self.shuffle_idx[j])
        (d0, o0), (d1, o1) = (int(x) for x in self.sample_idx[k]), (int(x) for x in self.sample_idx[k + 1])
        if d0 == d1:
            out = self.tokens.get(int(self.doc_idx[d0]), o0, o1 - o0 + 1)
        else:
            pieces = [self.tokens.get(int(self.doc_idx[d0]), o0)]
            pieces += [self.tokens.get(int(self.doc_idx[d])) for d in range(d0 + 1, d1)]
            pieces.append(self.tokens.get(int(self.doc_idx[d1]), 0, o1 + 1))
            out = np.concatenate(pieces)
        if out.size != self.row_length:
            raise StepRangeError(self.folder, f"sample {k} (row {j}) spans {out.size} tokens, not {self.row_length}",
                                 "the maps were built for another seq_length or another tokenized corpus")
        return out


def _blocks(maps: IndexMaps, first_row: int, stop_row: int, progress: bool) -> Iterator[np.ndarray]:
    for a in tqdm(range(first_row, stop_row, 4096), desc="gathering rows from the index maps", unit="block",
                  disable=not progress):
        block = np.stack([maps.row(j) for j in range(a, min(stop_row, a + 4096))])
        if block.dtype != np.uint16 and block.size and (block.min() < 0 or block.max() >= 1 << 16):
            raise StepRangeError(maps.tokens.prefix, "holds token ids outside 0..65535",
                                 "these are not the 20B tokenizer's tokens of the Pile")
        yield block.astype(np.uint16)


def read_index_map_steps(maps_dir: str | Path, tokens_prefix: str | Path, folder: Path, *, first_step: int,
                         end_step: int, rows_per_step: int, row_length: int, progress: bool = True) -> StepRangeRecord:
    """The rows of steps ``first_step..end_step-1`` of the order ``maps_dir`` describes over the tokens
    ``tokens_prefix``, written to ``folder`` once; a finished folder is returned as is."""
    if (done := finished(folder, first_step, end_step)) is not None:
        return done
    with building(folder):
        if (done := finished(folder, first_step, end_step)) is not None:
            return done  # gathered by a run that held the folder before this one
        return _gather(maps_dir, tokens_prefix, folder, first_step, end_step, rows_per_step, row_length, progress)


def _gather(maps_dir: str | Path, tokens_prefix: str | Path, folder: Path, first_step: int, end_step: int,
            rows_per_step: int, row_length: int, progress: bool) -> StepRangeRecord:
    tokens = MMapIndexedDataset(tokens_prefix)
    maps = IndexMaps(maps_dir, tokens, row_length)
    first_row, stop_row = first_step * rows_per_step, end_step * rows_per_step
    if stop_row > len(maps):
        raise StepRangeError(maps_dir, f"the maps hold {len(maps)} samples, fewer than the {stop_row} rows steps "
                                       f"up to {end_step - 1} need", "use the maps built for the whole run")
    parts = folder / PARTS
    log.info("gathering steps %d..%d of %s from %s", first_step, end_step - 1, maps_dir, tokens_prefix)
    part = write_part(parts, "00000", _blocks(maps, first_row, stop_row, progress), first_step=first_step,
                      end_step=end_step, source=str(maps_dir))
    return assemble(folder, [part], kind="index_maps", source=str(Path(maps_dir).resolve()), first_step=first_step,
                    end_step=end_step, rows_per_step=rows_per_step, row_length=row_length, dtype=np.dtype(np.uint16))
