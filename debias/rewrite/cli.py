"""Command line for the tail rewrite: ``python -m debias.rewrite`` (or ``debias-rewrite``).

    debias-rewrite data=pile data.indexed_path=/data/pile-deduped/document intervention=tail7 workers=16
    debias-rewrite source=runs/orders/x/data tokenizer=runs/orders/x/tokenizer.json intervention=tail21 \\
        schedule.total_steps=1430 schedule.checkpoint_interval=10
    debias-rewrite ... intervention.fraction=null intervention.start_step=120000   # by step
    debias-rewrite ... executor=slurm executor.partition=cpu tasks=4096 workers=512  # a job array
    debias-rewrite ... executor=ray executor.address=auto tasks=4096 workers=512  # a Ray cluster

The source is ``source`` (a .bin/.idx prefix) when given, else the data order of ``data`` (built
and cached by ``debias.data.corpus.prepare_data_order`` when it is a text or synthetic corpus). The
steps come from the intervention: a fraction resolved to the nearest checkpoint step of
``schedule``, or an explicit step. The direction is the intervention's (``swap.direction`` follows
it); the spaCy pipeline and tagging window come from ``swap``; the tasks run on ``executor``
(``debias.rewrite.engine``: local, slurm or ray). After the rewrite the tail is verified unless
``verify=false`` (with slurm: when the command is rerun after the jobs finish).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from debias.config import DataConfig, InterventionConfig, ScheduleConfig, SwapConfig
from debias.config import register_configs as register_data_configs
from debias.core.command_help import CommandHelp, answers_help
from debias.core.conf_dir import CONF_DIR
from debias.core.config_errors import ConfigError, Problems, overlap_problems
from debias.core.config_keys import unknown_keys
from debias.core.errors import exits_on_error
from debias.rewrite.engine import ExecutorConfig
from debias.rewrite.intervention import intervention_problems, intervention_steps

log = logging.getLogger(__name__)


@dataclass
class RewriteConfig:
    """One tail rewrite, by the intervention's method (``debias.rewrite.arms``). ``output`` defaults to
    ``<source folder>/tails/<direction>-<start>-<end>`` (the method and its parameters in front for
    the arms other than the morphological one: ``debias.rewrite.arms.tail_name``)."""

    # conf/data: whose data order is rewritten (when source is None)
    data: DataConfig = field(default_factory=DataConfig)
    # conf/intervention: the arm, its steps, direction and method
    intervention: InterventionConfig = field(default_factory=InterventionConfig)
    # conf/swap: the spaCy pipeline and tagging window (direction: the intervention's)
    swap: SwapConfig = field(default_factory=SwapConfig)
    # conf/schedule: resolves the intervention's fraction to steps
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)  # where the tasks run
    source: str | None = None  # a .bin/.idx prefix to rewrite; None: the data order of data
    tokenizer: str | None = None  # with source: the tokenizer.json its rows were made with
    output: str | None = None  # the tail folder; None: <source folder>/tails/<direction>-<start>-<end>
    data_orders_dir: str = "runs/data_orders"  # where data orders are built and cached
    seed: int = 0  # the pretraining seed whose data order (shuffle data.shuffle_seed + seed) is rewritten
    workers: int = 1  # tasks run at once (local: processes on this machine)
    tasks: int | None = None  # contiguous ranges of rows, the unit of resuming; null: about 64
    shard_rows: int | None = None  # instead of tasks: rows per task
    verify: bool = True  # verify the tail against its source after the rewrite
    progress: bool = True  # tqdm progress bars

    def problems(self) -> list[str]:
        from debias.rewrite.arms import data_problems

        out = intervention_problems(self.intervention, self.schedule) + self.swap.problems()
        out += data_problems(self.intervention, self.data)
        if self.source is None:
            out += self.data.problems()
        elif self.tokenizer is None:
            out.append("source= needs tokenizer= (the tokenizer.json the rows were made with)")
        if self.source is not None and self.data.rows_per_step < 1:  # data.problems() checks it otherwise
            out.append(f"data.rows_per_step={self.data.rows_per_step} must be positive (the rows each step reads)")
        if self.intervention.arm != "intervention":
            out.append(
                f"intervention={self.intervention.name} is a {self.intervention.arm} arm: it trains on the "
                "original rows, so there is nothing to rewrite (pick tail7, tail21, or a custom intervention)"
            )
        if self.swap.direction != self.intervention.direction:
            out.append(
                f"swap.direction={self.swap.direction} differs from intervention.direction="
                f"{self.intervention.direction}; the rewrite's direction is the intervention's: set that one"
            )
        if self.workers < 1:
            out.append(f"workers={self.workers} must be at least 1")
        if self.shard_rows is not None and self.shard_rows < 1:
            out.append(f"shard_rows={self.shard_rows} must be positive")
        if self.tasks is not None and self.tasks < 1:
            out.append(f"tasks={self.tasks} must be at least 1")
        if self.tasks is not None and self.shard_rows is not None:
            out.append("set tasks= or shard_rows=, not both")
        return out + self.executor.problems()


def register_configs() -> None:
    """Put the rewrite's structured configs in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="base_rewrite", node=RewriteConfig)
    cs.store(group="executor", name="base_executor", node=ExecutorConfig)
    register_data_configs()


register_configs()


def run(cfg: RewriteConfig) -> dict[str, Any]:
    """Check the config (every problem at once), rewrite, verify; returns the manifest
    (with the verification summary under ``verified`` when it ran)."""
    problems = Problems("rewrite config")
    for p in cfg.problems():
        problems.add(p)
    problems.raise_if_any()
    from debias.rewrite.arms import TailSpan, rewrite_arm, tail_name, verify_arm

    start, end = intervention_steps(cfg.intervention, cfg.schedule)
    if cfg.source is not None:
        source, tokenizer = Path(cfg.source), Path(cfg.tokenizer)
    else:
        from debias.data.corpus import run_data_order

        source, tokenizer = run_data_order(
            cfg.data, cfg.schedule, cfg.seed, cfg.data_orders_dir, progress=cfg.progress, steps=(start, end),
            workers=cfg.workers,
        )
    iv = cfg.intervention
    output = Path(cfg.output) if cfg.output else source.parent / "tails" / tail_name(iv, start, end)
    overlap = overlap_problems("output", output, inputs={
        "source": source.with_name(source.name + ".bin"), "source's index": source.with_name(source.name + ".idx"),
        "tokenizer": tokenizer})
    if overlap:
        raise ConfigError(overlap, where="rewrite config")
    log.info("rewriting steps %d..%d of %s (%s, %s) into %s", start, end - 1, source, iv.method, iv.direction, output)
    try:
        manifest = rewrite_arm(
            iv,
            TailSpan(source, output, start, end, cfg.data.rows_per_step, tokenizer),
            data=cfg.data,
            shuffle_seed=cfg.data.shuffle_seed + cfg.seed,
            workers=cfg.workers,
            tasks=cfg.tasks,
            executor=cfg.executor,
            spacy_model=cfg.swap.spacy_model,
            context_words=cfg.swap.context_words,
            groups=cfg.swap.groups,
            shard_rows=cfg.shard_rows,
            progress=cfg.progress,
        )
    except ValueError as exc:
        if iv.method == "morphological":
            raise
        raise ConfigError([str(exc)], where=f"{iv.method} rewrite") from exc
    if manifest.get("submitted"):
        print(f"{output}: submitted to slurm (logs in {manifest['logs']}); rerun this command once "
              "the jobs finish to verify the tail")
        return manifest
    result = dict(manifest)
    if cfg.verify:
        on = cfg.executor if cfg.executor.kind == "ray" else ExecutorConfig()
        result["verified"] = verify_arm(source, output, workers=cfg.workers, executor=on, progress=cfg.progress)
    totals = manifest["totals"]
    noncanonical = manifest.get("noncanonical")
    print(
        f"{output}: {'' if iv.method == 'morphological' else iv.method + ', '}steps {start}..{end - 1}, "
        f"{totals['rows']} rows, {totals['swapped']} {'pronouns ' if iv.method == 'morphological' else ''}swapped, "
        f"{totals['left']} left ({100 * totals['left_fraction']:.3f}%)"
        + ("" if noncanonical is None else f", {noncanonical} non-canonical spellings")
        + ("; verified" if cfg.verify else "")
    )
    print(json.dumps(manifest["counts"], indent=1))
    return result


HELP = CommandHelp(
    command="debias-rewrite", config_name="rewrite", schema=RewriteConfig,
    summary="Rewrite the pronouns of a data order's tail in place: every row, length and batch kept, then verified.",
    usage="[data=pile data.indexed_path=PREFIX | source=PREFIX tokenizer=FILE] [intervention=NAME] [KEY=VALUE ...]",
    required=(("data.indexed_path", "data=pile: the Pile's .bin/.idx prefix (or source= with tokenizer=)"),),
    options=("intervention", "source", "tokenizer", "output", "seed", "workers", "tasks", "executor", "verify",
             "swap.groups"),
    examples=("debias-rewrite data=pile data.indexed_path=/data/pile-deduped/document intervention=tail7 workers=16",),
    notes=("A killed rewrite continues where it stopped: run the same command again.",),
)


@answers_help(HELP)
@hydra.main(config_path=str(CONF_DIR), config_name="rewrite", version_base="1.3")
@exits_on_error("debias-rewrite")
def _app(cfg: DictConfig) -> None:
    unknown = unknown_keys(cfg, RewriteConfig)  # a typo'd +key would otherwise be dropped without a word
    if unknown:
        raise ConfigError(unknown, where="rewrite config")
    run(OmegaConf.to_object(cfg))


def main() -> None:
    """Entry point of ``debias-rewrite``."""
    _app()


if __name__ == "__main__":
    main()
