"""WinoBias: pronoun preference and coreference on pro/anti sentence pairs."""

from debias.eval.tasks.winobias import config, metrics, reader

__all__ = ["config", "metrics", "reader"]
