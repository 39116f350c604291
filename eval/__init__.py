"""Evaluation: bias and language-model benchmarks through lm-eval, comparisons and the report.

The study calls (names load on first use)::

    from eval import EvalConfig, evaluate_run, compare_arms, write_report
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
    "EvalConfig": "eval.config",
    "StatsConfig": "eval.config",
    "evaluate_checkpoint": "eval.runner",
    "evaluate_run": "eval.runner",
    "evaluate_paths": "eval.runner",
    "MissingResultsError": "eval.runner",
    "CheckpointResults": "eval.results",
    "compare_checkpoints": "eval.compare",
    "compare_arms": "eval.compare",
    "ComparisonTable": "eval.compare",
    "run_series": "eval.series",
    "arm_series": "eval.series",
    "emergence": "eval.series",
    "METRICS": "eval.metrics",
    "write_report": "eval.report",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
