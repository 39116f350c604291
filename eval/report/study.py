"""From run directories to the numbers of a report: runs grouped into arms, the comparisons that
answer "what did the rewrite change" read under the protocol (``eval.protocol``), the arms with a
known answer checked against it, series, emergence timing and the cost in perplexity.

Arms: runs of one model with the same intervention config (its name in run.json: tail21, unlink21,
...; else the same role, start step, direction and method); each run in an arm is one pretraining
seed. Comparisons use each run's last evaluated checkpoint: every rewritten arm against the control
of its start (the honest baseline: same resume, unmodified rows; against the baseline only where
there is no control), and the control against the baseline (what resuming alone does).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.contracts import (
    ControlRecord,
    RewriteManifest,
    count_totals,
    left_by_reason,
    left_total,
    read_arm_record,
    read_run_record,
)
from debias.eval.checkpoints import CheckpointError, expand_paths, find_checkpoints
from debias.eval.compare import ComparisonTable, common_ids, compare_arms
from debias.eval.config import EvalConfig
from debias.eval.metrics import BY_NAME, METRICS, item_columns, pair_logodds
from debias.eval.protocol import protocol_status
from debias.eval.results import CheckpointResults
from debias.eval.runner import evaluate_checkpoint
from debias.eval.series import arm_series, emergence, run_series
from debias.eval.stats import arm_interval
from debias.eval.tasks.registry import series_metrics
from debias.eval.verdict import meets, verdict

log = logging.getLogger(__name__)

SERIES_METRICS = series_metrics()  # each benchmark's own, in registry order (eval.tasks.registry)
ROLE_ORDER = {"baseline": 0, "control": 1, "intervention": 2}
# Rewrite arms: the intervention first, then what decides what it may claim.
METHOD_ORDER = {"morphological": 0, "unlink": 1, "reorder": 2, "sham": 3, "placebo": 4, "published": 5}


@dataclass
class Run:
    path: Path
    info: dict[str, Any]
    manifest: dict[str, Any] | None  # debias.core.contracts: a RewriteManifest's or a ControlRecord's document
    results: list[CheckpointResults]

    @property
    def name(self) -> str:
        return str(self.info.get("name") or self.path.name)

    @property
    def final(self) -> CheckpointResults:
        return max(self.results, key=lambda r: r.step or 0)


@dataclass
class Arm:
    model: str
    role: str
    start_step: int
    total_steps: int | None
    direction: str | None
    method: str = "morphological"  # how the tail was rewritten (run.json's "method")
    name: str | None = None  # the intervention config's name (run.json's "intervention_name")
    runs: list[Run] = field(default_factory=list)
    label: str = ""

    @property
    def start_fraction(self) -> float | None:
        return self.start_step / self.total_steps if self.total_steps and self.role != "baseline" else None

    @property
    def finals(self) -> list[CheckpointResults]:
        return [r.final for r in sorted(self.runs, key=lambda r: (r.info.get("seed") is None, r.info.get("seed")))]


def load_runs(run_dirs: Sequence[str | Path], cfg: EvalConfig, *, compute: bool = True) -> list[Run]:
    """Every run under ``run_dirs`` with its selected checkpoints evaluated (or read from cache).

    Baseline runs also get their checkpoints at the other runs' start steps, whatever the
    selection, so that the report can show each intervention's "before".
    """
    groups = expand_paths(list(run_dirs), cfg.checkpoints)
    infos = []
    for run_dir, checkpoints in groups:
        if run_dir is None:
            raise CheckpointError(f"{checkpoints[0].path}: runs= takes run directories (with run.json), and this is one "
                                  "model; compare two models with compare=[<model a>,<model b>] (hub names or folders)")
        record = read_run_record(run_dir)  # RecordError naming a malformed run.json
        infos.append(record.to_dict() if record is not None else checkpoints[-1].run or {"name": run_dir.name})
    starts = {int(i["start_step"]) for i in infos if i.get("arm") in ("intervention", "control") and i.get("start_step")}
    runs = []
    for (run_dir, checkpoints), info in zip(groups, infos, strict=True):
        if (info.get("arm") or "baseline") == "baseline" and starts:
            have = {c.step for c in checkpoints}
            extra = [c for c in find_checkpoints(run_dir) if c.step in starts and c.step not in have]
            checkpoints = sorted(checkpoints + extra, key=lambda c: c.step or 0)
        results = [evaluate_checkpoint(c, cfg, compute=compute) for c in checkpoints]
        arm_record = read_arm_record(run_dir)  # the tail's manifest or the control record (old placeholder too)
        runs.append(Run(run_dir, info, arm_record.to_dict() if arm_record is not None else None, results))
    return runs


def group_arms(runs: Sequence[Run]) -> list[Arm]:
    arms: dict[tuple, Arm] = {}
    for run in runs:
        info = run.info
        role = str(info.get("arm") or "baseline")
        start = int(info.get("start_step") or 0) if role != "baseline" else 0
        method = str(info.get("method") or "morphological") if role == "intervention" else "morphological"
        name = info.get("intervention_name") if role != "baseline" else None
        params = json.dumps(info.get("method_parameters") or {}, sort_keys=True)
        key = (str(info.get("model") or "model"), role, start, info.get("direction") if role == "intervention" else None,
               method, name, params)
        arm = arms.setdefault(key, Arm(key[0], role, start, info.get("total_steps"), key[3], method, name))
        arm.runs.append(run)
    several_models = len({a.model for a in arms.values()}) > 1
    for arm in arms.values():
        arm.label = _label(arm)
    labels = [a.label for a in arms.values()]
    for arm in arms.values():  # the same config name with other parameters (an override): say which
        if labels.count(arm.label) > 1 and arm.runs[0].info.get("method_parameters"):
            arm.label += " (" + ", ".join(f"{k}={v}" for k, v in arm.runs[0].info["method_parameters"].items()) + ")"
        if several_models:
            arm.label = f"{arm.model} {arm.label}"
    return sorted(arms.values(), key=_arm_order)


DIRECTION_ORDER = {"to_feminine": 0, "both": 1, "to_masculine": 2}


def _arm_order(arm: Arm) -> tuple:
    """Baseline, controls, then the rewritten arms: the whole morphological rewrite first (the
    intervention, then the reversal), its partial ones (the doses, then CDS), then the other methods."""
    partial = bool(arm.runs[0].info.get("method_parameters"))
    return (arm.model, ROLE_ORDER.get(arm.role, 9), arm.start_step, METHOD_ORDER.get(arm.method, 9), partial,
            DIRECTION_ORDER.get(arm.direction or "", 3), arm.label)


def _label(arm: Arm) -> str:
    """The intervention config's name (tail21, unlink21, ...), else a description of the arm."""
    if arm.name and arm.role != "baseline":
        return arm.name
    label = arm.role if arm.method == "morphological" else arm.method
    if arm.role != "baseline" and arm.total_steps:
        label += f" {round(100 * (arm.total_steps - arm.start_step) / arm.total_steps)}%"
    if arm.direction and arm.method in ("morphological", "published"):
        label += f" ({arm.direction})"
    return label


def plan_comparisons(arms: Sequence[Arm]) -> list[tuple[Arm, Arm, str]]:
    """(a, b, title) pairs, each read as b - a: every rewritten arm against the control of its start
    (against the baseline where there is none), then each control against the baseline."""
    out = []
    for arm in arms:
        if arm.role != "intervention":
            continue
        same = [a for a in arms if a.model == arm.model]
        controls = [o for o in same if o.role == "control" and o.start_step == arm.start_step]
        for other in controls or [o for o in same if o.role == "baseline"]:
            out.append((other, arm, f"{arm.label} - {other.label}"))
    for arm in arms:
        if arm.role == "control":
            for other in arms:
                if other.role == "baseline" and other.model == arm.model:
                    out.append((other, arm, f"{arm.label} - {other.label} (resuming alone)"))
    return out


def _interval_dict(models: list[CheckpointResults], name: str, cfg: EvalConfig) -> dict[str, Any] | None:
    m = BY_NAME[name]
    if not models or any(m.table(r.tables) is None for r in models):
        return None
    ids = common_ids(models, m)
    cols = [item_columns(m, r.tables, ids)[1] for r in models]
    if len(ids) < 2:
        return None
    ci = arm_interval(cols, m.fn, n_boot=cfg.stats.n_boot, confidence=cfg.confidence, seed=cfg.stats.seed,
                      correct=cfg.stats.seed_correction)
    return {"estimate": ci.estimate, "low": ci.low, "high": ci.high, "n_models": ci.n_models, "n_items": ci.n_items}


def _manifest_summary(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    if not manifest:
        return None
    if manifest.get("arm") == "control":
        control = ControlRecord.from_dict(manifest)
        return {"control": True, "direction": None, "steps": [control.start_step, control.end_step], "rows": None,
                "seen": 0, "swapped": 0, "left": 0, "noncanonical": None, "left_by_reason": {}, "by_form": {}}
    record = RewriteManifest.from_dict(manifest)
    totals = {**count_totals(record.counts), **record.totals}
    source_rows = record.source.rows if record.source is not None else None
    return {
        "control": False,
        "direction": record.direction,
        "steps": [record.start_step, record.end_step],
        "rows": totals.get("rows") or source_rows,
        "seen": totals["seen"],
        "swapped": totals["swapped"],
        "left": totals["left"],
        "noncanonical": manifest.get("noncanonical"),
        "left_by_reason": left_by_reason(record.counts),
        # the report's table shows one number left per form (the reasons are summed above)
        "by_form": {f: {"seen": c["seen"], "swapped": c["swapped"], "left": left_total(c)}
                    for f, c in record.counts.items()},
    }


def _movers(a: Arm, b: Arm, limit: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Items whose score moved most between the arms' final checkpoints (mean over seeds), with text."""
    from debias.eval.tasks.crows_pairs.reader import crows_pairs_docs
    from debias.eval.tasks.winobias.reader import load_pairs

    out: dict[str, list[dict[str, Any]]] = {}
    finals_a, finals_b = a.finals, b.finals
    m = BY_NAME["winobias/prior"]
    if all(m.table(r.tables) for r in finals_a + finals_b):
        ids = common_ids(finals_a + finals_b, m)
        la = np.mean([pair_logodds(item_columns(m, r.tables, ids)[1]) for r in finals_a], axis=0)
        lb = np.mean([pair_logodds(item_columns(m, r.tables, ids)[1]) for r in finals_b], axis=0)
        order = np.argsort(-np.abs(lb - la))[:limit]
        pairs = {p.id: p for p in load_pairs()}
        out["winobias"] = [{"id": ids[i], "female": pairs[ids[i]].female_sentence, "male": pairs[ids[i]].male_sentence,
                            "stereotype": pairs[ids[i]].stereotype, "a": float(la[i]), "b": float(lb[i])}
                           for i in order if ids[i] in pairs]
    m = BY_NAME["crows_pairs_gender/pct_stereotype"]
    if all(m.table(r.tables) for r in finals_a + finals_b):
        ids = common_ids(finals_a + finals_b, m)
        ids_g = item_columns(m, finals_a[0].tables, ids)[0]

        def margins(results: list[CheckpointResults]) -> np.ndarray:
            cols = [item_columns(m, r.tables, ids)[1] for r in results]
            return np.mean([c["ll_more"] - c["ll_less"] for c in cols], axis=0)

        ma, mb = margins(finals_a), margins(finals_b)
        order = np.argsort(-np.abs(mb - ma))[:limit]
        docs = {d["id"]: d for d in crows_pairs_docs()}
        out["crows_pairs_gender"] = [{"id": ids_g[i], "more": docs[ids_g[i]]["sent_more"],
                                      "less": docs[ids_g[i]]["sent_less"], "a": float(ma[i]), "b": float(mb[i])}
                                     for i in order if ids_g[i] in docs]
    return out


def report_header(cfg: EvalConfig, title: str, results: Sequence[CheckpointResults]) -> dict[str, Any]:
    """What every report's results.json starts with: its title and time, the intervals' level, the
    eval config, every metric's label and unit, and the protocol with whether ``results`` recorded it."""
    protocol = cfg.protocol
    status = protocol_status(protocol, [t.protocol for r in results for t in r.tables.values()])
    return {
        "title": title,
        "generated": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "confidence": cfg.confidence,
        "eval_config": asdict(cfg),
        "metrics": {m.name: {"label": m.label, "kind": m.kind, "part": m.part, "null": m.null,
                             "higher_is_better": m.higher_is_better, "fmt": m.fmt, "unit": m.unit} for m in METRICS},
        "protocol": {**protocol.to_dict(), "sha256": protocol.sha256(), "status": status.status,
                     "recorded": status.recorded},
        "primary": list(protocol.primary),
    }


def study(runs: Sequence[Run], cfg: EvalConfig, title: str = "") -> dict[str, Any]:
    """Everything the report shows, as plain JSON-able data (also written as results.json)."""
    arms = group_arms(runs)
    label_of = {id(r): a.label for a in arms for r in a.runs}
    protocol = cfg.protocol
    data: dict[str, Any] = {
        **report_header(cfg, title, [r for run in runs for r in run.results]),
        "runs": [],
        "arms": [],
        "comparisons": [],
        "instrument": [],
        "series": {},
        "emergence": {},
        "movers": [],
    }
    for run in runs:
        data["runs"].append({
            "name": run.name, "path": str(run.path), "arm": label_of[id(run)], "role": run.info.get("arm"),
            "model": run.info.get("model"), "seed": run.info.get("seed"), "start_step": run.info.get("start_step"),
            "end_step": run.info.get("end_step"), "total_steps": run.info.get("total_steps"),
            "direction": run.info.get("direction"), "method": run.info.get("method"),
            "intervention_name": run.info.get("intervention_name"),
            "method_parameters": run.info.get("method_parameters"),
            "resumed_from": run.info.get("resumed_from"),
            "manifest": _manifest_summary(run.manifest),
            "checkpoints": [{"step": r.step, "fraction": r.fraction, "metrics": r.metrics()} for r in run.results],
        })
    for arm in arms:
        finals = arm.finals
        first = finals[0]
        data["arms"].append({
            "label": arm.label, "name": arm.name, "model": arm.model, "role": arm.role, "start_step": arm.start_step,
            "start_fraction": arm.start_fraction, "total_steps": arm.total_steps, "direction": arm.direction,
            "method": arm.method, "parameters": arm.runs[0].info.get("method_parameters") or {},
            "expect": protocol.answer_for(arm.name),
            "runs": [r.name for r in arm.runs], "seeds": [r.info.get("seed") for r in arm.runs],
            "final_steps": sorted({r.step for r in finals}),
            "items": {name: len(t) for name, t in first.tables.items()},
            "final": {m.name: iv for m in METRICS if (iv := _interval_dict(finals, m.name, cfg)) is not None},
        })
    baselines = {a.model: a for a in arms if a.role == "baseline"}
    for arm, entry in zip(arms, data["arms"], strict=True):
        base = baselines.get(arm.model)
        if arm.role != "baseline" and base is not None:
            at_start = [r for run in base.runs for r in run.results if r.step == arm.start_step]
            if len(at_start) == len(base.runs):
                entry["baseline_at_start"] = {m.name: iv for m in METRICS if m.kind == "capability"
                                              and (iv := _interval_dict(at_start, m.name, cfg)) is not None}
    for a, b, name in plan_comparisons(arms):
        table: ComparisonTable = compare_arms(a.finals, b.finals, cfg.stats, protocol, a_name=a.label,
                                              b_name=b.label)
        rows = table.to_dicts()
        alpha = protocol.alpha
        for row in rows:
            row["verdict"] = verdict(row, alpha)
        answer = protocol.answer_for(b.name) if a.role == "control" else None
        data["comparisons"].append({"title": name, "a": a.label, "b": b.label, "a_role": a.role, "b_role": b.role,
                                    "b_name": b.name, "expect": answer, "rows": rows,
                                    "markdown": table.to_markdown()})
        link = next((r for r in rows if r["metric"] == protocol.link), None)
        if answer is not None:
            null = BY_NAME[protocol.link].null
            data["instrument"].append({
                "arm": b.label, "expect": answer, "metric": protocol.link,
                "met": None if link is None else meets(answer, link, alpha, null),
                "verdict": None if link is None else link["verdict"],
                "diff": None if link is None else link["diff"], "low": None if link is None else link["low"],
                "high": None if link is None else link["high"],
                "p_adjusted": None if link is None else link["p_adjusted"]})
        if len(data["movers"]) < 2 and b.role == "intervention":
            data["movers"].append({"title": name, "a": a.label, "b": b.label, **_movers(a, b)})
    for name in SERIES_METRICS:
        m = BY_NAME[name]
        per_run = {}
        for run in runs:
            pts = run_series(run.results, name, cfg.stats, confidence=cfg.confidence)
            if pts:
                per_run[run.name] = {"arm": label_of[id(run)], "points": [asdict(p) for p in pts]}
        if not any(len(r["points"]) > 1 for r in per_run.values()):
            continue  # final checkpoints only: a series needs two points or more
        per_arm = {}
        for arm in arms:
            pts = arm_series([r.results for r in arm.runs], name, cfg.stats, confidence=cfg.confidence)
            if pts:
                per_arm[arm.label] = [asdict(p) for p in pts]
                if m.null is not None and len(pts) > 1:
                    data["emergence"].setdefault(arm.label, {})[name] = emergence(pts, m.null)
        data["series"][name] = {"label": m.label, "null": m.null, "runs": per_run, "arms": per_arm}
    data["intervention_starts"] = sorted({a.start_fraction for a in arms if a.start_fraction is not None})
    return data
