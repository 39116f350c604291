"""The rows a run trains on, only through ``debias``'s data-order API.

Pretraining and the control arm read the data order itself; the intervention arm reads the
rewritten tail (``debias.rewrite.tail.rewrite_tail``'s output, which holds only the rows of steps
``start..end-1`` and answers for those same step numbers), rewriting it first when it is missing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.config_errors import ConfigError
from debias.core.contracts import MANIFEST, TAIL, ControlRecord, RewriteManifest, read_manifest
from debias.data.fetch import sha256_file
from debias.data.order import DataOrder
from debias.train.plan import Plan
from debias.train.tail_check import check_tail

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Where a run's batches come from, and what its run directory records about them."""

    prefix: Path
    tokenizer: Path
    order: DataOrder
    tail: DataOrder | None
    tail_dir: Path | None
    record: RewriteManifest | ControlRecord | None  # what the run directory records about its rows

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The record as the JSON it is written as (the tail's manifest, or the control record)."""
        return self.record.to_dict() if self.record is not None else None

    def batch(self, step: int) -> np.ndarray:
        """Rows of ``step`` as ``[rows_per_step, seq_length + 1]`` token ids."""
        return (self.tail or self.order).step(step)

    def describe(self) -> str:
        return f"{self.tail_dir / TAIL} (rewritten tail)" if self.tail is not None else str(self.prefix)


def default_tail_dir(plan: Plan, prefix: Path) -> Path:
    """``<data order folder>/tails/<name>``, where ``debias-rewrite`` puts it too, so one rewrite
    serves every run of it: ``<direction>-<start>-<end>`` for the morphological rewrite, with the
    method and its parameters in front for the other arms (``debias.rewrite.arms.tail_name``)."""
    from debias.rewrite.arms import tail_name

    return prefix.parent / "tails" / tail_name(plan.cfg.intervention, plan.start_step, plan.end_step)


def _check_manifest(manifest: RewriteManifest, plan: Plan, prefix: Path, tail_dir: Path) -> list[str]:
    """Ways a rewritten tail does not fit this run."""
    where = tail_dir / MANIFEST
    iv = plan.cfg.intervention
    expect = {"start_step": plan.start_step, "end_step": plan.end_step,
              "rows_per_step": plan.cfg.data.rows_per_step, "row_length": plan.cfg.data.row_length,
              "direction": iv.direction, "method": iv.method, "parameters": iv.method_parameters()}
    # a tail written before methods existed is a morphological one, without parameters (the record's defaults)
    found = {key: getattr(manifest, key) for key in expect}
    out = [f"{where}: {key}={found[key]!r}, but this run needs {value!r}; rewrite the tail for this run "
           "or set tail= to the right one" for key, value in expect.items() if found[key] != value]
    source = manifest.source
    if source is not None and source.idx_sha256 != sha256_file(prefix.with_suffix(".idx")):
        out.append(f"{where}: the tail was rewritten from {source.path}, whose index differs from this run's "
                   f"data order {prefix}.idx; rewrite the tail from this data order")
    return out


def _rewrite(plan: Plan, prefix: Path, tokenizer: Path, tail_dir: Path) -> None:
    """Rewrite the tail by the intervention's method (``debias.rewrite.arms.rewrite_arm``)."""
    from debias.rewrite.arms import TailSpan, rewrite_arm

    cfg = plan.cfg
    iv = cfg.intervention
    log.info("rewriting steps %d..%d of %s (%s, %s) into %s", plan.start_step, plan.end_step - 1, prefix, iv.method,
             iv.direction, tail_dir)
    try:
        span = TailSpan(prefix, tail_dir, plan.start_step, plan.end_step, cfg.data.rows_per_step, tokenizer)
        rewrite_arm(iv, span, data=cfg.data,
                    shuffle_seed=cfg.data.shuffle_seed + cfg.seed, workers=cfg.rewrite_workers,
                    progress=cfg.progress)
    except ValueError as exc:  # e.g. a placebo on a corpus it cannot redraw: a message to act on
        if iv.method == "morphological":
            raise
        raise ConfigError([f"intervention={iv.name} (method={iv.method}): {exc}"], where="training data") from exc


def prepare(plan: Plan) -> TrainingData:
    """Build or open the data order (and the tail) of ``plan``; raises ``ConfigError`` listing every
    way the data does not fit the run."""
    from debias.data.corpus import run_data_order

    cfg = plan.cfg
    # a data order published in pieces (parquet chunks, index maps) is read for this run's steps only
    prefix, tokenizer = run_data_order(cfg.data, cfg.schedule, cfg.seed, cfg.data_orders_dir, progress=cfg.progress,
                                       steps=(plan.start_step, plan.end_step), workers=cfg.rewrite_workers)
    problems: list[str] = []
    meta_path = prefix.parent / "data_order.json"
    if meta_path.is_file():
        vocab = json.loads(meta_path.read_text()).get("vocab_size")
        if vocab is not None and vocab > cfg.model.vocab_size:
            problems.append(f"{meta_path}: the data order's tokenizer has {vocab} tokens, more than "
                            f"model.vocab_size={cfg.model.vocab_size}; raise model.vocab_size or data.vocab_size")
    order = DataOrder(prefix, cfg.data.rows_per_step, cfg.data.row_length, vocab_size=cfg.model.vocab_size)
    if order.end_step < plan.end_step or order.first_step > plan.start_step:
        problems.append(f"{prefix}: the data order holds steps {order.first_step}..{order.last_step} of "
                        f"{cfg.data.rows_per_step} rows, not all of the steps {plan.start_step}..{plan.end_step - 1} "
                        "this run needs; build a larger one or shorten the schedule")

    tail = tail_dir = record = None
    if plan.arm in ("intervention", "control"):
        tail_dir = Path(cfg.tail) if cfg.tail else default_tail_dir(plan, prefix)
        have_tail = (tail_dir / MANIFEST).is_file()
        if plan.arm == "intervention" and not have_tail and not problems:
            _rewrite(plan, prefix, tokenizer, tail_dir)
            have_tail = True
        rewrite = read_manifest(tail_dir) if have_tail else None  # RecordError naming a malformed one
        if rewrite is not None:
            problems.extend(_check_manifest(rewrite, plan, prefix, tail_dir))
        if plan.arm == "intervention" and rewrite is not None and not problems:
            problems.extend(check_tail(tail_dir, rewrite, order.dataset, tokenizer, cfg.tail_check))
        if plan.arm == "intervention" and rewrite is not None and not problems:
            tail = DataOrder.from_tail(tail_dir, vocab_size=cfg.model.vocab_size)
            record = rewrite
        elif plan.arm == "control":
            record = ControlRecord.build(
                source_path=str(prefix), source_idx_sha256=sha256_file(prefix.with_suffix(".idx")),
                start_step=plan.start_step, end_step=plan.end_step, rows_per_step=cfg.data.rows_per_step,
                row_length=cfg.data.row_length, matching_rewrite=rewrite.to_dict() if rewrite is not None else None)
            tail_dir = None
    if problems:
        raise ConfigError(problems, where="training data")
    return TrainingData(prefix=prefix, tokenizer=tokenizer, order=order, tail=tail, tail_dir=tail_dir,
                        record=record)
