"""Jobs through Hydra's launcher plugins: the same engines that send single runs. The study's
runs and evaluations go this way, and so does a series of revisions of a released model
(``eval.runner.evaluate_series``).

A ``Job`` is one process's worth of work with the jobs it waits on. ``execute`` runs a graph of
them in waves (a job's wave is one more than the latest of those it waits on) and sends each wave
to a Hydra launcher, as Hydra's own sweeper would:

- by default ``hydra/launcher=local`` (the joblib plugin: a pool of ``study.parallel`` processes
  on this machine, what ``make demo`` uses);
- any preset in ``conf/hydra/launcher/`` otherwise, e.g. ``hydra/launcher=slurm-1gpu`` (each job a
  Slurm job through the submitit plugin), given on the study's command line.

A job that raises stops the jobs that wait on it, not the others; at the end a ``StudyError``
(raised by the study) names every failure with its log. Jobs skip finished work themselves
(``resume=auto``, evaluation caches), so running the same graph again does only the rest.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from debias.core.errors import DebiasError
from debias.core.processes import die_with_parent
from debias.launch.progress import JobsBar, mark_ended
from debias.launch.stopping import stops_jobs

log = logging.getLogger(__name__)

DEFAULT_LAUNCHER = "local"


@dataclass
class Job:
    """One process's worth of work, started once every job named in ``after`` has finished."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    after: tuple[str, ...] = ()
    log_file: Path | None = None


class JobsFailed(DebiasError, RuntimeError):
    """Some jobs failed or were not started; ``failed`` maps each key to why (with its log)."""

    def __init__(self, failed: dict[str, str], total: int) -> None:
        self.failed, self.total = failed, total
        lines = "\n".join(f"  - {k}: {why}" for k, why in failed.items())
        super().__init__(f"{len(failed)} of {total} jobs did not finish:\n{lines}")


def waves(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs grouped so that each waits only on jobs of earlier groups, in list order within one."""
    by_key = {job.key: job for job in jobs}
    level: dict[str, int] = {}

    def depth(key: str, seen: tuple[str, ...] = ()) -> int:
        if key in seen:
            raise ValueError(f"job {key!r} waits on itself through {' -> '.join(seen)}")
        if key not in level:
            missing = [a for a in by_key[key].after if a not in by_key]
            if missing:
                raise ValueError(f"job {key!r} waits on {missing}, which are not jobs of this graph")
            level[key] = 1 + max((depth(a, (*seen, key)) for a in by_key[key].after), default=-1)
        return level[key]

    out: list[list[Job]] = []
    for job in jobs:
        d = depth(job.key)
        out.extend([] for _ in range(d + 1 - len(out)))
        out[d].append(job)
    return out


def launcher_overrides(parallel: int, chosen: Sequence[str] | None = None) -> list[str]:
    """The Hydra overrides that select the study's launcher: the ``hydra/launcher`` choice and
    ``hydra.launcher.*`` settings of ``chosen`` (default: the running app's own command line);
    the local pool of ``parallel`` processes when none names a launcher (or names Hydra's basic
    one, which runs everything in this process)."""
    if chosen is None:
        chosen = _app_hydra_overrides()
    picked = [o for o in chosen if o.lstrip("+~").startswith(("hydra/launcher=", "hydra.launcher."))]
    choice = next((o.split("=", 1)[1] for o in picked if o.lstrip("+~").startswith("hydra/launcher=")), None)
    if choice in (None, "basic"):
        picked = [o for o in picked if not o.lstrip("+~").startswith("hydra/launcher=")]
        picked.insert(0, f"hydra/launcher={DEFAULT_LAUNCHER}")
        choice = DEFAULT_LAUNCHER
    if choice in ("local", "joblib") and not any(o.startswith("hydra.launcher.n_jobs=") for o in picked):
        picked.append(f"hydra.launcher.n_jobs={parallel}")
    return picked


def _app_hydra_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    hydra = HydraConfig.get()
    choice = hydra.runtime.choices.get("hydra/launcher")  # from the command line or a config's defaults
    settings = [o for o in hydra.overrides.hydra if not o.lstrip("+~").startswith("hydra/launcher=")]
    return [f"hydra/launcher={choice}", *settings] if choice else settings


class _JobTask:
    """The task function a launcher runs: job number ``n`` of the wave is ``jobs[n - first]``."""

    def __init__(self, jobs: Sequence[Job], first: int, sweep_dir: Path, guard_pid: int | None) -> None:
        self.jobs, self.first, self.sweep_dir = list(jobs), first, sweep_dir
        self.guard_pid = guard_pid  # local pools: the sending process, which no job may outlive

    def __call__(self, _cfg: DictConfig) -> Any:
        from hydra.core.hydra_config import HydraConfig

        if self.guard_pid is not None:
            die_with_parent(self.guard_pid)
        number = HydraConfig.get().job.num
        job = self.jobs[number - self.first]
        began = time.time()
        try:
            value = _call(job.fn, job.args, job.log_file)
        finally:
            mark_ended(self.sweep_dir, number)
        return {"value": value, "seconds": time.time() - began}


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_") or "job"


@dataclass
class LaunchConfig:
    """``conf/launch.yaml``: what a launcher is composed with. A job carries its own work, so there
    is nothing here but Hydra's settings (``hydra/launcher=...``, ``hydra.launcher.*``)."""


def register_configs() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="base_launch", node=LaunchConfig)


def _context(overrides: Sequence[str], sweep_dir: Path) -> tuple[Any, DictConfig]:
    """Hydra's context and the multirun config the launcher is set up with (``conf/launch.yaml``
    plus the launcher and where its records go)."""
    from hydra import initialize_config_dir
    from hydra._internal.callbacks import Callbacks  # what Hydra's own multirun gives its launchers
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import setup_globals
    from hydra.types import HydraContext, RunMode

    from debias.core.conf_dir import CONF_DIR

    register_configs()
    setup_globals()
    GlobalHydra.instance().clear()
    initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="jobs")
    hydra = GlobalHydra.instance().hydra
    assert hydra is not None
    cfg = hydra.compose_config("launch", overrides=[*overrides, f"hydra.sweep.dir={sweep_dir}",
                                                   "hydra.sweep.subdir=${hydra.job.num}-${hydra.job.name}"],
                               run_mode=RunMode.MULTIRUN)
    return HydraContext(config_loader=hydra.config_loader, callbacks=Callbacks(cfg)), cfg


def execute(jobs: list[Job], parallel: int, *, launcher: Sequence[str] | None = None,
            sweep_dir: Path | None = None, desc: str = "jobs") -> dict[str, Any]:
    """Run ``jobs`` through a Hydra launcher (``launcher``: its overrides, see ``launcher_overrides``),
    wave by wave as their dependencies allow; Hydra's records of each job go under ``sweep_dir``.
    Returns what each job returned; raises ``JobsFailed`` naming every job that failed or was not
    started because one it waits on failed. SIGTERM or SIGINT meanwhile ends every job process
    and raises ``JobsStopped`` (``debias.launch.stopping``); a bar counts the jobs that ended."""
    overrides = launcher_overrides(parallel, launcher)
    sweep_dir = Path(sweep_dir or Path("runs") / "logs" / "launcher") / time.strftime("%Y%m%d-%H%M%S")
    with _hydra_kept(), stops_jobs(), JobsBar(len(jobs), sweep_dir, desc=desc) as bar:
        return _execute(jobs, overrides, sweep_dir, bar)


@contextmanager
def _hydra_kept() -> Iterator[None]:
    """Hydra's process-wide state (its global instance and the job config) as the caller had it:
    a launcher sets both, and a study run from a test or from a Hydra app must not inherit them."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    hydra, job_cfg = GlobalHydra.instance().hydra, HydraConfig.instance().cfg
    try:
        yield
    finally:
        GlobalHydra.instance().hydra = hydra
        HydraConfig.instance().cfg = job_cfg


def _execute(jobs: list[Job], overrides: list[str], sweep_dir: Path, bar: JobsBar) -> dict[str, Any]:
    from hydra.core.plugins import Plugins
    from hydra.core.utils import JobStatus

    context, master = _context(overrides, sweep_dir)
    log.info("jobs through %s (%s); Hydra's records in %s", master.hydra.launcher._target_.rsplit(".", 1)[-1],
             " ".join(overrides), sweep_dir)
    done: dict[str, Any] = {}
    failed: dict[str, str] = {}
    number = 0
    # A local pool's workers are this process's children: they die with it, even by SIGKILL, which no
    # handler sees. A cluster's jobs run elsewhere, under the scheduler's care.
    guard = os.getpid() if "joblib" in master.hydra.launcher._target_.lower() else None
    for wave in waves(jobs):
        ready = []
        for job in wave:
            blocked = [a for a in job.after if a in failed]
            if blocked:
                failed[job.key] = "not started: " + ", ".join(blocked) + " failed"
            else:
                ready.append(job)
        if not ready:
            continue
        for job in ready:
            log.info("start  %-28s (log: %s)", job.key, job.log_file)
        launcher_ = Plugins.instance().instantiate_launcher(hydra_context=context, task_function=_JobTask(ready, number, sweep_dir, guard),
                                                            config=master)
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            returns = launcher_.launch([[f"hydra.job.name={_slug(j.key)}"] for j in ready], initial_job_idx=number)
        except Exception as exc:  # a worker or a cluster job died without returning: the whole wave is lost
            returns = [exc] * len(ready)
        finally:  # launchers set up Hydra's own logging in this process; the study's stays as it was
            root.handlers[:] = handlers
            root.setLevel(level)
        number += len(ready)
        for job, ret in zip(ready, returns, strict=True):
            if isinstance(ret, Exception) or ret.status != JobStatus.COMPLETED:
                exc = ret if isinstance(ret, Exception) else ret._return_value
                failed[job.key] = f"{type(exc).__name__}: {exc} (log: {job.log_file})"
                log.error("FAILED %s: %s", job.key, failed[job.key])
                continue
            value = done[job.key] = ret.return_value["value"]
            summary = value[0] if isinstance(value, tuple) else value
            log.info("done   %-28s %6.0f s  %s  [%d/%d] %s", job.key, ret.return_value["seconds"], summary,
                     len(done), len(jobs), bar.eta())
    if failed:
        raise JobsFailed(failed, len(jobs))
    return done


def _call(fn: Callable[..., Any], args: tuple[Any, ...], log_file: Path | None) -> Any:
    """In the job's process: send its output and logging to its own file, run it, and put the
    process's own output back (a pool of one runs its jobs in the sending process itself)."""
    if log_file is None:
        return fn(*args)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_logging = root.handlers[:], root.level
    # Everything the job prints (progress bars, library warnings) goes to its log, not the console.
    with open(log_file, "a", buffering=1) as out:
        try:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            sys.stdout = sys.stderr = out
            handler = logging.StreamHandler(out)
            handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
            root.handlers[:] = [handler]  # swapped, not closed: they are put back below
            root.setLevel(logging.INFO)
            return fn(*args)
        finally:
            out.flush()
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            sys.stdout, sys.stderr = saved_streams
            root.handlers[:] = saved_logging[0]
            root.setLevel(saved_logging[1])
