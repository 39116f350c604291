"""Collect every problem with a configuration and report them together."""

from __future__ import annotations

import os
from pathlib import Path

from debias.core.errors import DebiasError


class ConfigError(DebiasError, ValueError):
    """A configuration has one or more problems; ``problems`` lists each in words a user can act on."""

    def __init__(self, problems: list[str], where: str = "config") -> None:
        self.problems = list(problems)
        self.where = where
        lines = "\n".join(f"  - {p}" for p in self.problems)
        # As a DebiasError: ``path`` is where (the config), ``problem`` every problem (each says its fix).
        super().__init__(f"{len(self.problems)} problem(s) with the {where}:\n{lines}", path=where,
                         problem="; ".join(self.problems), fix="fix each and rerun")


class Problems:
    """Accumulates problems; ``raise_if_any`` raises one ConfigError naming them all."""

    def __init__(self, where: str = "config") -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.items.append(message)
        return ok

    def extend(self, other: Problems) -> None:
        self.items.extend(other.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items, where=self.where)


def output_problems(key: str, output: str | os.PathLike, *, inputs: dict[str, str | os.PathLike | None],
                    overwrite: bool) -> list[str]:
    """Why ``key=output`` must not be written: it is one of ``inputs`` (the same file under any name),
    or it exists and ``overwrite`` is off. Every file a command writes is checked like this."""
    out = Path(output).expanduser()
    for name, given in inputs.items():
        if given and out.resolve() == Path(given).expanduser().resolve():
            return [f"{key}={output} is the same file as {name}={given}; write to a new file"]
    if out.is_dir():
        return [f"{key}={output} is a directory; name a file"]
    if out.exists() and not overwrite:
        return [f"{key}={output} exists; pass overwrite=true to replace it, or name a new file"]
    return []
