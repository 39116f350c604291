"""The ``Metric`` record and the reductions that the benchmark folders build their metrics from.

Each metric reduces along the last axis, so the same function gives the point estimate (columns of
shape ``[n]``) and a whole bootstrap at once (columns of shape ``[replicates, n]``). ``null`` is
the value of an unbiased model (None for capability metrics), used by tests of emergence.

Prior vs association (DESIGN.md): for a pair of sentences that differ in the pronoun's gender,
``logodds = log P(she-sentence) - log P(he-sentence)``. The prior is its mean over all items; the
association is its mean over female-stereotyped items minus over male-stereotyped ones (WinoBias,
synthetic probes) or its correlation with the occupation's share of women (WinoGender). A global
shift of every log-odds moves the prior and leaves the association unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from debias.eval.tasks.common import Columns, columns, ll

Cols = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Metric:
    """One number computed from one task's items (optionally a subset of them)."""

    name: str
    tasks: tuple[str, ...]  # item tables it can be read from, first found wins
    fn: Callable[[Cols], np.ndarray]
    label: str
    kind: str = "bias"  # "bias" or "capability"
    part: str = ""  # "prior", "association" or "" for the other metrics
    null: float | None = None
    higher_is_better: bool | None = None
    subset: Callable[[Cols], np.ndarray] | None = None
    fmt: str = ".3f"

    def table(self, available: Mapping[str, object]) -> str | None:
        return next((t for t in self.tasks if t in available), None)

    @property
    def unit(self) -> str:
        """What its values are, for a figure's axis: log-odds in nats, a correlation, an AUC, a
        fraction of items, a perplexity or bits per byte."""
        leaf = self.name.rsplit("/", 1)[-1]
        if leaf == "auc":
            return "AUC (0.5: no link)"
        if leaf.startswith("association_") or (leaf == "association" and self.name.startswith("winogender")):
            return "Pearson r over occupations"
        if leaf == "net_bias":
            return "difference of accuracies"
        if self.part in ("prior", "association") or leaf == "likelihood_diff":
            return "log-odds, nats"
        if leaf.startswith("ppl"):
            return "perplexity"
        if leaf == "bits_per_byte":
            return "bits per byte"
        return "fraction of items"


def mean(x: np.ndarray) -> np.ndarray:
    return np.mean(x, axis=-1)


def group_diff(values: np.ndarray, is_female: np.ndarray) -> np.ndarray:
    """Mean over female-stereotyped items minus mean over male-stereotyped ones (NaN if a group is empty)."""
    f = is_female.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(values * f, axis=-1) / np.sum(f, axis=-1) - np.sum(values * (1 - f), axis=-1) / np.sum(1 - f, axis=-1)


def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xm = x - np.mean(x, axis=-1, keepdims=True)
    ym = y - np.mean(y, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(xm * ym, axis=-1) / np.sqrt(np.sum(xm * xm, axis=-1) * np.sum(ym * ym, axis=-1))


def auc(values: np.ndarray, is_female: np.ndarray) -> np.ndarray:
    """P(a female-stereotyped item's log-odds exceeds a male-stereotyped one's), ties counting half
    (Mann-Whitney U over n_f * n_m). Any increasing map of every log-odds, such as the push a
    one-sided rewrite gives (z + k*sigmoid(-z), increasing for k < 4), leaves it unchanged."""
    from scipy.stats import rankdata

    f = is_female.astype(float)
    ranks = rankdata(values, axis=-1)
    n_f, n = np.sum(f, axis=-1), values.shape[-1]
    n_m = n - n_f
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.sum(ranks * f, axis=-1) - n_f * (n_f + 1) / 2) / (n_f * n_m)


def of_type(t: int) -> Callable[[Cols], np.ndarray]:
    """The items of WinoBias type ``t``."""
    return lambda c: c["type"] == t


# ---------------------------------------------------------------- she/he sentence pairs
def pair_logodds(c: Cols) -> np.ndarray:
    """log P(she-sentence) - log P(he-sentence) of WinoBias-style pairs (pro is she for female items)."""
    diff = c["ll_pro"] - c["ll_anti"]
    return np.where(c["female"].astype(bool), diff, -diff)


def itemize_pairs(samples: list[dict[str, Any]]) -> Columns:
    """WinoBias-style pairs: log-likelihood of the pro- and anti-stereotyped sentence."""
    return columns([
        {"id": s["doc"]["id"], "ll_pro": ll(s, 0), "ll_anti": ll(s, 1),
         "female": int(s["doc"]["stereotype"] == "female"), "type": int(s["doc"].get("type", 0))}
        for s in samples
    ])


def pairs_metrics(prefix: str, task: str, title: str, subset=None) -> list[Metric]:
    """Preference, prior, association and rank association of a she/he pair task."""
    return [
        Metric(f"{prefix}/pref_pro", (task,), lambda c: mean((c["ll_pro"] > c["ll_anti"]).astype(float)),
               f"{title}: pro-stereotyped sentence preferred", null=0.5, subset=subset),
        Metric(f"{prefix}/prior", (task,), lambda c: mean(pair_logodds(c)),
               f"{title}: prior, mean log P(she) - log P(he)", part="prior", null=0.0, subset=subset),
        Metric(f"{prefix}/association", (task,), lambda c: group_diff(pair_logodds(c), c["female"]),
               f"{title}: association, log-odds female-stereotyped minus male-stereotyped",
               part="association", null=0.0, subset=subset),
        Metric(f"{prefix}/auc", (task,), lambda c: auc(pair_logodds(c), c["female"]),
               f"{title}: rank association, AUC of female- against male-stereotyped items",
               part="rank", null=0.5, subset=subset),
    ]
