"""The whole study at CI size: three pretraining seeds of the 0.46M model on the synthetic corpus
below saturation (each character follows its occupation's stereotype 80% of the time); from each,
the last 21% rewritten masculine to feminine (tail21), the link removed with the prior kept
(unlink21), the control's rows reordered (aa21) and a gender-neutral word rewritten (sham21), each
against a control resumed the same way on the original rows.

One study (several minutes here) serves every test in this module. What the instrument sees is the
study's finding to report, not asserted here (three seeds are too few for its power); what is
asserted holds by construction of the arms, of the protocol and of the report.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from debias.core.contracts import CONTROL, MANIFEST
from debias.eval import compare_arms
from debias.eval.config import EvalConfig
from debias.eval.runner import evaluate_run
from debias.study import compose_study, run_study

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2)
ARMS = ("tail21", "control21", "unlink21", "aa21", "sham21")
PRONOUN_TASKS = ("winobias", "synthetic")
# Tokens of words other than gendered pronouns: the rewrite leaves them as they were, and their
# per-token perplexity moves by less than this fraction of the control's.
OTHER_PPL_BOUND = 0.03


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # DEBIAS_STUDY_ROOT: a folder a finished run of this module left, to rerun the assertions only.
    root = Path(os.environ.get("DEBIAS_STUDY_ROOT") or tmp_path_factory.mktemp("study"))
    overrides = [
        "+experiment=mini-suite", f"runs_root={root}", f"study.seeds=[{','.join(map(str, SEEDS))}]",
        f"study.arms=[{','.join(ARMS)}]", "eval.checkpoints.which=last",
        "eval.tasks.crows_pairs.enabled=false", "eval.tasks.lambada.enabled=false",
        "eval.tasks.winogender.enabled=false", "eval.tasks.winobias.coreference=false",
    ]
    cfg = compose_study(overrides)
    result = run_study(cfg, overrides)
    eval_cfg: EvalConfig = result.eval_config
    finals = {arm: [evaluate_run(result.run_dirs[(s, arm)], eval_cfg, compute=False)[-1] for s in SEEDS]
              for arm in ("none", *ARMS)}
    tables = {arm: compare_arms(finals["control21"], finals[arm], eval_cfg.stats, eval_cfg.protocol)
              for arm in ARMS if arm != "control21"}
    return {"result": result, "overrides": overrides, "cfg": cfg, "finals": finals, "tables": tables}


def _manifest(study: dict, seed: int, arm: str) -> dict:
    return json.loads((study["result"].run_dirs[(seed, arm)] / MANIFEST).read_text())


def test_every_tail_was_rewritten_and_the_manifests_say_so(study: dict) -> None:
    for seed in SEEDS:
        manifest = _manifest(study, seed, "tail21")
        totals = manifest["totals"]
        assert manifest["direction"] == "to_feminine"
        assert (manifest["start_step"], manifest["end_step"]) == (1130, 1430)
        assert totals["swapped"] > 10_000, totals  # about 300 steps x 16 rows x ~7 pronouns
        assert totals["left_fraction"] < 0.01, totals
        assert manifest["counts"]["he"]["swapped"] > 0 and manifest["counts"]["his"]["swapped"] > 0
        unlink = _manifest(study, seed, "unlink21")
        assert unlink["method"] == "unlink" and unlink["direction"] == "both"
        assert 0.3 * totals["swapped"] < unlink["totals"]["swapped"] < 0.7 * totals["swapped"]
        aa = _manifest(study, seed, "aa21")
        assert aa["method"] == "reorder" and aa["totals"]["swapped"] == 0 and aa["permutation"]["seed"] == 2
        sham = _manifest(study, seed, "sham21")
        assert sham["method"] == "sham" and sham["totals"]["swapped"] > 0.5 * totals["swapped"]
        control = json.loads((study["result"].run_dirs[(seed, "control21")] / CONTROL).read_text())
        assert control["arm"] == "control"


def test_the_study_records_what_each_tail_holds_and_the_data_it_was_made_of(study: dict) -> None:
    record = json.loads((study["result"].report.parent / "study.json").read_text())
    tails = record["tails"]
    shares = {arm: (round(t["she_share_female"], 2), round(t["she_share_male"], 2)) for arm, t in tails.items()}
    assert abs(shares["control21"][0] - 0.8) < 0.02 and abs(shares["control21"][1] - 0.2) < 0.02
    assert shares["aa21"] == shares["sham21"] == shares["control21"]  # the same pronouns, moved or not
    assert min(shares["tail21"]) > 0.98
    assert all(abs(x - 0.5) < 0.03 for x in shares["unlink21"])
    ident = record["data_identity"]
    assert sorted(ident["orders"]) == [str(s) for s in SEEDS] and len(ident["corpus"]) == 64
    assert len({o["key"] for o in ident["orders"].values()}) == len(SEEDS)  # each seed its own order
    assert record["commit"] is None or len(record["commit"]["sha"]) == 40


def test_one_sided_rewrites_move_the_prior_toward_feminine(study: dict) -> None:
    for task in PRONOUN_TASKS:
        tail = study["tables"]["tail21"].row(f"{task}/prior")
        assert "paired t" in tail.method
        assert tail.low > 0.5, tail
        for arm in ("unlink21", "aa21", "sham21"):  # arms that keep the prior
            row = study["tables"][arm].row(f"{task}/prior")
            assert abs(row.diff) < 0.25 * tail.diff, (arm, row, tail)


def test_perplexity_of_other_tokens_barely_moves(study: dict) -> None:
    row = study["tables"]["tail21"].row("heldout/ppl_other")
    assert abs(row.diff) / row.a < OTHER_PPL_BOUND, row
    gendered = study["tables"]["tail21"].row("heldout/ppl_gendered")
    assert gendered.diff > 0 and gendered.diff / gendered.a > 5 * abs(row.diff) / row.a, (gendered, row)
    # On text rewritten the intervention's own way, the intervention predicts better than its control.
    rewritten = study["tables"]["tail21"].row("heldout_to_feminine/ppl_token")
    assert rewritten.diff < 0, rewritten


def test_report_states_its_protocol_checks_the_instrument_and_reads_by_rules(study: dict, tmp_path: Path) -> None:
    from debias.eval.report import write_report
    from debias.eval.report.reading import reading
    from debias.eval.report.readme import recorded_identity, update_readme

    report = study["result"].report
    assert report is not None and report.is_file()
    text = report.read_text()
    assert "Protocol synthetic" in text and "Instrument check" in text and "Holm p" in text
    assert text.count("data:image/png;base64,") >= 1  # the forest plot of the link, inline
    data = json.loads((report.parent / "results.json").read_text())
    protocol = study["result"].eval_config.protocol
    assert data["protocol"]["sha256"] == protocol.sha256() and data["protocol"]["status"] == "confirmatory"
    titles = [c["title"] for c in data["comparisons"]]
    assert titles[:4] == ["tail21 - control21", "unlink21 - control21", "aa21 - control21", "sham21 - control21"]
    assert {x["arm"]: x["expect"] for x in data["instrument"]} == {"unlink21": "weaker", "aa21": "unchanged",
                                                                   "sham21": "unchanged"}
    first = data["comparisons"][0]["rows"]
    assert [r["metric"] for r in first[:2]] == protocol.primary and first[0]["family"] == "link"
    assert all(r["p_adjusted"] >= r["p_value"] for r in first if r["family"] is not None)
    lines = reading(data)
    assert lines[0].startswith("Protocol `synthetic`") and "confirmatory" in lines[0]
    assert any(line.startswith("tail21: ") for line in lines)
    # Read under another protocol, the same evaluations make an exploratory report.
    other = replace(study["result"].eval_config, protocol=replace(protocol, alpha=0.1))
    again = json.loads(write_report(list(study["result"].run_dirs.values()), other, tmp_path / "other",
                                    evaluate_missing=False).results.read_text())
    assert again["protocol"]["status"] == "exploratory" and "EXPLORATORY" in reading(again)[0]
    # The README's section is generated from the report, the data's identity with it.
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nold\n<!-- results:end -->\nrest\n")
    update_readme(report.parent, readme)
    section = readme.read_text()
    assert "| unlink21 |" in section and "What the results say" in section and section.endswith("rest\n")
    assert recorded_identity(readme) == json.loads((report.parent / "study.json").read_text())["data_identity"]


def test_rerun_finds_everything_done(study: dict) -> None:
    again = run_study(study["cfg"], study["overrides"])
    train_jobs = {k: v for k, v in again.jobs.items() if k.startswith("train")}
    eval_jobs = {k: v for k, v in again.jobs.items() if k.startswith("eval")}
    assert len(train_jobs) == (1 + len(ARMS)) * len(SEEDS) and set(train_jobs.values()) == {"already complete"}
    assert eval_jobs and all("0 evaluated now" in v for v in eval_jobs.values()), eval_jobs
