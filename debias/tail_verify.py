"""Proof that a rewritten tail is what the rewrite promised: ``verify_tail`` re-reads the source
rows and the tail and checks, row by row, that they are the same rows of the same lengths,
differing only at whole-word pronouns replaced by a counterpart, and that the manifest's checksums
and counts agree with what is on disk."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from debias.data_order import DataOrder
from debias.fetch import sha256_file
from debias.indexed import MMapIndexedDataset, idx_path, strip_extension
from debias.row_rewrite import check_row
from debias.token_bytes import ByteVocab

MANIFEST = "manifest.json"
TAIL = "tail"
_HASH_CHUNK = 1 << 24


class TailVerificationError(ValueError):
    """A rewritten tail does not match its source. ``row`` is the row's index in the tail (None when
    the problem is not one row's), ``step`` the step that reads it, ``source_row`` its index in the
    source data order."""

    def __init__(
        self,
        message: str,
        *,
        row: int | None = None,
        step: int | None = None,
        source_row: int | None = None,
    ) -> None:
        super().__init__(message)
        self.row = row
        self.step = step
        self.source_row = source_row

    def __reduce__(self) -> tuple:
        # Keep row/step when raised in a worker process and re-raised in the parent.
        return (_rebuild, (self.args[0], self.row, self.step, self.source_row))


def _rebuild(
    message: str, row: int | None, step: int | None, source_row: int | None
) -> TailVerificationError:
    return TailVerificationError(message, row=row, step=step, source_row=source_row)


def rows_sha256(dataset: MMapIndexedDataset, start: int, stop: int, progress: bool = False) -> str:
    """sha256 of the ``.bin`` bytes of rows ``start..stop-1`` (the bytes a rewrite read)."""
    digest = hashlib.sha256()
    per = (
        max(1, _HASH_CHUNK // max(1, int(dataset.sizes[start]) * dataset.dtype.itemsize))
        if stop > start
        else 1
    )
    for lo in tqdm(
        range(start, stop, per), desc="hashing source rows", unit="chunk", disable=not progress
    ):
        digest.update(dataset.raw_bytes(lo, min(stop, lo + per)))
    return digest.hexdigest()


def verify_tail(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    tokenizer: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Prove that ``output``'s tail is ``source``'s rows of its steps, in order, each of the same
    length, differing only at whole-word pronouns replaced by a counterpart; returns a summary
    (``rows``, ``tokens``, ``changed_tokens``, ``swaps``) or raises ``TailVerificationError``.
    ``tokenizer`` overrides the manifest's path (its sha256 must still match)."""
    source, output = strip_extension(source), Path(output)
    manifest_path = output / MANIFEST
    if not manifest_path.is_file():
        raise TailVerificationError(
            f"{manifest_path}: missing; {output} is not a finished tail rewrite "
            "(run rewrite_tail again to finish it)"
        )
    manifest = json.loads(manifest_path.read_text())
    if sha256_file(idx_path(source)) != manifest["source"]["idx_sha256"]:
        raise TailVerificationError(
            f"{idx_path(source)}: not the index this tail was made from "
            f"(sha256 differs from {manifest_path}); verify against the original source"
        )
    rps, start = manifest["rows_per_step"], manifest["start_step"]
    first, rows = manifest["source"]["first_row"], manifest["source"]["rows"]
    vocab = ByteVocab(tokenizer or manifest["tokenizer"]["path"])
    if sha256_file(vocab.path) != manifest["tokenizer"]["sha256"]:
        raise TailVerificationError(
            f"{vocab.path}: not the tokenizer the tail was made with (sha256 differs)"
        )
    src = DataOrder(source, rps, manifest["row_length"]).dataset
    if first + rows > len(src):
        raise TailVerificationError(
            f"{source}: holds {len(src)} rows, fewer than the {first + rows} the tail needs"
        )
    if rows_sha256(src, first, first + rows, progress) != manifest["source"]["rows_sha256"]:
        raise TailVerificationError(
            f"{source}: the rows of steps {start}..{manifest['end_step'] - 1} changed since "
            "the rewrite (rows_sha256 differs); rewrite the tail again"
        )
    tail = MMapIndexedDataset(output / TAIL, vocab_size=vocab.size)
    if len(tail) != rows or (len(tail) and (tail.sizes != manifest["row_length"]).any()):
        bad = min(len(tail), rows)
        if len(tail) and (tail.sizes[:bad] != manifest["row_length"]).any():
            bad = int(np.argmax(tail.sizes[:bad] != manifest["row_length"]))
        raise TailVerificationError(
            f"{output / TAIL}: holds {len(tail)} rows, expected {rows} rows of {manifest['row_length']} tokens; "
            f"row {bad} is the first that is missing or of another length",
            row=bad,
            step=start + bad // rps,
            source_row=first + bad,
        )
    swaps = changed_tokens = changed_rows = 0
    chunk = max(1, (1 << 22) // max(1, manifest["row_length"]))
    for lo in tqdm(
        range(0, rows, chunk), desc="verifying tail", unit="chunk", disable=not progress
    ):
        hi = min(rows, lo + chunk)
        old, new = src.rows(first + lo, first + hi), tail.rows(lo, hi)
        diff_rows = np.flatnonzero((old != new).any(axis=1))
        changed_rows += len(diff_rows)
        for r in diff_rows.tolist():
            n, problem = check_row(
                vocab, old[r], new[r], manifest["direction"], manifest.get("groups", ("pronouns",))
            )
            if problem is not None:
                k = lo + r
                raise TailVerificationError(
                    f"tail row {k} (step {start + k // rps}, source row {first + k}): {problem}",
                    row=k,
                    step=start + k // rps,
                    source_row=first + k,
                )
            swaps += n
        changed_tokens += int((old != new).sum())
    expected = sum(c["swapped"] for c in manifest["counts"].values())
    if swaps != expected:
        raise TailVerificationError(
            f"{manifest_path}: records {expected} swaps, but the rows hold {swaps}"
        )
    return {
        "rows": rows,
        "tokens": rows * manifest["row_length"],
        "changed_tokens": changed_tokens,
        "swaps": swaps,
        "changed_rows": changed_rows,
        "start_step": start,
        "end_step": manifest["end_step"],
    }
