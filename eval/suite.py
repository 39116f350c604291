"""Which lm-eval tasks an ``EvalConfig`` asks for, and how each task's logged samples become items.

A ``TaskPlan`` pairs one task YAML of a benchmark folder in ``eval/tasks`` with its options
(``dataset_kwargs``). Its ``key`` hashes everything that changes the scores (options, data files, task version, dtype), so a
cached result is reused only when it would come out the same. Items are stored as columns (one
list per field, aligned with ``id``) so that every metric and every resampling works from them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from debias.eval.config import EvalConfig
from debias.eval.tasks import TASKS_DIR, registry
from debias.eval.tasks.common import Columns
from debias.eval.tasks.registry import TaskDef

log = logging.getLogger(__name__)

__all__ = ["TASKS", "TASKS_DIR", "Columns", "TaskDef", "TaskPlan", "plan_tasks"]


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


def plan_tasks(cfg: EvalConfig) -> list[TaskPlan]:
    """The tasks ``cfg`` enables, with their options, in registry order (``eval.tasks.registry``)."""
    return [TaskPlan(p.name, f"{b.name}/{p.yaml}", p.options, p.base)
            for b in registry.BENCHMARKS for p in b.plans(getattr(cfg.tasks, b.name), cfg.seed)]


TASKS: dict[str, TaskDef] = registry.task_defs()
