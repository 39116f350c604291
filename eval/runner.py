"""Evaluate checkpoints: load each model once, run every missing task through lm-eval, cache items.

A rerun, or a longer series, only computes what the cache lacks: a task's cached entry is reused
when its key (options, data checksums, task version, dtype) matches and the checkpoint's weights
are unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from debias.core.contracts import RunRecord
from debias.core.errors import DebiasError
from debias.core.weights import check_shapes, expected_shapes
from eval.cache import EvalCache, read_cache, update_cache
from eval.checkpoints import (
    Checkpoint,
    CheckpointError,
    cache_path,
    checkpoint_info,
    expand_paths,
    fingerprint,
)
from eval.config import EvalConfig
from eval.protocol import stamp
from eval.results import CheckpointResults, ItemTable
from eval.suite import TaskPlan, plan_tasks
from eval.token_split import split_columns

log = logging.getLogger(__name__)


class _Quieter(logging.Filter):
    """Drops lm-eval's per-task hint about --metadata and counts its per-request truncation
    warnings (one per LAMBADA passage longer than a small model's context), reported once."""

    truncated = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "exceeds model's maximum length" in message:
            _Quieter.truncated += 1
            return False
        return "Custom kwargs can be passed" not in message


logging.getLogger("lm_eval.api.task").addFilter(_Quieter())
logging.getLogger("lm_eval.models.huggingface").addFilter(_Quieter())


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str, checkpoint: Path | None = None) -> str:
    """``auto``: float32 on CPU; on an accelerator the dtype the checkpoint was saved in when it is
    16-bit (as lm-eval's ``auto``: Pythia's hub checkpoints are float16), else bfloat16 where supported."""
    import torch

    if dtype != "auto":
        return dtype
    if device == "cpu":
        return "float32"
    saved = None
    if checkpoint is not None and (checkpoint / "config.json").is_file():
        config = json.loads((checkpoint / "config.json").read_text())
        saved = config.get("dtype") or config.get("torch_dtype")
    if saved in ("float16", "bfloat16"):
        return saved
    return "bfloat16" if device.startswith("cuda") and torch.cuda.is_bf16_supported() else "float16"


def load_model(path: Path, device: str, dtype: str) -> tuple[Any, Any]:
    """The causal LM and tokenizer of a checkpoint directory, ready for inference."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: no usable tokenizer ({exc}); a checkpoint must hold tokenizer.json and tokenizer_config.json"
        ) from exc
    try:
        config = AutoConfig.from_pretrained(str(path))
        with torch.device("meta"):
            shapes = expected_shapes(AutoModelForCausalLM.from_config(config))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: no usable config.json ({exc}); a checkpoint must hold one") from exc
    check_shapes(path, shapes)  # a cut file or weights of another model: our message, naming the file
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: the model does not load ({exc}); check config.json against the weights") from exc
    model.to(device).eval()
    return model, tokenizer


def training_context(ckpt: Checkpoint) -> int | None:
    """The context the checkpoint's run trained with (run.json's ``seq_length``, else its
    config.yaml's ``data.seq_length``); None for a checkpoint without run records (a hub model,
    whose own ``max_position_embeddings`` then applies: 2,048 for Pythia)."""
    seq = RunRecord.from_dict(ckpt.run).seq_length if ckpt.run is not None else None
    if seq is None and ckpt.run_dir is not None and (ckpt.run_dir / "config.yaml").is_file():
        from omegaconf import OmegaConf

        seq = OmegaConf.select(OmegaConf.load(ckpt.run_dir / "config.yaml"), "data.seq_length")
    return int(seq) if seq is not None else None


def _model_spec(cfg: EvalConfig, device: str, checkpoint: Checkpoint) -> dict[str, Any]:
    """What of the model decides its scores: the dtype, and the window every task is scored in
    (``eval.max_length``, else the run's training context; a model scored past the context it
    was trained on extrapolates, and its perplexity says so rather than anything about the data)."""
    return {"dtype": resolve_dtype(cfg.dtype, device, checkpoint.path),
            "max_length": cfg.max_length or training_context(checkpoint)}


class MissingResultsError(DebiasError, LookupError):
    """A checkpoint's cache lacks tasks and computing them was not allowed."""


def evaluate_checkpoint(
    ckpt: Checkpoint | str | Path, cfg: EvalConfig, *, force: bool = False, compute: bool = True
) -> CheckpointResults:
    """Results of every task ``cfg`` enables on one checkpoint, computing only what the cache lacks.

    ``force`` recomputes everything; ``compute=False`` only reads the cache (and raises
    ``MissingResultsError`` when it lacks a task).
    """
    if not isinstance(ckpt, Checkpoint):
        ckpt = checkpoint_info(ckpt)
    device = resolve_device(cfg.device)
    model_spec = _model_spec(cfg, device, ckpt)
    plans = plan_tasks(cfg)
    keys = {plan.key(model_spec): plan for plan in plans}
    where = cache_path(ckpt, cfg.cache_dir)
    cached = read_cache(where)
    fp = fingerprint(ckpt.path, cached.fingerprint)
    if cached.sha256 not in (None, fp["sha256"]):
        log.warning("%s: weights changed since the cached results; evaluating again", ckpt.path)
        cached = cached.for_weights(fp["sha256"])
        force = True
    missing = [k for k in keys if force or k not in cached.tasks]
    if missing and not compute:
        raise MissingResultsError(
            f"{ckpt.path}: no cached results for {', '.join(keys[k].name for k in missing)} in {where}; "
            "run `python -m eval path=...` with the same eval settings first"
        )
    if missing:
        new_entries = _run_tasks(ckpt, [keys[k] for k in missing], missing, cfg, device, model_spec)

        def change(current: EvalCache) -> dict[str, Any]:
            tasks = {k: e.doc for k, e in current.for_weights(fp["sha256"]).tasks.items()}
            checkpoint = {"path": str(ckpt.path), "step": ckpt.step, "total_steps": ckpt.total_steps, "run": ckpt.run}
            return {**current.to_dict(), "checkpoint": checkpoint, "fingerprint": fp, "tasks": {**tasks, **new_entries}}

        cached = update_cache(where, change)
    elif cached.fingerprint != fp:
        update_cache(where, lambda current: {**current.to_dict(), "fingerprint": fp})
    tables = {keys[k].name: ItemTable.from_entry(cached.tasks[k]) for k in keys}
    return CheckpointResults(path=str(ckpt.path), step=ckpt.step, total_steps=ckpt.total_steps, run=ckpt.run,
                             tables=tables, cache=str(where), evaluated_now=len(missing))


def _run_tasks(ckpt: Checkpoint, plans: list[TaskPlan], keys: list[str], cfg: EvalConfig, device: str,
               model_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Load the model once and run all ``plans`` in one lm-eval call; return cache entries by key."""
    import lm_eval
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from eval.suite import TASKS_DIR

    log.info("%s: evaluating %s", ckpt.name, ", ".join(p.name for p in plans))
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    model, tokenizer = load_model(ckpt.path, device, model_spec["dtype"])
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=cfg.batch_size, max_length=model_spec["max_length"])
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    start = time.perf_counter()
    _Quieter.truncated = 0
    out = simple_evaluate(model=lm, tasks=[p.lm_eval_config() for p in plans], task_manager=manager,
                          bootstrap_iters=0, log_samples=True)
    seconds = time.perf_counter() - start
    if _Quieter.truncated:
        log.warning("%s: %d request(s) longer than the model's context (%d tokens) were cut from the left",
                    ckpt.name, _Quieter.truncated, lm.max_length)
    if out is None:
        raise RuntimeError(f"{ckpt.path}: lm-eval returned no results (not rank 0?)")
    entries = {}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for plan, key in zip(plans, keys, strict=True):
        task_name = plan.lm_eval_config()["task"]
        columns = plan.definition.itemize(out["samples"][task_name])
        _refuse_non_finite(ckpt.path, plan.name, columns)
        if "text" in columns:
            # Per-token perplexity needs the number of tokens lm-eval scored (all of tok_encode(text)),
            # and the split by token class our own pass over the same windows.
            texts = columns.pop("text")
            columns["n_tokens"] = [len(lm.tok_encode(text)) for text in texts]
            columns.update(split_columns(lm, texts))
            _check_split(ckpt, plan.name, columns)
        metrics = {k.split(",")[0]: v for k, v in out["results"][task_name].items()
                   if "," in k and "stderr" not in k}
        entries[key] = {"task": plan.name, "spec": plan.spec(model_spec), "items": columns, "lm_eval": metrics,
                        "seconds": round(seconds / len(plans), 3), "evaluated_at": now,
                        "lm_eval_version": getattr(lm_eval, "__version__", "unknown"),
                        "protocol": stamp(cfg.protocol)}
    del lm, model
    return entries


def _check_split(ckpt: Checkpoint, task: str, columns: dict[str, list[Any]]) -> None:
    """The token-class split must add up to lm-eval's own log-likelihood, window for window."""
    import numpy as np

    ll = np.asarray(columns["ll"], dtype=float)
    parts = np.asarray(columns["ll_gendered"], dtype=float) + np.asarray(columns["ll_other"], dtype=float)
    counts = np.asarray(columns["n_gendered"]) + np.asarray(columns["n_other"])
    bad = np.flatnonzero((np.abs(parts - ll) > 1e-3 * np.abs(ll) + 1e-2) | (counts != np.asarray(columns["n_tokens"])))
    if bad.size:
        i = int(bad[0])
        raise RuntimeError(f"{ckpt.path}: {task}: the per-token split gives {parts[i]:.4f} on item "
                           f"{columns['id'][i]}, lm-eval {ll[i]:.4f} ({bad.size} items differ); the scoring "
                           "windows disagree, so the split by token class cannot be trusted")


def _refuse_non_finite(path: Path, task: str, columns: dict[str, list[Any]]) -> None:
    """Stop when a model's scores are NaN or infinite: means of them would print as plausible
    numbers (a NaN log-likelihood compares false, so every "preferred" count reads 0)."""
    for name, values in columns.items():
        bad = [i for i, v in enumerate(values)
               if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise CheckpointError(
                f"{path}: {task}: {len(bad)} of {len(values)} items score a non-finite {name} (item {bad[0]} is "
                f"{values[bad[0]]}); the model's weights or outputs are not finite, so no metric of it means "
                "anything. Evaluate another checkpoint, or check how this one was trained")


def evaluate_run(run_dir: str | Path, cfg: EvalConfig, *, compute: bool = True) -> list[CheckpointResults]:
    """The selected checkpoints of one run directory (``cfg.checkpoints``), in step order.

    ``compute=False`` only reads cached results (``MissingResultsError`` if any is missing).
    """
    groups = expand_paths([run_dir], cfg.checkpoints)
    if len(groups) != 1 or groups[0][0] is None:
        raise CheckpointError(f"{run_dir}: not a single run directory (run.json, checkpoints/)")
    checkpoints = groups[0][1]
    bar = tqdm(checkpoints, desc=f"evaluating {Path(run_dir).name}", unit="ckpt", disable=not compute)
    return [evaluate_checkpoint(c, cfg, compute=compute) for c in bar]


def evaluate_paths(paths: list[str | Path], cfg: EvalConfig) -> dict[str, list[CheckpointResults]]:
    """Run dirs, checkpoint dirs or folders of runs -> results per run (or per loose checkpoint)."""
    groups = expand_paths(paths, cfg.checkpoints)
    total = sum(len(c) for _, c in groups)
    out: dict[str, list[CheckpointResults]] = {}
    with tqdm(total=total, desc="evaluating checkpoints", unit="ckpt") as bar:
        for run_dir, checkpoints in groups:
            results = []
            for ckpt in checkpoints:
                results.append(evaluate_checkpoint(ckpt, cfg))
                bar.update()
            out[str(run_dir or checkpoints[0].path)] = results
    return out
