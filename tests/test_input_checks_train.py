"""Issue 12's refusals that need a real DeepSpeed run (one process, gloo, fp32 on CPU): a NaN
loss stops the run, a crafted DeepSpeed state never runs, a tampered tail is not trained on, and a
run stopped by a data mismatch leaves nothing that forces overwrite=true."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from debias.core.config_errors import ConfigError
from debias.data.indexed import IndexedDatasetError, MMapIndexedDataset, write_indexed_dataset
from debias.rewrite.verify import SAMPLE_ROWS as VERIFY_SAMPLE
from debias.train import compose, make_plan, read_run_info, run

pytestmark = pytest.mark.slow


def cfg_for(root: Path, *overrides: str):
    return compose(["+experiment=mini-test", f"runs_root={root}", "progress=false", *overrides])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def baseline(root: Path) -> Path:
    return run(cfg_for(root)).run_dir


class _Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def _unfinished_copy(baseline: Path, dest: Path) -> Path:
    """The baseline as a run killed after step 45's checkpoint (resume=auto continues it from there)."""
    shutil.copytree(baseline, dest)
    info = read_run_info(dest)
    info["completed"] = False
    (dest / "run.json").write_text(json.dumps(info))
    shutil.rmtree(dest / "deepspeed" / "step50")
    return dest


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_the_last_good_checkpoint(root: Path) -> None:
    with pytest.raises(ValueError) as info:  # on main: the run went on to "complete"
        run(cfg_for(root, "name=nan", "optim.lr=1e30"))
    assert type(info.value).__name__ == "NonFiniteLossError"
    message = str(info.value)
    records = [json.loads(line) for line in (root / "nan" / "log.jsonl").read_text().splitlines()]
    step = records[-1]["step"]
    assert not np.isfinite(records[-1]["loss"]) and all(np.isfinite(r["loss"]) for r in records[:-1])
    assert f"at step {step}" in message and step < 49
    have = sorted(int(p.name[4:]) for p in (root / "nan" / "checkpoints").iterdir() if p.name.startswith("step"))
    assert f"the last good checkpoint is {root / 'nan' / 'checkpoints' / f'step{have[-1]}'}" in message
    assert have[-1] <= step and read_run_info(root / "nan")["completed"] is False


def test_crafted_deepspeed_state_never_runs_and_honest_state_loads(root: Path, baseline: Path) -> None:
    marker = root / "pwned"
    crafted = _unfinished_copy(baseline, root / "crafted")
    state = crafted / "deepspeed" / "step45" / "mp_rank_00_model_states.pt"
    torch.save({"module": {}, "payload": _Payload(marker)}, state)
    with pytest.raises(Exception) as info:
        run(cfg_for(root, f"run_dir={crafted}", "resume=auto"))
    assert not marker.exists(), "unpickling the crafted state ran its code"
    assert type(info.value).__name__ == "InputError"
    assert f"{state}: the DeepSpeed state holds objects" in str(info.value)
    with pytest.raises(ValueError, match="source.optimizer=fresh"):
        run(cfg_for(root, "intervention=control7", "name=from-crafted", f"source.path={crafted}",
                    "source.optimizer=loaded"))
    assert not marker.exists()
    assert not (root / "from-crafted").exists()  # stopped before any progress: nothing left to overwrite

    honest = _unfinished_copy(baseline, root / "honest")
    stale = honest / "deepspeed" / ".step50.x1y2.tmp"
    (stale / "step50").mkdir(parents=True)
    result = run(cfg_for(root, f"run_dir={honest}", "resume=auto"))
    assert result.completed and not stale.exists()
    assert read_run_info(honest)["restarts"][0]["step"] == 45
    a = load_file(honest / "checkpoints" / "step50" / "model.safetensors")
    b = load_file(baseline / "checkpoints" / "step50" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the safe loader restored the full state exactly


def test_a_tampered_tail_is_not_trained_on(root: Path, baseline: Path) -> None:
    from debias.train.data import prepare

    honest = prepare(make_plan(cfg_for(root, "intervention=tail7")))  # rewrites the tail once
    manifest = json.loads((honest.tail_dir / "manifest.json").read_text())
    first = manifest["source"]["first_row"]
    source = MMapIndexedDataset(honest.prefix)
    tail = MMapIndexedDataset(honest.tail_dir / "tail")
    rows = np.stack([tail[i] for i in range(len(tail))])
    original = source.rows(first, first + len(tail))
    swapped = np.flatnonzero((rows != original).any(axis=1))
    assert swapped.size, "the synthetic tail holds pronouns"

    def tampered(name: str, new_rows: np.ndarray) -> Path:
        dest = root / name
        shutil.copytree(honest.tail_dir, dest)
        raw = bytearray((dest / "tail.bin").read_bytes())
        raw[:] = new_rows.astype(tail.dtype).tobytes()
        (dest / "tail.bin").write_bytes(bytes(raw))  # same size, same .idx
        return dest

    other = rows.copy()
    other[:, 5] = (other[:, 5] + 7) % 300  # every row overwritten at a non-pronoun position
    with pytest.raises(ConfigError, match=r"tail\.bin: row \d+ .* is not its source row with pronouns swapped"):
        run(cfg_for(root, "intervention=tail7", "name=on-tampered", f"tail={tampered('t1', other)}"))
    assert not (root / "on-tampered").exists()

    # The whole tail undone (every row its source row): each row alone is a valid "rewrite" of its
    # source, but the rows the rewrite hashed are not the rows it wrote.
    with pytest.raises(ConfigError, match=r"the tail was changed or undone after its rewrite"):
        run(cfg_for(root, "intervention=tail7", "name=on-undone", f"tail={tampered('t0', original)}"))
    assert not (root / "on-undone").exists()

    undone = rows.copy()
    undone[swapped[0]] = original[swapped[0]]  # one swap undone: each row still a valid rewrite of its source
    quiet = tampered("t2", undone)
    assert len(tail) <= VERIFY_SAMPLE  # a tail this short is hashed whole by the rewrite: the sample sees it
    with pytest.raises(ConfigError, match=r"the tail was changed or undone after its rewrite"):
        prepare(make_plan(cfg_for(root, "intervention=tail7", f"tail={quiet}")))
    with pytest.raises(ConfigError, match=r"its rows changed since the rewrite \(sha256 differs"):
        prepare(make_plan(cfg_for(root, "intervention=tail7", f"tail={quiet}", "tail_check=full")))
    prepare(make_plan(cfg_for(root, "intervention=tail7", "tail_check=full")))  # the honest tail passes


def test_a_run_stopped_by_a_tokenizer_mismatch_can_simply_be_rerun(tmp_path: Path) -> None:
    from debias.eval.testing import train_small_tokenizer

    tokenizer = train_small_tokenizer(tmp_path / "tok.json", 300)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 400, size=(200, 33), dtype=np.uint16)  # made with a 400-token tokenizer
    write_indexed_dataset(tmp_path / "other" / "document", rows, dtype=np.uint16)
    cfg = cfg_for(tmp_path, "data=pile", f"data.indexed_path={tmp_path / 'other' / 'document'}",
                  f"data.tokenizer={tokenizer}", "data.vocab_size=320", "data.seq_length=32", "data.rows_per_step=4",
                  "name=mismatch")
    for _ in range(2):  # the second time is the same refusal, not "a run already exists there"
        with pytest.raises(IndexedDatasetError, match="outside the vocabulary of 320"):
            run(cfg)
        assert not (tmp_path / "mismatch").exists()


def test_a_full_disk_stops_the_command_naming_the_file(tmp_path: Path) -> None:
    import resource
    import signal
    import subprocess
    import sys

    def small_disk() -> None:  # writes past 150 kB fail with EFBIG, as a full disk fails with ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, resource.RLIM_INFINITY))

    repo = Path(__file__).resolve().parents[1]

    def train(name: str, limited: bool) -> tuple[int, str]:
        cmd = [sys.executable, "-m", "debias.train", "+experiment=mini-test", f"runs_root={tmp_path}", f"name={name}",
               "progress=false"]
        done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True,
                              preexec_fn=small_disk if limited else None)
        return done.returncode, done.stdout + done.stderr

    for name, where in (("first", tmp_path / "data_orders"), ("second", tmp_path / "second" / "checkpoints")):
        rc, out = train(name, limited=True)  # first: the data order fails to fit; second: a checkpoint
        assert rc == 2, out[-3000:]
        assert str(where) in out and "File too large" in out and "Traceback" not in out, out[-3000:]
        assert list(tmp_path.rglob(".*.tmp")) == []
        rc, out = train(name, limited=False)  # space again: the same command, no overwrite=true needed
        assert rc == 0, out[-3000:]


def test_a_bin_source_with_a_pickle_payload_is_one_error_and_never_runs(root: Path, baseline: Path) -> None:
    """It was torch's traceback suggesting weights_only=False; an honest .bin source still trains."""
    from debias.eval.testing import as_bin_shards
    from debias.train.plan import make_plan

    start = make_plan(cfg_for(root, "intervention=tail21")).start_step
    honest = as_bin_shards(baseline / "checkpoints" / f"step{start}", root / "bin-honest")
    evil = as_bin_shards(baseline / "checkpoints" / f"step{start}", root / "bin-evil")
    marker = root / "pwned-bin"
    shard = evil / "pytorch_model-00001-of-00002.bin"
    torch.save({**torch.load(shard, weights_only=True), "payload": _Payload(marker)}, shard)
    with pytest.raises(ValueError) as info:
        run(cfg_for(root, "intervention=tail21", "name=from-evil-bin", f"source.path={evil}"))
    assert not marker.exists(), "reading the .bin ran its pickle's code"
    assert type(info.value).__name__ == "InputError"
    assert f"{evil}: a .bin weight file holds objects other than tensors" in str(info.value)
    assert run(cfg_for(root, "intervention=tail21", "name=from-honest-bin", f"source.path={honest}")).completed
