"""The options of ``eval.tasks.synthetic`` and the lm-eval task they ask for."""

from __future__ import annotations

from dataclasses import dataclass

from debias.eval.tasks.common import Planned, limit_problems


@dataclass
class SyntheticProbesTask:
    """She/he probe pairs on the synthetic corpus's own occupations (``debias.synthetic.stories.probe_pairs``):
    ``n_per_occupation`` of its held-out templates for each of its 60 occupations."""

    enabled: bool = True  # score the probe pairs
    probe_seed: int = 0  # the probes' seed
    n_per_occupation: int = 8  # templates per occupation, at least 1
    limit: int | None = None  # a seeded subsample of this many pairs; None: every pair

    def problems(self) -> list[str]:
        few = self.n_per_occupation < 1
        return limit_problems("eval.tasks.synthetic", self.limit) + (
            [f"eval.tasks.synthetic.n_per_occupation={self.n_per_occupation} must be at least 1"] if few else [])


def plans(t: SyntheticProbesTask, seed: int) -> list[Planned]:
    if not t.enabled:
        return []
    return [Planned("synthetic", "synthetic_probes.yaml", {
        "probe_seed": t.probe_seed, "n_per_occupation": t.n_per_occupation, "limit": t.limit, "seed": seed})]


OPTIONS = SyntheticProbesTask  # what eval.config.TasksConfig.synthetic holds
