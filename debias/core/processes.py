"""What keeps processes from meeting over one folder, or outliving the process they work for.

- ``folder_lock``: one writer per folder (a rewrite's output, a training run's directory), held
  as an ``flock`` on the folder itself, so the kernel drops it when the holder dies however it dies.
- ``die_with_parent``: a worker asks the kernel to kill it when the process it works for dies
  (Linux's parent-death signal), so no orphan goes on writing for a run that is gone;
  ``children_die_with_me`` asks it for every process forked within a block.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from debias.core.errors import DebiasError

log = logging.getLogger(__name__)


class FolderBusyError(DebiasError, RuntimeError):
    """Another process holds the folder's lock."""


_HELD: dict[int, int] = {}  # lock fd -> pid of the process that took the lock
_GUARDING: list[int] = []  # pids whose forked children must die with them (children_die_with_me)


def _after_fork_in_child() -> None:
    """A process forked while a lock is held, or inside ``children_die_with_me`` (datatrove's
    manager is forked), must not keep the lock alive, nor outlive the process that forked it."""
    if not _HELD and not _GUARDING:
        return
    parents = set(_HELD.values()) | set(_GUARDING)
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()
    _GUARDING.clear()
    if len(parents) == 1:
        die_with_parent(parents.pop())


@contextmanager
def children_die_with_me() -> Iterator[None]:
    """Every process forked from this one inside the block asks the kernel to kill it when this one
    dies: a pool's manager, forked rather than spawned, was found alive 32 minutes after a SIGKILL of
    the rewrite that made it (its workers already die with the rewrite, see ``task_guard``)."""
    _GUARDING.append(os.getpid())
    try:
        yield
    finally:
        _GUARDING.remove(os.getpid())


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def folder_lock(folder: Path, what: str = "rewrite", *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself (no lock file to leave behind); a second
    holder is refused at once, or with ``wait`` waits its turn (for work it then finds done). The
    kernel drops the lock when the process dies, however it dies (forked children close their
    copy, so they cannot keep it)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    _HELD[fd] = os.getpid()
    try:
        busy = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy = True
        if busy and wait:
            log.info("%s: another %s is running on this folder; waiting for it", folder, what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        elif busy:
            raise FolderBusyError(
                f"{folder}: another {what} is running on this folder; wait for it, or stop it "
                "and rerun (finished work is kept)"
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


class WorkerDied(DebiasError, RuntimeError):
    """A pool worker died without returning (killed by a signal, as the OOM killer does): the pool
    would wait for its task forever."""


class _WorkerGone(BaseException):
    """Raised in the main thread by the watchdog's signal to leave the pool's endless wait."""


@contextmanager
def dead_workers_fail(what: str, poll_s: float = 0.1) -> Iterator[None]:
    """Within the block, a pool worker of this process that dies while its task runs (killed by
    SIGKILL, as the OOM killer does, or exiting with an error) stops the block with ``WorkerDied``
    naming its pid and how it ended, where the pool would replace it and wait for the lost task
    forever. The pool's own ending (SIGTERM to its workers, none replaced) is not a death. Main
    thread only (a signal wakes the pool's wait); elsewhere it does nothing."""
    import threading

    import psutil

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    me = psutil.Process(os.getpid())
    seen: set[int] = set()
    died: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll_s):
            try:
                current = {p.pid for p in me.children() if _is_pool_worker(p)}
            except psutil.Error:
                continue
            for pid in seen:
                how = _how_it_ended(pid)  # a zombie not yet reaped by the pool: its status, left for the pool
                gone = pid not in current
                if (how is not None and how != "killed by SIGTERM" and how != "exit status 0") or (
                        gone and how is None and current - seen):  # reaped and already replaced by the pool
                    died.append(f"worker pid {pid}: {how or 'replaced by the pool'}")
                    os.kill(os.getpid(), signal.SIGUSR1)
                    return
            seen.update(current)

    def wake(_signum: int, _frame: object) -> None:
        raise _WorkerGone

    previous = signal.signal(signal.SIGUSR1, wake)
    watcher = threading.Thread(target=watch, name="dead-workers", daemon=True)
    watcher.start()
    try:
        yield
    except _WorkerGone:
        raise WorkerDied(f"{what}: a worker process died while its task ran ({died[0] if died else 'unknown'}); "
                         "the tasks it held were not finished. Free memory or lower workers=, then rerun "
                         "(finished tasks are kept)") from None
    finally:
        stop.set()
        watcher.join(timeout=5)
        signal.signal(signal.SIGUSR1, previous)


def _how_it_ended(pid: int) -> str | None:
    """How child ``pid`` ended, read without reaping it (``WNOWAIT``); None while it runs or once reaped."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if info is None:
        return None
    if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return f"killed by {signal.Signals(info.si_status).name}"
    return f"exit status {info.si_status}"


def _is_pool_worker(proc: Any) -> bool:
    try:
        line = " ".join(proc.cmdline())
    except Exception:  # noqa: BLE001  (a process gone meanwhile)
        return False
    return "spawn_main" in line or "forkserver" in line
