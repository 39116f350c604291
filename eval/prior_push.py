"""What a prior push alone predicts, and the association change left over (the residual).

A one-sided rewrite (every "he" made "she") trains the model toward "she" everywhere. Under
cross-entropy toward "she", an item whose log-odds ``z = log P(she) - log P(he)`` is low has the
larger gradient, ``sigmoid(-z)``: male-stereotyped items move most, so the association (female-
minus male-stereotyped log-odds) falls although nothing about occupations was learnt. On the
demo's study this rule, with one constant fitted to the observed prior shift, predicted -3.96 of
the synthetic probes' observed -3.67 and -1.81 of WinoBias's -1.68.

``association_residual`` takes one seed's control and intervention scores on the same items:

    shift_i = y_i - z_i                          observed per-item change
    basis_i = sigmoid(-z_i)   (prior moved toward she; -sigmoid(z_i) when it moved toward he)
    k       = mean(shift) / mean(basis)          one constant, nothing per occupation
    residual = association(y) - association(z + k * basis)

It is zero for a pure prior push, whatever its size, and measures what the rewrite changed
beyond it. The comparison then takes a t-interval over seeds of the per-seed residuals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from eval.metrics import BY_NAME, Metric, pair_logodds, winogender_logodds

Cols = Mapping[str, np.ndarray]


def _pairs_with(c: Cols, z: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of a she/he pair task whose ``pair_logodds`` is ``z``."""
    female = c["female"].astype(bool)
    return {**c, "ll_pro": np.where(female, z, -z), "ll_anti": np.zeros_like(z)}


def _winogender_with(c: Cols, z: np.ndarray) -> dict[str, np.ndarray]:
    return {**c, "ll_female": z, "ll_male": np.zeros_like(z)}


@dataclass(frozen=True)
class LogOdds:
    """How to read a task's per-item log-odds of "she", and to write columns holding given ones."""

    read: Callable[[Cols], np.ndarray]
    write: Callable[[Cols, np.ndarray], dict[str, np.ndarray]]


LOGODDS: dict[str, LogOdds] = {
    "winobias_preference": LogOdds(pair_logodds, _pairs_with),
    "synthetic": LogOdds(pair_logodds, _pairs_with),
    "winogender": LogOdds(winogender_logodds, _winogender_with),
}

# Association metrics whose residual the comparisons report.
RESIDUAL_OF = (
    "winobias/association",
    "winobias_type1/association",
    "winobias_type2/association",
    "synthetic/association",
    "winogender/association_occupation",
    "winogender/association_participant",
)


def push_basis(z: np.ndarray, mean_shift: float) -> np.ndarray:
    """Per-item direction of a push toward "she" (``mean_shift >= 0``) or toward "he"."""
    return 1.0 / (1.0 + np.exp(z)) if mean_shift >= 0 else -1.0 / (1.0 + np.exp(-z))


def predicted_logodds(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The control's log-odds ``z`` pushed by the prior shift that ``y`` shows, and nothing else."""
    shift = float(np.mean(y - z))
    basis = push_basis(z, shift)
    denominator = float(np.mean(basis))
    k = shift / denominator if denominator != 0 else 0.0
    return z + k * basis


def association_residual(m: Metric, table: str, control: Cols, treated: Cols) -> tuple[float, float, float]:
    """(predicted change, observed change, residual) of association metric ``m`` between one
    control model and one treated model scored on the same items of ``table``."""
    lo = LOGODDS[table]
    z, y = lo.read(control), lo.read(treated)
    before = float(m.fn(control))
    predicted = float(m.fn(lo.write(control, predicted_logodds(z, y)))) - before
    observed = float(m.fn(treated)) - before
    return predicted, observed, observed - predicted


def residual_metrics() -> list[Metric]:
    """The association metrics that have a residual, in report order."""
    return [BY_NAME[name] for name in RESIDUAL_OF]


def residual_name(metric: str) -> str:
    return f"{metric}_residual"
