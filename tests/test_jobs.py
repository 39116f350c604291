"""The study's job graph through Hydra's launchers (debias.launch.jobs): the local joblib pool by default
and submitit's executor, waves in dependency order, a failure that stops only its dependents and
is named with its log, and a rerun that does only what is left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from debias.launch.jobs import Job, JobsFailed, execute, launcher_overrides, waves
from tests.jobs_helper import make


def graph(tmp: Path) -> list[Job]:
    flag = str(tmp / "fail-b")

    def job(key: str, after: tuple[str, ...] = (), fail: str | None = None) -> Job:
        return Job(key, make, (str(tmp / key), fail), after=after, log_file=tmp / "logs" / f"{key}.log")

    return [job("a"), job("b", ("a",), fail=flag), job("c", ("b",)), job("d"), job("e", ("a", "d"))]


def test_waves_follow_dependencies() -> None:
    jobs = graph(Path("/nonexistent"))
    assert [[j.key for j in w] for w in waves(jobs)] == [["a", "d"], ["b", "e"], ["c"]]
    with pytest.raises(ValueError, match="not jobs of this graph"):
        waves([Job("x", make, (), after=("y",))])


def test_launcher_choice() -> None:
    assert launcher_overrides(3, []) == ["hydra/launcher=local", "hydra.launcher.n_jobs=3"]
    assert launcher_overrides(3, ["hydra/launcher=basic", "hydra.run.dir=x"]) == [
        "hydra/launcher=local", "hydra.launcher.n_jobs=3"]
    assert launcher_overrides(3, ["hydra/launcher=slurm-1gpu", "hydra.launcher.partition=gpu", "hydra.mode=RUN"]) == [
        "hydra/launcher=slurm-1gpu", "hydra.launcher.partition=gpu"]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [None, ["hydra/launcher=submitit_local"]], ids=["local-joblib", "submitit"])
def test_failure_stops_dependents_and_a_rerun_finishes_the_rest(tmp_path: Path, launcher: list[str] | None) -> None:
    (tmp_path / "fail-b").touch()
    with pytest.raises(JobsFailed) as info:
        execute(graph(tmp_path), 2, launcher=launcher, sweep_dir=tmp_path / "hydra")
    failed = info.value.failed
    assert set(failed) == {"b", "c"}
    assert failed["b"].startswith("ValueError: b refused") and str(tmp_path / "logs" / "b.log") in failed["b"]
    assert failed["c"] == "not started: b failed"
    assert "2 of 5 jobs did not finish" in str(info.value)
    assert {p.name for p in tmp_path.iterdir() if p.is_file()} == {"a", "d", "e", "fail-b"}
    assert (tmp_path / "logs" / "a.log").read_text().count("making a") == 1
    pids = {int((tmp_path / k).read_text()) for k in ("a", "d", "e")}
    assert os.getpid() not in pids  # jobs run in processes of the launcher, not here

    (tmp_path / "fail-b").unlink()
    again = execute(graph(tmp_path), 2, launcher=launcher, sweep_dir=tmp_path / "hydra")
    assert again == {"a": ("already done", False), "d": ("already done", False), "e": ("already done", False),
                     "b": ("made", True), "c": ("made", True)}


def test_a_run_leaves_hydra_as_it_found_it(tmp_path: Path) -> None:
    """A study run from a test or another Hydra app: the next ``initialize_config_dir`` must work."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from debias.train.config import CONF_DIR

    assert not GlobalHydra.instance().is_initialized()
    done = execute([Job("a", make, (str(tmp_path / "a"),))], 1, sweep_dir=tmp_path / "hydra")
    assert done == {"a": ("made", True)}
    assert not GlobalHydra.instance().is_initialized()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert compose(config_name="train").seed is not None


def test_a_pool_of_one_gives_the_sending_process_its_console_back(tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    """joblib runs a pool of one in the sending process: each job's output goes to its log, and
    what the sender prints afterwards (a summary, an error) reaches the console again."""
    jobs = [Job(k, make, (str(tmp_path / k),), log_file=tmp_path / "logs" / f"{k}.log") for k in ("a", "b")]
    assert execute(jobs, 1, sweep_dir=tmp_path / "hydra") == {"a": ("made", True), "b": ("made", True)}
    print("the sender's own line")
    out = capfd.readouterr().out
    assert "the sender's own line" in out and "making a" not in out
    assert (tmp_path / "logs" / "b.log").read_text().strip() == "making b"
