"""Keys a composed config holds that its structured config does not define.

Hydra's ``+key=value`` adds a key even where the schema has none (its own error message suggests
the ``+`` form for a typo), and ``OmegaConf.to_object`` then drops it without a word: a run with
``+schedul.total_steps=10`` would train the default schedule. Every app checks its composed
config here first, so such a key stops the command with the other problems of the config.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any

from omegaconf import DictConfig, OmegaConf


def dataclass_of(hint: Any) -> type | None:
    """The dataclass a field's type names (``X`` or ``X | None``), else None."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg) and isinstance(arg, type):
            return arg
    return None


def unknown_keys(cfg: DictConfig | dict, schema: type, prefix: str = "") -> list[str]:
    """Problems naming each key of ``cfg`` (recursively) that ``schema``, a dataclass, lacks.

    Sub-configs typed as dataclasses are checked against their own fields; fields typed as dicts
    or ``Any`` take any keys. Values are not resolved, so interpolations need not be complete.
    """
    hints = typing.get_type_hints(schema)
    names = [f.name for f in dataclasses.fields(schema)]
    keys = list(cfg.keys()) if isinstance(cfg, DictConfig) else list(cfg)
    out: list[str] = []
    for key in keys:
        key = str(key)
        where = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = (f"did you mean {prefix}{close[0]}?" if close
                    else f"{prefix.rstrip('.') or 'the top level'} has no field {key!r}")
            out.append(f"{where}: not a key of the config ({hint}); fix or remove the override")
            continue
        sub = dataclass_of(hints.get(key))
        if sub is None:
            continue
        value = cfg._get_node(key) if isinstance(cfg, DictConfig) else cfg[key]
        if isinstance(value, DictConfig) and not OmegaConf.is_missing(cfg, key) and value._is_none() is False:
            out.extend(unknown_keys(value, sub, prefix=f"{where}."))
        elif isinstance(value, dict):
            out.extend(unknown_keys(value, sub, prefix=f"{where}."))
    return out
