"""Two ranks (gloo on CPU) under torchrun and under the ``deepspeed`` launcher, against one process
doing the same job: pretraining and a resumed tail7 arm give the same losses and checkpoints; a
2-rank run killed mid-way and continued with ``resume=auto`` ends bit-identical to an
uninterrupted one; when one rank is killed, every rank stops soon, saying which it is, and no
checkpoint that looks complete is half-written.

All runs share one data order and one rewritten tail (one ``runs_root``), 120 steps of
``+experiment=mini-test`` with a checkpoint every 10 (the tail7 arm: steps 110..119).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

from debias.train import compose, read_log, read_run_info, run

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SCHEDULE = ["schedule.total_steps=120", "schedule.checkpoint_interval=10", "progress=false", "log_every=1000"]
LAUNCHERS = ("torchrun", "deepspeed")
LOSS_RTOL = 1e-5
# Adam divides by sqrt(v): a float sum in another order moves a weight by far more than the loss.
WEIGHT_ATOL = 5e-3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_cmd(launcher: str, *overrides: str) -> list[str]:
    port = str(free_port())
    if launcher == "torchrun":
        head = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port]
        return [*head, "-m", "debias.train", "+experiment=mini-test", *SCHEDULE, *overrides]
    head = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", port,
            "--no_local_rank", "--module"]
    return [*head, "debias.train", "+experiment=mini-test", *SCHEDULE, *overrides]


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    return {**out, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def launch(launcher: str, *overrides: str, timeout: float = 240) -> subprocess.CompletedProcess:
    done = subprocess.run(launch_cmd(launcher, *overrides), cwd=REPO, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


def hf_steps(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir())


def assert_same_run(two: Path, one: Path) -> None:
    """Same steps, losses within LOSS_RTOL at every step, same learning rates, same checkpoints."""
    a, b = read_log(two), read_log(one)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    worst = max(abs(x["loss"] - y["loss"]) / abs(y["loss"]) for x, y in zip(a, b, strict=True))
    assert worst <= LOSS_RTOL, f"losses differ by {worst:.2e} relative"
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    assert hf_steps(two) == hf_steps(one)
    for step in hf_steps(one):
        files = sorted(p.name for p in (one / "checkpoints" / step).iterdir())
        assert sorted(p.name for p in (two / "checkpoints" / step).iterdir()) == files
        wa, wb = load_file(two / "checkpoints" / step / "model.safetensors"), load_file(
            one / "checkpoints" / step / "model.safetensors")
        assert wa.keys() == wb.keys()
        for key in wa:
            assert torch.allclose(wa[key], wb[key], rtol=0, atol=WEIGHT_ATOL), (step, key)
    info = read_run_info(two)
    assert info["completed"] and info["deepspeed"]["world_size"] == 2


def assert_written_once(run_dir: Path, world: int = 2) -> None:
    """Each DeepSpeed tag holds the model once and one optimizer shard per rank; no temporary or
    duplicate folder is left anywhere in the run."""
    for tag in (run_dir / "deepspeed").iterdir():
        if tag.is_dir():
            assert sorted(p.name for p in tag.iterdir()) == ["mp_rank_00_model_states.pt", *[
                f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in range(world)]], tag
    leftovers = [p for p in run_dir.rglob(".*") if p.name != ".tokenizer"]
    assert not leftovers, leftovers


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ranks")


@pytest.fixture(scope="module")
def one_process(root: Path) -> dict[str, Path]:
    base = run(compose(["+experiment=mini-test", f"runs_root={root}", *SCHEDULE, "name=1p-base"]))
    arm = run(compose(["+experiment=mini-test", f"runs_root={root}", *SCHEDULE, "name=1p-tail7",
                       "intervention=tail7", f"baseline_run={base.run_dir}"]))
    assert (arm.start_step, arm.end_step) == (110, 120)
    return {"base": base.run_dir, "arm": arm.run_dir}


@pytest.fixture(scope="module")
def two_ranks(root: Path, one_process: dict[str, Path]):
    """``two_ranks(launcher)``: that launcher's 2-rank baseline and tail7 arm, run on first use."""
    done: dict[str, dict[str, Path]] = {}

    def get(launcher: str) -> dict[str, Path]:
        if launcher not in done:
            launch(launcher, f"runs_root={root}", f"name=2p-{launcher}-base")
            launch(launcher, f"runs_root={root}", f"name=2p-{launcher}-tail7", "intervention=tail7",
                   f"baseline_run={one_process['base']}")
            done[launcher] = {"base": root / f"2p-{launcher}-base", "arm": root / f"2p-{launcher}-tail7"}
        return done[launcher]

    return get


def kill_tree(pid: int) -> None:
    """SIGKILL a launcher and every process under it (torchrun starts its workers in sessions of their own)."""
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=30)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_ranks_pretrain_like_one_process(launcher: str, one_process: dict, two_ranks) -> None:
    assert_same_run(two_ranks(launcher)["base"], one_process["base"])
    assert_written_once(two_ranks(launcher)["base"])


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_ranks_resume_an_arm_like_one_process(launcher: str, one_process: dict, two_ranks) -> None:
    assert_same_run(two_ranks(launcher)["arm"], one_process["arm"])
    assert_written_once(two_ranks(launcher)["arm"])
    manifest = json.loads((two_ranks(launcher)["arm"] / "manifest.json").read_text())
    assert (manifest["start_step"], manifest["end_step"]) == (110, 120)


def _wait_for_lines(path: Path, lines: int, proc: subprocess.Popen, limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and path.read_text().count("\n") >= lines:
            return
        time.sleep(0.02)
    out = proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
    pytest.fail(f"{path} did not reach {lines} lines before the run ended or {limit} s passed:\n{out[-3000:]}")


def test_killed_two_rank_run_continues_bit_for_bit(root: Path, two_ranks) -> None:
    """SIGKILL to the launcher and both ranks at once (a node lost), then ``resume=auto``."""
    name = "2p-killed"
    proc = subprocess.Popen(launch_cmd("torchrun", f"runs_root={root}", f"name={name}"), cwd=REPO, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait_for_lines(root / name / "log.jsonl", 45, proc)
    kill_tree(proc.pid)
    proc.wait()
    proc.stdout.close()
    killed_at = len(read_log(root / name))
    assert 45 <= killed_at < 120 and not read_run_info(root / name)["completed"]
    launch("torchrun", f"runs_root={root}", f"name={name}", "resume=auto")
    reference = two_ranks("torchrun")["base"]
    assert read_run_info(root / name)["restarts"][0]["step"] >= 30
    assert hf_steps(root / name) == hf_steps(reference)
    for step in ("step110", "step120"):
        a = load_file(root / name / "checkpoints" / step / "model.safetensors")
        b = load_file(reference / "checkpoints" / step / "model.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a), step
    assert [(r["step"], r["loss"], r["lr"]) for r in read_log(root / name)] == [
        (r["step"], r["loss"], r["lr"]) for r in read_log(reference)]


def _rank_processes(launcher_pid: int) -> dict[int, psutil.Process]:
    out = {}
    for child in psutil.Process(launcher_pid).children(recursive=True):
        try:
            rank = child.environ().get("RANK")
            if rank is not None and "debias.train" in child.cmdline():
                out[int(rank)] = child
        except psutil.Error:
            continue
    return out


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_killed_rank_stops_every_rank(root: Path, one_process: dict, launcher: str) -> None:
    """Rank 1 gets SIGKILL while the run writes a checkpoint every step: the launcher and rank 0
    exit non-zero within a bound, the output names the ranks, and every checkpoint folder that
    looks complete is."""
    name = f"dying-{launcher}"
    proc = subprocess.Popen(launch_cmd(launcher, f"runs_root={root}", f"name={name}", "schedule.total_steps=2000",
                                       "schedule.checkpoint_interval=1", "save.deepspeed_keep_all=true"),
                            cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        _wait_for_lines(root / name / "log.jsonl", 8, proc)
        ranks = _rank_processes(proc.pid)
        assert sorted(ranks) == [0, 1], ranks
        ranks[1].kill()
        killed = time.monotonic()
        out, _ = proc.communicate(timeout=90)
        took = time.monotonic() - killed
    finally:
        kill_tree(proc.pid)
        proc.wait()
    assert proc.returncode != 0, out[-3000:]
    assert took < 60, f"the job took {took:.0f} s to stop"
    assert not ranks[0].is_running() or ranks[0].status() == psutil.STATUS_ZOMBIE
    assert re.search(r"rank 0 of 2 \(host [^,]+, pid \d+\): stopped by", out), out[-3000:]
    if launcher == "torchrun":
        assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)", out), out[-3000:]  # torchrun names the failed rank
    else:
        assert "exits with return code = -9" in out, out[-3000:]
    run_dir = root / name
    assert not read_run_info(run_dir)["completed"]
    for step in (p for p in (run_dir / "checkpoints").iterdir() if not p.name.startswith(".")):
        load_file(step / "model.safetensors")
        assert json.loads((step / "trainer_state.json").read_text())["step"] == int(step.name[4:])
    tags = [p for p in (run_dir / "deepspeed").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert tags
    for tag in tags:
        names = sorted(p.name for p in tag.iterdir())
        assert names == ["mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt",
                         "zero_pp_rank_1_mp_rank_00_optim_states.pt"], tag
        for path in tag.iterdir():
            with zipfile.ZipFile(path) as archive:  # torch.save's format: a cut file is no valid zip
                assert archive.testzip() is None, path


def test_submitit_local_two_tasks_reproduce_two_ranks(root: Path, one_process: dict, two_ranks) -> None:
    """Hydra's submitit launcher (local executor, preset local-2tasks) runs the train app as one job of
    2 tasks; train.launch reads their rank, world size and master from submitit's environment, and the
    run equals torchrun's 2-rank run step for step."""
    name = "2p-submitit-base"
    done = subprocess.run([sys.executable, "-m", "debias.train", "-m", "+experiment=mini-test", *SCHEDULE,
                           f"runs_root={root}", f"name={name}", "hydra/launcher=local-2tasks",
                           f"hydra.sweep.dir={root / 'multirun-submitit'}"],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    reference = two_ranks("torchrun")["base"]
    assert [(r["step"], r["loss"], r["lr"]) for r in read_log(root / name)] == [
        (r["step"], r["loss"], r["lr"]) for r in read_log(reference)]
    assert_same_run(root / name, one_process["base"])
    assert_written_once(root / name)
    logs = "".join(p.read_text(errors="replace") for p in (root / "multirun-submitit").rglob("*")
                   if p.is_file() and (p.suffix in (".log", ".out", ".err")))
    assert "rank 1 of 2 (local rank 1), master 127.0.0.1" in logs and "from submitit (local)" in logs, logs[-2000:]
