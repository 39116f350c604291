"""The prior-only placebo: the tail's pronouns redrawn (``debias.rewrite.arms.redraw``) so that every
occupation's log-odds of "she" moves by the same constant ``c``, which leaves the occupation link
(female- minus male-stereotyped log-odds) as it was in log-odds.

The chance of following the stereotype is set so that "she" has log-odds ``logit(p) + c`` (``p``
the occupation's chance of "she": the rate for female-stereotyped ones, 1 - rate for
male-stereotyped), so only characters with ``u`` between the two thresholds change gender (for
``c > 0`` men become women, never the reverse).

A placebo means what it says only below saturation. At ``stereotype_rate`` 0.8 the old default,
``c`` = 4.8 (the intervention's mean shift), left "she" at 99.9% of female-stereotyped and 96.8% of
male-stereotyped characters' pronouns: the log-odds gap was kept, but the she-share gap fell from
0.60 to 0.03, and with it nearly all the information about occupations a model learns from. The
default is now ``c`` = 1.0: she-shares 0.92 and 0.40, both far from 0 and 1, a push of the prior
with the link kept in fact. It is not the intervention's push (which no placebo can match without
saturating), so it calibrates what a moderate push does, not the intervention's.
"""

from __future__ import annotations

import os
from typing import Any

from debias.config import DataConfig
from debias.rewrite.arms.redraw import logit, rewrite_redraw, sigmoid, verify_redraw
from debias.rewrite.arms.tailfile import TailSpan

ALGORITHM = "debias placebo redraw v1"
DEFAULT_SHIFT = 1.0


def stereotype_rates(rate: float, shift: float) -> dict[str, float]:
    """The chance of following the stereotype, per stereotyped gender, that moves every
    occupation's log-odds of "she" by ``shift``."""
    if not 0 < rate < 1:
        raise ValueError(
            f"data.synthetic.stereotype_rate={rate}: the placebo moves each occupation's log-odds of 'she', which "
            "is infinite at a rate of 0 or 1; use a rate strictly between (the study's: data=synthetic80, rate 0.8)")
    return {"female": sigmoid(logit(rate) + shift), "male": sigmoid(logit(rate) - shift)}


def rewrite_placebo(span: TailSpan, *, data: DataConfig, shuffle_seed: int, shift: float = DEFAULT_SHIFT,
                    progress: bool = True) -> dict[str, Any]:
    """Redraw the pronouns of the rows of ``span`` so that every occupation's log-odds of "she"
    moves by ``shift``; returns the manifest."""
    if data.source == "synthetic":
        rates = stereotype_rates(data.synthetic.stereotype_rate, shift)
    else:
        rates = {}  # rewrite_redraw refuses the corpus with the reason
    identity = {"direction": "to_feminine" if shift > 0 else "to_masculine", "method": "placebo",
                "parameters": {"placebo_shift": float(shift)}, "algorithm": ALGORITHM}
    return rewrite_redraw(span, data=data, shuffle_seed=shuffle_seed, rates=rates, identity=identity,
                          progress=progress)


def verify_placebo(source: str | os.PathLike, output: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """``verify_arm_tail`` with the check that only pronoun tokens changed, in the placebo's direction."""
    return verify_redraw(source, output, progress=progress)
