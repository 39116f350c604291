"""The rewrite command line: configs compose, fractions resolve to checkpoint steps, it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from debias.config import InterventionConfig, ScheduleConfig
from debias.data.corpus import build_data_order
from debias.rewrite.cli import CONF_DIR, RewriteConfig, run
from debias.rewrite.intervention import (
    intervention_problems,
    intervention_steps,
    nearest_checkpoint,
)

REPO = Path(__file__).resolve().parents[1]


def _compose(*overrides: str) -> RewriteConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="rewrite", overrides=list(overrides))
    return OmegaConf.to_object(cfg)


def test_fractions_resolve_to_the_nearest_checkpoint() -> None:
    pythia = ScheduleConfig()
    assert (
        nearest_checkpoint(0.93, pythia) == 133_000 and nearest_checkpoint(0.79, pythia) == 113_000
    )
    mini = ScheduleConfig(total_steps=1430, checkpoint_interval=10)
    assert nearest_checkpoint(0.93, mini) == 1330 and nearest_checkpoint(0.79, mini) == 1130
    assert (
        nearest_checkpoint(0.5, mini) == 710
    )  # 715 is a tie: the earlier step, the longer intervention
    by_step = InterventionConfig(name="x", arm="intervention", start_step=120_000)
    assert intervention_steps(by_step, pythia) == (120_000, 143_000)
    off = InterventionConfig(name="x", arm="intervention", start_step=120_500)
    assert "not a checkpoint step" in intervention_problems(off, pythia)[0]


@pytest.mark.parametrize(
    ("name", "arm", "start"),
    [
        ("tail7", "intervention", 133_000),
        ("tail21", "intervention", 113_000),
        ("control7", "control", 133_000),
        ("control21", "control", 113_000),
        ("none", "baseline", None),
    ],
)
def test_every_intervention_file_composes(name: str, arm: str, start: int | None) -> None:
    cfg = _compose(f"intervention={name}", "data.indexed_path=/nowhere/document")
    assert cfg.intervention.name == name and cfg.intervention.arm == arm
    assert cfg.data.source == "indexed" and cfg.data.rows_per_step == 1024
    if start is not None:
        assert intervention_steps(cfg.intervention, cfg.schedule) == (start, 143_000)
    problems = cfg.problems()
    assert (problems == []) == (arm == "intervention"), problems


def test_data_configs_compose() -> None:
    for name in ("gutenberg", "pile"):
        cfg = _compose(f"data={name}")
        assert cfg.data.name == name
    assert _compose("data=gutenberg").data.problems() == []
    assert any("indexed_path" in p for p in _compose("data=pile").problems())


def test_run_rewrites_and_verifies_by_step(tmp_path: Path, neox_tokenizer_path: Path) -> None:
    docs = ["He told his sister that she could keep the book herself, and he left. " * 3] * 60
    build_data_order(
        docs, neox_tokenizer_path, tmp_path / "order", seq_length=32, seed=0, progress=False
    )
    cfg = _compose(
        f"source={tmp_path / 'order'}",
        f"tokenizer={neox_tokenizer_path}",
        "intervention=tail21",
        "intervention.fraction=null",
        "intervention.start_step=20",
        "schedule.total_steps=30",
        "schedule.checkpoint_interval=10",
        "data.rows_per_step=2",
        "progress=false",
    )
    result = run(cfg)
    out = tmp_path / "tails" / "to_feminine-20-30"
    assert json.loads((out / "manifest.json").read_text())["start_step"] == 20
    assert (
        result["verified"]["rows"] == 20
        and result["verified"]["swaps"] == result["totals"]["swapped"] > 0
    )


def test_a_bad_command_line_lists_every_problem(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "debias.rewrite.cli",
            "intervention=control7",
            "workers=0",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    for part in ("indexed_path", "control arm", "workers=0"):
        assert part in proc.stderr


def test_swap_direction_follows_the_intervention() -> None:
    cfg = _compose(
        "intervention=tail7", "intervention.direction=both", "data.indexed_path=/x/document"
    )
    assert cfg.swap.direction == "both" and cfg.problems() == []
    cfg = _compose(
        "intervention=tail7", "swap.direction=to_masculine", "data.indexed_path=/x/document"
    )
    assert any("the rewrite's direction is the intervention's" in p for p in cfg.problems())


def test_the_executor_is_a_config_group() -> None:
    cfg = _compose("data.indexed_path=/x/document")
    assert cfg.executor.kind == "local" and cfg.problems() == [] and cfg.tasks is None
    cfg = _compose(
        "data.indexed_path=/x/document", "executor=slurm", "executor.partition=cpu",
        "+executor.sbatch_args.account=bias", "tasks=4096", "workers=512",
    )
    assert (cfg.executor.kind, cfg.executor.partition, cfg.tasks) == ("slurm", "cpu", 4096)
    assert cfg.executor.sbatch_args == {"account": "bias"} and cfg.problems() == []
    assert any("executor.partition" in p for p in _compose("data.indexed_path=/x/d", "executor=slurm").problems())
    assert _compose("data.indexed_path=/x/document", "executor=ray").executor.kind == "ray"
