"""The benchmark registry is where every list comes from: each entry's folder holds its YAMLs and
their ``!function`` helpers, every task the suite plans resolves to one entry, and the lists of
metrics, summary, series and report headline are the registry's (and the same as before the move
into folders, so the report reads as it did)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from debias.eval.config import EvalConfig, TasksConfig
from debias.eval.tasks import TASKS_DIR
from debias.eval.tasks.registry import (
    BENCHMARKS,
    BY_NAME,
    headline_metrics,
    metrics,
    series_metrics,
    summary_metrics,
    task_defs,
)


def test_every_entry_has_its_folder_with_its_yamls_and_helpers() -> None:
    from lm_eval.tasks._yaml_loader import load_yaml

    assert sorted(p.name for p in TASKS_DIR.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(BY_NAME)
    for b in BENCHMARKS:
        assert b.folder == TASKS_DIR / b.name and (b.folder / "__init__.py").is_file()
        assert (b.folder / "hooks.py").is_file() and (b.folder / "reader.py").is_file()
        for name, task in b.tasks.items():
            assert task.name == name and task.yaml.startswith(f"{b.name}/")
            config = load_yaml(TASKS_DIR / task.yaml, resolve_func=True)  # every !function resolves
            assert config["task"].startswith("debias_") and callable(config["custom_dataset"])
    yamls = {str(p.relative_to(TASKS_DIR)) for p in TASKS_DIR.rglob("*.yaml")}
    assert yamls == {t.yaml for t in task_defs().values()}  # no YAML outside the registry


def test_every_planned_task_resolves_to_one_entry() -> None:
    cfg = EvalConfig()
    cfg.tasks.heldout.swapped = ["to_feminine", "to_masculine", "both"]
    from debias.eval.suite import TASKS, plan_tasks

    plans = plan_tasks(cfg)
    assert TASKS == task_defs()
    owners = {name: b.name for b in BENCHMARKS for name in b.tasks}
    for plan in plans:
        owner = owners[plan.base or plan.name]
        assert plan.yaml == TASKS[plan.base or plan.name].yaml and plan.yaml.startswith(f"{owner}/")
    assert [p.name for p in plans] == [
        "crows_pairs", "winobias_preference", "winobias_coreference", "winogender", "synthetic", "lambada", "heldout",
        "heldout_to_feminine", "heldout_to_masculine", "heldout_both"]
    cfg.tasks.crows_pairs.subsets = ["gender"]
    assert plan_tasks(cfg)[0].name == "crows_pairs_gender"


def test_the_options_have_one_field_per_entry() -> None:
    assert [f.name for f in dataclasses.fields(TasksConfig)] == [
        "crows_pairs", "winobias", "winogender", "lambada", "heldout", "synthetic"]
    hints = typing.get_type_hints(TasksConfig)
    assert set(hints) == set(BY_NAME) and all(hints[b.name] is b.options for b in BENCHMARKS)
    assert not TasksConfig().problems()
    bad = TasksConfig()
    for b in BENCHMARKS:
        getattr(bad, b.name).limit = 0
    assert len(bad.problems()) == len(BENCHMARKS)  # every entry's options are checked


def test_metrics_read_only_their_own_benchmarks_tables() -> None:
    for b in BENCHMARKS:
        tables = set(b.tasks) | {f"heldout_{d}" for d in ("to_feminine", "to_masculine", "both") if b.name == "heldout"}
        for m in b.metrics:
            assert set(m.tasks) <= tables, m.name


@pytest.mark.parametrize("listed, own", [("summary", "summary"), ("series", "series"), ("headline", "headline")])
def test_each_list_names_its_entrys_metrics(listed: str, own: str) -> None:
    for b in BENCHMARKS:
        names = {m.name for m in b.metrics}
        for n in getattr(b, own):
            assert n in names, (b.name, n)


def test_the_lists_of_metrics_summary_and_report_are_the_registrys() -> None:
    from debias.eval import metrics as eval_metrics
    from debias.eval import summary
    from debias.eval.report import content, study

    assert eval_metrics.METRICS == metrics()
    assert summary.HEADLINE == summary_metrics()
    assert study.SERIES_METRICS == series_metrics()
    assert content.HEADLINE == headline_metrics()
    # as they were before the benchmarks moved into folders, so the report and README read the same
    assert summary_metrics() == (
        "crows_pairs_gender/pct_stereotype", "winobias/prior", "winobias/association", "winobias/auc",
        "winobias_coref_type1_test/net_bias", "winobias_coref_type2_test/net_bias",
        "winogender/association_occupation", "synthetic/association", "lambada/acc", "lambada/ppl",
        "heldout/ppl_token", "heldout/ppl_other")
    assert series_metrics() == (
        "crows_pairs_gender/pct_stereotype", "winobias/pref_pro", "winobias/prior", "winobias/association",
        "winobias_coref/net_bias", "winogender/prior", "winogender/association_occupation", "synthetic/prior",
        "synthetic/association", "lambada/acc", "lambada/ppl", "heldout/ppl_token", "heldout/ppl_other")
    assert headline_metrics() == (
        "heldout/ppl_other", "synthetic/auc", "winobias/auc", "winobias/prior", "winobias/association",
        "synthetic/prior", "synthetic/association", "winogender/prior",
        "winogender/association_occupation", "winogender/association_participant",
        "winobias_coref_type1_test/net_bias", "winobias_coref_type2_test/net_bias",
        "crows_pairs_gender/pct_stereotype", "heldout/ppl_token", "heldout/ppl_gendered",
        "heldout_to_feminine/ppl_token", "heldout_both/ppl_token", "lambada/acc")
    assert [m.name for m in metrics()][:4] == ["crows_pairs/pct_stereotype", "crows_pairs/likelihood_diff",
                                               "crows_pairs_gender/pct_stereotype", "crows_pairs_gender/likelihood_diff"]
    assert len(metrics()) == 41
