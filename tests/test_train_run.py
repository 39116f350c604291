"""Training runs under a real DeepSpeed engine (one process, gloo, fp32 on CPU) on a tiny model:
the run directory eval reads, exact resumption, the rewritten tail, and the learning-rate curve.

The first DeepSpeed engine of a machine compiles DeepSpeed's shared-memory op (~20-40 s, cached
under /tmp/torch_extensions); the baseline run is shared by the whole module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from debias.core.config_errors import ConfigError
from debias.train import compose, make_plan, read_log, run
from debias.train.rundir import RunExistsError
from tests.lr_formula import design_lr

pytestmark = pytest.mark.slow


def cfg_for(root: Path, *overrides: str):
    return compose(["+experiment=mini-test", f"runs_root={root}", "progress=false", *overrides])


def weights(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "checkpoints" / f"step{step}" / "model.safetensors")


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def baseline(root: Path) -> Path:
    result = run(cfg_for(root))
    assert result.completed and not result.skipped
    return result.run_dir


def test_baseline_run_directory(baseline: Path) -> None:
    """What eval and the report read: CONTRACTS.md's run directory, loadable without project code."""
    from transformers import AutoTokenizer, GPTNeoXForCausalLM

    info = json.loads((baseline / "run.json").read_text())
    assert {k: info[k] for k in ("arm", "model", "seed", "start_step", "end_step", "total_steps", "direction",
                                 "resumed_from")} == {
        "arm": "baseline", "model": "mini-tiny", "seed": 0, "start_step": 0, "end_step": 50, "total_steps": 50,
        "direction": None, "resumed_from": None}
    assert info["completed"] is True and info["name"] == baseline.name
    steps = sorted(int(p.name[4:]) for p in (baseline / "checkpoints").iterdir())
    assert steps == [0, 1, 2, 4, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]  # log-spaced, then every 5
    final = baseline / "checkpoints" / "step50"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "trainer_state.json"):
        assert (final / name).is_file(), name
    state = json.loads((final / "trainer_state.json").read_text())
    assert state["step"] == 50 and state["total_steps"] == 50 and state["run"]["arm"] == "baseline"
    model = GPTNeoXForCausalLM.from_pretrained(final)
    tok = AutoTokenizer.from_pretrained(final)
    assert model.config.hidden_size == 32 and tok.eos_token_id == 0 and tok.pad_token_id == 1
    ids = tok("The nurse said that she would come.", return_tensors="pt").input_ids
    assert torch.isfinite(model(ids).logits).all()
    records = read_log(baseline)
    assert [r["step"] for r in records] == list(range(50))
    assert set(records[0]) >= {"step", "loss", "lr", "grad_norm", "tokens_per_s", "time"}
    assert records[0]["lr"] == 0.0 and records[-1]["loss"] < records[0]["loss"]
    # DeepSpeed checkpoints: the latest, plus the 79% and 93% branch points
    assert sorted(p.name for p in (baseline / "deepspeed").iterdir() if p.is_dir()) == ["step40", "step45", "step50"]
    assert (baseline / "config.yaml").is_file()


def test_control_resumed_with_deepspeed_state_reproduces_baseline(root: Path, baseline: Path) -> None:
    """The exactness check of the machinery: resume at 79% with the full DeepSpeed state, on the
    original rows, and end bit-identical to the uninterrupted baseline."""
    result = run(cfg_for(root, "intervention=control21", "source.optimizer=loaded"))
    assert result.start_step == 40 and result.end_step == 50
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["resumed_from"]["optimizer"] == "loaded" and info["resumed_from"]["step"] == 40
    assert info["resumed_from"]["loaded_from"].endswith("deepspeed/step40")
    assert_identical(weights(result.run_dir, 50), weights(baseline, 50))
    assert_identical(weights(result.run_dir, 40), weights(baseline, 40))
    resumed, original = read_log(result.run_dir), read_log(baseline)[40:]
    assert [r["step"] for r in resumed] == list(range(40, 50))
    assert [(r["loss"], r["lr"]) for r in resumed] == [(r["loss"], r["lr"]) for r in original]
    manifest = json.loads((result.run_dir / "control.json").read_text())
    assert manifest["arm"] == "control" and (manifest["start_step"], manifest["end_step"]) == (40, 50)


def test_fresh_optimizer_is_the_default_and_changes_the_result(root: Path, baseline: Path) -> None:
    result = run(cfg_for(root, "intervention=control7"))
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["resumed_from"]["optimizer"] == "fresh" and info["start_step"] == 45
    # fresh Adam moments move the model too: the reason every arm is compared with its own control
    assert not torch.equal(weights(result.run_dir, 50)["embed_out.weight"], weights(baseline, 50)["embed_out.weight"])


def test_intervention_reads_the_rewritten_tail(root: Path, baseline: Path) -> None:
    from debias.data.order import DataOrder
    from debias.train.data import prepare

    cfg = cfg_for(root, "intervention=tail7")
    plan = make_plan(cfg)
    result = run(cfg)
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["arm"] == "intervention" and info["direction"] == "to_feminine"
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert (manifest["start_step"], manifest["end_step"], manifest["direction"]) == (45, 50, "to_feminine")
    data = prepare(plan)
    tail = DataOrder.from_tail(data.tail_dir)
    original = DataOrder(data.prefix, 4)
    changed = 0
    for step in range(45, 50):
        assert np.array_equal(data.batch(step), tail.step(step))
        changed += int((data.batch(step) != original.step(step)).sum())
    assert changed == manifest["totals"]["changed_tokens"]
    with pytest.raises(ValueError, match="beyond"):
        data.batch(44)  # the tail holds only steps 45..49
    control = root / result.run_dir.name.replace("tail7", "control7")
    if not control.exists():
        run(cfg_for(root, "intervention=control7"))
    if changed:
        assert not torch.equal(weights(result.run_dir, 50)["embed_out.weight"],
                               weights(control, 50)["embed_out.weight"])


def test_killed_run_continues_bit_for_bit(root: Path, baseline: Path) -> None:
    class Killed(Exception):
        pass

    def kill_at_23(step: int, record: dict) -> None:
        if step == 23:
            raise Killed

    cfg = cfg_for(root, "name=killed")
    with pytest.raises(Killed):
        run(cfg, on_step=kill_at_23)
    assert len(read_log(root / "killed")) == 24  # steps 0..23; the checkpoint of step 20 is the last one
    with pytest.raises(RunExistsError, match="resume=auto"):
        run(cfg)
    result = run(cfg_for(root, "name=killed", "resume=auto"))
    assert_identical(weights(result.run_dir, 50), weights(baseline, 50))
    assert read_log(result.run_dir) == [r | {"tokens_per_s": a["tokens_per_s"], "time": a["time"]}
                                        for r, a in zip(read_log(baseline), read_log(result.run_dir), strict=True)]
    assert json.loads((result.run_dir / "run.json").read_text())["restarts"][0]["step"] == 20
    again = run(cfg_for(root, "name=killed", "resume=auto"))
    assert again.skipped


def test_existing_run_is_never_silently_overwritten(root: Path, baseline: Path) -> None:
    before = weights(baseline, 50)
    with pytest.raises(RunExistsError, match="overwrite=true"):
        run(cfg_for(root))
    with pytest.raises(ConfigError, match="seed: the run was started with 0, now 1"):
        run(cfg_for(root, f"run_dir={baseline}", "seed=1", "resume=auto"))
    assert_identical(weights(baseline, 50), before)
    cfg = cfg_for(root, "name=replaced", "schedule.total_steps=10", "schedule.checkpoint_interval=5")
    run(cfg)
    result = run(cfg_for(root, "name=replaced", "schedule.total_steps=10", "schedule.checkpoint_interval=5",
                         "overwrite=true", "seed=2"))
    assert json.loads((result.run_dir / "run.json").read_text())["seed"] == 2


@pytest.mark.parametrize(("start", "end"), [(10, 16), (1130, 1132), (1330, 1332), (1420, 1430)],
                         ids=["warmup-boundary", "79pct", "93pct", "end"])
def test_resumed_lr_follows_the_pythia_curve(root: Path, baseline: Path, start: int, end: int) -> None:
    """Resumed from weights at a 1,430-step schedule's checkpoint, each logged (and used) learning
    rate is DESIGN.md's formula at that step: the curve continues, it does not restart."""
    result = run(cfg_for(root, f"name=lr-{start}", "intervention=control7", "intervention.fraction=null",
                         f"intervention.start_step={start}", f"intervention.end_step={end}",
                         "schedule.total_steps=1430", "schedule.checkpoint_interval=10",
                         f"source.path={baseline}/checkpoints/step50", "save.hf_checkpoints=false",
                         "save.deepspeed_checkpoints=false"))
    peak = 3e-3  # mini-tiny
    records = read_log(result.run_dir)
    assert [r["step"] for r in records] == list(range(start, end))
    for r in records:
        assert r["lr"] == design_lr(r["step"], peak, 1430), r
    if start == 10:
        assert records[4]["lr"] == pytest.approx(peak * 14 / 14.3) and records[5]["lr"] < peak  # steps 14, 15
    elif start == 1130:
        assert records[0]["lr"] == pytest.approx(0.1145 * peak, rel=1e-3)  # just above the floor
    else:
        assert all(r["lr"] == 0.1 * peak for r in records)  # the floor


def test_pythia_70m_shape_resumes_from_a_local_directory(tmp_path: Path, data_dir: Path) -> None:
    """A Pythia-70M-shaped model (real shape, random weights) loaded from a Hugging Face directory,
    resumed two steps on rows of 2,049 tokens, and saved."""
    from transformers import GPTNeoXForCausalLM

    from debias.data.indexed import write_indexed_dataset
    from debias.train.config import ModelConfig
    from debias.train.model import build_model

    cfg70 = ModelConfig(name="pythia-70m", num_layers=6, hidden_size=512, num_heads=8, vocab_size=50_304, lr=1e-3)
    source = tmp_path / "pythia-70m-step4"
    build_model(cfg70, seed=0).save_pretrained(source)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 50_277, size=(6, 2049), dtype=np.uint16)  # 6 steps of one row
    write_indexed_dataset(tmp_path / "pile" / "document", rows, dtype=np.uint16)
    result = run(compose([
        "model=pythia-70m", "data=pile", f"data.indexed_path={tmp_path / 'pile' / 'document'}",
        "data.rows_per_step=1", "deepspeed=zero1-cpu",
        "deepspeed.micro_batch_size=1", "intervention=control7", "intervention.fraction=null",
        "intervention.start_step=4", "intervention.end_step=6", "schedule.total_steps=10",
        "schedule.checkpoint_interval=2", f"source.path={source}", f"runs_root={tmp_path / 'runs'}",
        "save.deepspeed_checkpoints=false", "save.start_checkpoint=false", "progress=false"]))
    assert [r["step"] for r in read_log(result.run_dir)] == [4, 5]
    saved = GPTNeoXForCausalLM.from_pretrained(result.checkpoint(6))
    assert sum(p.numel() for p in saved.parameters()) == 70_426_624
    before = load_file(source / "model.safetensors")
    after = weights(result.run_dir, 6)
    assert not torch.equal(before["embed_out.weight"], after["embed_out.weight"])
