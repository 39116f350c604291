"""Pythia's data order from its parquet chunks: the rows of the steps a run needs, read with
datatrove's own ``ParquetReader`` and written as a step range (``debias.data.step_range``).

The preshuffled deduplicated Pile is published as parquet (``pietrolesci/pile-deduped-pythia-
preshuffled``, a copy of ``EleutherAI/pile-deduped-pythia-preshuffled``): ``data/train-<S>.parquet``
with ``S`` zero-padded to six digits, each holding the 1,000 steps *before* checkpoint ``S``
(``batch_idx`` ``S-1000..S-1``, 1,024 rows each) in columns ``uid``, ``batch_idx`` and
``token_ids`` (2,049 tokens). A 21% tail is then 30 files instead of the whole set. The steps are
not assumed from the file names: every row's ``batch_idx`` is checked to run in order, to cover the
file's steps, and to give each step exactly ``rows_per_step`` rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.pipeline.base import PipelineStep

from debias.core.contracts import StepRangeRecord
from debias.core.processes import children_die_with_me, dead_workers_fail
from debias.data.fetch import sha256_file
from debias.data.step_range import (
    PARTS,
    Part,
    StepRangeError,
    assemble,
    building,
    finished,
    write_part,
)

log = logging.getLogger(__name__)

HUB_DATA = "hf://datasets/pietrolesci/pile-deduped-pythia-preshuffled/data"  # the published chunks
STEPS_PER_FILE = 1000


def file_name(end_step: int) -> str:
    """The chunk holding the steps before checkpoint ``end_step``."""
    return f"train-{end_step:06d}.parquet"


def files_for(first_step: int, end_step: int, steps_per_file: int = STEPS_PER_FILE) -> list[tuple[str, int, int]]:
    """``(name, first, end)`` of each chunk that steps ``first_step..end_step-1`` touch, with the
    steps of the range it holds."""
    out = []
    for chunk_end in range(math.ceil((first_step + 1) / steps_per_file) * steps_per_file,
                           math.ceil(end_step / steps_per_file) * steps_per_file + 1, steps_per_file):
        lo, hi = max(first_step, chunk_end - steps_per_file), min(end_step, chunk_end)
        out.append((file_name(chunk_end), lo, hi))
    return out


def token_rows(self: Any, data: dict, path: str, id_in_file: int | str) -> dict:
    """datatrove adapter: a row's tokens and step ride in the document's metadata (a document needs
    some text, so it gets its ``batch_idx``)."""
    return {"text": f"batch {data['batch_idx']}", "id": str(data.get("uid", id_in_file)),
            "metadata": {"token_ids": data["token_ids"], "batch_idx": data["batch_idx"], "path": path}}


class ChunkRows(PipelineStep):
    """Task ``rank`` (one chunk each): check the chunk's ``batch_idx`` and write its rows of the range
    as a part. An intact part from an earlier run is kept, and its chunk not read again."""

    name = "chunk rows"
    type = "debias"

    def __init__(self, job: dict[str, Any]):
        super().__init__()
        self.job = job

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> None:
        job = self.job
        name, lo, hi = job["files"][rank]
        parts = Path(job["parts"])
        if _intact(parts / f"{rank:05d}.json", lo, hi):
            return
        chunk_first = hi - 1 - (hi - 1) % job["steps_per_file"]
        checker = _BatchCheck(name, chunk_first, chunk_first + job["steps_per_file"], job["rows_per_step"])
        write_part(parts, f"{rank:05d}", _rows(data, checker, lo, hi, job["row_length"]), first_step=lo, end_step=hi,
                   source=name)
        self.stat_update("rows", value=(hi - lo) * job["rows_per_step"], unit="chunk")


class _BatchCheck:
    """``batch_idx`` of a chunk's rows, in order: each step of the chunk once, ``rows_per_step`` rows each."""

    def __init__(self, name: str, first: int, end: int, rows_per_step: int) -> None:
        self.name, self.first, self.end, self.rows_per_step = name, first, end, rows_per_step
        self.step, self.count = None, 0

    def see(self, batch: int) -> None:
        if batch >= self.end:
            raise StepRangeError(self.name, f"holds a row of batch_idx {batch}, past step {self.end - 1}, the last of "
                                            f"the {self.end - self.first} steps data.steps_per_file says a chunk holds",
                                 "set data.steps_per_file to the chunks' size")
        if batch != self.step:
            self.close_step()
            expect = self.first if self.step is None else self.step + 1
            if batch != expect:
                raise StepRangeError(self.name, f"a row of batch_idx {batch} follows "
                                                f"{'the start' if self.step is None else f'batch_idx {self.step}'}; "
                                                f"this chunk should hold steps {self.first}..{self.end - 1} in order",
                                     "the file is not a chunk of Pythia's data order, or is damaged")
            self.step, self.count = batch, 0
        self.count += 1

    def close_step(self) -> None:
        if self.step is not None and self.count != self.rows_per_step:
            raise StepRangeError(self.name, f"step {self.step} has {self.count} rows, not data.rows_per_step="
                                            f"{self.rows_per_step}", "set data.rows_per_step to the data's batch size")


def _rows(docs: Any, check: _BatchCheck, lo: int, hi: int, row_length: int) -> Iterator[np.ndarray]:
    """The rows of steps ``lo..hi-1`` as uint16 blocks, every row's step and length checked."""
    block: list[np.ndarray] = []
    for doc in docs:
        batch = int(doc.metadata["batch_idx"])
        check.see(batch)
        if not lo <= batch < hi:
            continue
        tokens = np.asarray(doc.metadata["token_ids"], dtype=np.int64)
        if tokens.shape != (row_length,):
            raise StepRangeError(check.name, f"a row of batch_idx {batch} has {tokens.size} tokens, not "
                                             f"{row_length} (seq_length + 1)", "set data.seq_length to the data's")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= 1 << 16):
            raise StepRangeError(check.name, f"a row of batch_idx {batch} holds token ids outside 0..65535",
                                 "this is not a Pythia data order")
        block.append(tokens.astype(np.uint16))
        if len(block) == 4096:
            yield np.stack(block)
            block = []
    check.close_step()
    if check.step != check.end - 1:
        raise StepRangeError(check.name, f"ends at step {check.step}, before step {check.end - 1}",
                             "the chunk is truncated; download it again")
    if block:
        yield np.stack(block)


def _intact(record: Path, lo: int, hi: int) -> bool:
    part = Part.read(record)
    return (part is not None and (part.first_step, part.end_step) == (lo, hi)
            and sha256_file(part.path) == part.sha256)


def read_parquet_steps(source: str, folder: Path, *, first_step: int, end_step: int, rows_per_step: int,
                       row_length: int, steps_per_file: int = STEPS_PER_FILE, workers: int = 1,
                       progress: bool = True) -> StepRangeRecord:
    """The rows of steps ``first_step..end_step-1`` from the chunks in ``source`` (a folder, or an
    fsspec URL such as ``HUB_DATA``), written to ``folder`` once; a finished folder is returned as is."""
    if (done := finished(folder, first_step, end_step)) is not None:
        return done
    with building(folder):
        if (done := finished(folder, first_step, end_step)) is not None:
            return done  # read by a run that held the folder before this one
        return _read(source, folder, first_step, end_step, rows_per_step, row_length, steps_per_file, workers,
                     progress)


def _read(source: str, folder: Path, first_step: int, end_step: int, rows_per_step: int, row_length: int,
          steps_per_file: int, workers: int, progress: bool) -> StepRangeRecord:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.io import get_datafolder
    from datatrove.pipeline.readers import ParquetReader

    files = files_for(first_step, end_step, steps_per_file)
    data = get_datafolder(source)
    missing = [name for name, _, _ in files if not data.isfile(name)]
    if missing:
        raise StepRangeError(source, f"lacks {len(missing)} of the {len(files)} chunks steps {first_step}.."
                                     f"{end_step - 1} need, e.g. {missing[0]}",
                             f"download them (huggingface-cli download --repo-type dataset with --include "
                             f"'data/{missing[0]}'), or point data.parquet_path at the folder holding them")
    parts = folder / PARTS
    parts.mkdir(parents=True, exist_ok=True)
    paths_file = parts / "chunks.txt"
    paths_file.write_text("".join(f"{name}\n" for name, _, _ in files))
    job = {"files": files, "parts": str(parts.absolute()), "rows_per_step": rows_per_step, "row_length": row_length,
           "steps_per_file": steps_per_file}
    reader = ParquetReader(data, paths_file=str(paths_file), adapter=token_rows, batch_size=256,
                           file_progress=progress)
    executor = LocalPipelineExecutor([reader, ChunkRows(job)], tasks=len(files), workers=min(workers, len(files)),
                                     logging_dir=str(parts / "logs"), skip_completed=False)
    log.info("reading steps %d..%d from %d parquet chunk(s) of %s", first_step, end_step - 1, len(files), source)
    with children_die_with_me(), dead_workers_fail(f"reading the parquet chunks of {source}"):
        executor.run()
    got = [Part.read(parts / f"{rank:05d}.json") for rank in range(len(files))]
    if any(p is None for p in got):
        raise StepRangeError(source, "a chunk's task ended without its rows", f"see the logs in {parts / 'logs'}")
    return assemble(folder, [p for p in got if p is not None], kind="parquet", source=source,
                    first_step=first_step, end_step=end_step, rows_per_step=rows_per_step, row_length=row_length,
                    dtype=np.dtype(np.uint16))
