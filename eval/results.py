"""Per-checkpoint results: item tables per task, loaded from or written to the JSON cache.

The cache file of one checkpoint looks like::

    {"schema": 1, "checkpoint": {"path", "step", "total_steps", "run"}, "fingerprint": {"sha256", "stat"},
     "tasks": {"<task>-<key>": {"task", "spec", "items": {"id": [...], "<column>": [...]},
                                "lm_eval": {metric: value}, "seconds", "evaluated_at", "lm_eval_version"}}}

Items are per-item scores (log-likelihoods, margins, token counts), from which ``eval.metrics``
computes every metric and ``eval.stats`` every interval.
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.atomic import write_json

log = logging.getLogger(__name__)

SCHEMA = 1


@dataclass
class ItemTable:
    """Per-item scores of one task on one checkpoint, as aligned columns."""

    task: str
    ids: list[str]
    columns: dict[str, np.ndarray]
    spec: dict[str, Any] = field(default_factory=dict)
    lm_eval: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> ItemTable:
        items = entry["items"]
        ids = list(items["id"])
        cols = {k: np.asarray(v) for k, v in items.items() if k != "id"}
        return cls(task=entry["task"], ids=ids, columns=cols, spec=entry.get("spec", {}), lm_eval=entry.get("lm_eval", {}))

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Columns reordered to ``ids`` (all of which must be present)."""
        index = {k: i for i, k in enumerate(self.ids)}
        order = np.fromiter((index[k] for k in ids), dtype=np.int64, count=len(ids))
        return {k: v[order] for k, v in self.columns.items()}


@dataclass
class CheckpointResults:
    """Everything evaluated on one checkpoint: where it came from and one item table per task."""

    path: str
    step: int | None
    total_steps: int | None
    run: dict[str, Any] | None
    tables: dict[str, ItemTable]
    cache: str | None = None
    evaluated_now: int = 0  # tasks computed by the call that returned this (0: all from the cache)

    @property
    def name(self) -> str:
        base = (self.run or {}).get("name") or Path(self.path).name
        return f"{base}@step{self.step}" if self.step is not None and base != f"step{self.step}" else base

    @property
    def seed(self) -> int | None:
        return (self.run or {}).get("seed")

    @property
    def arm(self) -> str | None:
        return (self.run or {}).get("arm")

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.total_steps:
            return None
        return self.step / self.total_steps

    def metrics(self) -> dict[str, float]:
        from eval.metrics import point_estimates

        return point_estimates(self)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "step": self.step, "total_steps": self.total_steps, "run": self.run,
                "metrics": self.metrics()}


# ---------------------------------------------------------------- cache file
@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path``, so that two evaluations of one run do not drop each other's tasks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_cache(path: Path) -> dict[str, Any]:
    """The cache's content, or an empty one when absent; an unreadable file is set aside, not trusted."""
    if not path.is_file():
        return {"schema": SCHEMA, "tasks": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        broken = path.with_name(path.name + ".broken")
        path.replace(broken)
        log.warning("%s: unreadable results cache (%s); moved to %s and starting afresh", path, exc, broken)
        return {"schema": SCHEMA, "tasks": {}}
    if data.get("schema") != SCHEMA:
        log.warning("%s: cache schema %s is not %s; starting afresh", path, data.get("schema"), SCHEMA)
        return {"schema": SCHEMA, "tasks": {}}
    return data


def update_cache(path: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read, change and atomically rewrite the cache under its lock."""
    with locked(path):
        data = read_cache(path)
        change(data)
        data["schema"] = SCHEMA
        write_json(path, data)
        return data
