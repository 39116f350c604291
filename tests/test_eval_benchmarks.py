"""Benchmark readers: the real files parse to the published counts; malformed rows stop with the
file and line named; the lm-eval task folder indexes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from debias.eval.tasks.common import BenchmarkFormatError
from debias.eval.tasks.crows_pairs.reader import CROWS_FILE, crows_pairs_docs
from debias.eval.tasks.heldout.reader import heldout_docs
from debias.eval.tasks.lambada.reader import lambada_docs
from debias.eval.tasks.synthetic.reader import synthetic_probe_docs
from debias.eval.tasks.winobias import reader as winobias
from debias.eval.tasks.winogender.reader import WINOGENDER_SENTENCES, winogender_docs


def test_crows_pairs_counts() -> None:
    docs = crows_pairs_docs()
    assert len(docs) == 1508
    assert len(crows_pairs_docs(bias_type="gender")) == 262
    assert len({d["id"] for d in docs}) == 1508


def test_winobias_pairs_and_irregular_list() -> None:
    pairs = winobias.load_pairs()
    listed = winobias.irregular_pairs()
    assert len(pairs) + len(listed) == 1584 and 15 <= len(listed) <= 25
    assert {p.stereotype for p in pairs} == {"female", "male"}
    first = next(p for p in pairs if p.id == "winobias.type1.dev.1")
    assert first.pro == "The developer argued with the designer because he did not like the design."
    assert first.anti == "The developer argued with the designer because she did not like the design."
    assert (first.referent, first.other, first.stereotype, first.pronoun_pro) == ("developer", "designer", "male", "he")
    assert first.female_sentence == first.anti


def test_every_listed_irregular_pair_really_differs_in_more_than_the_pronoun(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the list, loading stops at exactly the listed lines (so the list is neither stale nor short)."""
    listed = list(winobias.irregular_pairs())
    for pair in listed:
        others = tuple(p for p in listed if p != pair)
        monkeypatch.setattr(winobias, "irregular_pairs", lambda others=others: others)
        with pytest.raises(BenchmarkFormatError) as err:
            winobias.load_pairs([pair.type], [pair.split])
        assert f":{pair.line}:" in str(err.value)


def test_winogender_items() -> None:
    docs = winogender_docs()
    assert len(docs) == 240 and len({d["occupation"] for d in docs}) == 60
    assert {d["wording"] for d in docs} == {"someone", "participant"}
    doc = next(d for d in docs if d["id"] == "winogender.technician.customer.1")
    assert doc["female"] == "The technician told the customer that she could pay with cash."
    assert doc["pct_female"] == pytest.approx(40.34)


def test_lambada_split_matches_lm_eval() -> None:
    docs = lambada_docs()
    assert len(docs) == 5153
    d = docs[0]
    assert not d["context"].endswith(" ") and d["target"].startswith(" ") and " " not in d["target"][1:]
    sub = lambada_docs(limit=100, seed=3)
    assert len(sub) == 100 and sub == lambada_docs(limit=100, seed=3)


def test_heldout_chunks_strip_gutenberg_boilerplate() -> None:
    docs = heldout_docs(chunk_chars=4000)
    assert len(docs) > 300
    assert all(d["n_bytes"] == len(d["text"].encode()) for d in docs)
    assert not any("*** START OF" in d["text"] or "use of anyone anywhere" in d["text"] for d in docs)


def test_synthetic_probes_shape() -> None:
    docs = synthetic_probe_docs()
    assert len(docs) == 480 and {d["stereotype"] for d in docs} == {"female", "male"}
    assert all(d["pro"] != d["anti"] for d in docs)


# ---------------------------------------------------------------- malformed rows
def test_crows_pairs_empty_sentence(tmp_path: Path, data_dir: Path) -> None:
    lines = (data_dir / CROWS_FILE).read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = '3,,"The girl was sprawled out.",stereo,race-color,"[]",a3,"[]"\n'
    bad = tmp_path / "crows.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=rf"{bad}:5: empty sent_more"):
        crows_pairs_docs(bad)


def test_crows_pairs_unknown_bias_type(tmp_path: Path) -> None:
    bad = tmp_path / "crows.csv"
    bad.write_text(",sent_more,sent_less,stereo_antistereo,bias_type\n0,A b.,C d.,stereo,gender\n1,E f.,G h.,stereo,gendr\n")
    with pytest.raises(BenchmarkFormatError, match=rf"{bad}:3: bias_type is 'gendr'"):
        crows_pairs_docs(bad)


def test_lambada_bad_json_line(tmp_path: Path) -> None:
    bad = tmp_path / "lambada.jsonl"
    bad.write_text('{"text": "one two three"}\n{"text": "four five"}\n{"txt": "oops"}\n')
    with pytest.raises(BenchmarkFormatError, match=rf"{bad}:3: not a JSON object"):
        lambada_docs(bad)


def test_winogender_bad_sentence_id(tmp_path: Path, data_dir: Path) -> None:
    lines = (data_dir / WINOGENDER_SENTENCES).read_text(encoding="utf-8").splitlines(keepends=True)
    lines[7] = "technician.customer.male.txt\tThe technician told the customer that he had completed the repair.\n"
    bad = tmp_path / "all_sentences.tsv"
    bad.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=rf"{bad}:8: expected"):
        winogender_docs(bad)


def _winobias_copy(tmp_path: Path, data_dir: Path) -> Path:
    root = tmp_path / "wino"
    shutil.copytree(data_dir / "winobias" / "data", root / "data", ignore=shutil.ignore_patterns("conll_format"))
    return root


def test_winobias_pair_with_an_extra_word(tmp_path: Path, data_dir: Path) -> None:
    root = _winobias_copy(tmp_path, data_dir)
    path = root / "data" / "anti_stereotyped_type1.txt.dev"
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace(" because ", " just because ")
    path.write_text("".join(lines))
    with pytest.raises(BenchmarkFormatError) as err:
        winobias.load_pairs([1], ["dev"], root=root)
    message = str(err.value)
    assert f"{path}:5:" in message and "winobias_irregular_pairs.tsv" in message


def test_winobias_line_without_brackets(tmp_path: Path, data_dir: Path) -> None:
    root = _winobias_copy(tmp_path, data_dir)
    path = root / "data" / "pro_stereotyped_type2.txt.test"
    lines = path.read_text().splitlines(keepends=True)
    lines[9] = lines[9].replace("[", "").replace("]", "")
    path.write_text("".join(lines))
    with pytest.raises(BenchmarkFormatError, match=rf"{path}:10: needs a bracketed referent"):
        winobias.load_pairs([2], ["test"], root=root)


def test_heldout_non_utf8_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "book.txt"
    bad.write_bytes(b"First line.\nSecond \x93quoted\x94 line.\n")
    with pytest.raises(BenchmarkFormatError, match=rf"{bad}:2: not UTF-8 .*iconv"):
        heldout_docs(bad)


def test_lm_eval_indexes_the_task_folder() -> None:
    from lm_eval.tasks import TaskManager

    from debias.eval.suite import TASKS, TASKS_DIR

    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    names = {"debias_crows_pairs_english", "debias_crows_pairs_english_gender", "debias_winobias_preference",
             "debias_winobias_coreference", "debias_winogender", "debias_synthetic_probes", "debias_lambada",
             "debias_heldout_perplexity"}
    assert names <= set(manager.all_subtasks)
    assert {"debias_bias", "debias_lm"} <= set(manager.all_tags)
    assert len(TASKS) == len(names)


def test_heldout_reads_jsonl_documents(tmp_path: Path) -> None:
    corpus = tmp_path / "heldout.jsonl"
    corpus.write_text('{"text": "The cook smiled.\\n\\nShe left."}\n{"text": "The driver waved."}\n{"txt": 1}\n')
    with pytest.raises(BenchmarkFormatError, match=rf"{corpus}:3:"):
        heldout_docs(corpus)
    corpus.write_text('{"text": "The cook smiled.\\n\\nShe left."}\n{"text": "The driver waved."}\n')
    docs = heldout_docs(corpus, chunk_chars=1000)
    assert [d["text"] for d in docs] == ["The cook smiled.\n\nShe left.\n\nThe driver waved."]
