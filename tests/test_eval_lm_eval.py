"""Scores through lm-eval equal a direct computation with transformers (summed token log-probs).

A tiny random GPT-NeoX with the real 20B tokenizer; CrowS-Pairs and WinoBias subsampled (the
point is the arithmetic, not the benchmark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from debias.eval.config import EvalConfig
from debias.eval.metrics import BY_NAME
from debias.eval.runner import evaluate_checkpoint
from debias.eval.tasks.crows_pairs.reader import crows_pairs_docs
from debias.eval.tasks.heldout.reader import heldout_docs
from debias.eval.tasks.winobias import reader as winobias
from debias.eval.testing import make_checkpoint

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
    docs = {d["id"]: d for d in crows_pairs_docs(limit=40, seed=cfg.seed)}
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


def test_heldout_is_scored_in_the_training_window_and_split_by_token_class(checkpoint: Path) -> None:
    """Windows of ``max_length`` tokens, as lm-eval cuts them; the gendered/other split adds up
    to lm-eval's own rolling log-likelihood; the rewritten text has no masculine pronoun left."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from debias.eval.token_split import gendered_spans

    cfg = EvalConfig(batch_size=4, threads=1, dtype="float32", device="cpu", max_length=32)
    t = cfg.tasks
    t.crows_pairs.enabled = t.winobias.preference = t.winobias.coreference = False
    t.winogender.enabled = t.synthetic.enabled = t.lambada.enabled = False
    t.heldout.limit, t.heldout.chunk_chars, t.heldout.swapped = 3, 600, ["to_feminine"]
    results = evaluate_checkpoint(checkpoint, cfg)
    table, swapped = results.tables["heldout"], results.tables["heldout_to_feminine"]
    c = table.columns
    assert np.allclose(c["ll_gendered"] + c["ll_other"], c["ll"], rtol=1e-4)
    assert np.all(c["n_gendered"] + c["n_other"] == c["n_tokens"])
    texts = {d["id"]: d["text"] for d in heldout_docs(chunk_chars=600, limit=3, seed=cfg.seed)}
    words = sum(len(gendered_spans(texts[i])) for i in table.ids)
    assert words > 0 and c["n_gendered"].sum() >= words  # every gendered word is at least one token

    # By hand: windows of 32 predicted tokens, each scored afresh after one token of context (the
    # first after <|endoftext|>); the last, shorter one sees the 32 tokens before its end.
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    ids = tok.encode(texts[table.ids[0]])
    assert len(ids) > 64  # several windows
    total, start = 0.0, 0
    while start < len(ids):
        end = min(start + 32, len(ids))
        inputs = [tok.eos_token_id] + ids[:end - 1] if start == 0 else ids[end - 33:end - 1]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([inputs])).logits[0], dim=-1)[-(end - start):]
        total += float(logp[torch.arange(end - start), torch.tensor(ids[start:end])].sum())
        start = end
    assert c["ll"][0] == pytest.approx(total, abs=1e-3)

    rewritten = heldout_docs(chunk_chars=600, limit=3, seed=cfg.seed, swap="to_feminine")
    assert sorted(d["id"] for d in rewritten) == sorted(swapped.ids)
    assert not [w for d in rewritten for w in d["text"].lower().split() if w in ("he", "him", "his", "himself")]
    assert swapped.columns["n_gendered"].sum() == pytest.approx(c["n_gendered"].sum(), rel=0.3)
