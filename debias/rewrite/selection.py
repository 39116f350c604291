"""Which rows of a tail a partial rewrite touches: each row on its own, with probability
``fraction``, decided by a hash of ``(seed, source row)`` and nothing else.

A dose arm (the intervention's rewrite on a share of the rows) and counterfactual data
substitution (every pronoun of a row swapped both ways, in half of the rows) need a random choice
that any task, worker or rerun makes alike, whatever range of rows it holds, at Pile scale too. A
counter-based hash gives that without a generator to share or to skip ahead: row ``r`` is chosen
when ``u(seed, r) < fraction``, ``u`` being ``splitmix64(splitmix64(seed) + r)`` read as a number in
[0, 1). The manifest records the fraction, the seed, this rule and how many rows it chose, so the
choice can be checked from the manifest alone (``debias.rewrite.verify``, ``train.tail_check``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

RULE = "splitmix64(splitmix64(seed) + source_row) / 2**64 < fraction"

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on each uint64 (wrapping arithmetic, as the algorithm defines)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniforms(seed: int, rows: np.ndarray) -> np.ndarray:
    """``u(seed, r)`` in [0, 1) for each source row index ``r`` (53 bits, as a float64 holds them)."""
    key = splitmix64(np.uint64(seed % 2**64))
    with np.errstate(over="ignore"):
        h = splitmix64(np.asarray(rows, dtype=np.uint64) + key)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


@dataclass(frozen=True)
class RowSelection:
    """Rows chosen with probability ``fraction`` under ``seed`` (a fraction of 1 chooses every row)."""

    fraction: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"a row selection's fraction must lie in (0, 1], not {self.fraction}")

    @property
    def everything(self) -> bool:
        return self.fraction >= 1.0

    def chosen(self, rows: np.ndarray) -> np.ndarray:
        """A boolean mask: which of these source rows the rewrite touches."""
        rows = np.asarray(rows)
        if self.everything:
            return np.ones(rows.shape, dtype=bool)
        return uniforms(self.seed, rows) < self.fraction

    def count(self, first: int, stop: int, block: int = 1 << 22) -> int:
        """How many of source rows ``first..stop-1`` are chosen (in blocks, so any size fits)."""
        return sum(int(self.chosen(np.arange(a, min(stop, a + block))).sum()) for a in range(first, stop, block))

    def record(self, first: int, stop: int) -> dict[str, Any]:
        """What a manifest says of the choice, enough to make it again."""
        return {"fraction": float(self.fraction), "seed": int(self.seed), "rule": RULE,
                "rows_chosen": self.count(first, stop)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> RowSelection:
        """The selection a manifest's ``selection`` records (every row when it has none)."""
        if not record:
            return cls()
        if record.get("rule", RULE) != RULE:
            raise ValueError(f"a row selection by the rule {record.get('rule')!r}, which this version does not know")
        return cls(float(record["fraction"]), int(record["seed"]))
