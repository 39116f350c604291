"""LAMBADA: the last word of a passage."""

from debias.eval.tasks.lambada import config, metrics, reader

__all__ = ["config", "metrics", "reader"]
