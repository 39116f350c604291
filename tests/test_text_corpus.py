"""Reading text corpora: non-UTF-8 bytes, Gutenberg boilerplate, documents of about doc_words words."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from debias.data.text_corpus import (
    CorpusError,
    decode_text,
    read_corpus,
    split_document,
    strip_gutenberg,
)


def test_non_utf8_bytes_decode_as_cp1252_and_are_logged(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = data_dir / "gutenberg_corpus/train/141.txt"
    with caplog.at_level(logging.WARNING):
        text = decode_text(path.read_bytes(), path)
    assert "£" in text and "\r" not in text and "1 byte(s)" in caplog.text
    mixed = "café “x”".encode() + b" \x93quoted\x94 \x81"
    assert decode_text(mixed, "m") == "café “x” “quoted” \x81"
    with pytest.raises(CorpusError, match=r"141\.txt: not valid UTF-8 \(byte 0xa3.*iconv"):
        decode_text(path.read_bytes(), path, bad_utf8="error")


def test_gutenberg_boilerplate_is_stripped() -> None:
    text = (
        "\ufeffThe Project Gutenberg EBook of X\nlicence words\n*** START OF THIS PROJECT GUTENBERG EBOOK THE\n"
        "ADVENTURES OF X ***\n\nChapter 1\nHe went home.\n\nEnd of the Project Gutenberg EBook of X\n\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nmore licence\n"
    )
    assert strip_gutenberg(decode_text(text.encode(), "x")) == "Chapter 1\nHe went home.\n"
    assert strip_gutenberg("No markers here.\n") == "No markers here.\n"


def test_split_document_cuts_at_paragraphs() -> None:
    paras = [" ".join(f"w{p}x{i}" for i in range(30)) for p in range(10)]
    docs = split_document("\n\n".join(paras), 100)
    assert [len(d.split()) for d in docs] == [120, 120, 60]
    assert all(d.startswith("w") for d in docs)
    assert "\n\n".join(docs).split() == "\n\n".join(paras).split()
    giant = " ".join(
        str(i) for i in range(420)
    )  # the last 20 words are too few for a document of their own
    assert [len(d.split()) for d in split_document(giant, 100)] == [100, 100, 100, 120]
    assert split_document("  \n ", 10) == [] and split_document("a b", 0) == ["a b"]


def test_read_corpus_folder_and_bad_jsonl(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("Second book.\n")
    (tmp_path / "a.txt").write_bytes(b"First \x93book\x94.\r\n")
    assert read_corpus(tmp_path) == ["First “book”.", "Second book."]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2: no string field 'text'"):
        read_corpus(bad)
    bad.write_text("{not json\n")
    with pytest.raises(CorpusError, match=r"bad\.jsonl:1: not a JSON object"):
        read_corpus(bad)
    with pytest.raises(CorpusError, match="no such corpus"):
        read_corpus(tmp_path / "missing")
