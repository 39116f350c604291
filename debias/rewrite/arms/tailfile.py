"""The files every arm's tail is made of, written and checked the same way: ``tail.bin``/``tail.idx``
(Megatron, one row per document, the rows of steps ``start..end-1`` in order, each of the source's
length) and ``manifest.json``, written last. The folder is assembled under a temporary name and
renamed into place, so a tail that exists is a finished one. The arms of ``debias.rewrite.arms`` other
than the morphological rewrite (``debias.rewrite.tail``) write through here."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from debias.core.atomic import atomic_path
from debias.core.contracts import MANIFEST, TAIL, Counts, RewriteManifest, count_totals
from debias.core.errors import DebiasError
from debias.data.fetch import sha256_file
from debias.data.indexed import IndexedDatasetWriter, MMapIndexedDataset, idx_path, strip_extension
from debias.data.order import DataOrder

log = logging.getLogger(__name__)

# What identifies a rewrite: a finished tail whose manifest agrees on these is reused as it is.
IDENTITY = ("start_step", "end_step", "rows_per_step", "direction", "method", "parameters", "algorithm")


class ArmTailError(DebiasError, ValueError):
    """An arm's tail does not match its source or its manifest; ``row`` is the tail row (or None)."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


@dataclass(frozen=True)
class TailSpan:
    """What every arm's rewrite reads and writes: the rows of steps ``start_step..end_step-1`` of the
    data order ``source`` (a .bin/.idx prefix of ``rows_per_step`` rows a step, made with
    ``tokenizer``), rewritten into the folder ``output``."""

    source: str | os.PathLike
    output: str | os.PathLike
    start_step: int
    end_step: int
    rows_per_step: int
    tokenizer: str | os.PathLike

    def rows(self) -> tuple[DataOrder, int, int]:
        """``(order, first_row, stop_row)`` of the span (``tail_rows``)."""
        return tail_rows(self.source, self.start_step, self.end_step, self.rows_per_step)

    def steps(self) -> dict[str, int]:
        """The span's steps as a manifest records them."""
        return {"start_step": self.start_step, "end_step": self.end_step, "rows_per_step": self.rows_per_step}

    def tail_keywords(self) -> dict[str, Any]:
        """The span as ``rewrite_tail``'s arguments."""
        return {"source": self.source, "output": self.output, **self.steps(), "tokenizer": self.tokenizer}


def tail_rows(source: str | os.PathLike, start_step: int, end_step: int, rows_per_step: int) -> tuple[DataOrder, int, int]:
    """``(order, first_row, stop_row)``: the source rows that steps ``start_step..end_step-1`` read."""
    if not start_step < end_step:
        raise ValueError(f"start_step={start_step} must lie before end_step={end_step}")
    order = DataOrder(source, rows_per_step)
    first = order.row_range(start_step).start
    stop = order.row_range(end_step - 1).stop  # StepOutOfRangeError when the data ends earlier
    return order, first, stop


def rows_digest(dataset: MMapIndexedDataset, start: int, stop: int) -> str:
    """sha256 of the ``.bin`` bytes of rows ``start..stop-1``."""
    digest = hashlib.sha256()
    per = max(1, (1 << 24) // max(1, int(dataset.sizes[start]) * dataset.dtype.itemsize)) if stop > start else 1
    for lo in range(start, stop, per):
        digest.update(dataset.raw_bytes(lo, min(stop, lo + per)))
    return digest.hexdigest()


def finished(output: Path, identity: dict[str, Any], source: Path, source_idx_sha: str,
             tokenizer_sha: str) -> dict[str, Any] | None:
    """The manifest of a finished tail in ``output`` made from the same inputs, or None when there
    is none; a finished tail of other inputs is refused (FileExistsError). The source is compared by
    its path too: the data orders of different seeds share their ``.idx``."""
    path = output / MANIFEST
    if not path.is_file():
        return None
    record = RewriteManifest.read(path)  # RecordError naming a malformed one
    manifest = record.to_dict()
    same = (record.source is not None and record.source.idx_sha256 == source_idx_sha
            and Path(record.source.path).resolve() == source
            and record.tokenizer_sha256 == tokenizer_sha
            and all(manifest.get(k) == v for k, v in identity.items()))
    if not same:
        raise FileExistsError(f"{output} holds a finished rewrite of other inputs (see {path}); choose another "
                              "output folder or delete this one")
    log.info("%s is already complete; nothing to do", output)
    return manifest


def _honour_umask(folder: Path) -> None:
    """Give the folder and its files the modes the umask allows (temporary names are private)."""
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~mask)


def totals(counts: Counts, **rows: int) -> dict[str, Any]:
    """The manifest's ``totals``, shaped like the morphological rewrite's so that the report reads
    every arm alike (``counts`` in the one shape of ``debias.core.contracts.Counts``)."""
    summed = count_totals(counts)
    seen, left = summed["seen"], summed["left"]
    return {**rows, "seen": seen, "swapped": summed["swapped"], "left": left,
            "left_fraction": left / seen if seen else 0.0}


def write_tail(
    output: str | os.PathLike,
    order: DataOrder,
    first_row: int,
    stop_row: int,
    rewrite: Callable[[int, np.ndarray], np.ndarray],
    *,
    identity: dict[str, Any],
    tokenizer: Path,
    fields: Callable[[], dict[str, Any]],
    batch_rows: int = 1024,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``rewrite(first, rows)`` of every batch of source rows into ``output``; returns the
    manifest. ``rewrite`` must return an array of the rows' shape; ``fields()`` (called after the
    last batch) gives the method's own manifest entries (counts and the like)."""
    output = Path(output)
    source = order.prefix.resolve()
    src_idx_sha, tok_sha = sha256_file(idx_path(source)), sha256_file(tokenizer)
    if (done := finished(output, identity, source, src_idx_sha, tok_sha)) is not None:
        return done
    rows = stop_row - first_row
    changed_tokens = changed_rows = 0
    digest = hashlib.sha256()
    with atomic_path(output, is_dir=True) as tmp:
        with IndexedDatasetWriter(tmp / TAIL, order.dtype) as writer:
            for lo in tqdm(range(first_row, stop_row, batch_rows), desc=f"rewriting ({identity['method']})",
                           unit="batch", disable=not progress):
                hi = min(stop_row, lo + batch_rows)
                old = order.dataset.rows(lo, hi)
                new = np.asarray(rewrite(lo, old))
                if new.shape != old.shape:
                    raise RuntimeError(f"the {identity['method']} rewrite returned rows of shape {new.shape} for "
                                       f"rows of shape {old.shape}; a tail keeps every row and its length")
                new = new.astype(order.dtype, copy=False)
                changed_tokens += int((new != old).sum())
                changed_rows += int((new != old).any(axis=1).sum())
                digest.update(np.ascontiguousarray(new).tobytes())
                writer.add_rows(new, one_document_each=True)
        manifest = {
            "source": {"path": str(source), "idx_sha256": src_idx_sha,
                       "rows_sha256": rows_digest(order.dataset, first_row, stop_row),
                       "first_row": first_row, "rows": rows},
            **identity,
            "row_length": order.row_length,
            "dtype": str(order.dtype),
            "tokenizer": {"path": str(tokenizer), "sha256": tok_sha},
            **(extra := fields()),
            "totals": totals(extra.get("counts", {}), rows=rows, tokens=rows * order.row_length,
                             changed_tokens=changed_tokens, changed_rows=changed_rows),
            "output": {"bin_sha256": digest.hexdigest(), "idx_sha256": sha256_file(idx_path(tmp / TAIL))},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        RewriteManifest.from_dict(manifest, output / MANIFEST).write(tmp / MANIFEST)
        _honour_umask(tmp)
    log.info("%s rewrite of %d rows into %s: %d tokens in %d rows changed", identity["method"], rows, output,
             changed_tokens, changed_rows)
    return manifest


def verify_arm_tail(
    source: str | os.PathLike,
    output: str | os.PathLike,
    check_row: Callable[[np.ndarray, np.ndarray], str | None] | None = None,
    *,
    progress: bool = False,
    expected: Callable[[int, int], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Prove that ``output``'s tail holds the source rows' count and length, that the source and
    the tail are the bytes the manifest names, and (``check_row(old, new)``: a problem or None)
    that every changed row is a change the method makes; returns a summary or raises ArmTailError.
    ``expected(lo, hi)``: for an arm that moves rows, the source rows tail rows ``lo..hi-1`` must
    equal exactly (changes are still counted against the source row at the same place)."""
    source, output = strip_extension(source), Path(output)
    path = output / MANIFEST
    if not path.is_file():
        raise ArmTailError(f"{path}: missing; {output} is not a finished tail (rewrite it again)")
    manifest = RewriteManifest.read(path).to_dict()  # RecordError naming a malformed one
    if sha256_file(idx_path(source)) != manifest["source"]["idx_sha256"]:
        raise ArmTailError(f"{idx_path(source)}: not the index this tail was made from (sha256 differs from {path}); "
                           "verify against the original source")
    first, rows, length = manifest["source"]["first_row"], manifest["source"]["rows"], manifest["row_length"]
    src = DataOrder(source, manifest["rows_per_step"], length).dataset
    if first + rows > len(src) or rows_digest(src, first, first + rows) != manifest["source"]["rows_sha256"]:
        raise ArmTailError(f"{source}: the rows of steps {manifest['start_step']}..{manifest['end_step'] - 1} are "
                           "not those the tail was made from; rewrite the tail again")
    tail = MMapIndexedDataset(output / TAIL)
    if len(tail) != rows or (len(tail) and (tail.sizes != length).any()):
        raise ArmTailError(f"{output / TAIL}: holds {len(tail)} rows, expected {rows} rows of {length} tokens")
    if sha256_file(output / f"{TAIL}.bin") != manifest["output"]["bin_sha256"]:
        raise ArmTailError(f"{output / TAIL}.bin: its sha256 differs from the manifest's; rewrite the tail again")
    changed_tokens = changed_rows = 0
    chunk = max(1, (1 << 22) // max(1, length))
    for lo in tqdm(range(0, rows, chunk), desc="verifying tail", unit="chunk", disable=not progress):
        hi = min(rows, lo + chunk)
        old, new = src.rows(first + lo, first + hi), tail.rows(lo, hi)
        if expected is not None:
            for k, r in enumerate(expected(lo, hi).tolist()):
                if not np.array_equal(src.rows(r, r + 1)[0], new[k]):
                    raise ArmTailError(f"tail row {lo + k}: not source row {r}, the row the manifest's order puts "
                                       "there", row=lo + k)
        diff = np.flatnonzero((old != new).any(axis=1))
        changed_rows += len(diff)
        changed_tokens += int((old != new).sum())
        if check_row is not None:
            for r in diff.tolist():
                if (problem := check_row(old[r], new[r])) is not None:
                    raise ArmTailError(f"tail row {lo + r} (source row {first + lo + r}): {problem}", row=lo + r)
    if changed_tokens != manifest["totals"]["changed_tokens"]:
        raise ArmTailError(f"{path}: records {manifest['totals']['changed_tokens']} changed tokens, the rows "
                           f"hold {changed_tokens}")
    return {"rows": rows, "tokens": rows * length, "changed_tokens": changed_tokens, "changed_rows": changed_rows,
            "start_step": manifest["start_step"], "end_step": manifest["end_step"], "method": manifest["method"]}
