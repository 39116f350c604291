"""``python -m debias.eval``: evaluate a model by hub name or folder, a run directory or a folder of runs.

    python -m debias.eval model=EleutherAI/pythia-70m-deduped revision=step143000 eval=bias
    python -m debias.eval model=EleutherAI/pythia-70m-deduped revisions=[step1000,step71000,step143000]
    python -m debias.eval model=/models/my-neox tokenizer=EleutherAI/pythia-70m-deduped
    python -m debias.eval path=runs/mini-tiny-seed0-baseline                 # every checkpoint of a run
    python -m debias.eval path=runs/x eval.checkpoints.which=every eval.checkpoints.every=5
    python -m debias.eval path=/ckpts/pythia-70m-deduped/step143000 eval=bias  # one checkpoint, bias tasks only
    python -m debias.eval paths=[runs/a,runs/b] eval=quick

Per-item results are cached per checkpoint (``<run>/eval/step<N>.json``, a hub model's or a
folder's under ``eval.results_dir``); a rerun computes only what is missing. Prints one line of
headline metrics per checkpoint.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from debias.core.command_help import CommandHelp, answers_help
from debias.core.conf_dir import CONF_DIR
from debias.core.config_errors import Problems
from debias.core.config_keys import unknown_keys
from debias.core.errors import exits_on_error
from debias.eval.config import EvaluateAppConfig
from debias.eval.runner import evaluate_paths
from debias.eval.summary import summary_table

log = logging.getLogger("debias.eval")


def check(app: EvaluateAppConfig, cfg: DictConfig | None = None) -> None:
    problems = Problems("evaluation config")
    for p in unknown_keys(cfg, EvaluateAppConfig) if cfg is not None else []:
        problems.add(p)
    for p in app.problems():
        problems.add(p)
    for raw in app.all_paths():
        hint = f" (a model on the hub is model={raw})" if "/" in raw and not raw.startswith((".", "/", "~")) else ""
        problems.check(Path(raw).expanduser().exists(), f"path {raw} does not exist{hint}")
    if app.model_name and not Path(app.model_name).expanduser().exists():
        from debias.eval.models import is_hub_name, split_spec

        problems.check(is_hub_name(split_spec(app.model_name)[0]),
                       f"model={app.model_name}: no such folder, and not a hub name (owner/name[@revision])")
    problems.raise_if_any()


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")
@exits_on_error("debias-eval")
def _main(cfg: DictConfig) -> None:
    app: EvaluateAppConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    check(app, cfg)
    if app.model_name:
        from debias.eval.runner import evaluate_model, evaluate_series

        revisions = app.all_revisions()
        if len(revisions) > 1:
            series = evaluate_series(app.model_name, revisions, app.eval, parallel=app.parallel,
                                     tokenizer=app.tokenizer, total_steps=app.total_steps, hub_cache=app.hub_cache)
        else:
            series = [evaluate_model(app.model_name, app.eval, revision=revisions[0], tokenizer=app.tokenizer,
                                     total_steps=app.total_steps, hub_cache=app.hub_cache)]
        where = Path(series[0].cache).parent
        if (series[0].source or {}).get("commit"):
            where = where.parent  # <results_dir>/<owner--name>/<commit>/: the model's folder of commits
        print(f"\n{app.model_name}  (results in {where})")
        print(summary_table(series))
        return
    results = evaluate_paths(app.all_paths(), app.eval)
    for where, series in results.items():
        print(f"\n{where}  (cached in {Path(series[0].cache).parent})")
        print(summary_table(series))


def model_argument(argv: list[str]) -> list[str]:
    """``model=<hub name or folder>`` as the config key ``model_name``: Hydra would read ``model=`` as
    a choice of the config group ``conf/model`` (train's architectures) and refuse it."""
    return [f"model_name={a[len('model='):]}" if a.startswith("model=") else a for a in argv]


HELP = CommandHelp(
    command="debias-eval", config_name="evaluate", schema=EvaluateAppConfig,
    summary="Evaluate a model (hub name or folder), a checkpoint, a run or a folder of runs on the bias tasks.",
    usage="(model=NAME[@REV] | path=DIR) [eval=quick|bias|default] [KEY=VALUE ...]",
    required=(("model", "a hub name[@revision] or a model folder (or, instead, path=)"),
              ("path", "a checkpoint, a run directory or a folder of runs")),
    options=("eval", "revision", "revisions", "tokenizer", "eval.device", "eval.dtype", "eval.batch_size",
             "eval.checkpoints.which", "eval.results_dir", "parallel"),
    examples=("debias-eval model=EleutherAI/pythia-70m-deduped revision=step143000 eval=bias",
              "debias-eval path=runs/mini-0.5m-synthetic-s0-none eval=quick"),
    notes=("Results are cached per checkpoint; a rerun computes only what is missing.",),
)


@answers_help(HELP)
def main() -> None:
    sys.argv = model_argument(sys.argv)
    _main()


if __name__ == "__main__":
    main()
