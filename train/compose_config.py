"""Compose a training config from ``conf/`` in Python (tests, notebooks, the study's orchestrator),
exactly as ``python -m debias.train <overrides>`` would.

A training config describes one run. The whole study (several seeds and arms, evaluated, with a
report) is another app, ``python -m debias.study``, whose experiments (``mini-suite``,
``gutenberg-suite``) set ``study.*`` and ``eval.*`` keys besides the run's: ``study_keys`` finds
them in a command line, so that ``python -m debias.train`` refuses it with that advice rather than with
Hydra's "Key 'study' not in 'TrainConfig'".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf

from debias.core.config_errors import ConfigError
from debias.train.config import CONF_DIR, register_configs

STUDY_COMMAND = "python -m debias.study (debias-study)"
# Top-level keys of the study's config that a training run lacks.
_STUDY_ONLY = ("study", "eval", "protocol")


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The composed config for ``overrides`` (e.g. ``["+experiment=mini-test", "seed=1"]``).
    Raises ``ConfigError`` for overrides that belong to the whole study (``study_keys``)."""
    register_configs()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            return hydra_compose(config_name=config_name, overrides=list(overrides))
        except ConfigCompositionException:
            study = study_keys(overrides) if config_name == "train" else []
            if study:
                raise ConfigError(study, where="training config") from None
            raise


def study_keys(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> list[str]:
    """A problem for each override of a command line that belongs to the whole study, not to one
    run: ``study.*``, ``eval``/``eval.*``, ``mode=study``, or an experiment whose file (or a file
    of the experiment group it builds on) sets ``study`` or ``eval`` keys."""
    out = []
    for raw in overrides:
        key, _, value = raw.lstrip("+~").partition("=")
        top = key.split(".", 1)[0]
        if top in _STUDY_ONLY:
            out.append(f"{key}: a key of the whole study, not of one run; run the study with {STUDY_COMMAND} "
                       f"{raw}")
        elif key == "mode" and value == "study":
            out.append(f"mode=study: the whole study is its own command now; run {STUDY_COMMAND} with the "
                       "same overrides, less mode=study")
        elif key == "experiment":
            found = _experiment_study_keys(conf_dir / "experiment", value)
            if found:
                keys = " and ".join(f"{k}.*" for k in found)
                out.append(f"experiment={value} is a study (it sets {keys}): run it with "
                           f"python -m debias.study +experiment={value} (or debias-study +experiment={value})")
    return out


def _experiment_study_keys(group: Path, name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """The study-only keys experiment ``name`` sets, itself or through the experiments in its defaults."""
    path = group / f"{name}.yaml"
    if name in seen or not path.is_file():
        return []
    node = OmegaConf.load(path)
    found = [k for k in _STUDY_ONLY if k in node]
    for entry in node.get("defaults", []) or []:
        if isinstance(entry, str) and "/" not in entry and entry != "_self_":  # another experiment of the group
            found += [k for k in _experiment_study_keys(group, entry, (*seen, name)) if k not in found]
    return found
