"""The model side of training: Pythia's initialisation, AdamW's decay groups, and loading a
checkpoint from the hub (recorded, never downloaded) or refusing one of the wrong shape."""

from __future__ import annotations

import math

import pytest
import torch

from debias.train import compose
from debias.train.model import hf_config, load_pretrained, pretrained_call
from debias.train.plan import to_train_config


def test_pythia_init_and_weight_decay_groups() -> None:
    from debias.train.config import ModelConfig
    from debias.train.model import build_model, param_groups

    cfg = ModelConfig(num_layers=8, hidden_size=256, num_heads=4, vocab_size=512)
    model = build_model(cfg, seed=3)
    params = dict(model.named_parameters())
    assert params["gpt_neox.layers.0.attention.query_key_value.weight"].std().item() == pytest.approx(
        math.sqrt(2 / (5 * 256)), rel=0.02)  # small_init
    assert params["gpt_neox.layers.0.mlp.dense_4h_to_h.weight"].std().item() == pytest.approx(
        2 / (8 * math.sqrt(256)), rel=0.02)  # wang_init
    assert params["gpt_neox.layers.0.attention.dense.bias"].abs().max() == 0
    assert torch.equal(build_model(cfg, seed=3).get_output_embeddings().weight, model.get_output_embeddings().weight)
    assert not torch.equal(build_model(cfg, seed=4).get_output_embeddings().weight, model.get_output_embeddings().weight)
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(names[id(p)].endswith("bias") or "norm" in names[id(p)] for p in no_decay["params"])
    assert all(names[id(p)].endswith("weight") and "norm" not in names[id(p)] for p in decay["params"])
    assert len(decay["params"]) == 2 + 4 * 8  # embeddings, unembedding, 4 matrices a layer


def test_hub_source_builds_the_right_from_pretrained_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: the calls are recorded, and a tiny model stands in for the download."""
    typed = to_train_config(compose(["+experiment=pythia-160m-tail7", "intervention=tail21"]))
    target, kwargs = pretrained_call(typed.source, typed.model, 113_000)
    dtype_key = "dtype" if "dtype" in kwargs else "torch_dtype"
    assert target == "EleutherAI/pythia-160m-deduped"
    assert kwargs == {"revision": "step113000", dtype_key: torch.float32, "attn_implementation": "sdpa"}

    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    calls = []
    real_config = hf_config(typed.model)

    def fake_config(name, **kw):
        calls.append(("config", name, kw))
        return real_config

    def fake_model(name, **kw):
        calls.append(("model", name, kw))
        small = hf_config(to_train_config(compose(["model=mini-tiny"])).model)
        return GPTNeoXForCausalLM(small)

    monkeypatch.setattr(GPTNeoXConfig, "from_pretrained", staticmethod(fake_config))
    monkeypatch.setattr(GPTNeoXForCausalLM, "from_pretrained", staticmethod(fake_model))
    typed.source.revision = "step112000"
    typed.source.cache_dir = "/cache"
    _, where = load_pretrained(typed.source, typed.model, 113_000)
    assert where == "EleutherAI/pythia-160m-deduped@step112000"
    assert calls[0] == ("config", "EleutherAI/pythia-160m-deduped", {"revision": "step112000", "cache_dir": "/cache"})
    assert calls[1][2]["revision"] == "step112000" and calls[1][2]["cache_dir"] == "/cache"


def test_checkpoint_of_another_shape_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import GPTNeoXConfig

    from debias.train.model import CheckpointMismatchError

    typed = to_train_config(compose(["+experiment=pythia-160m-tail7"]))
    wrong = hf_config(to_train_config(compose(["model=pythia-70m"])).model)
    monkeypatch.setattr(GPTNeoXConfig, "from_pretrained", staticmethod(lambda name, **kw: wrong))
    with pytest.raises(CheckpointMismatchError, match="hidden_size=512 .model.pythia-160m says 768"):
        load_pretrained(typed.source, typed.model, 133_000)
