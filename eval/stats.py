"""Resampling statistics for any metric written as a function of per-item columns.

- ``bootstrap_ci``: percentile interval for one model (items resampled).
- ``paired_comparison``: two checkpoints on the same items; interval of the difference from a
  joint item bootstrap, p-value from a paired permutation test that swaps the two models' scores
  item by item (exact enumeration for up to ``EXACT_MAX`` items).
- ``seed_t``: two arms of several seeds: a t-interval over the per-seed values (paired by seed).
- ``two_level``: two arms, each a list of models from different seeds. Each replicate resamples
  seeds, then items (the same items for every model, since they share the benchmark); the
  interval therefore carries seed-to-seed variation, which a per-item test on single models
  ignores. Arms trained from the same seeds (intervention vs control resumed from the same
  pretraining run) are resampled as pairs. With few seeds a plain bootstrap is far too narrow (3
  seeds: about 25% false positives at the 95% level), so by default each replicate's seed
  deviations from the arm mean are scaled by ``sqrt(k/(k-1)) * t(k-1) / z``, which gives the
  seed level the width of a t-interval (``seed_factor``).

Given an equivalence margin ``m`` each also gives the p-value of two one-sided tests (TOST) that the
difference lies inside ``(-m, +m)``: the larger of the p-values of "difference >= m" and of
"difference <= -m", each from the same distribution as the interval. Equivalence at level alpha is
then the (1 - 2 alpha) interval lying inside the margin.

Metric functions reduce along the last axis, so a whole block of replicates is one call.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

Cols = Mapping[str, np.ndarray]
Fn = Callable[[Cols], np.ndarray]
EXACT_MAX = 12
_BLOCK = 256  # replicates evaluated per call, to bound memory on large item sets


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n_items: int
    n_models: int = 1

    def excludes(self, value: float) -> bool:
        return bool(self.low > value or self.high < value)


@dataclass(frozen=True)
class Difference:
    """``b - a`` with its interval and a two-sided p-value."""

    a: float
    b: float
    diff: float
    low: float
    high: float
    p_value: float
    n_items: int
    n_a: int = 1
    n_b: int = 1
    method: str = "items"
    margin: float | None = None  # the equivalence margin tested, absolute
    p_equivalence: float | None = None  # TOST p of |b - a| < margin (None without a margin)

    @property
    def significant(self) -> bool:
        return bool(self.low > 0 or self.high < 0)


def _take(cols: Cols, idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in cols.items()}


def _n(cols: Cols) -> int:
    return len(next(iter(cols.values())))


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _item_stats(fn: Fn, cols: Cols, idx: np.ndarray) -> np.ndarray:
    """fn on each row of the index matrix ``idx`` ([replicates, n]), in blocks."""
    out = np.empty(idx.shape[0])
    for start in range(0, idx.shape[0], _BLOCK):
        out[start:start + _BLOCK] = fn(_take(cols, idx[start:start + _BLOCK]))
    return out


def bootstrap_ci(cols: Cols, fn: Fn, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Point estimate and percentile interval of ``fn`` over one model's items."""
    n = _n(cols)
    rng = np.random.default_rng(seed)
    boot = _item_stats(fn, cols, rng.integers(0, n, size=(n_boot, n)))
    low, high = _percentiles(boot, confidence)
    return Interval(float(fn(cols)), low, high, n)


def permutation_pvalue(a: Cols, b: Cols, fn: Fn, *, n_perm: int = 5000, seed: int = 0) -> float:
    """Two-sided paired permutation test of fn(b) - fn(a): under the null, swapping a and b on any
    item is as likely as not. Exact for up to ``EXACT_MAX`` items, Monte Carlo (with the observed
    arrangement counted) beyond."""
    n = _n(a)
    observed = abs(float(fn(b) - fn(a)))
    if n <= EXACT_MAX:
        masks = np.array(list(itertools.product([False, True], repeat=n)))
    else:
        masks = np.random.default_rng(seed).random((n_perm, n)) < 0.5
    diffs = np.empty(len(masks))
    for start in range(0, len(masks), _BLOCK):
        m = masks[start:start + _BLOCK]
        sa = {k: np.where(m, b[k], a[k]) for k in a}
        sb = {k: np.where(m, a[k], b[k]) for k in a}
        diffs[start:start + _BLOCK] = fn(sb) - fn(sa)
    tol = 1e-12 * max(1.0, observed)
    hits = int(np.sum(np.abs(diffs) >= observed - tol))
    if n <= EXACT_MAX:
        return hits / len(masks)
    return (hits + 1) / (len(masks) + 1)


def paired_comparison(a: Cols, b: Cols, fn: Fn, *, n_boot: int = 2000, n_perm: int = 5000,
                      confidence: float = 0.95, seed: int = 0, margin: float | None = None) -> Difference:
    """Two models scored on the same items (aligned columns): b - a, its interval and p-value."""
    n = _n(a)
    if n != _n(b):
        raise ValueError(f"paired comparison needs the same items: {n} vs {_n(b)}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boot = _item_stats(fn, b, idx) - _item_stats(fn, a, idx)
    low, high = _percentiles(boot, confidence)
    va, vb = float(fn(a)), float(fn(b))
    p = permutation_pvalue(a, b, fn, n_perm=n_perm, seed=seed + 1)
    return Difference(va, vb, vb - va, low, high, p, n, margin=margin, p_equivalence=bootstrap_tost(boot, margin))


def bootstrap_pvalue(boot: np.ndarray) -> float:
    """Two-sided p-value of "the difference is zero": twice the bootstrap mass on the far side of 0."""
    finite = boot[np.isfinite(boot)]
    if finite.size == 0:
        return float("nan")
    tail = min(np.sum(finite <= 0), np.sum(finite >= 0))
    return float(min(1.0, 2 * (tail + 1) / (finite.size + 1)))


def bootstrap_tost(boot: np.ndarray, margin: float | None) -> float | None:
    """TOST p of ``|difference| < margin`` from bootstrap replicates of the difference."""
    if margin is None:
        return None
    finite = boot[np.isfinite(boot)]
    if finite.size == 0:
        return float("nan")
    above, below = np.sum(finite >= margin), np.sum(finite <= -margin)
    return float(min(1.0, (max(above, below) + 1) / (finite.size + 1)))


def _seed_stats(models: list[Cols], fn: Fn, idx: np.ndarray) -> np.ndarray:
    """[models, replicates]: fn of each model on each replicate's resampled items."""
    return np.stack([_item_stats(fn, cols, idx) for cols in models])


def seed_factor(k: int, confidence: float = 0.95) -> float:
    """Scale for seed deviations so that k seeds give a t-interval's width, not a normal one's."""
    if k < 2:
        return 1.0
    from scipy import stats

    q = (1 + confidence) / 2
    return float(np.sqrt(k / (k - 1)) * stats.t.ppf(q, k - 1) / stats.norm.ppf(q))


def _resample_seeds(stats: np.ndarray, rng: np.random.Generator, factor: float) -> np.ndarray:
    """[replicates]: mean over a resample of the models (rows of ``stats``), deviations scaled."""
    k, n_boot = stats.shape
    pick = rng.integers(0, k, size=(n_boot, k))
    chosen = stats.T[np.arange(n_boot)[:, None], pick]  # [replicates, k]
    centre = stats.mean(axis=0)[:, None]
    return (centre + factor * (chosen - centre)).mean(axis=1)


def two_level(arm_a: list[Cols], arm_b: list[Cols], fn: Fn, *, paired: bool = False, n_boot: int = 2000,
              confidence: float = 0.95, seed: int = 0, correct: bool = True, margin: float | None = None) -> Difference:
    """Difference of arm means (b - a) with a bootstrap over seeds, then items.

    ``paired``: model i of arm a and model i of arm b share a seed; seeds are resampled as pairs.
    ``correct``: scale seed deviations for small numbers of seeds (see the module docstring).
    The p-value inverts the percentile interval (``bootstrap_pvalue``), so p < 1 - confidence
    exactly when the interval excludes zero.
    """
    if not arm_a or not arm_b:
        raise ValueError("each arm needs at least one model")
    n = _n(arm_a[0])
    if any(_n(c) != n for c in arm_a + arm_b):
        raise ValueError("every model of both arms must be scored on the same items")
    if paired and len(arm_a) != len(arm_b):
        raise ValueError(f"paired arms need as many models each: {len(arm_a)} vs {len(arm_b)}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    sa, sb = _seed_stats(arm_a, fn, idx), _seed_stats(arm_b, fn, idx)

    def factor(k: int) -> float:
        return seed_factor(k, confidence) if correct else 1.0

    if paired:
        boot = _resample_seeds(sb - sa, rng, factor(len(arm_a)))
    else:
        boot = _resample_seeds(sb, rng, factor(len(arm_b))) - _resample_seeds(sa, rng, factor(len(arm_a)))
    va = float(np.mean([fn(c) for c in arm_a]))
    vb = float(np.mean([fn(c) for c in arm_b]))
    diff = vb - va
    low, high = _percentiles(boot, confidence)
    method = f"two-level bootstrap, {'paired ' if paired else ''}seeds {len(arm_a)} vs {len(arm_b)}"
    return Difference(va, vb, diff, low, high, bootstrap_pvalue(boot), n, len(arm_a), len(arm_b), method,
                      margin=margin, p_equivalence=bootstrap_tost(boot, margin))


def arm_interval(models: list[Cols], fn: Fn, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0,
                 correct: bool = True) -> Interval:
    """Mean of ``fn`` over an arm's models, with a seeds-then-items interval (items only for one model)."""
    if len(models) == 1:
        return bootstrap_ci(models[0], fn, n_boot=n_boot, confidence=confidence, seed=seed)
    n = _n(models[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    stats = _seed_stats(models, fn, idx)
    boot = _resample_seeds(stats, rng, seed_factor(len(models), confidence) if correct else 1.0)
    low, high = _percentiles(boot, confidence)
    return Interval(float(np.mean([fn(c) for c in models])), low, high, n, len(models))


def _t_summary(a: np.ndarray, b: np.ndarray, paired: bool) -> tuple[float, float, float]:
    """(difference, standard error, degrees of freedom) of mean(b) - mean(a) from one value per model."""
    if paired:
        d = b - a
        k = len(d)
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(k)), float(k - 1)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else 1.0
    return float(b.mean() - a.mean()), se, float(df)


def seed_level(values_a: np.ndarray, values_b: np.ndarray, *, paired: bool, confidence: float = 0.95) -> tuple[
        float, float, float, float]:
    """(difference, low, high, p) of mean(b) - mean(a) from one value per model.

    Each model's value already holds its item noise, so a t-interval over the seed-level values
    (paired differences, or Welch's two-sample interval) carries seed and item variation once
    each. It is exact for normal seed-level values, and with 3 to 6 seeds it keeps its nominal
    level where the two-level bootstrap's endpoints hang on the most extreme seed.
    """
    from scipy import stats as sps

    diff, se, df = _t_summary(np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float), paired)
    q = (1 + confidence) / 2
    if not np.isfinite(diff) or not np.isfinite(se):
        return diff, float("nan"), float("nan"), float("nan")
    if se == 0:
        return diff, diff, diff, (1.0 if diff == 0 else 0.0)
    half = float(sps.t.ppf(q, df)) * se
    p = float(2 * sps.t.sf(abs(diff) / se, df))
    return diff, diff - half, diff + half, p


def seed_tost(values_a: np.ndarray, values_b: np.ndarray, margin: float, *, paired: bool) -> float:
    """TOST p of ``|mean(b) - mean(a)| < margin`` from the same t as ``seed_level``."""
    from scipy import stats as sps

    diff, se, df = _t_summary(np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float), paired)
    if not np.isfinite(diff) or not np.isfinite(se):
        return float("nan")
    if se == 0:
        return 0.0 if abs(diff) < margin else 1.0
    upper = float(sps.t.cdf((diff - margin) / se, df))  # H0: difference >= margin
    lower = float(sps.t.sf((diff + margin) / se, df))  # H0: difference <= -margin
    return max(upper, lower)


def seed_t(arm_a: list[Cols], arm_b: list[Cols], fn: Fn, *, paired: bool = False,
           confidence: float = 0.95, margin: float | None = None) -> Difference:
    """Difference of arm means (b - a): ``fn`` on each model's items, then a t-interval over seeds
    (``seed_level``); the p-value (and the TOST p, given a margin) from the same t distribution."""
    if len(arm_a) < 2 or len(arm_b) < 2:
        raise ValueError("a seed-level interval needs at least two models in each arm")
    if paired and len(arm_a) != len(arm_b):
        raise ValueError(f"paired arms need as many models each: {len(arm_a)} vs {len(arm_b)}")
    n = _n(arm_a[0])
    va = np.array([float(fn(c)) for c in arm_a])
    vb = np.array([float(fn(c)) for c in arm_b])
    diff, low, high, p = seed_level(va, vb, paired=paired, confidence=confidence)
    method = f"{'paired ' if paired else 'Welch '}t over seeds, {len(arm_a)} vs {len(arm_b)}"
    tost = None if margin is None else seed_tost(va, vb, margin, paired=paired)
    return Difference(float(va.mean()), float(vb.mean()), diff, low, high, p, n, len(arm_a), len(arm_b), method,
                      margin=margin, p_equivalence=tost)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: family-wise error at most alpha when every adjusted p < alpha
    is called significant, whatever the dependence between the tests. NaN p-values stay NaN and
    do not count in the family."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return [float(x) for x in out]
