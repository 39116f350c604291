"""Where the Hydra config tree lives, found one way for every command.

The repository keeps the configs at the top level (``conf/``) and ``debias/conf`` is a committed
symlink to it, so the folder is package data of ``debias``: a checkout, an editable install and a
wheel (where setuptools copies the linked files into ``debias/conf/``) all find it as the
``conf`` resource of the ``debias`` package, with no path arithmetic relative to any module.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def conf_dir() -> Path:
    """The folder holding ``train.yaml``, ``evaluate.yaml``, ``report.yaml``, ``rewrite.yaml``
    and ``swap_file.yaml`` with their groups, as an absolute path Hydra can search."""
    path = Path(str(files("debias").joinpath("conf"))).resolve()
    if not (path / "train.yaml").is_file():
        raise FileNotFoundError(
            f"{path}: the config tree of pythia-debias is missing from the installed package; "
            "reinstall it from a checkout whose debias/conf links to conf/ "
            "(pip install . or pip install -e .)"
        )
    return path


CONF_DIR: Path = conf_dir()
"""The config tree, computed once at import; every Hydra entry point reads this one value."""
