"""The whole study at CI size: three pretraining seeds of the 0.46M model on the synthetic corpus
(every character's pronouns follow its occupation's stereotype), the last 21% rewritten masculine
to feminine, against a control resumed the same way on the original rows.

One study (about six minutes here) serves every test in this module.
"""

from __future__ import annotations

import json

import pytest

from eval import compare_arms
from eval.compare import null_check
from eval.config import EvalConfig
from eval.runner import evaluate_run
from train import compose
from train.study import run_study

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2)
PRONOUN_TASKS = ("winobias", "synthetic")
# Held-out text is half masculine, and a model taught "she" everywhere pays on every "he": its
# per-token perplexity may rise, but by less than this fraction (upper end of the 95% interval).
HELDOUT_PPL_BOUND = 0.20


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("study")
    overrides = [
        "+experiment=mini-suite", f"runs_root={root}", f"study.seeds=[{','.join(map(str, SEEDS))}]",
        "study.arms=[tail21,control21]", "eval.checkpoints.which=last",
        "eval.tasks.crows_pairs.enabled=false", "eval.tasks.lambada.enabled=false",
        "eval.tasks.winogender.enabled=false", "eval.tasks.winobias.coreference=false",
    ]
    cfg = compose(overrides)
    result = run_study(cfg, overrides)
    eval_cfg: EvalConfig = result.eval_config
    finals = {arm: [evaluate_run(result.run_dirs[(s, arm)], eval_cfg, compute=False)[-1] for s in SEEDS]
              for arm in ("none", "tail21", "control21")}
    return {"result": result, "overrides": overrides, "cfg": cfg, "finals": finals, "stats": eval_cfg.stats}


def test_every_tail_was_rewritten_and_the_manifests_say_so(study: dict) -> None:
    for seed in SEEDS:
        manifest = json.loads((study["result"].run_dirs[(seed, "tail21")] / "manifest.json").read_text())
        totals = manifest["totals"]
        assert manifest["direction"] == "to_feminine"
        assert (manifest["start_step"], manifest["end_step"]) == (1130, 1430)
        assert totals["swapped"] > 10_000, totals  # about 300 steps x 16 rows x ~7 pronouns
        assert totals["left_fraction"] < 0.01, totals
        assert manifest["counts"]["he"]["swapped"] > 0 and manifest["counts"]["his"]["swapped"] > 0
        control = json.loads((study["result"].run_dirs[(seed, "control21")] / "manifest.json").read_text())
        assert control["arm"] == "control"


def test_rewrite_moves_the_prior_toward_feminine_and_drops_the_association(study: dict) -> None:
    control, treated = study["finals"]["control21"], study["finals"]["tail21"]
    table = compare_arms(control, treated, study["stats"])
    for task in PRONOUN_TASKS:
        prior, assoc = table.row(f"{task}/prior"), table.row(f"{task}/association")
        assert "two-level" in prior.method and "paired" in prior.method
        assert prior.low > 0, f"{task} prior did not move toward feminine: {prior}"
        assert assoc.high < 0, f"{task} association did not drop: {assoc}"


def test_heldout_perplexity_rises_by_less_than_the_bound(study: dict) -> None:
    control, treated = study["finals"]["control21"], study["finals"]["tail21"]
    row = compare_arms(control, treated, study["stats"]).row("heldout/ppl_token")
    assert row.high / row.a < HELDOUT_PPL_BOUND, row


def test_null_check_two_level_finds_nothing_where_single_models_would(study: dict) -> None:
    """The controls had the same treatment: seeds against seeds must not come out different,
    though item-level tests between single models call some of them different."""
    metrics = [f"{t}/{p}" for t in PRONOUN_TASKS for p in ("prior", "association")]
    check = null_check(study["finals"]["control21"], study["stats"], metrics=metrics)
    summary = check.summary()
    assert set(summary) == set(metrics)
    assert not any(v["two_level_significant"] for v in summary.values()), check.two_level.to_markdown()
    assert sum(v["single_significant"] for v in summary.values()) >= 1, [t.to_markdown() for t in check.single]


def test_report_is_written_with_the_comparisons_and_the_null_check(study: dict) -> None:
    report = study["result"].report
    assert report is not None and report.is_file()
    text = report.read_text()
    assert "Null check" in text and "intervention 21%" in text and "data:image/png;base64," in text
    data = json.loads((report.parent / "results.json").read_text())
    titles = [c["title"] for c in data["comparisons"]]
    assert any("intervention" in t and "control" in t for t in titles), titles
    assert data["null_checks"] and data["null_checks"][0]["seeds_a"] == [0, 1]


def test_rerun_finds_everything_done(study: dict) -> None:
    again = run_study(study["cfg"], study["overrides"])
    train_jobs = {k: v for k, v in again.jobs.items() if k.startswith("train")}
    eval_jobs = {k: v for k, v in again.jobs.items() if k.startswith("eval")}
    assert len(train_jobs) == 3 * len(SEEDS) and set(train_jobs.values()) == {"already complete"}
    assert eval_jobs and all("0 evaluated now" in v for v in eval_jobs.values()), eval_jobs
