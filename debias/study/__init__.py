"""The whole study: pretrain several seeds, resume each arm from each, evaluate every run, report.

The one place above ``train`` and ``eval``: it uses both, neither imports the other, and no other
module of ``debias`` imports this package. ``python -m debias.study +experiment=mini-suite`` (or
``debias-study``) runs it; in Python::

    from debias.study import compose_study, run_study
    overrides = ["+experiment=mini-suite", "runs_root=runs/x"]
    result = run_study(compose_study(overrides), overrides)   # .run_dirs, .report, .jobs
"""

from __future__ import annotations

from debias.core.lazy import lazy_getattr

_EXPORTS = {
    "StudyAppConfig": "debias.study.config",
    "StudyConfig": "debias.study.config",
    "compose_study": "debias.study.run",
    "plan_study": "debias.study.run",
    "run_study": "debias.study.run",
    "StudyResult": "debias.study.run",
    "StudyError": "debias.study.run",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
