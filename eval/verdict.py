"""What a comparison row lets the report say, by rules stated once and used everywhere: the
report's tables and reading, the README's results, and the simulated studies that calibrate them
(``eval.calibration``). A row is a ``ComparisonRow`` as a mapping (``results.json`` holds them so).

- **changed**: its Holm-adjusted p (within its protocol family) is below alpha, and its equivalence
  test does not put it inside the protocol's margin;
- **changed, within the margin**: both: a real change, smaller than what the protocol calls an
  effect (with many seeds any arm that touches the data moves a metric a little);
- **no effect**: its equivalence test (TOST against the margin, Holm over the family's margins)
  is supported, and it is not changed;
- **inconclusive**: neither; "no effect" is never read from a missing star;
- **exploratory**: the metric is in no family of the protocol: shown, never claimed.

An arm with a known answer (``ProtocolConfig.expect``) is judged on the protocol's link endpoint:
``weaker`` is met when the link is changed (beyond the margin) toward or past the unbiased value,
``unchanged`` when it is not changed beyond the margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Row = Mapping[str, Any]


def _below(p: Any, alpha: float) -> bool:
    return p is not None and p == p and float(p) < alpha


def supported(row: Row, alpha: float) -> bool:
    """A difference the report may claim: tested in a family, its Holm-adjusted p below alpha."""
    return row.get("family") is not None and _below(row.get("p_adjusted"), alpha)


def equivalent(row: Row, alpha: float) -> bool:
    """"No effect" may be claimed: the equivalence test against the protocol's margin is supported."""
    return row.get("family") is not None and _below(row.get("p_equivalence_adjusted"), alpha)


def verdict(row: Row, alpha: float) -> str:
    """changed, changed within the margin, no effect, inconclusive or exploratory (see the module
    docstring)."""
    if row.get("family") is None:
        return "exploratory"
    if supported(row, alpha):
        return "changed, within the margin" if equivalent(row, alpha) else "changed"
    if equivalent(row, alpha):
        return "no effect"
    return "inconclusive"


def direction(row: Row, null: float | None) -> str | None:
    """``weaker`` when b lies nearer the unbiased value ``null`` than a, or past it; ``stronger``
    when it lies farther on a's side; None without a null or a difference."""
    if null is None or row.get("diff") is None or row["diff"] == 0:
        return None
    toward = (row["a"] - null) * row["diff"] < 0
    return "weaker" if toward else "stronger"


def meets(answer: str, row: Row, alpha: float, null: float | None) -> bool:
    """Whether a row of the link endpoint shows the known answer ``answer`` (weaker or unchanged)."""
    said = verdict(row, alpha)
    if answer == "weaker":
        return said == "changed" and direction(row, null) == "weaker"
    if answer == "unchanged":
        return said != "changed"
    raise ValueError(f"unknown answer {answer!r}: weaker or unchanged")
