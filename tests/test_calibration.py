"""The report's analysis, calibrated through its own path (``eval.calibration``: ``compare_arms``, the
protocol's families and Holm, the verdict rule): a pure push of the prior, however large, is never
called a change of the link; with training noise on both sides, false positives stay at alpha; a
link removed from the model is found. The studies are simulated from fixed seeds, so every rate
here is one fixed number, not a draw."""

from __future__ import annotations

import numpy as np
import pytest

from debias.eval.calibration import (
    fit,
    fitted_sampler,
    pair_logodds_of,
    pure_push,
    pushed,
    rates,
    with_pair_logodds,
)
from debias.eval.metrics import BY_NAME
from debias.eval.protocol import Family, Margin, ProtocolConfig
from debias.eval.results import CheckpointResults, ItemTable

PROTOCOL = ProtocolConfig(name="test", primary=["synthetic/auc", "heldout/ppl_other"],
                          families=[Family("link", ["synthetic/auc"]), Family("cost", ["heldout/ppl_other"])],
                          margins=[Margin("synthetic/auc", 0.02), Margin("heldout/ppl_other", 0.01, True)],
                          link="synthetic/auc")
OCCUPATIONS, TEMPLATES, CHUNKS = 60, 20, 40


class Study:
    """A synthetic study's models, drawn afresh: each occupation's log-odds of "she" follows its
    stereotype (+-0.6, the link), with the occupation's own variation; each pretraining seed adds
    its own noise (shared by the models resumed from it), each model its own training noise (sd
    ``noise``, an occupation-level part and an item-level part)."""

    def __init__(self, seed: int = 0, noise: float = 0.4) -> None:
        rng = np.random.default_rng(seed)
        self.female = np.repeat(np.arange(OCCUPATIONS) % 2 == 0, TEMPLATES)
        self.link = np.where(self.female, 0.6, -0.6)
        self.mean = (np.repeat(rng.normal(0, 0.5, OCCUPATIONS), TEMPLATES)
                     + np.tile(rng.normal(0, 0.8, TEMPLATES), OCCUPATIONS) - 0.3)
        self.ids = [f"synthetic.{o}.{t}" for o in range(OCCUPATIONS) for t in range(TEMPLATES)]
        self.n_other = rng.integers(900, 1100, CHUNKS)
        self.n_gendered = rng.integers(10, 30, CHUNKS)
        self.noise = noise

    def _noise(self, rng: np.random.Generator, sd: float) -> np.ndarray:
        return np.repeat(rng.normal(0, sd / 2, OCCUPATIONS), TEMPLATES) + rng.normal(0, sd, len(self.female))

    def model(self, z: np.ndarray, rng: np.random.Generator) -> CheckpointResults:
        he = rng.normal(-30, 3, len(z))
        f = self.female
        pairs = {"ll_pro": np.where(f, he + z, he), "ll_anti": np.where(f, he, he + z),
                 "female": f.astype(np.int64), "type": np.zeros(len(z), dtype=np.int64)}
        ll_other = -np.log(3.0) * self.n_other + rng.normal(0, 5, CHUNKS)
        ll_gendered = -np.log(2.5) * self.n_gendered + rng.normal(0, 2, CHUNKS)
        heldout = {"ll": ll_other + ll_gendered, "ll_other": ll_other, "ll_gendered": ll_gendered,
                   "n_other": self.n_other, "n_gendered": self.n_gendered,
                   "n_tokens": self.n_other + self.n_gendered, "n_bytes": 4 * (self.n_other + self.n_gendered)}
        tables = {"synthetic": ItemTable("synthetic", self.ids, pairs),
                  "heldout": ItemTable("heldout", [f"h.{i}" for i in range(CHUNKS)], heldout)}
        return CheckpointResults(path="model", step=100, total_steps=100, run={"seed": 0}, tables=tables)

    def pair(self, rng: np.random.Generator, *, unlinked: bool = False, push: dict | None = None) -> tuple:
        """A control and its twin from one pretraining seed (the twin without the link: ``unlinked``)."""
        seed = self.mean + self._noise(rng, 0.5)
        control = self.model(seed + self.link + self._noise(rng, self.noise), rng)
        twin = self.model(seed + (0 if unlinked else self.link) + self._noise(rng, self.noise), rng)
        return control, pushed(twin, push) if push else twin


def test_the_pure_push_keeps_every_item_in_order_and_moves_the_mean_by_its_size() -> None:
    z = np.random.default_rng(3).normal(0, 2, 500)
    for shift in (0.5, 3.7, 8.0, -2.0):
        y = pure_push(z, shift)
        assert np.mean(y - z) == pytest.approx(shift, abs=1e-6)
        assert (np.argsort(y, kind="stable") == np.argsort(z, kind="stable")).all()
        moved = y - z
        low, high = z < np.quantile(z, 0.2), z > np.quantile(z, 0.8)
        toward_low = low if shift > 0 else high  # items far from the push's side move most
        assert np.abs(moved[toward_low]).mean() > 2 * np.abs(moved[~toward_low & (low | high)]).mean()


@pytest.mark.parametrize("shift", [1.0, 3.7, 8.0, -3.0])
def test_a_pure_push_of_any_size_never_yields_a_supported_primary_endpoint(shift: float) -> None:
    """No training noise: the treated model is exactly its control, pushed."""
    study = Study()
    controls = [study.pair(np.random.default_rng(s))[0] for s in range(6)]
    result = rates(lambda rng: (c := controls[int(rng.integers(6))], pushed(c, {"synthetic": shift})), k=6,
                   studies=5, protocol=PROTOCOL)
    assert result.any_changed == 0.0 and result.changed == {"synthetic/auc": 0.0, "heldout/ppl_other": 0.0}
    z = pair_logodds_of(controls[0].tables["synthetic"])
    moved = pair_logodds_of(pushed(controls[0], {"synthetic": shift}).tables["synthetic"])
    assert np.mean(moved - z) == pytest.approx(shift, abs=1e-6)


def test_false_positives_under_a_push_and_training_noise_stay_at_alpha() -> None:
    """800 studies of 4 seeds, each pair a control and its twin pushed by the intervention's size:
    each endpoint's rate lies within about three binomial sds (0.0077 at 800) of 0.05."""
    study = Study()
    result = rates(lambda rng: study.pair(rng, push={"synthetic": 3.7}), k=4, studies=800, protocol=PROTOCOL)
    for endpoint, rate in result.changed.items():
        assert 0.027 <= rate <= 0.073, (endpoint, rate)
    assert result.any_changed <= 2 * 0.073  # two families, each at alpha


def test_a_link_removed_from_the_model_is_found_and_called_weaker() -> None:
    study = Study()
    found = rates(lambda rng: study.pair(rng, unlinked=True), k=6, studies=200, protocol=PROTOCOL, seed=6)
    assert found.weaker["synthetic/auc"] >= 0.95
    assert found.changed["heldout/ppl_other"] <= 0.1  # the cost endpoint saw no effect: it had none


def test_the_fitted_model_recovers_a_studys_noise_and_effect_from_its_own_seeds() -> None:
    """Fitted to 8 seeds of a study (controls, A/A twins, unlinked arm), the model finds the training
    noise (item sd 0.4, occupation sd 0.2), the seed's, and the unlinking's effect (-0.6 on female-,
    +0.6 on male-stereotyped items' log-odds), and its draws give per-seed AUC differences as
    variable as the study's own."""
    study, rng = Study(seed=3), np.random.default_rng(11)
    twins = [study.pair(rng) for _ in range(8)]
    arm = [study.pair(rng, unlinked=True) for _ in range(8)]
    model = fit([c for c, _ in twins], twins, arm, ["synthetic", "heldout"])["synthetic"]
    assert model.training["z"].item == pytest.approx(0.4, rel=0.1)
    assert model.training["z"].group == pytest.approx(0.2, rel=0.5)
    assert model.seed["z"].item == pytest.approx(0.5, rel=0.15)
    effect = model.effect["z"]
    assert effect[study.female].mean() == pytest.approx(-0.6, abs=0.1)
    assert effect[~study.female].mean() == pytest.approx(0.6, abs=0.1)
    auc = BY_NAME["synthetic/auc"]

    def auc_diff(pair: tuple) -> float:
        a, b = pair
        return float(auc.fn(b.tables["synthetic"].columns) - auc.fn(a.tables["synthetic"].columns))

    real = np.std([auc_diff(study.pair(rng, unlinked=True)) for _ in range(200)])
    sampler = fitted_sampler(fit([c for c, _ in twins], twins, arm, ["synthetic", "heldout"]), twins[0][0],
                             effect=True)
    drawn = np.std([auc_diff(sampler(rng)) for _ in range(200)])
    assert drawn == pytest.approx(real, rel=0.3)


def test_with_pair_logodds_writes_the_log_odds_it_is_given() -> None:
    table = Study().pair(np.random.default_rng(0))[0].tables["synthetic"]
    z = np.linspace(-3, 3, len(table))
    assert np.allclose(pair_logodds_of(with_pair_logodds(table, z)), z)
