"""The options of ``eval.tasks.winogender``: on or off, and a seeded subsample of its 240 items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from debias.eval.tasks.common import WholeTask


@dataclass
class WinoGenderTask(WholeTask):
    KEY: ClassVar[str] = "winogender"  # the options' key under eval.tasks, and the item table's name
    YAML: ClassVar[str] = "winogender.yaml"  # the lm-eval task in this folder


# what eval.config.TasksConfig.winogender holds, and the task it asks for
OPTIONS, plans = WinoGenderTask, WinoGenderTask.plans
