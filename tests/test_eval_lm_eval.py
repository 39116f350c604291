"""Scores through lm-eval equal a direct computation with transformers (summed token log-probs).

A tiny random GPT-NeoX with the real 20B tokenizer; CrowS-Pairs and WinoBias subsampled (the
point is the arithmetic, not the benchmark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eval import benchmarks, winobias
from eval.config import EvalConfig
from eval.metrics import BY_NAME
from eval.runner import evaluate_checkpoint
from eval.testing import make_checkpoint

pytestmark = pytest.mark.slow
TOL = 1e-4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, neox_tokenizer_path: Path) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("neox") / "step0", neox_tokenizer_path, seed=3, hidden=64,
                           layers=2, heads=4, init_std=0.2)


@pytest.fixture(scope="module")
def cfg() -> EvalConfig:
    cfg = EvalConfig(batch_size=8, threads=1, dtype="float32", device="cpu")
    t = cfg.tasks
    t.crows_pairs.limit = 40
    t.winobias.limit = 20
    t.winogender.enabled = t.synthetic.enabled = t.lambada.enabled = t.heldout.enabled = False
    return cfg


@pytest.fixture(scope="module")
def direct(checkpoint: Path):
    """log P(continuation | context) by hand: one sequence at a time, context empty -> <|endoftext|>."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(checkpoint))

    def loglik(context: str, continuation: str) -> float:
        if context:
            ids = tok.encode(context + continuation)
            start = len(tok.encode(context))
        else:
            ids = [tok.eos_token_id] + tok.encode(continuation)
            start = 1
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
        targets = torch.tensor(ids[start:])
        return float(logp[torch.arange(start - 1, len(ids) - 1), targets].sum())

    return loglik


def test_crows_pairs_equals_direct_computation(checkpoint: Path, cfg: EvalConfig, direct) -> None:
    results = evaluate_checkpoint(checkpoint, cfg)
    table = results.tables["crows_pairs"]
    docs = {d["id"]: d for d in benchmarks.crows_pairs_docs(limit=40, seed=cfg.seed)}
    assert sorted(table.ids) == sorted(docs)
    more = np.array([direct("", docs[i]["sent_more"]) for i in table.ids])
    less = np.array([direct("", docs[i]["sent_less"]) for i in table.ids])
    assert np.max(np.abs(table.columns["ll_more"] - more)) < TOL
    assert np.max(np.abs(table.columns["ll_less"] - less)) < TOL
    metrics = results.metrics()
    assert metrics["crows_pairs/pct_stereotype"] == pytest.approx(np.mean(more > less))
    assert metrics["crows_pairs/likelihood_diff"] == pytest.approx(np.mean(np.abs(more - less)), abs=TOL)
    # lm-eval's own aggregation of the same task agrees with ours.
    assert table.lm_eval["pct_stereotype"] == pytest.approx(metrics["crows_pairs/pct_stereotype"])


def test_winobias_equals_direct_computation(checkpoint: Path, cfg: EvalConfig, direct) -> None:
    results = evaluate_checkpoint(checkpoint, cfg)
    pairs = {p.id: p for p in winobias.load_pairs(limit=20, seed=cfg.seed)}
    pref = results.tables["winobias_preference"]
    assert sorted(pref.ids) == sorted(pairs)
    pro = np.array([direct("", pairs[i].pro) for i in pref.ids])
    anti = np.array([direct("", pairs[i].anti) for i in pref.ids])
    assert np.max(np.abs(pref.columns["ll_pro"] - pro)) < TOL
    assert np.max(np.abs(pref.columns["ll_anti"] - anti)) < TOL
    female = np.array([pairs[i].stereotype == "female" for i in pref.ids])
    logodds = np.where(female, pro - anti, anti - pro)
    metrics = results.metrics()
    assert metrics["winobias/prior"] == pytest.approx(logodds.mean(), abs=TOL)
    assert metrics["winobias/association"] == pytest.approx(logodds[female].mean() - logodds[~female].mean(), abs=TOL)
    assert metrics["winobias/pref_pro"] == pytest.approx(np.mean(pro > anti))

    coref = results.tables["winobias_coreference"]
    for polarity in ("pro", "anti"):
        expected = []
        for i in coref.ids:
            p = pairs[i]
            sentence, pronoun = (p.pro, p.pronoun_pro) if polarity == "pro" else (p.anti, p.pronoun_anti)
            context = f"{sentence} Here, {pronoun} refers to the"
            expected.append(direct(context, " " + p.referent) - direct(context, " " + p.other))
        assert np.max(np.abs(coref.columns[f"margin_{polarity}"] - np.array(expected))) < TOL
    acc_pro = np.mean(coref.columns["margin_pro"] > 0)
    acc_anti = np.mean(coref.columns["margin_anti"] > 0)
    assert metrics["winobias_coref/net_bias"] == pytest.approx(acc_pro - acc_anti)
    assert BY_NAME["winobias_coref/acc_pro"].fn(coref.columns) == pytest.approx(coref.lm_eval["acc_pro"])
