"""WinoGender: female, male and neutral sentences per template, against the occupation's share of women."""

from debias.eval.tasks.winogender import config, metrics, reader

__all__ = ["config", "metrics", "reader"]
