"""A small study end to end: 3 seeds of baseline, control and intervention runs, where the
intervention makes feminine pronouns exactly 2 nats likelier everywhere (a pure prior shift in a
real model). The comparison must find the prior moved and the association not, the report must
render, state its protocol, and call itself exploratory when read under another one."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from debias.eval.compare import compare_arms
from debias.eval.config import EvalConfig
from debias.eval.report import write_report
from debias.eval.runner import evaluate_run
from debias.eval.tasks.winobias.reader import irregular_examples
from debias.eval.testing import boost_words, make_run, train_small_tokenizer

pytestmark = pytest.mark.slow
SHIFT = 2.0


def cfg() -> EvalConfig:
    c = EvalConfig(batch_size=32, threads=1, device="cpu")
    t = c.tasks
    t.crows_pairs.limit, t.winobias.limit, t.winogender.limit, t.synthetic.limit = 60, 120, 240, 120
    t.lambada.limit, t.heldout.limit, t.heldout.chunk_chars = 10, 3, 1000
    c.stats.n_boot, c.stats.n_boot_series, c.stats.n_perm = 500, 200, 500
    return c


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    tok = train_small_tokenizer(root / "tokenizer.json", 400)
    runs = root / "runs"
    manifest = {"direction": "to_feminine", "start_step": 80, "end_step": 100,
                "counts": {"he": {"seen": 10, "swapped": 9, "left": {"no_same_length": 1}}},
                "totals": {"rows": 32, "seen": 10, "swapped": 9, "left": 1}}
    for seed in range(3):
        name = "<b>base</b>" if seed == 0 else "base"  # markup in a run name must come out escaped
        make_run(runs / f"base-s{seed}", tok, arm="baseline", seed=seed, steps=(0, 80, 100))
        if seed == 0:
            info = json.loads((runs / "base-s0" / "run.json").read_text())
            (runs / "base-s0" / "run.json").write_text(json.dumps({**info, "name": name}))
        for arm, delta in (("control", 0.0), ("intervention", SHIFT)):
            run = make_run(runs / f"{arm}-s{seed}", tok, arm=arm, seed=seed, steps=(100,), start_step=80,
                           direction="to_feminine" if arm == "intervention" else None, model_seed=5000 + seed,
                           manifest=manifest if arm == "intervention" else None,
                           intervention_name="tail21" if arm == "intervention" else "control21")
            boost_words(run / "checkpoints" / "step100", delta=delta)
    return runs


def test_prior_moves_and_association_does_not(study: Path) -> None:
    control = [evaluate_run(study / f"control-s{s}", cfg())[-1] for s in (2, 0, 1)]
    treated = [evaluate_run(study / f"intervention-s{s}", cfg())[-1] for s in range(3)]
    table = compare_arms(control, treated, cfg().stats, cfg().protocol)
    for task in ("winobias", "synthetic", "winogender"):
        prior = table.row(f"{task}/prior")
        assert "paired" in prior.method
        assert 1.5 < prior.diff < SHIFT + 0.05 and prior.significant, (task, prior)
    for task in ("winobias", "synthetic"):
        assert abs(table.row(f"{task}/association").diff) < 0.15
    assert abs(table.row("winogender/association").diff) < 0.1
    assert table.row("winobias/pref_pro").diff != 0  # preference moves with the prior alone


def test_report_renders_everything(study: Path, tmp_path: Path) -> None:
    c = cfg()
    c.checkpoints.which = "last"  # the baselines' start-step checkpoints are added anyway
    paths = write_report([study], c, tmp_path / "report", title="test & <report>")
    page = paths.html.read_text(encoding="utf-8")
    data = json.loads(paths.results.read_text())
    assert {a["label"] for a in data["arms"]} == {"baseline", "control21", "tail21"}
    titles = [c["title"] for c in data["comparisons"]]
    assert titles == ["tail21 - control21", "control21 - baseline (resuming alone)"]
    assert data["runs"][3]["manifest"] is None or isinstance(data["runs"][3]["manifest"], dict)
    assert any(r["manifest"] and r["manifest"]["swapped"] == 9 for r in data["runs"])
    assert "winobias/prior" in data["series"] and data["intervention_starts"] == [0.8]
    assert [c["step"] for c in data["runs"][0]["checkpoints"]] == [80, 100]
    treated = next(a for a in data["arms"] if a["role"] == "intervention")
    assert "heldout/ppl_token" in treated["baseline_at_start"]
    # The protocol it was read under, and the verdicts by its rules: a pure push of the prior is a
    # change of the prior, and not of the link's rank measure.
    assert data["protocol"]["name"] == "default" and data["protocol"]["status"] == "confirmatory"
    rows = {r["metric"]: r for r in data["comparisons"][0]["rows"]}
    assert rows["winobias/prior"]["verdict"] == "changed" and rows["winobias/auc"]["verdict"] != "changed"
    assert rows["winobias/auc"]["family"] == "link" and rows["winobias/pref_pro"]["verdict"] == "exploratory"
    # Self-contained: plots inline (the series and the link's forest plot), nothing fetched from elsewhere.
    assert len(data["series"]) >= 10
    assert page.count("data:image/png;base64,") == len(data["series"]) + 1
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    # Text is escaped: a run name with markup, the title, dataset sentences.
    assert "<b>base</b>" not in page and html.escape("<b>base</b>") in page
    assert "test &amp; &lt;report&gt;" in page
    first = irregular_examples()[0]
    assert html.escape(first["pro"]) in page
    md = paths.markdown.read_text(encoding="utf-8")
    assert "## Comparisons" in md and "## Protocol" in md and "figures/winobias_prior.png" in md
    assert (paths.markdown.parent / "figures" / "winobias_prior.png").is_file()


def test_a_report_read_under_another_protocol_says_it_is_exploratory(study: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from debias.eval.report.reading import reading

    c = cfg()
    c.checkpoints.which = "last"
    write_report([study], c, tmp_path / "first")  # evaluated under the default protocol
    chosen_later = replace(c, protocol=replace(c.protocol, name="chosen-later", alpha=0.1))
    data = json.loads(write_report([study], chosen_later, tmp_path / "later", evaluate_missing=False)
                      .results.read_text())
    assert data["protocol"]["status"] == "exploratory"
    assert list(data["protocol"]["recorded"]) == [f"default {c.protocol.sha256()[:12]}"]  # what every result recorded
    assert "EXPLORATORY" in reading(data)[0]
