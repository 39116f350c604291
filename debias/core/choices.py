"""Config fields whose allowed values are a ``Literal`` type.

OmegaConf 2.3 (Hydra 1.3) refuses ``Literal`` annotations in structured configs, and an ``Enum``
field would stop a composition at its first bad value, where our configs report every problem at
once. So such a field is declared ``str`` for OmegaConf and carries its ``Literal`` in the
dataclass field's metadata: the Literal is the one list of allowed values, for the type checker
(function signatures use the same alias), for ``choice_problems`` and for the error text.

    Direction = Literal["to_feminine", "to_masculine", "both"]

    @dataclass
    class SwapConfig:
        direction: str = choice(Direction, "to_feminine")  # ...

        def problems(self) -> list[str]:
            return choice_problems(self, "swap") + [...]
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

CHOICES = "choices"  # the metadata key holding a field's Literal


def values(allowed: Any) -> tuple[str, ...]:
    """The values of a ``Literal`` type, in declaration order."""
    args = get_args(allowed)
    if not args or any(not isinstance(a, str) for a in args):
        raise TypeError(f"{allowed!r} is not a Literal of strings")
    return args


def choice(allowed: Any, default: str) -> Any:
    """A ``str`` field allowed only the values of ``allowed`` (a Literal), defaulting to ``default``."""
    if default not in values(allowed):
        raise TypeError(f"the default {default!r} is not one of {', '.join(values(allowed))}")
    return dataclasses.field(default=default, metadata={CHOICES: allowed})


def choices(allowed: Any, default: list[str]) -> Any:
    """A ``list[str]`` field of one or more values of ``allowed`` (a Literal)."""
    bad = [d for d in default if d not in values(allowed)]
    if bad or not default:
        raise TypeError(f"the default {default!r} is not one or more of {', '.join(values(allowed))}")
    return dataclasses.field(default_factory=lambda: list(default), metadata={CHOICES: allowed})


def allowed_values(cfg: Any, name: str) -> tuple[str, ...] | None:
    """The allowed values of field ``name`` of the dataclass ``cfg``, or None for a free field."""
    for f in dataclasses.fields(cfg):
        if f.name == name:
            return values(f.metadata[CHOICES]) if CHOICES in f.metadata else None
    raise KeyError(name)


def choice_problems(cfg: Any, where: str) -> list[str]:
    """One line per field of ``cfg`` holding a value its Literal does not allow (``where``: the
    config's key path, e.g. ``swap``; empty at the top level)."""
    out = []
    for f in dataclasses.fields(cfg):
        if CHOICES not in f.metadata:
            continue
        allowed, value = values(f.metadata[CHOICES]), getattr(cfg, f.name)
        key = f"{where}.{f.name}" if where else f.name
        if isinstance(value, str) or value is None:
            if value not in allowed:
                out.append(f"{key}={value!r} is not one of {', '.join(allowed)}")
        elif not value or any(v not in allowed for v in value):
            out.append(f"{key}={list(value)} must be one or more of {', '.join(allowed)}")
    return out
