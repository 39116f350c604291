"""Build a training data order from a text corpus, the way GPT-NeoX makes Pythia's rows.

Documents (long books first cut into pieces of about ``doc_words`` words, so that a step's batch
mixes many sources) are tokenized and each is ended by ``<|endoftext|>``; the documents are put in
a seeded shuffled order and concatenated; the stream is cut into samples of ``seq_length + 1``
tokens that overlap by one (sample ``k`` starts at token ``k * seq_length``, a trailing partial
sample is dropped); the samples are shuffled with the same seeded generator and written one per
row, one document per row, as Pythia's pre-shuffled files are. Same inputs and seed, same bytes.

Train calls ``prepare_data_order(data_cfg, documents, out_dir, seed)``: it caches each data order
under a hash of everything that determines its bytes and reuses it on the next call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from debias.config import DataConfig, ScheduleConfig
from debias.core import atomic
from debias.data.fetch import sha256_file
from debias.data.indexed import IndexedDatasetWriter, best_dtype, strip_extension
from debias.data.text_corpus import read_corpus, split_document
from debias.data.tokenizer_files import read_tokenizer_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the bytes a given input produces change
EOD_TOKEN = "<|endoftext|>"
TOKENIZER_ALIASES = {"neox-20b": "pythia_tokenizer_config/20B_tokenizer.json"}
ORDER_META = "data_order.json"


# -- tokenizing and packing ------------------------------------------------------------------
def resolve_tokenizer(name: str | os.PathLike) -> Path:
    """A tokenizer.json path from a path or an alias (``neox-20b``: Pythia's GPT-NeoX-20B tokenizer)."""
    alias = TOKENIZER_ALIASES.get(str(name))
    if alias is not None:
        from debias.data.fetch import resolve

        return resolve(alias)
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such tokenizer file; give a tokenizer.json path or one of "
            f"{', '.join(TOKENIZER_ALIASES)}"
        )
    return path


def load_tokenizer(path: str | os.PathLike) -> tuple[Tokenizer, int]:
    """The tokenizer and its end-of-document id (which every data order needs)."""
    _, tok = read_tokenizer_file(path)
    eod = tok.token_to_id(EOD_TOKEN)
    if eod is None:
        raise ValueError(
            f"{path}: the tokenizer has no {EOD_TOKEN} token to end documents with; use a tokenizer "
            "that has one (GPT-NeoX's, or debias.data.bpe.train_bpe)"
        )
    return tok, eod


def tokenize_documents(
    documents: Sequence[str],
    tokenizer: Tokenizer,
    eod_id: int,
    *,
    batch: int = 256,
    progress: bool = True,
    source: str = "tokenizer",
) -> tuple[np.ndarray, np.ndarray]:
    """All documents as one token stream, each followed by ``eod_id``; plus each document's start
    offset (length ``len(documents) + 1``)."""
    lengths = np.zeros(len(documents), dtype=np.int64)
    parts: list[np.ndarray] = []
    with tqdm(total=len(documents), desc="tokenizing", unit="doc", disable=not progress) as bar:
        for lo in range(0, len(documents), batch):
            chunk = list(documents[lo : lo + batch])
            for j, enc in enumerate(tokenizer.encode_batch(chunk, add_special_tokens=False)):
                ids = np.asarray(enc.ids, dtype=np.int32)
                if ids.size == 0 and chunk[j].strip():
                    raise ValueError(
                        f"{source}: encodes document {lo + j} ({chunk[j][:40]!r}...) to no tokens at all; "
                        "the tokenizer is broken or not meant for this text. Use another tokenizer.json"
                    )
                parts.append(ids)
                parts.append(np.array([eod_id], dtype=np.int32))
                lengths[lo + j] = ids.size + 1
            bar.update(len(chunk))
    offsets = np.zeros(len(documents) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)), offsets


def pack_samples(
    offsets: np.ndarray, seq_length: int, seed: int, epochs: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """GPT-NeoX's row construction: ``(doc_order, sample_order)``.

    ``doc_order`` lists document indices (each repeated ``epochs`` times, shuffled together as
    GPT-NeoX does); ``sample_order`` the shuffled indices of the samples of that stream.
    """
    rng = np.random.RandomState(seed)
    n_docs = len(offsets) - 1
    doc_order = np.tile(np.arange(n_docs, dtype=np.int64), epochs)
    rng.shuffle(doc_order)
    total = int((offsets[1:] - offsets[:-1]).sum()) * epochs
    num_samples = max(0, (total - 1) // seq_length)
    sample_order = np.arange(num_samples, dtype=np.int64)
    rng.shuffle(sample_order)
    return doc_order, sample_order


def num_rows_for(total_tokens: int, seq_length: int, epochs: int) -> int:
    return max(0, (total_tokens * epochs - 1) // seq_length)


def build_data_order(
    documents: Sequence[str],
    tokenizer_path: str | os.PathLike,
    out_prefix: str | os.PathLike,
    *,
    seq_length: int,
    seed: int,
    epochs: int = 1,
    min_rows: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Tokenize ``documents`` and write the rows to ``out_prefix.bin/.idx``; returns a summary.

    ``min_rows``: repeat the corpus (more epochs, as GPT-NeoX does) until at least that many rows
    exist. Rows are written in the final shuffled order, one document per row.
    """
    tok, eod = load_tokenizer(tokenizer_path)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    stream, offsets = tokenize_documents(
        documents, tok, eod, progress=progress, source=str(tokenizer_path)
    )
    total = int(offsets[-1])
    if min_rows is not None:
        epochs = max(epochs, math.ceil((min_rows * seq_length + 1) / max(total, 1)))
    if num_rows_for(total, seq_length, epochs) < 1:
        raise ValueError(
            f"the corpus gives {total} tokens, fewer than one row of {seq_length + 1}; "
            "use a larger corpus or a shorter data.seq_length"
        )
    if epochs > 1:
        log.warning("repeating the corpus %d times to give the %s rows asked for", epochs, min_rows)
    doc_order, sample_order = pack_samples(offsets, seq_length, seed, epochs)
    ordered = np.concatenate([stream[offsets[d] : offsets[d + 1]] for d in doc_order])
    dtype = best_dtype(vocab)
    row = seq_length + 1
    span = np.arange(row, dtype=np.int64)
    chunk = max(1, (1 << 22) // row)
    with IndexedDatasetWriter(out_prefix, dtype) as writer:
        for lo in tqdm(
            range(0, len(sample_order), chunk),
            desc="writing rows",
            unit="chunk",
            disable=not progress,
        ):
            starts = sample_order[lo : lo + chunk] * seq_length
            writer.add_rows(ordered[starts[:, None] + span], one_document_each=True)
    return {
        "documents": len(documents),
        "tokens": total,
        "epochs": epochs,
        "rows": int(len(sample_order)),
        "row_length": row,
        "seq_length": seq_length,
        "seed": seed,
        "dtype": str(dtype),
        "eod_id": eod,
        "vocab_size": vocab,
        "unused_tokens": int(total * epochs - len(sample_order) * seq_length),
    }


# -- the entry point for training ------------------------------------------------------------
def _documents_digest(documents: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for doc in documents:
        data = doc.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _resolve_corpus(corpus: str) -> Path:
    path = Path(corpus).expanduser()
    if path.exists() or path.is_absolute():
        return path
    from debias.data.fetch import data_dir, resolve, resolve_dir

    local = data_dir()
    if local is not None and (local / corpus).exists():
        return local / corpus
    return resolve(corpus) if Path(corpus).suffix else resolve_dir(corpus)


def run_data_order(
    data_cfg: DataConfig,
    schedule: ScheduleConfig,
    seed: int = 0,
    out_dir: str | os.PathLike = "data_orders",
    *,
    progress: bool = True,
    steps: tuple[int, int] | None = None,
    workers: int = 1,
) -> tuple[Path, Path]:
    """The data order that pretraining seed ``seed`` reads over ``schedule``: shuffled with
    ``data.shuffle_seed + seed`` and long enough for every step. Training and ``debias-rewrite``
    both ask here, so a tail rewritten by either is the tail the other would read.

    A source published in pieces (``parquet``, ``index_maps``: ``debias.data.step_range``) gives only
    ``steps`` (first, end): the steps of a resumed run; ``index_maps`` reads seed ``seed``'s maps."""
    if data_cfg.source in ("parquet", "index_maps"):
        return step_range_order(data_cfg, seed, out_dir, steps, progress=progress, workers=workers)
    return prepare_data_order(data_cfg, None, out_dir, seed=data_cfg.shuffle_seed + seed,
                              min_steps=schedule.total_steps, progress=progress)


def step_range_order(data_cfg: DataConfig, seed: int, out_dir: str | os.PathLike, steps: tuple[int, int] | None,
                     *, progress: bool = True, workers: int = 1) -> tuple[Path, Path]:
    """The rows of ``steps`` of a data order published in pieces, read once into ``out_dir``."""
    from debias.core.config_errors import ConfigError
    from debias.data.step_range import ROWS, folder_for

    if problems := data_cfg.problems():
        raise ConfigError(problems, where="data config")
    if steps is None:
        raise ConfigError([f"data.source={data_cfg.source} holds only the steps a resumed run reads: pretraining "
                           "and a whole data order need data.source=indexed"], where="data config")
    first, end = steps
    tok_path = resolve_tokenizer(data_cfg.tokenizer)
    shape = {"rows_per_step": data_cfg.rows_per_step, "row_length": data_cfg.row_length}
    if data_cfg.source == "parquet":
        from debias.data.parquet_order import read_parquet_steps

        folder = folder_for(Path(out_dir), data_cfg.name, first, end,
                            {"parquet": data_cfg.parquet_path, "steps_per_file": data_cfg.steps_per_file, **shape})
        read_parquet_steps(str(data_cfg.parquet_path), folder, first_step=first, end_step=end,
                           steps_per_file=data_cfg.steps_per_file, workers=workers, progress=progress, **shape)
    else:
        from debias.data.index_maps import read_index_map_steps

        maps = data_cfg.index_maps_dir(seed)
        assert maps is not None  # data_cfg.problems() asked for index_maps_root
        folder = folder_for(Path(out_dir), f"{data_cfg.name}-seed{seed}", first, end,
                            {"maps": str(maps.resolve()), "tokens": str(data_cfg.indexed_path), **shape})
        read_index_map_steps(maps, strip_extension(str(data_cfg.indexed_path)), folder, first_step=first,
                             end_step=end, progress=progress, **shape)
    return folder / ROWS, tok_path


def prepare_data_order(
    data_cfg: DataConfig,
    documents: Iterable[str] | None = None,
    out_dir: str | os.PathLike = "data_orders",
    seed: int | None = None,
    *,
    min_steps: int | None = None,
    progress: bool = True,
) -> tuple[Path, Path]:
    """The data order for ``data_cfg``, built once and cached: returns ``(prefix, tokenizer_path)``.

    - ``source=indexed``: the existing ``indexed_path`` and tokenizer, checked, nothing written.
    - ``source=text``: documents read from ``data_cfg.corpus`` (unless ``documents`` is given).
    - ``source=synthetic``: documents generated by ``debias.synthetic.stories`` from ``data_cfg.synthetic``
      (unless ``documents`` is given).

    With ``data_cfg.tokenizer`` unset, a byte-level BPE of ``data_cfg.vocab_size`` is trained on the
    documents; it depends on the documents only, so every seed shares it. ``seed`` (default
    ``data_cfg.shuffle_seed``) shuffles documents and rows. ``min_steps`` repeats the corpus until
    ``min_steps * rows_per_step`` rows exist. Results live in ``out_dir/<name>-<hash>/`` (``data.bin``,
    ``data.idx``, ``tokenizer.json``, ``data_order.json``), keyed by a hash of the documents,
    tokenizer bytes, seq_length, seed and epochs; a finished folder is reused as is.
    """
    problems = data_cfg.problems()
    if problems:
        from debias.core.config_errors import ConfigError

        raise ConfigError(problems, where="data config")
    seed = data_cfg.shuffle_seed if seed is None else int(seed)
    if data_cfg.source in ("parquet", "index_maps"):
        from debias.core.config_errors import ConfigError

        raise ConfigError([f"data.source={data_cfg.source} is read a run's steps at a time: use run_data_order "
                           "with steps=(first, end)"], where="data config")
    if data_cfg.source == "indexed":
        from debias.data.order import DataOrder

        tok_path = resolve_tokenizer(data_cfg.tokenizer)
        tok, _ = load_tokenizer(tok_path)
        DataOrder(
            data_cfg.indexed_path, data_cfg.rows_per_step, data_cfg.row_length
        )  # fails loudly if unusable
        return strip_extension(data_cfg.indexed_path), tok_path

    if documents is None and data_cfg.source == "text":
        corpus = _resolve_corpus(data_cfg.corpus)
        docs = read_corpus(
            corpus,
            text_key=data_cfg.text_key,
            doc_words=data_cfg.doc_words,
            strip_boilerplate=data_cfg.strip_boilerplate,
            bad_utf8=data_cfg.bad_utf8,
        )
    else:
        if documents is None:  # source=synthetic
            from debias.synthetic.stories import generate_documents

            documents = generate_documents(data_cfg.synthetic)
        docs = [piece for doc in documents for piece in split_document(doc, data_cfg.doc_words)]
        if not docs:
            raise ValueError("prepare_data_order: the documents given hold no text")
    out_dir = Path(out_dir)
    docs_sha = _documents_digest(docs)

    if data_cfg.tokenizer:
        tok_path = resolve_tokenizer(data_cfg.tokenizer)
    else:
        tok_path = out_dir / "tokenizers" / f"bpe{data_cfg.vocab_size}-{docs_sha[:16]}.json"
        if not tok_path.is_file():
            from debias.data.bpe import train_bpe

            log.info(
                "training a byte-level BPE of %d tokens on %d documents",
                data_cfg.vocab_size,
                len(docs),
            )
            train_bpe(docs, data_cfg.vocab_size, tok_path, length=len(docs))
    tok_sha = sha256_file(tok_path)

    row_length = data_cfg.row_length
    min_rows = None if min_steps is None else min_steps * data_cfg.rows_per_step
    key_fields = {
        "format": FORMAT_VERSION,
        "documents": docs_sha,
        "tokenizer": tok_sha,
        "seq_length": data_cfg.seq_length,
        "seed": seed,
        "min_rows": min_rows,
    }
    key = hashlib.sha256(json.dumps(key_fields, sort_keys=True).encode()).hexdigest()
    dest = out_dir / f"{data_cfg.name}-{key[:16]}"
    if (dest / ORDER_META).is_file():
        log.info("data order %s exists; reusing it", dest)
        return dest / "data", dest / "tokenizer.json"

    out_dir.mkdir(parents=True, exist_ok=True)
    # Another process building the same order first: its folder is kept, ours dropped.
    with atomic.atomic_path(dest, is_dir=True, keep_existing=True) as tmp:
        shutil.copyfile(tok_path, tmp / "tokenizer.json")
        summary = build_data_order(
            docs,
            tmp / "tokenizer.json",
            tmp / "data",
            seq_length=data_cfg.seq_length,
            seed=seed,
            min_rows=min_rows,
            progress=progress,
        )
        meta = {
            "key": key,
            **key_fields,
            "documents_sha256": docs_sha,  # "documents" below is their count (build_data_order's summary)
            "name": data_cfg.name,
            "source": data_cfg.source,
            "corpus": data_cfg.corpus,
            "tokenizer_origin": str(tok_path),
            "tokenizer_sha256": tok_sha,
            "rows_per_step": data_cfg.rows_per_step,
            "steps": summary["rows"] // data_cfg.rows_per_step,
            **summary,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / ORDER_META).write_text(json.dumps(meta, indent=2) + "\n")
    log.info(
        "data order %s: %d rows of %d tokens (%d steps of %d rows)",
        dest,
        meta["rows"],
        row_length,
        meta["steps"],
        data_cfg.rows_per_step,
    )
    return dest / "data", dest / "tokenizer.json"
