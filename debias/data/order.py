"""A training data order: a pre-shuffled indexed dataset read as optimizer steps.

Step ``i`` reads rows ``i*rows_per_step .. (i+1)*rows_per_step - 1``, exactly as Pythia's
``batch_viewer`` does. A rewritten tail holds only the rows of steps ``start..end-1``; open it with
``DataOrder.from_tail`` (or ``first_step=start``) and it answers for those same step numbers; so
does a step range read from parquet chunks or index maps (``debias.data.step_range``), whose
record beside the files says where it starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from debias.core.config_errors import ConfigError
from debias.core.errors import DebiasError
from debias.data.indexed import IndexedDatasetError, MMapIndexedDataset, strip_extension

log = logging.getLogger(__name__)


class StepOutOfRangeError(DebiasError, ValueError):
    """A step lies outside the steps a data order holds."""

    def __init__(self, message: str, *, step: int, first_step: int, last_step: int) -> None:
        super().__init__(message)
        self.step = step
        self.first_step = first_step
        self.last_step = last_step


def first_row_number(prefix: str | os.PathLike, rows_per_step: int) -> int:
    """The number, in the whole data order, of the first row of the file ``prefix``: 0 for a whole
    order, ``first_step * rows_per_step`` for a step range (``debias.data.step_range``). Seeded
    choices of rows (a partial rewrite's, the A/A arm's permutation) hash these numbers, so that the
    same steps give the same choice however they are stored."""
    from debias.core.contracts import read_steps_record

    record = read_steps_record(strip_extension(prefix))
    return record.first_step * rows_per_step if record is not None else 0


class DataOrder:
    """Batches by step over ``<prefix>.bin/.idx`` whose rows all have ``row_length`` tokens.

    ``row_length=None`` takes it from the file; given, it must match (e.g. 2,049 for Pythia).
    Only complete steps count: trailing rows that do not fill a step are ignored (and logged).
    ``streaming`` reads through ``os.pread`` (see ``MMapIndexedDataset``). ``first_step=None``:
    the first step its step-range record names (``<prefix>.steps.json``), else 0.
    """

    def __init__(
        self,
        prefix: str | os.PathLike,
        rows_per_step: int,
        row_length: int | None = None,
        *,
        first_step: int | None = None,
        vocab_size: int | None = None,
        streaming: bool = False,
    ) -> None:
        if rows_per_step < 1:
            raise ConfigError([f"rows_per_step={rows_per_step} must be positive (the rows each step of {prefix} "
                               "reads)"], where="data order")
        self.prefix = strip_extension(prefix)
        self.dataset = MMapIndexedDataset(self.prefix, vocab_size=vocab_size, streaming=streaming)
        self.rows_per_step = int(rows_per_step)
        self.first_step = self._first_step(rows_per_step) if first_step is None else int(first_step)
        sizes = self.dataset.sizes
        if len(sizes) == 0:
            raise IndexedDatasetError(
                f"{self.dataset.idx_path}: the dataset holds no rows, so no step can be read"
            )
        file_length = int(sizes[0])
        if (sizes != file_length).any():
            k = int(np.argmax(sizes != file_length))
            raise IndexedDatasetError(
                f"{self.dataset.idx_path}: rows have different lengths (row 0 has {file_length} tokens, row {k} "
                f"has {int(sizes[k])}); a data order needs packed rows of seq_length+1 tokens. Build one with "
                "debias.data.corpus.build_data_order or use a pre-shuffled file"
            )
        if row_length is not None and row_length != file_length:
            raise IndexedDatasetError(
                f"{self.dataset.idx_path}: rows have {file_length} tokens, but {row_length} were expected "
                f"(seq_length + 1); set data.seq_length={file_length - 1} or use the data order made for this model"
            )
        self.row_length = file_length
        self.num_steps = len(self.dataset) // self.rows_per_step
        left = len(self.dataset) - self.num_steps * self.rows_per_step
        if self.num_steps == 0:
            raise IndexedDatasetError(
                f"{self.dataset.idx_path}: {len(self.dataset)} rows do not fill one step of {rows_per_step} rows; "
                "lower rows_per_step or build a larger data order"
            )
        if left:
            log.info(
                "%s: the last %d rows do not fill a step of %d and are not used",
                self.prefix,
                left,
                rows_per_step,
            )

    def _first_step(self, rows_per_step: int) -> int:
        from debias.core.contracts import read_steps_record, steps_record_path

        record = read_steps_record(self.prefix)  # RecordError naming a malformed one
        if record is None:
            return 0
        if record.rows_per_step != rows_per_step:
            raise IndexedDatasetError(
                f"{steps_record_path(self.prefix)}: these rows were read at {record.rows_per_step} rows per step, "
                f"not {rows_per_step}; set data.rows_per_step={record.rows_per_step} or read the steps again")
        return record.first_step

    @classmethod
    def from_tail(cls, output: str | os.PathLike, *, vocab_size: int | None = None) -> DataOrder:
        """Open a rewritten tail (``debias.rewrite.tail.rewrite_tail``'s output folder) at its own step numbers."""
        output = Path(output)
        from debias.core.contracts import MANIFEST, MANIFEST_FIX, TAIL, RecordError, RewriteManifest

        manifest_path = output / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{manifest_path}: no manifest; is {output} a finished rewrite_tail output?"
            )
        manifest = RewriteManifest.read(manifest_path)  # RecordError naming a malformed one
        if manifest.rows_per_step is None or manifest.row_length is None:
            raise RecordError(manifest_path, "has no 'rows_per_step' or 'row_length'", MANIFEST_FIX)
        return cls(
            output / TAIL,
            manifest.rows_per_step,
            manifest.row_length,
            first_step=manifest.start_step,
            vocab_size=vocab_size,
        )

    @property
    def end_step(self) -> int:
        """One past the last step held."""
        return self.first_step + self.num_steps

    @property
    def last_step(self) -> int:
        return self.end_step - 1

    @property
    def dtype(self) -> np.dtype:
        return self.dataset.dtype

    def _check(self, step: int) -> int:
        if not self.first_step <= step < self.end_step:
            held = f"steps {self.first_step}..{self.last_step}"
            raise StepOutOfRangeError(
                f"step {step} is beyond the data order {self.prefix} ({len(self.dataset)} rows of "
                f"{self.row_length} tokens at {self.rows_per_step} rows per step hold {held}; the last available "
                f"step is {self.last_step}). Shorten the run or build a larger data order.",
                step=step,
                first_step=self.first_step,
                last_step=self.last_step,
            )
        return step - self.first_step

    def row_range(self, step: int) -> range:
        """The rows (indices into this file) that ``step`` reads."""
        local = self._check(step)
        return range(local * self.rows_per_step, (local + 1) * self.rows_per_step)

    def step(self, step: int) -> np.ndarray:
        """The batch of ``step`` as a fresh, writable ``[rows_per_step, row_length]`` array."""
        rows = self.row_range(step)
        return np.array(self.dataset.rows(rows.start, rows.stop))

    def steps(self, start: int, end: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(step, batch)`` for steps ``start..end-1`` (``end`` defaults to the last step + 1)."""
        end = self.end_step if end is None else end
        if end > start:
            self._check(start)
            self._check(end - 1)
        for i in range(start, end):
            yield i, self.step(i)

    def __len__(self) -> int:
        return self.num_steps

    def __repr__(self) -> str:
        return (
            f"DataOrder({str(self.prefix)!r}, rows_per_step={self.rows_per_step}, row_length={self.row_length}, "
            f"steps={self.first_step}..{self.last_step})"
        )
