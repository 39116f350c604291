"""Swap the pronouns of a text or JSONL file into a new file: ``python -m debias.swap
input=book.txt output=book.fem.txt [swap.direction=both] [text_field=text]`` (also ``debias-swap``).

A ``.jsonl`` file holds one JSON document per line; its ``text_field`` is swapped and every other
field kept. Any other file is plain UTF-8 text, swapped whole, with every byte outside the pronouns
kept. Plain text is read a paragraph at a time (cut after blank lines, which no tagging window
crosses, so the result equals swapping the whole file at once). The output appears only when
complete (written to a temporary name, then renamed).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from tqdm import tqdm

from debias.config import SwapConfig
from debias.config import register_configs as register_data_configs
from debias.core.atomic import atomic_path, write_json
from debias.core.choices import choice, choice_problems, values
from debias.core.command_help import CommandHelp, answers_help
from debias.core.conf_dir import CONF_DIR
from debias.core.config_errors import ConfigError, Problems, output_problems
from debias.core.config_keys import unknown_keys
from debias.core.contracts import empty_counts, merge_counts
from debias.core.errors import exits_on_error
from debias.core.input_errors import json_field_problem
from debias.swap.pieces import SwapFileError, lines, paragraphs

log = logging.getLogger(__name__)

Format = Literal["auto", "txt", "jsonl"]  # how the input file is read
FORMATS = values(Format)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
MAX_BATCH_CHARS = 1 << 20  # characters in one batch for the swapper, at most (with batch_size texts at most)


@dataclass
class SwapFileConfig:
    """The swap command line: which file, where to, and how (``swap``, see SwapConfig)."""

    input: str | None = None  # the .txt or .jsonl file to swap (required)
    output: str | None = None  # the file to write (required; not the input)
    text_field: str = "text"  # jsonl: the field holding each document's text
    format: str = choice(Format, "auto")  # a Format: auto (by the input's suffix), txt, jsonl
    overwrite: bool = False  # replace an existing output (and counts_file)
    counts_file: str | None = None  # also write the swap's counts there as JSON; None: none
    swap: SwapConfig = field(default_factory=SwapConfig)  # conf/swap: how pronouns are swapped

    def resolved_format(self) -> str:
        if self.format != "auto":
            return self.format
        return "jsonl" if Path(self.input or "").suffix.lower() in JSONL_SUFFIXES else "txt"

    def problems(self) -> list[str]:
        found = Problems("swap command line")
        if found.check(bool(self.input), "input= is required (a .txt or .jsonl file)"):
            given = Path(self.input)
            if given.is_dir():
                found.add(f"input={self.input} is a directory; name a .txt or .jsonl file")
            elif given.exists() and not given.is_file():
                found.add(f"input={self.input} is not a regular file (a FIFO, socket or device): the swap reads "
                          "its input twice (to count, then to swap); give a file")
            else:
                found.check(given.is_file(), f"input={self.input}: no such file")
        if found.check(bool(self.output), "output= is required (the file to write)"):
            out = Path(self.output)
            if self.input and out.resolve() == Path(self.input).resolve():
                found.add(f"output={self.output} is the input file; write to a new file")
            elif out.exists() and not self.overwrite:
                found.add(f"output={self.output} exists; pass overwrite=true to replace it")
        if self.counts_file:
            for problem in output_problems("counts_file", self.counts_file, inputs={
                    "input": self.input, "output": self.output}, overwrite=self.overwrite):
                found.add(problem)
        for key, target in (("output", self.output), ("counts_file", self.counts_file)):
            # before any work: a counts_file that cannot be written once the output is done would leave
            # the output written and the command failed
            if target and not _writable(Path(target)):
                found.add(f"{key}={target}: cannot be written there (no permission); choose a writable place")
        for problem in choice_problems(self, ""):
            found.add(problem)
        found.check(bool(self.text_field), "text_field= must name the JSONL field that holds the text")
        for problem in self.swap.problems():
            found.add(problem)
        return found.items


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="base_swap_file", node=SwapFileConfig)
    register_data_configs()


register_configs()


def _writable(path: Path) -> bool:
    """Whether ``path`` can be created or replaced: its folder is writable (the file is written under
    a temporary name there, then renamed) and, when it exists, the file itself too."""
    folder = path.expanduser().absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK) and (not path.exists() or os.access(path, os.W_OK))


def _documents(path: Path, text_field: str, bar: tqdm) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """(line ending, JSON object or None for a blank line, text) per line of a JSONL file."""
    for number, line in _whole_lines(path, bar):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        if not body.strip():
            yield ending, None, ""
            continue
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as err:
            raise SwapFileError(f"{path}: line {number} is not JSON ({err.msg}); each line must be one JSON object") from None
        problem = json_field_problem(doc, text_field)
        if problem is not None:
            raise SwapFileError(
                f"{path}: line {number} {problem}; name the text field with text_field=NAME"
            )
        if "\\ud" in body.lower():  # an escaped lone surrogate decodes to a str no encoding can write
            try:
                json.dumps(doc, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as err:
                raise SwapFileError(
                    f"{path}: line {number} holds a lone surrogate (\\u{ord(err.object[err.start]):04x}), which is "
                    "not text in any encoding; fix or drop that line"
                ) from None
        yield ending, doc, doc[text_field]


def _whole_lines(path: Path, bar: tqdm) -> Iterator[tuple[int, str]]:
    """(line number, the whole line with its ending): a JSON object cannot be parsed in pieces."""
    parts: list[str] = []
    for number, text, whole in lines(path, bar):
        parts.append(text)
        if whole:
            yield number, "".join(parts)
            parts = []


def _batches(items: Iterator[Any], size: int, chars: Any = len) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` items and ``MAX_BATCH_CHARS`` characters (``chars``
    of an item), an item over that alone in a list of its own: memory bounded by the text, not the count."""
    batch: list[Any] = []
    held = 0
    for item in items:
        n = chars(item)
        if batch and held + n > MAX_BATCH_CHARS:
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += n
        if len(batch) >= size:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def swap_file(cfg: SwapFileConfig, swapper: Any = None) -> dict[str, Any]:
    """Swap ``cfg.input`` into ``cfg.output``; returns the totals: documents, counts per form
    (seen/swapped/left) and the reasons occurrences were left."""
    problems = cfg.problems()
    if problems:
        raise ConfigError(problems, where="swap command line")
    if swapper is None:
        from debias.swap.torchless import load_swapper

        swapper = load_swapper(
            cfg.swap.direction, cfg.swap.spacy_model,
            batch_size=cfg.swap.batch_size, context_words=cfg.swap.context_words,
            groups=cfg.swap.groups,
        )
    src, dest, fmt = Path(cfg.input), Path(cfg.output), cfg.resolved_format()
    counts, documents = empty_counts(swapper.forms), 0

    bar = tqdm(total=src.stat().st_size, unit="B", unit_scale=True, desc=f"swap {src.name}")
    with bar, atomic_path(dest) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        if fmt == "jsonl":
            for batch in _batches(_documents(src, cfg.text_field, bar), cfg.swap.batch_size, lambda d: len(d[2])):
                swapped = iter(swapper.swap_batch([text for _, doc, text in batch if doc is not None]))
                merge_counts(counts, swapper.counts)
                for ending, doc, _ in batch:
                    if doc is not None:
                        doc[cfg.text_field] = next(swapped)
                        documents += 1
                        out.write(json.dumps(doc, ensure_ascii=False))
                    out.write(ending)
        else:
            for batch in _batches(paragraphs(src, bar, swapper), cfg.swap.batch_size):
                out.write("".join(swapper.swap_batch(batch)))
                merge_counts(counts, swapper.counts)
            documents = 1
    totals = {
        "input": str(src), "output": str(dest), "format": fmt, "direction": cfg.swap.direction,
        **getattr(swapper, "model_info", {}), "documents": documents, "counts": counts,
    }
    if cfg.counts_file:
        write_json(cfg.counts_file, totals)
    return totals


HELP = CommandHelp(
    command="debias-swap", config_name="swap_file", schema=SwapFileConfig,
    summary="Swap gendered pronouns in a .txt or .jsonl file, each form by its grammar (his -> her or hers).",
    usage="input=FILE output=FILE [KEY=VALUE ...]",
    required=(("input", "the .txt or .jsonl file to swap"), ("output", "the file to write (not the input)")),
    options=("swap.direction", "swap.groups", "format", "text_field", "counts_file", "overwrite",
             "swap.batch_size", "swap.spacy_model"),
    examples=("debias-swap input=book.txt output=book.fem.txt",
              "debias-swap input=docs.jsonl output=docs.masc.jsonl swap.direction=to_masculine counts_file=counts.json"),
)


@answers_help(HELP)
@hydra.main(config_path=str(CONF_DIR), config_name="swap_file", version_base="1.3")
@exits_on_error("debias-swap")
def main(cfg: Any) -> None:
    """Command-line entry point (``debias-swap``)."""
    unknown = unknown_keys(cfg, SwapFileConfig)  # a typo'd +key would otherwise be dropped without a word
    if unknown:
        raise ConfigError(unknown, where="swap command line")
    config: SwapFileConfig = OmegaConf.to_object(cfg)
    totals = swap_file(config)
    summary = ", ".join(
        f"{form} {row['swapped']}/{row['seen']}" for form, row in totals["counts"].items() if row["seen"]
    )
    log.info("wrote %s (%s): swapped/seen %s", totals["output"], totals["direction"], summary or "no pronouns")


if __name__ == "__main__":
    main()
