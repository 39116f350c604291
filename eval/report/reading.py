"""The reading of a report, generated from its results by stated rules: nothing here is typed by
hand, so no sentence can claim more than the tests behind it (``eval.verdict``).

Rules, in the order the sentences come:

1. **The protocol.** Its name and sha256, and whether the evaluations recorded it (confirmatory) or
   not (exploratory: then every later sentence is description, and says so).
2. **The instrument.** Each arm with a known answer, on the protocol's link endpoint: met or not. If
   any is not met, the instrument fails its check, and the verdicts that follow cannot be believed.
3. **Every other rewritten arm**, on each primary endpoint: "changed" (with the direction: a weaker
   or stronger link, a higher or lower perplexity) only when its Holm p in its family is below
   alpha, "within the margin" when its equivalence test puts it inside the protocol's margin too;
   "no effect" only when that equivalence test is supported; otherwise "inconclusive", with the
   interval and the margin it did not rule out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from debias.eval.verdict import direction, verdict

Data = dict[str, Any]


def _fmt(value: Any, spec: str, sign: bool = False) -> str:
    from debias.eval.report.content import fmt

    return fmt(value, spec, sign)


def _interval(row: Data, spec: str, pct: int) -> str:
    return (f"{_fmt(row['diff'], spec, True)} ({pct}% [{_fmt(row['low'], spec, True)}, "
            f"{_fmt(row['high'], spec, True)}], Holm p {_fmt(row.get('p_adjusted'), '.2g')})")


def protocol_sentence(data: Data) -> str:
    p = data["protocol"]
    head = f"Protocol `{p['name']}` (sha256 {p['sha256'][:12]}), alpha {p['alpha']:g} in each family"
    if p["status"] == "confirmatory":
        return f"{head}: fixed before the data; every evaluation read here recorded it, so the verdicts are confirmatory."
    recorded = ", ".join(f"{k} ({v})" for k, v in p["recorded"].items()) or "no protocol"
    return (f"{head}: EXPLORATORY. The evaluations recorded {recorded}, not this protocol, so the endpoints may have "
            "been chosen after the data; read every verdict below as description only.")


def instrument_sentences(data: Data) -> list[str]:
    checks = data["instrument"]
    if not checks:
        return ["No arm with a known answer was run, so the instrument is unchecked: a verdict below says what the "
                "analysis saw, not that it can see."]
    link = data["protocol"]["link"]
    spec, label = data["metrics"][link]["fmt"], data["metrics"][link]["label"]
    pct = round(100 * data["confidence"])
    rows = {c["b"]: next((r for r in c["rows"] if r["metric"] == link), None) for c in data["comparisons"]}
    parts = []
    for x in checks:
        row = rows.get(x["arm"])
        shown = "no result" if row is None else _interval(row, spec, pct)
        must = "a weaker link" if x["expect"] == "weaker" else "no change beyond the margin"
        parts.append(f"{x['arm']} (must show {must}): {shown}, {x['verdict']}, {'met' if x['met'] else 'NOT met'}")
    failed = [x["arm"] for x in checks if not x["met"]]
    if failed:
        lead = (f"The instrument FAILS its check on {label}: {', '.join(failed)} did not show the known answer, so "
                "the verdicts on the other arms cannot be believed.")
    else:
        lead = f"The instrument passes its check on {label}: every arm with a known answer showed it."
    return [lead, *[f"  {p}." for p in parts]]


def _endpoint_sentence(arm: str, row: Data, data: Data, pct: int) -> str:
    meta = data["metrics"][row["metric"]]
    spec, label = meta["fmt"], meta["label"]
    alpha = data["protocol"]["alpha"]
    said = verdict(row, alpha)
    margin = row.get("margin")
    bound = f"±{_fmt(margin, spec)}" if margin is not None else "no margin in the protocol"
    if said.startswith("changed"):
        if meta["part"] in ("association", "rank"):
            way = direction(row, meta["null"])
            what = {"weaker": "a weaker link", "stronger": "a stronger link"}.get(way or "", "a change")
        else:
            what = "higher" if row["diff"] > 0 else "lower"
        if said == "changed, within the margin":
            what += f", but inside the margin {bound} that the protocol calls no effect"
        return f"{arm}: {label} changed by {_interval(row, spec, pct)}: {what}."
    if said == "no effect":
        return (f"{arm}: no effect on {label}: {_interval(row, spec, pct)} lies inside {bound} "
                f"(TOST Holm p {_fmt(row.get('p_equivalence_adjusted'), '.2g')}).")
    return (f"{arm}: {label} inconclusive: {_interval(row, spec, pct)}; neither a change nor an equivalence within "
            f"{bound} is supported.")


def arm_sentences(data: Data) -> list[str]:
    pct = round(100 * data["confidence"])
    primary = data["protocol"]["primary"]
    known = {x["arm"] for x in data["instrument"]}
    out = []
    for comp in data["comparisons"]:
        if comp.get("b_role") != "intervention" or comp.get("a_role") != "control" or comp["b"] in known:
            continue
        rows = {r["metric"]: r for r in comp["rows"]}
        out += [_endpoint_sentence(comp["b"], rows[m], data, pct) for m in primary if m in rows]
    return out


def reading(data: Data) -> list[str]:
    """Every sentence of the reading, in order (see the module docstring for the rules)."""
    if not data["comparisons"]:
        return ["No comparison: the report needs a rewritten arm and its control (or a baseline)."]
    return [protocol_sentence(data), *instrument_sentences(data), *arm_sentences(data)]


def headline_of(results: str | os.PathLike) -> list[str]:
    """What a command prints when it has written a report: the report's reading (the protocol, the
    instrument's verdict, then each arm's verdicts), from its ``results.json``, a bullet a line."""
    data = json.loads(Path(results).read_text())
    return [f"- {line}" for line in reading(data)]
