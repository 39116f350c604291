"""The options of ``eval.tasks.winogender``: on or off, and a seeded subsample of its 720 items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from eval.tasks.common import Planned, WholeTask


@dataclass
class WinoGenderTask(WholeTask):
    KEY: ClassVar[str] = "winogender"  # the options' key under eval.tasks, and the item table's name
    YAML: ClassVar[str] = "winogender.yaml"  # the lm-eval task in this folder


def plans(t: WinoGenderTask, seed: int) -> list[Planned]:
    return t.plans(seed)


OPTIONS = WinoGenderTask  # what eval.config.TasksConfig.winogender holds
