"""The whole study in one command: pretrain several seeds, resume every intervention and control
arm from each, evaluate every run's checkpoint series, compare the arms and write the report.

    python -m train +experiment=mini-suite            # what `make demo` runs

Each unit of work is a job in a fresh process (training under DeepSpeed keeps process-global
state), ``study.parallel`` at a time, each started once what it needs is done. Every job skips
what is already done (``resume=auto`` for training, per-checkpoint caches for evaluation), so a
rerun after a crash or Ctrl-C finishes only the rest.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from debias.config_errors import Problems
from train.config import TrainConfig

log = logging.getLogger(__name__)

# Overrides the study sets itself for each run it starts.
_OWN_KEYS = ("mode", "seed", "intervention", "resume", "overwrite", "progress")


@dataclass
class Job:
    """One process's worth of work, started once every job named in ``after`` has finished."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    after: tuple[str, ...] = ()
    log_file: Path | None = None


@dataclass
class StudyResult:
    """Where the runs and the report are, and what each job said it did (``"already complete"``...)."""

    run_dirs: dict[tuple[int, str], Path]
    report: Path | None
    seconds: float
    jobs: dict[str, str] = field(default_factory=dict)
    eval_config: Any = None  # the EvalConfig every run was evaluated with (its caches answer to it)


class StudyError(RuntimeError):
    """Some jobs of the study failed; the message names each with the log that says why."""


def run_overrides(overrides: Sequence[str], *, seed: int, arm: str) -> list[str]:
    """The overrides of one run of the study: the user's, less those the study decides."""
    kept = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] not in _OWN_KEYS]
    return [*kept, "mode=auto", f"seed={seed}", f"intervention={arm}", "resume=auto", "progress=false"]


def plan_study(cfg: TrainConfig, overrides: Sequence[str]) -> dict[tuple[int, str], TrainConfig]:
    """Compose and check every run of the study before any work: each problem of each run, at once."""
    from train.compose_config import compose
    from train.plan import to_train_config

    problems = Problems("study config")
    for p in cfg.study.problems():
        problems.add(p)
    problems.raise_if_any()
    runs: dict[tuple[int, str], TrainConfig] = {}
    for seed in cfg.study.seeds:
        for arm in ("none", *cfg.study.arms):
            try:
                runs[(seed, arm)] = to_train_config(compose(run_overrides(overrides, seed=seed, arm=arm)))
            except Exception as exc:  # Hydra's composition errors name the bad override
                problems.add(f"seed {seed}, intervention={arm}: {exc}")
    problems.raise_if_any()
    return runs


def run_study(cfg: DictConfig | TrainConfig, overrides: Sequence[str]) -> StudyResult:
    """Run (or finish) the study ``cfg.study`` describes; ``overrides`` are those that composed ``cfg``."""
    from train.plan import to_train_config

    cfg = to_train_config(cfg) if isinstance(cfg, DictConfig) else cfg
    started = time.time()
    runs = plan_study(cfg, overrides)
    root = Path(cfg.runs_root)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    eval_cfg = _eval_config(cfg, root)
    run_dirs = {key: Path(run.run_dir) for key, run in runs.items()}
    jobs = _jobs(cfg, overrides, run_dirs, eval_cfg, logs)
    log.info("study: %d seeds x (baseline + %s) = %d runs, %d jobs, %d at a time; logs in %s",
             len(cfg.study.seeds), ", ".join(cfg.study.arms), len(runs), len(jobs), cfg.study.parallel, logs)
    summaries = execute(jobs, cfg.study.parallel)
    report = None
    if cfg.study.report:
        from eval.report import write_report

        report = write_report(list(run_dirs.values()), eval_cfg, cfg.study.report_dir,
                              title=f"pythia-debias study: {cfg.model.name} on {cfg.data.name}").html
    return StudyResult(run_dirs, report, time.time() - started, summaries, eval_cfg)


def _eval_config(cfg: TrainConfig, root: Path) -> Any:
    """The study's evaluation settings; held-out perplexity on unseen text of the training corpus
    when the data config names none (for the synthetic corpus: stories of another seed)."""
    eval_cfg = cfg.eval
    heldout = eval_cfg.tasks.heldout
    if heldout.path is None and cfg.data.heldout:
        heldout = replace(heldout, path=cfg.data.heldout)
    elif heldout.path is None and cfg.data.source == "synthetic":
        from debias.synthetic import write_jsonl

        syn = replace(cfg.data.synthetic, seed=cfg.data.synthetic.seed + cfg.study.heldout_seed_offset,
                      num_documents=cfg.study.heldout_documents)
        path = root / "heldout" / f"synthetic-seed{syn.seed}-{syn.num_documents}.jsonl"
        if not path.is_file():
            write_jsonl(path, syn)
        heldout = replace(heldout, path=str(path.resolve()))
    return replace(eval_cfg, tasks=replace(eval_cfg.tasks, heldout=heldout))


def _jobs(cfg: TrainConfig, overrides: Sequence[str], run_dirs: dict[tuple[int, str], Path], eval_cfg: Any,
          logs: Path) -> list[Job]:
    """Baselines first (everything waits on them), then each seed's arms; each run's evaluation
    as soon as that run is trained."""
    jobs: list[Job] = []
    for seed in cfg.study.seeds:
        key = f"train s{seed} baseline"
        jobs.append(Job(key, _train_job, (run_overrides(overrides, seed=seed, arm="none"),),
                        log_file=logs / f"s{seed}-baseline.log"))
    for seed in cfg.study.seeds:
        for arm in cfg.study.arms:
            jobs.append(Job(f"train s{seed} {arm}", _train_job, (run_overrides(overrides, seed=seed, arm=arm),),
                            after=(f"train s{seed} baseline",), log_file=logs / f"s{seed}-{arm}.log"))
    if cfg.study.evaluate:
        for (seed, arm), run_dir in run_dirs.items():
            name = "baseline" if arm == "none" else arm
            jobs.append(Job(f"eval s{seed} {name}", _eval_job, (str(run_dir), eval_cfg),
                            after=(f"train s{seed} {name}",), log_file=logs / f"s{seed}-{name}-eval.log"))
    return jobs


def execute(jobs: list[Job], parallel: int) -> dict[str, str]:
    """Run ``jobs`` in fresh processes, ``parallel`` at a time, in list order as their dependencies
    allow. A failed job stops the jobs that wait on it, not the others; at the end a ``StudyError``
    names every failure. Returns what each job said it did."""
    pending = {job.key: job for job in jobs}
    running: dict[Future[Any], tuple[Job, float]] = {}
    done: dict[str, str] = {}
    failed: dict[str, str] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=parallel, mp_context=ctx, max_tasks_per_child=1) as pool:
        while pending or running:
            for key in [k for k, j in pending.items() if any(a in failed for a in j.after)]:
                failed[key] = "not started: " + ", ".join(a for a in pending[key].after if a in failed) + " failed"
                del pending[key]
            ready = [j for j in pending.values() if all(a in done for a in j.after)]
            for job in ready[: max(0, parallel - len(running))]:
                del pending[job.key]
                log.info("start  %-28s (log: %s)", job.key, job.log_file)
                running[pool.submit(_call, job.fn, job.args, job.log_file)] = (job, time.time())
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job, t0 = running.pop(future)
                try:
                    summary = future.result()
                except Exception as exc:
                    failed[job.key] = f"{type(exc).__name__}: {exc} (log: {job.log_file})"
                    log.error("FAILED %s: %s", job.key, failed[job.key])
                    continue
                done[job.key] = summary
                log.info("done   %-28s %6.0f s  %s  [%d/%d]", job.key, time.time() - t0, summary, len(done),
                         len(jobs))
    if failed:
        lines = "\n".join(f"  - {k}: {why}" for k, why in failed.items())
        raise StudyError(f"{len(failed)} of {len(jobs)} study jobs did not finish:\n{lines}\n"
                         "Fix the cause and run the same command again: finished work is kept.")
    return done


def _call(fn: Callable[..., Any], args: tuple[Any, ...], log_file: Path | None) -> Any:
    """In the worker: send this job's logging to its own file, then run it."""
    if log_file is not None:
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    return fn(*args)


def _train_job(overrides: list[str]) -> str:
    from train.compose_config import compose
    from train.trainer import run

    result = run(compose(overrides))
    return "already complete" if result.skipped else f"steps {result.start_step}..{result.end_step}"


def _eval_job(run_dir: str, eval_cfg: Any) -> str:
    from eval.runner import evaluate_run

    results = evaluate_run(run_dir, eval_cfg)
    computed = sum(1 for r in results if r.evaluated_now)
    return f"{len(results)} checkpoints ({computed} evaluated now, {len(results) - computed} from cache)"
