"""Building a data order from text: GPT-NeoX's row construction, caching, determinism, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from debias.config import DataConfig
from debias.data.bpe import train_bpe
from debias.data.corpus import (
    build_data_order,
    pack_samples,
    prepare_data_order,
    tokenize_documents,
)
from debias.data.indexed import MMapIndexedDataset
from debias.data.order import DataOrder

DOCS = [
    f"Story {i}. The smith said he would mend her gate before his supper, and she thanked him."
    * (1 + i % 3)
    for i in range(40)
]


def test_rows_are_overlapping_samples_of_the_shuffled_stream(
    tmp_path: Path, neox_tokenizer_path: Path
) -> None:
    summary = build_data_order(
        DOCS, neox_tokenizer_path, tmp_path / "o", seq_length=16, seed=7, progress=False
    )
    tok = Tokenizer.from_file(str(neox_tokenizer_path))
    stream, offsets = tokenize_documents(DOCS, tok, 0, progress=False)
    doc_order, sample_order = pack_samples(offsets, 16, 7)
    assert sorted(doc_order.tolist()) == list(range(len(DOCS))) and doc_order.tolist() != list(
        range(len(DOCS))
    )
    ordered = np.concatenate([stream[offsets[d] : offsets[d + 1]] for d in doc_order])
    ds = MMapIndexedDataset(tmp_path / "o")
    rows = ds.rows(0, len(ds))
    assert summary["rows"] == len(ds) == (len(ordered) - 1) // 16 and rows.shape[1] == 17
    assert ds.dtype == np.uint16 and ds.doc_idx.tolist() == list(range(len(ds) + 1))
    for j, k in enumerate(sample_order):
        np.testing.assert_array_equal(rows[j], ordered[k * 16 : k * 16 + 17])
    by_sample = rows[np.argsort(sample_order)]
    np.testing.assert_array_equal(
        by_sample[:-1, -1], by_sample[1:, 0]
    )  # neighbours overlap by one token
    assert (ordered == 0).sum() == len(
        DOCS
    )  # one <|endoftext|> per document, none added by the text


def test_same_seed_same_bytes_other_seed_other_order(
    tmp_path: Path, neox_tokenizer_path: Path
) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        build_data_order(
            DOCS, neox_tokenizer_path, tmp_path / name, seq_length=16, seed=seed, progress=False
        )
    a, b, c = ((tmp_path / f"{n}.bin").read_bytes() for n in "abc")
    assert a == b and a != c
    assert (tmp_path / "a.idx").read_bytes() == (tmp_path / "b.idx").read_bytes()


def test_min_rows_repeats_the_corpus(tmp_path: Path, neox_tokenizer_path: Path) -> None:
    one = build_data_order(
        DOCS, neox_tokenizer_path, tmp_path / "one", seq_length=16, seed=0, progress=False
    )
    more = build_data_order(
        DOCS,
        neox_tokenizer_path,
        tmp_path / "more",
        seq_length=16,
        seed=0,
        min_rows=2 * one["rows"] + 5,
        progress=False,
    )
    assert more["epochs"] == 3 and more["rows"] >= 2 * one["rows"] + 5


def test_a_tiny_corpus_that_cannot_fill_a_row_says_so(
    tmp_path: Path, neox_tokenizer_path: Path
) -> None:
    with pytest.raises(ValueError, match="fewer than one row"):
        build_data_order(
            ["hi"], neox_tokenizer_path, tmp_path / "o", seq_length=2048, seed=0, progress=False
        )


def test_bpe_has_the_special_ids_and_is_deterministic(tmp_path: Path) -> None:
    a = train_bpe(DOCS, 300, tmp_path / "a.json")
    b = train_bpe(DOCS, 300, tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()
    tok = Tokenizer.from_file(str(a))
    assert tok.token_to_id("<|endoftext|>") == 0 and tok.token_to_id("<|padding|>") == 1
    assert tok.get_vocab_size() <= 300
    text = "Ünïcode — 'quotes’ and ☃ encode"
    assert tok.decode(tok.encode(text).ids) == text  # every byte is in the vocabulary
    with pytest.raises(ValueError, match="at least 258"):
        train_bpe(DOCS, 100, tmp_path / "c.json")


def test_prepare_caches_and_shares_the_tokenizer_across_seeds(tmp_path: Path) -> None:
    cfg = DataConfig(
        name="tiny", source="synthetic", vocab_size=300, seq_length=16, rows_per_step=4, doc_words=0
    )
    p1, t1 = prepare_data_order(cfg, DOCS, tmp_path, seed=1, progress=False)
    mtime = p1.with_suffix(".bin").stat().st_mtime_ns
    p1b, _ = prepare_data_order(cfg, iter(DOCS), tmp_path, seed=1, progress=False)
    assert p1b == p1 and p1.with_suffix(".bin").stat().st_mtime_ns == mtime  # reused, not rebuilt
    p2, t2 = prepare_data_order(cfg, DOCS, tmp_path, seed=2, progress=False)
    assert p2 != p1 and t1.read_bytes() == t2.read_bytes()
    meta = json.loads((p1.parent / "data_order.json").read_text())
    assert meta["seed"] == 1 and meta["rows_per_step"] == 4 and meta["vocab_size"] <= 300
    order = DataOrder(p1, cfg.rows_per_step, cfg.row_length, vocab_size=meta["vocab_size"])
    assert order.num_steps == meta["steps"] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    p3, _ = prepare_data_order(
        cfg, DOCS, tmp_path, seed=1, min_steps=order.num_steps * 3, progress=False
    )
    assert DataOrder(p3, 4).num_steps >= order.num_steps * 3


def test_prepare_text_corpus_with_the_20b_tokenizer(
    tmp_path: Path, neox_tokenizer_path: Path
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(DOCS)))
    cfg = DataConfig(
        name="j",
        source="text",
        corpus=str(corpus),
        tokenizer="neox-20b",
        seq_length=32,
        rows_per_step=2,
    )
    prefix, tok = prepare_data_order(cfg, out_dir=tmp_path / "out", progress=False)
    assert tok.read_bytes() == neox_tokenizer_path.read_bytes()
    order = DataOrder(prefix, 2, 33, vocab_size=50277)
    text = Tokenizer.from_file(str(tok)).decode(order.step(0)[0].tolist())
    assert "smith" in text or "thanked" in text or "Story" in text


def test_prepare_indexed_source_checks_and_returns_the_file(
    tmp_path: Path, neox_tokenizer_path: Path
) -> None:
    build_data_order(
        DOCS, neox_tokenizer_path, tmp_path / "pile", seq_length=16, seed=0, progress=False
    )
    cfg = DataConfig(
        name="pile",
        source="indexed",
        indexed_path=str(tmp_path / "pile.bin"),
        tokenizer="neox-20b",
        seq_length=16,
        rows_per_step=4,
    )
    assert prepare_data_order(cfg, out_dir=tmp_path / "x")[0] == tmp_path / "pile"
    cfg.seq_length = 2048
    with pytest.raises(ValueError, match="rows have 17 tokens, but 2049 were expected"):
        prepare_data_order(cfg, out_dir=tmp_path / "x")


def test_bad_config_lists_every_problem(tmp_path: Path) -> None:
    cfg = DataConfig(source="indexed", seq_length=0, bad_utf8="ignore")
    with pytest.raises(ValueError) as info:
        prepare_data_order(cfg, out_dir=tmp_path)
    msg = str(info.value)
    for part in ("indexed_path", "data.tokenizer", "seq_length", "bad_utf8"):
        assert part in msg
