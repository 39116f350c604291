"""Token-level rewrite of single rows: row edges, <|endoftext|>, partial UTF-8, equal-count spellings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from debias.data.token_bytes import ByteVocab
from debias.rewrite.rows import NO_SPELLING, ROW_EDGE, RewriteStats, RowRewriter, check_row
from debias.swap.swapper import PronounSwapper


@pytest.fixture(scope="module")
def vocab(neox_tokenizer_path: Path) -> ByteVocab:
    return ByteVocab(neox_tokenizer_path)


@pytest.fixture(scope="module")
def fem(vocab: ByteVocab) -> RowRewriter:
    return RowRewriter(vocab, PronounSwapper("to_feminine"))


def row_of(vocab: ByteVocab, *pieces: bytes | int) -> np.ndarray:
    """A row made of exactly these tokens (bytes of one token each, or an id)."""
    return np.array(
        [p if isinstance(p, int) else vocab.by_bytes[p] for p in pieces], dtype=np.uint16
    )


def run(rw: RowRewriter, row: np.ndarray) -> tuple[bytes, RewriteStats]:
    stats = RewriteStats()
    out = rw.rewrite(row[None, :], stats)[0]
    return rw.vocab.spell(out), stats


def left(stats: RewriteStats) -> dict[str, dict[str, int]]:
    return {f: c["left"] for f, c in stats.counts.items() if c["left"]}


def test_a_plain_row_is_rewritten_in_place(vocab: ByteVocab, fem: RowRewriter) -> None:
    ids = np.array(
        vocab.tokenizer.encode("Then he gave his hat to him and went home.").ids, dtype=np.uint16
    )
    text, stats = run(fem, ids)
    assert text == b"Then she gave her hat to her and went home."
    assert stats.swaps == 3 and stats.changed_tokens == 3 and stats.noncanonical == {}


def test_pronoun_at_the_row_start_is_left(vocab: ByteVocab, fem: RowRewriter) -> None:
    # "he" may be the end of "Ashe" or "the" in the row before; " he" (with its space) is certain
    text, stats = run(fem, row_of(vocab, b"he", b" went", b" and", b" he", b" sat", b" down", b"."))
    assert text == b"he went and she sat down."
    assert left(stats) == {"he": {ROW_EDGE: 1}}
    text, _ = run(fem, row_of(vocab, b" he", b" went", b"."))
    assert text == b" she went."


def test_pronoun_at_the_row_end_is_left(vocab: ByteVocab, fem: RowRewriter) -> None:
    # the next row may go on with "art" ("heart") or "ir" ("heir")
    text, stats = run(fem, row_of(vocab, b"It", b" was", b" he"))
    assert text == b"It was he" and left(stats) == {"he": {ROW_EDGE: 1}}
    text, stats = run(fem, row_of(vocab, b"It", b" was", b" he", b"."))
    assert text == b"It was she." and not left(stats)


def test_partial_utf8_at_the_edge_counts_as_unknown(vocab: ByteVocab, fem: RowRewriter) -> None:
    # 0xA9 is the end of a character the previous row began ("é" = C3 A9): "éhe" is no pronoun
    text, stats = run(fem, row_of(vocab, b"\xa9", b"he", b" said", b" his", b" name", b"."))
    assert text == b"\xa9he said her name." and left(stats) == {"he": {ROW_EDGE: 1}}
    # a character cut at the row's end: " him" then the first byte of a curly quote
    text, stats = run(fem, row_of(vocab, b"To", b" him", b"\xe2"))
    assert text == b"To him\xe2" and left(stats) == {"him": {ROW_EDGE: 1}}


def test_neutral_spellings_at_the_row_start_are_left(vocab: ByteVocab, fem: RowRewriter) -> None:
    text, stats = run(fem, row_of(vocab, b"/", b"he", b" will", b" come", b"."))
    assert text == b"/he will come." and left(stats) == {"he": {ROW_EDGE: 1}}


def test_endoftext_is_a_true_document_edge(vocab: ByteVocab, fem: RowRewriter) -> None:
    eod = vocab.tokenizer.token_to_id("<|endoftext|>")
    row = row_of(
        vocab, b" the", b" end", b".", eod, b"He", b" said", b" so", b".", eod, b"His", b" dog"
    )
    text, stats = run(fem, row)
    assert text == b" the end.She said so.Her dog"
    out = fem.rewrite(row[None, :], RewriteStats())[0]
    assert out[3] == eod and out[8] == eod and not left(stats)


def test_no_equal_count_spelling_is_left_and_counted(vocab: ByteVocab, fem: RowRewriter) -> None:
    # "himself" after a line break is one token; "herself" there needs two
    text, stats = run(
        fem, row_of(vocab, b"Then", b" he", b" saw", b"\n", b"himself", b" there", b".")
    )
    assert text == b"Then she saw\nhimself there."
    assert left(stats) == {"himself": {NO_SPELLING: 1}}


def test_noncanonical_spelling_is_used_and_counted(vocab: ByteVocab, fem: RowRewriter) -> None:
    # "HIM" after a line break is two tokens (H + IM); "HER" there is one, so it is spelled H + ER
    row = np.array(vocab.tokenizer.encode("I said to\nHIM then.").ids, dtype=np.uint16)
    text, stats = run(fem, row)
    assert text == b"I said to\nHER then." and stats.noncanonical == {"him": 1}
    out = fem.rewrite(row[None, :], RewriteStats())[0]
    assert len(out) == len(row)
    assert check_row(vocab, row, out, "to_feminine") == (1, None)


def test_check_row_flags_a_change_away_from_pronouns(vocab: ByteVocab) -> None:
    row = np.array(vocab.tokenizer.encode("The heart of the shepherd.").ids, dtype=np.uint16)
    bad = row.copy()
    bad[1] = vocab.by_bytes[b" hears"]
    swaps, problem = check_row(vocab, row, bad, "to_feminine")
    assert swaps == 0 and "where no whole-word pronoun is" in problem


def test_token_bytes_match_the_tokenizer(vocab: ByteVocab, tmp_path: Path) -> None:
    for i in range(0, vocab.size, 7):
        data = vocab.token_bytes[i]
        if vocab.special[i]:
            assert data == b""
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        assert vocab.tokenizer.decode([i]) == text
    spec = json.loads(vocab.path.read_text())
    spec["decoder"] = {
        "type": "Metaspace",
        "replacement": "▁",
        "prepend_scheme": "always",
        "split": True,
    }
    other = tmp_path / "metaspace.json"
    other.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="needs a byte-level BPE"):
        ByteVocab(other)


def test_respell_prefers_the_tokenizers_own_spelling(vocab: ByteVocab) -> None:
    assert vocab.respell(b" she", 1) == ((vocab.by_bytes[b" she"],), True)
    ids, canonical = vocab.respell(b" she", 2)
    assert not canonical and vocab.spell(list(ids)) == b" she" and len(ids) == 2
    assert vocab.respell(b"herself", 1) is None


def test_invalid_bytes_inside_a_row_make_a_neighbouring_pronoun_doubtful(
    vocab: ByteVocab, fem: RowRewriter
) -> None:
    text, stats = run(fem, row_of(vocab, b"So", b" \xc3", b"he", b" said", b" his", b" name", b"."))
    assert text == b"So \xc3he said her name." and left(stats) == {"he": {"invalid_utf8": 1}}


def test_nouns_are_rewritten_counted_and_verified(vocab: ByteVocab) -> None:
    rw = RowRewriter(vocab, PronounSwapper("to_feminine", groups=("pronouns", "nouns")))
    row = np.array(
        vocab.tokenizer.encode("Then his father and the King's men met Mr. Smith.").ids, dtype=np.uint16
    )
    text, stats = run(rw, row)
    assert text == b"Then her mother and the Queen's women met Ms. Smith."
    assert {f: c["swapped"] for f, c in stats.counts.items()} == {
        "his": 1, "father": 1, "king": 1, "men": 1, "mr": 1
    }
    out = rw.rewrite(row[None, :], RewriteStats())[0]
    assert len(out) == len(row)
    assert check_row(vocab, row, out, "to_feminine", ("pronouns", "nouns")) == (5, None)
    swaps, problem = check_row(vocab, row, out, "to_feminine")  # a pronoun-only rewrite has no nouns
    assert "where no whole-word pronoun is" in problem
