"""``python -m debias.train``: one training run configured by Hydra (conf/train.yaml).

    python -m debias.train                                   # pretrain the default small model
    python -m debias.train intervention=tail21 seed=1        # resume seed 1's baseline on the rewritten 21% tail
    python -m debias.train +experiment=pythia-160m-tail7 data.indexed_path=/data/pile-deduped/document
    python -m debias.train -m seed=0,1,2                     # several seeds (Hydra multirun: -m first)

The whole study (seeds, arms, evaluation, report) is ``python -m debias.study +experiment=mini-suite``;
given here, its overrides are refused with that advice before Hydra composes anything.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from debias.core.command_help import CommandHelp, answers_help
from debias.core.config_errors import ConfigError
from debias.core.errors import exits_on_error
from debias.train.compose_config import study_keys
from debias.train.config import CONF_DIR, TrainConfig
from debias.train.trainer import run

log = logging.getLogger("debias.train")


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
@exits_on_error("debias-train", rerun="rerun with resume=auto")
def _app(cfg: DictConfig) -> None:
    result = run(cfg)
    state = "already complete" if result.skipped else "complete"
    log.info("run %s: %s (steps %d..%d); checkpoints in %s", result.run_dir, state, result.start_step,
             result.end_step, result.run_dir / "checkpoints")


@exits_on_error("debias-train")
def _refuse_study(argv: list[str]) -> None:
    """A study's overrides would fail in Hydra's composition with "Key 'study' not in 'TrainConfig'"."""
    problems = study_keys([a for a in argv if not a.startswith("-")])
    if problems:
        raise ConfigError(problems, where="training config")


HELP = CommandHelp(
    command="debias-train", config_name="train", schema=TrainConfig,
    summary="One training run: pretrain a baseline, or resume it at the intervention's step on the rewritten tail.",
    usage="[+experiment=NAME] [KEY=VALUE ...]",
    required=(),
    options=("intervention", "model", "data", "seed", "schedule", "deepspeed", "runs_root", "resume", "logging",
             "source.optimizer"),
    examples=("debias-train +experiment=mini-test                       # pretrain a 0.5M model (1-2 min on a CPU)",
              "debias-train +experiment=mini-test intervention=tail21  # resume it at 79% on the rewritten tail"),
    notes=("Runs go to <runs_root>/<name>/; a killed run continues with resume=auto. Experiments: conf/experiment/.",),
)


@answers_help(HELP)
def main() -> None:
    _refuse_study(sys.argv[1:])
    _app()


if __name__ == "__main__":
    main()
