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


def name_problems(key: str, value: str | None) -> list[str]:
    """Why ``key=value`` cannot name a folder under a root: a name is one path component (not empty,
    not ``.`` or ``..``, no ``/`` or ``\\``, no NUL), so that ``<root>/<name>`` stays under ``<root>``
    and ``overwrite=true`` can only ever clear a folder this project made there."""
    if value is None:
        return []
    text = str(value)
    if text in ("", ".", "..") or any(c in text for c in ("/", "\\", "\0")) or text != text.strip():
        return [f"{key}={text!r} is not a name: it must be one folder name (no '/', not '.' or '..', "
                "no leading or trailing spaces); choose another"]
    return []


def overlap_problems(key: str, folder: str | os.PathLike, *, inputs: dict[str, str | os.PathLike | None]) -> list[str]:
    """Why the folder ``key=folder`` must not be written into: one of ``inputs`` (files) lies in it,
    under any spelling of either path (relative, through a symlink), or a file already in it is one
    of them under another name (a hard link)."""
    out_dir = Path(folder).expanduser().resolve()
    found: list[str] = []
    for name, given in inputs.items():
        if not given:
            continue
        path = Path(given).expanduser()
        if path.resolve().is_relative_to(out_dir):
            found.append(f"{key}={folder} holds the input {name}={given}: writing there would overwrite it; "
                         "write to another folder")
            continue
        try:
            ident = path.stat()
        except OSError:
            continue
        if out_dir.is_dir():
            for entry in out_dir.rglob("*"):
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if entry.is_file() and (st.st_dev, st.st_ino) == (ident.st_dev, ident.st_ino):
                    found.append(f"{key}={folder} holds {entry.name}, the same file as {name}={given} (a hard "
                                 "link): writing there would overwrite it; write to another folder")
                    break
    return found


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
