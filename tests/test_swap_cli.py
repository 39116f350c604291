"""The swap command line: config composition and validation, text and JSONL files, errors a
user can act on, and nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from debias.core.config_errors import ConfigError
from debias.swap.cli import CONF_DIR, SwapFileConfig, SwapFileError, swap_file
from debias.swap.swapper import PronounSwapper

REPO = Path(__file__).resolve().parents[1]


def compose_cfg(*overrides: str) -> SwapFileConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="swap_file", overrides=list(overrides))
    return OmegaConf.to_object(cfg)


@pytest.fixture(scope="module")
def fem() -> PronounSwapper:
    return PronounSwapper("to_feminine")


def test_config_composes_with_defaults():
    cfg = compose_cfg("input=a.txt", "output=b.txt")
    assert isinstance(cfg, SwapFileConfig)
    assert cfg.swap.direction == "to_feminine" and cfg.swap.spacy_model is None
    assert cfg.swap.context_words == 4 and cfg.text_field == "text" and cfg.format == "auto"
    assert compose_cfg("swap.direction=both").swap.direction == "both"


def test_every_problem_is_reported_at_once(tmp_path):
    existing = tmp_path / "out.txt"
    existing.write_text("x")
    cfg = compose_cfg(f"input={tmp_path / 'missing.txt'}", f"output={existing}", "swap.direction=sideways",
                      "format=csv", "swap.batch_size=0")
    with pytest.raises(ConfigError) as err:
        swap_file(cfg)
    text = str(err.value)
    for part in ("no such file", "overwrite=true", "sideways", "format='csv'", "batch_size=0"):
        assert part in text
    assert len(err.value.problems) == 5
    assert compose_cfg().problems() == ["input= is required (a .txt or .jsonl file)",
                                        "output= is required (the file to write)"]


def test_text_file_keeps_every_byte_but_the_pronouns(tmp_path, fem):
    text = "\ufeff" + ("He lifted his hat.\r\nThe hat was his.\r\n\r\n\r\n"
                      "  Then he smiled\tat himself —  “his”  café.\n\n") * 40
    src, dest = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(text.encode("utf-8"))
    cfg = SwapFileConfig(input=str(src), output=str(dest))
    cfg.swap.batch_size = 7  # several batches
    totals = swap_file(cfg, swapper=fem)
    expected = text.replace("He lifted his hat", "She lifted her hat").replace("was his.", "was hers.")
    expected = expected.replace("then he smiled", "then she smiled").replace("Then he", "Then she")
    expected = expected.replace("himself", "herself").replace("“his”", "“hers”")
    assert dest.read_bytes() == expected.encode("utf-8")
    assert dest.read_bytes().decode("utf-8") == fem.swap(text)  # paragraphs give the whole-file result
    assert totals["counts"]["his"] == {"seen": 120, "swapped": 120, "left": {}}
    assert totals["format"] == "txt" and totals["spacy_model"].startswith("en_core_web_sm")


def test_jsonl_swaps_the_text_field_and_keeps_the_rest(tmp_path):
    src, dest, counts = tmp_path / "docs.jsonl", tmp_path / "out.jsonl", tmp_path / "counts.json"
    docs = [{"id": 1, "body": "She gave him her hat.", "meta": {"lang": "en"}},
            {"id": 2, "body": "The pen is hers, not his. ü"}]
    src.write_text(json.dumps(docs[0]) + "\n\n" + json.dumps(docs[1], ensure_ascii=False) + "\r\n", encoding="utf-8")
    cfg = compose_cfg(f"input={src}", f"output={dest}", "text_field=body", "swap.direction=both",
                      f"counts_file={counts}")
    totals = swap_file(cfg)
    lines = dest.read_bytes().decode("utf-8").split("\n")
    assert json.loads(lines[0]) == {"id": 1, "body": "He gave her his hat.", "meta": {"lang": "en"}}
    assert lines[1] == ""
    assert json.loads(lines[2]) == {"id": 2, "body": "The pen is his, not hers. ü"}
    assert lines[2].endswith("\r") and lines[3] == ""
    assert totals["documents"] == 2
    assert totals["counts"]["her"] == {"seen": 1, "swapped": 1, "left": {}}
    assert json.loads(counts.read_text())["counts"] == totals["counts"]


def _no_output(dest: Path) -> bool:
    return not dest.exists() and not list(dest.parent.glob(f".{dest.name}*"))


def test_non_utf8_input_names_the_file_line_and_fix(tmp_path, fem):
    src, dest = tmp_path / "latin.txt", tmp_path / "out.txt"
    src.write_bytes(b"He paid his bill.\nIt cost \xa3 5.\n")
    with pytest.raises(SwapFileError, match=r"latin\.txt: line 2 is not UTF-8 .*iconv"):
        swap_file(SwapFileConfig(input=str(src), output=str(dest)), swapper=fem)
    assert _no_output(dest)


def test_malformed_jsonl_names_the_line_and_the_field(tmp_path, fem):
    dest = tmp_path / "out.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "He left."}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(SwapFileError, match=r"bad\.jsonl: line 2 is not JSON"):
        swap_file(SwapFileConfig(input=str(bad), output=str(dest)), swapper=fem)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"content": "He left."}\n', encoding="utf-8")
    with pytest.raises(SwapFileError, match=r"line 1 has no string field 'text' .*text_field=NAME"):
        swap_file(SwapFileConfig(input=str(missing), output=str(dest)), swapper=fem)
    assert _no_output(dest)


def test_output_is_replaced_only_when_asked(tmp_path, fem):
    src, dest = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("He left.", encoding="utf-8")
    dest.write_text("old", encoding="utf-8")
    with pytest.raises(ConfigError, match="overwrite=true"):
        swap_file(SwapFileConfig(input=str(src), output=str(dest)), swapper=fem)
    assert dest.read_text() == "old"
    swap_file(SwapFileConfig(input=str(src), output=str(dest), overwrite=True), swapper=fem)
    assert dest.read_text() == "She left."
    with pytest.raises(ConfigError, match="is the input file"):
        swap_file(SwapFileConfig(input=str(src), output=str(src), overwrite=True), swapper=fem)


@pytest.mark.slow
def test_command_line_end_to_end(tmp_path):
    src, dest = tmp_path / "book.txt", tmp_path / "book.both.txt"
    src.write_text("He gave her his book.\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "debias.swap.cli", f"input={src}", f"output={dest}",
                          "swap.direction=both"], cwd=tmp_path, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    assert dest.read_text(encoding="utf-8") == "She gave him her book.\n"
    assert "swap book.txt" in run.stderr  # the progress bar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.both.txt", "book.txt"]  # no Hydra litter
    bad = subprocess.run([sys.executable, "-m", "debias.swap.cli", f"input={src}", f"output={dest}"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert bad.returncode == 2 and "overwrite=true" in bad.stderr


# -- issue 24, item 13: bounded memory, the same output ------------------------------------------
def _novel_as_one_line(data_dir: Path, chars: int) -> str:
    text = (data_dir / "gutenberg_corpus" / "heldout" / "pg1661.txt").read_text(encoding="utf-8")
    return " ".join(text.split())[:chars] + "\n"


def test_a_one_line_file_is_swapped_in_bounded_pieces_with_the_same_output(tmp_path: Path, fem: PronounSwapper,
                                                                           data_dir: Path) -> None:
    """A 200 MB file of one line took 4.4 GB: it was one piece. Now no piece passes the limit, each
    cut lies outside every tagging window, and the output is the whole text's, character for character."""
    from tqdm import tqdm

    from debias.swap.pieces import paragraphs

    text = _novel_as_one_line(data_dir, 120_000)
    path = tmp_path / "one-line.txt"
    path.write_text(text, encoding="utf-8")
    with tqdm(disable=True) as bar:
        pieces = list(paragraphs(path, bar, fem, limit=4_000))
    assert "".join(pieces) == text and len(pieces) >= 30
    assert max(map(len, pieces)) <= 4_000
    whole = fem.swap(text)
    assert whole != text  # the novel's pronouns were swapped
    assert "".join(fem.swap_batch(pieces)) == whole


def test_blocks_never_split_a_character(tmp_path: Path) -> None:
    from tqdm import tqdm

    from debias.swap.pieces import lines

    text = ("é" * 7 + "漢字" + " ") * 50 + "\nsecond line\n"
    path = tmp_path / "utf8.txt"
    path.write_text(text, encoding="utf-8")
    with tqdm(disable=True) as bar:
        blocks = list(lines(path, bar, block=16))
    assert "".join(t for _, t, _ in blocks) == text
    assert all(len(t.encode("utf-8")) <= 16 + 3 for _, t, _ in blocks)
    assert [n for n, _, whole in blocks if whole] == [1, 2]


def test_batches_are_bounded_by_characters_as_well_as_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from debias.swap import cli

    monkeypatch.setattr(cli, "MAX_BATCH_CHARS", 10)
    assert [len(b) for b in cli._batches(iter(["aaaa"] * 7), 256)] == [2, 2, 2, 1]
    assert [len(b) for b in cli._batches(iter(["a" * 30, "b"]), 256)] == [1, 1]  # one over the limit alone
    assert [len(b) for b in cli._batches(iter(["a"] * 5), 2)] == [2, 2, 1]


def test_a_cut_is_never_inside_a_tagging_window(tmp_path: Path, fem: PronounSwapper) -> None:
    """Cut at the last space before the limit, 'was his | book' would tag 'his' without the word after
    it and write 'hers'; the cut moves before the window, and the output is the whole text's."""
    from tqdm import tqdm

    from debias.swap.pieces import paragraphs

    limit, tail = 400, "and the choice was his "
    filler = "The rain fell on the quiet town all day long. "
    head = (filler * 20)[: limit - len(tail)]
    head = head[: head.rfind(" ") + 1].ljust(limit - len(tail))
    text = head + tail + "book to keep. " + filler * 5 + "\n"
    path = tmp_path / "edge.txt"
    path.write_text(text, encoding="utf-8")
    with tqdm(disable=True) as bar:
        pieces = list(paragraphs(path, bar, fem, limit=limit))
    assert len(pieces) == 2 and not pieces[0].endswith("his ")  # the last space before the limit was refused
    assert "".join(fem.swap_batch(pieces)) == fem.swap(text)
    assert "was her book" in fem.swap(text)
