"""The tail rewrite on rows tokenized with the GPT-NeoX-20B tokenizer: in place, verified,
resumable, every direction, and a verifier that catches a tampered row."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from debias.data.corpus import build_data_order
from debias.data.text_corpus import decode_text
from debias.data.token_bytes import ByteVocab
from debias.rewrite.rows import is_whole_word, plan_text, row_segments
from debias.rewrite.tail import rewrite_tail
from debias.rewrite.verify import TailVerificationError, verify_tail
from debias.swap.pronouns import FEMININE, MASCULINE, find_pronouns

RPS = 4
CRAFTED = [
    "The shepherd sat by the hearth while Ashe said there was nothing in the theatre. He thought "
    "his dog was hers, and she told him so herself. HE SHOUTED AT HIMSELF.",
    "Whether s/he comes or (s)he stays, the heir will hear her. He's sure she’d go; he'll know.\n"
    "himself\nHIM, said the clerk. Her brother gave her the keys to his house, and the house was his.",
]


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, neox_tokenizer_path: Path
) -> Path:
    text = decode_text((data_dir / "gutenberg_corpus/heldout/pg550.txt").read_bytes(), "pg550")
    paragraphs = [p for p in text.split("\n\n") if p.strip()][:700]
    docs = CRAFTED * 5 + [
        "\n\n".join(paragraphs[i : i + 20]) for i in range(0, len(paragraphs), 20)
    ]
    out = tmp_path_factory.mktemp("corpus") / "order"
    build_data_order(docs, neox_tokenizer_path, out, seq_length=128, seed=0, progress=False)
    return out


def _rewrite(source: Path, out: Path, tokenizer: Path, **overrides) -> dict:
    """``rewrite_tail`` over steps 10..59, to_feminine, quietly, unless overridden."""
    args = dict(start_step=10, end_step=60, rows_per_step=RPS, direction="to_feminine")
    return rewrite_tail(source, out, tokenizer=tokenizer, progress=False, **{**args, **overrides})


@pytest.fixture(scope="module")
def vocab(neox_tokenizer_path: Path) -> ByteVocab:
    return ByteVocab(neox_tokenizer_path)


@pytest.fixture(scope="module")
def feminine_tail(
    tmp_path_factory: pytest.TempPathFactory, corpus: Path, neox_tokenizer_path: Path
) -> Path:
    out = tmp_path_factory.mktemp("tails") / "fem"
    _rewrite(corpus, out, neox_tokenizer_path, shard_rows=48)
    return out


def _count(vocab: ByteVocab, rows: np.ndarray, forms: tuple[str, ...]) -> int:
    """Whole-word pronouns of ``forms`` in the rows, as far as each row shows."""
    n = 0
    for row in rows:
        for seg in row_segments(vocab, row):
            n += sum(
                is_whole_word(seg, m.start(), m.end())
                for m in find_pronouns(plan_text(seg.text), forms)
            )
    return n


def _rows(prefix: Path, first: int = 0, n: int | None = None) -> np.ndarray:
    from debias.data.indexed import MMapIndexedDataset

    ds = MMapIndexedDataset(prefix)
    return ds.rows(first, len(ds) if n is None else first + n)


def test_rewrite_then_verify_to_feminine(
    corpus: Path, feminine_tail: Path, vocab: ByteVocab, neox_tokenizer_path: Path
) -> None:
    manifest = json.loads((feminine_tail / "manifest.json").read_text())
    assert sorted(p.name for p in feminine_tail.iterdir()) == [
        "manifest.json",
        "tail.bin",
        "tail.idx",
    ]
    for key in (
        "source",
        "start_step",
        "end_step",
        "rows_per_step",
        "row_length",
        "tokenizer",
        "direction",
        "spacy",
        "counts",
        "noncanonical",
        "created",
    ):
        assert key in manifest
    assert set(manifest["source"]) >= {"path", "idx_sha256", "rows_sha256"}
    assert set(manifest["tokenizer"]) == {"path", "sha256"} and set(manifest["spacy"]) >= {
        "model",
        "version",
    }
    assert (manifest["start_step"], manifest["end_step"], manifest["row_length"]) == (10, 60, 129)
    for form, c in manifest["counts"].items():
        assert form in MASCULINE and c["seen"] == c["swapped"] + sum(c["left"].values())
    assert manifest["counts"]["his"]["swapped"] > 20 and manifest["counts"]["he"]["swapped"] > 50

    summary = verify_tail(corpus, feminine_tail, progress=False)
    assert summary["rows"] == 50 * RPS and summary["tokens"] == 50 * RPS * 129
    assert summary["swaps"] == sum(c["swapped"] for c in manifest["counts"].values())
    assert summary["changed_tokens"] == manifest["totals"]["changed_tokens"] > 0

    src, tail = _rows(corpus, 10 * RPS, 50 * RPS), _rows(feminine_tail / "tail")
    assert tail.shape == src.shape
    left = sum(
        n for c in manifest["counts"].values() for r, n in c["left"].items() if r != "row_edge"
    )
    assert _count(vocab, tail, MASCULINE) == left  # every masculine pronoun left is accounted for
    assert _count(vocab, tail, FEMININE) == _count(vocab, src, FEMININE) + summary["swaps"]


def test_words_that_contain_pronoun_letters_are_untouched(
    corpus: Path, feminine_tail: Path, vocab: ByteVocab
) -> None:
    src, tail = _rows(corpus, 10 * RPS, 50 * RPS), _rows(feminine_tail / "tail")
    for word in (
        b"shepherd",
        b"hearth",
        b"Ashe",
        b"there",
        b"theatre",
        b"heir",
        b"s/he",
        b"(s)he",
        b"the ",
    ):
        assert sum(vocab.spell(r).count(word) for r in src) == sum(
            vocab.spell(r).count(word) for r in tail
        )


def test_a_rerun_of_a_finished_rewrite_is_a_no_op_and_other_inputs_are_refused(
    corpus: Path, feminine_tail: Path, neox_tokenizer_path: Path
) -> None:
    before = (feminine_tail / "tail.bin").stat().st_mtime_ns
    again = _rewrite(corpus, feminine_tail, neox_tokenizer_path, shard_rows=48)
    assert again == json.loads((feminine_tail / "manifest.json").read_text())
    assert (feminine_tail / "tail.bin").stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="another output folder"):
        _rewrite(corpus, feminine_tail, neox_tokenizer_path, end_step=61)


def test_a_rewrite_killed_midway_and_rerun_gives_the_same_bytes(
    tmp_path: Path, corpus: Path, feminine_tail: Path, neox_tokenizer_path: Path
) -> None:
    out = tmp_path / "killed"

    def interrupt(k: int) -> None:
        if k == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _rewrite(corpus, out, neox_tokenizer_path, shard_rows=48, on_task_done=interrupt)
    assert not (out / "manifest.json").exists() and not (out / "tail.bin").exists()
    work = out / ".rewrite"
    # datatrove's completion markers: tasks 0 and 1 finished, task 2 was interrupted
    assert sorted(p.name for p in (work / "rewrite" / "completions").iterdir()) == ["00000", "00001"]
    # damage: a part cut short after its task was marked done, and a stray half-written file
    damaged = work / "parts" / "00001.bin"
    damaged.write_bytes(damaged.read_bytes()[:100])
    (work / "parts" / ".00002.bin.999.tmp").write_bytes(b"half")
    done: list[int] = []
    _rewrite(corpus, out, neox_tokenizer_path, shard_rows=48, on_task_done=done.append)
    assert 0 not in done and 1 in done and 2 in done  # intact part 0 kept, damaged part 1 redone
    for name in ("tail.bin", "tail.idx"):
        assert (out / name).read_bytes() == (feminine_tail / name).read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "tail.bin", "tail.idx"]
    verify_tail(corpus, out, progress=False)


@pytest.mark.parametrize("direction", ["to_masculine", "both"])
def test_other_directions_verify(
    tmp_path: Path, corpus: Path, vocab: ByteVocab, neox_tokenizer_path: Path, direction: str
) -> None:
    out = tmp_path / direction
    manifest = _rewrite(
        corpus, out, neox_tokenizer_path, start_step=0, end_step=40, direction=direction
    )
    summary = verify_tail(corpus, out, progress=False)
    counts = manifest["counts"]
    assert counts["her"]["swapped"] > 10 and counts["she"]["swapped"] > 10
    assert (set(counts) >= set(MASCULINE)) == (direction == "both")
    src, tail = _rows(corpus, 0, 40 * RPS), _rows(out / "tail")
    gendered = MASCULINE + FEMININE
    assert _count(vocab, tail, gendered) == _count(vocab, src, gendered)  # one pronoun for one
    left = {f: sum(n for r, n in c["left"].items() if r != "row_edge") for f, c in counts.items()}
    fem_swapped = sum(counts[f]["swapped"] for f in FEMININE)
    if direction == "to_masculine":
        assert _count(vocab, tail, FEMININE) == sum(left.values())
        assert _count(vocab, tail, MASCULINE) == _count(vocab, src, MASCULINE) + summary["swaps"]
    else:
        assert _count(vocab, tail, MASCULINE) == fem_swapped + sum(left[f] for f in MASCULINE)


def test_verify_catches_a_tampered_row(
    tmp_path: Path, corpus: Path, feminine_tail: Path, vocab: ByteVocab
) -> None:
    out = tmp_path / "tampered"
    shutil.copytree(feminine_tail, out)
    tail = _rows(out / "tail")
    k, pos = 37, 5
    src_row = _rows(corpus, 10 * RPS + k, 1)[0]
    while tail[k, pos] != src_row[pos] or vocab.special[tail[k, pos]]:
        pos += 1  # an unchanged, ordinary token
    raw = bytearray((out / "tail.bin").read_bytes())
    offset = (k * 129 + pos) * 2
    raw[offset : offset + 2] = np.uint16(
        783 if tail[k, pos] != 783 else 784
    ).tobytes()  # "the" / another token
    (out / "tail.bin").write_bytes(bytes(raw))
    with pytest.raises(TailVerificationError, match="no whole-word pronoun") as info:
        verify_tail(corpus, out, progress=False)
    assert (info.value.row, info.value.step, info.value.source_row) == (
        k,
        10 + k // RPS,
        10 * RPS + k,
    )
    # raised in a worker process, it reaches the parent with the same row and step
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.row, again.step, again.source_row, str(again)) == (
        info.value.row, info.value.step, info.value.source_row, str(info.value)
    )


def test_verify_catches_a_pronoun_swapped_to_a_non_counterpart(
    tmp_path: Path, corpus: Path, feminine_tail: Path, vocab: ByteVocab
) -> None:
    out = tmp_path / "wrong"
    shutil.copytree(feminine_tail, out)
    src, tail = _rows(corpus, 10 * RPS, 50 * RPS), _rows(out / "tail")
    k, pos = map(int, np.argwhere((src != tail) & (tail == vocab.tokenizer.token_to_id("Ġshe")))[0])
    raw = bytearray((out / "tail.bin").read_bytes())
    raw[(k * 129 + pos) * 2 : (k * 129 + pos) * 2 + 2] = np.uint16(
        vocab.tokenizer.token_to_id("Ġthe")
    ).tobytes()
    (out / "tail.bin").write_bytes(bytes(raw))
    with pytest.raises(TailVerificationError, match="not a counterpart") as info:
        verify_tail(corpus, out, progress=False)
    assert (info.value.row, info.value.step) == (k, 10 + k // RPS)


def test_verify_refuses_a_changed_source(tmp_path: Path, corpus: Path, feminine_tail: Path) -> None:
    src = tmp_path / "src"
    for ext in (".bin", ".idx"):
        shutil.copyfile(corpus.with_suffix(ext), src.with_suffix(ext))
    raw = bytearray(src.with_suffix(".bin").read_bytes())
    raw[(10 * RPS * 129 + 3) * 2] ^= 1
    src.with_suffix(".bin").write_bytes(bytes(raw))
    with pytest.raises(TailVerificationError, match="changed since the rewrite"):
        verify_tail(src, feminine_tail, progress=False)


def test_steps_beyond_the_data_and_bad_direction(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    from debias.data.order import StepOutOfRangeError

    with pytest.raises(StepOutOfRangeError, match="last available step"):
        _rewrite(corpus, tmp_path / "x", neox_tokenizer_path, end_step=10_000)
    with pytest.raises(ValueError, match="to_feminine, to_masculine, both"):
        _rewrite(corpus, tmp_path / "x", neox_tokenizer_path, end_step=20, direction="feminine")


KILL_SCRIPT = """
import sys, time
from debias.rewrite.tail import rewrite_tail
rewrite_tail(sys.argv[1], sys.argv[2], start_step=0, end_step=100, rows_per_step=4, tokenizer=sys.argv[3],
             direction="to_feminine", workers=2, shard_rows=4, progress=False,
             on_task_done=lambda k: __import__("time").sleep(0.2))
"""


@pytest.mark.slow
def test_two_workers_killed_with_sigkill_then_rerun_give_the_same_bytes(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(corpus), str(out), str(neox_tokenizer_path)],
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        markers = out / ".rewrite" / "rewrite" / "completions"
        while not list(markers.glob("0*")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the rewrite ended before it could be killed"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the parent and its two workers
        proc.wait()
    assert not (out / "manifest.json").exists()
    kept = {p.name: p.stat().st_mtime_ns for p in markers.iterdir()}
    steps = dict(start_step=0, end_step=100)
    # the markers are datatrove's: a task marked done is not run again
    parts = out / ".rewrite" / "parts"
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("0*.json")}
    redo = tmp_path / "redo"
    redo.mkdir()
    _rewrite(corpus, out, neox_tokenizer_path, workers=2, shard_rows=4,
             on_task_done=lambda k: (redo / str(k)).touch(), **steps)
    done = {int(p.name) for p in redo.iterdir()}
    assert 0 < len(kept) < 100 and len(done) == 100 - len(kept) and before  # only unfinished tasks
    assert not done & {int(name) for name in kept}
    reference = tmp_path / "reference"
    # other shard sizes, one process
    _rewrite(corpus, reference, neox_tokenizer_path, workers=1, **steps)
    for name in ("tail.bin", "tail.idx"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


def test_data_order_from_tail_answers_for_the_real_steps(feminine_tail: Path) -> None:
    from debias.data.order import DataOrder, StepOutOfRangeError

    order = DataOrder.from_tail(feminine_tail, vocab_size=50277)
    assert (order.first_step, order.last_step, order.rows_per_step) == (10, 59, RPS)
    np.testing.assert_array_equal(order.step(11), _rows(feminine_tail / "tail", RPS, RPS))
    with pytest.raises(StepOutOfRangeError, match="steps 10..59"):
        order.step(9)


def test_a_second_rewrite_into_a_busy_folder_stops(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    import fcntl
    import os

    out = tmp_path / "busy"
    out.mkdir()
    held = os.open(out, os.O_RDONLY)  # the lock is an flock on the folder itself
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(RuntimeError, match="another rewrite is running"):
            _rewrite(corpus, out, neox_tokenizer_path, end_step=12)
    finally:
        os.close(held)
    assert list(out.iterdir()) == []
