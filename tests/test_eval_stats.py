"""Intervals, tests and metrics on data with known answers (no models)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from debias.eval.metrics import BY_NAME, pair_logodds
from debias.eval.series import SeriesPoint, emergence
from debias.eval.stats import (
    bootstrap_ci,
    paired_comparison,
    permutation_pvalue,
    seed_factor,
    two_level,
)


def mean_of(col: str):
    return lambda c: np.mean(c[col], axis=-1)


def test_exact_permutation_pvalue_for_eight_positive_differences() -> None:
    a = {"x": np.zeros(8)}
    b = {"x": np.arange(1.0, 9.0)}
    # Only the identity and the full swap are as extreme: 2 of 2^8 sign patterns.
    assert permutation_pvalue(a, b, mean_of("x")) == pytest.approx(2 / 256)


def test_permutation_test_agrees_with_paired_t_test_on_normal_data() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=400)
    b = a + 0.1 + rng.normal(size=400)
    p = permutation_pvalue({"x": a}, {"x": b}, mean_of("x"), n_perm=20000, seed=3)
    assert p == pytest.approx(sps.ttest_rel(b, a).pvalue, abs=0.01)


def test_bootstrap_interval_matches_t_interval_for_a_mean() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, size=2000)
    ci = bootstrap_ci({"x": x}, mean_of("x"), n_boot=4000, seed=0)
    half = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    assert ci.estimate == pytest.approx(x.mean())
    assert ci.low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert ci.high == pytest.approx(x.mean() + half, abs=0.15 * half)


def test_paired_comparison_of_a_constant_shift() -> None:
    a = {"x": np.random.default_rng(0).normal(size=50)}
    b = {"x": a["x"] + 1.0}
    d = paired_comparison(a, b, mean_of("x"), n_boot=500, n_perm=2000)
    assert d.diff == pytest.approx(1.0) and d.low == pytest.approx(1.0) and d.high == pytest.approx(1.0)
    assert d.p_value < 0.001 and d.significant


def test_paired_comparison_interval_covers_the_truth_about_95_percent() -> None:
    rng = np.random.default_rng(4)
    hits = 0
    for i in range(200):
        a = rng.normal(size=60)
        b = a + 0.3 + rng.normal(size=60)
        d = paired_comparison({"x": a}, {"x": b}, mean_of("x"), n_boot=400, n_perm=200, seed=i)
        hits += d.low <= 0.3 <= d.high
    assert 0.88 <= hits / 200 <= 0.99


def _seed_models(rng: np.random.Generator, k: int, effect: float, n: int = 40) -> tuple[list, list]:
    """Arms whose models differ by a seed offset (sd 1) far larger than the item noise."""
    items = rng.normal(size=n)
    arm_a = [{"x": items + rng.normal() + 0.01 * rng.normal(size=n)} for _ in range(k)]
    arm_b = [{"x": items + effect + rng.normal() + 0.01 * rng.normal(size=n)} for _ in range(k)]
    return arm_a, arm_b


@pytest.mark.parametrize("paired", [True, False])
def test_two_level_does_not_cry_wolf_with_three_seeds(paired: bool) -> None:
    rng = np.random.default_rng(5)
    corrected = plain = 0
    sims = 150
    for i in range(sims):
        arm_a, arm_b = _seed_models(rng, 3, 0.0)
        corrected += two_level(arm_a, arm_b, mean_of("x"), paired=paired, n_boot=400, seed=i).significant
        plain += two_level(arm_a, arm_b, mean_of("x"), paired=paired, n_boot=400, seed=i, correct=False).significant
    assert corrected / sims <= 0.09  # about 5% nominal (conservative when unpaired)
    if paired:
        assert plain / sims >= 0.15  # the uncorrected bootstrap over 3 seeds is far too eager


def test_two_level_finds_a_real_effect_and_covers_it() -> None:
    rng = np.random.default_rng(6)
    arm_a, arm_b = _seed_models(rng, 5, 4.0)
    d = two_level(arm_a, arm_b, mean_of("x"), paired=False, n_boot=2000)
    assert d.significant and d.low < 4.0 < d.high and d.p_value < 0.05


def test_per_item_test_calls_two_seeds_different_but_two_level_does_not() -> None:
    rng = np.random.default_rng(7)
    items = rng.normal(size=300)
    models = [{"x": items + offset + 0.05 * rng.normal(size=300)} for offset in (-0.5, 0.3, 0.1, 0.6, -0.2, -0.3)]
    single = paired_comparison(models[0], models[1], mean_of("x"), n_boot=500, n_perm=500)
    assert single.significant and single.p_value < 0.01
    arms = two_level(models[:3], models[3:], mean_of("x"), n_boot=2000)
    assert not arms.significant


def test_seed_factor() -> None:
    assert seed_factor(1) == 1.0
    assert seed_factor(3) == pytest.approx(np.sqrt(1.5) * 4.3027 / 1.95996, rel=1e-3)
    assert 1.0 < seed_factor(30) < 1.1


def test_prior_and_association_separate_a_global_shift() -> None:
    female = np.array([1, 1, 0, 0, 1, 0])
    # log-odds (she - he) = +1 on female-stereotyped items, -1 on male-stereotyped ones.
    ll_she, ll_he = np.where(female == 1, -10.0, -11.0), np.where(female == 1, -11.0, -10.0)
    pro, anti = np.where(female == 1, ll_she, ll_he), np.where(female == 1, ll_he, ll_she)
    cols = {"ll_pro": pro, "ll_anti": anti, "female": female, "type": np.ones(6)}
    assert np.allclose(pair_logodds(cols), np.where(female == 1, 1.0, -1.0))
    assert BY_NAME["winobias/prior"].fn(cols) == pytest.approx(0.0)
    assert BY_NAME["winobias/association"].fn(cols) == pytest.approx(2.0)
    assert BY_NAME["winobias/pref_pro"].fn(cols) == pytest.approx(1.0)
    # Every she-sentence 0.5 likelier: the prior moves by 0.5, the association does not.
    shifted = {**cols, "ll_pro": np.where(female == 1, pro + 0.5, pro), "ll_anti": np.where(female == 1, anti, anti + 0.5)}
    assert BY_NAME["winobias/prior"].fn(shifted) == pytest.approx(0.5)
    assert BY_NAME["winobias/association"].fn(shifted) == pytest.approx(2.0)


def test_winogender_association_is_a_correlation() -> None:
    pct = np.array([10.0, 30.0, 50.0, 70.0, 90.0])
    cols = {"ll_female": 0.02 * pct - 5.0, "ll_male": np.full(5, -4.0), "pct_female": pct}
    assert BY_NAME["winogender/association"].fn(cols) == pytest.approx(1.0)
    assert BY_NAME["winogender/prior"].fn(cols) == pytest.approx(np.mean(0.02 * pct - 1.0))


def test_perplexities() -> None:
    cols = {"ll": np.array([-10.0, -20.0]), "n_tokens": np.array([5, 5]), "n_bytes": np.array([20, 20])}
    assert BY_NAME["heldout/ppl_token"].fn(cols) == pytest.approx(np.exp(3.0))
    assert BY_NAME["heldout/ppl_byte"].fn(cols) == pytest.approx(np.exp(0.75))
    assert BY_NAME["heldout/bits_per_byte"].fn(cols) == pytest.approx(0.75 / np.log(2))
    assert BY_NAME["lambada/ppl"].fn({"ll": np.array([-1.0, -3.0])}) == pytest.approx(np.exp(2.0))


def test_coreference_net_bias() -> None:
    cols = {"margin_pro": np.array([1.0, 2.0, -1.0, 0.5]), "margin_anti": np.array([-1.0, 1.0, -2.0, -0.5]),
            "type": np.array([1, 1, 2, 2])}
    assert BY_NAME["winobias_coref/acc_pro"].fn(cols) == pytest.approx(0.75)
    assert BY_NAME["winobias_coref/acc_anti"].fn(cols) == pytest.approx(0.25)
    assert BY_NAME["winobias_coref/net_bias"].fn(cols) == pytest.approx(0.5)


def _points(values: list[tuple[float, float]]) -> list[SeriesPoint]:
    return [SeriesPoint(step=i * 10, fraction=i / (len(values) - 1), value=(lo + hi) / 2, low=lo, high=hi)
            for i, (lo, hi) in enumerate(values)]


def test_emergence_is_the_start_of_the_final_run_beyond_the_threshold() -> None:
    pts = _points([(-0.1, 0.1), (0.05, 0.2), (-0.05, 0.1), (0.02, 0.3), (0.1, 0.4)])
    assert emergence(pts, 0.0) == pytest.approx(0.75)  # the blip at 0.25 does not count: it did not stay
    assert emergence(_points([(0.1, 0.2), (-0.2, 0.1)]), 0.0) is None
    assert emergence(_points([(-0.3, -0.2), (-0.3, -0.1)]), 0.0) == pytest.approx(0.0)


def _null_arms(rng: np.random.Generator, k: int, seed_ratio: float, n: int = 60) -> tuple[list, list]:
    """Two arms resumed from the same k pretraining seeds with no effect: per model, a seed-level
    offset whose sd is ``seed_ratio`` times the item noise of the mean, plus item noise."""
    items = rng.normal(size=n)
    shared = rng.normal(size=k)  # what a seed's pretraining gives both of its arms
    item_sd_of_mean = 1.0 / np.sqrt(n)

    def model(s: int) -> dict:
        return {"x": items + shared[s] + seed_ratio * item_sd_of_mean * rng.normal() + rng.normal(size=n)}

    return [model(s) for s in range(k)], [model(s) for s in range(k)]


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("seed_ratio", [0.3, 1.0, 3.0])
def test_seed_t_keeps_false_positives_at_the_nominal_level(k: int, seed_ratio: float) -> None:
    """The headline's method on 2,000 null studies: at most 6% called different (nominal 5%)."""
    from debias.eval.stats import seed_t

    rng = np.random.default_rng(100 + k + int(10 * seed_ratio))
    sims = 2000
    hits = 0
    for _ in range(sims):
        a, b = _null_arms(rng, k, seed_ratio)
        hits += seed_t(a, b, mean_of("x"), paired=True).p_value < 0.05
    assert 0.03 <= hits / sims <= 0.06


def test_seed_t_p_value_agrees_with_its_interval_and_with_scipy() -> None:
    from debias.eval.stats import seed_t

    rng = np.random.default_rng(11)
    a = [{"x": rng.normal(size=30)} for _ in range(4)]
    b = [{"x": c["x"] + 0.2 + 0.05 * rng.normal()} for c in a]
    d = seed_t(a, b, mean_of("x"), paired=True)
    diffs = [np.mean(y["x"]) - np.mean(x["x"]) for x, y in zip(a, b, strict=True)]
    assert d.p_value == pytest.approx(sps.ttest_1samp(diffs, 0.0).pvalue, rel=1e-9)
    assert d.diff == pytest.approx(np.mean(diffs))
    assert d.significant == (d.p_value < 0.05)
    welch = seed_t(a, b, mean_of("x"), paired=False)
    va, vb = [np.mean(x["x"]) for x in a], [np.mean(y["x"]) for y in b]
    assert welch.p_value == pytest.approx(sps.ttest_ind(vb, va, equal_var=False).pvalue, rel=1e-9)


def test_seed_t_p_value_has_no_bootstrap_floor() -> None:
    """A clear effect gets a p far below 1/n_boot, not 0.001."""
    from debias.eval.stats import seed_t

    a = [{"x": np.full(10, float(s))} for s in range(5)]
    b = [{"x": c["x"] + 10.0 + 0.01 * s} for s, c in enumerate(a)]
    assert seed_t(a, b, mean_of("x"), paired=True).p_value < 1e-6


def test_holm_adjustment() -> None:
    from debias.eval.stats import holm

    # Sorted 0.01, 0.02, 0.03, 0.04 with m=4: 0.04, 0.06, 0.06 (monotone), 0.06.
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, float("nan"), 0.01])[2] == pytest.approx(0.02)
    assert np.isnan(holm([0.5, float("nan")])[1])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 2 x 0.8, capped at 1
