"""A study over released runs of several seeds, PolyPythias-style, through the study's launcher:
no baseline is trained, and each seed's arm resumes its own GPT-NeoX state and reads its own
seed's data order (index maps over one token corpus)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from debias.data.order import DataOrder
from debias.study import compose_study, run_study
from debias.train import compose
from debias.train.model import build_model
from debias.train.plan import to_train_config
from tests.index_maps_files import write_maps, write_tokens
from tests.neox_files import write_neox_checkpoint

SEEDS, START = (1, 2), 45


def test_each_seed_resumes_its_own_state_on_its_own_order(tmp_path: Path) -> None:
    docs = write_tokens(tmp_path / "tokens", docs=400)
    rows = {seed: write_maps(tmp_path / "seeds" / f"seed{seed}", docs, seq=32, seed=seed) for seed in SEEDS}
    model_cfg = to_train_config(compose(["+experiment=mini-test", "model.vocab_size=50304"])).model
    masters = {}
    for seed in SEEDS:
        model = build_model(model_cfg, seed)
        masters[seed] = {n: p.detach().clone() for n, p in model.named_parameters()}
        zeros = {n: torch.zeros_like(p) for n, p in masters[seed].items()}
        write_neox_checkpoint(tmp_path / "neox" / f"seed{seed}", masters[seed], zeros, zeros,
                              num_layers=model_cfg.num_layers, iteration=START, skipped=0)
    overrides = [
        "+experiment=mini-test", f"runs_root={tmp_path / 'runs'}", "model.vocab_size=50304",
        f"study.seeds=[{','.join(map(str, SEEDS))}]", "study.arms=[control7]", "study.evaluate=false",
        "study.report=false", "study.parallel=2", "intervention.end_step=46",
        "data.source=index_maps", f"data.indexed_path={tmp_path / 'tokens'}", f"data.index_maps_root={tmp_path / 'seeds'}",
        "data.tokenizer=neox-20b", "source.optimizer=neox", f"source.neox={tmp_path / 'neox'}/seed${{seed}}",
        "save.deepspeed_checkpoints=false",
    ]
    result = run_study(compose_study(overrides), overrides)
    assert sorted(result.run_dirs) == [(s, "control7") for s in SEEDS]  # no baseline trained
    assert set(result.jobs) == {f"train s{s} control7" for s in SEEDS}
    for seed in SEEDS:
        run_dir = result.run_dirs[(seed, "control7")]
        record = json.loads((run_dir / "run.json").read_text())
        assert record["resumed_from"]["loaded_from"] == str(tmp_path / "neox" / f"seed{seed}")
        order = DataOrder(record["data_order"], 4)
        assert order.first_step == START
        assert np.array_equal(order.step(START), rows[seed][START * 4:(START + 1) * 4])
        saved = load_file(run_dir / "checkpoints/step45/model.safetensors")
        assert torch.equal(saved["gpt_neox.embed_in.weight"], masters[seed]["gpt_neox.embed_in.weight"])
    assert not np.array_equal(rows[1][START * 4:(START + 1) * 4], rows[2][START * 4:(START + 1) * 4])


def test_seeds_resuming_one_source_are_refused(tmp_path: Path) -> None:
    """Two seeds on one model or one optimizer state would be one run counted twice."""
    import pytest

    from debias.core.config_errors import ConfigError
    from debias.study.run import plan_study, to_study_config

    base = ["+experiment=polypythia-160m-tail21", f"runs_root={tmp_path}", "study.seeds=[0,4]",
            "study.arms=[tail21]", "data.indexed_path=/pile/tokens", "data.index_maps_root=/pile/seeds"]
    for extra, what in ((["source.hub=EleutherAI/pythia-160m"], "model EleutherAI/pythia-160m"),
                        (["source.neox=/ckpt/step113000"], "GPT-NeoX checkpoint /ckpt/step113000")):
        overrides = [*base, *extra]
        with pytest.raises(ConfigError, match=f"seeds 0 and 4 both resume from the {what}: each seed needs its own"):
            plan_study(to_study_config(compose_study(overrides)), overrides)
