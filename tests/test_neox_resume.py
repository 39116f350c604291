"""source.optimizer=neox: a run resumed from GPT-NeoX's raw checkpoint (2 layers, ZeRO stage 1 over
2 ranks, built here in Pythia's layout) takes its fp32 masters, Adam moments and step count, so its
first update is the one computed by hand; a pickle payload in any of its files is refused unrun."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import GPTNeoXForCausalLM

from debias.data.order import DataOrder
from debias.train import compose, run
from debias.train.config import SourceConfig
from debias.train.lr import pythia_lr
from debias.train.model import build_model, hf_config
from debias.train.neox_checkpoint import NeoxCheckpointError, check_matches, read_neox_checkpoint
from debias.train.plan import to_train_config
from tests.neox_files import write_neox_checkpoint

START, SKIPPED = 45, 3  # mini-test's 93% checkpoint; 3 fp16 overflow steps Adam did not count


def _overrides(root: Path, neox: Path) -> list[str]:
    return ["+experiment=mini-test", f"runs_root={root}", "intervention=control7", "intervention.fraction=null",
            f"intervention.start_step={START}", f"intervention.end_step={START + 1}", "schedule.checkpoint_interval=1",
            "source.optimizer=neox", f"source.neox={neox}", "save.deepspeed_checkpoints=false", "progress=false"]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Weights and moments, and the checkpoint that holds them."""
    cfg = to_train_config(compose(["+experiment=mini-test"])).model
    model = build_model(cfg, 7)
    gen = torch.Generator().manual_seed(3)
    masters = {n: p.detach().clone() for n, p in model.named_parameters()}
    exp_avg = {n: 1e-3 * torch.randn(p.shape, generator=gen) for n, p in masters.items()}
    exp_avg_sq = {n: 1e-6 + 1e-5 * torch.rand(p.shape, generator=gen) for n, p in masters.items()}
    folder = tmp_path_factory.mktemp("neox") / "step45"
    write_neox_checkpoint(folder, masters, exp_avg, exp_avg_sq, num_layers=cfg.num_layers, iteration=START,
                          skipped=SKIPPED)
    return {"folder": folder, "masters": masters, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq, "cfg": cfg}


def test_reader_recovers_every_parameter_from_interleaved_partitions(state: dict) -> None:
    got = read_neox_checkpoint(state["folder"], num_layers=2)
    check_matches(got, build_model(state["cfg"], 0), "mini-tiny")  # our name for the output layer
    # Adam counted its zero-gradient first step and every update but the 3 skipped
    assert (got.iteration, got.adam_steps, got.ranks, got.lr_steps_behind) == (START, START - SKIPPED + 1, 2, SKIPPED)
    assert set(got.masters) == set(state["masters"]) and len(got.masters) == 28
    for key in ("masters", "exp_avg", "exp_avg_sq"):
        for name, tensor in state[key].items():
            assert torch.equal(getattr(got, key)[name], tensor), (key, name)


def _saved(name: str) -> str:
    """A parameter's name in a saved checkpoint (transformers 5 writes lm_head as embed_out, as Pythia's files)."""
    return "embed_out.weight" if name == "lm_head.weight" else name


def _hand_update(state: dict, rows: np.ndarray, lr: float, steps_before: int, moments: bool = True) -> dict:
    """One AdamW update as DeepSpeed's ZeRO and torch make it: the mean loss's gradient, clipped to a
    global norm of 1 (scaled by 1 / (norm + 1e-6)), decoupled decay on the weights only."""
    model = GPTNeoXForCausalLM(hf_config(state["cfg"]))
    model.load_state_dict({**model.state_dict(), **state["masters"]})
    tokens = torch.from_numpy(rows.astype(np.int64))
    logits = model(input_ids=tokens[:, :-1], use_cache=False).logits
    F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1)).backward()
    params = dict(model.named_parameters())
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params.values())).item()
    scale = 1.0 / (norm + 1e-6) if norm + 1e-6 > 1.0 else 1.0
    b1, b2, eps, t = 0.9, 0.95, 1e-8, steps_before + 1
    out = {}
    for name, p in params.items():
        g = p.grad * scale
        m = b1 * (state["exp_avg"][name] if moments else 0) + (1 - b1) * g
        v = b2 * (state["exp_avg_sq"][name] if moments else 0) + (1 - b2) * g * g
        decay = 0.0 if name.endswith("bias") or "layernorm" in name or "layer_norm" in name else 0.1
        w = state["masters"][name] * (1 - lr * decay)
        out[name] = w - (lr / (1 - b1 ** t)) * m / (v.sqrt() / (1 - b2 ** t) ** 0.5 + eps)
    return out


def test_first_update_equals_the_one_computed_by_hand(state: dict, tmp_path: Path) -> None:
    result = run(compose(_overrides(tmp_path, state["folder"])))
    record = json.loads((result.run_dir / "run.json").read_text())
    resumed = record["resumed_from"]
    assert resumed["optimizer"] == "neox" and resumed["loaded_from"] == str(state["folder"])
    assert resumed["neox"]["adam_steps"] == START - SKIPPED + 1 and resumed["neox"]["zero_ranks"] == 2
    start = load_file(result.run_dir / "checkpoints/step45/model.safetensors")
    assert all(torch.equal(start[_saved(n)], t) for n, t in state["masters"].items())  # the weights are the masters

    rows = DataOrder(record["data_order"], 4).step(START)
    lr = json.loads((result.run_dir / "log.jsonl").read_text().splitlines()[0])["lr"]
    # GPT-NeoX's scheduler stood 3 steps behind (the skipped ones); here, as on the 7% tail, at the floor
    assert lr == pythia_lr(START - SKIPPED, 3e-3, 50) == pytest.approx(3e-4, rel=1e-6)
    after = load_file(result.run_dir / "checkpoints/step46/model.safetensors")
    hand = _hand_update(state, rows, lr, START - SKIPPED + 1)
    fresh = _hand_update(state, rows, lr, 0, moments=False)
    for name, expect in hand.items():
        moved = (expect - state["masters"][name]).abs().max().item()
        assert moved > 1e-6, name  # the update is real
        assert (after[_saved(name)] - expect).abs().max().item() < 1e-3 * moved, name
    # fresh moments give another update: the loaded ones were used
    gap = max((fresh[n] - hand[n]).abs().max().item() for n in hand)
    assert gap > 1e-4


def test_a_checkpoint_of_another_step_or_shape_is_refused(state: dict, tmp_path: Path) -> None:
    with pytest.raises(NeoxCheckpointError, match=r"step45: is GPT-NeoX's checkpoint of step 45, but this run "
                                                  r"starts at step 40"):
        run(compose([*_overrides(tmp_path, state["folder"]), "intervention.start_step=40"]))
    with pytest.raises(NeoxCheckpointError, match="does not fit the configured model"):
        run(compose([*_overrides(tmp_path, state["folder"]), "model.hidden_size=16"]))
    with pytest.raises(NeoxCheckpointError, match="which a 3-layer GPT-NeoX does not have"):
        run(compose([*_overrides(tmp_path, state["folder"]), "model.num_layers=3"]))
    with pytest.raises(NeoxCheckpointError, match=r"its learning-rate schedule differs from this run's: "
                                                  r"start_lr=0\.003 \(this run: 0\.001\)"):
        run(compose([*_overrides(tmp_path, state["folder"]), "model.lr=1e-3"]))


def test_a_save_folder_of_several_steps_gives_the_start_step(state: dict, tmp_path: Path) -> None:
    shutil.copytree(state["folder"], tmp_path / "save" / "global_step45")
    shutil.copytree(state["folder"], tmp_path / "save" / "global_step40")
    assert read_neox_checkpoint(tmp_path / "save", num_layers=2, step=45).folder == tmp_path / "save" / "global_step45"
    with pytest.raises(NeoxCheckpointError, match="but 2 global_step folders"):
        read_neox_checkpoint(tmp_path / "save", num_layers=2)
    (tmp_path / "save/global_step45/zero_pp_rank_0_mp_rank_00_optim_states.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(NeoxCheckpointError, match="zero_pp_rank_0_mp_rank_00_optim_states.pt: could not be read"):
        read_neox_checkpoint(tmp_path / "save", num_layers=2, step=45)


@pytest.mark.parametrize("victim", ["mp_rank_00_model_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt",
                                    "layer_02-model_00-model_states.pt"])
def test_a_pickle_payload_in_any_file_is_refused_unrun(state: dict, tmp_path: Path, victim: str) -> None:
    folder = tmp_path / "step45"
    shutil.copytree(state["folder"], folder)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    doc = torch.load(folder / victim, weights_only=False)
    doc["extra"] = Payload()
    torch.save(doc, folder / victim)
    with pytest.raises(NeoxCheckpointError, match=rf"{victim}: holds objects beyond tensors and GPT-NeoX's plain "
                                                  r"records \(.*system"):
        read_neox_checkpoint(folder, num_layers=2)
    assert not marker.exists()


def test_the_raw_checkpoint_repository_follows_the_model() -> None:
    assert SourceConfig(hub="EleutherAI/pythia-160m-seed3").neox_location() == "EleutherAI/neox-ckpt-pythia-160m-seed3"
    assert SourceConfig(hub="EleutherAI/pythia-410m-deduped", neox="/x").neox_location() == "/x"
    assert any("zero_stage 1 or 2" in p for p in to_train_config(compose(
        ["+experiment=mini-test", "source.optimizer=neox", "source.neox=/x", "deepspeed=zero0-cpu"])).problems())


def test_a_run_reads_the_same_rows_from_parquet_chunks(state: dict, tmp_path: Path) -> None:
    """data.source=parquet end to end: the run reads its steps from chunks of its data order and ends
    with the same weights, bit for bit, as the run that read the .bin/.idx."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from debias.data.indexed import MMapIndexedDataset

    from_bin = run(compose(_overrides(tmp_path / "bin", state["folder"])))
    record = json.loads((from_bin.run_dir / "run.json").read_text())
    rows = np.array(MMapIndexedDataset(record["data_order"]).rows(0, 50 * 4))
    chunks = tmp_path / "chunks"
    chunks.mkdir()
    for end in range(10, 51, 10):
        part = rows[(end - 10) * 4:end * 4]
        pq.write_table(pa.table({"uid": np.arange((end - 10) * 4, end * 4), "batch_idx": np.repeat(np.arange(end - 10, end), 4),
                                 "token_ids": pa.array([r.tolist() for r in part], type=pa.list_(pa.uint16()))}),
                       chunks / f"train-{end:06d}.parquet")
    from_parquet = run(compose([*_overrides(tmp_path / "parquet", state["folder"]), "data.source=parquet",
                                f"data.parquet_path={chunks}", "data.steps_per_file=10",
                                f"data.tokenizer={record['tokenizer']}"]))
    used = json.loads((from_parquet.run_dir / "run.json").read_text())["data_order"]
    assert json.loads(Path(f"{used}.steps.json").read_text())["files"][0]["file"] == "train-000050.parquet"
    a = load_file(from_bin.run_dir / "checkpoints/step46/model.safetensors")
    b = load_file(from_parquet.run_dir / "checkpoints/step46/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
