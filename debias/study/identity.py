"""What a study's numbers were made from, so that they can be checked against what main builds now:
the commit of the code, the data's identity (the corpus, the tokenizer, each seed's data order, the
probe set) and, on the synthetic corpus, what each arm's tail holds, read from its tokens.

A refactor that renamed the synthetic corpus's random streams once changed every corpus, data
order and probe set while the README kept results from the old data. The study now writes these
records into ``study.json``; the README's results carry them (``eval.report.readme``), and
``tests/test_data_identity.py`` rebuilds the demo's data and fails when it differs.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from debias.data.fetch import sha256_file

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parents[2]


def commit() -> dict[str, Any] | None:
    """The project's git commit and whether tracked files differ from it (None outside a checkout)."""
    if not (PROJECT / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=PROJECT, capture_output=True).returncode
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"sha": sha, "dirty": dirty != 0}


def order_identity(prefix: str | Path) -> dict[str, Any]:
    """A data order's key (``debias.data.corpus``: documents, tokenizer, seq_length, seed, rows) and
    the sha256 of its rows and index, from the folder ``prepare_data_order`` wrote."""
    from debias.core.contracts import read_steps_record

    prefix = Path(prefix)
    steps = read_steps_record(prefix)
    if steps is not None:  # a run's steps read from parquet chunks or index maps: where from, and the rows' sha256
        return {"key": f"{steps.kind}:{steps.source}:steps{steps.first_step}-{steps.end_step}", "documents": None,
                "tokenizer": None, "seed": None, "bin_sha256": steps.rows_sha256,
                "idx_sha256": steps.doc.get("idx_sha256")}
    meta = json.loads((prefix.parent / "data_order.json").read_text())
    return {"key": meta["key"], "documents": meta.get("documents_sha256"), "tokenizer": meta["tokenizer_sha256"],
            "seed": meta["seed"], "bin_sha256": sha256_file(prefix.with_suffix(".bin")),
            "idx_sha256": sha256_file(prefix.with_suffix(".idx"))}


def probes_identity(options: dict[str, Any]) -> str | None:
    """The sha256 the synthetic probes' task records of its pairs (None when the task is off)."""
    from debias.eval.tasks.synthetic.reader import data_sources

    if not options.get("enabled", True):
        return None
    return next(iter(data_sources(options).values()))


def data_identity(orders: dict[int, str | Path], probe_options: dict[str, Any] | None) -> dict[str, Any]:
    """The identity of a study's data: each seed's data order (``orders``: seed -> prefix) and the probes."""
    per_seed = {str(seed): order_identity(prefix) for seed, prefix in sorted(orders.items())}
    if not per_seed:
        raise ValueError("no run of the study recorded its data order")
    first = next(iter(per_seed.values()))
    return {"corpus": first["documents"], "tokenizer": first["tokenizer"],
            "orders": {s: {k: o[k] for k in ("key", "seed", "bin_sha256", "idx_sha256")} for s, o in per_seed.items()},
            "probes": probes_identity(probe_options) if probe_options is not None else None}


def tail_contents(runs: dict[str, Any], seed: int) -> dict[str, dict[str, Any]]:
    """On the synthetic corpus: for each arm of one seed (``runs``: arm -> its TrainConfig), the
    she-share per kind of character that its rows hold, read from the tokens it trained on
    (``debias.rewrite.arms.redraw.she_shares``); the control's are the original rows'."""
    from debias.core.contracts import RUN_RECORD
    from debias.rewrite.arms import TailSpan, tail_name
    from debias.rewrite.arms.redraw import rebuild, she_shares

    out: dict[str, dict[str, Any]] = {}
    shared = None
    for arm, cfg in runs.items():
        iv = cfg.intervention
        if iv.arm == "baseline" or cfg.data.source != "synthetic":
            continue
        record = json.loads((Path(cfg.run_dir) / RUN_RECORD).read_text())
        prefix, start, end = Path(record["data_order"]), int(record["start_step"]), int(record["end_step"])
        tail = None
        if iv.arm == "intervention":
            tail = Path(cfg.tail) if cfg.tail else prefix.parent / "tails" / tail_name(iv, start, end)
        span = TailSpan(prefix, tail or prefix.parent, start, end, cfg.data.rows_per_step, record["tokenizer"])
        shuffle_seed = cfg.data.shuffle_seed + seed
        shared = shared or rebuild(span, cfg.data, shuffle_seed)
        found = she_shares(span, tail, data=cfg.data, shuffle_seed=shuffle_seed, rebuilt=shared)
        out[arm] = {k: v for k, v in found.items() if k != "counts"} | {"counts": found["counts"]}
    return out
