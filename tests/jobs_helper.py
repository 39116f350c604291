"""A job for tests/test_jobs.py, in a module the launchers' processes can import by name."""

from __future__ import annotations

import os
from pathlib import Path


def make(path: str, fail_flag: str | None = None) -> tuple[str, bool]:
    """A job: write ``path`` (with this process's id) unless it exists; fail while ``fail_flag`` exists."""
    target = Path(path)
    if target.exists():
        return "already done", False
    if fail_flag and Path(fail_flag).exists():
        raise ValueError(f"{target.name} refused: {fail_flag} exists")
    print(f"making {target.name}")  # goes to the job's log, not the console
    target.write_text(str(os.getpid()))
    return "made", True
