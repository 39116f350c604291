"""Stopping the jobs with the command that started them.

Ctrl-C in a terminal reaches every process of the foreground group, but ``kill <pid>`` (SIGTERM, what
a scheduler or a supervisor sends) reaches only the study's own process: the launcher's worker
processes went on training as orphans. While ``stops_jobs`` is active, SIGTERM or SIGINT to this
process ends every process it started (terminated, then killed after a grace period) and raises
``JobsStopped``. Finished work is on disk (atomic checkpoints, ``resume=auto``, evaluation caches),
so the same command run again does only the rest.

Jobs sent to a cluster (the submitit launcher) are not processes of this machine: Slurm keeps
them, and ``scancel`` stops them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import psutil

from debias.core.errors import DebiasError

log = logging.getLogger(__name__)

GRACE_S = 20.0  # seconds a job process has to exit after SIGTERM before it is killed
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class JobsStopped(DebiasError, RuntimeError):
    """The command was told to stop (SIGTERM or SIGINT); its job processes were ended."""

    def __init__(self, signum: int, ended: int) -> None:
        self.signum, self.ended = signum, ended
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}: {ended} job process(es) ended; finished work is kept, and the "
                         "same command run again does the rest")


class _Stop(BaseException):
    """Raised in the main thread by the signal handler to leave whatever wait it is in (a
    BaseException, so that no ``except Exception`` of a launcher swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def end_children(children: list[psutil.Process] | None = None, grace_s: float = GRACE_S) -> int:
    """Terminate every descendant of this process, kill those still alive after ``grace_s``; the
    number of job processes there were. The pools' resource trackers block SIGTERM (they outlive
    their pool to clean up after it): they are killed once the workers are gone. ``children``: those
    found when the signal came (a launcher may already have ended some before this runs), plus any
    started since."""
    children = list(children or [])
    children += [c for c in _descendants() if c not in children]
    trackers = [c for c in children if _is_tracker(c)]
    workers = [c for c in children if c not in trackers]
    for child in workers:
        _send(child, signal.SIGTERM)
    _, alive = psutil.wait_procs(workers, timeout=grace_s)
    for child in [*alive, *trackers]:
        _send(child, signal.SIGKILL)
    psutil.wait_procs([*alive, *trackers], timeout=5)
    return len(workers)


def _descendants() -> list[psutil.Process]:
    try:
        return psutil.Process(os.getpid()).children(recursive=True)
    except psutil.Error:
        return []


def _is_tracker(process: psutil.Process) -> bool:
    try:
        return "resource_tracker" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def _send(process: psutil.Process, signum: int) -> None:
    try:
        process.send_signal(signum)
    except psutil.Error:
        pass


@contextmanager
def stops_jobs() -> Iterator[None]:
    """Within this block, SIGTERM or SIGINT ends every child process and raises ``JobsStopped``.
    Outside the main thread (where no handler can be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    found: list[psutil.Process] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if received:  # a second signal while stopping: the first one's stop is under way
            return
        received.append(signum)
        found.extend(_descendants())
        raise _Stop(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    except _Stop as stop:
        for s in SIGNALS:  # nothing more to interrupt: let the ending below finish
            signal.signal(s, signal.SIG_IGN)
        log.warning("%s received: ending the job processes (%.0f s grace)", signal.Signals(stop.signum).name,
                    GRACE_S)
        raise JobsStopped(stop.signum, end_children(found)) from None
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
