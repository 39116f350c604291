"""The engine the tail rewrite and its verification run on: datatrove executors chosen by config.

A rewrite is two datatrove pipelines: ``tasks`` tasks that each rewrite one contiguous range of rows,
then one dependent task that assembles the result. datatrove's completion markers
(``<logging_dir>/completions/<rank>``) are the resume; its executors do the scheduling:
``LocalPipelineExecutor`` (``workers`` processes on this machine, the default),
``SlurmPipelineExecutor`` (a job array) and ``RayPipelineExecutor`` (a running Ray cluster).
This module holds only what the engine does not: the typed executor config, the split of rows into
tasks, an OS lock on the output folder, and the rule that a local worker dies with its parent.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from debias.core.choices import choice, choice_problems, values
from debias.core.errors import DebiasError

ExecutorKind = Literal["local", "slurm", "ray"]  # the engine a pipeline runs on
EXECUTORS = values(ExecutorKind)


@dataclass
class ExecutorConfig:
    """Where the tasks run (config group ``executor``: local, slurm or ray).

    ``kind``: local (worker processes on this machine), slurm (a job array; the call submits and
    returns) or ray (tasks on the cluster that ``ray.init()`` reaches). The other fields matter
    only for slurm (and ``cpus_per_task``/``mem_per_cpu_gb`` for ray too).
    """

    kind: str = choice(ExecutorKind, "local")  # an ExecutorKind: local, slurm, ray
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


def _activate_script(venv: str | None) -> str:
    """The ``bin/activate`` that each Slurm job sources: ``venv``'s, else this interpreter's."""
    path = Path(venv or os.environ.get("VIRTUAL_ENV") or sys.prefix)
    return str(path / "bin" / "activate" if path.is_dir() else path)


class FolderBusyError(DebiasError, RuntimeError):
    """Another process holds the folder's lock."""


_HELD: dict[int, int] = {}  # lock fd -> pid of the process that took the lock


def _after_fork_in_child() -> None:
    """A process forked while a lock is held (datatrove's manager is forked) must not keep the
    lock alive, nor outlive the rewrite that forked it."""
    if not _HELD:
        return
    parents = set(_HELD.values())
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()
    if len(parents) == 1:
        die_with_parent(parents.pop())


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def folder_lock(folder: Path, what: str = "rewrite") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself (no lock file to leave behind); a second
    holder is refused at once. The kernel drops the lock when the process dies, however it dies
    (forked children close their copy, so they cannot keep it)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    _HELD[fd] = os.getpid()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(
                f"{folder}: another {what} is running on this folder; wait for it, or stop it "
                "and rerun (finished tasks are kept)"
            ) from None
        yield
    finally:
        _HELD.pop(fd, None)
        os.close(fd)  # releases the lock


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In a local worker process (not in ``parent_pid`` itself): ask the kernel for SIGKILL when
    the parent dies, so that no worker goes on writing for a run that is gone. Linux only; a
    no-op elsewhere."""
    if os.getpid() == parent_pid:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGKILL)


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
