"""The whole study in one command: pretrain several seeds, resume every intervention and control
arm from each, evaluate every run's checkpoint series, compare the arms and write the report.

    python -m debias.study +experiment=mini-suite     # what `make demo` runs

Each run is composed from the study's overrides less the study's own keys (``run_overrides``) and
trained by ``train``; each run's checkpoints are evaluated by ``eval``. This package is the one
place that uses both: neither ``train`` nor ``eval`` imports the other, or this.

Each unit of work is a job (``debias.launch.jobs``) sent through a Hydra launcher: by default a local
pool of ``study.parallel`` processes, on Slurm with ``hydra/launcher=slurm-1gpu`` (or another
preset in conf/hydra/launcher/); each starts once what it needs is done. Every job skips
what is already done (``resume=auto`` for training, per-checkpoint caches for evaluation), so a
rerun after a crash or Ctrl-C finishes only the rest.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from debias.core.atomic import write_json
from debias.core.config_errors import Problems
from debias.core.errors import DebiasError
from debias.launch.jobs import Job, JobsFailed, execute
from debias.rewrite.intervention import intervention_steps
from debias.study.config import STUDY_KEYS, StudyAppConfig, register_configs
from debias.train.config import TrainConfig

log = logging.getLogger(__name__)

# Overrides the study sets itself for each run it starts.
_OWN_KEYS = ("mode", "seed", "intervention", "resume", "overwrite", "progress")


@dataclass
class StudyResult:
    """Where the runs and the report are, and what each job said it did (``"already complete"``...)."""

    run_dirs: dict[tuple[int, str], Path]
    report: Path | None
    seconds: float
    jobs: dict[str, str] = field(default_factory=dict)
    eval_config: Any = None  # the EvalConfig every run was evaluated with (its caches answer to it)


class StudyError(DebiasError, RuntimeError):
    """Some jobs of the study failed; the message names each with the log that says why."""


def run_overrides(overrides: Sequence[str], *, seed: int, arm: str) -> list[str]:
    """The overrides of one run of the study: the user's, less the study's own keys (``study.*``,
    ``eval.*``) and those the study decides for each run."""
    def key(o: str) -> str:
        return o.lstrip("+~").split("=", 1)[0]

    kept = [o for o in overrides if key(o) not in _OWN_KEYS and key(o).split(".", 1)[0] not in STUDY_KEYS]
    return [*kept, "mode=auto", f"seed={seed}", f"intervention={arm}", "resume=auto", "progress=false"]


def compose_study(overrides: Sequence[str] = ()) -> DictConfig:
    """The study's composed config (``conf/study.yaml``) for ``overrides``, as ``python -m
    debias.study <overrides>`` composes it; ``to_study_config`` types it."""
    from debias.train.compose_config import compose

    register_configs()
    return compose(overrides, config_name="study")


def compose_run(overrides: Sequence[str]) -> DictConfig:
    """One run's training config (what ``train.run`` takes) for ``run_overrides``: composed by
    train's ``compose`` from ``conf/study.yaml`` (conf/train.yaml plus the eval group: a study's
    experiment sets ``study``/``eval`` keys beside the run's), less those keys."""
    cfg = compose_study(overrides)
    return OmegaConf.masked_copy(cfg, [k for k in cfg if k not in STUDY_KEYS])


def to_study_config(cfg: DictConfig | StudyAppConfig) -> StudyAppConfig:
    """The typed study config, interpolations resolved, from Hydra's DictConfig (or as it is)."""
    if isinstance(cfg, StudyAppConfig):
        return cfg
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(StudyAppConfig), cfg))  # type: ignore[return-value]


def plan_study(cfg: StudyAppConfig, overrides: Sequence[str]) -> dict[tuple[int, str], TrainConfig]:
    """Compose and check every run of the study before any work: each problem of each run, at once."""
    from debias.train.plan import to_train_config

    problems = Problems("study config")
    for p in cfg.study_problems():
        problems.add(p)
    problems.raise_if_any()
    runs: dict[tuple[int, str], TrainConfig] = {}
    baseline = ("none",) if cfg.trains_baselines else ()  # released models are their own baselines
    for seed in cfg.study.seeds:
        for arm in (*baseline, *cfg.study.arms):
            try:
                runs[(seed, arm)] = to_train_config(compose_run(run_overrides(overrides, seed=seed, arm=arm)))
            except Exception as exc:  # Hydra's composition errors name the bad override
                problems.add(f"seed {seed}, intervention={arm}: {exc}")
    problems.raise_if_any()
    for p in shared_sources(runs):
        problems.add(p)
    problems.raise_if_any()
    return runs


def shared_sources(runs: dict[tuple[int, str], TrainConfig]) -> list[str]:
    """Seeds of a study of released models that would resume the same model, optimizer state or data
    order: their runs would be copies, and the seed statistics would count one run several times."""
    out = []
    for what, key in (("model", lambda r: (r.source.hub, r.source.revision) if r.source.hub else None),
                      ("GPT-NeoX checkpoint", lambda r: r.source.neox_location() if r.source.optimizer == "neox"
                       else None),
                      ("data order", lambda r: r.data.index_maps_dir(r.seed) if r.data.source == "index_maps"
                       else None)):
        seen: dict[Any, int] = {}
        for (seed, _), run in sorted(runs.items()):
            value = key(run)
            if value is None:
                continue
            first = seen.setdefault(value, seed)
            if first != seed:
                out.append(f"seeds {first} and {seed} both resume from the {what} {value[0] if isinstance(value, tuple) else value}: "
                           "each seed needs its own (e.g. ${seed_repo:EleutherAI/pythia-160m,${seed}}, or a path "
                           "with ${seed} in it)")
                break
    return out


def run_study(cfg: DictConfig | StudyAppConfig, overrides: Sequence[str], *,
              launcher: Sequence[str] | None = None) -> StudyResult:
    """Run (or finish) the study ``cfg.study`` describes; ``overrides`` are those that composed ``cfg``.
    ``launcher``: Hydra overrides choosing where the jobs run (``debias.launch.jobs``; default: the
    running app's ``hydra/launcher`` choice, else the local pool)."""
    cfg = to_study_config(cfg)
    started = time.time()
    runs = plan_study(cfg, overrides)
    root = Path(cfg.runs_root)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    eval_cfg = _eval_config(cfg, root, runs)
    _show_rewrite(runs)
    run_dirs = {key: Path(run.run_dir) for key, run in runs.items()}
    jobs = _jobs(cfg, overrides, runs, eval_cfg, logs)
    log.info("study: %d seeds x (%s%s) = %d runs, %d jobs, %d at a time; logs in %s", len(cfg.study.seeds),
             "baseline + " if cfg.trains_baselines else "", ", ".join(cfg.study.arms), len(runs), len(jobs),
             cfg.study.parallel, logs)
    for line in seed_sources(runs):
        log.info("  %s", line)
    try:
        outcomes = execute(jobs, cfg.study.parallel, launcher=launcher, sweep_dir=logs / "launcher", desc="study jobs")
    except JobsFailed as exc:
        raise StudyError(f"{len(exc.failed)} of {exc.total} study jobs did not finish:\n"
                         + "\n".join(f"  - {k}: {why}" for k, why in exc.failed.items())
                         + "\nFix the cause and run the same command again: finished work is kept.") from None
    summaries = {k: text for k, (text, _) in outcomes.items()}
    worked = [k for k, (_, did) in outcomes.items() if did]
    report = None
    if cfg.study.report:
        from debias.eval.report import write_report

        made_of = _made_of(cfg, runs, eval_cfg)
        report = write_report(list(run_dirs.values()), eval_cfg, cfg.study.report_dir,
                              title=f"pythia-debias study: {cfg.model.name} on {cfg.data.name}").html
        _record(Path(cfg.study.report_dir) / "study.json", cfg, overrides, summaries, worked,
                time.time() - started, made_of)
    return StudyResult(run_dirs, report, time.time() - started, summaries, eval_cfg)


def seed_sources(runs: dict[tuple[int, str], TrainConfig]) -> list[str]:
    """A line per seed of a study that resumes released models: the repository its arms start from and
    the data order they read (a PolyPythias seed has its own of each)."""
    out = []
    for (seed, _), run in sorted(runs.items()):
        if run.source.hub and not any(line.startswith(f"seed {seed}:") for line in out):
            maps = run.data.index_maps_dir(seed) if run.data.source == "index_maps" else None
            order = maps or run.data.parquet_path or run.data.indexed_path
            neox = f", optimizer state from {run.source.neox_location()}" if run.source.optimizer == "neox" else ""
            out.append(f"seed {seed}: {run.source.hub}{neox}; data order {order}")
    return out


def _show_rewrite(runs: dict[tuple[int, str], TrainConfig]) -> None:
    """Print what the intervention does to text, on a sample of the study's own corpus."""
    arms = [c for c in runs.values() if c.intervention.arm == "intervention"]
    if not arms:
        return
    from debias.swap.swapper import PronounSwapper

    cfg = arms[0]
    if cfg.data.source == "synthetic":
        from debias.synthetic.stories import generate_documents

        text = generate_documents(replace(cfg.data.synthetic, num_documents=3))[2]
    else:
        text = "He said the book was his, and he'd lend it to a friend of his. Let her go; the car is hers."
    sample = " ".join(text.split()[:45])
    swapped = PronounSwapper(cfg.intervention.direction).swap(sample)
    log.info("the rewrite (%s) on a sample of the corpus:\n  before: %s\n  after:  %s", cfg.intervention.direction,
             sample, swapped)


def _made_of(cfg: StudyAppConfig, runs: dict[tuple[int, str], TrainConfig], eval_cfg: Any) -> dict[str, Any]:
    """The commit, the data's identity and (synthetic corpus) what the first seed's arms' tails hold
    (``debias.study.identity``); a part that cannot be read is logged and left out."""
    from dataclasses import asdict

    from debias.core.contracts import RUN_RECORD
    from debias.study import identity

    out: dict[str, Any] = {"commit": identity.commit()}
    try:
        orders: dict[int, str] = {}  # each seed's: its baseline's, else its first arm's (they share it)
        for (seed, _), run in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1] != "none")):
            if seed not in orders:
                orders[seed] = json.loads((Path(run.run_dir) / RUN_RECORD).read_text())["data_order"]
        probes = asdict(eval_cfg.tasks.synthetic) if cfg.data.source == "synthetic" else None
        out["data_identity"] = identity.data_identity(orders, probes)
        first = cfg.study.seeds[0]
        out["tails"] = identity.tail_contents({arm: run for (seed, arm), run in runs.items() if seed == first},
                                              first)
        out["tails_seed"] = first
    except (OSError, KeyError, ValueError) as exc:
        log.warning("could not record what the study's data is made of: %s", exc)
    return out


def _record(path: Path, cfg: StudyAppConfig, overrides: Sequence[str], summaries: dict[str, str],
            worked: list[str], seconds: float, made_of: dict[str, Any]) -> None:
    """Write where and how the report's numbers were made, and from what (``_made_of``). Each
    invocation is kept, so that a study finished over several (after a crash) still says how long
    its work took in all."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    runs = [*old.get("invocations", []), {
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "minutes": round(seconds / 60, 1), "jobs_with_work": len(worked), "jobs": summaries}]
    write_json(path, {"command": "python -m debias.study " + " ".join(overrides), "machine": machine(),
                      "model": cfg.model.name, "data": cfg.data.name, "seeds": list(cfg.study.seeds),
                      "arms": list(cfg.study.arms),
                      "minutes_of_work": round(sum(r["minutes"] for r in runs if r["jobs_with_work"]), 1),
                      "invocations": runs, **made_of})


def _eval_config(cfg: StudyAppConfig, root: Path, runs: dict[tuple[int, str], TrainConfig] | None = None) -> Any:
    """The study's evaluation settings; held-out perplexity on unseen text of the training corpus
    when the data config names none (for the synthetic corpus: stories of another seed), also
    rewritten in each direction an intervention arm of the study rewrote its tail."""
    eval_cfg = cfg.eval
    heldout = eval_cfg.tasks.heldout
    directions = sorted({r.intervention.direction for r in (runs or {}).values() if r.intervention.arm == "intervention"
                         and getattr(r.intervention, "method", "morphological") in ("morphological", "published")})
    heldout = replace(heldout, swapped=list(dict.fromkeys([*heldout.swapped, *directions])))
    if heldout.path is None and cfg.data.heldout:
        heldout = replace(heldout, path=cfg.data.heldout)
    elif heldout.path is None and cfg.data.source == "synthetic":
        from debias.synthetic.stories import write_jsonl

        syn = replace(cfg.data.synthetic, seed=cfg.data.synthetic.seed + cfg.study.heldout_seed_offset,
                      num_documents=cfg.study.heldout_documents)
        path = root / "heldout" / f"synthetic-seed{syn.seed}-{syn.num_documents}.jsonl"
        if not path.is_file():
            write_jsonl(path, syn)
        heldout = replace(heldout, path=str(path.resolve()))
    return replace(eval_cfg, tasks=replace(eval_cfg.tasks, heldout=heldout))


def _jobs(cfg: StudyAppConfig, overrides: Sequence[str], runs: dict[tuple[int, str], TrainConfig],
          eval_cfg: Any, logs: Path) -> list[Job]:
    """Baselines first (everything waits on them), then each seed's arms; each run's evaluation
    as soon as that run is trained."""
    jobs: list[Job] = []
    for seed in cfg.study.seeds:
        if cfg.trains_baselines:
            jobs.append(Job(f"train s{seed} baseline", _train_job, (run_overrides(overrides, seed=seed, arm="none"),),
                            log_file=logs / f"s{seed}-baseline.log"))
    for seed in cfg.study.seeds:
        after = (f"train s{seed} baseline",) if cfg.trains_baselines else ()
        for arm in cfg.study.arms:
            jobs.append(Job(f"train s{seed} {arm}", _train_job, (run_overrides(overrides, seed=seed, arm=arm),),
                            after=after, log_file=logs / f"s{seed}-{arm}.log"))
    if cfg.study.evaluate:
        # The report compares each arm with its baseline at the arm's start: evaluate those too.
        starts = sorted({intervention_steps(r.intervention, r.schedule)[0] for r in runs.values()
                         if r.intervention.arm != "baseline"})
        for (seed, arm), run in runs.items():
            run_dir = Path(run.run_dir)
            name = "baseline" if arm == "none" else arm
            extra = starts if arm == "none" else []
            jobs.append(Job(f"eval s{seed} {name}", _eval_job, (str(run_dir), eval_cfg, extra),
                            after=(f"train s{seed} {name}",), log_file=logs / f"s{seed}-{name}-eval.log"))
    return jobs


def _train_job(overrides: list[str]) -> tuple[str, bool]:
    """(what it did, whether it did any work)."""
    from debias.train.trainer import run

    result = run(compose_run(overrides))
    if result.skipped:
        return "already complete", False
    return f"steps {result.start_step}..{result.end_step}", True


def _eval_job(run_dir: str, eval_cfg: Any, extra_steps: list[int]) -> tuple[str, bool]:
    from debias.eval.checkpoints import find_checkpoints
    from debias.eval.runner import evaluate_checkpoint, evaluate_run

    results = evaluate_run(run_dir, eval_cfg)
    have = {r.step for r in results}
    results += [evaluate_checkpoint(c, eval_cfg) for c in find_checkpoints(run_dir)
                if c.step in extra_steps and c.step not in have]
    computed = sum(1 for r in results if r.evaluated_now)
    return f"{len(results)} checkpoints ({computed} evaluated now, {len(results) - computed} from cache)", computed > 0


def machine() -> str:
    """A short description of this computer, for the record of where numbers were made."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{os.cpu_count()} cores of {cpu}, torch {torch.__version__}, {platform.system()}"
