"""The DeepSpeed engine: process-group setup (one process with gloo on CPU, or under the
``deepspeed`` launcher on GPUs), the DeepSpeed config a run implies, and checkpoints written so
that a ``deepspeed/step<N>`` folder that exists is complete."""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import pickle
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from debias.core import atomic
from debias.core.contracts import step_dirs, step_name
from debias.core.environ import environ_restored
from debias.core.input_errors import InputError, is_write_failure, with_path
from debias.train.config import DeepSpeedConfig, OptimConfig
from debias.train.launch import export_placement
from debias.train.model import param_groups

log = logging.getLogger(__name__)


LAUNCH_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextmanager
def launch_env() -> Iterator[None]:
    """Keep the variables ``setup_distributed`` sets for a launcher-less run inside the run: a
    subprocess started later (another ``python -m debias.train``) must not inherit this process's port."""
    with environ_restored(LAUNCH_ENV):
        yield


def world_size() -> int:
    """Processes in the job: the launcher's ``WORLD_SIZE``, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


@contextmanager
def main_first() -> Iterator[None]:
    """Run the body on rank 0 first, then on the other ranks (building data, rewriting a tail): the
    others find the work done. A no-op in a one-process job."""
    many = world_size() > 1 and torch.distributed.is_initialized()
    if many and rank() != 0:
        torch.distributed.barrier()
    try:
        yield
    finally:
        if many and rank() == 0:
            torch.distributed.barrier()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_distributed(cfg: DeepSpeedConfig) -> Any:
    """Import DeepSpeed for ``cfg.device`` and join (or create) the process group; returns the module.

    Under torchrun or the ``deepspeed`` launcher their variables say where this process stands;
    under Slurm or submitit, ``train.launch`` derives them; without any, this is a one-process
    group on localhost. A collective that waits longer than ``cfg.collective_timeout_s`` (a rank
    hung or gone) fails instead of blocking forever. On CPU, DeepSpeed builds its
    shared-memory op with the C++ compiler the first time (cached under TORCH_EXTENSIONS_DIR).
    """
    if cfg.device == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
        _say_if_shm_op_builds()
    export_placement()  # under Slurm or submitit: their rank, world size and master address
    if "RANK" not in os.environ:
        os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"})
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    import deepspeed

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(dist_backend=cfg.dist_backend, verbose=False,
                                   timeout=datetime.timedelta(seconds=cfg.collective_timeout_s))
    if cfg.device == "gpu":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return deepspeed


SHM_OP = "deepspeed_shm_comm"  # DeepSpeed's shared-memory collectives on CPU, compiled on first use


def extensions_dir() -> Path:
    """Where torch builds DeepSpeed's ops for this environment: ``TORCH_EXTENSIONS_DIR`` when set,
    else a folder of torch's cache named for this interpreter's prefix and the torch and DeepSpeed
    versions. Torch's own default is one folder per Python version, which two environments share
    and rebuild in turn, each finding the other's build stale."""
    given = os.environ.get("TORCH_EXTENSIONS_DIR")
    if given:
        return Path(given)
    from importlib.metadata import version

    key = f"{sys.prefix}|{torch.__version__}|{version('deepspeed')}"
    tag = f"py{sys.version_info.major}{sys.version_info.minor}_cpu_{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch_extensions" / tag


def _say_if_shm_op_builds() -> None:
    """Point torch's op builds at this environment's folder, and say once, before the silent minute
    or two it takes, when DeepSpeed is about to compile its shared-memory op there."""
    folder = extensions_dir()
    os.environ["TORCH_EXTENSIONS_DIR"] = str(folder)
    if not (folder / SHM_OP / f"{SHM_OP}.so").is_file():
        log.warning("DeepSpeed compiles its shared-memory op (%s) with the C++ compiler on first use in this "
                    "environment: a minute or two, once; it is kept in %s", SHM_OP, folder)


def accumulation_steps(cfg: DeepSpeedConfig, rows_per_step: int, world: int) -> int | None:
    """The accumulation steps that make ``rows_per_step``, or None when no whole number does."""
    if cfg.gradient_accumulation_steps is not None:
        return cfg.gradient_accumulation_steps
    per_pass = cfg.micro_batch_size * world
    return rows_per_step // per_pass if rows_per_step % per_pass == 0 else None


def ds_config(cfg: DeepSpeedConfig, optim: OptimConfig, peak_lr: float, rows_per_step: int) -> dict[str, Any]:
    """The DeepSpeed JSON config of a run. The learning rate is set by the trainer before each
    update (``train.lr``), so no DeepSpeed scheduler is configured."""
    world = world_size()
    gas = accumulation_steps(cfg, rows_per_step, world)
    if gas is None or cfg.micro_batch_size * gas * world != rows_per_step:
        raise ValueError(f"data.rows_per_step={rows_per_step} is not micro_batch_size {cfg.micro_batch_size} x "
                         f"accumulation {gas} x world size {world}")
    params: dict[str, Any] = {"lr": peak_lr, "betas": list(optim.betas), "eps": optim.eps,
                              "weight_decay": optim.weight_decay}
    if cfg.torch_adam:
        params["torch_adam"] = True
    else:
        params["adam_w_mode"] = True
    out: dict[str, Any] = {
        "train_batch_size": rows_per_step,
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": gas,
        "gradient_clipping": optim.grad_clip,
        "optimizer": {"type": "AdamW", "params": params},
        "zero_optimization": {
            "stage": cfg.zero_stage,
            "overlap_comm": cfg.overlap_comm,
            "contiguous_gradients": cfg.contiguous_gradients,
            "reduce_bucket_size": cfg.reduce_bucket_size,
            "allgather_bucket_size": cfg.allgather_bucket_size,
        },
        "bf16": {"enabled": cfg.precision == "bf16"},
        # Pythia's dynamic loss scaling, for GPUs without bf16.
        "fp16": {"enabled": cfg.precision == "fp16", "loss_scale": 0, "loss_scale_window": 1000,
                 "initial_scale_power": 12, "hysteresis": 2, "min_loss_scale": 1},
        "steps_per_print": 2**62,
        "wall_clock_breakdown": False,
        "zero_allow_untested_optimizer": True,
        "checkpoint": {"tag_validation": "Ignore"},
    }
    return out


def make_engine(model: nn.Module, cfg: DeepSpeedConfig, optim: OptimConfig, peak_lr: float,
                rows_per_step: int) -> Any:
    """Wrap ``model`` in a DeepSpeed engine with AdamW over GPT-NeoX's decay groups."""
    deepspeed = setup_distributed(cfg)
    config = ds_config(cfg, optim, peak_lr, rows_per_step)
    if cfg.device == "gpu":
        model = model.to(torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))))
    groups = param_groups(model, optim.weight_decay)
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=groups, config=config)
    return engine


def set_lr(engine: Any, lr: float) -> None:
    for group in engine.optimizer.param_groups:
        group["lr"] = lr


def current_lr(engine: Any) -> float:
    return float(engine.optimizer.param_groups[0]["lr"])


def save_checkpoint(engine: Any, ds_dir: Path, step: int, client_state: dict[str, Any]) -> Path:
    """Write DeepSpeed's checkpoint of ``step`` to ``ds_dir/step<N>``, complete or not at all.

    DeepSpeed writes into a temporary folder beside it, which is then renamed; ``ds_dir/latest``
    names the newest tag, as DeepSpeed's own loader expects.
    """
    tag = step_name(step)
    ds_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(atomic.mkdtemp(dir=ds_dir, prefix=f".{tag}.", suffix=".tmp")) if rank() == 0 else None
    tmp_name = [str(tmp) if tmp else ""]
    if world_size() > 1:
        torch.distributed.broadcast_object_list(tmp_name, src=0)
    tmp = Path(tmp_name[0])
    try:
        try:
            engine.save_checkpoint(str(tmp), tag=tag, client_state=client_state, save_latest=False)
        except Exception as exc:
            if not is_write_failure(exc):
                raise
            # a full disk or a read-only folder: torch's zip writer names no file
            raise with_path(exc, ds_dir / tag) from exc
        if rank() == 0:
            atomic.honour_umask(tmp / tag)
            dest = ds_dir / tag
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp / tag, dest)
            latest = ds_dir / ".latest.tmp"
            latest.write_text(tag)
            os.replace(latest, ds_dir / "latest")
    finally:
        if rank() == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        if world_size() > 1:
            torch.distributed.barrier()
    return ds_dir / tag


# The only classes a DeepSpeed ZeRO 0-2 checkpoint of this project pickles besides tensors and
# containers: plain records of the loss scaler, ZeRO's stage and a parameter's place in a flat buffer.
SAFE_DEEPSPEED_TYPES = (
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
    "deepspeed.runtime.zero.config.ZeroStageEnum",
    "deepspeed.utils.tensor_fragment.fragment_address",
)


def _safe_types() -> list[Any]:
    import importlib

    out = []
    for name in SAFE_DEEPSPEED_TYPES:
        module, _, attr = name.rpartition(".")
        try:
            out.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError):  # another DeepSpeed version: fewer types allowed
            continue
    return out


def safe_torch_load(path: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load`` that unpickles only tensors, containers and ``SAFE_DEEPSPEED_TYPES``
    (``weights_only=True``): a ``.pt`` file from elsewhere cannot run code when it is read."""
    try:
        with torch.serialization.safe_globals(_safe_types()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # noqa: BLE001 - a file too broken to list; the refusal stands
            unsafe = []
        unsafe = [g for g in unsafe if g not in SAFE_DEEPSPEED_TYPES]
        named = f" ({', '.join(unsafe[:5])})" if unsafe else ""
        raise InputError(path, f"the DeepSpeed state holds objects other than tensors and DeepSpeed's plain "
                               f"records{named}, which loading would execute",
                         "it was not written by this project's trainer: resume with source.optimizer=fresh "
                         "(weights from safetensors only), or delete this checkpoint") from exc


def load_checkpoint(engine: Any, ds_dir: Path, step: int) -> dict[str, Any]:
    """Load weights and optimizer state of ``ds_dir/step<N>`` into ``engine``; returns its client state.

    DeepSpeed's own loader unpickles with ``weights_only=False``; every file it reads here goes
    through ``safe_torch_load`` instead, so a crafted checkpoint is refused before it runs anything.
    """
    tag = step_name(step)
    if not (ds_dir / tag).is_dir():
        raise FileNotFoundError(f"{ds_dir / tag}: no DeepSpeed checkpoint at step {step}")
    loader = engine.checkpoint_engine
    loader.load = lambda path, map_location=None: safe_torch_load(path, map_location)
    try:
        path, client = engine.load_checkpoint(str(ds_dir), tag=tag, load_optimizer_states=True,
                                              load_lr_scheduler_states=False)
    finally:
        del loader.load  # the instance attribute; the class's method shows again
    if path is None:
        raise RuntimeError(f"{ds_dir / tag}: DeepSpeed could not load this checkpoint; it may be from another "
                           "ZeRO stage or model shape. Resume with source.optimizer=fresh instead")
    return client or {}


def clear_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete what a killed run left half-written in ``run_dir``: ``deepspeed/.step<N>.*.tmp``,
    ``checkpoints/.step<N>.*.tmp`` and the records' temporary files. Only rank 0, only when the
    run directory is this run's (after the run-directory policy said so). Returns what was removed."""
    if rank() != 0:
        return []
    removed = []
    for folder in (run_dir, run_dir / "deepspeed", run_dir / "checkpoints"):
        if not folder.is_dir():
            continue
        for child in folder.iterdir():
            if child.name.startswith(".") and child.name.endswith((".tmp", ".old")):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
                removed.append(child)
    if removed:
        log.info("%s: removed %d temporary file(s) a stopped run left: %s", run_dir, len(removed),
                 ", ".join(p.name for p in removed[:5]))
    return removed


def checkpoint_steps(ds_dir: Path) -> list[int]:
    """Steps of the complete DeepSpeed checkpoints in ``ds_dir`` (temporary folders excluded)."""
    return [step for step, _ in step_dirs(ds_dir)]


def prune_checkpoints(ds_dir: Path, keep: set[int]) -> None:
    """Delete DeepSpeed checkpoints whose steps are not in ``keep``."""
    if rank() != 0:
        return
    for step in checkpoint_steps(ds_dir):
        if step not in keep:
            shutil.rmtree(ds_dir / step_name(step), ignore_errors=True)
