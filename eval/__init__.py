"""Evaluation: bias and language-model benchmarks through lm-eval, comparisons and the report."""
