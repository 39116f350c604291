"""The tokenizer files a Hugging Face checkpoint carries, so ``AutoTokenizer.from_pretrained``
loads GPT-NeoX's tokenizer from the checkpoint alone: ``tokenizer.json`` plus the two small files
naming its special tokens (``<|endoftext|>`` for bos/eos/unk, ``<|padding|>`` for padding).

Training writes them once per run and copies them into every checkpoint; the tiny test
checkpoints of ``eval.testing`` write them the same way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SPECIAL_TOKENS = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                  "pad_token": "<|padding|>"}


def write_tokenizer_files(tokenizer_json: str | Path, dest: Path, *, model_max_length: int) -> None:
    """Write the three files into the existing folder ``dest`` (the caller's temporary folder when
    the whole folder must appear at once)."""
    shutil.copyfile(tokenizer_json, dest / "tokenizer.json")
    config = {"tokenizer_class": "PreTrainedTokenizerFast", **SPECIAL_TOKENS, "model_max_length": model_max_length,
              "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False}
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (dest / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n")
