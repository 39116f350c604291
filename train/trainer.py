"""One training run under DeepSpeed: pretraining the baseline from scratch, or resuming an
intervention or control arm from a checkpoint, on GPT-NeoX v1.0's learning-rate curve.

``run(cfg)`` is the entry point for the command line and for the study's orchestrator.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from debias.core.contracts import CHECKPOINTS, step_name
from debias.core.input_errors import InputError
from debias.core.processes import folder_lock
from debias.train import checkpoint
from debias.train import engine as ds
from debias.train.config import TrainConfig
from debias.train.curves import Curves, open_curves
from debias.train.data import TrainingData, prepare
from debias.train.launch import export_placement, rank_guard
from debias.train.lr import pythia_lr
from debias.train.model import build_model, load_pretrained
from debias.train.neox_checkpoint import (
    NeoxCheckpointError,
    apply_to_engine,
    check_matches,
    neox_folder,
    read_neox_checkpoint,
)
from debias.train.plan import Plan, deepspeed_source, make_plan
from debias.train.rundir import (
    MetricsLog,
    Restart,
    arm_record,
    discard_unstarted,
    now,
    open_run_dir,
    read_run_info,
    write_records,
)

log = logging.getLogger(__name__)

StepCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class RunResult:
    """What a run left: its directory, the steps it covers and its checkpoints."""

    run_dir: Path
    start_step: int
    end_step: int
    completed: bool
    checkpoints: list[int] = field(default_factory=list)
    skipped: bool = False

    def checkpoint(self, step: int) -> Path:
        return self.run_dir / CHECKPOINTS / step_name(step)


def _quiet_deepspeed() -> None:
    # DeepSpeed logs its whole config at INFO, and its op builder each compiler probe.
    for name in ("DeepSpeed", "deepspeed", "compilers"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _resumed_from(plan: Plan, where: str | None, optimizer: str) -> dict[str, Any] | None:
    if plan.mode != "resume":
        return None
    src = plan.cfg.source
    origin: dict[str, Any] = ({"hub": src.hub} if src.hub else
                              {"path": where} if optimizer == "neox" else {"path": str(plan.source_path)})
    revision = (src.revision or step_name(plan.start_step)) if src.hub else None
    return {**origin, "revision": revision, "step": plan.start_step, "optimizer": optimizer, "loaded_from": where}


def lm_loss(model: Any, rows: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy of rows of ``seq_length + 1`` tokens, as GPT-NeoX computes it:
    inputs are all tokens but the last, labels all but the first, in fp32."""
    logits = model(input_ids=rows[:, :-1], use_cache=False).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))


def train_batch(engine: Any, tokens: torch.Tensor, micro: int) -> torch.Tensor:
    """One optimizer step of the DeepSpeed engine over this process's rows, in micro-batches of
    ``micro`` (DeepSpeed averages over the accumulation and steps at its boundary); the mean loss."""
    total = torch.zeros((), device=tokens.device)
    chunks = tokens.split(micro)
    for rows in chunks:
        loss = lm_loss(engine, rows)
        engine.backward(loss)
        engine.step()
        total += loss.detach()
    return total / len(chunks)


class NonFiniteLossError(InputError):
    """A step's loss was NaN or infinite: the run stops there rather than train on to a "complete"
    run of NaN weights."""


class _Run:
    """The state of one run while it trains (kept off the module level so runs can follow each other
    in one process, as the study's orchestrator does)."""

    def __init__(self, plan: Plan, data: TrainingData, restart: Restart, resolved: dict[str, Any]) -> None:
        self.plan, self.data, self.restart, self.resolved = plan, data, restart, resolved
        cfg = plan.cfg
        self.run_dir = plan.run_dir
        self.ds_dir = self.run_dir / "deepspeed"
        self.ckpt_dir = self.run_dir / CHECKPOINTS
        self.is_main = ds.rank() == 0
        self.info: dict[str, Any] = {}
        self.tokenizer_dir: Path | None = None
        self.curves: Curves | None = None
        self.device = torch.device("cpu") if cfg.deepspeed.device == "cpu" else torch.device(
            "cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)

    # -- setting up -----------------------------------------------------------------------
    def build(self) -> None:
        plan, cfg = self.plan, self.plan.cfg
        torch.manual_seed(cfg.seed)
        where, optimizer = None, "fresh"
        neox = None
        if self.restart.step is None and plan.mode == "resume" and cfg.source.optimizer == "neox":
            neox = read_neox_checkpoint(self.neox_step_folder(), cfg.model.num_layers, plan.start_step)
            optim = cfg.optim
            differ = neox.schedule_problems(plan.peak_lr, plan.peak_lr * optim.min_lr_ratio, plan.total_steps,
                                            optim.warmup_fraction * plan.total_steps)
            if differ:
                raise NeoxCheckpointError(neox.folder, "its learning-rate schedule differs from this run's: "
                                                       + ", ".join(differ),
                                          "set model.lr, optim.min_lr_ratio, optim.warmup_fraction and schedule= to "
                                          "the checkpoint's, or resume another size's checkpoint")
            if neox.iteration != plan.start_step:
                raise NeoxCheckpointError(neox.folder, f"is GPT-NeoX's checkpoint of step {neox.iteration}, but this run "
                                              f"starts at step {plan.start_step}",
                                 f"give the checkpoint of step {plan.start_step} (branch step{plan.start_step})")
            model = build_model(cfg.model, cfg.seed)
            check_matches(neox, model, cfg.model.name)
            where = str(neox.folder)
        elif self.restart.step is not None or plan.mode == "pretrain":
            model = build_model(cfg.model, cfg.seed)
        else:
            model, where = load_pretrained(plan.source, cfg.model, plan.start_step)
        if cfg.model.activation_checkpointing:
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5
                model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.engine = ds.make_engine(model, cfg.deepspeed, cfg.optim, plan.peak_lr, cfg.data.rows_per_step)

        self.first_step = plan.start_step
        previous = read_run_info(self.run_dir) if self.restart.step is not None else {}
        # GPT-NeoX's scheduler did not advance on steps skipped for fp16 overflow: its curve, continued
        self.lr_behind = neox.lr_steps_behind if neox is not None else int(
            ((previous.get("resumed_from") or {}).get("neox") or {}).get("lr_steps_behind", 0))
        if self.restart.step is not None:
            ds.load_checkpoint(self.engine, self.ds_dir, self.restart.step)
            self.refuse_non_finite_state(self.ds_dir / step_name(self.restart.step))
            self.first_step = self.restart.step
            resumed = previous.get("resumed_from")
            log.info("continuing %s from its own DeepSpeed checkpoint of step %d (weights and optimizer state)",
                     self.run_dir, self.first_step)
        else:
            if plan.mode == "resume":
                ds_src = deepspeed_source(cfg, plan.source_path)
                tag_dir = ds_src / step_name(plan.start_step) if ds_src else None
                if neox is not None:
                    apply_to_engine(self.engine, neox)
                    optimizer = "neox"
                elif cfg.source.optimizer in ("loaded", "auto") and tag_dir is not None and tag_dir.is_dir():
                    ds.load_checkpoint(self.engine, ds_src, plan.start_step)
                    self.refuse_non_finite_state(tag_dir)
                    optimizer, where = "loaded", str(tag_dir)
                    log.info("optimizer state: loaded from the DeepSpeed checkpoint %s (weights from it too)", tag_dir)
                else:
                    log.info("optimizer state: fresh AdamW moments (weights only from %s)", where)
            resumed = _resumed_from(plan, where, optimizer)
            if neox is not None and resumed is not None:
                resumed["neox"] = {"location": cfg.source.neox_location(), **neox.record()}
        self.info = {
            "name": cfg.name, "arm": plan.arm, "model": cfg.model.name, "seed": cfg.seed,
            "start_step": plan.start_step, "end_step": plan.end_step, "total_steps": plan.total_steps,
            "seq_length": cfg.data.seq_length,  # the training context: evaluation windows use it
            "direction": cfg.intervention.direction if plan.arm == "intervention" else None,
            **arm_record(cfg.intervention, plan.arm),
            "resumed_from": resumed,
            "completed": False,
            "data_order": str(self.data.prefix), "tokenizer": str(self.data.tokenizer),
            "trained_on": self.data.describe(),
            "deepspeed": {"zero_stage": cfg.deepspeed.zero_stage, "precision": cfg.deepspeed.precision,
                          "micro_batch_size": cfg.deepspeed.micro_batch_size,
                          "gradient_accumulation_steps": plan.accumulation, "world_size": plan.world_size},
            "created": previous.get("created", now()),
            "restarts": [*previous.get("restarts", []),
                         *([{"step": self.first_step, "time": now()}] if self.restart.step is not None else [])],
        }
        if self.is_main:
            write_records(plan, self.resolved, self.info, self.data.record)
            if cfg.save.hf_checkpoints:
                self.tokenizer_dir = checkpoint.write_tokenizer(self.data.tokenizer, self.run_dir / ".tokenizer",
                                                                model_max_length=cfg.data.seq_length)
        self.metrics = MetricsLog(self.run_dir / "log.jsonl", keep_before=self.first_step) if self.is_main else None
        self.curves = open_curves(cfg.logging, self.run_dir, cfg.name, f"{cfg.model.name}-{cfg.data.name}",
                                  self.info["created"]) if self.is_main else None

    def neox_step_folder(self) -> Path:
        """The folder of GPT-NeoX's checkpoint of the start step (downloaded when it names a hub repository)."""
        src = self.plan.cfg.source
        revision = src.revision or step_name(self.plan.start_step)
        return neox_folder(str(src.neox_location()), revision, src.cache_dir)

    def refuse_non_finite_state(self, tag_dir: Path) -> None:
        """A DeepSpeed checkpoint whose weights hold NaN or infinity is refused where it is loaded:
        training from it would stop at its first step, and the advice there (continue from the last
        DeepSpeed checkpoint) would point back at it."""
        bad = [name for name, p in self.engine.module.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise InputError(
                tag_dir, f"its model state holds non-finite weights (NaN or infinity) in {len(bad)} tensor(s), "
                         f"e.g. {bad[0]}; it cannot be continued",
                "delete that checkpoint folder to continue from an earlier one (resume=auto), or start again with "
                "overwrite=true")

    # -- checkpoints ----------------------------------------------------------------------
    def save_hf(self, step: int) -> None:
        if self.is_main and self.plan.cfg.save.hf_checkpoints:
            state = {"step": step, "total_steps": self.plan.total_steps, "run": self.info}
            checkpoint.save(self.engine.module, self.ckpt_dir / step_name(step), tokenizer_dir=self.tokenizer_dir,
                            state=state)

    def save(self, step: int) -> None:
        save = self.plan.cfg.save
        if save.deepspeed_checkpoints:
            client = {"step": step, "total_steps": self.plan.total_steps, "arm": self.plan.arm}
            ds.save_checkpoint(self.engine, self.ds_dir, step, client)
            if not save.deepspeed_keep_all:
                ds.prune_checkpoints(self.ds_dir, self.plan.keep_deepspeed | {step})
        self.save_hf(step)

    # -- training -------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, Any]:
        plan, cfg, engine = self.plan, self.plan.cfg, self.engine
        began = time.perf_counter()
        lr = pythia_lr(step - self.lr_behind, plan.peak_lr, plan.total_steps, warmup_fraction=cfg.optim.warmup_fraction,
                       min_lr_ratio=cfg.optim.min_lr_ratio)
        ds.set_lr(engine, lr)
        micro = cfg.deepspeed.micro_batch_size
        per_rank = micro * plan.accumulation
        batch = self.data.batch(step)
        mine = batch[ds.rank() * per_rank:(ds.rank() + 1) * per_rank]
        tokens = torch.from_numpy(mine.astype(np.int64)).to(self.device)
        mean = train_batch(engine, tokens, micro)
        if plan.world_size > 1:
            torch.distributed.all_reduce(mean)
            mean /= plan.world_size
        norm = engine.get_global_grad_norm()
        used_lr = ds.current_lr(engine)
        seconds = time.perf_counter() - began
        return {"step": step, "loss": float(mean), "lr": used_lr,
                "grad_norm": None if norm is None else float(norm),
                "tokens_per_s": cfg.data.rows_per_step * cfg.data.seq_length / seconds, "time": time.time()}

    def train(self, on_step: StepCallback | None) -> None:
        plan, cfg = self.plan, self.plan.cfg
        checkpoints = set(plan.checkpoint_steps)
        hf_have = set(checkpoint.complete_steps(self.ckpt_dir))
        if self.first_step in checkpoints and self.first_step not in hf_have:
            if plan.mode == "pretrain" or cfg.save.start_checkpoint or self.restart.step is not None:
                self.save_hf(self.first_step)
        bar = tqdm(total=plan.end_step - self.first_step, desc=f"{plan.arm} {cfg.name}", unit="step",
                   disable=not (cfg.progress and self.is_main))
        try:
            for step in range(self.first_step, plan.end_step):
                record = self.train_step(step)
                if self.metrics is not None:
                    self.metrics.write(record)
                if self.curves is not None:
                    self.curves.write(record)
                if not math.isfinite(record["loss"]):
                    raise self.non_finite(step, record)
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}", refresh=False)
                if (step + 1 - self.first_step) % cfg.log_every == 0 or step + 1 == plan.end_step:
                    log.info("step %d/%d loss %.4f lr %.4g grad_norm %s %.0f tok/s", step + 1, plan.end_step,
                             record["loss"], record["lr"], record["grad_norm"], record["tokens_per_s"])
                if on_step is not None:
                    on_step(step, record)
                if step + 1 in checkpoints:
                    self.save(step + 1)
        finally:
            bar.close()
            if self.metrics is not None:
                self.metrics.close()
            if self.curves is not None:
                self.curves.close()
                self.curves = None
        self.info["completed"] = True
        self.info["finished"] = now()
        if self.is_main:
            write_records(plan, self.resolved, self.info, self.data.record)

    def non_finite(self, step: int, record: dict[str, Any]) -> NonFiniteLossError:
        """The error for a NaN or infinite loss at ``step``, naming the last checkpoint before it."""
        hf = [s for s in checkpoint.complete_steps(self.ckpt_dir) if s <= step]
        ds_steps = [s for s in ds.checkpoint_steps(self.ds_dir) if s <= step]
        if hf:
            good = f"the last good checkpoint is {self.ckpt_dir / step_name(hf[-1])}"
        elif self.plan.mode == "resume" and self.info.get("resumed_from"):
            good = f"no checkpoint of this run precedes it; it started from {self.info['resumed_from'].get('loaded_from')}"
        else:
            good = "no checkpoint precedes it"
        if ds_steps:
            good += f" (resume=auto continues from the DeepSpeed checkpoint of step {ds_steps[-1]})"
        return NonFiniteLossError(
            self.run_dir, f"the loss is {record['loss']} at step {step} (grad_norm {record['grad_norm']}); the run "
                          f"stopped there, unfinished; {good}",
            "check the source weights and the data, or lower the learning rate, then continue with resume=auto "
            "or start again with overwrite=true")

    def close(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.destroy()
            self.engine = None
        gc.collect()


def _decide_on_rank0(decide: Callable[[], Restart], world: int) -> Restart:
    """Rank 0 applies the run-directory policy; the other ranks follow its decision (or its refusal)."""
    if world == 1:
        return decide()
    box: list[Any] = [None]
    error: Exception | None = None
    if ds.rank() == 0:
        try:
            box = [decide()]
        except Exception as exc:  # re-raised below, after the other ranks have been told
            error, box = exc, [f"rank 0 stopped: {exc}"]
    torch.distributed.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    if isinstance(box[0], str):
        raise RuntimeError(box[0])
    return box[0]


def resolved_config(plan: Plan) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(plan.cfg), resolve=True)


def run(cfg: DictConfig | TrainConfig, *, on_step: StepCallback | None = None) -> RunResult:
    """Train one run as ``cfg`` says; returns where its checkpoints are.

    Problems with the config or the data stop it before any training, all listed at once
    (``ConfigError``). A run directory that holds a run is continued only with ``resume=auto``
    (a complete run is then skipped), and replaced only with ``overwrite=true``. ``on_step(step,
    record)`` is called after each optimizer step with its log record.
    """
    _quiet_deepspeed()
    threads = torch.get_num_threads()
    try:
        with ds.launch_env():
            export_placement()  # under Slurm or submitit, before the plan counts the ranks
            plan = make_plan(cfg)
            with rank_guard():
                return _run(plan, on_step)
    finally:
        torch.set_num_threads(threads)  # deepspeed.threads applies to this run only


def _run(plan: Plan, on_step: StepCallback | None) -> RunResult:
    """One writer per run directory: rank 0 holds its lock from before the directory policy (so a
    second ``resume=auto`` or ``overwrite=true`` on a running run is refused, not run) to the end."""
    made: list[Path] = []
    with ExitStack() as held:

        def decide() -> Restart:
            if not plan.run_dir.exists():
                made.append(plan.run_dir)
            plan.run_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(folder_lock(plan.run_dir, "training run"))
            return open_run_dir(plan, resolved)

        resolved = resolved_config(plan)
        ds.setup_distributed(plan.cfg.deepspeed)
        try:
            restart = _decide_on_rank0(decide, plan.world_size)
            return _train_run(plan, on_step, restart, resolved)
        except BaseException:
            for folder in made:  # a refused run leaves no folder it made (nothing was written in it)
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise


def _train_run(plan: Plan, on_step: StepCallback | None, restart: Restart, resolved: dict[str, Any]) -> RunResult:
    if restart.complete:
        return RunResult(plan.run_dir, plan.start_step, plan.end_step, completed=True,
                         checkpoints=checkpoint.complete_steps(plan.run_dir / CHECKPOINTS), skipped=True)
    ds.clear_stale_temporaries(plan.run_dir)
    with ds.main_first():
        data = prepare(plan)
    log.info("%s: %s arm, steps %d..%d of %d, rows from %s", plan.run_dir, plan.arm, plan.start_step,
             plan.end_step - 1, plan.total_steps, data.describe())
    state = _Run(plan, data, restart, resolved)
    try:
        state.build()
        state.train(on_step)
    except Exception as exc:
        # a NaN loss keeps its records (the log shows where); other stops before any progress leave none
        if restart.step is None and ds.rank() == 0 and not isinstance(exc, NonFiniteLossError):
            discard_unstarted(plan)  # a rerun then starts afresh, without overwrite=true
        raise
    finally:
        state.close()
    return RunResult(plan.run_dir, plan.start_step, plan.end_step, completed=True,
                     checkpoints=checkpoint.complete_steps(plan.run_dir / CHECKPOINTS))
