"""Which lm-eval tasks an ``EvalConfig`` asks for, and how each task's logged samples become items.

A ``TaskPlan`` pairs one task YAML in ``eval/tasks`` with its options (``dataset_kwargs``). Its
``key`` hashes everything that changes the scores (options, data files, task version, dtype), so a
cached result is reused only when it would come out the same. Items are stored as columns (one
list per field, aligned with ``id``) so that every metric and every resampling works from them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from debias.data.fetch import resolve, sha256_file
from eval import benchmarks, winobias
from eval.config import EvalConfig

log = logging.getLogger(__name__)

TASKS_DIR = Path(__file__).with_name("tasks")

Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class TaskDef:
    name: str
    yaml: str
    itemize: Callable[[list[dict[str, Any]]], Columns]
    data: Callable[[dict[str, Any]], dict[str, str]]  # options -> {data source: sha256}


@dataclass
class TaskPlan:
    """``name`` names the item table; ``base`` the task of ``TASKS`` it is a variant of (default: ``name``)."""

    name: str
    yaml: str
    options: dict[str, Any] = field(default_factory=dict)
    base: str | None = None

    @property
    def definition(self) -> TaskDef:
        return TASKS[self.base or self.name]

    def spec(self, model: dict[str, Any]) -> dict[str, Any]:
        """Everything that decides this task's scores on one checkpoint."""
        config = _yaml_config(self.yaml)
        return {
            "task": config["task"],
            "version": (config.get("metadata") or {}).get("version"),
            "options": self.options,
            "data": self.definition.data(self.options),
            "model": model,
        }

    def key(self, model: dict[str, Any]) -> str:
        spec = self.spec(model)
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return f"{self.name}-{digest}"

    def lm_eval_config(self) -> dict[str, Any]:
        config = copy.deepcopy(_yaml_config(self.yaml))  # lm-eval may change what it is given
        config["dataset_kwargs"] = {**(config.get("dataset_kwargs") or {}), **self.options}
        if self.options.get("swap"):
            # One YAML, several variants in one lm-eval call: each needs its own task name.
            config["task"] = f"{config['task']}_{self.options['swap']}"
        return config


@cache
def _yaml_config(name: str) -> dict[str, Any]:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(TASKS_DIR / name, resolve_func=True)


@cache
def _digest_cached(path: str, size: int, mtime: int) -> str:
    return sha256_file(path)


def _file_digest(path: Path) -> str:
    st = path.stat()
    return _digest_cached(str(path), st.st_size, st.st_mtime_ns)


def plan_tasks(cfg: EvalConfig) -> list[TaskPlan]:
    """The tasks ``cfg`` enables, with their options; CrowS-Pairs gender is read off the full set."""
    t = cfg.tasks
    plans: list[TaskPlan] = []
    seed = {"seed": cfg.seed}
    if t.crows_pairs.enabled:
        name = "crows_pairs" if "all" in t.crows_pairs.subsets else "crows_pairs_gender"
        plans.append(TaskPlan(name, TASKS[name].yaml, {"limit": t.crows_pairs.limit, **seed}))
    wb = {"types": sorted(t.winobias.types), "splits": sorted(t.winobias.splits), "limit": t.winobias.limit, **seed}
    if t.winobias.preference:
        plans.append(TaskPlan("winobias_preference", "winobias_preference.yaml", dict(wb)))
    if t.winobias.coreference:
        plans.append(TaskPlan("winobias_coreference", "winobias_coreference.yaml", dict(wb)))
    if t.winogender.enabled:
        plans.append(TaskPlan("winogender", "winogender.yaml", {"limit": t.winogender.limit, **seed}))
    if t.synthetic.enabled:
        plans.append(TaskPlan("synthetic", "synthetic_probes.yaml", {
            "probe_seed": t.synthetic.probe_seed, "n_per_occupation": t.synthetic.n_per_occupation,
            "limit": t.synthetic.limit, **seed}))
    if t.lambada.enabled:
        plans.append(TaskPlan("lambada", "lambada.yaml", {"limit": t.lambada.limit, **seed}))
    if t.heldout.enabled:
        heldout = {"path": t.heldout.path, "chunk_chars": t.heldout.chunk_chars, "limit": t.heldout.limit,
                   "unwrap": t.heldout.unwrap, **seed}
        plans.append(TaskPlan("heldout", "heldout_perplexity.yaml", heldout))
        for direction in dict.fromkeys(t.heldout.swapped):
            plans.append(TaskPlan(f"heldout_{direction}", "heldout_perplexity.yaml", {**heldout, "swap": direction},
                                  base="heldout"))
    return plans


# ---------------------------------------------------------------- samples -> item columns
def _ll(sample: dict[str, Any], i: int) -> float:
    resp = sample["filtered_resps"][i]
    return float(resp[0] if isinstance(resp, (tuple, list)) else resp)


def _columns(rows: list[dict[str, Any]]) -> Columns:
    rows = sorted(rows, key=lambda r: r["id"])
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {"id": []}


def itemize_crows(samples: list[dict[str, Any]]) -> Columns:
    return _columns([
        {"id": s["doc"]["id"], "ll_more": _ll(s, 0), "ll_less": _ll(s, 1),
         "gender": int(s["doc"]["bias_type"] == "gender"), "stereo": int(s["doc"]["stereo"])}
        for s in samples
    ])


def itemize_pairs(samples: list[dict[str, Any]]) -> Columns:
    """WinoBias-style pairs: log-likelihood of the pro- and anti-stereotyped sentence."""
    return _columns([
        {"id": s["doc"]["id"], "ll_pro": _ll(s, 0), "ll_anti": _ll(s, 1),
         "female": int(s["doc"]["stereotype"] == "female"), "type": int(s["doc"].get("type", 0))}
        for s in samples
    ])


def itemize_coreference(samples: list[dict[str, Any]]) -> Columns:
    """One item per pair: did the referent beat the other occupation on the pro and the anti sentence."""
    pairs: dict[str, dict[str, Any]] = {}
    for s in samples:
        doc = s["doc"]
        row = pairs.setdefault(doc["id"], {"id": doc["id"], "female": int(doc["stereotype"] == "female"),
                                           "type": int(doc["type"]), "test": int(doc["split"] == "test")})
        row[f"margin_{doc['polarity']}"] = _ll(s, 0) - _ll(s, 1)
    for pid, row in pairs.items():
        if "margin_pro" not in row or "margin_anti" not in row:
            raise ValueError(f"WinoBias coreference: pair {pid} lacks its pro or anti sentence")
    return _columns(list(pairs.values()))


def itemize_winogender(samples: list[dict[str, Any]]) -> Columns:
    """``occ`` numbers the occupations (sorted by name) so that metrics can average per occupation;
    ``answer`` 0: the pronoun refers to the occupation, 1: to the participant (Rudinger et al. 2018)."""
    occupations = sorted({s["doc"]["occupation"] for s in samples})
    return _columns([
        {"id": s["doc"]["id"], "ll_female": _ll(s, 0), "ll_male": _ll(s, 1), "ll_neutral": _ll(s, 2),
         "pct_female": float(s["doc"]["pct_female"]), "someone": int(s["doc"]["wording"] == "someone"),
         "occ": occupations.index(s["doc"]["occupation"]), "answer": int(s["doc"]["answer"])}
        for s in samples
    ])


def itemize_lambada(samples: list[dict[str, Any]]) -> Columns:
    return _columns([
        {"id": s["doc"]["id"], "ll": _ll(s, 0), "greedy": int(bool(s["filtered_resps"][0][1]))} for s in samples
    ])


def itemize_heldout(samples: list[dict[str, Any]]) -> Columns:
    # n_tokens is filled in by the runner, which has the tokenizer.
    return _columns([
        {"id": s["doc"]["id"], "ll": _ll(s, 0), "n_bytes": int(s["doc"]["n_bytes"]), "text": s["doc"]["text"]}
        for s in samples
    ])


def _files(paths: list[Path]) -> dict[str, str]:
    return {str(p): _file_digest(p) for p in paths}


def _crows_data(_: dict[str, Any]) -> dict[str, str]:
    return _files([resolve(benchmarks.CROWS_FILE)])


def _winobias_data(options: dict[str, Any]) -> dict[str, str]:
    names = [winobias.file_name(kind, t, s) for t in options.get("types", [1, 2])
             for s in options.get("splits", ["dev", "test"]) for kind in ("pro", "anti")]
    names += ["winobias/data/male_occupations.txt", "winobias/data/female_occupations.txt"]
    return _files([resolve(n) for n in names] + [winobias.IRREGULAR_FILE])


def _winogender_data(_: dict[str, Any]) -> dict[str, str]:
    return _files([resolve(benchmarks.WINOGENDER_SENTENCES), resolve(benchmarks.WINOGENDER_STATS)])


def _lambada_data(_: dict[str, Any]) -> dict[str, str]:
    return _files([resolve(benchmarks.LAMBADA_FILE)])


def _heldout_data(options: dict[str, Any]) -> dict[str, str]:
    out = _files(benchmarks.heldout_files(options.get("path")))
    if options.get("swap"):
        # The rewritten text depends on the swapper as well as the files: its own digest decides.
        out["swapped text"] = _swapped_digest(json.dumps(options, sort_keys=True, default=str))
    return out


@cache
def _swapped_digest(options_json: str) -> str:
    options = json.loads(options_json)
    docs = benchmarks.heldout_docs(options.get("path"), chunk_chars=options["chunk_chars"], limit=options["limit"],
                                   seed=options["seed"], unwrap=options["unwrap"], swap=options["swap"])
    return hashlib.sha256("\n".join(d["text"] for d in docs).encode()).hexdigest()


def _synthetic_data(options: dict[str, Any]) -> dict[str, str]:
    # The probes are generated, so their text itself is what must not change.
    docs = benchmarks.synthetic_probe_docs(options.get("probe_seed", 0), options.get("n_per_occupation", 8))
    return {"debias.synthetic.stories.probe_pairs": hashlib.sha256(json.dumps(docs, sort_keys=True).encode()).hexdigest()}


TASKS: dict[str, TaskDef] = {
    "crows_pairs": TaskDef("crows_pairs", "crows_pairs_english.yaml", itemize_crows, _crows_data),
    "crows_pairs_gender": TaskDef("crows_pairs_gender", "crows_pairs_english_gender.yaml", itemize_crows, _crows_data),
    "winobias_preference": TaskDef("winobias_preference", "winobias_preference.yaml", itemize_pairs, _winobias_data),
    "winobias_coreference": TaskDef("winobias_coreference", "winobias_coreference.yaml", itemize_coreference, _winobias_data),
    "winogender": TaskDef("winogender", "winogender.yaml", itemize_winogender, _winogender_data),
    "synthetic": TaskDef("synthetic", "synthetic_probes.yaml", itemize_pairs, _synthetic_data),
    "lambada": TaskDef("lambada", "lambada.yaml", itemize_lambada, _lambada_data),
    "heldout": TaskDef("heldout", "heldout_perplexity.yaml", itemize_heldout, _heldout_data),
}
