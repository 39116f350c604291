"""``--help`` a person can use: a usage line, the required keys, the options that matter with their
defaults, and one example, instead of Hydra's listing of every config group of the tree.

Each command declares a ``CommandHelp`` and decorates its entry point with ``answers_help``.
Defaults are read from the composed config (with the command line's own overrides, so that
``debias-study +experiment=mini-suite --help`` shows the experiment's values) and each key's
meaning from the comment beside its field in the structured config, where the project documents
every field. Hydra's own listing stays one flag away: ``--help-all``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from debias.core.config_keys import dataclass_of

F = TypeVar("F", bound=Callable[..., Any])

HELP_FLAGS = ("--help", "-h")
FULL_FLAG = "--help-all"
_FIELD = re.compile(r"^\s*(\w+)\s*:[^#]*?(?:#\s*(.*))?$")


@dataclass(frozen=True)
class CommandHelp:
    """What ``<command> --help`` prints. ``options`` are dotted config keys; their defaults come from
    the composed config and their text from the comment beside the field in ``schema``."""

    command: str  # the console script, e.g. debias-train
    config_name: str  # its top-level config in conf/ (train, evaluate, ...)
    schema: type  # the structured config behind it (a dataclass)
    summary: str  # one sentence: what the command does
    usage: str  # the arguments after the command name
    required: tuple[tuple[str, str], ...]  # (key, what it is) a run cannot do without
    options: tuple[str, ...]  # the keys that matter most, at most ten
    examples: tuple[str, ...]  # complete command lines
    notes: tuple[str, ...] = ()  # a line or two more (where results go, how to resume)


def field_doc(schema: type, dotted: str) -> str:
    """The comment documenting ``dotted`` (``eval.tasks.lambada.limit``) in ``schema``: the text after
    ``#`` on the field's line, else the comment lines just above it; empty when there is none."""
    cls: type | None = schema
    *parents, last = dotted.split(".")
    for name in parents:
        cls = dataclass_of(typing.get_type_hints(cls).get(name)) if cls is not None else None
    if cls is None:
        return ""
    return _comments(cls).get(last, "")


@functools.cache
def _comments(cls: type) -> dict[str, str]:
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in lines[1:]:
            stripped = line.strip()
            if stripped.startswith("#"):
                above.append(stripped.lstrip("# ").strip())
                continue
            match = _FIELD.match(line) if line.startswith("    ") and not line.startswith("     ") else None
            if match and match.group(1) in {f.name for f in dataclasses.fields(klass)}:
                text = (match.group(2) or "").strip() or " ".join(above)
                if text:
                    out[match.group(1)] = text
            above = []
    return out


def _defaults(spec: CommandHelp, overrides: Sequence[str]) -> dict[str, tuple[Any, str]]:
    """Each option's value in the composed config (a config group's chosen file, with the files it
    could be) and its text; the config without overrides when those do not compose."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from debias.core.conf_dir import CONF_DIR

    def composed(given: Sequence[str]) -> Any:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(spec.config_name, overrides=list(given), return_hydra_config=True)

    try:
        cfg = composed(overrides)
    except Exception:  # a typo in an override: show the plain defaults; the command itself says what is wrong
        cfg = composed([])
    choices = cfg.hydra.runtime.choices
    out = {}
    for key in spec.options:
        if key in choices:
            files = sorted(p.stem for p in (CONF_DIR / key).glob("*.yaml"))
            shown = ", ".join(files[:8]) + (f", ... ({len(files)} in all)" if len(files) > 8 else "")
            out[key] = (choices[key], f"a file of conf/{key}/: {shown}")
            continue
        value = OmegaConf.select(cfg, key, default="?", throw_on_missing=False)
        value = OmegaConf.to_container(value, resolve=False) if OmegaConf.is_config(value) else value
        out[key] = (value, field_doc(spec.schema, key))
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(map(_shown, value)) + "]"
    return str(value)


def render(spec: CommandHelp, overrides: Sequence[str] = ()) -> str:
    """The help text: usage, summary, required keys, options with defaults, examples."""
    defaults = _defaults(spec, overrides)
    lines = [f"usage: {spec.command} {spec.usage}", "", spec.summary, ""]
    if spec.required:
        lines.append("required:")
        width = max(len(k) for k, _ in spec.required) + 2
        lines += [f"  {key:<{width}}{what}" for key, what in spec.required]
        lines.append("")
    lines.append("options (key=default):")
    pairs = [(f"{key}={_shown(defaults[key][0])}", defaults[key][1]) for key in spec.options]
    width = min(max(len(p) for p, _ in pairs) + 2, 36)
    for pair, doc in pairs:
        lines.append(f"  {pair:<{width}}{doc}" if len(pair) < width else f"  {pair}\n  {'':<{width}}{doc}")
    lines.append("")
    lines.append("example:" if len(spec.examples) == 1 else "examples:")
    lines += [f"  {e}" for e in spec.examples]
    lines.append("")
    lines += list(spec.notes)
    lines.append(f"Every key and config group: {spec.command} {FULL_FLAG}; "
                 f"the composed config: {spec.command} [overrides] --cfg job")
    return "\n".join(lines)


def answers_help(spec: CommandHelp) -> Callable[[F], F]:
    """Decorate a command's entry point: ``--help``/``-h`` prints ``render(spec)`` and exits 0;
    ``--help-all`` becomes Hydra's ``--help`` (every group and key)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            argv = sys.argv[1:]
            if FULL_FLAG in argv:
                sys.argv[1:] = ["--help" if a == FULL_FLAG else a for a in argv]
            elif any(a in HELP_FLAGS for a in argv):
                overrides = [a for a in argv if not a.startswith("-")]
                print(render(spec, overrides))
                raise SystemExit(0)
            return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate
