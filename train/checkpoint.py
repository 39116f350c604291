"""Hugging Face checkpoints of a run (``checkpoints/step<N>``): safetensors weights, the
tokenizer and ``trainer_state.json``, loadable by ``from_pretrained`` with no project code.

Each is written to a temporary folder and renamed, so a ``step<N>`` folder that exists is complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from torch import nn
from transformers.utils import logging as hf_logging

from debias.core.atomic import atomic_path, write_json
from debias.core.contracts import step_dirs
from debias.core.input_errors import is_write_failure, with_path
from debias.data.tokenizer_files import TOKENIZER_FILES, write_tokenizer_files


def write_tokenizer(tokenizer_json: str | Path, dest: Path, *, model_max_length: int) -> Path:
    """The tokenizer files every checkpoint carries, written once into the folder ``dest`` (all at once)."""
    with atomic_path(dest, is_dir=True) as tmp:
        write_tokenizer_files(tokenizer_json, tmp, model_max_length=model_max_length)
    return dest


def save(model: nn.Module, dest: Path, *, tokenizer_dir: Path | None, state: dict[str, Any]) -> Path:
    """Write ``model`` (a ``GPTNeoXForCausalLM``) with the tokenizer and ``trainer_state.json``."""
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one "Writing model shards" bar per checkpoint is noise
    try:
        with atomic_path(dest, is_dir=True) as tmp:
            try:
                model.save_pretrained(tmp)
            except Exception as exc:  # safetensors' error on a full disk is no OSError and names no file
                if not is_write_failure(exc):
                    raise
                raise with_path(exc, dest) from exc
            if tokenizer_dir is not None:
                for name in TOKENIZER_FILES:
                    shutil.copyfile(tokenizer_dir / name, tmp / name)
            write_json(tmp / "trainer_state.json", state)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return dest


def complete_steps(checkpoints_dir: Path) -> list[int]:
    """Steps of the complete checkpoints under ``checkpoints_dir`` (temporary folders excluded)."""
    return [step for step, _ in step_dirs(checkpoints_dir)]
