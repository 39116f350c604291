"""Proof that a rewritten tail is what the rewrite promised: ``verify_tail`` re-reads the source
rows and the tail and checks, row by row, that they are the same rows of the same lengths,
differing only at whole-word pronouns replaced by a counterpart, and that the manifest's checksums
and counts agree with what is on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.pipeline.base import PipelineStep
from tqdm import tqdm

from debias.core.contracts import MANIFEST, TAIL, RewriteManifest, count_totals
from debias.core.errors import DebiasError
from debias.data.fetch import sha256_file
from debias.data.indexed import MMapIndexedDataset, idx_path, strip_extension
from debias.data.order import DataOrder, first_row_number
from debias.data.token_bytes import ByteVocab
from debias.data.tokenizer_fit import check_tokenizer_fits
from debias.rewrite.engine import (
    ExecutorConfig,
    ExecutorError,
    guard_fields,
    make_executor,
    run_pipeline,
    task_guard,
    task_rows,
)
from debias.rewrite.rows import check_row
from debias.rewrite.selection import RowSelection

_HASH_CHUNK = 1 << 24
SAMPLE_ROWS = 64  # rows hashed for the quick check of a finished tail against its manifest


class TailVerificationError(DebiasError, ValueError):
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
    # DebiasError's __reduce__ keeps row/step when raised in a worker process and re-raised in the parent.


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


def sample_sha256(tail: MMapIndexedDataset, n: int = SAMPLE_ROWS) -> str:
    """sha256 of ``n`` evenly spaced rows of ``tail`` (first and last included): the quick check
    that a finished tail is still the one its manifest describes."""
    if len(tail) == 0:
        return hashlib.sha256().hexdigest()
    digest = hashlib.sha256()
    for r in np.unique(np.linspace(0, len(tail) - 1, min(n, len(tail))).astype(np.int64)).tolist():
        digest.update(tail.raw_bytes(r, r + 1))
    return digest.hexdigest()


def check_against_manifest(
    output: str | os.PathLike, manifest: dict[str, Any], *, full: bool = False
) -> None:
    """Check ``output``'s tail.bin/.idx against ``manifest``: the sizes, the index's sha256 and a
    sampled row hash (the whole ``.bin``'s sha256 when ``full`` or when the manifest has no sample);
    raises ``TailVerificationError`` naming what differs."""
    output = Path(output)
    prefix = output / TAIL
    rows, length = manifest["source"]["rows"], manifest["row_length"]
    want = rows * length * np.dtype(manifest["dtype"]).itemsize
    fix = f"the tail was altered since it was written; delete {output} and rewrite it"
    for path in (prefix.with_suffix(".bin"), idx_path(prefix)):
        if not path.is_file():
            raise TailVerificationError(f"{path}: missing; {fix}")
    got = prefix.with_suffix(".bin").stat().st_size
    if got != want:
        raise TailVerificationError(
            f"{prefix}.bin: {got} bytes, but the manifest's {rows} rows of {length} tokens need {want}; {fix}"
        )
    if sha256_file(idx_path(prefix)) != manifest["output"]["idx_sha256"]:
        raise TailVerificationError(f"{idx_path(prefix)}: sha256 differs from {output / MANIFEST}; {fix}")
    sample = manifest["output"].get("sample_rows_sha256")
    if full or sample is None:
        if sha256_file(prefix.with_suffix(".bin")) != manifest["output"]["bin_sha256"]:
            raise TailVerificationError(f"{prefix}.bin: sha256 differs from {output / MANIFEST}; {fix}")
    elif sample_sha256(MMapIndexedDataset(prefix)) != sample:
        raise TailVerificationError(
            f"{prefix}.bin: the sampled rows' sha256 differs from {output / MANIFEST}; {fix}"
        )


def _verify_rows(
    vocab: ByteVocab,
    src: MMapIndexedDataset,
    tail: MMapIndexedDataset,
    manifest: dict[str, Any],
    lo: int,
    hi: int,
    progress: bool,
) -> dict[str, int]:
    """Check tail rows ``lo..hi-1`` against their source rows; the swaps and changes they hold."""
    rps, start = manifest["rows_per_step"], manifest["start_step"]
    first = manifest["source"]["first_row"]
    number = first_row_number(manifest["source"]["path"], rps)  # of the source file's first row
    selection = RowSelection.from_record(manifest.get("selection"))
    swaps = changed_tokens = changed_rows = 0
    chunk = max(1, (1 << 22) // max(1, manifest["row_length"]))
    for a in tqdm(range(lo, hi, chunk), desc="verifying tail", unit="chunk", disable=not progress):
        b = min(hi, a + chunk)
        old, new = src.rows(first + a, first + b), tail.rows(a, b)
        diff_rows = np.flatnonzero((old != new).any(axis=1))
        changed_rows += len(diff_rows)
        stray = diff_rows[~selection.chosen(number + first + a + diff_rows)]
        if stray.size:
            k = a + int(stray[0])
            raise TailVerificationError(
                f"tail row {k} (step {start + k // rps}, source row {first + k}) changed, but the manifest's "
                f"selection (fraction {selection.fraction}, seed {selection.seed}) leaves that row as it was",
                row=k, step=start + k // rps, source_row=first + k)
        for r in diff_rows.tolist():
            n, problem = check_row(
                vocab, old[r], new[r], manifest["direction"], manifest.get("groups", ("pronouns",))
            )
            if problem is not None:
                k = a + r
                raise TailVerificationError(
                    f"tail row {k} (step {start + k // rps}, source row {first + k}): {problem}",
                    row=k,
                    step=start + k // rps,
                    source_row=first + k,
                )
            swaps += n
        changed_tokens += int((old != new).sum())
    return {"swaps": swaps, "changed_tokens": changed_tokens, "changed_rows": changed_rows}


class VerifyRows(PipelineStep):
    """Task ``rank`` of ``world_size``: verify its contiguous range of tail rows and write what
    they hold to ``<results>/<rank>.json``, or the first bad row found there (raised by
    ``verify_tail`` itself: on Ray a task's own error does not reach the caller)."""

    name = "verify tail rows"
    type = "debias"

    def __init__(self, job: dict[str, Any]):
        super().__init__()
        self.job = job

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> None:
        from debias.core.atomic import write_json

        job = self.job
        guard = task_guard(job)
        manifest = job["manifest"]
        vocab = ByteVocab(job["tokenizer"])
        src = DataOrder(job["source"], manifest["rows_per_step"], manifest["row_length"], streaming=True).dataset
        tail = MMapIndexedDataset(Path(job["output"]) / TAIL, vocab_size=vocab.size, streaming=True)
        lo, hi = task_rows(rank, world_size, 0, manifest["source"]["rows"])
        in_parent = os.getpid() == guard
        try:
            found = _verify_rows(vocab, src, tail, manifest, lo, hi, job["progress"] and in_parent)
        except TailVerificationError as exc:
            found = {"error": str(exc), "row": exc.row, "step": exc.step, "source_row": exc.source_row}
        write_json(Path(job["results"]) / f"{rank:05d}.json", found)


def verify_tail(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    tokenizer: str | os.PathLike | None = None,
    workers: int = 1,
    tasks: int | None = None,
    executor: ExecutorConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Prove that ``output``'s tail is ``source``'s rows of its steps, in order, each of the same
    length, differing only at whole-word pronouns replaced by a counterpart; returns a summary
    (``rows``, ``tokens``, ``changed_tokens``, ``swaps``) or raises ``TailVerificationError``.
    ``tokenizer`` overrides the manifest's path (its sha256 must still match). The rows are
    checked by ``tasks`` datatrove tasks (None: one per worker) on ``executor`` (local or ray)."""
    executor = executor or ExecutorConfig()
    if executor.kind == "slurm":
        raise ValueError("verify_tail runs on executor local or ray (it returns its summary)")
    source, output = strip_extension(source), Path(output)
    manifest_path = output / MANIFEST
    if not manifest_path.is_file():
        raise TailVerificationError(
            f"{manifest_path}: missing; {output} is not a finished tail rewrite "
            "(run rewrite_tail again to finish it)"
        )
    manifest = RewriteManifest.read(manifest_path).to_dict()  # RecordError naming a malformed one
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
    src = DataOrder(source, rps, manifest["row_length"], streaming=True).dataset
    if first + rows > len(src):
        raise TailVerificationError(
            f"{source}: holds {len(src)} rows, fewer than the {first + rows} the tail needs"
        )
    # TokenizerMismatchError for a tail rewritten with a tokenizer that does not fit its rows
    check_tokenizer_fits(src, first, first + rows, vocab.path, vocab.size, where=f"{source}.bin")
    if rows_sha256(src, first, first + rows, progress) != manifest["source"]["rows_sha256"]:
        raise TailVerificationError(
            f"{source}: the rows of steps {start}..{manifest['end_step'] - 1} changed since "
            "the rewrite (rows_sha256 differs); rewrite the tail again"
        )
    tail = MMapIndexedDataset(output / TAIL, vocab_size=vocab.size, streaming=True)
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
    tasks = max(1, min(rows, tasks or workers))
    found = {"swaps": 0, "changed_tokens": 0, "changed_rows": 0}
    results = Path(tempfile.mkdtemp(dir=output, prefix=".verify-"))
    keep = False  # the logs of tasks that failed stay for the person to read
    try:
        job = {
            # absolute: a Ray task need not start in this directory
            "source": str(Path(source).absolute()),
            "output": str(output.absolute()),
            "tokenizer": str(Path(vocab.path).absolute()),
            "manifest": manifest,
            "results": str((results / "rows").absolute()),
            "progress": progress,
            **guard_fields(executor),
        }
        (results / "rows").mkdir()
        pipeline = make_executor(
            executor, [VerifyRows(job)], tasks=tasks, workers=workers, logging_dir=results / "logs"
        )
        try:
            run_pipeline(executor, pipeline, f"the verification of {output}")
        except ExecutorError:
            keep = True
            raise
        for rank in range(tasks):  # in order: the first bad row of the tail is the one raised
            part = json.loads((results / "rows" / f"{rank:05d}.json").read_text())
            if "error" in part:
                raise TailVerificationError(
                    part["error"], row=part["row"], step=part["step"], source_row=part["source_row"]
                )
            for key in found:
                found[key] += part[key]
    finally:
        if not keep:
            shutil.rmtree(results, ignore_errors=True)
    swaps, changed_tokens, changed_rows = (
        found["swaps"], found["changed_tokens"], found["changed_rows"]
    )
    expected = count_totals(manifest["counts"])["swapped"]
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
