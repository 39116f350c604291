"""Compose a training config from ``conf/`` in Python (tests, notebooks, the study's orchestrator),
exactly as ``python -m train <overrides>`` would."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from train.config import CONF_DIR, register_configs


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The composed config for ``overrides`` (e.g. ``["+experiment=mini-test", "seed=1"]``)."""
    register_configs()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))
