"""The data cannot drift unseen: the synthetic corpus, its probe set and a small data order are
pinned by sha256, so a refactor that changes no behaviour provably changes no data; and the
demo's results (docs/results.md) record the data they were made from, which must be what main
builds for the demo's config now.

(A module move once renamed the corpus's random streams, which changed every corpus, tokenizer,
data order and probe set while no test noticed and the README kept results of the old data.)
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest

from debias.config import DataConfig, ScheduleConfig, SyntheticConfig
from debias.data.corpus import run_data_order
from debias.data.fetch import sha256_file
from debias.eval.tasks.synthetic.reader import data_sources
from debias.synthetic.stories import PROBE_STREAM, STORY_STREAM, generate_stories

REPO = Path(__file__).resolve().parents[1]

# sha256 of the first 20 stories of the study's corpus (rate 0.8, seed 0), joined by "\n\0"
STORIES = "666acf2ad46ddfdf8d586546f54050d1c2f744faef59e7c24de398d7fd1441ff"
# the probe set the demo scores: every template of every occupation, probe seed 0
PROBES = "b11ea7e04d5b5c811047fb03be88369a7daa8b765e5153d7d0eb92eba1b2ae12"
# a small data order of 300 stories: its rows, its index and the BPE trained on it
ORDER_BIN = "bbbbb606e77620a05ba7749ca4e8f98418f21394e02b1759dc5095cc1e6a4368"
ORDER_IDX = "1f52f825e482edaddcecfcf840b3dab64fca5c4e6c7ab3072da97c694a94ab8e"
ORDER_TOKENIZER = "b5016577d44b55739a71b437df7665fada76092fdff477f23621c0d788e38134"


def test_the_random_streams_are_named_for_the_data_not_the_module() -> None:
    assert STORY_STREAM == "pythia-debias synthetic story" and PROBE_STREAM == "pythia-debias synthetic probes"
    assert "." not in STORY_STREAM + PROBE_STREAM  # not a module path that a move would change


def test_the_corpus_and_the_probes_are_the_pinned_ones() -> None:
    stories = [s.text for s in itertools.islice(generate_stories(SyntheticConfig(stereotype_rate=0.8)), 20)]
    assert hashlib.sha256("\n\0".join(stories).encode()).hexdigest() == STORIES
    assert data_sources({"probe_seed": 0, "n_per_occupation": 20}) == {"debias.synthetic.stories.probe_pairs": PROBES}


def test_a_small_data_order_is_the_pinned_one(tmp_path: Path) -> None:
    data = DataConfig(name="identity", vocab_size=512, seq_length=32, rows_per_step=4,
                      synthetic=SyntheticConfig(num_documents=300, stereotype_rate=0.8))
    prefix, tokenizer = run_data_order(data, ScheduleConfig(total_steps=50, checkpoint_interval=10), 0, tmp_path,
                                       progress=False)
    assert (sha256_file(prefix.with_suffix(".bin")), sha256_file(prefix.with_suffix(".idx")),
            sha256_file(tokenizer)) == (ORDER_BIN, ORDER_IDX, ORDER_TOKENIZER)


@pytest.mark.slow
def test_the_readmes_results_were_made_from_the_data_main_builds(tmp_path: Path) -> None:
    """docs/results.md records the corpus, tokenizer, probes and each seed's data order its results
    were made from (``eval.report.readme``); main must build the same for the demo's config.
    Rebuilds the first seed's data order (about 10 s)."""
    from dataclasses import asdict

    from debias.eval.report.readme import recorded_identity
    from debias.study.identity import data_identity
    from debias.study.run import compose_study, to_study_config

    recorded = recorded_identity(REPO / "docs" / "results.md")
    assert recorded is not None, "docs/results.md records no data identity: run make demo, then make readme-results"
    cfg = to_study_config(compose_study(["+experiment=mini-suite", f"runs_root={tmp_path}"]))
    seed = cfg.study.seeds[0]
    prefix, _ = run_data_order(cfg.data, cfg.schedule, seed, tmp_path / "data_orders", progress=False)
    built = data_identity({seed: prefix}, asdict(cfg.eval.tasks.synthetic))
    assert (built["corpus"], built["tokenizer"], built["probes"]) == (
        recorded["corpus"], recorded["tokenizer"], recorded["probes"]), "main builds other data than docs/results.md's"
    assert built["orders"][str(seed)] == recorded["orders"][str(seed)]
    assert sorted(map(int, recorded["orders"])) == sorted(cfg.study.seeds)  # every seed the demo runs
