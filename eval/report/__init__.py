"""The bias report: ``python -m eval.report runs=[...]`` or ``write_report(run_dirs, cfg, out)``.

Writes ``report.html`` (one self-contained file: tables and inline plots), ``report.md`` (with
``figures/*.png``) and ``results.json`` (every number in the report).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from debias.core.atomic import write_bytes, write_text
from eval.config import EvalConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    results: Path


def write_report(run_dirs: Sequence[str | Path], cfg: EvalConfig, out: str | Path, *,
                 title: str = "pythia-debias: bias intervention report", evaluate_missing: bool = True) -> ReportPaths:
    """Evaluate what the caches lack (unless told not to), then write the report into ``out``."""
    from eval.report.plots import forest_png, series_png
    from eval.report.render import render_html, render_markdown
    from eval.report.study import load_runs, study

    out = Path(out).expanduser().resolve()
    runs = load_runs(run_dirs, cfg, compute=evaluate_missing)
    data = study(runs, cfg, title)
    figures = {name: series_png(name, s, data) for name, s in data["series"].items()}
    if (forest := forest_png(data)) is not None:
        figures["forest/link"] = forest
    files = {}
    for name, png in figures.items():
        rel = f"figures/{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        write_bytes(out / rel, png)
        files[name] = rel
    paths = ReportPaths(out / "report.html", out / "report.md", out / "results.json")
    write_text(paths.results, json.dumps(data, indent=1, default=str, allow_nan=True) + "\n")
    write_text(paths.markdown, render_markdown(data, files))
    write_text(paths.html, render_html(data, figures))
    log.info("report written to %s", paths.html)
    return paths
