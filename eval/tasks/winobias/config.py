"""The options of ``eval.tasks.winobias`` and the lm-eval tasks they ask for."""

from __future__ import annotations

from dataclasses import dataclass, field

from debias.eval.tasks.common import Planned, limit_problems

WINOBIAS_TYPES = (1, 2)
WINOBIAS_SPLITS = ("dev", "test")


@dataclass
class WinoBiasTask:
    """WinoBias pairs: pronoun preference (with prior and association) and coreference scoring."""

    preference: bool = True  # score the pronoun-preference pairs
    coreference: bool = True  # score coreference
    # WinoBias types, one or more of WINOBIAS_TYPES: 1, 2
    types: list[int] = field(default_factory=lambda: list(WINOBIAS_TYPES))
    # one or more of WINOBIAS_SPLITS: dev, test
    splits: list[str] = field(default_factory=lambda: list(WINOBIAS_SPLITS))
    limit: int | None = None  # a seeded subsample of this many items; None: every item

    def problems(self) -> list[str]:
        out = [f"eval.tasks.winobias.types: {t!r} is not 1 or 2" for t in self.types if t not in WINOBIAS_TYPES]
        out += [f"eval.tasks.winobias.splits: {s!r} is not 'dev' or 'test'" for s in self.splits if s not in WINOBIAS_SPLITS]
        if (self.preference or self.coreference) and (not self.types or not self.splits):
            out.append("eval.tasks.winobias needs at least one type and one split")
        return out + limit_problems("eval.tasks.winobias", self.limit)


def plans(t: WinoBiasTask, seed: int) -> list[Planned]:
    options = {"types": sorted(t.types), "splits": sorted(t.splits), "limit": t.limit, "seed": seed}
    out = []
    if t.preference:
        out.append(Planned("winobias_preference", "winobias_preference.yaml", dict(options)))
    if t.coreference:
        out.append(Planned("winobias_coreference", "winobias_coreference.yaml", dict(options)))
    return out


OPTIONS = WinoBiasTask  # what eval.config.TasksConfig.winobias holds
