"""The options of ``eval.tasks.winogender`` and the lm-eval task they ask for."""

from __future__ import annotations

from dataclasses import dataclass

from eval.tasks.common import Planned, limit_problems


@dataclass
class WinoGenderTask:
    enabled: bool = True  # score WinoGender
    limit: int | None = None  # a seeded subsample of this many items; None: every item

    def problems(self) -> list[str]:
        return limit_problems("eval.tasks.winogender", self.limit)


def plans(t: WinoGenderTask, seed: int) -> list[Planned]:
    return [Planned("winogender", "winogender.yaml", {"limit": t.limit, "seed": seed})] if t.enabled else []
