"""``python -m debias.study`` (``debias-study``): the whole study configured by Hydra (conf/study.yaml).

    python -m debias.study +experiment=mini-suite       # what `make demo` runs
    python -m debias.study +experiment=mini-suite 'study.arms=[tail7,control7,tail21,control21]' runs_root=runs/tails
    python -m debias.study +experiment=gutenberg-suite runs_root=runs/gutenberg
    python -m debias.study +experiment=mini-suite hydra/launcher=slurm-cpu hydra.launcher.partition=cpu

The same command again after a crash or Ctrl-C finishes only what is left.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from debias.core.command_help import CommandHelp, answers_help
from debias.core.conf_dir import CONF_DIR
from debias.core.config_errors import ConfigError
from debias.core.config_keys import unknown_keys
from debias.core.errors import exits_on_error
from debias.study.config import StudyAppConfig

HELP = CommandHelp(
    command="debias-study", config_name="study", schema=StudyAppConfig,
    summary="The whole study: every seed's baseline and arms trained, evaluated and reported, as jobs.",
    usage="[+experiment=NAME] [study.seeds=[...]] [study.arms=[...]] [KEY=VALUE ...]",
    required=(),
    options=("study.seeds", "study.arms", "study.parallel", "model", "data", "eval", "protocol", "runs_root",
             "study.report_dir", "logging"),
    examples=("debias-study +experiment=mini-suite study.seeds=[0] study.arms=[control21,tail21]",),
    notes=("Stopped (Ctrl-C, SIGTERM), it stops every job; the same command again finishes the rest.",),
)


@answers_help(HELP)
@hydra.main(config_path=str(CONF_DIR), config_name="study", version_base="1.3")
@exits_on_error("debias-study", rerun="run the same command again (finished work is kept)")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from debias.study.run import run_study

    unknown = unknown_keys(cfg, StudyAppConfig)
    if unknown:  # before any job starts, not in the first job's worker
        raise ConfigError(unknown, where="study config")
    result = run_study(cfg, HydraConfig.get().overrides.task)
    minutes = result.seconds / 60
    if result.report is not None:
        print(f"\nstudy finished in {minutes:.1f} min; report: {result.report}")
        from debias.eval.report.reading import headline_of

        print("\n".join(headline_of(result.report.parent / "results.json")))
    else:
        print(f"\nstudy finished in {minutes:.1f} min; runs: {', '.join(map(str, result.run_dirs.values()))}")


if __name__ == "__main__":
    main()
