"""Config fields with a fixed set of values: each carries its ``Literal`` (debias.core.choices), and
every config that has such a field reports a bad value of it, naming the field and every allowed
value, beside its other problems."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Literal

import pytest

from debias.core.choices import CHOICES, allowed_values, choice, choice_problems, choices, values

CONFIG_MODULES = ("debias.config", "debias.rewrite.engine", "debias.swap.cli", "debias.train.config", "debias.eval.config")


def _configs() -> list[type]:
    found = []
    for name in CONFIG_MODULES:
        module = importlib.import_module(name)
        found += [obj for obj in vars(module).values() if dataclasses.is_dataclass(obj) and isinstance(obj, type)
                  and obj.__module__ == name and hasattr(obj, "problems")]
    return found


CHOICE_FIELDS = [(cls, f.name) for cls in _configs() for f in dataclasses.fields(cls) if CHOICES in f.metadata]


def test_the_fields_with_fixed_values_carry_their_literal() -> None:
    names = {f"{cls.__name__}.{name}" for cls, name in CHOICE_FIELDS}
    assert {"SwapConfig.direction", "SwapConfig.groups", "DataConfig.source", "InterventionConfig.method",
            "InterventionConfig.arm", "ExecutorConfig.kind", "DeepSpeedConfig.precision", "TrainConfig.mode",
            "ModelConfig.attn_implementation", "SwapFileConfig.format", "CheckpointSelection.which",
            "EvalConfig.dtype", "StatsConfig.method"} <= names
    assert len(names) >= 21


@pytest.mark.parametrize(("cls", "name"), CHOICE_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in CHOICE_FIELDS])
def test_a_bad_value_of_each_is_reported_with_every_allowed_value(cls: type, name: str) -> None:
    cfg = cls()
    allowed = allowed_values(cfg, name)
    default = getattr(cfg, name)
    assert (default in allowed) if isinstance(default, str) else set(default) <= set(allowed)
    setattr(cfg, name, "bogus" if isinstance(default, str) else ["bogus"])
    hits = [p for p in cfg.problems() if f"{name}=" in p and "bogus" in p]
    assert len(hits) == 1, cfg.problems()
    assert all(v in hits[0] for v in allowed)


def test_every_bad_value_is_reported_at_once() -> None:
    Colour = Literal["red", "green"]
    Size = Literal["s", "m", "l"]

    @dataclasses.dataclass
    class Probe:
        colour: str = choice(Colour, "red")
        sizes: list[str] = choices(Size, ["s"])
        free: str = "anything"

    assert choice_problems(Probe(), "probe") == []
    assert choice_problems(Probe(colour="blue", sizes=["m", "xl"], free="x"), "probe") == [
        "probe.colour='blue' is not one of red, green", "probe.sizes=['m', 'xl'] must be one or more of s, m, l"]
    assert choice_problems(Probe(sizes=[]), "") == ["sizes=[] must be one or more of s, m, l"]
    assert values(Size) == ("s", "m", "l") and allowed_values(Probe(), "free") is None
    with pytest.raises(TypeError, match="not one of red, green"):
        choice(Colour, "blue")
