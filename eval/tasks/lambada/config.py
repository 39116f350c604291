"""The options of ``eval.tasks.lambada``: on or off, and a seeded subsample of its passages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from debias.eval.tasks.common import WholeTask


@dataclass
class LambadaTask(WholeTask):
    """LAMBADA (OpenAI test set, 5,153 passages); ``limit`` takes a seeded subsample of passages."""

    KEY: ClassVar[str] = "lambada"  # the options' key under eval.tasks, and the item table's name
    YAML: ClassVar[str] = "lambada.yaml"  # the lm-eval task in this folder


# what eval.config.TasksConfig.lambada holds, and the task it asks for
OPTIONS, plans = LambadaTask, LambadaTask.plans
