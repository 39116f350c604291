"""The data-order view: step i reads rows i*rows_per_step .. (i+1)*rows_per_step - 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from debias.data.indexed import IndexedDatasetError, write_indexed_dataset
from debias.data.order import DataOrder, StepOutOfRangeError


@pytest.fixture
def order(tmp_path: Path) -> Path:
    rows = np.arange(11 * 5, dtype=np.uint16).reshape(11, 5)  # row r holds 5r .. 5r+4
    return write_indexed_dataset(tmp_path / "order", rows)


def test_step_reads_its_rows_in_order(order: Path) -> None:
    do = DataOrder(order, rows_per_step=4, row_length=5)
    assert do.num_steps == 2 and do.last_step == 1  # the 3 trailing rows fill no step
    batch = do.step(1)
    assert batch.shape == (4, 5)
    np.testing.assert_array_equal(batch[:, 0], [20, 25, 30, 35])
    assert do.row_range(1) == range(4, 8)
    batch[0, 0] = 9999  # a fresh array: the file is untouched
    assert do.step(1)[0, 0] == 20


def test_steps_iterates_a_range(order: Path) -> None:
    do = DataOrder(order, rows_per_step=2)
    got = [(i, int(b[0, 0])) for i, b in do.steps(2, 5)]
    assert got == [(2, 20), (3, 30), (4, 40)]


def test_step_beyond_the_data_names_the_last_step(order: Path) -> None:
    do = DataOrder(order, rows_per_step=4)
    with pytest.raises(StepOutOfRangeError, match="last available step is 1") as info:
        do.step(2)
    assert info.value.last_step == 1 and isinstance(info.value, ValueError)
    with pytest.raises(StepOutOfRangeError):
        list(do.steps(0, 3))
    with pytest.raises(StepOutOfRangeError):
        do.step(-1)


def test_first_step_numbers_a_tail_by_its_real_steps(order: Path) -> None:
    do = DataOrder(order, rows_per_step=4, first_step=1330)
    assert (do.first_step, do.last_step) == (1330, 1331)
    np.testing.assert_array_equal(do.step(1331)[:, 0], [20, 25, 30, 35])
    with pytest.raises(StepOutOfRangeError, match="steps 1330..1331"):
        do.step(0)


def test_wrong_row_length_and_ragged_rows_are_refused(order: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexedDatasetError, match="rows have 5 tokens, but 2049 were expected"):
        DataOrder(order, rows_per_step=4, row_length=2049)
    ragged = write_indexed_dataset(tmp_path / "ragged", [np.arange(5), np.arange(4)])
    with pytest.raises(IndexedDatasetError, match="different lengths"):
        DataOrder(ragged, rows_per_step=1)
    with pytest.raises(IndexedDatasetError, match="do not fill one step"):
        DataOrder(order, rows_per_step=12)
