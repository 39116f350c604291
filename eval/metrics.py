"""Every metric of DESIGN.md section 3 as a function of per-item columns.

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

import numpy as np

Cols = Mapping[str, np.ndarray]


def _mean(x: np.ndarray) -> np.ndarray:
    return np.mean(x, axis=-1)


def _group_diff(values: np.ndarray, is_female: np.ndarray) -> np.ndarray:
    """Mean over female-stereotyped items minus mean over male-stereotyped ones (NaN if a group is empty)."""
    f = is_female.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(values * f, axis=-1) / np.sum(f, axis=-1) - np.sum(values * (1 - f), axis=-1) / np.sum(1 - f, axis=-1)


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xm = x - np.mean(x, axis=-1, keepdims=True)
    ym = y - np.mean(y, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(xm * ym, axis=-1) / np.sqrt(np.sum(xm * xm, axis=-1) * np.sum(ym * ym, axis=-1))


def _auc(values: np.ndarray, is_female: np.ndarray) -> np.ndarray:
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


def occupation_correlation(logodds: np.ndarray, c: Cols, answer: int) -> np.ndarray:
    """WinoGender's association as Rudinger et al. (2018) define it: over occupations, the
    correlation of the occupation's mean log-odds (on items whose pronoun refers to the occupation,
    ``answer=0``, or to the participant, ``answer=1``) with its share of women."""
    occ = c["occ"].astype(int)
    n_occ = int(np.max(occ)) + 1
    hot = ((occ[..., None] == np.arange(n_occ)) & (c["answer"] == answer)[..., None]).astype(float)
    count = np.sum(hot, axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.sum(logodds[..., None] * hot, axis=-2) / count
        pct = np.sum(c["pct_female"][..., None] * hot, axis=-2) / count
    ok = count > 0
    z, pct = np.where(ok, z, 0.0), np.where(ok, pct, 0.0)
    n = np.sum(ok, axis=-1, keepdims=True)
    zm = np.where(ok, z - np.sum(z, axis=-1, keepdims=True) / n, 0.0)
    pm = np.where(ok, pct - np.sum(pct, axis=-1, keepdims=True) / n, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(zm * pm, axis=-1) / np.sqrt(np.sum(zm * zm, axis=-1) * np.sum(pm * pm, axis=-1))


def winogender_logodds(c: Cols) -> np.ndarray:
    return c["ll_female"] - c["ll_male"]


def _split_type(t: int) -> Callable[[Cols], np.ndarray]:
    return lambda c: (c["type"] == t) & (c["test"] == 1)


def _token_ppl(ll: str, n: str) -> Callable[[Cols], np.ndarray]:
    return lambda c: np.exp(-np.sum(c[ll], -1) / np.sum(c[n], -1))


def pair_logodds(c: Cols) -> np.ndarray:
    """log P(she-sentence) - log P(he-sentence) of WinoBias-style pairs (pro is she for female items)."""
    diff = c["ll_pro"] - c["ll_anti"]
    return np.where(c["female"].astype(bool), diff, -diff)


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


def _pairs_metrics(prefix: str, task: str, title: str, subset=None) -> list[Metric]:
    return [
        Metric(f"{prefix}/pref_pro", (task,), lambda c: _mean((c["ll_pro"] > c["ll_anti"]).astype(float)),
               f"{title}: pro-stereotyped sentence preferred", null=0.5, subset=subset),
        Metric(f"{prefix}/prior", (task,), lambda c: _mean(pair_logodds(c)),
               f"{title}: prior, mean log P(she) - log P(he)", part="prior", null=0.0, subset=subset),
        Metric(f"{prefix}/association", (task,), lambda c: _group_diff(pair_logodds(c), c["female"]),
               f"{title}: association, log-odds female-stereotyped minus male-stereotyped",
               part="association", null=0.0, subset=subset),
        Metric(f"{prefix}/auc", (task,), lambda c: _auc(pair_logodds(c), c["female"]),
               f"{title}: rank association, AUC of female- against male-stereotyped items",
               part="rank", null=0.5, subset=subset),
    ]


def _type(t: int) -> Callable[[Cols], np.ndarray]:
    return lambda c: c["type"] == t


CROWS = ("crows_pairs", "crows_pairs_gender")

METRICS: list[Metric] = [
    Metric("crows_pairs/pct_stereotype", ("crows_pairs",), lambda c: _mean((c["ll_more"] > c["ll_less"]).astype(float)),
           "CrowS-Pairs (all): stereotyping sentence preferred", null=0.5),
    Metric("crows_pairs/likelihood_diff", ("crows_pairs",), lambda c: _mean(np.abs(c["ll_more"] - c["ll_less"])),
           "CrowS-Pairs (all): mean |log-likelihood difference|"),
    Metric("crows_pairs_gender/pct_stereotype", CROWS, lambda c: _mean((c["ll_more"] > c["ll_less"]).astype(float)),
           "CrowS-Pairs (gender): stereotyping sentence preferred", null=0.5, subset=lambda c: c["gender"] == 1),
    Metric("crows_pairs_gender/likelihood_diff", CROWS, lambda c: _mean(np.abs(c["ll_more"] - c["ll_less"])),
           "CrowS-Pairs (gender): mean |log-likelihood difference|", subset=lambda c: c["gender"] == 1),
    *_pairs_metrics("winobias", "winobias_preference", "WinoBias"),
    *_pairs_metrics("winobias_type1", "winobias_preference", "WinoBias type 1", subset=_type(1)),
    *_pairs_metrics("winobias_type2", "winobias_preference", "WinoBias type 2", subset=_type(2)),
    Metric("winobias_coref/acc_pro", ("winobias_coreference",), lambda c: _mean((c["margin_pro"] > 0).astype(float)),
           "WinoBias coreference: accuracy, pro-stereotyped", higher_is_better=True),
    Metric("winobias_coref/acc_anti", ("winobias_coreference",), lambda c: _mean((c["margin_anti"] > 0).astype(float)),
           "WinoBias coreference: accuracy, anti-stereotyped", higher_is_better=True),
    Metric("winobias_coref/net_bias", ("winobias_coreference",),
           lambda c: _mean((c["margin_pro"] > 0).astype(float) - (c["margin_anti"] > 0).astype(float)),
           "WinoBias coreference: net bias (pro - anti accuracy)", part="association", null=0.0),
    Metric("winobias_coref_type1/net_bias", ("winobias_coreference",),
           lambda c: _mean((c["margin_pro"] > 0).astype(float) - (c["margin_anti"] > 0).astype(float)),
           "WinoBias coreference type 1: net bias", part="association", null=0.0, subset=_type(1)),
    Metric("winobias_coref_type2/net_bias", ("winobias_coreference",),
           lambda c: _mean((c["margin_pro"] > 0).astype(float) - (c["margin_anti"] > 0).astype(float)),
           "WinoBias coreference type 2: net bias", part="association", null=0.0, subset=_type(2)),
    Metric("winobias_coref_type1_test/net_bias", ("winobias_coreference",),
           lambda c: _mean((c["margin_pro"] > 0).astype(float) - (c["margin_anti"] > 0).astype(float)),
           "WinoBias coreference, test split, type 1: net bias", part="association", null=0.0,
           subset=_split_type(1)),
    Metric("winobias_coref_type2_test/net_bias", ("winobias_coreference",),
           lambda c: _mean((c["margin_pro"] > 0).astype(float) - (c["margin_anti"] > 0).astype(float)),
           "WinoBias coreference, test split, type 2: net bias", part="association", null=0.0,
           subset=_split_type(2)),
    Metric("winogender/prior", ("winogender",), lambda c: _mean(c["ll_female"] - c["ll_male"]),
           "WinoGender: prior, mean log P(she) - log P(he)", part="prior", null=0.0),
    Metric("winogender/association", ("winogender",), lambda c: _pearson(c["ll_female"] - c["ll_male"], c["pct_female"]),
           "WinoGender: r(log-odds, % women), over all 240 items (pooled, not per occupation)",
           part="association", null=0.0),
    Metric("winogender/association_occupation", ("winogender",),
           lambda c: occupation_correlation(winogender_logodds(c), c, 0),
           "WinoGender: association, r over 60 occupations, pronoun refers to the occupation",
           part="association", null=0.0),
    Metric("winogender/association_participant", ("winogender",),
           lambda c: occupation_correlation(winogender_logodds(c), c, 1),
           "WinoGender: association, r over 60 occupations, pronoun refers to the participant",
           part="association", null=0.0),
    *_pairs_metrics("synthetic", "synthetic", "Synthetic probes"),
    Metric("lambada/acc", ("lambada",), lambda c: _mean(c["greedy"].astype(float)),
           "LAMBADA accuracy", kind="capability", higher_is_better=True),
    Metric("lambada/ppl", ("lambada",), lambda c: np.exp(-_mean(c["ll"])),
           "LAMBADA perplexity", kind="capability", higher_is_better=False, fmt=".2f"),
    Metric("heldout/ppl_token", ("heldout",), lambda c: np.exp(-np.sum(c["ll"], -1) / np.sum(c["n_tokens"], -1)),
           "Held-out perplexity per token", kind="capability", higher_is_better=False, fmt=".2f"),
    Metric("heldout/ppl_other", ("heldout",), _token_ppl("ll_other", "n_other"),
           "Held-out perplexity per token, tokens of words other than gendered ones",
           kind="capability", higher_is_better=False, fmt=".3f"),
    Metric("heldout/ppl_gendered", ("heldout",), _token_ppl("ll_gendered", "n_gendered"),
           "Held-out perplexity per token, gendered-word tokens",
           kind="capability", higher_is_better=False, fmt=".2f"),
    *[Metric(f"heldout_{d}/ppl_token", (f"heldout_{d}",), _token_ppl("ll", "n_tokens"),
             f"Held-out perplexity per token, text rewritten {d}", kind="capability",
             higher_is_better=False, fmt=".3f") for d in ("to_feminine", "to_masculine", "both")],
    Metric("heldout/ppl_byte", ("heldout",), lambda c: np.exp(-np.sum(c["ll"], -1) / np.sum(c["n_bytes"], -1)),
           "Held-out perplexity per byte", kind="capability", higher_is_better=False, fmt=".4f"),
    Metric("heldout/bits_per_byte", ("heldout",),
           lambda c: -np.sum(c["ll"], -1) / np.sum(c["n_bytes"], -1) / np.log(2),
           "Held-out bits per byte", kind="capability", higher_is_better=False, fmt=".4f"),
]

BY_NAME = {m.name: m for m in METRICS}


def metric(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(BY_NAME)}") from None


def available(tables: Mapping[str, object]) -> list[Metric]:
    """The metrics that the given item tables support, in the canonical order."""
    return [m for m in METRICS if m.table(tables) is not None]


def item_columns(m: Metric, tables: Mapping[str, object], ids: list[str] | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
    """(ids, columns) of the items metric ``m`` reads, restricted to its subset (and to ``ids`` if given)."""
    table = tables[m.table(tables)]  # type: ignore[index]
    cols = table.columns if ids is None else table.select(ids)  # type: ignore[attr-defined]
    keep_ids = list(table.ids) if ids is None else list(ids)  # type: ignore[attr-defined]
    if m.subset is not None:
        mask = np.asarray(m.subset(cols), dtype=bool)
        cols = {k: v[mask] for k, v in cols.items()}
        keep_ids = [i for i, k in zip(keep_ids, mask, strict=True) if k]
    return keep_ids, cols


def point_estimates(results) -> dict[str, float]:
    """Every available metric of one checkpoint's results."""
    out = {}
    for m in available(results.tables):
        _, cols = item_columns(m, results.tables)
        if len(next(iter(cols.values()), [])) == 0:
            continue
        out[m.name] = float(m.fn(cols))
    return out
