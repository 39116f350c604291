"""The tail rewrite on Ray (``executor=ray``): datatrove's ``RayPipelineExecutor`` on a local Ray
cluster gives the bytes and the manifest of a local run, leaves its completion markers, resumes
after a failed task instead of waiting for it, carries a bad row's error back, and refuses a task
no node can hold before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from test_tail_engine import (
    OLD_FEMININE_BIN,
    OLD_IDX,
    REPO,
    RPS,
    _rewrite,
    _sha,
    corpus,  # noqa: F401  (the fixture: the same data order)
)

from debias.rewrite.engine import ExecutorConfig, ExecutorError
from debias.rewrite.verify import TailVerificationError, verify_tail

ray = pytest.importorskip(
    "ray", reason="executor=ray needs Ray (pip install -e '.[ray]'); not in the dev install"
)

pytestmark = pytest.mark.slow

ON_RAY = ExecutorConfig(kind="ray", mem_per_cpu_gb=0.5)


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray cluster of 2 CPUs on this machine, for this module only."""
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's unix sockets live under it
    # Ray's workers inherit the environment its processes start with: they import debias from this
    # checkout, as the test does, and datatrove's task logs go under `temp`, not /tmp/ray_logs
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    with mock.patch.dict(os.environ, {"PYTHONPATH": path, "TMPDIR": temp}):  # restored afterwards
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
                 _temp_dir=temp)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _without_time(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k != "created"}


def test_a_ray_rewrite_resumes_to_the_bytes_manifest_and_verification_of_a_local_one(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path, ray_cluster: None  # noqa: F811
) -> None:
    local = tmp_path / "local"
    want = _rewrite(corpus, local, neox_tokenizer_path, tasks=4)
    out = tmp_path / "ray"

    def stop(rank: int) -> None:  # nested, so that Ray ships it by value to its workers
        if rank == 2:
            raise RuntimeError("task 2 stopped by the test")

    with pytest.raises(ExecutorError, match=r"1 of 4 tasks failed on Ray .*task_00002\.log"):
        _rewrite(corpus, out, neox_tokenizer_path, tasks=4, workers=2, executor=ON_RAY,
                 on_task_done=stop)
    logs = out / ".rewrite" / "rewrite"
    executor = json.loads((logs / "executor.json").read_text())  # written by datatrove's Ray executor
    assert (executor["world_size"], executor["nodes_per_task"], executor["mem_per_cpu_gb"]) == (4, 1, 0.5)
    assert sorted(p.name for p in (logs / "completions").iterdir()) == ["00000", "00001", "00003"]
    assert "task 2 stopped by the test" in (logs / "logs" / "task_00002.log").read_text()
    assert not (out / "manifest.json").exists()

    got = _rewrite(corpus, out, neox_tokenizer_path, tasks=4, workers=2, executor=ON_RAY)
    assert (_sha(out / "tail.bin"), _sha(out / "tail.idx")) == (OLD_FEMININE_BIN, OLD_IDX)
    assert (_sha(out / "tail.bin"), _sha(out / "tail.idx")) == (
        _sha(local / "tail.bin"), _sha(local / "tail.idx"))
    assert _without_time(got) == _without_time(want)
    on_disk = [json.loads((d / "manifest.json").read_text()) for d in (out, local)]
    assert _without_time(on_disk[0]) == _without_time(on_disk[1])
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "tail.bin", "tail.idx"]

    summary = verify_tail(corpus, out, tasks=3, workers=2, executor=ON_RAY, progress=False)
    assert summary == verify_tail(corpus, local, tasks=3, progress=False)
    assert (summary["swaps"], summary["changed_rows"]) == (646, 144)

    # a row that is not its source row with pronouns swapped: the task's error reaches the caller
    row, at = 150, 40  # in the last of the 3 tasks
    tail = np.fromfile(out / "tail.bin", dtype=np.uint16).reshape(200, 129)
    tail[row, at] = tail[row, at] + 1 if tail[row, at] < 50_000 else 1
    tail.tofile(out / "tail.bin")
    with pytest.raises(TailVerificationError, match=f"tail row {row} ") as bad:
        verify_tail(corpus, out, tasks=3, workers=2, executor=ON_RAY, progress=False)
    assert (bad.value.row, bad.value.step) == (row, 10 + row // RPS)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "tail.bin", "tail.idx"]


def test_a_task_no_ray_node_can_hold_is_refused_before_writing(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path, ray_cluster: None  # noqa: F811
) -> None:
    out = tmp_path / "big"
    with pytest.raises(ExecutorError, match=r"asks for 3 CPUs .*\(at most 2 CPUs"):
        _rewrite(corpus, out, neox_tokenizer_path, executor=ExecutorConfig(kind="ray", cpus_per_task=3))
    assert not out.exists()
