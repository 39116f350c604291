"""Megatron indexed datasets: round trip, the literal layout of DESIGN.md §2, and every bad file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from debias.data.indexed import (
    DTYPES,
    MAGIC,
    IndexedDatasetError,
    IndexedDatasetWriter,
    MMapIndexedDataset,
    write_indexed_dataset,
)

SEQS = [
    np.array([5, 6, 7], dtype=np.int64),
    np.array([], dtype=np.int64),
    np.array([65535, 0, 1, 2, 3]),
]


def literal_read(prefix: Path) -> tuple[np.dtype, list[np.ndarray], np.ndarray]:
    """A reader written straight from DESIGN.md's description of the .idx, sharing no code."""
    idx = (prefix.parent / (prefix.name + ".idx")).read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack_from("<Q", idx, 9)
    (code,) = struct.unpack_from("<B", idx, 17)
    n, d = struct.unpack_from("<QQ", idx, 18)
    assert version == 1
    dtype = np.dtype(
        {1: "u1", 2: "i1", 3: "<i2", 4: "<i4", 5: "<i8", 6: "<f4", 7: "<f8", 8: "<u2"}[code]
    )
    sizes = np.frombuffer(idx, "<i4", n, 34)
    pointers = np.frombuffer(idx, "<i8", n, 34 + 4 * n)
    doc_idx = np.frombuffer(idx, "<i8", d, 34 + 12 * n)
    assert len(idx) == 34 + 12 * n + 8 * d
    data = (prefix.parent / (prefix.name + ".bin")).read_bytes()
    seqs = [
        np.frombuffer(data, dtype, int(s), int(p)) for s, p in zip(sizes, pointers, strict=True)
    ]
    return dtype, seqs, doc_idx


def test_round_trip_keeps_every_sequence(tmp_path: Path) -> None:
    prefix = write_indexed_dataset(tmp_path / "ds", SEQS, dtype=np.uint16)
    ds = MMapIndexedDataset(prefix)
    assert len(ds) == 3 and ds.dtype == np.uint16
    for got, want in zip(ds[0:3], SEQS, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ds[-1], SEQS[2])
    np.testing.assert_array_equal(ds.get(2, 1, 2), [0, 1])
    assert ds.doc_idx.tolist() == [0, 1, 2, 3]
    assert ds.num_tokens == 8


def test_written_files_follow_the_design_layout_literally(tmp_path: Path) -> None:
    with IndexedDatasetWriter(tmp_path / "ds", np.int32) as w:
        w.add_item([1, 2, 3])
        w.add_item([70000])
        w.end_document()
        w.add_item([4])
    dtype, seqs, doc_idx = literal_read(tmp_path / "ds")
    assert dtype == np.int32
    assert [s.tolist() for s in seqs] == [[1, 2, 3], [70000], [4]]
    assert doc_idx.tolist() == [0, 2, 3]


@pytest.mark.parametrize("code", sorted(DTYPES))
def test_every_integer_dtype_code_round_trips_and_a_float_one_is_refused(tmp_path: Path, code: int) -> None:
    rows = np.arange(12).reshape(3, 4).astype(DTYPES[code])
    write_indexed_dataset(tmp_path / "ds", rows, dtype=DTYPES[code])
    assert literal_read(tmp_path / "ds")[0] == DTYPES[code]
    if DTYPES[code].kind == "f":  # token ids are integers: a float code is a wrong header (issue 24)
        with pytest.raises(IndexedDatasetError, match=f"dtype code {code} says {DTYPES[code]}, but token ids"):
            MMapIndexedDataset(tmp_path / "ds")
        return
    ds = MMapIndexedDataset(tmp_path / "ds")
    np.testing.assert_array_equal(ds.rows(0, 3), rows)


def test_a_literally_written_pythia_style_file_opens(tmp_path: Path) -> None:
    """Rows of 2,049 uint16 tokens, one document each, written without our writer."""
    rows = np.random.default_rng(0).integers(0, 50277, size=(4, 2049), dtype=np.uint16)
    n = len(rows)
    header = MAGIC + struct.pack("<Q", 1) + struct.pack("<B", 8) + struct.pack("<QQ", n, n + 1)
    sizes = np.full(n, 2049, "<i4").tobytes()
    pointers = (np.arange(n, dtype="<i8") * 2049 * 2).tobytes()
    (tmp_path / "doc.idx").write_bytes(
        header + sizes + pointers + np.arange(n + 1, dtype="<i8").tobytes()
    )
    (tmp_path / "doc.bin").write_bytes(rows.tobytes())
    ds = MMapIndexedDataset(tmp_path / "doc", vocab_size=50277)
    np.testing.assert_array_equal(ds.rows(1, 3), rows[1:3])


def test_writer_leaves_nothing_on_error_and_refuses_overflow(tmp_path: Path) -> None:
    with pytest.raises(IndexedDatasetError, match="do not fit uint16"):
        with IndexedDatasetWriter(tmp_path / "ds", np.uint16) as w:
            w.add_item([1, 70000])
    assert list(tmp_path.iterdir()) == []


# -- bad files -----------------------------------------------------------------------------
@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_indexed_dataset(tmp_path / "ds", [np.arange(10), np.arange(5)], dtype=np.uint16)


def _patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_wrong_magic_names_the_file_and_the_fix(good: Path) -> None:
    _patch(good.with_suffix(".idx"), 0, b"NOTMAGIC!")
    with pytest.raises(IndexedDatasetError, match=r"ds\.idx: wrong magic .*rebuild"):
        MMapIndexedDataset(good)


def test_legacy_index_is_recognised(good: Path) -> None:
    _patch(good.with_suffix(".idx"), 0, b"TNTIDX\x00\x00\x00")
    with pytest.raises(IndexedDatasetError, match="legacy"):
        MMapIndexedDataset(good)


def test_unknown_version(good: Path) -> None:
    _patch(good.with_suffix(".idx"), 9, struct.pack("<Q", 2))
    with pytest.raises(IndexedDatasetError, match="unknown index version 2"):
        MMapIndexedDataset(good)


def test_unknown_dtype_code(good: Path) -> None:
    _patch(good.with_suffix(".idx"), 17, b"\x09")
    with pytest.raises(IndexedDatasetError, match="unknown dtype code 9"):
        MMapIndexedDataset(good)


def test_truncated_index(good: Path) -> None:
    idx = good.with_suffix(".idx")
    idx.write_bytes(idx.read_bytes()[:-4])
    with pytest.raises(IndexedDatasetError, match="truncated"):
        MMapIndexedDataset(good)
    idx.write_bytes(b"MMIDIDX")
    with pytest.raises(IndexedDatasetError, match="shorter than the 34-byte header"):
        MMapIndexedDataset(good)


def test_bin_shorter_than_the_index_says(good: Path) -> None:
    bin_ = good.with_suffix(".bin")
    bin_.write_bytes(bin_.read_bytes()[:-2])
    with pytest.raises(
        IndexedDatasetError, match=r"ds\.bin: 28 bytes, shorter than the 30 bytes.*copy it again"
    ):
        MMapIndexedDataset(good)


def test_sizes_and_pointers_that_disagree(good: Path) -> None:
    _patch(good.with_suffix(".idx"), 34 + 8 + 8, struct.pack("<q", 18))  # pointer of sequence 1
    with pytest.raises(IndexedDatasetError, match="sizes and pointers disagree at sequence 1"):
        MMapIndexedDataset(good)


def test_negative_size(good: Path) -> None:
    _patch(good.with_suffix(".idx"), 34, struct.pack("<i", -1))
    with pytest.raises(IndexedDatasetError, match="negative size"):
        MMapIndexedDataset(good)


def test_doc_idx_that_does_not_end_at_n(good: Path) -> None:
    _patch(good.with_suffix(".idx"), 34 + 24 + 16, struct.pack("<q", 7))  # last doc_idx entry
    with pytest.raises(IndexedDatasetError, match="doc_idx must start at 0 and end"):
        MMapIndexedDataset(good)


def test_token_beyond_the_vocabulary(good: Path) -> None:
    ds = MMapIndexedDataset(good, vocab_size=8)
    np.testing.assert_array_equal(ds[1], np.arange(5))
    with pytest.raises(
        IndexedDatasetError, match=r"token id 8 in sequence 0 is outside the vocabulary of 8"
    ):
        ds[0]
    with pytest.raises(IndexedDatasetError, match="sequence 0"):
        MMapIndexedDataset(good).check_tokens(9, progress=False)
    MMapIndexedDataset(good).check_tokens(10, progress=False)


def test_missing_file_and_a_prefix_with_extension(good: Path) -> None:
    with pytest.raises(FileNotFoundError, match="without extension"):
        MMapIndexedDataset(good.with_suffix(".bin"))
    good.with_suffix(".bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"ds\.bin: no such file"):
        MMapIndexedDataset(good)


def _rss_file_kb() -> int:
    """This process's file-backed resident pages (RssFile in /proc/self/status), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile line in /proc/self/status")


def test_streaming_reads_the_same_rows_without_growing_resident_memory(tmp_path: Path) -> None:
    """The tail rewrite reads its source once through; read via the map, every page of a 64 MB
    file stays resident in the process, while ``streaming`` (pread) keeps RSS where it was."""
    rows, length = 16_384, 2_049  # 64 MiB of uint16
    rng = np.random.default_rng(0)
    with IndexedDatasetWriter(tmp_path / "big", dtype=np.uint16) as w:
        for _ in range(rows // 256):
            block = rng.integers(0, 50_000, size=(256, length), dtype=np.uint16)
            for row in block:
                w.add_item(row)
                w.end_document()
    mapped, streamed = MMapIndexedDataset(tmp_path / "big"), MMapIndexedDataset(tmp_path / "big", streaming=True)
    np.testing.assert_array_equal(streamed.rows(100, 300), mapped.rows(100, 300))
    assert bytes(streamed.raw_bytes(5, 9)) == bytes(mapped.raw_bytes(5, 9))
    before = _rss_file_kb()
    for a in range(0, rows, 512):
        streamed.rows(a, a + 512).sum()
    streamed_growth = _rss_file_kb() - before
    for a in range(0, rows, 512):
        mapped.rows(a, a + 512).sum()
    mapped_growth = _rss_file_kb() - before - streamed_growth
    assert streamed_growth < 4_096  # under 4 MB for a 64 MB pass
    assert mapped_growth > 32_768  # the map keeps more than half the file resident
