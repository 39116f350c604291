"""Evaluation: bias and language-model benchmarks through lm-eval, comparisons and the report.

The study calls (names load on first use)::

    from debias.eval import EvalConfig, evaluate_run, compare_arms, write_report
    cfg = EvalConfig()                                   # or OmegaConf.to_object(composed conf/eval/...)
    control = [evaluate_run(d, cfg)[-1] for d in control_dirs]     # final checkpoints, one per seed
    treated = [evaluate_run(d, cfg)[-1] for d in intervention_dirs]
    table = compare_arms(control, treated, cfg.stats)    # two-level bootstrap, paired by seed
    table.row("winobias/association")                    # .diff .low .high .p_value .significant
    write_report(run_dirs, cfg, "report/")               # report.html, report.md, results.json
"""

from __future__ import annotations

from debias.core.lazy import lazy_getattr

_EXPORTS = {
    "EvalConfig": "debias.eval.config",
    "StatsConfig": "debias.eval.config",
    "evaluate_checkpoint": "debias.eval.runner",
    "evaluate_run": "debias.eval.runner",
    "evaluate_paths": "debias.eval.runner",
    "MissingResultsError": "debias.eval.runner",
    "CheckpointResults": "debias.eval.results",
    "compare_checkpoints": "debias.eval.compare",
    "compare_arms": "debias.eval.compare",
    "ComparisonTable": "debias.eval.compare",
    "run_series": "debias.eval.series",
    "arm_series": "debias.eval.series",
    "emergence": "debias.eval.series",
    "METRICS": "debias.eval.metrics",
    "write_report": "debias.eval.report",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
