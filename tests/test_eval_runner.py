"""Running evaluations: checkpoint discovery and selection, the per-checkpoint cache (reruns do
only missing work), configs that compose, and the `python -m debias.eval` command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import debias.eval.runner as runner
from debias.eval.checkpoints import (
    Checkpoint,
    CheckpointError,
    cache_path,
    checkpoint_info,
    find_checkpoints,
    select,
)
from debias.eval.config import CheckpointSelection, EvalConfig, EvaluateAppConfig, ReportAppConfig
from debias.eval.testing import make_run, train_small_tokenizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json", 400)


def small_cfg() -> EvalConfig:
    cfg = EvalConfig(batch_size=16, threads=1, device="cpu")
    t = cfg.tasks
    t.crows_pairs.limit, t.winobias.limit, t.winogender.limit, t.synthetic.limit = 30, 20, 20, 20
    t.lambada.limit, t.heldout.limit, t.heldout.chunk_chars = 10, 4, 1000
    return cfg


def crows_pairs_only() -> EvalConfig:
    """``small_cfg`` with one task: the quickest evaluation that still writes a cache."""
    cfg = small_cfg()
    cfg.tasks.winobias.preference = cfg.tasks.winobias.coreference = False
    cfg.tasks.winogender.enabled = cfg.tasks.synthetic.enabled = False
    cfg.tasks.lambada.enabled = cfg.tasks.heldout.enabled = False
    return cfg


def fake(steps: list[int]) -> list[Checkpoint]:
    return [Checkpoint(path=Path(f"/x/step{s}"), step=s, total_steps=100) for s in steps]


@pytest.mark.parametrize("how, expected", [
    (CheckpointSelection("all"), [0, 10, 20, 30, 40, 50, 60]),
    (CheckpointSelection("last"), [60]),
    (CheckpointSelection("every", every=3), [0, 30, 60]),
    (CheckpointSelection("every", every=4), [0, 40, 60]),
    (CheckpointSelection("count", count=3), [0, 30, 60]),
    (CheckpointSelection("count", count=20), [0, 10, 20, 30, 40, 50, 60]),
    (CheckpointSelection("steps", steps=[20, 50]), [20, 50]),
])
def test_checkpoint_selection(how: CheckpointSelection, expected: list[int]) -> None:
    assert [c.step for c in select(fake([0, 10, 20, 30, 40, 50, 60]), how)] == expected


def test_selection_of_a_missing_step_is_an_error() -> None:
    with pytest.raises(CheckpointError, match=r"step\(s\) \[70\]"):
        select(fake([0, 10]), CheckpointSelection("steps", steps=[70]))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Path) -> Path:
    run = make_run(tmp_path_factory.mktemp("runs") / "base-s0", tokenizer, seed=0, steps=(0, 50, 100))
    (run / "checkpoints" / ".step150.tmp").mkdir()  # a checkpoint being written: never read
    return run


def test_run_layout(run_dir: Path) -> None:
    found = find_checkpoints(run_dir)
    assert [c.step for c in found] == [0, 50, 100]
    assert found[1].fraction == 0.5 and found[1].run["seed"] == 0 and found[1].run_dir == run_dir
    assert cache_path(found[1]) == run_dir / "eval" / "step50.json"


def test_incomplete_checkpoint_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no model weights"):
        checkpoint_info(tmp_path)


def test_rerun_does_only_missing_work(run_dir: Path, monkeypatch: pytest.MonkeyPatch, tokenizer: Path) -> None:
    cfg = small_cfg()
    cfg.tasks.lambada.enabled = False
    ckpt = run_dir / "checkpoints" / "step50"
    first = runner.evaluate_checkpoint(ckpt, cfg)
    assert "lambada" not in first.tables and len(first.tables["crows_pairs"]) == 30

    calls: list[list[str]] = []
    real = runner._run_tasks

    def spy(ck, plans, *args, **kwargs):
        calls.append([p.name for p in plans])
        return real(ck, plans, *args, **kwargs)

    monkeypatch.setattr(runner, "_run_tasks", spy)
    again = runner.evaluate_checkpoint(ckpt, cfg)
    assert calls == [] and again.metrics() == first.metrics()

    cfg.tasks.lambada.enabled = True  # a larger task set: only the new task runs
    bigger = runner.evaluate_checkpoint(ckpt, cfg)
    assert calls == [["lambada"]] and len(bigger.tables["lambada"]) == 10
    # The items are lm-eval's own answers: their accuracy is lm-eval's, though lm-eval's output files
    # (written beside the cache) turn every answer into text, where "False" would read as true.
    lam = next(e for e in json.loads((run_dir / "eval" / "step50.json").read_text())["tasks"].values()
               if e["task"] == "lambada")
    assert sum(lam["items"]["greedy"]) / 10 == pytest.approx(lam["lm_eval"]["acc"], abs=1e-12)
    assert any((run_dir / "eval" / "step50.lm_eval").rglob("samples_debias_lambada_*.jsonl"))
    assert bigger.metrics()["crows_pairs/pct_stereotype"] == first.metrics()["crows_pairs/pct_stereotype"]

    cfg.tasks.lambada.limit = 12  # other options: a new entry, the old one kept
    runner.evaluate_checkpoint(ckpt, cfg)
    assert calls[-1] == ["lambada"]
    cache = json.loads((run_dir / "eval" / "step50.json").read_text())
    assert sum(entry["task"] == "lambada" for entry in cache["tasks"].values()) == 2

    heldout = bigger.tables["heldout"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(ckpt))
    from debias.eval.tasks.heldout.reader import heldout_docs

    texts = {d["id"]: d["text"] for d in heldout_docs(chunk_chars=1000, limit=4, seed=cfg.seed)}
    assert list(heldout.columns["n_tokens"]) == [len(tok.encode(texts[i])) for i in heldout.ids]


def test_changed_weights_are_evaluated_again(run_dir: Path, tokenizer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = small_cfg()
    cfg.tasks.lambada.enabled = cfg.tasks.heldout.enabled = cfg.tasks.winobias.coreference = False
    ckpt = run_dir / "checkpoints" / "step0"
    before = runner.evaluate_checkpoint(ckpt, cfg).metrics()
    make_run(run_dir, tokenizer, seed=0, steps=(0,), model_seed=999)  # step0 rewritten with other weights
    after = runner.evaluate_checkpoint(ckpt, cfg).metrics()
    assert after != before
    with pytest.raises(runner.MissingResultsError, match="no cached results for lambada"):
        cfg.tasks.lambada.enabled = True
        runner.evaluate_checkpoint(ckpt, cfg, compute=False)


def test_config_problems_are_listed_together() -> None:
    cfg = EvalConfig(batch_size=0, dtype="float8", device="tpu")
    cfg.tasks.winobias.types = [3]
    cfg.tasks.lambada.limit = 0
    problems = EvaluateAppConfig(eval=cfg).problems()
    for needle in ("batch_size", "dtype", "device", "types", "lambada.limit", "path="):
        assert any(needle in p for p in problems), needle


@pytest.mark.parametrize("name, overrides", [
    ("evaluate", ["path=/x"]),
    ("evaluate", ["path=/x", "eval=quick"]),
    ("evaluate", ["path=/x", "eval=bias", "eval.checkpoints.which=last"]),
    ("evaluate", ["model_name=EleutherAI/pythia-70m-deduped", "revisions=[step1000,step143000]"]),
    ("report", ["runs=[/x]", "eval=quick"]),
    ("report", ["compare=[EleutherAI/pythia-70m-deduped@step143000,/models/mine]"]),
    ("report", ["comparison=pythia-intervention", "eval=bias"]),
])
def test_configs_compose_and_validate(name: str, overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    app = OmegaConf.to_object(cfg)
    assert isinstance(app, EvaluateAppConfig if name == "evaluate" else ReportAppConfig)
    assert app.problems() == []


def test_every_named_comparison_composes_into_pairs() -> None:
    names = sorted(p.stem for p in (REPO / "conf" / "comparison").glob("*.yaml"))
    assert names == ["pythia-intervention"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        app = OmegaConf.to_object(compose(config_name="report", overrides=["comparison=pythia-intervention"]))
    assert [(p.a, p.b) for p in app.pairs()] == [
        (f"EleutherAI/pythia-{s}-deduped@step143000", f"EleutherAI/pythia-intervention-{s}-deduped")
        for s in ("410m", "1.4b", "6.9b")]


def test_model_and_comparison_mistakes_are_listed_together() -> None:
    said = " | ".join(ReportAppConfig(runs=["/x"], compare=["a/b"]).problems()
                      + ReportAppConfig(runs=["/x"], revisions=["step1"]).problems())
    for needle in ("not both", "compare= takes two models", "revisions= goes with compare"):
        assert needle in said, needle
    said = " | ".join(EvaluateAppConfig(model_name="a/b", path="/x", total_steps=0).problems()
                      + EvaluateAppConfig(path="/x", tokenizer="t").problems())
    for needle in ("give model= or path=/paths=, not both", "go with model=", "total_steps=0"):
        assert needle in said, needle


@pytest.mark.slow
def test_command_line(run_dir: Path, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "debias.eval", f"path={run_dir}", "eval=bias", "eval.checkpoints.which=last",
            "eval.threads=1", "eval.tasks.crows_pairs.limit=20", "eval.tasks.winobias.limit=10",
            "eval.tasks.winogender.limit=10", "eval.tasks.synthetic.limit=10", f"hydra.run.dir={tmp_path}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "base-s0@step100" in out.stdout and "winobias/prior" in out.stdout
    assert (run_dir / "eval" / "step100.json").is_file()

    bad = subprocess.run([*args[:3], f"path={tmp_path / 'missing'}", "eval.batch_size=0", f"hydra.run.dir={tmp_path}"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    said = bad.stdout + bad.stderr  # Hydra's logging goes to stdout
    assert "does not exist" in said and "batch_size" in said


def test_a_corrupt_cache_is_named_and_evaluated_again(run_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A cache edited into another shape is never read as results: the checkpoint is scored again."""
    cfg = crows_pairs_only()
    ckpt = run_dir / "checkpoints" / "step100"
    first = runner.evaluate_checkpoint(ckpt, cfg)
    where = run_dir / "eval" / "step100.json"
    doc = json.loads(where.read_text())
    key = next(k for k, e in doc["tasks"].items() if e["task"] == "crows_pairs" and len(e["items"]["id"]) == 30)
    entry = doc["tasks"][key]
    entry["items"]["ll_more"] = entry["items"]["ll_more"][:-1]  # one score short
    where.write_text(json.dumps(doc))
    with caplog.at_level("WARNING", logger="debias.eval.cache"), \
            pytest.raises(runner.MissingResultsError, match=re.escape(str(where))):
        runner.evaluate_checkpoint(ckpt, cfg, compute=False)
    assert f"{where}: unusable results cache" in caplog.text and "holds 29 values for 30 items" in caplog.text
    again = runner.evaluate_checkpoint(ckpt, cfg)
    assert again.evaluated_now == 1 and again.metrics() == first.metrics()
    assert (run_dir / "eval" / "step100.json.broken").is_file()


def test_a_cache_without_its_fingerprint_is_evaluated_again_not_adopted(run_dir: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Results whose fingerprint was removed (another run's cache copied in) are not stamped with
    these weights' fingerprint and used: the checkpoint is scored again."""
    cfg = crows_pairs_only()
    ckpt = run_dir / "checkpoints" / "step100"
    first = runner.evaluate_checkpoint(ckpt, cfg)
    where = run_dir / "eval" / "step100.json"
    doc = json.loads(where.read_text())
    fingerprint = doc.pop("fingerprint")
    where.write_text(json.dumps(doc))
    with caplog.at_level("WARNING", logger="debias.eval.runner"):
        again = runner.evaluate_checkpoint(ckpt, cfg)
    assert "carry no fingerprint of the weights they were computed on" in caplog.text
    assert again.evaluated_now == 1 and again.metrics() == first.metrics()
    assert json.loads(where.read_text())["fingerprint"]["sha256"] == fingerprint["sha256"]


def test_an_unwritable_results_folder_is_refused_before_scoring(run_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """It failed only after every task was scored, without naming the option for another folder."""
    cfg = small_cfg()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg.cache_dir = str(blocker / "cache")  # a folder cannot be made inside a file, even by root
    monkeypatch.setattr(runner, "_run_tasks", lambda *a, **k: pytest.fail("scored before the folder was checked"))
    with pytest.raises(runner.ResultsFolderError, match=r"the results cannot be written there .*eval\.cache_dir="):
        runner.evaluate_checkpoint(run_dir / "checkpoints" / "step50", cfg)


def test_a_continuation_longer_than_the_context_is_scored_as_lm_evals_rolling_windows(
        tmp_path: Path, tokenizer: Path) -> None:
    """Our own 32-token runs failed on CrowS-Pairs (lm-eval asserts on a continuation longer than the
    context). Such a continuation is scored in pieces of the context's length: from an empty context,
    exactly lm-eval's own rolling windows over the same text."""
    from lm_eval.api.instance import Instance
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from debias.eval.scoring import BucketLM
    from debias.eval.testing import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "model", tokenizer, seed=3)
    lm = BucketLM(pretrained=AutoModelForCausalLM.from_pretrained(str(ckpt)),
                  tokenizer=AutoTokenizer.from_pretrained(str(ckpt)), batch_size=4, max_length=8)
    text = "The nurse said that she would check on the patient again after the doctor had left the ward."
    assert len(lm.tok_encode(text)) > 2 * 8
    (ll, greedy), = lm.loglikelihood([Instance("loglikelihood", {}, ("", text), 0)])
    (rolling,) = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)])
    assert ll == pytest.approx(rolling, rel=1e-5) and ll < -len(lm.tok_encode(text))  # a random model: < -1 a token
    assert lm.windowed == 1 and greedy is False
    short = lm.loglikelihood([Instance("loglikelihood", {}, ("The nurse", " said"), 0)])
    assert lm.windowed == 1 and len(short) == 1  # a short one is scored as before
