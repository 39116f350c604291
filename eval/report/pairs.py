"""A report on pairs of models that someone else trained: ``debias-report compare=[A,B]`` or a named
comparison (``conf/comparison/``), e.g. Pythia's released intervention models against their bases.

Each side is a hub name at a revision or a folder (``eval.models``), or a series of revisions of one
(``revisions=[...]``). The pair is compared at its last revision, under the study's protocol and its
verdicts (``eval.verdict``). With one model a side there are no seeds, so every interval is over
benchmark items: a paired bootstrap of the items, its p-value from a paired permutation test. Such an
interval says how sure we are about these two sets of weights, not what the intervention does across
training seeds; the report says so where it states its method.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from debias.eval.checkpoints import source_checkpoint
from debias.eval.compare import compare_checkpoints
from debias.eval.config import EvalConfig, ModelPair
from debias.eval.metrics import BY_NAME
from debias.eval.models import resolve, split_spec
from debias.eval.report.study import report_header
from debias.eval.results import CheckpointResults
from debias.eval.runner import evaluate_checkpoint
from debias.eval.series import emergence, run_series
from debias.eval.tasks.registry import series_metrics
from debias.eval.verdict import direction, verdict

log = logging.getLogger(__name__)

ITEM_LEVEL = ("With one model a side there are no seeds: every interval is over benchmark items (a paired "
              "bootstrap of the items, the p-value from a paired permutation test), so it says how sure we are "
              "about these two sets of weights, not what the intervention does across training seeds.")


def evaluate_side(spec: str, revisions: Sequence[str], cfg: EvalConfig, *, compute: bool = True,
                  hub_cache: str | None = None) -> list[CheckpointResults]:
    """One side of a pair: its model at each revision (or as named), evaluated or read from the cache."""
    name, revision = split_spec(spec)
    out = []
    for rev in list(revisions) or [revision]:
        source = resolve(name, rev, cache_dir=hub_cache)
        out.append(evaluate_checkpoint(source_checkpoint(source), cfg, compute=compute))
    return out


def pairs_data(pairs: Sequence[ModelPair], cfg: EvalConfig, title: str, *, compute: bool = True,
               hub_cache: str | None = None) -> dict[str, Any]:
    """Everything the pair report shows, as plain JSON-able data (also written as results.json)."""
    protocol = cfg.protocol
    sides = {}
    for pair in pairs:
        for spec in (pair.a, pair.b):
            key = (spec, tuple(pair.revisions))
            if key not in sides:
                sides[key] = evaluate_side(spec, pair.revisions, cfg, compute=compute, hub_cache=hub_cache)
    data: dict[str, Any] = {
        **report_header(cfg, title, [r for rs in sides.values() for r in rs]),
        "method": ITEM_LEVEL,
        "models": [],
        "comparisons": [],
        "series": {},
        "emergence": {},
    }
    for (spec, _), results in sides.items():
        data["models"].append({"spec": spec, "checkpoints": [
            {"name": r.name, "source": r.source, "step": r.step, "fraction": r.fraction, "cache": r.cache,
             "items": {n: len(t) for n, t in r.tables.items()}, "metrics": r.metrics()} for r in results]})
    for pair in pairs:
        a = sides[(pair.a, tuple(pair.revisions))][-1]
        b = sides[(pair.b, tuple(pair.revisions))][-1]
        table = compare_checkpoints(a, b, cfg.stats, protocol, a_name=a.name, b_name=b.name)
        rows = table.to_dicts()
        for row in rows:
            row["verdict"] = verdict(row, protocol.alpha)
            row["direction"] = direction(row, BY_NAME[row["metric"]].null)
        data["comparisons"].append({"title": pair.title, "a": a.name, "b": b.name, "a_role": "model a",
                                    "b_role": "model b", "rows": rows, "markdown": table.to_markdown()})
    if any(len(pair.revisions) > 1 for pair in pairs):
        data["series"], data["emergence"] = _series(sides, cfg)
    return data


def _series(sides: dict[tuple[str, tuple[str, ...]], list[CheckpointResults]],
            cfg: EvalConfig) -> tuple[dict[str, Any], dict[str, dict[str, float | None]]]:
    """Each side's metrics along its revisions (item-bootstrap intervals), in the shape the study's
    series plots read (one "arm" per side, no thin per-seed lines), and each side's emergence timing
    (``eval.series.emergence``)."""
    out: dict[str, Any] = {}
    timing: dict[str, dict[str, float | None]] = {}
    for name in series_metrics():
        m = BY_NAME[name]
        arms = {}
        for (spec, _), results in sides.items():
            points = run_series(results, name, cfg.stats, confidence=cfg.confidence)
            if len(points) > 1:
                arms[spec] = [asdict(p) for p in points]
                if m.null is not None:
                    timing.setdefault(spec, {})[name] = emergence(points, m.null)
        if arms:
            out[name] = {"label": m.label, "null": m.null, "runs": {}, "arms": arms}
    return out, timing


def pairs_headline(data: dict[str, Any]) -> list[str]:
    """One sentence per pair and primary endpoint, by the verdict rules; then the method's caveat."""
    pct = round(100 * data["confidence"])
    lines = [f"Protocol `{data['protocol']['name']}` (sha256 {data['protocol']['sha256'][:12]}): "
             f"{data['protocol']['status']}."]
    for comp in data["comparisons"]:
        for row in comp["rows"]:
            if row["metric"] not in data["primary"]:
                continue
            spec = data["metrics"][row["metric"]]["fmt"]
            said = row["verdict"]
            toward = f", a {row['direction']} link" if said.startswith("changed") and row.get("direction") else ""
            lines.append(f"{comp['title']}: {row['label']}: {said}{toward}: {row['diff']:+{spec}} "
                         f"({pct}% [{row['low']:+{spec}}, {row['high']:+{spec}}], Holm p {row['p_adjusted']:.2g}).")
    lines.append(data["method"])
    return lines
