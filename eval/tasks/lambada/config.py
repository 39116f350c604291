"""The options of ``eval.tasks.lambada`` and the lm-eval task they ask for."""

from __future__ import annotations

from dataclasses import dataclass

from eval.tasks.common import Planned, limit_problems


@dataclass
class LambadaTask:
    """LAMBADA (OpenAI test set, 5,153 passages); ``limit`` takes a seeded subsample."""

    enabled: bool = True  # score LAMBADA
    limit: int | None = None  # a seeded subsample of this many passages; None: every passage

    def problems(self) -> list[str]:
        return limit_problems("eval.tasks.lambada", self.limit)


def plans(t: LambadaTask, seed: int) -> list[Planned]:
    return [Planned("lambada", "lambada.yaml", {"limit": t.limit, "seed": seed})] if t.enabled else []
