"""The run directory (CONTRACTS.md, debias.core.contracts): its records (run.json, config.yaml, the
manifest.json of the tail it trained on or the control arm's control.json, log.jsonl), the rule that an existing run is never silently overwritten, and where a killed run
continues from under ``resume=auto``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from debias.config import InterventionConfig
from debias.core.atomic import write_text
from debias.core.config_errors import ConfigError
from debias.core.contracts import (
    ARM_RECORDS,
    CHECKPOINTS,
    CONTROL,
    CONTROL_FIX,
    MANIFEST,
    RUN_RECORD,
    ControlRecord,
    RewriteManifest,
    RunRecord,
    load_json,
    read_run_record,
)
from debias.core.errors import DebiasError
from debias.train import checkpoint, engine
from debias.train.plan import Plan

log = logging.getLogger(__name__)

RECORDS = (RUN_RECORD, "log.jsonl", CHECKPOINTS, "deepspeed")
OTHER_RECORDS = ("config.yaml", *ARM_RECORDS, ".tokenizer")  # removed with the run on overwrite
# Sections of the resolved config that must not change when a killed run is continued: anything
# here changes the numbers the continued run would compute. MAY_DIFFER: settings of speed and memory
# (the micro-batch with a fixed global batch only regroups the accumulation).
FROZEN = ("mode", "seed", "model", "data", "intervention", "schedule", "optim", "source")
MAY_DIFFER = {("model", "attn_implementation"), ("model", "activation_checkpointing"), ("model", "micro_batch_size")}


class RunExistsError(DebiasError, FileExistsError):
    """The run directory holds an earlier run, and neither resume=auto nor overwrite=true was given."""


@dataclass
class Restart:
    """Where a run continues: ``step`` (None: from its beginning), or ``complete`` when nothing is left."""

    step: int | None = None
    complete: bool = False


def arm_record(iv: InterventionConfig, arm: str) -> dict[str, Any]:
    """What run.json says about the arm, so that a report tells arms apart: ``intervention_name``
    (the intervention config's name: tail21, placebo21...), ``method`` (how its tail was rewritten;
    None for baseline and control runs, which read original rows) and ``method_parameters``."""
    rewritten = arm == "intervention"
    return {"intervention_name": iv.name, "method": iv.method if rewritten else None,
            "method_parameters": iv.method_parameters() if rewritten else None}


def _with_new_defaults(old: dict[str, Any]) -> dict[str, Any]:
    """An old config.yaml with the intervention fields added since it was written set to their
    defaults (what that run did): those fields are no reason to refuse continuing it."""
    iv = old.get("intervention")
    if not isinstance(iv, dict):
        return old
    return {**old, "intervention": {**asdict(InterventionConfig()), **iv}}


def has_run(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in RECORDS)


def _differences(old: dict[str, Any], new: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        here = (*path, key)
        if here in MAY_DIFFER:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, here))
        elif a != b:
            out.append(f"{'.'.join(here)}: the run was started with {a!r}, now {b!r}")
    return out


def open_run_dir(plan: Plan, resolved: dict[str, Any]) -> Restart:
    """Apply the run-directory policy; returns where to continue.

    - no earlier run there: start;
    - ``overwrite=true``: move the old run aside, delete it, start;
    - ``resume=auto``: continue from the last step with a complete DeepSpeed checkpoint (or from
      the beginning when none was written), after checking the config did not change;
    - otherwise stop with ``RunExistsError`` naming the choices.
    """
    cfg, run_dir = plan.cfg, plan.run_dir
    if not has_run(run_dir):
        return Restart()
    ds_steps = engine.checkpoint_steps(run_dir / "deepspeed")
    hf_steps = checkpoint.complete_steps(run_dir / CHECKPOINTS)
    if cfg.overwrite:
        log.warning("overwrite=true: deleting the earlier run in %s", run_dir)
        aside = run_dir.with_name(f".{run_dir.name}.old-{os.getpid()}")
        for name in (*RECORDS, *OTHER_RECORDS):
            if (run_dir / name).exists():
                aside.mkdir(exist_ok=True)
                os.replace(run_dir / name, aside / name)
        shutil.rmtree(aside, ignore_errors=True)
        return Restart()
    if cfg.resume != "auto":
        last = f"its last checkpoint is step {hf_steps[-1]}" if hf_steps else "it has no checkpoint yet"
        raise RunExistsError(
            f"{run_dir}: a run already exists there ({last}). Pass resume=auto to continue it, overwrite=true to "
            "replace it, or choose another run_dir/name")
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        old = _with_new_defaults(OmegaConf.to_container(OmegaConf.load(config_path), resolve=True))
        diffs = [d for key in FROZEN for d in _differences({key: old.get(key)}, {key: resolved.get(key)})
                 # a baseline reads no rewrite, so the direction of the arms that will branch off it is not its own
                 if not (plan.arm == "baseline" and d.startswith("intervention.direction:"))]
        if diffs:
            raise ConfigError([*diffs, f"resume=auto continues {run_dir} only with the config it started with "
                                       "(its config.yaml); use another run_dir for a changed config"],
                              where=f"continued run {run_dir}")
    info = read_run_info(run_dir)
    if info.get("completed"):
        log.info("%s: the run is complete (step %d); nothing to do", run_dir, plan.end_step)
        return Restart(step=plan.end_step, complete=True)
    usable = [s for s in ds_steps if plan.start_step <= s < plan.end_step]
    if usable:
        log.info("%s: continuing from the DeepSpeed checkpoint of step %d", run_dir, usable[-1])
        return Restart(step=usable[-1])
    log.info("%s: no complete DeepSpeed checkpoint yet; starting the run again from its beginning", run_dir)
    return Restart()


def discard_unstarted(plan: Plan) -> bool:
    """After a run that started from its beginning stopped with an error before writing any
    DeepSpeed checkpoint (a data or tokenizer mismatch found on the first batches, a NaN loss),
    remove what it wrote: nothing in it can be continued, and the records alone would make a
    rerun demand overwrite=true. Returns whether it removed them."""
    run_dir = plan.run_dir
    if engine.checkpoint_steps(run_dir / "deepspeed"):
        return False
    info = read_run_info(run_dir)
    if info.get("completed") or info.get("restarts"):
        return False
    for name in (*RECORDS, *OTHER_RECORDS):
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    engine.clear_stale_temporaries(run_dir)
    try:
        run_dir.rmdir()  # only when nothing else is there
    except OSError:
        pass
    log.info("%s: the run stopped before its first DeepSpeed checkpoint; its records were removed, so "
             "rerunning the same command starts it again", run_dir)
    return True


def write_records(plan: Plan, resolved: dict[str, Any], run_info: dict[str, Any],
                  record: RewriteManifest | ControlRecord | None) -> None:
    """config.yaml, run.json (checked as a ``RunRecord``) and the arm's record: the manifest of the
    tail it trained on (manifest.json) or the control record (control.json)."""
    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
    RunRecord.from_dict(run_info, run_dir / RUN_RECORD).write(run_dir / RUN_RECORD)
    if isinstance(record, ControlRecord):
        record.write(run_dir / CONTROL)
        old = run_dir / MANIFEST  # an earlier version's placeholder of the control record, continued now
        if old.is_file() and load_json(old, CONTROL_FIX).get("arm") == "control":
            old.unlink()
    elif record is not None:
        record.write(run_dir / MANIFEST)


class MetricsLog:
    """``log.jsonl``: one JSON object per optimizer step, flushed as it is written. Opening it for a
    continued run drops the lines of steps at or after the restart step (they are trained again)."""

    def __init__(self, path: Path, keep_before: int | None) -> None:
        self.path = path
        lines: list[str] = []
        if keep_before is not None and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    if json.loads(line)["step"] < keep_before:
                        lines.append(line)
                except (json.JSONDecodeError, KeyError, TypeError):
                    break  # a line cut by the kill: everything after it is redone
        write_text(path, "".join(f"{line}\n" for line in lines))
        self._fh = open(path, "a", encoding="utf-8")  # kept open for the whole run

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_run_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run's run.json (checked: ``RecordError`` naming a malformed one), or {} when it has none."""
    record = read_run_record(run_dir)
    return record.to_dict() if record is not None else {}


def read_log(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a run's log.jsonl."""
    path = Path(run_dir) / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
