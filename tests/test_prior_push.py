"""The association residual: zero for a pure prior push of any size, the true change otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics import BY_NAME, occupation_correlation, pair_logodds
from eval.prior_push import association_residual, predicted_logodds


def _pairs(z: np.ndarray, female: np.ndarray) -> dict:
    return {"ll_pro": np.where(female == 1, z, -z), "ll_anti": np.zeros_like(z), "female": female,
            "type": np.ones_like(female)}


@pytest.fixture
def control() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    female = (np.arange(200) % 2).astype(int)
    z = np.where(female == 1, 1.5, -1.5) + rng.normal(0, 0.7, size=200)
    return z, female


@pytest.mark.parametrize("k", [0.5, 2.0, 3.5])
def test_a_pure_prior_push_leaves_no_residual(control, k: float) -> None:
    z, female = control
    y = z + k / (1 + np.exp(z))  # the push toward "she" that cross-entropy gives
    m = BY_NAME["winobias/association"]
    predicted, observed, residual = association_residual(m, "winobias_preference", _pairs(z, female),
                                                         _pairs(y, female))
    assert observed < -0.1 * k  # the push alone lowers the association, by a visible amount
    assert residual == pytest.approx(0.0, abs=1e-9)
    assert predicted == pytest.approx(observed)
    # The rank association does not move under the push at all.
    auc = BY_NAME["winobias/auc"]
    assert auc.fn(_pairs(y, female)) == pytest.approx(auc.fn(_pairs(z, female)))


def test_a_real_weakening_of_the_link_is_the_residual(control) -> None:
    z, female = control
    y = z + 1.0 / (1 + np.exp(z))
    weakened = y - np.where(female == 1, 0.4, -0.4)  # association 0.8 lower beyond the push
    m = BY_NAME["winobias/association"]
    _, _, residual = association_residual(m, "winobias_preference", _pairs(z, female), _pairs(weakened, female))
    assert residual == pytest.approx(-0.8, abs=0.05)


def test_prediction_keeps_the_observed_prior() -> None:
    z = np.array([-3.0, -1.0, 0.0, 2.0])
    y = z + np.array([0.9, 0.6, 0.4, 0.1])
    pred = predicted_logodds(z, y)
    assert np.mean(pred - z) == pytest.approx(np.mean(y - z))
    assert np.all(np.diff(pred - z) < 0)  # low log-odds move most
    assert np.all(pair_logodds(_pairs(pred, np.ones(4, int))) == pred)


def test_winogender_association_is_per_occupation_and_per_referent() -> None:
    # Three occupations, two items each for answer 0 and for answer 1.
    occ = np.array([0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2])
    answer = np.array([0] * 6 + [1] * 6)
    pct = np.array([10.0, 10, 50, 50, 90, 90] * 2)
    # Occupation-referring items follow the share of women; participant ones go against it.
    logodds = np.where(answer == 0, pct / 40, -pct / 40) + np.tile([0.1, -0.1], 6)
    cols = {"occ": occ, "answer": answer, "pct_female": pct}
    assert occupation_correlation(logodds, cols, 0) == pytest.approx(1.0)
    assert occupation_correlation(logodds, cols, 1) == pytest.approx(-1.0)
    # Bootstrap shape: a block of replicates at once.
    block = {k: np.stack([v, v]) for k, v in cols.items()}
    assert occupation_correlation(np.stack([logodds, logodds]), block, 0) == pytest.approx([1.0, 1.0])
