"""Megatron ``MMapIndexedDataset`` files (``<prefix>.bin`` + ``<prefix>.idx``), read and written in
the exact layout GPT-NeoX and Pythia's own tools use, so Pythia's pre-shuffled Pile opens unchanged.

``.idx``, little-endian: magic ``b"MMIDIDX\\x00\\x00"``; ``<Q`` version 1; ``<B`` dtype code;
``<Q`` number of sequences ``n``; ``<Q`` length ``d`` of ``doc_idx``; ``int32 sizes[n]``;
``int64 pointers[n]`` (byte offset of each sequence in ``.bin``); ``int64 doc_idx[d]``.
``.bin`` holds the sequences back to back. Every inconsistency we can detect without reading the
whole ``.bin`` is checked when a file opens; token ids are checked against a vocabulary on read.
"""

from __future__ import annotations

import logging
import os
import struct
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from debias.core import atomic
from debias.core.errors import DebiasError
from debias.core.input_errors import with_path

log = logging.getLogger(__name__)

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
# Megatron's dtype codes. Legacy Megatron mapped 6 to np.float (i.e. float64); GPT-NeoX and
# DESIGN.md use float32. Tokens are never floats, so the difference only matters for odd files.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.int8),
    3: np.dtype(np.int16),
    4: np.dtype(np.int32),
    5: np.dtype(np.int64),
    6: np.dtype(np.float32),
    7: np.dtype(np.float64),
    8: np.dtype(np.uint16),
}
CODES: dict[np.dtype, int] = {dtype: code for code, dtype in DTYPES.items()}
HEADER = struct.Struct("<9sQBQQ")  # magic, version, dtype code, n, d: 34 bytes
_CHECK_CHUNK = 1 << 24  # sequences per chunk when checking pointers of huge files


class IndexedDatasetError(DebiasError, ValueError):
    """A ``.bin``/``.idx`` pair is malformed or does not match what the caller needs."""


class IndexedDatasetMissing(DebiasError, FileNotFoundError):
    """A ``.bin`` or ``.idx`` of an indexed dataset is not there; the message names it and the prefix."""


def idx_path(prefix: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(prefix)}.idx")


def bin_path(prefix: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(prefix)}.bin")


def strip_extension(path: str | os.PathLike) -> Path:
    """Accept ``x``, ``x.bin`` or ``x.idx`` where a prefix is wanted (a common slip)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".bin", ".idx") else p


def best_dtype(vocab_size: int) -> np.dtype:
    """The smallest token dtype that holds every id below ``vocab_size`` (uint16 like Pythia's files)."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.int32)


class MMapIndexedDataset:
    """Memory-mapped reader. ``ds[i]`` is sequence ``i``; ``ds[a:b]`` a list of sequences
    (as Megatron's reader returns); ``ds.rows(a, b)`` a 2-D array when those rows share a length.

    ``vocab_size``: when given, every array returned is checked for token ids ``>= vocab_size``;
    ``check_tokens()`` scans the whole file. Arrays returned are read-only views of the mapping
    unless stated otherwise: copy before modifying.

    ``streaming``: read tokens with ``os.pread`` instead of through the map. A pass over a file
    larger than memory (the tail rewrite, its checksums) then keeps the process's resident memory
    flat: pages read through a map count in its RSS until the kernel drops them.
    """

    def __init__(
        self, prefix: str | os.PathLike, *, vocab_size: int | None = None, streaming: bool = False
    ) -> None:
        self.prefix = Path(prefix)
        self.streaming = streaming
        self._fd: tuple[int, int] | None = None  # (pid, descriptor): a forked child opens its own
        self.idx_path = idx_path(prefix)
        self.bin_path = bin_path(prefix)
        self.vocab_size = vocab_size
        for p in (self.idx_path, self.bin_path):
            if p.exists() and not p.is_file():
                kind = "a directory" if p.is_dir() else "not a regular file"
                raise IndexedDatasetError(
                    f"{p}: {kind}, not the {p.suffix} file of an indexed dataset. "
                    f"Point the prefix {prefix} at the pair <prefix>.bin + <prefix>.idx (files)"
                )
            if not p.is_file():
                hint = ""
                if Path(prefix).suffix in (".bin", ".idx"):
                    hint = f" Pass the path without extension ({strip_extension(prefix)})."
                raise IndexedDatasetMissing(
                    f"{p}: no such file. An indexed dataset is a pair <prefix>.bin + <prefix>.idx;"
                    f" check the prefix {prefix}.{hint}"
                )
        self._read_index()
        self._open_bin()

    # -- opening and checking -------------------------------------------------------------
    def _fail(self, path: Path, problem: str, fix: str) -> IndexedDatasetError:
        return IndexedDatasetError(f"{path}: {problem}. {fix}", path=path, problem=problem, fix=fix)

    def _read_index(self) -> None:
        path = self.idx_path
        size = path.stat().st_size
        if size < HEADER.size:
            raise self._fail(
                path,
                f"only {size} bytes, shorter than the {HEADER.size}-byte header",
                "The file is truncated: copy or download it again.",
            )
        with open(path, "rb") as fh:
            magic, version, code, n, d = HEADER.unpack(fh.read(HEADER.size))
        if magic != MAGIC:
            legacy = (
                " (this is Megatron's legacy non-mmap 'TNTIDX' format)"
                if magic.startswith(b"TNTIDX")
                else ""
            )
            raise self._fail(
                path,
                f"wrong magic {magic!r}, expected {MAGIC!r}{legacy}",
                "This is not a Megatron MMapIndexedDataset index; rebuild it with GPT-NeoX's "
                "preprocess_data.py (dataset-impl mmap) or debias.data.corpus",
            )
        if version != VERSION:
            raise self._fail(
                path,
                f"unknown index version {version} (this reader knows version {VERSION})",
                "Rewrite the file with a Megatron/GPT-NeoX writer of version 1",
            )
        if code not in DTYPES:
            raise self._fail(
                path,
                f"unknown dtype code {code} (known: {sorted(DTYPES)})",
                "The header is corrupt or from an incompatible writer; rebuild the dataset",
            )
        if np.dtype(DTYPES[code]).kind not in "iu":
            # float32 is as wide as int32, so the pointers cannot tell them apart; ids read as floats
            # failed far away with "TypeError: 'float' object cannot be interpreted as an integer"
            raise self._fail(
                path,
                f"the header's dtype code {code} says {np.dtype(DTYPES[code])}, but token ids are integers",
                "The dtype code in the header is wrong: rebuild the index with the dtype the .bin was "
                "written in (Pythia's files are uint16, code 8; int32 is code 4)",
            )
        expected = HEADER.size + 4 * n + 8 * n + 8 * d
        if size != expected:
            raise self._fail(
                path,
                f"{size} bytes, but a header of {n} sequences and {d} doc_idx entries "
                f"needs exactly {expected}",
                "The index is truncated or corrupt: copy it again",
            )
        self.dtype = DTYPES[code]
        self._idx_map = np.memmap(path, dtype=np.uint8, mode="r")
        self.sizes = np.frombuffer(self._idx_map, dtype="<i4", count=n, offset=HEADER.size)
        self.pointers = np.frombuffer(
            self._idx_map, dtype="<i8", count=n, offset=HEADER.size + 4 * n
        )
        self.doc_idx = np.frombuffer(
            self._idx_map, dtype="<i8", count=d, offset=HEADER.size + 12 * n
        )
        self._check_index(n, d)

    def _check_index(self, n: int, d: int) -> None:
        path, item = self.idx_path, self.dtype.itemsize
        fix = "The index does not describe its .bin: rebuild the pair, or copy both files again"
        offset = 0  # expected pointer of the next sequence: sequences are stored back to back
        for lo in range(0, n, _CHECK_CHUNK):
            sizes = self.sizes[lo : lo + _CHECK_CHUNK].astype(np.int64)
            if (sizes < 0).any():
                k = lo + int(np.argmax(sizes < 0))
                raise self._fail(path, f"negative size {self.sizes[k]} for sequence {k}", fix)
            expected = offset + np.concatenate(([0], np.cumsum(sizes[:-1] * item)))
            bad = np.flatnonzero(self.pointers[lo : lo + _CHECK_CHUNK] != expected)
            if bad.size:
                k = lo + int(bad[0])
                other = self._itemsize_of_pointers(n)
                if other is not None:
                    fits = ", ".join(str(t) for t in DTYPES.values() if t.itemsize == other)
                    raise self._fail(
                        path,
                        f"the header's dtype code {CODES[self.dtype]} says {self.dtype} ({item}-byte tokens), "
                        f"but the pointers step by {other}-byte tokens ({fits})",
                        "The dtype code in the header is wrong: rebuild the index with the dtype the .bin "
                        "was written in (Pythia's files are uint16, code 8)",
                    )
                raise self._fail(
                    path,
                    f"sizes and pointers disagree at sequence {k}: pointer "
                    f"{self.pointers[k]}, but the sizes before it put it at {expected[bad[0]]} "
                    f"({self.dtype} tokens, {item} bytes each)",
                    fix,
                )
            offset = int(expected[-1] + sizes[-1] * item)
        self.num_tokens = offset // item
        self._bin_bytes = offset
        if d < 1 or self.doc_idx[0] != 0 or self.doc_idx[-1] != n:
            first = int(self.doc_idx[0]) if d else None
            last = int(self.doc_idx[-1]) if d else None
            raise self._fail(
                path,
                f"doc_idx must start at 0 and end at the number of sequences {n}, "
                f"but has {d} entries from {first} to {last}",
                fix,
            )
        outside = np.flatnonzero((self.doc_idx < 0) | (self.doc_idx > n))
        if outside.size:
            k = int(outside[0])
            raise self._fail(
                path, f"doc_idx entry {k} is {int(self.doc_idx[k])}, outside 0..{n} (the number of sequences)", fix
            )
        if d > 1 and (np.diff(self.doc_idx) < 0).any():
            k = int(np.argmax(np.diff(self.doc_idx) < 0))
            raise self._fail(
                path,
                f"doc_idx decreases from entry {k} ({int(self.doc_idx[k])}) to entry {k + 1} "
                f"({int(self.doc_idx[k + 1])}); its entries must not decrease",
                fix,
            )

    def _itemsize_of_pointers(self, n: int) -> int | None:
        """The token size (1, 2, 4 or 8 bytes) the pointers were written for, when it is not the
        header's and they fit one exactly (a valid but wrong dtype code); checks the first rows."""
        k = min(n, 1 << 16)
        sizes = self.sizes[:k].astype(np.int64)
        for item in (1, 2, 4, 8):
            if item == self.dtype.itemsize:
                continue
            starts = np.concatenate(([0], np.cumsum(sizes[:-1] * item)))
            if k > 1 and np.array_equal(self.pointers[:k], starts):
                return item
        return None

    def _open_bin(self) -> None:
        size = self.bin_path.stat().st_size
        if size < self._bin_bytes:
            raise self._fail(
                self.bin_path,
                f"{size} bytes, shorter than the {self._bin_bytes} bytes its index "
                f"{self.idx_path.name} says ({len(self)} sequences of {self.dtype})",
                "The .bin is truncated (an interrupted copy or download?): copy it again",
            )
        if size > self._bin_bytes:
            log.warning(
                "%s: %d bytes, more than the %d its index uses; the extra bytes are ignored "
                "(is this the right .idx?)",
                self.bin_path,
                size,
                self._bin_bytes,
            )
        count = self._bin_bytes // self.dtype.itemsize
        self._bin_map = (
            np.memmap(self.bin_path, dtype=self.dtype, mode="r", shape=(count,)) if count else None
        )

    # -- reading --------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.sizes.shape[0])

    def __getitem__(self, key: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            if stop <= start:
                return []
            flat = self._tokens(start, stop)
            return np.split(flat, np.cumsum(self.sizes[start : stop - 1]))
        i = int(key)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(
                f"{self.prefix}: sequence {key} out of range (the dataset holds {len(self)})"
            )
        return self._tokens(i, i + 1)

    def get(self, i: int, offset: int = 0, length: int | None = None) -> np.ndarray:
        """Part of sequence ``i`` (Megatron's ``get``)."""
        seq = self[i]
        return seq[offset : None if length is None else offset + length]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Sequences ``start..stop-1`` as one ``[stop-start, length]`` array (all must share a length)."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(
                f"{self.prefix}: rows {start}..{stop} out of range (the dataset holds {len(self)})"
            )
        if stop == start:
            return np.empty((0, 0), dtype=self.dtype)
        sizes = self.sizes[start:stop]
        if (sizes != sizes[0]).any():
            raise IndexedDatasetError(
                f"{self.prefix}: rows {start}..{stop - 1} have different lengths "
                f"({int(sizes.min())}..{int(sizes.max())}); a data order needs packed rows "
                "of one length (build one with debias.data.corpus)"
            )
        return self._tokens(start, stop).reshape(stop - start, int(sizes[0]))

    def _tokens(self, start: int, stop: int) -> np.ndarray:
        """Tokens of sequences ``start..stop-1`` as one flat view (they are contiguous)."""
        if stop <= start:
            return np.empty(0, dtype=self.dtype)
        first = int(self.pointers[start]) // self.dtype.itemsize
        count = (
            int(self.pointers[stop - 1]) // self.dtype.itemsize + int(self.sizes[stop - 1]) - first
        )
        if self._bin_map is None:
            return np.empty(0, dtype=self.dtype)
        if self.streaming:
            out = np.frombuffer(self._pread(first * self.dtype.itemsize, count * self.dtype.itemsize), self.dtype)
        else:
            out = self._bin_map[first : first + count].view(np.ndarray)
        if self.vocab_size is not None:
            self._check_vocab(out, start)
        return out

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None and fd[0] == os.getpid():
            os.close(fd[1])

    def _pread(self, offset: int, nbytes: int) -> bytes:
        if self._fd is None or self._fd[0] != os.getpid():
            self._fd = (os.getpid(), os.open(self.bin_path, os.O_RDONLY))
        parts, fd = [], self._fd[1]
        while nbytes:
            block = os.pread(fd, nbytes, offset)
            if not block:
                raise IndexedDatasetError(
                    f"{self.bin_path}: ended while reading byte {offset} (the file shrank after it was opened?)"
                )
            parts.append(block)
            offset, nbytes = offset + len(block), nbytes - len(block)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def raw_bytes(self, start: int, stop: int) -> memoryview:
        """The ``.bin`` bytes of sequences ``start..stop-1`` (for checksums), without a copy."""
        return memoryview(self._tokens(start, stop)).cast("B")

    # -- token checks ---------------------------------------------------------------------
    def _check_vocab(self, tokens: np.ndarray, first_seq: int) -> None:
        if tokens.size == 0:
            return
        bad = (tokens >= self.vocab_size) | (tokens < 0)
        if not bad.any():
            return
        pos = int(np.argmax(bad))
        if tokens[pos] < 0 and self.dtype.kind == "i":
            unsigned = np.dtype(f"<u{self.dtype.itemsize}")
            as_unsigned = tokens.view(unsigned)
            code = CODES[self.dtype]
            if self.vocab_size is None or int(as_unsigned.max()) < self.vocab_size:
                right = CODES.get(unsigned)
                raise IndexedDatasetError(
                    f"{self.idx_path}: the header's dtype code {code} says {self.dtype}, so the .bin's ids read as "
                    f"negative numbers ({int(tokens[pos])}); read as {unsigned} they all lie in the vocabulary. "
                    f"The dtype code is wrong: rebuild the index with {unsigned} (code {right}), as Pythia's files are"
                )
        global_pos = int(self.pointers[first_seq]) // self.dtype.itemsize + pos
        seq = int(
            np.searchsorted(self.pointers // self.dtype.itemsize, global_pos, side="right") - 1
        )
        raise IndexedDatasetError(
            f"{self.bin_path}: token id {tokens[pos]} in sequence {seq} is outside the vocabulary of "
            f"{self.vocab_size} tokens. The data was made with a different tokenizer: use the tokenizer.json "
            "it was built with, or rebuild the data order with this one"
        )

    def check_tokens(
        self, vocab_size: int | None = None, *, chunk: int = 1 << 24, progress: bool = True
    ) -> None:
        """Scan every token of the ``.bin`` for ids outside ``[0, vocab_size)`` (raises on the first)."""
        vocab_size = vocab_size if vocab_size is not None else self.vocab_size
        if vocab_size is None:
            raise ValueError("check_tokens needs a vocab_size")
        saved, self.vocab_size = self.vocab_size, vocab_size
        try:
            n = len(self)
            step = max(1, chunk // max(1, int(self.sizes[:1].max(initial=1))))
            for lo in tqdm(
                range(0, n, step),
                desc=f"checking {self.bin_path.name}",
                unit="chunk",
                disable=not progress,
            ):
                self._tokens(lo, min(n, lo + step))
        finally:
            self.vocab_size = saved

    def __repr__(self) -> str:
        return (
            f"MMapIndexedDataset({str(self.prefix)!r}, sequences={len(self)}, dtype={self.dtype})"
        )


# -- writing ------------------------------------------------------------------------------
def encode_index(
    dtype: np.dtype, sizes: Sequence[int] | np.ndarray, doc_idx: Sequence[int] | np.ndarray
) -> bytes:
    """The bytes of an ``.idx`` for sequences of ``sizes`` stored back to back."""
    dtype = np.dtype(dtype)
    if dtype not in CODES:
        raise IndexedDatasetError(
            f"dtype {dtype} has no Megatron code; use one of "
            f"{', '.join(str(t) for t in DTYPES.values())}"
        )
    sizes_arr = np.asarray(sizes, dtype=np.int64)
    if (sizes_arr > np.iinfo(np.int32).max).any() or (sizes_arr < 0).any():
        raise IndexedDatasetError(
            "sequence sizes must lie in [0, 2**31) to fit the index's int32 field"
        )
    pointers = np.zeros(len(sizes_arr), dtype="<i8")
    if len(sizes_arr) > 1:
        np.cumsum(sizes_arr[:-1] * dtype.itemsize, out=pointers[1:])
    doc = np.asarray(doc_idx, dtype="<i8")
    if len(doc) == 0 or doc[0] != 0 or doc[-1] != len(sizes_arr) or (np.diff(doc) < 0).any():
        raise IndexedDatasetError(f"doc_idx must be non-decreasing from 0 to {len(sizes_arr)}")
    header = HEADER.pack(MAGIC, VERSION, CODES[dtype], len(sizes_arr), len(doc))
    return header + sizes_arr.astype("<i4").tobytes() + pointers.tobytes() + doc.tobytes()


def _replace_pair(bin_tmp: Path, idx_tmp: Path, prefix: Path) -> None:
    """Move a finished pair into place. The old .idx goes first and the new one arrives last, so
    an .idx that exists always belongs to a complete .bin."""
    idx_path(prefix).unlink(missing_ok=True)
    os.replace(bin_tmp, bin_path(prefix))
    os.replace(idx_tmp, idx_path(prefix))


class IndexedDatasetWriter:
    """Streams sequences into ``<prefix>.bin`` and writes ``<prefix>.idx`` at ``finalize``.

    Both files are written under temporary names and renamed only when complete; use as a
    context manager so that an exception leaves nothing behind.
    """

    def __init__(self, prefix: str | os.PathLike, dtype: np.dtype | type = np.uint16) -> None:
        self.prefix = Path(prefix)
        self.dtype = np.dtype(dtype)
        if self.dtype not in CODES:
            raise IndexedDatasetError(f"{self.prefix}: dtype {self.dtype} has no Megatron code")
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        fd, name = atomic.mkstemp(
            dir=self.prefix.parent, prefix=f".{self.prefix.name}.", suffix=".bin.tmp"
        )
        self._bin_tmp = Path(name)
        self._fh = os.fdopen(fd, "wb", buffering=1 << 20)
        self._sizes = array("q")
        self._doc_idx = array("q", [0])
        self._done = False

    def add_item(self, tokens: Iterable[int] | np.ndarray) -> None:
        """Append one sequence."""
        arr = np.asarray(tokens)
        if arr.ndim != 1:
            raise IndexedDatasetError(
                f"{self.prefix}: a sequence must be 1-D, got shape {arr.shape}"
            )
        self._write(arr, [arr.shape[0]])

    def add_rows(self, rows: np.ndarray, *, one_document_each: bool = False) -> None:
        """Append each row of a 2-D array as one sequence (fast path for packed data orders);
        ``one_document_each`` also ends a document after every row, as in Pythia's files."""
        rows = np.asarray(rows)
        if rows.ndim != 2:
            raise IndexedDatasetError(
                f"{self.prefix}: add_rows needs a 2-D array, got shape {rows.shape}"
            )
        first = len(self._sizes)
        self._write(rows, [rows.shape[1]] * rows.shape[0])
        if one_document_each:
            if self._doc_idx[-1] != first:
                self.end_document()
            self._doc_idx.extend(range(first + 1, first + rows.shape[0] + 1))

    def _write(self, arr: np.ndarray, sizes: list[int]) -> None:
        if arr.dtype != self.dtype:
            if arr.size and np.issubdtype(self.dtype, np.integer):
                info = np.iinfo(self.dtype)
                lo, hi = arr.min(), arr.max()
                if lo < info.min or hi > info.max:
                    raise IndexedDatasetError(
                        f"{self.prefix}: token ids {lo}..{hi} do not fit {self.dtype}; "
                        "write with a wider dtype (e.g. np.int32 for vocabularies above 65,536)"
                    )
            arr = arr.astype(self.dtype)
        try:
            self._fh.write(np.ascontiguousarray(arr).tobytes())
        except OSError as exc:  # a full disk names no file
            raise with_path(exc, bin_path(self.prefix)) from exc
        self._sizes.extend(sizes)

    def end_document(self) -> None:
        """Close the current document (GPT-NeoX calls this after each input document)."""
        self._doc_idx.append(len(self._sizes))

    def finalize(self) -> Path:
        """Write the index and move both files into place; returns the prefix."""
        if self._doc_idx[-1] != len(self._sizes):
            self.end_document()
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise with_path(exc, bin_path(self.prefix)) from exc
        self._fh.close()
        fd, name = atomic.mkstemp(
            dir=self.prefix.parent, prefix=f".{self.prefix.name}.", suffix=".idx.tmp"
        )
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                encode_index(
                    self.dtype,
                    np.frombuffer(self._sizes, dtype=np.int64),
                    np.frombuffer(self._doc_idx, dtype=np.int64),
                )
            )
            fh.flush()
            os.fsync(fh.fileno())
        _replace_pair(self._bin_tmp, Path(name), self.prefix)
        self._done = True
        return self.prefix

    def abort(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.close()
            except OSError:  # the buffer could not be flushed (the disk is full): the file goes anyway
                pass
        self._bin_tmp.unlink(missing_ok=True)

    def __enter__(self) -> IndexedDatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self._done:
            self.finalize()
        elif not self._done:
            self.abort()


def write_indexed_dataset(
    prefix: str | os.PathLike,
    sequences: Iterable[Iterable[int] | np.ndarray] | np.ndarray,
    *,
    dtype: np.dtype | type = np.uint16,
    one_document_per_sequence: bool = True,
) -> Path:
    """Write ``sequences`` (an iterable of 1-D token arrays, or a 2-D array of rows) as a pair.

    Each sequence is its own document by default (as in Pythia's pre-shuffled files); otherwise
    all sequences form one document.
    """
    with IndexedDatasetWriter(prefix, dtype) as writer:
        if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
            writer.add_rows(sequences, one_document_each=one_document_per_sequence)
        else:
            for seq in sequences:
                writer.add_item(seq)
                if one_document_per_sequence:
                    writer.end_document()
    return Path(prefix)


def write_uniform_index(
    prefix: str | os.PathLike, dtype: np.dtype | type, num_rows: int, row_length: int
) -> None:
    """Atomically write the ``.idx`` for ``num_rows`` rows of ``row_length`` tokens, one document
    each (for a ``.bin`` assembled by other means, e.g. from shards)."""
    sizes = np.full(num_rows, row_length, dtype=np.int64)
    path = idx_path(prefix)
    fd, name = atomic.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(encode_index(np.dtype(dtype), sizes, np.arange(num_rows + 1)))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(name, path)
