"""One progress bar, with an ETA, over a graph of jobs.

A launcher returns a wave's results only when the whole wave is done, so the bar cannot count
returns: each job leaves a marker file when it ends (in its own process, wherever that runs, as
long as it shares the folder) and a thread of the sending process counts them. The bar writes to
a copy of the terminal's stderr taken at the start: a pool of one runs its jobs in this very
process, and those send fd 2 to their own log while they run.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

MARKERS = ".ended"


class _AboveTheBar(logging.Handler):
    """A console handler's records written above the bar (not through it) while the bar is shown."""

    def __init__(self, stream: TextIO, like: logging.Handler) -> None:
        super().__init__(like.level)
        self.stream = stream
        self.setFormatter(like.formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001  (logging must not raise)
            self.handleError(record)


def mark_ended(sweep_dir: Path, number: int) -> None:
    """In the job's process: job ``number`` of the graph has ended (done or failed)."""
    folder = sweep_dir / MARKERS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(number)).touch()


class JobsBar:
    """``with JobsBar(total, sweep_dir):`` shows ``ended/total`` jobs with the rate and the time left."""

    def __init__(self, total: int, sweep_dir: Path, desc: str = "jobs", poll_s: float = 2.0) -> None:
        self.folder = sweep_dir / MARKERS
        self.total, self.began = total, time.monotonic()
        self.poll_s = poll_s
        self._stream = self._terminal()
        # On a terminal, a bar; in a log file, the "done" lines carry the time left instead (eta()).
        self.bar = tqdm(total=total, desc=desc, unit="job", file=self._stream, dynamic_ncols=True,
                        smoothing=0.1, disable=not _isatty(self._stream))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="jobs-bar", daemon=True)

    @staticmethod
    def _terminal() -> TextIO:
        try:
            return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
        except (OSError, ValueError, AttributeError):  # no real stderr (captured by a test runner)
            return sys.stderr

    def eta(self) -> str:
        """The time left at the mean rate so far, as ``ETA 12:34`` (empty before the first job ends)."""
        self.refresh()
        ended, total = self.count(), self.total
        if not ended or ended >= total:
            return ""
        left = (time.monotonic() - self.began) / ended * (total - ended)
        return f"ETA {tqdm.format_interval(left)}"

    def count(self) -> int:
        try:
            return sum(1 for _ in self.folder.iterdir())
        except OSError:
            return 0

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.refresh()

    def refresh(self) -> None:
        seen = min(self.count(), self.total)
        if seen > self.bar.n:
            self.bar.update(seen - self.bar.n)

    def __enter__(self) -> JobsBar:
        root = logging.getLogger()
        self._handlers = root.handlers[:]
        root.handlers[:] = [_AboveTheBar(self._stream, h) if _is_console(h) else h for h in self._handlers]
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.refresh()
        self.bar.close()
        logging.getLogger().handlers[:] = self._handlers
        if self._stream is not sys.stderr:
            self._stream.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _is_console(handler: logging.Handler) -> bool:
    return type(handler) is logging.StreamHandler and getattr(handler, "stream", None) in (sys.stderr, sys.stdout)
