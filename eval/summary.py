"""A compact text table of headline metrics per checkpoint, for the command line."""

from __future__ import annotations

from collections.abc import Sequence

from debias.eval.metrics import BY_NAME
from debias.eval.results import CheckpointResults
from debias.eval.tasks.registry import summary_metrics

HEADLINE = summary_metrics()  # each benchmark's own, in registry order (eval.tasks.registry)


def summary_table(results: Sequence[CheckpointResults], metrics: Sequence[str] = HEADLINE) -> str:
    """Markdown table: one row per checkpoint, one column per metric that any checkpoint has."""
    values = [r.metrics() for r in results]
    shown = [m for m in metrics if any(m in v for v in values)]
    lines = ["| checkpoint | progress | " + " | ".join(shown) + " |",
             "|---|---:|" + "---:|" * len(shown)]
    for r, v in zip(results, values, strict=True):
        progress = f"{r.fraction:.3f}" if r.fraction is not None else "-"
        cells = [format(v[m], BY_NAME[m].fmt) if m in v else "-" for m in shown]
        lines.append(f"| {r.name} | {progress} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
