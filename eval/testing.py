"""Tiny random GPT-NeoX checkpoints in the run-directory layout, for tests and benchmarks.

They have the real architecture and file format (safetensors, tokenizer files, trainer_state.json,
run.json) and take milliseconds to evaluate, so everything downstream of training can be
exercised without a training run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from debias.core.atomic import atomic_path, write_json
from debias.core.contracts import CHECKPOINTS, MANIFEST, RUN_RECORD, step_name
from debias.data.tokenizer_files import write_tokenizer_files


def tokenizer_vocab_size(tokenizer_json: str | Path) -> int:
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    ids = list(data["model"]["vocab"].values()) + [t["id"] for t in data.get("added_tokens", [])]
    return max(ids) + 1


def make_checkpoint(dest: str | Path, tokenizer_json: str | Path, *, seed: int = 0, hidden: int = 32,
                    layers: int = 2, heads: int = 4, max_positions: int = 512, init_std: float = 0.02,
                    state: dict[str, Any] | None = None) -> Path:
    """A randomly initialised ``GPTNeoXForCausalLM`` saved as an HF directory (atomically)."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    vocab = tokenizer_vocab_size(tokenizer_json)
    vocab = -(-vocab // 64) * 64  # padded like Pythia's 50,277 -> 50,304
    config = GPTNeoXConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=4 * hidden, max_position_embeddings=max_positions, rotary_pct=0.25,
                           use_parallel_residual=True, tie_word_embeddings=False, initializer_range=init_std,
                           bos_token_id=0, eos_token_id=0)
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(config).eval()
    dest = Path(dest)
    with atomic_path(dest, is_dir=True) as tmp:
        model.save_pretrained(tmp)
        write_tokenizer_files(tokenizer_json, tmp, model_max_length=max_positions)
        if state is not None:
            write_json(tmp / "trainer_state.json", state)
    return dest


def make_run(run_dir: str | Path, tokenizer_json: str | Path, *, arm: str = "baseline", seed: int = 0,
             steps: list[int] | tuple[int, ...] = (0, 50, 100), total_steps: int = 100, start_step: int = 0,
             direction: str | None = None, model_seed: int | None = None, manifest: dict[str, Any] | None = None,
             intervention_name: str | None = None, **model_kwargs: Any) -> Path:
    """A run directory as train writes it (run.json, checkpoints/step<N>/), random weights per step;
    ``intervention_name`` names its arm as an intervention config would (tail21, aa21, ...)."""
    run_dir = Path(run_dir)
    run = {"name": run_dir.name, "arm": arm, "model": "tiny-random", "seed": seed, "start_step": start_step,
           "end_step": total_steps, "total_steps": total_steps, "direction": direction, "resumed_from": None,
           "intervention_name": intervention_name}
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / RUN_RECORD, run)
    if manifest is not None:
        write_json(run_dir / MANIFEST, manifest)
    base = seed * 1000 if model_seed is None else model_seed
    for step in steps:
        state = {"step": step, "total_steps": total_steps, "run": run}
        make_checkpoint(run_dir / CHECKPOINTS / step_name(step), tokenizer_json, seed=base + step, state=state,
                        **model_kwargs)
    return run_dir


FEMININE_WORDS = ("she", "her", "hers", "herself", "She", "Her", "Hers", "Herself")


def boost_words(checkpoint: str | Path, words: tuple[str, ...] = FEMININE_WORDS, delta: float = 2.0) -> list[int]:
    """Make the words' tokens about ``delta`` nats likelier everywhere: a known, global prior shift.

    Unit 0 of the final LayerNorm is pinned to a constant (weight 0, bias ``scale``) and read only
    by the output rows of the words' single-token spellings (" she", "She", ...), so their logits
    rise by exactly ``delta`` whatever the context. ``delta=0`` makes the matching control: the
    same surgery, no shift. Returns the boosted token ids. Rewrites the checkpoint in place.
    """
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    checkpoint = Path(checkpoint)
    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    ids = sorted({ids[0] for w in words for text in (w, " " + w) if len(ids := tok.encode(text)) == 1})
    weights = load_file(str(checkpoint / "model.safetensors"))
    norm = next(k[: -len(".bias")] for k in weights if k.endswith("final_layer_norm.bias"))
    out_key = next(k for k in weights if k.endswith("embed_out.weight"))
    scale = 10.0
    for key in (f"{norm}.weight", f"{norm}.bias", out_key):
        weights[key] = weights[key].clone()
    weights[f"{norm}.weight"][0] = 0.0
    weights[f"{norm}.bias"][0] = scale
    weights[out_key][:, 0] = 0.0
    weights[out_key][torch.tensor(ids), 0] = delta / scale
    save_file(weights, str(checkpoint / "model.safetensors"), metadata={"format": "pt"})
    return ids


def train_small_tokenizer(dest: str | Path, vocab_size: int = 512) -> Path:
    """A small byte-level BPE trained on the benchmark sentences: evaluation 100x cheaper than 50k."""
    from debias.data.bpe import train_bpe
    from debias.eval.tasks.crows_pairs.reader import crows_pairs_docs
    from debias.eval.tasks.winobias.reader import load_pairs

    texts = [d["sent_more"] for d in crows_pairs_docs()]
    texts += [p.pro for p in load_pairs()]
    return train_bpe(texts, vocab_size, dest)


def make_hub_cache(cache_dir: str | Path, repo_id: str, revisions: dict[str, str | Path]) -> dict[str, str]:
    """A Hugging Face hub cache holding ``repo_id`` at each revision (name -> a model folder), in the
    hub's own layout (``models--owner--name/{blobs,refs,snapshots}``, snapshot files as relative
    links to content-addressed blobs), so that ``snapshot_download`` answers from it offline.
    Returns each revision's commit hash (made from the folder's contents, as a commit is)."""
    import hashlib
    import os
    import shutil

    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    commits = {}
    for revision, folder in revisions.items():
        files = sorted(p for p in Path(folder).iterdir() if p.is_file())
        commit = hashlib.sha1(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()
        snapshot = repo / "snapshots" / commit
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "blobs").mkdir(exist_ok=True)
        for f in files:
            blob = hashlib.sha256(f.read_bytes()).hexdigest()
            if not (repo / "blobs" / blob).exists():
                shutil.copyfile(f, repo / "blobs" / blob)
            link = snapshot / f.name
            if not link.exists():
                os.symlink(os.path.join("..", "..", "blobs", blob), link)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
        commits[revision] = commit
    return commits


def as_bin_shards(src: str | Path, dest: str | Path, shards: int = 2, *, tokenizer: bool = False) -> Path:
    """The model of ``src`` as ``pytorch_model-0000N-of-0000M.bin`` shards with their index, the way
    older hub repositories ship it; its tokenizer files only when ``tokenizer``."""
    import shutil

    import torch
    from safetensors.torch import load_file

    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(src / "model.safetensors"))
    names = sorted(weights)
    files = [f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin" for i in range(shards)]
    weight_map = {}
    for i, file in enumerate(files):
        part = {n: weights[n].clone() for n in names[i::shards]}
        torch.save(part, dest / file)
        weight_map.update({n: file for n in part})
    total = sum(t.numel() * t.element_size() for t in weights.values())
    write_json(dest / "pytorch_model.bin.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    keep = ["config.json", "generation_config.json"]
    if tokenizer:
        keep += ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    for name in keep:
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)
    return dest
