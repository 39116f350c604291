"""The launcher presets in conf/hydra/launcher/ and the rank placement train.launch reads from
Slurm's and submitit's variables (no cluster needed)."""

from __future__ import annotations

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from debias.train import launch
from debias.train.config import CONF_DIR, register_configs


def hydra_cfg(*overrides: str):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize(("preset", "nodes", "tasks", "gpus"), [
    ("slurm-1node-8gpu", 1, 8, 8), ("slurm-4node-8gpu", 4, 8, 8), ("slurm-1gpu", 1, 1, 1),
    ("slurm-cpu", 1, 1, None), ("local-2tasks", 1, 2, 0)])
def test_presets_compose_for_the_pythia_arms(preset: str, nodes: int, tasks: int, gpus: int | None) -> None:
    cfg = hydra_cfg("+experiment=pythia-410m-tail7", "intervention=control7", f"hydra/launcher={preset}")
    launcher = cfg.hydra.launcher
    assert launcher._target_.startswith("hydra_plugins.hydra_submitit_launcher.submitit_launcher.")
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (nodes, tasks, gpus)
    assert cfg.intervention.name == "control7" and cfg.deepspeed.device == "gpu"


def test_local_preset_is_joblib() -> None:
    assert hydra_cfg("hydra/launcher=local").hydra.launcher._target_.endswith("JoblibLauncher")


def clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SUBMITIT_EXECUTOR",
                "SLURM_PROCID", "SLURM_STEP_ID", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID",
                "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_JOB_ID"):
        monkeypatch.setenv(key, "")  # recorded, so that what export_placement sets is undone after the test
        monkeypatch.delenv(key)


def test_srun_task_gets_rank_world_and_master(monkeypatch: pytest.MonkeyPatch) -> None:
    clear(monkeypatch)
    monkeypatch.setenv("PATH", "/nonexistent")  # no scontrol: a plain host name is expanded alone
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "16")
    monkeypatch.setenv("SLURM_NTASKS", "16")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "node07,node08")
    monkeypatch.setenv("SLURM_JOB_ID", "123456")
    placement = launch.export_placement()
    assert placement is not None and placement.source == "Slurm"
    import os

    assert {k: os.environ[k] for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")} == {
        "RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "16", "MASTER_ADDR": "node07",
        "MASTER_PORT": str(launch.port_for_job("123456"))}
    assert launch.export_placement() is None  # once RANK is set (or under torchrun), nothing changes


def test_a_bracketed_node_list_needs_scontrol_or_master_addr(monkeypatch: pytest.MonkeyPatch) -> None:
    clear(monkeypatch)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="MASTER_ADDR"):
        launch.first_host("gpu[03-05,9]")
    for key, value in {"SLURM_PROCID": "0", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "2",
                       "SLURM_JOB_NODELIST": "gpu[03-05,9]", "MASTER_ADDR": "gpu03"}.items():
        monkeypatch.setenv(key, value)
    assert launch.export_placement().master_addr == "gpu03"


def test_the_batch_script_itself_is_no_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """In an sbatch script (no job step), SLURM_NTASKS counts the tasks srun would start, not this process."""
    clear(monkeypatch)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    assert launch.export_placement() is None


def test_port_is_the_same_for_every_task_of_a_job() -> None:
    assert launch.port_for_job("77_3") == launch.port_for_job("77_3") != launch.port_for_job("78_3")
    assert launch.PORT_BASE <= launch.port_for_job("999999999") < launch.PORT_BASE + launch.PORT_SPAN
