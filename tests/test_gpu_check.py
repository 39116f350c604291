"""The GPU check's Python part starts and finishes on CPU in its tiny --smoke mode (the real run
needs a CUDA device: benchmarks/gpu_check.sh)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_smoke_runs_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--smoke", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "deepspeed / plain" in done.stdout and "PASS: bf16 losses match the fp32 resume" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["steps"] == 20 and figures["within_tolerance"] is True


def test_gpu_check_refuses_without_a_gpu_unless_smoke() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "no CUDA device" in done.stdout
