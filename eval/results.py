"""Per-checkpoint results: one item table per task, read from the checked cache entries
(``eval.cache``), from which ``eval.metrics`` computes every metric and ``eval.stats`` every interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from debias.eval.cache import CacheEntry


@dataclass
class ItemTable:
    """Per-item scores of one task on one checkpoint, as aligned columns."""

    task: str
    ids: list[str]
    columns: dict[str, np.ndarray]
    spec: dict[str, Any] = field(default_factory=dict)
    lm_eval: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, str] | None = None  # the analysis protocol recorded when it was evaluated

    @classmethod
    def from_entry(cls, entry: CacheEntry) -> ItemTable:
        ids = list(entry.items["id"])
        cols = {k: np.asarray(v) for k, v in entry.items.items() if k != "id"}
        return cls(task=entry.task, ids=ids, columns=cols, spec=dict(entry.spec), lm_eval=dict(entry.lm_eval),
                   protocol=dict(entry.protocol) if entry.protocol is not None else None)

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
    # a model named by model=: {"model", "revision", "commit", "tokenizer", "path"} (eval.models.ModelSource)
    source: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        if self.source is not None:
            model, revision, commit = self.source["model"], self.source.get("revision"), self.source.get("commit")
            return f"{model}@{revision or commit[:10]}" if commit else model
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
        from debias.eval.metrics import point_estimates

        return point_estimates(self)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "step": self.step, "total_steps": self.total_steps, "run": self.run,
                "source": self.source, "metrics": self.metrics()}
