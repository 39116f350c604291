"""GPT-NeoX models as Pythia built them: the Hugging Face config, GPT-NeoX's initialisation, loading
a checkpoint from a directory or a hub revision, and AdamW's decay / no-decay parameter groups."""

from __future__ import annotations

import logging
import math
import os
import pickle
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
from transformers.utils import logging as hf_logging

from debias.core.contracts import CHECKPOINTS, RUN_RECORD, step_dirs, step_name
from debias.core.errors import DebiasError
from debias.core.input_errors import InputError
from debias.core.weights import check_finite, check_shapes, expected_shapes
from debias.train.config import ModelConfig, SourceConfig

log = logging.getLogger(__name__)

EOD_ID = 0  # <|endoftext|> in GPT-NeoX-20B's tokenizer and in debias.data.bpe's


class CheckpointMismatchError(DebiasError, ValueError):
    """A checkpoint's shape differs from the configured model."""


def hf_config(cfg: ModelConfig) -> GPTNeoXConfig:
    """The ``GPTNeoXConfig`` of a Pythia-shaped model (no dropout, untied embeddings)."""
    return GPTNeoXConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.ffn_size,
        hidden_act="gelu",
        rotary_pct=cfg.rotary_pct,
        rotary_emb_base=cfg.rotary_base,
        max_position_embeddings=cfg.max_position_embeddings,
        layer_norm_eps=cfg.layer_norm_eps,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        initializer_range=cfg.init_std,
        bos_token_id=EOD_ID,
        eos_token_id=EOD_ID,
        use_cache=False,
    )


def init_std(method: str, cfg: ModelConfig) -> float:
    """GPT-NeoX's init stds: ``small_init`` sqrt(2 / (5 d)), ``wang_init`` 2 / (L sqrt(d))."""
    d, layers = cfg.hidden_size, cfg.num_layers
    if method == "small_init":
        return math.sqrt(2.0 / (5.0 * d))
    if method == "wang_init":
        return 2.0 / (layers * math.sqrt(d))
    return cfg.init_std


# Projections that write into the residual stream get the output-layer init (GPT-NeoX's
# ``output_layer_init_method``); every other matrix, the embeddings and the unembedding included,
# gets ``init_method``.
_OUTPUT_LAYERS = ("attention.dense.weight", "mlp.dense_4h_to_h.weight")


@torch.no_grad()
def init_weights(model: GPTNeoXForCausalLM, cfg: ModelConfig, seed: int) -> None:
    """Re-initialise ``model`` in place, deterministically from ``seed``: normal matrices and
    embeddings, zero biases, LayerNorm weight 1 and bias 0."""
    gen = torch.Generator().manual_seed(seed)
    main_std = init_std(cfg.init_method, cfg)
    out_std = init_std(cfg.output_layer_init_method, cfg)
    for name, param in model.named_parameters():
        if "layernorm" in name or "layer_norm" in name:
            param.fill_(1.0 if name.endswith("weight") else 0.0)
        elif name.endswith("bias"):
            param.zero_()
        else:
            std = out_std if name.endswith(_OUTPUT_LAYERS) else main_std
            values = torch.randn(param.shape, generator=gen, dtype=torch.float32) * std
            param.copy_(values.to(param.dtype))


def build_model(cfg: ModelConfig, seed: int) -> GPTNeoXForCausalLM:
    """A freshly initialised fp32 model (Pythia's init; the data order never touches torch's RNG)."""
    config = hf_config(cfg)
    model = GPTNeoXForCausalLM._from_config(config, attn_implementation=cfg.attn_implementation,
                                            **{_dtype_kw(): torch.float32})
    init_weights(model, cfg, seed)
    return model


def _dtype_kw() -> str:
    """transformers renamed ``torch_dtype`` to ``dtype`` in 4.56."""
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def pretrained_call(source: SourceConfig, cfg: ModelConfig, start_step: int) -> tuple[str, dict[str, Any]]:
    """``(name_or_path, kwargs)`` for ``GPTNeoXForCausalLM.from_pretrained``.

    A hub source reads revision ``step<start>`` unless ``source.revision`` says otherwise; weights
    load in fp32 (DeepSpeed casts to bf16 itself and keeps fp32 master weights).
    """
    kwargs: dict[str, Any] = {_dtype_kw(): torch.float32, "attn_implementation": cfg.attn_implementation}
    if source.hub:
        kwargs["revision"] = source.revision or step_name(start_step)
        if source.cache_dir:
            kwargs["cache_dir"] = source.cache_dir
        return source.hub, kwargs
    if not source.path:
        raise ValueError("a resumed run needs source.path (a Hugging Face directory) or source.hub")
    return str(hf_dir(source.path, start_step)), kwargs


def hf_dir(path: str | os.PathLike, start_step: int) -> Path:
    """The Hugging Face directory meant by ``path``: the folder itself, or, for a run directory,
    its ``checkpoints/step<start>``."""
    path = Path(path).expanduser()
    if (path / "config.json").is_file():
        return path
    candidate = path / CHECKPOINTS / step_name(start_step)
    if (path / RUN_RECORD).is_file() or (path / CHECKPOINTS).is_dir():
        if not (candidate / "config.json").is_file():
            have = [p.name for _, p in step_dirs(path / CHECKPOINTS)]
            raise FileNotFoundError(
                f"{candidate}: the run {path} has no checkpoint at the start step {start_step} (it has "
                f"{', '.join(have[-5:]) or 'none'}). Resume from a checkpoint step, or finish that run first")
        return candidate
    raise FileNotFoundError(f"{path}: neither a Hugging Face model directory (no config.json) nor a run directory "
                            "(no run.json); set source.path to a baseline run or one of its checkpoints/step<N>")


def check_shape(config: GPTNeoXConfig, cfg: ModelConfig, where: str) -> None:
    """Stop with one message listing every field where a checkpoint's config and ``cfg`` disagree."""
    expected = {
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "intermediate_size": cfg.ffn_size,
        "vocab_size": cfg.vocab_size,
        "use_parallel_residual": True,
        "tie_word_embeddings": False,
    }
    wrong = [f"{k}={getattr(config, k, None)} (model.{cfg.name} says {v})"
             for k, v in expected.items() if getattr(config, k, None) != v]
    rope = getattr(config, "rope_parameters", None) or {}
    pct = rope.get("partial_rotary_factor", getattr(config, "rotary_pct", None))
    if pct is not None and not math.isclose(float(pct), cfg.rotary_pct):
        wrong.append(f"rotary_pct={pct} (model.{cfg.name} says {cfg.rotary_pct})")
    if wrong:
        raise CheckpointMismatchError(
            f"{where}: the checkpoint does not have the configured shape: {'; '.join(wrong)}. Pick the model "
            "config that matches the checkpoint (e.g. model=pythia-160m) or the checkpoint of this model")


def load_pretrained(source: SourceConfig, cfg: ModelConfig, start_step: int) -> tuple[GPTNeoXForCausalLM, str]:
    """Load the weights a resumed run starts from; returns the model and a description of where
    they came from. The shape is checked against ``cfg`` before any weights are read."""
    target, kwargs = pretrained_call(source, cfg, start_step)
    hub_kwargs = {k: kwargs[k] for k in ("revision", "cache_dir") if k in kwargs}
    where = f"{target}@{kwargs['revision']}" if "revision" in kwargs else target
    config = GPTNeoXConfig.from_pretrained(target, **hub_kwargs)
    check_shape(config, cfg, where)
    if Path(target).is_dir():
        with torch.device("meta"):
            check_shapes(target, expected_shapes(GPTNeoXForCausalLM(config)))
    log.info("loading weights from %s", where)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = GPTNeoXForCausalLM.from_pretrained(target, **kwargs)
    except pickle.UnpicklingError as exc:  # a .bin read with weights_only=True holds more than tensors
        raise InputError(
            where, "a .bin weight file holds objects other than tensors (its pickle would run code when read), so "
                   "it was not read",
            "get the weights as model.safetensors, or from a source you trust, and pass that folder") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    model.config.use_cache = False
    check_finite(model, where, "training from it would give NaN losses: resume from another checkpoint step, or "
                               "copy or download this one again")
    return model, where


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups as GPT-NeoX made them: no decay on biases and LayerNorm parameters."""
    decay, no_decay = [], []
    for _, module in model.named_modules():
        for pname, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if isinstance(module, nn.LayerNorm) or pname == "bias":
                no_decay.append(param)
            else:
                decay.append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def flops_per_token(cfg: ModelConfig, seq_length: int) -> float:
    """Training FLOPs per token (forward + backward, no recomputation): 6 N for the matrices plus
    attention's 12 L d s (the PaLM appendix's accounting), N excluding the input embedding."""
    n = cfg.num_parameters() - cfg.vocab_size * cfg.hidden_size
    return 6.0 * n + 12.0 * cfg.num_layers * cfg.hidden_size * seq_length
