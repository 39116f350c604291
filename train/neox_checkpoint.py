"""Resume a Pythia model exactly as GPT-NeoX left it: the fp32 master weights and Adam moments of
its raw training checkpoint (``EleutherAI/neox-ckpt-pythia-<size>[-deduped|-seed<k>]``, branch
``step<N>``), mapped onto our GPT-NeoX parameters, with Adam's step count continued.

The format, read from GPT-NeoX v1.0 and the DeeperSpeed commit it pins (eb7f5cff, ZeRO stage 1,
``stage1.py``'s elastic checkpoints, pipeline-parallel size 1, model-parallel size 1):

- ``layer_XX-model_00-model_states.pt``: fp16 weights per pipeline layer (00 the embedding,
  ``i + 2`` transformer layer ``i``, ``L + 3`` the final norm, ``L + 4`` the output layer);
- ``mp_rank_00_model_states.pt``: ``iteration``, ``global_steps``, ``skipped_steps``, the learning-rate
  scheduler's state, ``args`` and random-number states;
- ``zero_pp_rank_<r>_mp_rank_00_optim_states.pt``, one per data-parallel rank: ``param_shapes`` (every
  parameter in model order) and ``optimizer_state_dict`` with, per parameter group ``g`` and
  communication interval ``c``, the rank's fp32 slice ``local_sub_partitions_of_fp32_groups[g][c]``
  and its ``base_optimizer_state[g][c]`` (``exp_avg``, ``exp_avg_sq``). Group 0 holds the weights
  that decay, group 1 the biases and LayerNorms, each in model order, flattened into one buffer
  cut into chunks dealt to ranks in turn (chunk ``k``: rank ``k % ranks``, interval ``k // ranks``)
  and saved without their padding: chunks in (interval, rank) order give the buffer back.

Adam's step count is not saved (it lives in the dropped ``param_groups``). DeeperSpeed's ZeRO-1 took
one step with zero gradients when it was built and one per update since, so Adam had counted
``global_steps - skipped_steps + 1`` (assuming no restart, which reset it; beyond step 1,000 the bias
correction is 1 to 1e-22 either way). The learning-rate scheduler did not advance on the steps
skipped for fp16 overflow: the run continues GPT-NeoX's curve from its ``num_iters``, and a
scheduler whose peak, floor, warmup or length differ from the run's is refused. Every file is read with ``weights_only=True`` and an allow-list of the plain
records these files hold; anything else is refused before it runs. Sizes trained with model
parallelism (6.9b, 12b) or without pipeline layers (14m, 31m) are refused with the reason.
"""

from __future__ import annotations

import logging
import math
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from debias.core.input_errors import InputError

log = logging.getLogger(__name__)

LAYER_FILE = re.compile(r"^layer_(\d+)-model_(\d+)-model_states\.pt$")
ZERO_FILE = re.compile(r"^zero_pp_rank_(\d+)_mp_rank_(\d+)_optim_states\.pt$")
MODEL_STATES = "mp_rank_00_model_states.pt"
NEOX_FIX = ("give source.neox the folder of one step of a GPT-NeoX raw checkpoint (e.g. branch step<N> of "
            "EleutherAI/neox-ckpt-pythia-410m-deduped), or resume with source.optimizer=fresh")


class NeoxCheckpointError(InputError):
    """A GPT-NeoX checkpoint this reader cannot use: missing files, another layout, or an unsafe pickle."""


class LossScalerRecord:
    """The plain record an fp16 run's ``DynamicLossScaler`` is unpickled as: its attributes, no code."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _safe_globals() -> list[Any]:
    """What these files pickle besides tensors and containers: the loss scaler's record, numpy's
    random state (an array of a dtype) and a set; numpy 1.x wrote its reconstructor as numpy.core."""
    out: list[Any] = [(LossScalerRecord, "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler"),
                      (LossScalerRecord, "deepspeed.runtime.fp16.loss_scaler.LossScaler"),
                      np.ndarray, np.dtype, set]
    core = getattr(np, "_core", None) or np.core
    out += [(core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
            (core.multiarray._reconstruct, "numpy._core.multiarray._reconstruct")]
    out += [getattr(np.dtypes, name) for name in ("UInt32DType", "Int64DType", "Float64DType")
            if hasattr(np, "dtypes") and hasattr(np.dtypes, name)]
    return out


def load_safely(path: Path) -> Any:
    """``torch.load`` of one checkpoint file, unpickling nothing beyond ``_safe_globals``."""
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except RuntimeError as exc:  # torch's zip reader on a truncated or damaged file
        raise NeoxCheckpointError(path, f"could not be read ({exc})".replace("\n", " ")[:300],
                                  "download the step's files again") from exc
    except pickle.UnpicklingError as exc:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # noqa: BLE001 - too broken to list; the refusal stands
            unsafe = []
        named = f" ({', '.join(unsafe[:5])})" if unsafe else ""
        raise NeoxCheckpointError(path, f"holds objects beyond tensors and GPT-NeoX's plain records{named}, which "
                                        "loading would execute; nothing of it was run",
                                  "use a checkpoint downloaded from EleutherAI's neox-ckpt repositories") from exc


def hf_name(neox: str, num_layers: int) -> str:
    """Our (``GPTNeoXForCausalLM``) name of a GPT-NeoX pipeline parameter such as ``2.attention.dense.weight``."""
    index, _, rest = neox.partition(".")
    i = int(index)
    if i == 0 and rest == "word_embeddings.weight":
        return "gpt_neox.embed_in.weight"
    if 2 <= i < num_layers + 2:
        return f"gpt_neox.layers.{i - 2}.{rest}"
    if i == num_layers + 3 and rest.startswith("norm."):
        return f"gpt_neox.final_layer_norm.{rest[5:]}"
    if i == num_layers + 4 and rest == "final_linear.weight":
        return "embed_out.weight"
    raise KeyError(neox)


def decays(neox: str) -> bool:
    """Whether GPT-NeoX put the parameter in the weight-decay group (all but biases and norms)."""
    return not (neox.endswith(".bias") or "norm" in neox.rsplit(".", 1)[0].split(".", 1)[-1])


@dataclass
class NeoxState:
    """One step of a GPT-NeoX checkpoint, per parameter under our names."""

    folder: Path
    iteration: int
    adam_steps: int  # Adam's count: global_steps - skipped_steps + 1 (its zero-gradient first step)
    ranks: int
    masters: dict[str, torch.Tensor] = field(repr=False)
    exp_avg: dict[str, torch.Tensor] = field(repr=False)
    exp_avg_sq: dict[str, torch.Tensor] = field(repr=False)
    lr_scheduler: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What the run record says of the optimizer state it started from."""
        return {"folder": str(self.folder), "iteration": self.iteration, "adam_steps": self.adam_steps,
                "zero_ranks": self.ranks, "parameters": len(self.masters),
                "lr_scheduler_iters": self.lr_scheduler.get("num_iters"), "lr_steps_behind": self.lr_steps_behind}

    @property
    def lr_steps_behind(self) -> int:
        """How far GPT-NeoX's scheduler stood behind the step count (steps skipped on fp16 overflow)."""
        iters = self.lr_scheduler.get("num_iters")
        return self.iteration - int(iters) if iters is not None else 0

    def schedule_problems(self, peak: float, min_lr: float, total_steps: int, warmup_steps: float) -> list[str]:
        """Where GPT-NeoX's learning-rate schedule differs from the run's (empty when it has none saved)."""
        saved = self.lr_scheduler
        want = {"start_lr": peak, "min_lr": min_lr, "end_iter": total_steps, "warmup_iter": warmup_steps}
        return [f"{key}={saved[key]} (this run: {value:g})" for key, value in want.items()
                if key in saved and not math.isclose(float(saved[key]), float(value), rel_tol=1e-6, abs_tol=1e-12)]


def step_folder(folder: Path, step: int | None = None) -> Path:
    """The folder holding the step's files: ``folder`` itself, its ``global_step<step>`` folder (a
    GPT-NeoX save folder holds one per saved step), or its only ``global_step<N>`` folder."""
    if (folder / MODEL_STATES).is_file():
        return folder
    if step is not None and (folder / f"global_step{step}" / MODEL_STATES).is_file():
        return folder / f"global_step{step}"
    inner = sorted(p for p in folder.glob("global_step*") if (p / MODEL_STATES).is_file()) if folder.is_dir() else []
    if len(inner) == 1:
        return inner[0]
    raise NeoxCheckpointError(folder, f"holds no {MODEL_STATES}" + (f" but {len(inner)} global_step folders"
                                                                    if inner else ""), NEOX_FIX)


def _zero_files(folder: Path) -> list[Path]:
    found = {int(m[1]): folder / m[0] for p in folder.iterdir() if (m := ZERO_FILE.match(p.name))}
    if any(ZERO_FILE.match(p.name)[2] != "00" for p in folder.iterdir() if ZERO_FILE.match(p.name)) or any(
            LAYER_FILE.match(p.name)[2] != "00" for p in folder.iterdir() if LAYER_FILE.match(p.name)):
        raise NeoxCheckpointError(folder, "was trained with model parallelism (files of model rank 01 and up, as for "
                                          "pythia-6.9b and 12b); merging tensor-parallel shards is not supported",
                                  "resume these sizes with source.optimizer=fresh")
    if not found:
        has_layers = any(LAYER_FILE.match(p.name) for p in folder.iterdir())
        raise NeoxCheckpointError(folder, "holds no zero_pp_rank_*_mp_rank_00_optim_states.pt" + (
            "" if has_layers else " and no layer files (pythia-14m and 31m were trained without pipeline layers or "
                                  "ZeRO, a layout this reader does not take)"), NEOX_FIX)
    if sorted(found) != list(range(len(found))):
        raise NeoxCheckpointError(folder, f"holds the optimizer partitions of ranks {sorted(found)}, not 0..{len(found) - 1}",
                                  "download the step's files again: one is missing")
    return [found[r] for r in range(len(found))]


def _flat(parts: list[list[torch.Tensor]], ranks: int) -> torch.Tensor:
    """A group's buffer from each rank's chunks (``parts[rank][interval]``): intervals outer, ranks inner."""
    intervals = len(parts[0])
    return torch.cat([parts[r][c].reshape(-1).float() for c in range(intervals) for r in range(ranks)])


def read_neox_checkpoint(folder: str | Path, num_layers: int, step: int | None = None) -> NeoxState:
    """Read one step (``step``, where the folder holds several) of a GPT-NeoX raw checkpoint of a
    ``num_layers``-layer model (see the module's docstring); every tensor is checked against the
    shapes the files themselves record."""
    folder = step_folder(Path(folder), step)
    zero_paths = _zero_files(folder)
    meta = load_safely(folder / MODEL_STATES)
    if not isinstance(meta, dict) or "iteration" not in meta:
        raise NeoxCheckpointError(folder / MODEL_STATES, "has no 'iteration': not GPT-NeoX's model states", NEOX_FIX)
    shards = [load_safely(p) for p in zero_paths]
    for path, shard in zip(zero_paths, shards, strict=True):
        osd = shard.get("optimizer_state_dict", {}) if isinstance(shard, dict) else {}
        if "local_sub_partitions_of_fp32_groups" not in osd or "param_shapes" not in shard:
            found = sorted(osd)[:8] if isinstance(osd, dict) else type(osd).__name__
            raise NeoxCheckpointError(path, f"is not a ZeRO stage 1 elastic partition of DeeperSpeed 0.3 (it holds "
                                            f"{found})", "this reader takes the checkpoints Pythia's training wrote")
        if osd.get("partition_count", len(shards)) != len(shards):
            raise NeoxCheckpointError(path, f"was one of {osd['partition_count']} ranks, but {len(shards)} "
                                            "partition files are here", "download the step's files again")
    shapes: dict[str, torch.Size] = shards[0]["param_shapes"]
    try:
        ours = {n: hf_name(n, num_layers) for n in shapes}
    except KeyError as exc:
        raise NeoxCheckpointError(zero_paths[0], f"holds the parameter {exc.args[0]}, which a {num_layers}-layer "
                                                 "GPT-NeoX does not have", "pick the model= of this checkpoint's size") from None
    groups = [[n for n in shapes if decays(n)], [n for n in shapes if not decays(n)]]
    kept = len(shards[0]["optimizer_state_dict"]["local_sub_partitions_of_fp32_groups"])
    if kept != len(groups):
        raise NeoxCheckpointError(zero_paths[0], f"holds {kept} parameter group(s), not GPT-NeoX's 2 (weights that "
                                                 "decay; biases and norms)", "this reader takes Pythia's checkpoints")
    out: dict[str, dict[str, torch.Tensor]] = {"masters": {}, "exp_avg": {}, "exp_avg_sq": {}}
    for g, names in enumerate(groups):
        osds = [s["optimizer_state_dict"] for s in shards]
        buffers = {
            "masters": _flat([o["local_sub_partitions_of_fp32_groups"][g] for o in osds], len(shards)),
            "exp_avg": _flat([[c["exp_avg"] for c in o["base_optimizer_state"][g]] for o in osds], len(shards)),
            "exp_avg_sq": _flat([[c["exp_avg_sq"] for c in o["base_optimizer_state"][g]] for o in osds], len(shards)),
        }
        sizes = [int(np.prod(shapes[n])) for n in names]
        for key, flat in buffers.items():
            if flat.numel() != sum(sizes):
                raise NeoxCheckpointError(zero_paths[0], f"group {g}'s {key} holds {flat.numel()} values, but its "
                                                         f"{len(names)} parameters need {sum(sizes)}",
                                          "the partitions are of another model or another layout")
            for name, piece in zip(names, flat.split(sizes), strict=True):
                out[key][ours[name]] = piece.view(shapes[name]).clone()
    _check_layer_files(folder, out["masters"], num_layers)
    adam = int(meta.get("global_steps", meta["iteration"])) - int(meta.get("skipped_steps", 0)) + 1
    state = NeoxState(folder, int(meta["iteration"]), adam, len(shards), out["masters"], out["exp_avg"],
                      out["exp_avg_sq"], dict(meta.get("lr_scheduler") or {}))
    log.info("GPT-NeoX checkpoint %s: iteration %d, %d parameters from %d ZeRO partition(s)", folder, state.iteration,
             len(state.masters), state.ranks)
    return state


def _check_layer_files(folder: Path, masters: dict[str, torch.Tensor], num_layers: int) -> None:
    """The fp16 layer files must be the fp32 masters rounded: partitions from another step or model are refused."""
    for path in sorted(folder.glob("layer_*-model_00-model_states.pt")):
        index = int(LAYER_FILE.match(path.name)[1])
        for key, tensor in load_safely(path).items():
            if key.endswith("inv_freq"):
                continue
            try:
                ours = masters.get(hf_name(f"{index}.{key}", num_layers))
            except KeyError:
                ours = None
            if ours is None or ours.shape != tensor.shape or not torch.equal(ours.to(tensor.dtype), tensor):
                raise NeoxCheckpointError(path, f"{key} is not the optimizer's master copy rounded to "
                                                f"{tensor.dtype}: the files are of different steps or models",
                                          "download the step's files again, all from one branch")


OUTPUT_NAMES = ("embed_out.weight", "lm_head.weight")  # the output layer, as transformers 4 and 5 name it


def check_matches(state: NeoxState, model: torch.nn.Module, where: str) -> None:
    """Every parameter of ``model`` has its master and moments in ``state``, of its shape (the output
    layer renamed to the model's own name for it)."""
    ours = dict(model.named_parameters())
    mine = next((n for n in OUTPUT_NAMES if n in ours), None)
    for table in (state.masters, state.exp_avg, state.exp_avg_sq):
        for other in OUTPUT_NAMES:
            if mine and other != mine and other in table:
                table[mine] = table.pop(other)
    missing = sorted(set(ours) - set(state.masters))
    extra = sorted(set(state.masters) - set(ours))
    wrong = [n for n in ours if n in state.masters and state.masters[n].shape != ours[n].shape]
    if missing or extra or wrong:
        shown = (f"{len(missing)} parameter(s) missing (e.g. {missing[:2]})" if missing else
                 f"{len(extra)} unknown (e.g. {extra[:2]})" if extra else
                 f"{wrong[0]} is {tuple(state.masters[wrong[0]].shape)}, not {tuple(ours[wrong[0]].shape)}")
        raise NeoxCheckpointError(state.folder, f"does not fit the configured model: {shown}",
                                  f"pick the model= of this checkpoint's size, or the checkpoint of {where}")


def apply_to_engine(engine: Any, state: NeoxState) -> None:
    """Put ``state`` into a DeepSpeed ZeRO 1/2 engine: the weights it trains (and their fp32 masters)
    and Adam's moments and step count, through DeepSpeed's own accessors of partitioned state."""
    from deepspeed.utils import (
        safe_get_full_optimizer_state,
        safe_set_full_fp32_param,
        safe_set_full_optimizer_state,
    )

    check_matches(state, engine.module, str(state.folder))
    _initialise_adam(engine.optimizer.optimizer)
    link = getattr(engine.optimizer, "_lazy_init_hp_params_optimizer_state", None)
    if link is not None:  # DeepSpeed ties each parameter to its slice of the new state after a first step
        link()
    with torch.no_grad():
        for name, param in engine.module.named_parameters():
            param.data.copy_(state.masters[name].to(param.dtype))
            safe_set_full_fp32_param(param, state.masters[name].to(param.device))
            for key in ("exp_avg", "exp_avg_sq"):
                safe_set_full_optimizer_state(param, getattr(state, key)[name].to(param.device), key)
        name, param = next(iter(engine.module.named_parameters()))
        if not torch.equal(safe_get_full_optimizer_state(param, "exp_avg").cpu(), state.exp_avg[name]):
            raise RuntimeError(f"{state.folder}: DeepSpeed did not take the Adam moments of {name}")
    _set_adam_steps(engine.optimizer.optimizer, state.adam_steps)
    log.info("optimizer state: GPT-NeoX's fp32 masters and Adam moments of %s (%d Adam steps so far)", state.folder,
             state.adam_steps)


def _initialise_adam(optimizer: torch.optim.Optimizer) -> None:
    """Make the optimizer create its per-parameter state (it does so lazily, on its first step):
    one step with zero gradients at learning rate 0 changes no weight and leaves zero moments."""
    rates = [group["lr"] for group in optimizer.param_groups]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    try:
        for group in optimizer.param_groups:
            group["lr"] = 0.0
        for p in params:
            p.grad = torch.zeros_like(p)
        optimizer.step()
    finally:
        for group, lr in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = lr
        for p in params:
            p.grad = None


def _set_adam_steps(optimizer: torch.optim.Optimizer, steps: int) -> None:
    """Adam's update count, wherever the optimizer keeps it (per parameter, or per group)."""
    for per_param in optimizer.state.values():
        if "step" in per_param:
            if torch.is_tensor(per_param["step"]):
                per_param["step"].fill_(steps)
            else:
                per_param["step"] = steps
    for group in optimizer.param_groups:
        if "step" in group:
            group["step"] = steps


def neox_folder(location: str, revision: str, cache_dir: str | None = None) -> Path:
    """The local folder of ``location`` at ``revision``: ``location`` itself when it is a folder, else
    a hub repository's branch downloaded (only its ``.pt`` and ``.yml`` files) into the hub's cache."""
    if Path(location).is_dir():
        return Path(location)
    if location.startswith((".", "/")) or location.count("/") != 1:
        raise NeoxCheckpointError(location, "is neither a folder nor a hub repository name (owner/name)", NEOX_FIX)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    log.info("downloading GPT-NeoX checkpoint %s@%s (weights and optimizer partitions)", location, revision)
    try:
        return Path(snapshot_download(location, revision=revision, cache_dir=cache_dir,
                                      allow_patterns=["*.pt", "*.yml", "*/*.pt", "*/*.yml"]))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise NeoxCheckpointError(f"{location}@{revision}", f"could not be downloaded or found in the hub's cache "
                                                           f"({type(exc).__name__})",
                                  "check the name and branch, or download it yourself and give source.neox the "
                                  "folder") from exc
