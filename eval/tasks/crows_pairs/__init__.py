"""CrowS-Pairs English, all pairs and the gender pairs (``crows_pairs_english_gender.yaml`` includes the full one)."""

from debias.eval.tasks.crows_pairs import config, metrics, reader

__all__ = ["config", "metrics", "reader"]
