"""``python -m debias.train`` as a user runs it: a run killed with SIGKILL and continued with
``resume=auto`` ends bit for bit where an uninterrupted run ends; a bad config stops before any
work with every problem listed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from debias.train import compose, read_log, read_run_info, run

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "debias.train", "+experiment=mini-test", *args]


def test_sigkill_then_resume_auto_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    common = [f"runs_root={tmp_path}", "schedule.total_steps=400", "schedule.checkpoint_interval=50",
              "progress=false"]
    proc = subprocess.Popen(cli(*common, "name=cli"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    log_path = tmp_path / "cli" / "log.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if log_path.is_file() and log_path.read_text().count("\n") >= 130:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed:\n{proc.stderr.read()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    killed_at = len(read_log(tmp_path / "cli"))
    assert 130 <= killed_at < 400 and not read_run_info(tmp_path / "cli")["completed"]

    refused = subprocess.run(cli(*common, "name=cli"), cwd=REPO, capture_output=True, text=True)
    assert refused.returncode == 2 and "resume=auto" in refused.stderr + refused.stdout

    done = subprocess.run(cli(*common, "name=cli", "resume=auto"), cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = run(compose(["+experiment=mini-test", *common, "name=reference"]))
    for step in (300, 400):
        a = load_file(tmp_path / "cli" / "checkpoints" / f"step{step}" / "model.safetensors")
        b = load_file(reference.checkpoint(step) / "model.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a)
    continued, uninterrupted = read_log(tmp_path / "cli"), read_log(reference.run_dir)
    assert [(r["step"], r["loss"], r["lr"]) for r in continued] == [(r["step"], r["loss"], r["lr"])
                                                                   for r in uninterrupted]
    restart = read_run_info(tmp_path / "cli")["restarts"][0]["step"]
    last = (killed_at // 50) * 50  # unless the kill hit while that checkpoint was being written
    assert restart in (last, last - 50) and restart >= 100


def test_bad_config_lists_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    bad = subprocess.run(cli(f"runs_root={tmp_path}", "deepspeed.micro_batch_size=3", "model.vocab_size=100",
                             "intervention=tail7", "intervention.fraction=null", "intervention.start_step=43"),
                         cwd=REPO, capture_output=True, text=True)
    out = bad.stdout + bad.stderr
    assert bad.returncode == 2, out[-3000:]
    assert "3 problem(s)" in out or "4 problem(s)" in out, out[-3000:]
    for needle in ("rows_per_step=4", "model.vocab_size=100", "start_step=43"):
        assert needle in out
    assert not any((tmp_path / name).exists() for name in ("data_orders",))
