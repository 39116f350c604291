"""Stopping the study: SIGTERM (or SIGINT) sent to the study's own process alone, as a scheduler or
``kill <pid>`` does, ends every job process it started, and the same command run again finishes
the rest from what was kept. (Before, the launcher's workers went on training as orphans.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from debias.train.rundir import read_run_info

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# Two seeds at a time, each a baseline long enough (2,000 steps, ~30 s) to be stopped mid-training.
STUDY = ["+experiment=mini-test", "study.seeds=[0,1]", "study.arms=[tail21]", "study.parallel=2",
         "study.report=false", "study.evaluate=false", "schedule.total_steps=2000"]
BASELINES = ("mini-tiny-synthetic-test-s0-none", "mini-tiny-synthetic-test-s1-none")


def _study(runs: Path) -> list[str]:
    return [sys.executable, "-m", "debias.study", *STUDY, f"runs_root={runs}"]


def _start_and_stop(tmp_path: Path, signum: int) -> tuple[subprocess.CompletedProcess, list[psutil.Process], float]:
    """Start the study, wait until both baselines have saved a checkpoint (they train on to step
    2,000), send ``signum`` to its process only; its
    result, the processes it had started, and the seconds it took to exit."""
    runs = tmp_path / "runs"
    proc = subprocess.Popen(_study(runs), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group: only what the study does reaches its workers
    deadline = time.monotonic() + 240
    while not all((runs / name / "deepspeed" / "latest").is_file() for name in BASELINES):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the baselines never started training"
        time.sleep(0.2)
    started = psutil.Process(proc.pid).children(recursive=True)
    assert len([p for p in started if "loky" in " ".join(p.cmdline())]) >= 2, [p.cmdline() for p in started]
    sent = time.monotonic()
    os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), started, time.monotonic() - sent


def _alive(processes: list[psutil.Process]) -> list[str]:
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(" ".join(p.cmdline())[:120])
        except psutil.NoSuchProcess:
            pass
    return out


def test_sigterm_ends_every_job_process_and_a_rerun_finishes_the_rest(tmp_path: Path) -> None:
    stopped, started, seconds = _start_and_stop(tmp_path, signal.SIGTERM)
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    assert "stopped by SIGTERM: 2 job process(es) ended" in stopped.stderr, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    assert seconds < 30, seconds  # the workers' grace is 20 s; they take SIGTERM at once
    assert _alive(started) == []
    runs = tmp_path / "runs"
    assert not any(read_run_info(runs / name).get("completed") for name in BASELINES)

    again = subprocess.run(_study(runs), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    for name in (*BASELINES, *(b.replace("-none", "-tail21") for b in BASELINES)):
        info = read_run_info(runs / name)
        assert info["completed"] is True, name
        assert info["end_step"] == 2000
    for name in BASELINES:  # continued from what the stopped run had saved, not started over
        assert read_run_info(runs / name)["restarts"], name


def test_sigint_to_the_study_alone_stops_its_workers(tmp_path: Path) -> None:
    stopped, started, _ = _start_and_stop(tmp_path, signal.SIGINT)
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    assert "stopped by SIGINT: 2 job process(es) ended" in stopped.stderr, stopped.stderr[-3000:]
    assert _alive(started) == []


def test_sigkill_of_the_study_takes_its_workers_with_it(tmp_path: Path) -> None:
    """No handler sees SIGKILL: the workers asked the kernel to die with the study (before, they
    went on writing checkpoints for seconds after the kill, as orphans)."""
    stopped, started, _ = _start_and_stop(tmp_path, signal.SIGKILL)
    assert stopped.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(started) == []
    logs = {name: (tmp_path / "runs" / name / "log.jsonl").stat().st_size for name in BASELINES}
    time.sleep(3)
    assert {name: (tmp_path / "runs" / name / "log.jsonl").stat().st_size for name in BASELINES} == logs
