"""Every config file composes, every Pythia size has its real shape, and a config's problems are
reported all at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from debias.core.config_errors import ConfigError
from debias.train import compose, make_plan
from debias.train.compose_config import study_keys
from debias.train.config import CONF_DIR
from debias.train.engine import ds_config
from debias.train.model import hf_config
from debias.train.plan import to_train_config

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
DEEPSPEED = sorted(p.stem for p in (CONF_DIR / "deepspeed").glob("*.yaml"))
# the PolyPythias presets: ten-seed studies (composed by their own test, not one by one below)
POLYPYTHIAS = [f"polypythia-{size}-tail{tail}" for size in ("14m", "31m", "70m", "160m", "410m") for tail in (7, 21)]

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


# The base of the real-Pythia experiments names neither a model nor an arm: it composes with both given.
EXPERIMENT_ARGS = {"pythia-resume": ["model=pythia-410m", "intervention=tail7"]}


# The experiments that are whole studies (python -m debias.study): they set study.* and eval.* keys.
STUDIES = sorted(name for name in EXPERIMENTS if study_keys([f"+experiment={name}"]))


def test_the_suites_are_the_studies() -> None:
    assert STUDIES == sorted(["gutenberg-suite", "mini-quick", "mini-suite", "polypythia", *POLYPYTHIAS])


def test_a_study_composed_as_one_run_is_refused_with_the_study_command() -> None:
    with pytest.raises(ConfigError, match=r"experiment=mini-suite is a study \(it sets study\.\* and eval\.\*\): "
                       r"run it with python -m debias\.study \+experiment=mini-suite"):
        compose(["+experiment=mini-suite"])
    with pytest.raises(ConfigError) as err:
        make_plan(compose(["+experiment=mini-test", "+study.seeds=[1]"]))
    assert any(p.startswith("study:") for p in err.value.problems)
    assert any("python -m debias.study" in p for p in err.value.problems)
    assert "mode=study is gone" not in str(err.value)
    with pytest.raises(ConfigError, match="mode=study: the whole study is its own command"):
        compose(["mode=study", "eval=quick"])


@pytest.mark.parametrize("name", [e for e in EXPERIMENTS if e not in POLYPYTHIAS])
def test_every_experiment_composes(name: str, tmp_path: Path) -> None:
    if name in STUDIES:
        from debias.study.run import compose_study, plan_study, to_study_config

        overrides = [f"+experiment={name}", f"runs_root={tmp_path}"]
        study = to_study_config(compose_study(overrides))
        runs = plan_study(study, overrides)
        baselines = 1 if study.trains_baselines else 0  # a released model is its own baseline
        assert len(runs) == len(study.study.seeds) * (baselines + len(study.study.arms))
        for seed in study.study.seeds if baselines else ():  # each seed's baseline could start now
            plan = make_plan(runs[(seed, "none")])
            assert plan.mode == "pretrain" and plan.cfg.seed == seed
        return
    cfg = compose([f"+experiment={name}", f"runs_root={tmp_path}", *EXPERIMENT_ARGS.get(name, [])])
    typed = to_train_config(cfg)
    if name.startswith("pythia-"):
        assert typed.model.name == (name.rsplit("-", 1)[0] if name not in EXPERIMENT_ARGS else "pythia-410m")
        assert typed.data.source == "indexed" and typed.schedule.total_steps == 143_000
        assert typed.source.hub == typed.model.hub_name and typed.source.optimizer == "fresh"
        # here nothing is missing but what a GPU user supplies: the Pile's path and a GPU
        with pytest.raises(ConfigError) as err:
            make_plan(cfg)
        for problem in err.value.problems:
            assert "indexed_path" in problem or "CUDA" in problem or "flash" in problem, problem
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
        from debias.rewrite.intervention import intervention_steps

        typed = to_train_config(cfg)
        assert intervention_steps(typed.intervention, typed.schedule) == (start, 143_000)


def test_scaled_schedule_puts_79_and_93_percent_on_checkpoints() -> None:
    from debias.rewrite.intervention import intervention_steps

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


# Each pythia-<size>-tail<N> is the pythia-resume base with its model and arm; the micro-batch is the model's.
PYTHIA_EXPERIMENTS = {
    "pythia-70m-tail7": ("pythia-70m", "tail7", 16), "pythia-160m-tail7": ("pythia-160m", "tail7", 16),
    "pythia-410m-tail7": ("pythia-410m", "tail7", 8), "pythia-1.4b-tail7": ("pythia-1.4b", "tail7", 4),
    "pythia-1.4b-tail21": ("pythia-1.4b", "tail21", 4),
}


def test_every_pythia_experiment_is_listed() -> None:
    assert {e for e in EXPERIMENTS if e.startswith("pythia-")} == {*PYTHIA_EXPERIMENTS, "pythia-resume"}


@pytest.mark.parametrize("name", sorted(PYTHIA_EXPERIMENTS))
def test_pythia_experiments_resume_the_hub_model(name: str) -> None:
    model, intervention, micro = PYTHIA_EXPERIMENTS[name]
    typed = to_train_config(compose([f"+experiment={name}"]))
    assert (typed.model.name, typed.intervention.name, typed.deepspeed.micro_batch_size) == (model, intervention, micro)
    assert typed.model.micro_batch_size == micro
    assert (typed.schedule.total_steps, typed.schedule.checkpoint_interval, typed.schedule.log_spaced_checkpoints) == (
        143_000, 1_000, True)
    assert typed.data.name == "pile" and typed.deepspeed.name == "zero1-gpu" and typed.deepspeed.precision == "bf16"
    assert typed.source.hub == f"EleutherAI/{model}-deduped" and typed.source.revision is None
    assert typed.source.optimizer == "fresh" and typed.source.path is None
    assert typed.model.attn_implementation == "sdpa" and not typed.model.activation_checkpointing
    assert not typed.save.start_checkpoint and typed.save.deepspeed_keep == []
    assert typed.mode == "auto" and typed.data.rows_per_step == 1024


def test_micro_batch_follows_the_model() -> None:
    """Another size on a ready experiment, or any size on the base, takes that size's micro-batch."""
    assert to_train_config(compose(["+experiment=pythia-160m-tail7", "model=pythia-1.4b"])).deepspeed.micro_batch_size == 4
    typed = to_train_config(compose(["+experiment=pythia-resume", "model=pythia-2.8b", "intervention=control21"]))
    assert typed.deepspeed.micro_batch_size == 8 and typed.source.hub == "EleutherAI/pythia-2.8b-deduped"
    assert typed.intervention.arm == "control" and typed.intervention.fraction == 0.79
    # the command line still sets the micro-batch itself
    typed = to_train_config(compose(["+experiment=pythia-410m-tail7", "deepspeed.micro_batch_size=2"]))
    assert typed.deepspeed.micro_batch_size == 2 and typed.model.micro_batch_size == 8
    # off the GPU experiments the model's value is not used: the deepspeed config's micro-batch stays
    assert to_train_config(compose(["model=pythia-410m"])).deepspeed.micro_batch_size == 16


@pytest.mark.parametrize("missing", ["model", "intervention"])
def test_pythia_resume_needs_a_model_and_an_arm(missing: str) -> None:
    from hydra.errors import ConfigCompositionException

    given = {"model": "model=pythia-410m", "intervention": "intervention=tail7"}
    given.pop(missing)
    with pytest.raises(ConfigCompositionException, match=f"You must specify '{missing}'"):
        compose(["+experiment=pythia-resume", *given.values()])


# (overrides, config name) -> the schedule it composes to: total steps, checkpoint interval, log-spaced
SCHEDULES = [
    ([], "train", (1430, 10, True)),
    (["schedule=pythia"], "train", (143_000, 1_000, True)),
    (["schedule=test"], "train", (50, 5, True)),
    (["+experiment=mini-test"], "train", (50, 5, True)),
    (["+experiment=mini-synthetic"], "train", (1430, 10, True)),
    (["+experiment=mini-gutenberg"], "train", (1430, 10, True)),
    (["+experiment=mini-suite"], "study", (1430, 10, True)),
    (["+experiment=pythia-70m-tail7"], "train", (143_000, 1_000, True)),
    (["+experiment=pythia-70m-tail7", "schedule.total_steps=100000"], "train", (100_000, 1_000, True)),
    ([], "rewrite", (143_000, 1_000, True)),
    (["schedule=pythia-scaled"], "rewrite", (1430, 10, True)),
]


@pytest.mark.parametrize(("overrides", "config_name", "expected"), SCHEDULES)
def test_schedule_group(overrides: list[str], config_name: str, expected: tuple[int, int, bool]) -> None:
    import debias.rewrite.cli  # noqa: F401  (registers the rewrite's base config)
    import debias.study.config  # noqa: F401  (and the study's)

    s = compose(overrides, config_name=config_name).schedule
    assert (s.total_steps, s.checkpoint_interval, s.log_spaced_checkpoints) == expected


def test_every_schedule_config_is_valid() -> None:
    from debias.config import ScheduleConfig

    names = sorted(p.stem for p in (CONF_DIR / "schedule").glob("*.yaml"))
    assert names == ["pythia", "pythia-scaled", "test"]
    for name in names:
        node = compose([f"schedule={name}"]).schedule
        schedule = ScheduleConfig(**node)
        assert not schedule.problems()
        assert schedule.checkpoint_steps()[:4] == [0, 1, 2, 4] and schedule.checkpoint_steps()[-1] == schedule.total_steps


def test_crows_pairs_gender_task_is_the_full_task_on_gender_pairs() -> None:
    """The gender YAML includes the full one: as lm-eval loads it, only its name and bias_type differ,
    and lm-eval's TaskManager builds it from our folder with the 262 gender pairs and the same metrics."""
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml

    from debias.eval.suite import TASKS_DIR

    full = load_yaml(TASKS_DIR / "crows_pairs" / "crows_pairs_english.yaml", resolve_func=False)
    gender = load_yaml(TASKS_DIR / "crows_pairs" / "crows_pairs_english_gender.yaml", resolve_func=False)
    assert gender == {**full, "task": "debias_crows_pairs_english_gender",
                      "dataset_kwargs": {**full["dataset_kwargs"], "bias_type": "gender"}}
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    tasks = manager.load_task_or_group(["debias_crows_pairs_english", "debias_crows_pairs_english_gender"])
    docs = {name: list(task.eval_docs) for name, task in tasks.items()}
    assert len(docs["debias_crows_pairs_english"]) == 1508 and len(docs["debias_crows_pairs_english_gender"]) == 262
    assert docs["debias_crows_pairs_english_gender"] == [d for d in docs["debias_crows_pairs_english"]
                                                         if d["bias_type"] == "gender"]
    metrics = {name: [m["metric"] for m in task.config.metric_list] for name, task in tasks.items()}
    assert metrics["debias_crows_pairs_english_gender"] == metrics["debias_crows_pairs_english"] == [
        "likelihood_diff", "pct_stereotype"]


def _config_classes() -> list[type]:
    """Every dataclass reachable from the apps' structured configs (train, rewrite, swap, eval, report, study)."""
    import dataclasses
    import typing

    from debias.eval.config import EvaluateAppConfig, ReportAppConfig
    from debias.rewrite.cli import RewriteConfig
    from debias.study.config import StudyAppConfig
    from debias.swap.cli import SwapFileConfig
    from debias.train.config import TrainConfig

    seen: list[type] = []
    todo: list[type] = [TrainConfig, RewriteConfig, SwapFileConfig, EvaluateAppConfig, ReportAppConfig, StudyAppConfig]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo += [t for t in typing.get_type_hints(cls).values() if dataclasses.is_dataclass(t)]
    return seen


def test_every_config_field_is_documented_where_declared() -> None:
    """A comment on a field's line, or a comment line right above it (the block it belongs to)."""
    import ast
    import inspect
    import io
    import textwrap
    import tokenize

    missing = []
    classes = _config_classes()
    for cls in classes:
        src = textwrap.dedent("".join(inspect.getsourcelines(cls)[0]))
        lines = src.splitlines()
        comments = {t.start[0] for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type == tokenize.COMMENT}
        for node in ast.parse(src).body[0].body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            on_line = any(n in comments for n in range(node.lineno, node.end_lineno + 1))
            above = node.lineno - 1 in comments and lines[node.lineno - 2].lstrip().startswith("#")
            if not (on_line or above):
                missing.append(f"{cls.__module__}.{cls.__qualname__}.{node.target.id}")
    assert len(classes) >= 25 and not missing, missing


def test_the_op_build_is_said_once_where_it_happens_and_the_cache_is_this_environments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The first CPU run spent 110 s compiling DeepSpeed's shared-memory op without a word, and two
    environments sharing torch's default folder rebuilt it in turn."""
    import logging

    from debias.train import engine

    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    mine = engine.extensions_dir()
    assert mine.parent == tmp_path / "torch_extensions" and mine.name.startswith("py3")
    with caplog.at_level(logging.WARNING, logger="debias.train.engine"):
        engine._say_if_shm_op_builds()
    assert "compiles its shared-memory op" in caplog.text and str(mine) in caplog.text
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(mine)
    (mine / engine.SHM_OP).mkdir(parents=True)
    (mine / engine.SHM_OP / f"{engine.SHM_OP}.so").write_bytes(b"")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="debias.train.engine"):
        engine._say_if_shm_op_builds()
    assert caplog.text == ""


@pytest.mark.parametrize("name", POLYPYTHIAS)
def test_polypythia_presets_name_each_seeds_repository_and_data_order(name: str, tmp_path: Path) -> None:
    """Ten runs of a size, each arm of each seed resumed from that seed's released model (and, from 70m
    up, GPT-NeoX's optimizer state of it), reading that seed's data order. Every run of the base
    preset (160m, both arms) is composed by test_every_experiment_composes; here every seed of every
    size, with the intervention arm only (the control composes the same way) to keep the suite quick."""
    from debias.study.run import compose_study, plan_study, seed_sources, to_study_config

    size, tail = name.split("-")[1], name.rsplit("tail", 1)[1]
    overrides = [f"+experiment={name}", f"runs_root={tmp_path}", "data.indexed_path=/pile/idxmaps/document",
                 "data.index_maps_root=/pile/seeds"]
    study = to_study_config(compose_study(overrides))
    assert study.study.seeds == list(range(10)) and study.study.arms == [f"tail{tail}", f"control{tail}"]
    assert not study.trains_baselines
    overrides += [f"study.arms=[tail{tail}]"]
    runs = plan_study(to_study_config(compose_study(overrides)), overrides)
    assert sorted(runs) == [(seed, f"tail{tail}") for seed in range(10)]
    for (seed, _), run in runs.items():
        repo = f"EleutherAI/pythia-{size}" + (f"-seed{seed}" if seed else "")
        assert run.seed == seed and run.source.hub == repo and run.model.name == f"pythia-{size}"
        assert run.data.index_maps_dir(seed) == Path(f"/pile/seeds/seed{seed}") and run.data.source == "index_maps"
        assert run.schedule.total_steps == 143_000 and run.data.rows_per_step == 1024
        assert run.source.optimizer == ("fresh" if size in ("14m", "31m") else "neox")
        if run.source.optimizer == "neox":
            assert run.source.neox_location() == f"EleutherAI/neox-ckpt-pythia-{size}" + (f"-seed{seed}" if seed else "")
        assert run.save.start_checkpoint and not run.problems()
    lines = seed_sources(runs)
    assert len(lines) == 10 and lines[3].startswith(f"seed 3: EleutherAI/pythia-{size}-seed3")
    assert lines[3].endswith("data order /pile/seeds/seed3")
