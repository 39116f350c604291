"""She/he probe pairs on the synthetic corpus's own occupations."""

from debias.eval.tasks.synthetic import config, metrics, reader

__all__ = ["config", "metrics", "reader"]
