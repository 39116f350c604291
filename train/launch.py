"""Where a process stands in a multi-process job, from whatever started it.

``torchrun`` and the ``deepspeed`` launcher export ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` themselves. Slurm (``srun``, or Hydra's submitit launcher,
which runs each task through ``srun``) exports its own names instead; this module turns those
into torch's, so that one ``python -m debias.train ...`` per task joins the same process group:

- under submitit (Slurm or its local executor): ``submitit.JobEnvironment`` (global rank, local
  rank, tasks, the job's host names);
- under plain ``srun``: ``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_STEP_NUM_TASKS`` (or
  ``SLURM_NTASKS``), and the first host of ``scontrol show hostnames $SLURM_STEP_NODELIST``.

The port is ``MASTER_PORT`` when set, else one derived from the job id, the same on every task.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from debias.core.errors import DebiasError

log = logging.getLogger(__name__)

PORT_BASE, PORT_SPAN = 20_000, 20_000


@dataclass(frozen=True)
class Placement:
    """One task's place in its job, in torch.distributed's terms."""

    rank: int
    local_rank: int
    world_size: int
    master_addr: str
    master_port: int
    source: str  # what it was read from, for the log

    def env(self) -> dict[str, str]:
        return {"RANK": str(self.rank), "LOCAL_RANK": str(self.local_rank), "WORLD_SIZE": str(self.world_size),
                "MASTER_ADDR": self.master_addr, "MASTER_PORT": str(self.master_port)}


def port_for_job(job_id: str) -> int:
    """A port every task of job ``job_id`` computes alike (job ids differ between concurrent jobs)."""
    digits = "".join(c for c in job_id if c.isdigit()) or "0"
    return PORT_BASE + int(digits) % PORT_SPAN


def first_host(nodelist: str) -> str:
    """The first host of a Slurm node list (``gpu[03-05,9]`` -> ``gpu03``), as ``scontrol`` expands it."""
    scontrol = shutil.which("scontrol")
    if scontrol is not None:
        out = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True, text=True, check=False)
        hosts = out.stdout.split()
        if out.returncode == 0 and hosts:
            return hosts[0]
    if "[" not in nodelist:
        return nodelist.split(",")[0]
    raise RuntimeError(f"SLURM_NODELIST={nodelist!r}: cannot expand it without scontrol; set MASTER_ADDR to the "
                       "first host of the job")


def from_submitit() -> Placement | None:
    """The placement submitit gives its tasks (``SUBMITIT_EXECUTOR`` is set in each), else None."""
    executor = os.environ.get("SUBMITIT_EXECUTOR")
    if not executor:
        return None
    import submitit

    env = submitit.JobEnvironment()
    addr = os.environ.get("MASTER_ADDR") or ("127.0.0.1" if executor == "local" else env.hostnames[0])
    port = int(os.environ.get("MASTER_PORT") or port_for_job(str(env.job_id)))
    return Placement(env.global_rank, env.local_rank, env.num_tasks, addr, port, f"submitit ({executor})")


def from_slurm() -> Placement | None:
    """The placement of a task started by ``srun`` (``SLURM_PROCID`` set), else None."""
    if "SLURM_PROCID" not in os.environ or "SLURM_STEP_ID" not in os.environ:
        return None  # the batch script itself is no task of a parallel step
    tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or "1")
    nodelist = os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST") or "127.0.0.1"
    addr = os.environ.get("MASTER_ADDR") or first_host(nodelist)
    port = int(os.environ.get("MASTER_PORT") or port_for_job(os.environ.get("SLURM_JOB_ID", "0")))
    return Placement(int(os.environ["SLURM_PROCID"]), int(os.environ.get("SLURM_LOCALID", "0")), tasks, addr, port,
                     "Slurm")


def export_placement() -> Placement | None:
    """Export torch's variables from Slurm's or submitit's when no torch launcher set them; returns
    what was exported (None when a launcher did it, or when no scheduler started this process)."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return None
    placement = from_submitit() or from_slurm()
    if placement is not None:
        os.environ.update(placement.env())
        log.info("rank %d of %d (local rank %d), master %s:%d, from %s", placement.rank, placement.world_size,
                 placement.local_rank, placement.master_addr, placement.master_port, placement.source)
    return placement


def _placement_text() -> str:
    import socket

    return (f"rank {os.environ.get('RANK', '0')} of {os.environ.get('WORLD_SIZE', '1')} "
            f"(host {socket.gethostname()}, pid {os.getpid()})")


class RankStopped(DebiasError, RuntimeError):
    """This rank stopped because a launcher or scheduler told it to, or because the other ranks went away."""


@contextmanager
def rank_guard() -> Iterator[None]:
    """In a job of several ranks, make every way this rank stops say which rank it is: SIGTERM (what
    torchrun, the ``deepspeed`` launcher and Slurm send every rank once one has failed) becomes a
    ``RankStopped`` naming this rank, raised in the main thread so that temporary checkpoint
    folders are cleaned up on the way out; an error in a collective (a peer died) is logged with
    this rank's place. A no-op for one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, _frame: Any) -> None:
        raise RankStopped(f"{_placement_text()}: stopped by {signal.Signals(signum).name} (a launcher ends every "
                          "rank once one of them has failed; see the failed rank's own message)")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except RankStopped as exc:
        log.error("%s", exc)
        raise
    except Exception as exc:
        log.error("%s: stopped by %s: %s", _placement_text(), type(exc).__name__, exc)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
