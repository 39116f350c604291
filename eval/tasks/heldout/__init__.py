"""Perplexity on held-out text, as it is and rewritten by an arm's swap."""

from debias.eval.tasks.heldout import config, metrics, reader

__all__ = ["config", "metrics", "reader"]
