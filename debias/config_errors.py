"""Collect every problem with a configuration and report them together."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration has one or more problems; ``problems`` lists each in words a user can act on."""

    def __init__(self, problems: list[str], where: str = "config") -> None:
        self.problems = list(problems)
        self.where = where
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) with the {where}:\n{lines}")

    def __reduce__(self) -> tuple:
        # Rebuilt from its parts when it crosses a process boundary (the study's worker processes).
        return (self.__class__, (self.problems, self.where))


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
