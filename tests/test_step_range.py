"""A run's steps of a data order published in pieces: parquet chunks read with datatrove's reader
give the same rows, tail and manifest as the same rows in .bin/.idx; every row's batch_idx is
checked; a PolyPythias seed's index maps give the rows GPT-NeoX's dataset would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from debias.config import DataConfig
from debias.core.contracts import read_steps_record
from debias.data.corpus import build_data_order, run_data_order
from debias.data.index_maps import read_index_map_steps
from debias.data.indexed import MMapIndexedDataset
from debias.data.order import DataOrder
from debias.data.parquet_order import files_for, read_parquet_steps
from debias.data.step_range import StepRangeError
from debias.data.text_corpus import decode_text
from debias.rewrite.selection import RowSelection
from debias.rewrite.tail import rewrite_tail
from debias.rewrite.verify import verify_tail
from tests.index_maps_files import write_maps, write_tokens

RPS, PER_FILE, SEQ = 4, 10, 128
FIRST, END = 13, 37  # a tail that starts and ends inside a chunk: chunks 20, 30 and 40 (steps 10..39)


@pytest.fixture(scope="module")
def order(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, neox_tokenizer_path: Path) -> Path:
    text = decode_text((data_dir / "gutenberg_corpus/heldout/pg550.txt").read_bytes(), "pg550")
    paragraphs = [p for p in text.split("\n\n") if p.strip()][:400]
    docs = ["He said the book was his; she said it was hers. Her dog ran to him."] * 10 + [
        "\n\n".join(paragraphs[i:i + 20]) for i in range(0, len(paragraphs), 20)]
    out = tmp_path_factory.mktemp("order") / "order"
    build_data_order(docs, neox_tokenizer_path, out, seq_length=SEQ, seed=0, min_rows=45 * RPS, progress=False)
    return out


def write_chunks(order: Path, folder: Path, *, drop_row: int | None = None, swap_steps: bool = False) -> Path:
    """The data order as the hub ships it: train-<S>.parquet of the PER_FILE steps before S."""
    rows = np.array(MMapIndexedDataset(order).rows(0, 40 * RPS))
    folder.mkdir(parents=True, exist_ok=True)
    for end in range(PER_FILE, 41, PER_FILE):
        lo, hi = (end - PER_FILE) * RPS, end * RPS
        batch = np.repeat(np.arange(end - PER_FILE, end), RPS)
        uid, tokens = np.arange(lo, hi), [r.tolist() for r in rows[lo:hi]]
        if swap_steps and end == 30:
            batch = np.concatenate([batch[RPS:2 * RPS], batch[:RPS], batch[2 * RPS:]])
        if drop_row is not None and end == 30:
            keep = np.arange(len(uid)) != drop_row
            batch, uid, tokens = batch[keep], uid[keep], [t for t, k in zip(tokens, keep, strict=True) if k]
        table = pa.table({"uid": uid, "batch_idx": batch,
                          "token_ids": pa.array(tokens, type=pa.list_(pa.uint16()))})
        pq.write_table(table, folder / f"train-{end:06d}.parquet", row_group_size=7)
    return folder


def test_the_chunks_a_tail_needs() -> None:
    assert files_for(113_000, 143_000) == [(f"train-{s:06d}.parquet", s - 1000, s) for s in range(114_000, 143_001, 1000)]
    assert len(files_for(113_000, 143_000)) == 30 and len(files_for(133_000, 143_000)) == 10
    assert files_for(FIRST, END, PER_FILE) == [("train-000020.parquet", 13, 20), ("train-000030.parquet", 20, 30),
                                               ("train-000040.parquet", 30, 37)]


def test_parquet_steps_give_the_same_rows_tail_and_manifest(order: Path, tmp_path: Path,
                                                            neox_tokenizer_path: Path) -> None:
    chunks = write_chunks(order, tmp_path / "chunks")
    cfg = DataConfig(name="pq", source="parquet", parquet_path=str(chunks), tokenizer=str(neox_tokenizer_path),
                     seq_length=SEQ, rows_per_step=RPS, steps_per_file=PER_FILE)
    prefix, _ = run_data_order(cfg, None, 0, tmp_path / "orders", steps=(FIRST, END), progress=False)
    record = read_steps_record(prefix)
    assert (record.kind, record.first_step, record.end_step) == ("parquet", FIRST, END)
    assert [f["file"] for f in record.files] == [name for name, _, _ in files_for(FIRST, END, PER_FILE)]
    source_rows = np.array(MMapIndexedDataset(order).rows(FIRST * RPS, END * RPS))
    assert record.rows_sha256 == hashlib.sha256(source_rows.tobytes()).hexdigest()
    part = DataOrder(prefix, RPS)  # answers for the run's own step numbers
    assert (part.first_step, part.end_step) == (FIRST, END)
    for step in (FIRST, 20, END - 1):
        assert np.array_equal(part.step(step), DataOrder(order, RPS).step(step))
    with pytest.raises(ValueError, match="beyond the data order"):
        part.step(FIRST - 1)

    args = dict(start_step=FIRST, end_step=END, rows_per_step=RPS, direction="to_feminine",
                tokenizer=neox_tokenizer_path, progress=False)
    from_bin = rewrite_tail(order, tmp_path / "tail-bin", **args)
    from_parquet = rewrite_tail(prefix, tmp_path / "tail-parquet", **args)
    assert (tmp_path / "tail-bin/tail.bin").read_bytes() == (tmp_path / "tail-parquet/tail.bin").read_bytes()
    assert from_bin["totals"]["swapped"] > 20
    differ = {"source", "created"}
    assert {k: v for k, v in from_bin.items() if k not in differ} == {
        k: v for k, v in from_parquet.items() if k not in differ}
    assert from_bin["source"]["rows_sha256"] == from_parquet["source"]["rows_sha256"] == record.rows_sha256
    assert (from_parquet["source"]["first_row"], from_bin["source"]["first_row"]) == (0, FIRST * RPS)
    proof = verify_tail(prefix, tmp_path / "tail-parquet", progress=False)
    assert proof["rows"] == (END - FIRST) * RPS and proof["swaps"] == from_parquet["totals"]["swapped"]

    # a partial rewrite chooses its rows by their number in the whole order, wherever they are stored
    half = RowSelection(fraction=0.5, seed=3)
    partial_bin = rewrite_tail(order, tmp_path / "half-bin", selection=half, **args)
    partial_parquet = rewrite_tail(prefix, tmp_path / "half-parquet", selection=half, **args)
    assert (tmp_path / "half-bin/tail.bin").read_bytes() == (tmp_path / "half-parquet/tail.bin").read_bytes()
    assert partial_bin["selection"] == partial_parquet["selection"]
    assert 0 < partial_bin["totals"]["swapped"] < from_bin["totals"]["swapped"]
    assert verify_tail(prefix, tmp_path / "half-parquet", progress=False)["rows"] == (END - FIRST) * RPS

    # read once: a second call reuses the folder, even with the chunks gone
    for chunk in chunks.iterdir():
        chunk.unlink()
    assert run_data_order(cfg, None, 0, tmp_path / "orders", steps=(FIRST, END), progress=False)[0] == prefix


@pytest.mark.parametrize(("damage", "message"), [
    ({"drop_row": 5}, r"train-000030\.parquet: step 21 has 3 rows, not data\.rows_per_step=4"),
    ({"swap_steps": True}, r"train-000030\.parquet: a row of batch_idx 21 follows the start; this chunk should "
                           r"hold steps 20\.\.29 in order"),
])
def test_batch_idx_is_checked_not_assumed(order: Path, tmp_path: Path, damage: dict, message: str) -> None:
    chunks = write_chunks(order, tmp_path / "chunks", **damage)
    with pytest.raises(StepRangeError, match=message):
        read_parquet_steps(str(chunks), tmp_path / "out", first_step=FIRST, end_step=END, rows_per_step=RPS,
                           row_length=SEQ + 1, steps_per_file=PER_FILE, progress=False)
    assert read_steps_record(tmp_path / "out" / "rows") is None  # nothing passes for complete


def test_missing_chunks_are_named_with_the_download(order: Path, tmp_path: Path) -> None:
    chunks = write_chunks(order, tmp_path / "chunks")
    (chunks / "train-000040.parquet").unlink()
    with pytest.raises(StepRangeError, match=r"lacks 1 of the 3 chunks steps 13\.\.36 need, e\.g\. train-000040"):
        read_parquet_steps(str(chunks), tmp_path / "out", first_step=FIRST, end_step=END, rows_per_step=RPS,
                           row_length=SEQ + 1, steps_per_file=PER_FILE, progress=False)


def test_index_maps_give_gpt_neox_rows(tmp_path: Path) -> None:
    """Rows gathered from doc_idx/sample_idx/shuffle_idx equal the order's definition (documents
    concatenated in doc_idx order, samples of seq + 1 tokens overlapping by one, in shuffle_idx order)."""
    seq, rps, first = 16, 3, 2
    docs = write_tokens(tmp_path / "tokens", docs=60)
    expect = write_maps(tmp_path / "seeds" / "seed3", docs, seq=seq, seed=3)
    end = len(expect) // rps
    cfg = DataConfig(name="seeds", source="index_maps", indexed_path=str(tmp_path / "tokens"),
                     index_maps_root=str(tmp_path / "seeds"), tokenizer="neox-20b", seq_length=seq, rows_per_step=rps)
    prefix, _ = run_data_order(cfg, None, 3, tmp_path / "orders", steps=(first, end), progress=False)
    got = DataOrder(prefix, rps)
    assert np.array_equal(np.array(got.dataset.rows(0, len(got.dataset))), expect[first * rps:end * rps])
    assert got.first_step == first and read_steps_record(prefix).kind == "index_maps"
    maps = tmp_path / "seeds" / "seed3"
    assert json.loads(Path(f"{prefix}.steps.json").read_text())["source"] == str(maps.resolve())
    with pytest.raises(StepRangeError, match="holds 0 files ending _doc_idx.npy, not one"):
        read_index_map_steps(tmp_path, tmp_path / "tokens", tmp_path / "x", first_step=0, end_step=1,
                             rows_per_step=rps, row_length=seq + 1)


def test_pretraining_and_whole_orders_need_the_whole_file(tmp_path: Path) -> None:
    from debias.core.config_errors import ConfigError
    from debias.data.corpus import prepare_data_order
    from debias.train import compose, make_plan

    with pytest.raises(ConfigError) as err:
        make_plan(compose(["+experiment=mini-test", "data.source=parquet", f"data.parquet_path={tmp_path}",
                           "data.tokenizer=neox-20b", f"runs_root={tmp_path}"]))
    assert any("reads only the steps a resumed arm trains on; pretraining needs the whole data order" in p
               for p in err.value.problems)
    with pytest.raises(ConfigError, match="is read a run's steps at a time"):
        prepare_data_order(DataConfig(source="parquet", parquet_path=str(tmp_path), tokenizer="neox-20b"))
