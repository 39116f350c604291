"""What keeps processes from meeting over one folder, or outliving the process they work for.

- ``folder_lock``: one writer per folder (a rewrite's output, a training run's directory), held
  as an ``flock`` on the folder itself, so the kernel drops it when the holder dies however it dies.
- ``die_with_parent``: a worker asks the kernel to kill it when the process it works for dies
  (Linux's parent-death signal), so no orphan goes on writing for a run that is gone.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from debias.core.errors import DebiasError


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
