"""Training: resume Pythia-style GPT-NeoX models under DeepSpeed, and pretrain a small suite on CPU.

Entry points: ``train.run(cfg)`` trains one run (one arm of one seed) from a Hydra config;
``train.compose(overrides)`` builds that config from ``conf/`` without a command line;
``train.make_plan(cfg)`` checks a config and says what a run would do without training.
"""

from __future__ import annotations

from debias.core.lazy import lazy_getattr

_EXPORTS = {
    "run": "train.trainer",
    "RunResult": "train.trainer",
    "make_plan": "train.plan",
    "Plan": "train.plan",
    "compose": "train.compose_config",
    "TrainConfig": "train.config",
    "pythia_lr": "train.lr",
    "read_log": "train.rundir",
    "read_run_info": "train.rundir",
    "RunExistsError": "train.rundir",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
