"""Small GPT-NeoX raw checkpoints for tests, in the layout Pythia's training wrote (GPT-NeoX v1.0,
DeeperSpeed 0.3's ZeRO stage 1 elastic partitions; see debias/train/neox_checkpoint.py): pipeline
layer files, the model states, and one optimizer partition per data-parallel rank, whose chunks
are dealt to ranks in turn and saved without their padding."""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler

LAYER_KEYS = ("input_layernorm.weight", "input_layernorm.bias", "attention.query_key_value.weight",
              "attention.query_key_value.bias", "attention.dense.weight", "attention.dense.bias",
              "post_attention_layernorm.weight", "post_attention_layernorm.bias", "mlp.dense_h_to_4h.weight",
              "mlp.dense_h_to_4h.bias", "mlp.dense_4h_to_h.weight", "mlp.dense_4h_to_h.bias")


def neox_names(num_layers: int) -> list[tuple[str, str]]:
    """(GPT-NeoX pipeline name, our name) of every parameter, in GPT-NeoX's model order."""
    out = [("0.word_embeddings.weight", "gpt_neox.embed_in.weight")]
    for i in range(num_layers):
        out += [(f"{i + 2}.{k}", f"gpt_neox.layers.{i}.{k}") for k in LAYER_KEYS]
    out += [(f"{num_layers + 3}.norm.weight", "gpt_neox.final_layer_norm.weight"),
            (f"{num_layers + 3}.norm.bias", "gpt_neox.final_layer_norm.bias"),
            (f"{num_layers + 4}.final_linear.weight", "lm_head.weight")]  # transformers 5's name
    return out


def _loss_scaler() -> DynamicLossScaler:
    """The loss scaler as DeeperSpeed 0.3 pickled it: its class and the attributes it had then."""
    scaler = DynamicLossScaler.__new__(DynamicLossScaler)
    scaler.__dict__.update({"cur_scale": 4096.0, "cur_iter": 45, "last_overflow_iter": 41, "scale_factor": 2.0,
                            "scale_window": 1000, "min_scale": 1, "delayed_shift": 2, "cur_hysteresis": 2,
                            "consecutive_hysteresis": False, "raise_error_at_min_scale": True})
    return scaler


def _deal(flat: torch.Tensor, ranks: int, intervals: int, chunk: int) -> list[list[torch.Tensor]]:
    """``flat`` padded to ``intervals * ranks`` chunks of ``chunk``; chunk k to rank k % ranks, each
    saved lean (its padding cut, possibly to nothing)."""
    assert intervals * ranks * chunk >= flat.numel()
    out: list[list[torch.Tensor]] = [[] for _ in range(ranks)]
    for k in range(intervals * ranks):
        out[k % ranks].append(flat[k * chunk:min((k + 1) * chunk, flat.numel())].clone())
    return out


def write_neox_checkpoint(folder: Path, masters: dict[str, torch.Tensor], exp_avg: dict[str, torch.Tensor],
                          exp_avg_sq: dict[str, torch.Tensor], *, num_layers: int, iteration: int, skipped: int,
                          ranks: int = 2) -> Path:
    """Write one step's files into ``folder``; the weight group is dealt in 2 intervals, the bias and
    norm group in 3 with the last rank's last chunk empty (as for Pythia's sizes of 1b and up)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = neox_names(num_layers)
    shapes = OrderedDict((neox, masters[ours].shape) for neox, ours in names)
    decay = [(n, o) for n, o in names if not (n.endswith(".bias") or "norm" in n)]
    rest = [(n, o) for n, o in names if (n, o) not in decay]
    groups = []
    for members, intervals in ((decay, 2), (rest, 3)):
        size = sum(masters[o].numel() for _, o in members)
        chunk = math.ceil(size / (intervals * ranks - 1))  # leaves the last chunk empty
        groups.append({key: _deal(torch.cat([src[o].reshape(-1).float() for _, o in members]), ranks, intervals, chunk)
                       for key, src in (("masters", masters), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq))})
    for r in range(ranks):
        state = {
            "loss_scaler": _loss_scaler(),
            "dynamic_loss_scale": True, "overflow": False,
            "base_optimizer_state": [[{"exp_avg": a, "exp_avg_sq": b} for a, b in zip(g["exp_avg"][r], g["exp_avg_sq"][r], strict=True)]
                                     for g in groups],
            "zero_stage": 1, "partition_count": ranks,
            "num_comm_intervals_per_group": [len(g["masters"][r]) for g in groups],
            "local_sub_partitions_of_fp32_groups": [g["masters"][r] for g in groups],
        }
        torch.save({"optimizer_state_dict": state, "param_shapes": shapes},
                   folder / f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt")
    by_layer: dict[int, dict[str, torch.Tensor]] = {}
    for neox, ours in names:
        index, _, key = neox.partition(".")
        by_layer.setdefault(int(index), {})[key] = masters[ours].half()
        if key == "attention.query_key_value.bias":  # the rotary buffer GPT-NeoX saves among the weights
            by_layer[int(index)]["attention.rotary_emb.inv_freq"] = torch.ones(4, dtype=torch.half)
    for index, tensors in by_layer.items():
        torch.save(tensors, folder / f"layer_{index:02d}-model_00-model_states.pt")
    torch.save({"module": None, "optimizer": None,
                "lr_scheduler": {"start_lr": 3e-3, "warmup_iter": 0.5, "num_iters": iteration - skipped,
                                 "decay_style": "cosine", "end_iter": 50, "min_lr": 3e-4},
                "csr_tensor_module_names": set(), "skipped_steps": skipped, "global_steps": iteration,
                "global_samples": iteration * 4, "dp_world_size": ranks, "mp_world_size": 1, "iteration": iteration,
                "args": {"num_layers": num_layers, "tokenizer_type": "HFTokenizer"},
                "random_rng_state": random.getstate(), "np_rng_state": np.random.get_state(),
                "torch_rng_state": torch.get_rng_state(), "cuda_rng_state": torch.get_rng_state(),
                "rng_tracker_states": {"model-parallel-rng": torch.get_rng_state()}},
               folder / "mp_rank_00_model_states.pt")
    return folder
