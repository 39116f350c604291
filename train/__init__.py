"""Training: resume Pythia-style GPT-NeoX models under DeepSpeed, and pretrain a small suite on CPU.

Entry points: ``train.run(cfg)`` trains one run (one arm of one seed) from a Hydra config;
``train.compose(overrides)`` builds that config from ``conf/`` without a command line;
``train.make_plan(cfg)`` checks a config and says what a run would do without training.
"""

from __future__ import annotations

from debias.core.lazy import lazy_getattr

_EXPORTS = {
    "run": "debias.train.trainer",
    "RunResult": "debias.train.trainer",
    "make_plan": "debias.train.plan",
    "Plan": "debias.train.plan",
    "compose": "debias.train.compose_config",
    "TrainConfig": "debias.train.config",
    "pythia_lr": "debias.train.lr",
    "read_log": "debias.train.rundir",
    "read_run_info": "debias.train.rundir",
    "RunExistsError": "debias.train.rundir",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
