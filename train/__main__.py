"""``python -m train``: one training run configured by Hydra (conf/train.yaml).

    python -m train                                   # pretrain the default small model
    python -m train intervention=tail21 seed=1        # resume seed 1's baseline on the rewritten 21% tail
    python -m train +experiment=pythia-160m-tail7 data.indexed_path=/data/pile-deduped/document
    python -m train -m seed=0,1,2                     # several seeds (Hydra multirun: -m first)
    python -m train +experiment=mini-suite            # the whole study: seeds, arms, evaluation, report
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from debias.config_errors import ConfigError
from debias.config_keys import unknown_keys
from debias.errors import exits_on_error
from train.config import CONF_DIR, TrainConfig
from train.trainer import run

log = logging.getLogger("train")


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
@exits_on_error("train", rerun="rerun with resume=auto")
def main(cfg: DictConfig) -> None:
    if cfg.mode == "study":
        study(cfg)
        return
    result = run(cfg)
    state = "already complete" if result.skipped else "complete"
    log.info("run %s: %s (steps %d..%d); checkpoints in %s", result.run_dir, state, result.start_step,
             result.end_step, result.run_dir / "checkpoints")


def study(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from train.study import run_study

    unknown = unknown_keys(cfg, TrainConfig)
    if unknown:  # before any job starts, not in the first job's worker
        raise ConfigError(unknown, where="study config")
    result = run_study(cfg, HydraConfig.get().overrides.task)
    minutes = result.seconds / 60
    if result.report is not None:
        print(f"\nstudy finished in {minutes:.1f} min; report: {result.report}")
    else:
        print(f"\nstudy finished in {minutes:.1f} min; runs: {', '.join(map(str, result.run_dirs.values()))}")


if __name__ == "__main__":
    main()
