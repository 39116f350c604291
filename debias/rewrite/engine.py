"""The engine the tail rewrite and its verification run on: datatrove executors chosen by config.

A rewrite is two datatrove pipelines: ``tasks`` tasks that each rewrite one contiguous range of rows,
then one dependent task that assembles the result. datatrove's completion markers
(``<logging_dir>/completions/<rank>``) are the resume; its executors do the scheduling:
``LocalPipelineExecutor`` (``workers`` processes on this machine, the default),
``SlurmPipelineExecutor`` (a job array) and ``RayPipelineExecutor`` (a running Ray cluster).
This module holds only what the engine does not: the typed executor config, the split of rows into
tasks, an OS lock on the output folder, the rule that a task's process dies with the process that
started it, and, for Ray, the joining of the cluster and a check that its tasks all finished
(datatrove's Ray executor logs a failed task and returns; the assembly would then wait for it
forever).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from debias.core.choices import choice, choice_problems, values
from debias.core.errors import DebiasError
from debias.core.processes import (  # noqa: F401  (FolderBusyError, die_with_parent, folder_lock: re-exported)
    FolderBusyError,
    children_die_with_me,
    dead_workers_fail,
    die_with_parent,
    folder_lock,
)

log = logging.getLogger(__name__)

ExecutorKind = Literal["local", "slurm", "ray"]  # the engine a pipeline runs on
EXECUTORS = values(ExecutorKind)
_GIB = 1024**3


@dataclass
class ExecutorConfig:
    """Where the tasks run (config group ``executor``: local, slurm or ray).

    ``kind``: local (worker processes on this machine), slurm (a job array; the call submits and
    returns) or ray (tasks on the cluster at ``address``). The other fields matter only for slurm
    (``cpus_per_task``/``mem_per_cpu_gb`` for ray too: Ray's ``num_cpus`` and ``memory`` of a task,
    ``memory`` = ``cpus_per_task * mem_per_cpu_gb`` GiB; ``address`` for ray alone).
    """

    kind: str = choice(ExecutorKind, "local")  # an ExecutorKind: local, slurm, ray
    # ray: the cluster to join ("auto", "ray://head:10001"); null: $RAY_ADDRESS, else one running
    # on this machine, else a new one here
    address: str | None = None
    partition: str | None = None  # slurm: the partition to submit to
    time: str = "24:00:00"  # slurm: the wall-clock limit of each task
    cpus_per_task: int = 1  # slurm, ray: cores a task holds (the rewrite uses one)
    mem_per_cpu_gb: float = 4  # slurm, ray: memory per core; a task needs about 1.5 GB
    qos: str = "normal"  # slurm: the quality of service
    venv_path: str | None = None  # slurm: the venv each job activates (null: the current one)
    job_name: str = "debias-rewrite"  # slurm: the job name (the assembly adds "-assemble")
    sbatch_args: dict[str, Any] = field(default_factory=dict)  # slurm: extra #SBATCH directives

    def problems(self) -> list[str]:
        out = choice_problems(self, "executor")
        if self.kind == "slurm" and not self.partition:
            out.append("executor=slurm needs executor.partition= (the partition to submit to)")
        if self.cpus_per_task < 1:
            out.append(f"executor.cpus_per_task={self.cpus_per_task} must be at least 1")
        if not self.mem_per_cpu_gb > 0:
            out.append(f"executor.mem_per_cpu_gb={self.mem_per_cpu_gb} must be above 0")
        if self.kind == "ray" and importlib.util.find_spec("ray") is None:
            out.append("executor=ray needs Ray, which is not installed: pip install 'pythia-debias[ray]'")
        return out


def task_rows(rank: int, tasks: int, first: int, rows: int) -> tuple[int, int]:
    """Rows ``lo..hi-1`` of task ``rank`` of ``tasks``: contiguous, in order, sizes differing by
    at most one, together exactly ``first..first+rows-1``."""
    base, extra = divmod(rows, tasks)
    lo = first + rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def make_executor(
    cfg: ExecutorConfig,
    pipeline: list,
    *,
    tasks: int,
    workers: int,
    logging_dir: Path,
    depends: Any = None,
    name: str = "",
) -> Any:
    """The datatrove executor of ``cfg`` for ``pipeline`` (``depends`` runs first)."""
    if cfg.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        # spawn: spaCy and tokenizers are not fork-safe, and a fresh process holds no parent state
        return LocalPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=min(workers, tasks),
            logging_dir=str(logging_dir),
            depends=depends,
            start_method="spawn",
        )
    if cfg.kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=workers,
            time=cfg.time,
            partition=cfg.partition,
            cpus_per_task=cfg.cpus_per_task,
            mem_per_cpu_gb=int(max(1, round(cfg.mem_per_cpu_gb))),
            qos=cfg.qos,
            venv_path=_activate_script(cfg.venv_path),
            job_name=cfg.job_name + name,
            sbatch_args=dict(cfg.sbatch_args),
            logging_dir=str(logging_dir),
            depends=depends,
        )
    if cfg.kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        connect_ray(cfg)
        return RayPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=workers,
            logging_dir=str(logging_dir),
            depends=depends,
            cpus_per_task=cfg.cpus_per_task,
            mem_per_cpu_gb=cfg.mem_per_cpu_gb,
        )
    raise ValueError(f"executor.kind={cfg.kind!r} is not one of {', '.join(EXECUTORS)}")


class ExecutorError(DebiasError, RuntimeError):
    """The engine could not run the tasks: a cluster too small for one task, or tasks that failed."""


def connect_ray(cfg: ExecutorConfig) -> None:
    """Join the Ray cluster of ``cfg`` (unless this process already has) and refuse, at once, a
    task that no node can hold: Ray would otherwise wait for such a task forever.

    Call it before taking a ``folder_lock``: the processes ``ray.init`` starts here are forked
    (with a ``preexec_fn``), and a child forked under the lock is tied to this process's life."""
    import ray

    if not ray.is_initialized():
        ray.init(address=cfg.address, ignore_reinit_error=True)
        log.info("joined the Ray cluster: %s", ray.cluster_resources())
    cpus, mem = cfg.cpus_per_task, cfg.cpus_per_task * cfg.mem_per_cpu_gb
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("memory", 0) >= mem * _GIB for r in nodes):
        return
    best_cpu = max((r.get("CPU", 0) for r in nodes), default=0)
    best_mem = max((r.get("memory", 0) for r in nodes), default=0) / _GIB
    raise ExecutorError(
        f"executor=ray: a task asks for {cpus} CPUs and {mem:g} GiB (executor.cpus_per_task, "
        f"executor.mem_per_cpu_gb), but no node of the Ray cluster offers that (at most {best_cpu:g} "
        f"CPUs and {best_mem:.1f} GiB); lower them or join a cluster with larger nodes"
    )


def run_pipeline(cfg: ExecutorConfig, executor: Any, what: str) -> None:
    """Run ``executor`` (its ``depends`` first) and raise ``ExecutorError`` when a task did not
    finish. Local runs raise a task's own error; datatrove's Ray executor only logs it, and an
    executor whose dependency has unfinished tasks sleeps until they finish, which is never."""
    if cfg.kind != "ray":
        with children_die_with_me(), dead_workers_fail(what):  # the pool's forked manager too; no endless wait
            executor.run()
        return
    if executor.depends is not None and not executor.depends._launched:
        run_pipeline(cfg, executor.depends, what)
    executor.run()
    missing = executor.get_incomplete_ranks(skip_completed=True)
    if missing:
        logs = executor.logging_dir.path
        shown = ", ".join(f"{logs}/logs/task_{rank:05d}.log" for rank in missing[:3])
        raise ExecutorError(
            f"{what}: {len(missing)} of {executor.world_size} tasks failed on Ray (see {shown}"
            f"{' ...' if len(missing) > 3 else ''}); fix the cause and rerun (finished tasks are kept)"
        )


def _activate_script(venv: str | None) -> str:
    """The ``bin/activate`` that each Slurm job sources: ``venv``'s, else this interpreter's."""
    path = Path(venv or os.environ.get("VIRTUAL_ENV") or sys.prefix)
    return str(path / "bin" / "activate" if path.is_dir() else path)


def guard_fields(cfg: ExecutorConfig) -> dict[str, Any]:
    """The fields of a job that say which process its tasks die with (read by ``task_guard``)."""
    return {"guard_pid": os.getpid() if cfg.kind == "local" else None, "guard_parent": cfg.kind == "ray"}


def task_guard(job: dict[str, Any]) -> int | None:
    """In a task: the pid it must not outlive (the kernel is asked to kill it when that one dies),
    or None. Local: the rewrite's own process (its workers are its children). Ray: the Ray actor
    that forked this process (datatrove runs each rank in a pool process inside an actor; when Ray
    kills the actor, its child must stop writing too); never the rewrite's pid, which on a cluster
    lives on another machine. Slurm: none (the job step owns its process)."""
    pid = job.get("guard_pid")
    if pid is None and job.get("guard_parent"):
        pid = os.getppid()
    if pid is not None:
        die_with_parent(pid)
    return pid


def parent_alive(parent_pid: int) -> bool:
    """False in a local worker whose parent has died (checked between batches of rows)."""
    return os.getpid() == parent_pid or os.getppid() == parent_pid


class OutputWriteError(DebiasError, OSError):
    """A file of the output could not be written (disk full, read-only, no permission)."""


@contextmanager
def writing(path: Path, what: str) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into one that names it and says what to do."""
    try:
        yield
    except OutputWriteError:
        raise
    except OSError as exc:
        raise OutputWriteError(
            exc.errno,
            f"{path}: cannot write {what} ({exc.strerror or exc}); free space on that disk or "
            "choose a writable output folder, then rerun (finished tasks are kept)",
        ) from exc
