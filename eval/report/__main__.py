"""``python -m debias.eval.report``: evaluate the runs' checkpoints (or the models') where the cache lacks
results, compare arms (or models), and write ``report.html``, ``report.md`` and ``results.json``.

    python -m debias.eval.report runs=[runs/] out=report eval=quick
    python -m debias.eval.report runs=[runs/base-s0,runs/tail21-s0,runs/control21-s0] evaluate_missing=false
    python -m debias.eval.report compare=[EleutherAI/pythia-410m-deduped@step143000,EleutherAI/pythia-intervention-410m-deduped]
    python -m debias.eval.report comparison=pythia-intervention eval=bias
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from debias.core.command_help import CommandHelp, answers_help
from debias.core.conf_dir import CONF_DIR
from debias.core.config_errors import Problems
from debias.core.config_keys import unknown_keys
from debias.core.errors import exits_on_error
from debias.eval.config import ReportAppConfig
from debias.eval.report import write_pairs_report, write_report

log = logging.getLogger("debias.eval.report")


HELP = CommandHelp(
    command="debias-report", config_name="report", schema=ReportAppConfig,
    summary="Compare arms of runs (or any two models) with intervals, tests and the protocol's verdicts.",
    usage="(runs=[DIR,...] | compare=[A,B] | comparison=NAME) [out=DIR] [KEY=VALUE ...]",
    required=(("runs", "run directories or folders of runs (or compare= / comparison=)"),
              ("compare", "two models: hub names[@revision] or folders")),
    options=("out", "eval", "protocol", "revisions", "title", "evaluate_missing", "eval.device", "eval.batch_size",
             "hub_cache"),
    examples=("debias-report runs=[runs/] out=report",
              "debias-report compare=[EleutherAI/pythia-160m@step143000,EleutherAI/pythia-160m-deduped@step143000]"),
)


@answers_help(HELP)
@hydra.main(config_path=str(CONF_DIR), config_name="report", version_base="1.3")
@exits_on_error("debias-report")
def main(cfg: DictConfig) -> None:
    app: ReportAppConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    problems = Problems("report config")
    for p in unknown_keys(cfg, ReportAppConfig):
        problems.add(p)
    for p in app.problems():
        problems.add(p)
    for raw in app.runs:
        problems.check(Path(raw).expanduser().exists(), f"runs: {raw} does not exist")
    problems.raise_if_any()
    if app.runs:
        paths = write_report(app.runs, app.eval, app.out, title=app.title, evaluate_missing=app.evaluate_missing)
    else:
        title = app.title if app.title != ReportAppConfig.title else "pythia-debias: model comparison"
        paths = write_pairs_report(app.pairs(), app.eval, app.out, title=title, evaluate_missing=app.evaluate_missing,
                                   hub_cache=app.hub_cache)
    print(f"report: {paths.html}\n        {paths.markdown}\n        {paths.results}")
    if app.runs:
        from debias.eval.report.reading import headline_of

        print("\n".join(headline_of(paths.results)))
    else:
        import json

        from debias.eval.report.pairs import pairs_headline

        print("\n".join(pairs_headline(json.loads(paths.results.read_text()))))


if __name__ == "__main__":
    main()
