"""The protocol fixed before the data: its files compose and are complete, its sha256 names every
choice it makes, every evaluation records it, the report's reading says "exploratory" under any
other, and the verdict rules say "no effect" only where an equivalence test supports it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from debias.core.conf_dir import CONF_DIR
from debias.eval.compare import ComparisonRow, adjust
from debias.eval.metrics import BY_NAME
from debias.eval.protocol import Expect, Family, Margin, ProtocolConfig, protocol_status, stamp
from debias.eval.report.reading import reading
from debias.eval.verdict import direction, meets, verdict

PROTOCOLS = sorted(p.stem for p in (CONF_DIR / "protocol").glob("*.yaml"))


def _composed(name: str) -> ProtocolConfig:
    from debias.study.run import compose_study, to_study_config

    return to_study_config(compose_study([f"protocol={name}"])).eval.protocol


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_protocol_file_composes_complete_and_valid(name: str) -> None:
    p = _composed(name)
    assert p.name == name and p.problems(BY_NAME) == []
    assert p.link in p.primary and all(p.family_of(m) for m in p.primary)
    assert {e.answer for e in p.expect} <= {"weaker", "unchanged"}
    assert p.answer_for("aa21") == "unchanged" and p.answer_for("sham21") == "unchanged"
    assert p.answer_for("reverse21") == "weaker"


def test_the_dataclass_default_is_the_default_file() -> None:
    """Code that builds an EvalConfig itself reads the protocol the command line reads."""
    assert ProtocolConfig().sha256() == _composed("default").sha256()


def test_the_demo_reads_the_synthetic_protocol_and_a_file_replaces_the_defaults_whole() -> None:
    from debias.study.run import compose_study, to_study_config

    demo = to_study_config(compose_study(["+experiment=mini-suite"])).eval.protocol
    assert demo.name == "synthetic" and demo.link == "synthetic/auc" and demo.answer_for("unlink21") == "weaker"
    # the dataclass's default families name winobias/auc for the link; the synthetic file's lists replace them
    assert demo.family_of("winobias/auc") == "bias" and [f.name for f in demo.families][0] == "link"


def test_the_sha256_changes_with_every_choice_and_only_with_them() -> None:
    p = _composed("synthetic")
    again = ProtocolConfig.from_dict(p.to_dict())
    assert again.sha256() == p.sha256() and len(p.sha256()) == 64
    changed = [replace(p, alpha=0.01), replace(p, primary=["synthetic/auc"]), replace(p, link="heldout/ppl_other"),
               replace(p, margins=[Margin("synthetic/auc", 0.03)]), replace(p, expect=[Expect("aa21", "weaker")]),
               replace(p, families=[*p.families[:-1], Family("lm", ["heldout/ppl_token"])]), replace(p, name="x")]
    assert len({c.sha256() for c in changed} | {p.sha256()}) == len(changed) + 1


def test_every_problem_of_a_protocol_is_listed() -> None:
    bad = ProtocolConfig(name="bad", alpha=0.7, primary=["synthetic/auc", "nope/metric"],
                         families=[Family("link", ["synthetic/auc"]), Family("link", ["synthetic/auc"])],
                         margins=[Margin("synthetic/auc", -1.0)], link="winobias/auc",
                         expect=[Expect("unlink21", "gone")])
    problems = bad.problems(BY_NAME)
    for part in ("alpha=0.7", "is in families 'link' and 'link'", "distinct", "'nope/metric' is in no family",
                 "link='winobias/auc' is not a primary endpoint", "must be positive", "'gone'",
                 "'nope/metric' is not a metric"):
        assert any(part in p for p in problems), (part, problems)


def test_status_is_confirmatory_only_when_every_result_recorded_this_protocol() -> None:
    p = _composed("synthetic")
    mine, other = stamp(p), stamp(replace(p, alpha=0.01))
    assert protocol_status(p, [mine, mine]).confirmatory
    mixed = protocol_status(p, [mine, other, None])
    assert mixed.status == "exploratory" and mixed.recorded == {f"synthetic {p.sha256()[:12]}": 1,
                                                                f"synthetic {other['sha256'][:12]}": 1, "none": 1}
    assert not protocol_status(p, []).confirmatory  # no evaluation at all confirms nothing


def _row(metric: str, diff: float, low: float, high: float, p: float, *, a: float = 0.6,
         p_eq: float | None = None, margin: float | None = None) -> ComparisonRow:
    m = BY_NAME[metric]
    return ComparisonRow(metric, m.label, m.kind, m.part, m.null, m.higher_is_better, a, a + diff, diff, low, high,
                         p, 1200, 6, 6, "paired t over seeds, 6 vs 6", margin=margin, p_equivalence=p_eq)


def test_holm_runs_within_each_family_and_exploratory_rows_are_never_claimed() -> None:
    p = _composed("synthetic")
    rows = [_row("synthetic/auc", -0.05, -0.08, -0.02, 0.004, p_eq=0.9, margin=0.02),
            _row("heldout/ppl_other", 0.001, -0.01, 0.01, 0.6, a=3.0, p_eq=0.001, margin=0.03),
            _row("winobias/auc", -0.01, -0.03, 0.01, 0.03), _row("synthetic/association", -0.2, -0.4, -0.01, 0.03),
            _row("synthetic/pref_pro", 0.1, 0.05, 0.15, 0.0001)]
    adjust(rows, p)
    by = {r.metric: r.__dict__ for r in rows}
    assert [r.metric for r in rows][:2] == ["synthetic/auc", "heldout/ppl_other"]  # primary endpoints first
    assert by["synthetic/auc"]["p_adjusted"] == pytest.approx(0.004)  # alone in the link family
    assert by["winobias/auc"]["p_adjusted"] == pytest.approx(0.06)  # two of the bias family at 0.03: Holm
    assert by["synthetic/pref_pro"]["family"] is None and verdict(by["synthetic/pref_pro"], 0.05) == "exploratory"
    assert verdict(by["synthetic/auc"], 0.05) == "changed" and direction(by["synthetic/auc"], 0.5) == "weaker"
    assert verdict(by["heldout/ppl_other"], 0.05) == "no effect"  # its TOST, not its missing star
    assert verdict(by["winobias/auc"], 0.05) == "inconclusive"
    assert meets("weaker", by["synthetic/auc"], 0.05, 0.5) and not meets("unchanged", by["synthetic/auc"], 0.05, 0.5)
    reversed_ = {**by["synthetic/auc"], "a": 0.6, "diff": -0.15}  # past the unbiased value is weaker too
    assert direction(reversed_, 0.5) == "weaker" and direction({**reversed_, "diff": 0.1}, 0.5) == "stronger"
    # a real change smaller than the margin: changed, but no change of the link in the protocol's sense
    small = {**by["synthetic/auc"], "diff": -0.012, "low": -0.017, "high": -0.008, "p_equivalence_adjusted": 0.001}
    assert verdict(small, 0.05) == "changed, within the margin"
    assert meets("unchanged", small, 0.05, 0.5) and not meets("weaker", small, 0.05, 0.5)


def _data(status: str, link_p: float, aa_p: float) -> dict:
    p = _composed("synthetic")
    metrics = {m: {"label": BY_NAME[m].label, "kind": BY_NAME[m].kind, "part": BY_NAME[m].part,
                   "null": BY_NAME[m].null, "fmt": BY_NAME[m].fmt}
               for m in ("synthetic/auc", "heldout/ppl_other")}
    comps, checks = [], []
    for arm, diff, pval in (("unlink21", -0.08, link_p), ("aa21", 0.004, aa_p), ("tail21", -0.06, 0.001)):
        rows = [_row("synthetic/auc", diff, diff - 0.02, diff + 0.02, pval, p_eq=0.5, margin=0.02),
                _row("heldout/ppl_other", 0.2, 0.1, 0.3, 0.001, a=3.0, p_eq=0.9, margin=0.03)]
        adjust(rows, p)
        dicts = [{**r.__dict__, "verdict": verdict(r.__dict__, p.alpha)} for r in rows]
        answer = p.answer_for(arm)
        comps.append({"title": f"{arm} - control21", "a": "control21", "b": arm, "a_role": "control",
                      "b_role": "intervention", "b_name": arm, "expect": answer, "rows": dicts})
        if answer:
            checks.append({"arm": arm, "expect": answer, "met": meets(answer, dicts[0], p.alpha, 0.5),
                           "verdict": dicts[0]["verdict"]})
    recorded = {f"synthetic {p.sha256()[:12]}": 4} if status == "confirmatory" else {"none": 4}
    return {"protocol": {**p.to_dict(), "sha256": p.sha256(), "status": status, "recorded": recorded},
            "metrics": metrics, "confidence": 0.95, "comparisons": comps, "instrument": checks}


def test_the_reading_is_made_by_its_rules() -> None:
    good = reading(_data("confirmatory", link_p=0.001, aa_p=0.7))
    assert "fixed before the data" in good[0] and "confirmatory" in good[0]
    assert good[1].startswith("The instrument passes its check")
    assert any("unlink21 (must show a weaker link)" in x and "met" in x for x in good)
    tail = [x for x in good if x.startswith("tail21:")]
    assert len(tail) == 2 and "a weaker link" in tail[0] and "changed by" in tail[0] and "higher" in tail[1]
    bad = reading(_data("exploratory", link_p=0.2, aa_p=0.001))
    assert "EXPLORATORY" in bad[0] and "description only" in bad[0]
    assert bad[1].startswith("The instrument FAILS its check") and "unlink21, aa21" in bad[1]
    assert not any("no effect" in x for x in good + bad)  # no equivalence test supported one here


def test_a_missing_star_is_inconclusive_not_no_effect() -> None:
    data = _data("confirmatory", link_p=0.001, aa_p=0.7)
    row = next(r for r in data["comparisons"][1]["rows"] if r["metric"] == "synthetic/auc")
    assert row["verdict"] == "inconclusive"  # p 0.7, but its TOST p is 0.5: no equivalence either
    assert np.isfinite(row["p_adjusted"])
