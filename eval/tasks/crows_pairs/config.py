"""The options of ``eval.tasks.crows_pairs`` and the lm-eval tasks they ask for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from debias.core.choices import values
from debias.eval.tasks.common import Planned, limit_problems

CrowsSubset = Literal["all", "gender"]  # the CrowS-Pairs sets (a list of them may be empty when disabled)
CROWS_SUBSETS = values(CrowsSubset)


@dataclass
class CrowsPairsTask:
    """CrowS-Pairs English. ``subsets``: "all" (1,508 pairs) and/or "gender" (262 pairs)."""

    enabled: bool = True  # score CrowS-Pairs
    # one or more CrowsSubsets: all, gender
    subsets: list[str] = field(default_factory=lambda: list(CROWS_SUBSETS))
    limit: int | None = None  # a seeded subsample of this many pairs; None: every pair

    def problems(self) -> list[str]:
        out = [f"eval.tasks.crows_pairs.subsets: {s!r} is not one of {', '.join(CROWS_SUBSETS)}"
               for s in self.subsets if s not in CROWS_SUBSETS]
        if self.enabled and not self.subsets:
            out.append("eval.tasks.crows_pairs.subsets is empty; list 'all' and/or 'gender', or set enabled=false")
        return out + limit_problems("eval.tasks.crows_pairs", self.limit)


def plans(t: CrowsPairsTask, seed: int) -> list[Planned]:
    """CrowS-Pairs gender is read off the full set when both are asked for."""
    if not t.enabled:
        return []
    if "all" in t.subsets:
        return [Planned("crows_pairs", "crows_pairs_english.yaml", {"limit": t.limit, "seed": seed})]
    return [Planned("crows_pairs_gender", "crows_pairs_english_gender.yaml", {"limit": t.limit, "seed": seed})]


OPTIONS = CrowsPairsTask  # what eval.config.TasksConfig.crows_pairs holds
