"""Evaluate checkpoints: load each model once, run every missing task through lm-eval, cache items.

A rerun, or a longer series, only computes what the cache lacks: a task's cached entry is reused
when its key (options, data checksums, task version, dtype) matches and the checkpoint's weights
are unchanged.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from debias.core.contracts import RunRecord
from debias.core.errors import DebiasError
from debias.core.weights import check_shapes, expected_shapes
from debias.eval.cache import EvalCache, read_cache, update_cache, with_digest
from debias.eval.checkpoints import (
    Checkpoint,
    CheckpointError,
    cache_path,
    checkpoint_info,
    expand_paths,
    fingerprint,
)
from debias.eval.config import EvalConfig
from debias.eval.protocol import stamp
from debias.eval.results import CheckpointResults, ItemTable
from debias.eval.suite import TaskPlan, plan_tasks
from debias.eval.token_split import split_columns

log = logging.getLogger(__name__)


class _Quieter(logging.Filter):
    """Drops lm-eval's per-task hint about --metadata, its per-request truncation warnings
    (``eval.scoring.BucketLM`` counts those, and the runner reports them once) and its note that a
    task's metrics count different documents (WinoBias coreference's accuracies are per polarity,
    its net bias over both: by design, and no group score is read)."""

    DROPPED = ("exceeds model's maximum length", "Custom kwargs can be passed",
               "Metrics were not scored on the same number of documents", "model kwarg is not of type",
               "Passed an already-initialized model")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.DROPPED)


for _name in ("lm_eval.api.task", "lm_eval.models.huggingface", "lm_eval.evaluator_utils", "lm_eval.evaluator"):
    logging.getLogger(_name).addFilter(_Quieter())


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


def load_model(path: Path, device: str, dtype: str, tokenizer_path: Path | None = None) -> tuple[Any, Any]:
    """The causal LM and tokenizer of a checkpoint directory, ready for inference.

    Nothing the folder ships runs: custom code is refused before loading (``eval.models``) and
    ``trust_remote_code=False`` is passed to every loader; ``.bin`` weights are read with
    ``weights_only=True``, so a pickle that holds more than tensors stops here.
    """
    import pickle

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer_path = tokenizer_path or path
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path), trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"{tokenizer_path}: no usable tokenizer ({exc}); a checkpoint must hold tokenizer.json and "
            "tokenizer_config.json, or name another with tokenizer=<hub name or folder>"
        ) from exc
    try:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
        with torch.device("meta"):
            shapes = expected_shapes(AutoModelForCausalLM.from_config(config, trust_remote_code=False))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: no usable config.json ({exc}); a checkpoint must hold one") from exc
    check_shapes(path, shapes)  # a cut file or weights of another model: our message, naming the file
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype), trust_remote_code=False,
                                                     weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: a .bin weight file holds more than tensors, and pythia-debias reads .bin files only with "
            f"weights_only=True, which never runs a pickle's code ({str(exc).splitlines()[0]}). Get the weights as "
            "safetensors from a source you trust") from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: the model does not load ({exc}); check config.json against the weights") from exc
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        raise CheckpointError(f"{tokenizer_path}: the tokenizer has {len(tokenizer):,} tokens and the model "
                              f"{model.get_input_embeddings().num_embeddings:,} embeddings: they are not a pair; "
                              "give the model's own tokenizer with tokenizer=")
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
    was trained on extrapolates, and its perplexity says so rather than anything about the data).
    A model named by ``model=`` adds its tokenizer files' sha256 (``tokenizer=`` may name another)."""
    spec: dict[str, Any] = {"dtype": resolve_dtype(cfg.dtype, device, checkpoint.path),
                            "max_length": cfg.max_length or training_context(checkpoint)}
    if checkpoint.source is not None:
        from debias.eval.models import tokenizer_digest

        spec["tokenizer"] = tokenizer_digest(checkpoint.tokenizer)
    return spec


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
    where = cache_path(ckpt, cfg.cache_dir, cfg.results_dir)
    cached = read_cache(where)
    fp = fingerprint(ckpt.path, cached.fingerprint)
    if cached.tasks and cached.sha256 != fp["sha256"]:
        why = ("weights changed since the cached results" if cached.sha256 else
               "the cached results carry no fingerprint of the weights they were computed on")
        log.warning("%s: %s (%s); evaluating again", ckpt.path, why, where)
        cached = cached.for_weights(fp["sha256"])
        force = True
    missing = [k for k in keys if force or k not in cached.tasks]
    if missing and not compute:
        raise MissingResultsError(
            f"{ckpt.path}: no cached results for {', '.join(keys[k].name for k in missing)} in {where}; "
            "run `python -m debias.eval path=...` with the same eval settings first"
        )
    if missing:
        _refuse_unwritable(where, cfg)  # before minutes of scoring, not after
        new_entries = _run_tasks(ckpt, [keys[k] for k in missing], missing, cfg, device, model_spec,
                                 lm_eval_dir=lm_eval_folder(where))

        def change(current: EvalCache) -> dict[str, Any]:
            tasks = {k: e.doc for k, e in current.for_weights(fp["sha256"]).tasks.items()}
            checkpoint = {"path": str(ckpt.path), "step": ckpt.step, "total_steps": ckpt.total_steps, "run": ckpt.run,
                          "source": ckpt.source.to_dict() if ckpt.source is not None else None}
            return {**current.to_dict(), "checkpoint": checkpoint, "fingerprint": fp, "tasks": {**tasks, **new_entries}}

        cached = update_cache(where, change)
    elif cached.fingerprint != fp:
        update_cache(where, lambda current: {**current.to_dict(), "fingerprint": fp})
    tables = {keys[k].name: ItemTable.from_entry(cached.tasks[k]) for k in keys}
    return CheckpointResults(path=str(ckpt.path), step=ckpt.step, total_steps=ckpt.total_steps, run=ckpt.run,
                             tables=tables, cache=str(where), evaluated_now=len(missing),
                             source=ckpt.source.to_dict() if ckpt.source is not None else None)


class ResultsFolderError(DebiasError, OSError):
    """The folder the results of a checkpoint go to cannot be written."""


def _refuse_unwritable(where: Path, cfg: EvalConfig) -> None:
    """Stop before scoring when the cache file's folder cannot be made or written, naming the option
    that sends the results elsewhere."""
    option = ("eval.cache_dir=<a writable folder>" if cfg.cache_dir is not None else
              "eval.cache_dir=<a writable folder> (or eval.results_dir= for models outside a run)")
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        probe = where.parent / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ResultsFolderError(f"{where.parent}: the results cannot be written there ({exc.strerror or exc}); "
                                 f"send them elsewhere with {option}") from None


def lm_eval_folder(cache: Path) -> Path:
    """Where lm-eval's own output files of a checkpoint go: beside its cache (``step100.json`` ->
    ``step100.lm_eval/``), one results file and one samples file per task for each evaluation."""
    return cache.with_name(f"{cache.stem}.lm_eval")


def write_lm_eval_files(out: dict[str, Any], folder: Path, model_name: str) -> list[Path]:
    """lm-eval's results and per-sample files of one ``simple_evaluate`` output, written by lm-eval's
    own ``EvaluationTracker`` (so its tooling reads them) into a temporary folder, then moved into
    ``folder`` file by file: a file there is always whole. The tracker turns every response into
    text in place (``(-3.2, False)`` becomes ``("-3.2", "False")``, and ``bool("False")`` is true):
    it is given a copy, so ``out`` stays as lm-eval returned it."""
    import copy
    import os
    import shutil
    import tempfile

    from lm_eval.loggers import EvaluationTracker

    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".lm_eval-", dir=folder))
    try:
        tracker = EvaluationTracker(output_path=str(staging))
        tracker.general_config_tracker.log_experiment_args(
            model_source="hf", model_args={"pretrained": model_name}, system_instruction=None, chat_template=None,
            fewshot_as_multiturn=False)
        results = {k: v for k, v in out.items() if k != "samples"}
        samples = copy.deepcopy(out["samples"])
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
        moved = []
        for f in sorted(p for p in staging.rglob("*") if p.is_file()):
            target = folder / f.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
            moved.append(target)
        return moved
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _one_bar() -> Iterator[None]:
    """Only the scoring bar while a checkpoint loads and lm-eval runs: transformers' bar of loading
    weights, the datasets' bars and lm-eval's bar of building each task's requests (which no
    argument of ``evaluate`` reaches) are switched off."""
    import datasets
    import lm_eval.api.task as lm_eval_task
    from transformers.utils import logging as hf_logging

    hf_was, ds_was = hf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    task_tqdm = lm_eval_task.tqdm
    lm_eval_task.tqdm = functools.partial(tqdm, disable=True)
    try:
        yield
    finally:
        lm_eval_task.tqdm = task_tqdm
        if hf_was:
            hf_logging.enable_progress_bar()
        if ds_was:
            datasets.enable_progress_bars()


def _run_tasks(ckpt: Checkpoint, plans: list[TaskPlan], keys: list[str], cfg: EvalConfig, device: str,
               model_spec: dict[str, Any], lm_eval_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Load the model once and run all ``plans`` in one lm-eval call; return cache entries by key
    (and write lm-eval's own output files into ``lm_eval_dir``)."""
    import lm_eval
    from lm_eval.evaluator import evaluate

    from debias.eval.scoring import BucketLM

    log.info("%s: evaluating %s", ckpt.name, ", ".join(p.name for p in plans))
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    with _one_bar():
        model, tokenizer = load_model(ckpt.path, device, model_spec["dtype"], ckpt.tokenizer)
    lm = BucketLM(pretrained=model, tokenizer=tokenizer, batch_size=cfg.batch_size, max_length=model_spec["max_length"],
                  progress=f"scoring {ckpt.name}")
    start = time.perf_counter()
    try:
        with _one_bar():
            out = evaluate(lm=lm, task_dict=_task_dict(plans), bootstrap_iters=0, log_samples=True,
                           verbosity="WARNING")
    finally:
        lm.close_bar()
    seconds = time.perf_counter() - start
    if lm.truncated:
        log.warning("%s: %d request(s) longer than the model's context (%d tokens) were cut from the left",
                    ckpt.name, lm.truncated, lm.max_length)
    if lm.windowed:
        log.warning("%s: %d continuation(s) longer than the model's context (%d tokens) were scored in windows "
                    "of that length", ckpt.name, lm.windowed, lm.max_length)
    if out is None:
        raise RuntimeError(f"{ckpt.path}: lm-eval returned no results (not rank 0?)")
    out["config"] = {"model": "hf", "model_args": {"pretrained": ckpt.name}, "batch_size": cfg.batch_size,
                     "device": device, "dtype": model_spec["dtype"], "bootstrap_iters": 0}
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
        entries[key] = with_digest({"task": plan.name, "spec": plan.spec(model_spec), "items": columns, "lm_eval": metrics,
                        "seconds": round(seconds / len(plans), 3), "evaluated_at": now,
                        "lm_eval_version": getattr(lm_eval, "__version__", "unknown"),
                        "protocol": stamp(cfg.protocol)})
    if lm_eval_dir is not None:
        write_lm_eval_files(out, lm_eval_dir, ckpt.name)
    del lm, model
    return entries


_TASK_DICTS: dict[str, Any] = {}


def _task_dict(plans: list[TaskPlan]) -> Any:
    """lm-eval's loaded tasks for ``plans``, built once per process and configuration: the
    checkpoints of a series reuse the loaded datasets and built documents."""
    from lm_eval.tasks import TaskManager

    from debias.eval.suite import TASKS_DIR

    configs = [p.lm_eval_config() for p in plans]
    key = json.dumps(configs, sort_keys=True, default=str)
    if key not in _TASK_DICTS:
        manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
        _TASK_DICTS[key] = manager.load(configs)
    return _TASK_DICTS[key]


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
    bar = tqdm(checkpoints, desc=f"evaluating {Path(run_dir).name}", unit="ckpt",
               disable=not compute or len(checkpoints) < 2)
    return [evaluate_checkpoint(c, cfg, compute=compute) for c in bar]


def evaluate_paths(paths: list[str | Path], cfg: EvalConfig) -> dict[str, list[CheckpointResults]]:
    """Run dirs, checkpoint dirs or folders of runs -> results per run (or per loose checkpoint)."""
    groups = expand_paths(paths, cfg.checkpoints)
    total = sum(len(c) for _, c in groups)
    out: dict[str, list[CheckpointResults]] = {}
    with tqdm(total=total, desc="evaluating checkpoints", unit="ckpt", disable=total < 2) as bar:
        for run_dir, checkpoints in groups:
            results = []
            for ckpt in checkpoints:
                results.append(evaluate_checkpoint(ckpt, cfg))
                bar.update()
            out[str(run_dir or checkpoints[0].path)] = results
    return out


def evaluate_model(model: str, cfg: EvalConfig, *, revision: str | None = None, tokenizer: str | None = None,
                   total_steps: int | None = None, hub_cache: str | None = None,
                   compute: bool = True) -> CheckpointResults:
    """One model named as a user names it: a hub name at a revision (downloaded into the hub cache
    when missing, pinned to its commit) or a folder; ``tokenizer`` names another tokenizer."""
    from debias.eval.checkpoints import source_checkpoint
    from debias.eval.models import ModelSourceError, resolve, split_spec

    name, named_revision = split_spec(model)
    if named_revision is not None and revision is not None:
        raise ModelSourceError(f"model={model} names revision {named_revision} and revision={revision} another; give one")
    source = resolve(name, revision or named_revision, tokenizer, cache_dir=hub_cache)
    return evaluate_checkpoint(source_checkpoint(source, total_steps), cfg, compute=compute)


def revision_job(model: str, cfg: EvalConfig, revision: str | None, tokenizer: str | None, total_steps: int | None,
                 hub_cache: str | None) -> str:
    """One revision of a series, in a launcher's job: evaluated into the results folder (returns
    where its results are; the caller reads them from there)."""
    return str(evaluate_model(model, cfg, revision=revision, tokenizer=tokenizer, total_steps=total_steps,
                              hub_cache=hub_cache).cache)


def evaluate_series(model: str, revisions: list[str | None], cfg: EvalConfig, *, parallel: int = 1,
                    tokenizer: str | None = None, total_steps: int | None = None,
                    hub_cache: str | None = None) -> list[CheckpointResults]:
    """Several revisions of one model, each a job sent through the study's Hydra launchers (the
    local pool of ``parallel`` processes by default; ``hydra/launcher=slurm-1gpu`` on the command
    line sends each to Slurm). A worker keeps its loaded tasks and tokenized requests for the next
    revision it is given. A failed revision fails the command, naming its log."""
    from debias.eval.checkpoints import slug
    from debias.launch.jobs import Job, execute

    logs = Path(cfg.results_dir).expanduser().resolve() / "logs" / slug(model)
    jobs = [Job(f"eval {model}@{rev or 'main'}", revision_job, (model, cfg, rev, tokenizer, total_steps, hub_cache),
                log_file=logs / f"{rev or 'main'}.log") for rev in revisions]
    execute(jobs, parallel, sweep_dir=logs / "launcher")
    return [evaluate_model(model, cfg, revision=rev, tokenizer=tokenizer, total_steps=total_steps,
                           hub_cache=hub_cache, compute=False) for rev in revisions]
