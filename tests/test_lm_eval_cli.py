"""Our task YAML under lm-eval's own command gives what ``debias-eval`` gives, item by item and in
aggregate: the association, the rank measure, the net bias and the prior are computed inside
lm-eval by the same code (``eval.tasks.in_lm_eval``). And ``debias-eval`` writes lm-eval's own
output files beside its cache, which lm-eval's tooling reads.

A tiny GPT-NeoX with a small tokenizer, on every item of each benchmark (lm-eval's command runs the
YAML's defaults: all items)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from debias.eval.cache import EvalCache
from debias.eval.metrics import BY_NAME
from debias.eval.results import ItemTable
from debias.eval.suite import TASKS
from debias.eval.testing import make_checkpoint, train_small_tokenizer

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
# lm-eval task -> (our item table, {lm-eval metric: our metric})
TASKS_AND_METRICS = {
    "debias_winobias_preference": ("winobias_preference", {
        "association": "winobias/association", "auc": "winobias/auc", "logodds_female": "winobias/prior",
        "pref_pro": "winobias/pref_pro"}),
    "debias_winobias_coreference": ("winobias_coreference", {
        "net_bias_type1_test": "winobias_coref_type1_test/net_bias",
        "net_bias_type2_test": "winobias_coref_type2_test/net_bias"}),
    "debias_winogender": ("winogender", {
        "association_occupation": "winogender/association_occupation",
        "association_participant": "winogender/association_participant", "logodds_female": "winogender/prior"}),
    "debias_synthetic_probes": ("synthetic", {"association": "synthetic/association", "auc": "synthetic/auc"}),
    "debias_crows_pairs_english_gender": ("crows_pairs_gender", {"pct_stereotype": "crows_pairs_gender/pct_stereotype"}),
}
# debias-eval with the YAML's own defaults (every item; CrowS-Pairs gender only)
DEBIAS_EVAL = ["eval=bias", "eval.tasks.crows_pairs.subsets=[gender]", "eval.device=cpu", "eval.batch_size=32",
               "eval.dtype=float32"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lm_eval_cli")
    tokenizer = train_small_tokenizer(root / "tok" / "tokenizer.json", 400)
    return make_checkpoint(root / "model", tokenizer, seed=5, hidden=16, layers=1, heads=2, init_std=0.3)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


def _samples(folder: Path, task: str) -> list[dict]:
    (path,) = folder.rglob(f"samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lm_evals_own_command_prints_what_debias_eval_computes(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "lm_eval_out"
    lm_eval = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--include_path", str(REPO / "eval" / "tasks"), "--tasks",
         ",".join(TASKS_AND_METRICS), "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
         "--device", "cpu", "--batch_size", "32", "--output_path", str(out), "--log_samples"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=1200)
    assert lm_eval.returncode == 0, lm_eval.stderr[-3000:]
    (results_file,) = out.rglob("results_*.json")
    theirs = json.loads(results_file.read_text())["results"]

    ours_run = subprocess.run([sys.executable, "-m", "debias.eval", f"model={model}", *DEBIAS_EVAL], cwd=tmp_path,
                              env=_env(), capture_output=True, text=True, timeout=1200)
    assert ours_run.returncode == 0, ours_run.stderr[-3000:]
    (cache_file,) = (tmp_path / "results").glob("*/eval.json")
    cache = EvalCache.read(cache_file)
    ours = {e.task: ItemTable.from_entry(e) for e in cache.tasks.values()}

    for task, (table, metrics) in TASKS_AND_METRICS.items():
        # per item: lm-eval's logged samples, through our itemizer, equal our cached items
        columns = TASKS[table].itemize(_samples(out, task))
        mine = ours[table]
        assert columns["id"] == mine.ids, task
        for name, values in columns.items():
            if name != "id":
                np.testing.assert_allclose(np.asarray(values, dtype=float), mine.columns[name].astype(float),
                                           atol=1e-4, err_msg=f"{task}: {name}")
        # in aggregate: lm-eval's printed metric equals ours
        for theirs_name, our_name in metrics.items():
            value = theirs[task][f"{theirs_name},none"]
            m = BY_NAME[our_name]
            expected = float(m.fn({k: (v[m.subset(mine.columns)] if m.subset else v)
                                   for k, v in mine.columns.items()}))
            assert value == pytest.approx(expected, abs=1e-4), (task, theirs_name)
            assert theirs_name in lm_eval.stdout

    # debias-eval wrote lm-eval's own files beside its cache, readable as lm-eval's
    written = cache_file.with_name("eval.lm_eval")
    (ours_results,) = written.rglob("results_*.json")
    doc = json.loads(ours_results.read_text())
    assert doc["results"]["debias_winobias_preference"]["auc,none"] == pytest.approx(
        theirs["debias_winobias_preference"]["auc,none"], abs=1e-4)
    assert {p.name.split("_2")[0] for p in written.rglob("samples_*.jsonl")} >= {
        f"samples_{t}" for t in TASKS_AND_METRICS}
