"""The A/A arm: a second control whose tail holds the control's own rows, unchanged, in another
order. Comparing it with the control shows what training noise alone does to a comparison, the
null every other arm is read against. (On a CPU an exact copy of the control trains bit for bit
like it, so only a reordering shows that noise.)

The order is a permutation of the tail's rows, the same for any machine or library version: rows
sorted by the hash ``u(row_seed, source row)`` of ``debias.rewrite.selection``. Tail row ``i`` is
source row ``first + permutation[i]``. The manifest records the seed and the permutation's
sha256, and the proof (``verify_reorder``) checks every row against the source row it must be.
It works on any data order, the Pile's included; at that size the rows are gathered in batches
of random reads from the memory-mapped source.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.contracts import MANIFEST, RewriteManifest, empty_counts
from debias.data.order import DataOrder, first_row_number
from debias.rewrite.arms.tailfile import ArmTailError, TailSpan, verify_arm_tail, write_tail
from debias.rewrite.selection import uniforms

ALGORITHM = "debias reorder v1: rows sorted by splitmix64(splitmix64(row_seed) + source_row)"


def permutation(first: int, stop: int, seed: int) -> np.ndarray:
    """Where each tail row comes from: tail row ``i`` is source row ``first + result[i]``."""
    return np.argsort(uniforms(seed, np.arange(first, stop)), kind="stable")


def permutation_sha256(perm: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(perm, dtype="<i8").tobytes()).hexdigest()


def _gather(order: DataOrder, first: int, perm: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Source rows ``first + perm[lo:hi]``, in that order, read in ascending order of row."""
    wanted = first + perm[lo:hi]
    ascending = np.argsort(wanted, kind="stable")
    out = np.empty((hi - lo, order.row_length), dtype=order.dtype)
    for k in ascending.tolist():
        r = int(wanted[k])
        out[k] = order.dataset.rows(r, r + 1)[0]
    return out


def rewrite_reorder(span: TailSpan, *, seed: int, progress: bool = True) -> dict[str, Any]:
    """Write the rows of ``span`` in the order ``permutation(..., seed)``; returns the manifest."""
    order, first, stop = span.rows()
    number = first_row_number(span.source, span.rows_per_step)  # rows are numbered in the whole order
    perm = permutation(number + first, number + stop, seed)
    identity = {**span.steps(), "direction": "both", "method": "reorder", "parameters": {"row_seed": int(seed)},
                "algorithm": ALGORITHM}
    fields = {"counts": empty_counts(()), "noncanonical": None,
              "permutation": {"seed": int(seed), "sha256": permutation_sha256(perm)}}
    return write_tail(span.output, order, first, stop,
                      lambda lo, rows: _gather(order, first, perm, lo - first, lo - first + len(rows)),
                      identity=identity, tokenizer=Path(span.tokenizer).resolve(), fields=lambda: fields,
                      progress=progress)


def verify_reorder(source: str | os.PathLike, output: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """Prove the tail holds its source rows, each exactly once, in the recorded order."""
    manifest = RewriteManifest.read(Path(output) / MANIFEST).to_dict()
    first, rows = manifest["source"]["first_row"], manifest["source"]["rows"]
    number = first_row_number(manifest["source"]["path"], manifest["rows_per_step"])
    perm = permutation(number + first, number + first + rows, int(manifest["parameters"]["row_seed"]))
    if permutation_sha256(perm) != manifest["permutation"]["sha256"]:
        raise ArmTailError(f"{Path(output) / MANIFEST}: its row_seed does not give the permutation it records; "
                           "rewrite the tail again")
    summary = verify_arm_tail(source, output, None, progress=progress, expected=lambda a, b: first + perm[a:b])
    return summary
