"""Every config file composes, every Pythia size has its real shape, and a config's problems are
reported all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from debias.config_errors import ConfigError
from train import compose, make_plan
from train.config import CONF_DIR
from train.engine import ds_config
from train.model import hf_config
from train.plan import to_train_config
from train.study import plan_study

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
DEEPSPEED = sorted(p.stem for p in (CONF_DIR / "deepspeed").glob("*.yaml"))

# Parameter counts of the released Pythia checkpoints (embeddings included).
PYTHIA_PARAMETERS = {
    "pythia-14m": 14_067_712, "pythia-31m": 30_494_720, "pythia-70m": 70_426_624, "pythia-160m": 162_322_944,
    "pythia-410m": 405_334_016, "pythia-1b": 1_011_781_632, "pythia-1.4b": 1_414_647_808,
    "pythia-2.8b": 2_775_208_960, "pythia-6.9b": 6_857_302_016, "pythia-12b": 11_846_072_320,
}


def test_every_pythia_size_is_configured() -> None:
    assert set(PYTHIA_PARAMETERS) <= set(MODELS)
    assert len([m for m in MODELS if m.startswith("mini-")]) >= 2


@pytest.mark.parametrize("name", MODELS)
def test_model_configs(name: str) -> None:
    cfg = to_train_config(compose([f"model={name}"])).model
    assert cfg.name == name and not cfg.problems()
    if name in PYTHIA_PARAMETERS:
        assert cfg.num_parameters() == PYTHIA_PARAMETERS[name]
        assert cfg.hub_name == f"EleutherAI/{name}-deduped"
        assert cfg.vocab_size >= 50_304 and cfg.rotary_pct == 0.25
        config = hf_config(cfg)  # the HF config builds, and the meta-device model has the same count
        with torch.device("meta"):
            from transformers import GPTNeoXForCausalLM

            model = GPTNeoXForCausalLM(config)
        assert sum(p.numel() for p in model.parameters()) == PYTHIA_PARAMETERS[name]


@pytest.mark.parametrize("name", DEEPSPEED)
def test_deepspeed_configs(name: str) -> None:
    cfg = to_train_config(compose([f"deepspeed={name}", "data.rows_per_step=64"]))
    ds = cfg.deepspeed
    assert not ds.problems() and ds.zero_stage == int(name[4])
    out = ds_config(ds, cfg.optim, 1e-3, 64)
    assert out["train_micro_batch_size_per_gpu"] * out["gradient_accumulation_steps"] == 64
    assert out["zero_optimization"]["stage"] == ds.zero_stage
    assert out["optimizer"]["params"]["betas"] == [0.9, 0.95] and out["optimizer"]["params"]["weight_decay"] == 0.1
    assert out["gradient_clipping"] == 1.0
    if name.endswith("-cpu"):
        assert ds.device == "cpu" and ds.precision == "fp32" and out["optimizer"]["params"]["torch_adam"]
    else:
        assert ds.device == "gpu" and out["bf16"]["enabled"] and ds.dist_backend == "nccl"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes(name: str, tmp_path: Path) -> None:
    cfg = compose([f"+experiment={name}", f"runs_root={tmp_path}"])
    typed = to_train_config(cfg)
    if name.startswith("pythia-"):
        assert typed.model.name == name.rsplit("-", 1)[0]
        assert typed.data.source == "indexed" and typed.schedule.total_steps == 143_000
        assert typed.source.hub == typed.model.hub_name and typed.source.optimizer == "fresh"
        # here nothing is missing but what a GPU user supplies: the Pile's path and a GPU
        with pytest.raises(ConfigError) as err:
            make_plan(cfg)
        for problem in err.value.problems:
            assert "indexed_path" in problem or "CUDA" in problem or "flash" in problem, problem
    elif typed.mode == "study":
        overrides = [f"+experiment={name}", f"runs_root={tmp_path}"]
        runs = plan_study(typed, overrides)
        assert len(runs) == len(typed.study.seeds) * (1 + len(typed.study.arms))
        for seed in typed.study.seeds:  # each seed's baseline could start now; its arms wait for it
            plan = make_plan(runs[(seed, "none")])
            assert plan.mode == "pretrain" and plan.cfg.seed == seed
    else:
        plan = make_plan(cfg)
        assert plan.mode == "pretrain" and plan.start_step == 0 and plan.end_step == typed.schedule.total_steps


def test_arm_can_be_switched_on_the_command_line(tmp_path: Path) -> None:
    typed = to_train_config(compose(["+experiment=pythia-160m-tail7", "intervention=control7"]))
    assert typed.intervention.arm == "control" and typed.intervention.fraction == 0.93
    # the 79% and 93% checkpoints of Pythia's schedule
    for arm, start in (("tail7", 133_000), ("tail21", 113_000)):
        cfg = compose(["+experiment=pythia-160m-tail7", f"intervention={arm}", "deepspeed=zero1-cpu",
                       "data.indexed_path=/nowhere/document", f"runs_root={tmp_path}"])
        with pytest.raises(ConfigError, match="/nowhere/document.idx does not exist"):
            make_plan(cfg)  # no such data, but the steps resolve:
        from debias.intervention import intervention_steps

        typed = to_train_config(cfg)
        assert intervention_steps(typed.intervention, typed.schedule) == (start, 143_000)


def test_scaled_schedule_puts_79_and_93_percent_on_checkpoints() -> None:
    from debias.intervention import intervention_steps

    typed = to_train_config(compose(["+experiment=mini-synthetic", "intervention=tail21"]))
    assert intervention_steps(typed.intervention, typed.schedule) == (1130, 1430)
    typed = to_train_config(compose(["+experiment=mini-synthetic", "intervention=control7"]))
    assert intervention_steps(typed.intervention, typed.schedule) == (1330, 1430)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    cfg = compose([
        "+experiment=mini-test", f"runs_root={tmp_path}", "intervention=tail7",
        "intervention.fraction=null", "intervention.start_step=43",  # not a checkpoint step
        "deepspeed.micro_batch_size=3",  # 4 rows per step are not 3 x accumulation
        "model.vocab_size=100",  # the data's BPE has 320 tokens
        "deepspeed.zero_stage=3",
        "optim.betas=[0.9]",
    ])
    with pytest.raises(ConfigError) as err:
        make_plan(cfg)
    text = str(err.value)
    for needle in ("start_step=43 is not a checkpoint step", "rows_per_step=4 is not", "model.vocab_size=100",
                   "zero_stage=3", "optim.betas"):
        assert needle in text, text
    assert len(err.value.problems) >= 5


def test_mode_must_match_the_arm(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mode=pretrain trains the baseline"):
        make_plan(compose(["+experiment=mini-test", "mode=pretrain", "intervention=tail7", f"runs_root={tmp_path}"]))
    with pytest.raises(ConfigError, match="mode=resume needs an intervention"):
        make_plan(compose(["+experiment=mini-test", "mode=resume", f"runs_root={tmp_path}"]))
    with pytest.raises(ConfigError, match="no baseline run at"):
        make_plan(compose(["+experiment=mini-test", "intervention=tail7", f"runs_root={tmp_path}"]))


def test_config_error_keeps_its_problems_across_processes() -> None:
    """The study runs each job in a worker process: its ConfigError must arrive whole."""
    import pickle

    err = pickle.loads(pickle.dumps(ConfigError(["first problem", "second problem"], where="training config")))
    assert err.problems == ["first problem", "second problem"] and err.where == "training config"
    assert str(err).startswith("2 problem(s) with the training config")
