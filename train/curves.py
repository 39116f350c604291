"""Training curves through DeepSpeed's own monitor: TensorBoard, Weights & Biases or CSV.

``logging=tensorboard|wandb|csv`` (conf/logging/) sends each step's loss, learning rate, gradient
norm and tokens per second, keyed by the optimizer step (as Pythia's checkpoints are), to
``deepspeed.monitor``'s writer of that kind. The monitor is built here rather than switched on in
the engine's config: the engine would also log its own events keyed by samples, and W&B drops
points whose step goes backwards. Off by default; ``log.jsonl`` is always written.

Files go to ``<run dir>/curves/`` unless ``logging.dir`` names another folder. A W&B run is named
after the training run and keeps one id across restarts (``resume=auto`` continues the same W&B
run); ``WANDB_MODE=offline`` writes it locally for ``wandb sync`` later.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from debias.core.choices import choice, choice_problems, values
from debias.core.environ import environ_restored

log = logging.getLogger(__name__)

CurveBackend = Literal["none", "tensorboard", "wandb", "csv"]
CURVE_BACKENDS = values(CurveBackend)
CURVES_DIR = "curves"
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}  # what each backend imports
SERIES = ("loss", "lr", "grad_norm", "tokens_per_s")  # the fields of a step record that are drawn


@dataclass
class CurvesConfig:
    """Where each step's loss, learning rate, gradient norm and tokens/s go besides ``log.jsonl``
    (conf/logging/). The W&B fields are DeepSpeed's wandb section (project, group, team)."""

    backend: str = choice(CurveBackend, "none")  # a CurveBackend: none, tensorboard, wandb, csv
    dir: str | None = None  # the folder for the curves' files; None: <run dir>/curves
    every: int = 1  # steps between points, at least 1
    project: str = "pythia-debias"  # wandb: the project
    group: str | None = None  # wandb: the run group; None: the run's model and data (its study)
    team: str | None = None  # wandb: the entity; None: the logged-in user's

    def problems(self) -> list[str]:
        out = choice_problems(self, "logging")
        if self.every < 1:
            out.append(f"logging.every={self.every} must be at least 1")
        package = PACKAGES.get(self.backend)
        if package and importlib.util.find_spec(package) is None:
            out.append(f"logging={self.backend} needs the {package} package: pip install {package} "
                       "(or pip install 'pythia-debias[curves]'), or use logging=csv, which needs none")
        return out


def monitor_section(cfg: CurvesConfig, folder: Path, job: str, group: str) -> dict[str, Any]:
    """The monitor part of a DeepSpeed config (``tensorboard``, ``wandb`` or ``csv_monitor``)."""
    if cfg.backend == "tensorboard":
        return {"tensorboard": {"enabled": True, "output_path": str(folder), "job_name": job}}
    if cfg.backend == "csv":
        return {"csv_monitor": {"enabled": True, "output_path": str(folder), "job_name": job}}
    if cfg.backend == "wandb":
        return {"wandb": {"enabled": True, "project": cfg.project, "group": cfg.group or group, "team": cfg.team}}
    return {}


@contextmanager
def _wandb_env(folder: Path, name: str, run_id: str) -> Iterator[None]:
    """W&B reads its run's name, id and folder from the environment at ``wandb.init``: set them for
    that call only (a study's worker runs several training runs in turn)."""
    wanted = {"WANDB_DIR": str(folder), "WANDB_NAME": name, "WANDB_RUN_ID": run_id, "WANDB_RESUME": "allow"}
    with environ_restored(wanted):
        os.environ.update({k: v for k, v in wanted.items() if not os.environ.get(k)})  # the user's own win
        yield


class Curves:
    """DeepSpeed's ``MonitorMaster`` for one run (rank 0 writes; the others hold no writer)."""

    def __init__(self, cfg: CurvesConfig, run_dir: Path, name: str, group: str, created: str) -> None:
        from deepspeed.monitor.config import get_monitor_config
        from deepspeed.monitor.monitor import MonitorMaster

        self.cfg = cfg
        self.folder = Path(cfg.dir).expanduser() if cfg.dir else run_dir / CURVES_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        section = monitor_section(cfg, self.folder, name, group)
        run_id = hashlib.sha256(f"{run_dir.resolve()}|{created}".encode()).hexdigest()[:16]
        with _wandb_env(self.folder, name, run_id):
            self.monitor = MonitorMaster(get_monitor_config(section))
        log.info("training curves: %s in %s", cfg.backend, self.folder)

    def write(self, record: dict[str, Any]) -> None:
        """One step record of the trainer (``step`` is the step just taken, counted from 0)."""
        done = record["step"] + 1
        if done % self.cfg.every:
            return
        events = [(f"train/{key}", float(record[key]), done) for key in SERIES if record.get(key) is not None]
        self.monitor.write_events(events)

    def close(self) -> None:
        tb = getattr(self.monitor, "tb_monitor", None)
        if tb is not None and tb.summary_writer is not None:
            tb.summary_writer.close()
        if getattr(self.monitor, "wandb_monitor", None) is not None:
            import wandb

            wandb.finish()


def open_curves(cfg: CurvesConfig, run_dir: Path, name: str, group: str, created: str) -> Curves | None:
    """The run's curves writer, or None when ``logging=none``."""
    return None if cfg.backend == "none" else Curves(cfg, run_dir, name, group, created)
