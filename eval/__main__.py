"""``python -m eval``: evaluate a checkpoint directory, a run directory or a folder of runs.

    python -m eval path=runs/mini-tiny-seed0-baseline                 # every checkpoint of a run
    python -m eval path=runs/x eval.checkpoints.which=every eval.checkpoints.every=5
    python -m eval path=/ckpts/pythia-70m-deduped/step143000 eval=bias  # one checkpoint, bias tasks only
    python -m eval paths=[runs/a,runs/b] eval=quick

Per-item results are cached per checkpoint (``<run>/eval/step<N>.json``); a rerun computes only
what is missing. Prints one line of headline metrics per checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from debias.core.conf_dir import CONF_DIR
from debias.core.config_errors import Problems
from debias.core.config_keys import unknown_keys
from debias.core.errors import exits_on_error
from eval.config import EvaluateAppConfig
from eval.runner import evaluate_paths
from eval.summary import summary_table

log = logging.getLogger("eval")


def check(app: EvaluateAppConfig, cfg: DictConfig | None = None) -> None:
    problems = Problems("evaluation config")
    for p in unknown_keys(cfg, EvaluateAppConfig) if cfg is not None else []:
        problems.add(p)
    for p in app.problems():
        problems.add(p)
    for raw in app.all_paths():
        problems.check(Path(raw).expanduser().exists(), f"path {raw} does not exist")
    problems.raise_if_any()


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")
@exits_on_error("eval")
def main(cfg: DictConfig) -> None:
    app: EvaluateAppConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    check(app, cfg)
    results = evaluate_paths(app.all_paths(), app.eval)
    for where, series in results.items():
        print(f"\n{where}  (cached in {Path(series[0].cache).parent})")
        print(summary_table(series))


if __name__ == "__main__":
    main()
