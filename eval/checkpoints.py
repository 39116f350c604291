"""Finding checkpoints: a single HF directory, a hub model at a revision (``eval.models``), or the
``checkpoints/step<N>/`` series of a run.

A run directory (CONTRACTS.md, ``debias.core.contracts``) holds ``run.json`` and ``checkpoints/step<N>/``; a step directory
that exists is complete (train renames it into place). Results are cached per checkpoint in
``<run>/eval/step<N>.json`` (a run is this project's own output); a loose folder's or a hub model's
go under the results folder (``eval.results_dir``), never into the model's folder or the hub cache,
so a read-only model store works.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debias.core.contracts import CHECKPOINTS, RUN_RECORD, RunRecord, parse_step, step_dirs
from debias.core.errors import DebiasError
from debias.eval.config import CheckpointSelection
from debias.eval.models import ModelSource, ModelSourceError, check_model_folder, total_steps_of

log = logging.getLogger(__name__)


class CheckpointError(DebiasError, ValueError):
    """A path is not a usable checkpoint or run directory; the message says what is missing."""


@dataclass
class Checkpoint:
    path: Path
    step: int | None = None
    total_steps: int | None = None
    run_dir: Path | None = None
    run: dict[str, Any] | None = field(default=None, repr=False)
    source: ModelSource | None = None  # a hub model or a folder named by model= (None: found in a run)

    @property
    def name(self) -> str:
        if self.source is not None:
            return self.source.name
        base = (self.run or {}).get("name") or (self.run_dir.name if self.run_dir else self.path.name)
        return f"{base}@step{self.step}" if self.step is not None else base

    @property
    def tokenizer(self) -> Path:
        """The folder the tokenizer is read from: the checkpoint's own, or the one ``tokenizer=`` named."""
        return self.source.tokenizer if self.source is not None else self.path

    @property
    def fraction(self) -> float | None:
        """Normalized training progress ``step / total_steps``."""
        if self.step is None or not self.total_steps:
            return None
        return self.step / self.total_steps


def is_run_dir(path: Path) -> bool:
    return (path / RUN_RECORD).is_file() or (path / CHECKPOINTS).is_dir()


def is_checkpoint_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc}); the file is damaged, rewrite or remove it") from None


def checkpoint_info(path: str | Path) -> Checkpoint:
    """Step, total steps and run metadata of one checkpoint directory (all optional for loose ones)."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such directory; give a checkpoint directory (with config.json) or a run directory")
    if not is_checkpoint_dir(path):
        raise CheckpointError(f"{path}: no config.json, so not a Hugging Face checkpoint directory")
    try:
        check_model_folder(path)
    except ModelSourceError as exc:
        raise CheckpointError(str(exc)) from None
    state = read_json(path / "trainer_state.json") or {}
    step = state.get("step", parse_step(path.name))
    run_dir = path.parent.parent if path.parent.name == CHECKPOINTS else None
    run = state.get("run") or (read_json(run_dir / RUN_RECORD) if run_dir else None)
    if run is not None:  # RecordError naming the file when it is not a run's record
        where = path / "trainer_state.json" if state.get("run") else run_dir / RUN_RECORD
        run = RunRecord.from_dict(run, where).to_dict()
    total = state.get("total_steps", (run or {}).get("total_steps"))
    return Checkpoint(path=path, step=step, total_steps=total, run_dir=run_dir, run=run)


def find_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Every complete ``checkpoints/step<N>`` of a run, by step (temporary dirs are skipped)."""
    run_dir = Path(run_dir).expanduser().resolve()
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        raise CheckpointError(f"{run_dir}: no checkpoints/ folder; is this a run directory written by `python -m debias.train`?")
    found = [checkpoint_info(p) for _, p in step_dirs(root)]
    found.sort(key=lambda c: c.step if c.step is not None else -1)
    if not found:
        raise CheckpointError(f"{root}: no step<N> checkpoints yet")
    return found


def select(checkpoints: list[Checkpoint], how: CheckpointSelection) -> list[Checkpoint]:
    """The subset of a run's checkpoints that ``how`` asks for, in step order."""
    if not checkpoints:
        return []
    n = len(checkpoints)
    if how.which == "all":
        keep = list(range(n))
    elif how.which == "last":
        keep = [n - 1]
    elif how.which == "every":
        keep = sorted(set(range(0, n, how.every)) | {n - 1})
    elif how.which == "count":
        if how.count >= n:
            keep = list(range(n))
        elif how.count == 1:
            keep = [n - 1]
        else:
            keep = sorted({round(i * (n - 1) / (how.count - 1)) for i in range(how.count)})
    elif how.which == "steps":
        wanted = set(how.steps)
        keep = [i for i, c in enumerate(checkpoints) if c.step in wanted]
        missing = wanted - {checkpoints[i].step for i in keep}
        if missing:
            raise CheckpointError(f"no checkpoint for step(s) {sorted(missing)}; available: {[c.step for c in checkpoints]}")
    else:
        raise ValueError(f"unknown checkpoint selection {how.which!r}")
    return [checkpoints[i] for i in keep]


def source_checkpoint(source: ModelSource, total_steps: int | None = None) -> Checkpoint:
    """A model named by ``model=`` (hub name at a revision, or a folder) as a checkpoint: its step from a
    ``step<N>`` revision, its length of training from ``total_steps`` (Pythia's 143,000 by default)."""
    info = checkpoint_info(source.path)
    step = source.step if source.step is not None else info.step
    total = total_steps or info.total_steps or total_steps_of(source.model, step)
    return Checkpoint(path=source.path, step=step, total_steps=total, run_dir=info.run_dir, run=info.run, source=source)


def expand_paths(paths: list[str | Path], how: CheckpointSelection) -> list[tuple[Path | None, list[Checkpoint]]]:
    """(run dir or None, checkpoints) for each given path: a run dir, a checkpoint dir, or a folder of runs."""
    out: list[tuple[Path | None, list[Checkpoint]]] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if is_checkpoint_dir(path):
            out.append((None, [checkpoint_info(path)]))
        elif is_run_dir(path):
            out.append((path, select(find_checkpoints(path), how)))
        elif path.is_dir() and any(is_run_dir(p) for p in path.iterdir() if p.is_dir()):
            for sub in sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p)):
                out.append((sub, select(find_checkpoints(sub), how)))
        else:
            raise CheckpointError(
                f"{path}: neither a checkpoint directory (config.json), a run directory (run.json, checkpoints/) "
                "nor a folder of run directories"
            )
    return out


def slug(text: str) -> str:
    """A model name or folder as one safe path component (``EleutherAI/pythia-70m`` -> ``EleutherAI--pythia-70m``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "--", text).strip("-.") or "model"


def cache_path(ckpt: Checkpoint, cache_dir: str | Path | None = None, results_dir: str | Path = "results") -> Path:
    """Where one checkpoint's results are cached.

    ``cache_dir`` given: ``<cache_dir>/<folder>-<path digest>.json`` for every checkpoint. Else a
    checkpoint of a run: ``<run>/eval/step<N>.json``; a hub model:
    ``<results_dir>/<owner--name>/<commit>/eval.json``; a loose folder:
    ``<results_dir>/<folder>-<path digest>/eval.json``. The tasks inside are keyed by everything
    that decides their scores (``eval.suite.TaskPlan.key``), so one file serves every eval config.
    """
    digest = hashlib.sha256(str(ckpt.path).encode()).hexdigest()[:10]
    if cache_dir is not None:
        where = Path(cache_dir).expanduser().resolve() / f"{ckpt.path.name}-{digest}.json"
    elif ckpt.run_dir is not None and ckpt.source is None:
        return ckpt.run_dir / "eval" / f"{ckpt.path.name}.json"
    else:
        root = Path(results_dir).expanduser().resolve()
        if ckpt.source is not None and ckpt.source.commit is not None:
            where = root / slug(ckpt.source.model) / ckpt.source.commit / "eval.json"
        else:
            where = root / f"{slug(ckpt.path.name)}-{digest}" / "eval.json"
    # a hub snapshot's repository folder (models--owner--name/) is the hub cache's, as the snapshot is
    protected = [ckpt.path] + ([ckpt.path.parents[1]] if ckpt.source is not None and ckpt.source.commit else [])
    for folder in protected:
        if where.resolve().is_relative_to(folder.resolve()):
            raise CheckpointError(f"{where.parent}: lies inside {folder}; results never go into a model's folder or "
                                  "the hub cache: give eval.results_dir (or eval.cache_dir) outside it")
    return where


def weight_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())


def fingerprint(path: Path, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """sha256 of the weights and config, reusing ``known`` when sizes and mtimes are unchanged."""
    files = [path / "config.json", *weight_files(path)]
    stat = {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in files}
    if known and known.get("stat") == stat:
        return known
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
    return {"sha256": digest.hexdigest(), "stat": stat}
