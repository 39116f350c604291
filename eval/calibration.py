"""Simulated studies through the report's own path: the comparison (``eval.compare.compare_arms``),
the protocol's families and Holm's correction (``eval.compare.adjust``) and the verdict rule
(``eval.verdict``), exactly as ``eval.report`` runs them. What comes out is how often the report would
call a primary endpoint changed: its false positives under a null, its power under an effect.

A simulated study of ``k`` seeds is ``k`` pairs of models from a sampler: a control and what the
study compares with it, both resumed from one pretraining seed. ``fitted_sampler`` draws them from a
model fitted to a finished study's own results (``fit``): per item, the controls' mean; the noise of
the pretraining seed, which both sides of a pair share; the noise of the tail's training, each
side its own (half the variance of the A/A arm's difference from its control); and an arm's mean
effect with its spread from seed to seed. Noise has two levels, shared by an item group (an
occupation's probes) and each item's own, since the items of one occupation move together.

Under a null the other side is its control's twin moved by a pure push of the prior
(``pure_push``): the flow ``dz/dt = c * sigmoid(-z)`` that cross-entropy toward "she" gives each
item's log-odds on its own, integrated exactly. Items at low log-odds move most and no item passes
another, so nothing about occupations changes. Both sides carry the same amount of noise: adding
another model's noise to a control would give one side more noise than the other, and an AUC
lower by that alone. Real pairs are not resampled: with the few seeds of a study, studies drawn
from them repeat pairs, and a t-test over repeated pairs calls too much significant.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from debias.eval.compare import compare_arms
from debias.eval.config import StatsConfig
from debias.eval.metrics import BY_NAME
from debias.eval.protocol import ProtocolConfig
from debias.eval.results import CheckpointResults, ItemTable
from debias.eval.verdict import direction, supported

log = logging.getLogger(__name__)

PAIR_TABLES = ("synthetic", "winobias_preference")  # she/he pair tables: log-odds ll_pro - ll_anti, by stereotype


def _flow_inverse(value: np.ndarray) -> np.ndarray:
    """Solve ``z + exp(z) = value`` for z (increasing in z, so one root) by Newton's method from a
    start on the root's side of the curve's bend, where it converges monotonically."""
    z = np.where(value > 1, np.log(np.maximum(value, 1e-300)), value - np.exp(np.minimum(value, 0)))
    for _ in range(50):
        step = (z + np.exp(z) - value) / (1 + np.exp(z))
        z = z - step
        if np.max(np.abs(step)) < 1e-12:
            break
    return z


def pure_push(z: np.ndarray, mean_shift: float) -> np.ndarray:
    """Every log-odds ``z`` moved along ``dz/dt = c * sigmoid(-z)`` (toward "she"; ``sigmoid(z)`` toward
    "he" for a negative shift) for the time that moves their mean by ``mean_shift``. Along the flow
    ``z + exp(z)`` grows linearly, so each item's end point is exact, and the map is increasing:
    the order of the items, and every rank measure of them, stays as it was."""
    z = np.asarray(z, dtype=float)
    if mean_shift == 0:
        return z.copy()
    sign = 1.0 if mean_shift > 0 else -1.0
    base = sign * z  # toward he is the mirror image of toward she

    def moved(t: float) -> np.ndarray:
        return _flow_inverse(base + np.exp(base) + t)

    def gap(t: float) -> float:  # increasing in t: the mean shift at time t, less the one asked for
        return float(np.mean(moved(t) - base)) - abs(mean_shift)

    lo, hi = 0.0, 1.0
    g_lo, g_hi = -abs(mean_shift), gap(1.0)
    while g_hi < 0:
        lo, g_lo, hi = hi, g_hi, 2 * hi
        g_hi = gap(hi)
    for _ in range(100):  # regula falsi, Illinois variant: a bracket that shrinks from both sides
        t = hi - g_hi * (hi - lo) / (g_hi - g_lo)
        g = gap(t)
        if abs(g) < 1e-10 * max(1.0, abs(mean_shift)):
            break
        if g < 0:
            lo, g_lo, g_hi = t, g, g_hi / 2
        else:
            hi, g_hi, g_lo = t, g, g_lo / 2
    return sign * moved(t)


def pair_logodds_of(table: ItemTable) -> np.ndarray:
    diff = table.columns["ll_pro"] - table.columns["ll_anti"]
    return np.where(table.columns["female"].astype(bool), diff, -diff)


def with_pair_logodds(table: ItemTable, z: np.ndarray) -> ItemTable:
    """The pair table with log-odds ``z`` (the he-sentence's log-likelihood kept, the she-sentence's moved)."""
    female = table.columns["female"].astype(bool)
    he = np.where(female, table.columns["ll_anti"], table.columns["ll_pro"])
    she = he + z
    cols = {**table.columns, "ll_pro": np.where(female, she, he), "ll_anti": np.where(female, he, she)}
    return replace(table, columns=cols)


def pushed(result: CheckpointResults, shifts: dict[str, float]) -> CheckpointResults:
    """The result with the pair tables' log-odds moved by ``pure_push`` (``shifts``: table -> mean shift)."""
    tables = dict(result.tables)
    for name, shift in shifts.items():
        if name in tables:
            tables[name] = with_pair_logodds(tables[name], pure_push(pair_logodds_of(tables[name]), shift))
    return replace(result, tables=tables)


def as_seed(result: CheckpointResults, seed: int, arm: str) -> CheckpointResults:
    return replace(result, run={**(result.run or {}), "seed": seed, "arm": arm})


Sampler = Callable[[np.random.Generator], tuple[CheckpointResults, CheckpointResults]]


@dataclass(frozen=True)
class Noise:
    """Normal noise of one score column at four levels: one shift of every item (sd ``offset``: the
    whole model's prior or perplexity), for she/he pairs one that moves every female-stereotyped item
    one way and every male-stereotyped one the other (sd ``link`` of the female-minus-male
    difference: the whole model's link), one shared by the items of a group (an occupation's probes,
    sd ``group``), and each item's own (sd ``item``)."""

    offset: float = 0.0
    link: float = 0.0
    group: float = 0.0
    item: float = 0.0

    def draw(self, groups: np.ndarray, n_groups: int, sides: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return (rng.normal(0, self.offset) + rng.normal(0, self.link) * sides
                + rng.normal(0, self.group, n_groups)[groups] + rng.normal(0, self.item, len(groups)))

    def less(self, other: Noise, times: float = 1.0) -> Noise:
        """The noise whose variance, added to ``times`` that of ``other``, is this one's (0 at least)."""
        def part(a: float, b: float) -> float:
            return math.sqrt(max(0.0, a * a - times * b * b))

        return Noise(part(self.offset, other.offset), part(self.link, other.link), part(self.group, other.group),
                     part(self.item, other.item))


def _noise(residuals: np.ndarray, groups: np.ndarray, n_groups: int, sides: np.ndarray, scale: float = 1.0) -> Noise:
    """The four levels of noise of seed-by-item residuals (rows: seeds, centred by item), divided by
    ``scale`` in variance. Each level's spread is measured after the levels above it are taken out,
    and the part of it that the levels below carry into its means is taken out of its variance."""
    if residuals.shape[0] < 2:
        return Noise()
    counts = np.bincount(groups, minlength=n_groups)
    per_group = np.maximum(counts, 1)
    offset = residuals.mean(axis=1)
    rest = residuals - offset[:, None]
    side_of_group = np.bincount(groups, weights=sides, minlength=n_groups) / per_group
    female, male = side_of_group > 0, side_of_group < 0
    means = np.stack([np.bincount(groups, weights=r, minlength=n_groups) / per_group for r in rest])
    contrast = (means[:, female].mean(axis=1) - means[:, male].mean(axis=1)) if female.any() and male.any() \
        else np.zeros(len(rest))
    means = means - np.outer(contrast, side_of_group)
    within = rest - np.outer(contrast, sides) - means[:, groups]
    item_var = float(within.var(ddof=1) * np.mean(counts / np.maximum(counts - 1, 1)))
    group_var = max(0.0, float(means.var(ddof=1)) - item_var * float(np.mean(1 / per_group)))
    link_var = 0.0
    if female.any() and male.any():
        carried = (group_var + item_var * float(np.mean(1 / per_group))) * (1 / female.sum() + 1 / male.sum())
        link_var = max(0.0, float(contrast.var(ddof=1)) - carried)
    offset_var = max(0.0, float(offset.var(ddof=1)) - group_var / n_groups - item_var / len(groups))
    return Noise(*(math.sqrt(v / scale) for v in (offset_var, link_var, group_var, item_var)))


def _scores(result: CheckpointResults, table: str, ids: list[str]) -> dict[str, np.ndarray]:
    """What a model's weights decide in one table, aligned on ``ids``: the log-odds of "she" of a
    pair table, the log-likelihood columns of held-out text."""
    t = aligned(result.tables[table], ids)
    if "female" in t.columns:
        return {"z": pair_logodds_of(t)}
    return {c: v.astype(float) for c, v in t.columns.items() if c in ("ll_other", "ll_gendered")}


def _groups(ids: list[str]) -> tuple[np.ndarray, int]:
    """Items grouped by their id less its last part (``synthetic.<occupation>.<template>``)."""
    keys = [i.rsplit(".", 1)[0] if i.count(".") >= 2 else i for i in ids]
    names = {k: n for n, k in enumerate(dict.fromkeys(keys))}
    return np.array([names[k] for k in keys]), len(names)


@dataclass(frozen=True)
class TableModel:
    """One table's fitted pairs: per score column the mean over controls, the arm's mean effect, and
    the noise of the pretraining seed (shared by both sides of a pair), of the tail's training (each
    side its own) and of the effect from seed to seed."""

    ids: list[str]
    groups: np.ndarray
    n_groups: int
    sides: np.ndarray  # +0.5 for a female-stereotyped item, -0.5 for a male-stereotyped one, 0 elsewhere
    mean: dict[str, np.ndarray]
    effect: dict[str, np.ndarray]
    seed: dict[str, Noise]
    training: dict[str, Noise]
    spread: dict[str, Noise]

    def draw(self, noise: Noise, rng: np.random.Generator) -> np.ndarray:
        return noise.draw(self.groups, self.n_groups, self.sides, rng)


def fit(controls: Sequence[CheckpointResults], twins: Sequence[tuple[CheckpointResults, CheckpointResults]],
        arm: Sequence[tuple[CheckpointResults, CheckpointResults]], tables: Sequence[str]) -> dict[str, TableModel]:
    """Fit the pair model to a study's own models: ``controls``, the A/A ``twins`` (control, reordered
    control) of each seed for the training noise (half the variance of their difference), and the
    ``arm``'s pairs (control, arm) for its effect and how the effect varies from seed to seed."""
    out = {}
    for table in tables:
        ids = list(controls[0].tables[table].ids)
        groups, n_groups = _groups(ids)
        facts = aligned(controls[0].tables[table], ids).columns
        sides = (facts["female"].astype(float) - 0.5) if "female" in facts else np.zeros(len(ids))
        c = {col: np.stack([_scores(r, table, ids)[col] for r in controls]) for col in _scores(controls[0], table, ids)}
        d_twin = {col: np.stack([_scores(b, table, ids)[col] - _scores(a, table, ids)[col] for a, b in twins])
                  for col in c}
        d_arm = {col: np.stack([_scores(b, table, ids)[col] - _scores(a, table, ids)[col] for a, b in arm])
                 for col in c}
        training = {col: _noise(d - d.mean(axis=0), groups, n_groups, sides, scale=2.0) for col, d in d_twin.items()}
        total = {col: _noise(v - v.mean(axis=0), groups, n_groups, sides) for col, v in c.items()}
        arm_total = {col: _noise(d - d.mean(axis=0), groups, n_groups, sides) for col, d in d_arm.items()}
        out[table] = TableModel(ids, groups, n_groups, sides, {col: v.mean(axis=0) for col, v in c.items()},
                                {col: d.mean(axis=0) for col, d in d_arm.items()},
                                {col: total[col].less(training[col]) for col in c}, training,
                                {col: arm_total[col].less(training[col], 2.0) for col in c})
    return out


def _with_scores(result: CheckpointResults, table: str, ids: list[str], scores: dict[str, np.ndarray]) -> CheckpointResults:
    t = aligned(result.tables[table], ids)
    if "z" in scores:
        t = with_pair_logodds(t, scores["z"])
    else:
        cols = {**t.columns, **scores}
        cols["ll"] = cols["ll_other"] + cols["ll_gendered"]
        t = replace(t, columns=cols)
    return replace(result, tables={**result.tables, table: t})


def fitted_sampler(model: dict[str, TableModel], template: CheckpointResults, *, effect: bool,
                   push: dict[str, float] | None = None) -> Sampler:
    """Pairs drawn from the fitted model: the control is the mean plus the seed's and its own
    training noise; the other side shares the seed's noise and adds its own training noise, and
    (``effect``) the arm's mean effect with its seed-to-seed spread, and (``push``) a pure push of
    its log-odds. Item facts (which items, their stereotype, token counts) are ``template``'s."""

    def draw(rng: np.random.Generator) -> tuple[CheckpointResults, CheckpointResults]:
        a = b = template
        for table, m in model.items():
            sa, sb = {}, {}
            for col, mean in m.mean.items():
                shared = mean + m.draw(m.seed[col], rng)
                sa[col] = shared + m.draw(m.training[col], rng)
                sb[col] = shared + m.draw(m.training[col], rng)
                if effect:
                    sb[col] = sb[col] + m.effect[col] + m.draw(m.spread[col], rng)
            a, b = _with_scores(a, table, m.ids, sa), _with_scores(b, table, m.ids, sb)
        return a, (pushed(b, push) if push else b)

    return draw


@dataclass(frozen=True)
class Rates:
    """How often, over ``studies`` simulated studies of ``k`` seeds, each primary endpoint was called
    changed (``changed``), changed toward a weaker link (``weaker``; bias endpoints), and how often
    any primary endpoint was (``any_changed``)."""

    k: int
    studies: int
    changed: dict[str, float]
    weaker: dict[str, float]
    any_changed: float


def rates(sampler: Sampler, k: int, studies: int, protocol: ProtocolConfig, stats: StatsConfig | None = None,
          seed: int = 0, progress: Callable[[int], None] | None = None) -> Rates:
    """Run ``studies`` simulated studies of ``k`` pairs from ``sampler`` through ``compare_arms`` (paired
    by seed) and the verdict rule."""
    rng = np.random.default_rng(seed)
    stats = stats or StatsConfig()
    primary = list(protocol.primary)
    changed = dict.fromkeys(primary, 0)
    weaker = dict.fromkeys(primary, 0)
    anyone = 0
    for i in range(studies):
        pairs = [sampler(rng) for _ in range(k)]
        a = [as_seed(x, s, "control") for s, (x, _) in enumerate(pairs)]
        b = [as_seed(y, s, "intervention") for s, (_, y) in enumerate(pairs)]
        rows = {r["metric"]: r for r in compare_arms(a, b, stats, protocol, metrics=primary).to_dicts()}
        hit = False
        for m in primary:
            row = rows.get(m)
            if row is None or not supported(row, protocol.alpha):
                continue
            hit = True
            changed[m] += 1
            weaker[m] += direction(row, BY_NAME[m].null) == "weaker"
        anyone += hit
        if progress is not None:
            progress(i)
    return Rates(k, studies, {m: n / studies for m, n in changed.items()},
                 {m: n / studies for m, n in weaker.items()}, anyone / studies)


def binomial_halfwidth(rate: float, n: int) -> float:
    """Half the width of a 95% normal interval of a rate from ``n`` studies (for the figures' precision)."""
    return 1.96 * math.sqrt(max(rate * (1 - rate), 1.0 / n) / n)


def study_finals(report_dir: str | Path) -> tuple[dict[str, list[CheckpointResults]], Any]:
    """The final checkpoints of every arm of a finished study (by arm label, in seed order), read
    from the evaluation caches its report used (nothing is evaluated), and the EvalConfig it used."""
    import json

    from omegaconf import OmegaConf

    from debias.eval.config import EvalConfig
    from debias.eval.report.study import group_arms, load_runs

    data = json.loads((Path(report_dir) / "results.json").read_text())
    cfg: EvalConfig = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(EvalConfig), data["eval_config"]))
    runs = load_runs([r["path"] for r in data["runs"]], cfg, compute=False)
    return {arm.label: arm.finals for arm in group_arms(runs)}, cfg


def seed_pairs(control: Sequence[CheckpointResults], arm: Sequence[CheckpointResults]) -> list[
        tuple[CheckpointResults, CheckpointResults]]:
    """(control, arm) of each pretraining seed both arms hold."""
    by_seed = {r.seed: r for r in control}
    return [(by_seed[r.seed], r) for r in arm if r.seed in by_seed]


def aligned(table: ItemTable, ids: list[str]) -> ItemTable:
    """The table's items in the order of ``ids``."""
    return replace(table, ids=list(ids), columns=table.select(ids))


def prior_shifts(pairs: Sequence[tuple[CheckpointResults, CheckpointResults]]) -> dict[str, float]:
    """The mean change of the log-odds of "she" on each pair table from control to arm: the arm's
    push of the prior."""
    out = {}
    for table in PAIR_TABLES:
        shifts = [float(np.mean(pair_logodds_of(aligned(b.tables[table], a.tables[table].ids))
                                - pair_logodds_of(a.tables[table])))
                  for a, b in pairs if table in a.tables and table in b.tables]
        if shifts:
            out[table] = float(np.mean(shifts))
    return out
