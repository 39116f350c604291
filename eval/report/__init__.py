"""The bias report: ``python -m debias.eval.report runs=[...]`` or ``write_report(run_dirs, cfg, out)``;
of released models, ``python -m debias.eval.report compare=[A,B]`` or ``write_pairs_report(pairs, cfg, out)``.

Writes ``report.html`` (one self-contained file: tables and inline plots), ``report.md`` (with
``figures/*.png``; each figure also as ``.pdf`` and its numbers as ``.csv``) and ``results.json``
(every number in the report).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debias.core.atomic import write_bytes, write_text
from debias.eval.config import EvalConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    results: Path


def write_report(run_dirs: Sequence[str | Path], cfg: EvalConfig, out: str | Path, *,
                 title: str = "pythia-debias: bias intervention report", evaluate_missing: bool = True) -> ReportPaths:
    """Evaluate what the caches lack (unless told not to), then write the report into ``out``."""
    from debias.eval.report.plots import forest_figure, series_figure
    from debias.eval.report.render import render_html, render_markdown
    from debias.eval.report.study import load_runs, study

    out = Path(out).expanduser().resolve()
    runs = load_runs(run_dirs, cfg, compute=evaluate_missing)
    data = study(runs, cfg, title)
    figures = {name: series_figure(name, s, data) for name, s in data["series"].items()}
    if (forest := forest_figure(data)) is not None:
        figures["forest/link"] = forest
    files = _write_figures(out, figures)
    paths = ReportPaths(out / "report.html", out / "report.md", out / "results.json")
    write_text(paths.results, json.dumps(data, indent=1, default=str, allow_nan=True) + "\n")
    write_text(paths.markdown, render_markdown(data, files))
    write_text(paths.html, render_html(data, {name: f.png for name, f in figures.items()}))
    log.info("report written to %s", paths.html)
    return paths


def write_pairs_report(pairs: Sequence[Any], cfg: EvalConfig, out: str | Path, *,
                       title: str = "pythia-debias: model comparison", evaluate_missing: bool = True,
                       hub_cache: str | None = None) -> ReportPaths:
    """Pairs of models (``eval.report.pairs.ModelPair``), each evaluated where the results lack it,
    compared item by item under the protocol; the same three files as ``write_report``."""
    from debias.eval.report.pairs import pairs_data
    from debias.eval.report.plots import series_figure
    from debias.eval.report.render import render_pairs_html, render_pairs_markdown

    out = Path(out).expanduser().resolve()
    data = pairs_data(pairs, cfg, title, compute=evaluate_missing, hub_cache=hub_cache)
    data["intervention_starts"] = []
    data["arms"] = [{"label": m["spec"], "role": "intervention"} for m in data["models"]]
    figures = {name: series_figure(name, s, data) for name, s in data["series"].items()}
    files = _write_figures(out, figures)
    paths = ReportPaths(out / "report.html", out / "report.md", out / "results.json")
    write_text(paths.results, json.dumps(data, indent=1, default=str, allow_nan=True) + "\n")
    write_text(paths.markdown, render_pairs_markdown(data, files))
    write_text(paths.html, render_pairs_html(data, {name: f.png for name, f in figures.items()}))
    log.info("report written to %s", paths.html)
    return paths


def _write_figures(out: Path, figures: dict[str, Any]) -> dict[str, str]:
    """Each figure as ``figures/<name>.png`` (returned, for the Markdown), ``.pdf`` and ``.csv``."""
    files = {}
    for name, fig in figures.items():
        stem = f"figures/{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}"
        write_bytes(out / f"{stem}.png", fig.png)
        write_bytes(out / f"{stem}.pdf", fig.pdf)
        write_text(out / f"{stem}.csv", fig.csv)
        files[name] = f"{stem}.png"
    return files
