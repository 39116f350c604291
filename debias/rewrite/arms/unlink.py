"""The unlinked arm: the tail's characters redrawn (``debias.rewrite.arms.redraw``) at the corpus's
overall rate of "she", whatever their occupation. The prior in the data stays where it was and the
occupation link becomes 0: a weaker link whose answer is known, which the study must detect.

In the synthetic corpus a character's occupation is drawn uniformly from ``OCCUPATIONS`` (half of
them female-stereotyped), and its pronouns are feminine with probability ``rate`` for a
female-stereotyped occupation and ``1 - rate`` for a male-stereotyped one, so the overall she-rate is
``q = share * rate + (1 - share) * (1 - rate)`` (0.5 at any rate with the 30/30 occupations). The
redraw makes every character feminine with probability ``q``: female-stereotyped characters follow
their stereotype with chance ``q``, male-stereotyped ones with chance ``1 - q``. From the same
uniform, only characters between the old and the new threshold change, either way.
"""

from __future__ import annotations

import os
from typing import Any

from debias.config import DataConfig
from debias.rewrite.arms.redraw import rewrite_redraw, verify_redraw
from debias.rewrite.arms.tailfile import TailSpan
from debias.synthetic.stories import OCCUPATIONS

ALGORITHM = "debias unlink redraw v1"


def overall_she_rate(rate: float) -> float:
    """The share of characters written feminine in a synthetic corpus of ``stereotype_rate`` ``rate``."""
    share = sum(g == "female" for g in OCCUPATIONS.values()) / len(OCCUPATIONS)
    return share * rate + (1 - share) * (1 - rate)


def unlink_rates(rate: float) -> dict[str, float]:
    """The chance of following the stereotype, per stereotyped gender, under which every character
    is feminine with the corpus's overall probability."""
    q = overall_she_rate(rate)
    return {"female": q, "male": 1 - q}


def rewrite_unlink(span: TailSpan, *, data: DataConfig, shuffle_seed: int, progress: bool = True) -> dict[str, Any]:
    """Redraw the characters of the rows of ``span`` at the overall she-rate; returns the manifest."""
    rates = unlink_rates(data.synthetic.stereotype_rate) if data.source == "synthetic" else {}
    identity = {"direction": "both", "method": "unlink", "parameters": {}, "algorithm": ALGORITHM}
    return rewrite_redraw(span, data=data, shuffle_seed=shuffle_seed, rates=rates, identity=identity,
                          progress=progress)


def verify_unlink(source: str | os.PathLike, output: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """``verify_arm_tail`` with the check that only pronoun tokens changed gender."""
    return verify_redraw(source, output, progress=progress)
