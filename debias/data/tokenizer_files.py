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
from typing import TYPE_CHECKING, Any

from debias.core.errors import DebiasError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

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


class TokenizerFileError(DebiasError, ValueError):
    """A tokenizer.json that is not JSON or not a tokenizer the tokenizers library reads."""


def read_tokenizer_file(path: str | Path) -> tuple[dict[str, Any], Tokenizer]:
    """A ``tokenizer.json`` as its JSON document and as a ``tokenizers.Tokenizer``; a malformed file
    is a ``TokenizerFileError`` naming it (the libraries raise a bare ``JSONDecodeError`` or
    ``Exception`` without the path)."""
    from tokenizers import Tokenizer

    path = Path(path)
    fix = "pass the tokenizer.json the data was made with (GPT-NeoX-20B's for the Pile: tokenizer=neox-20b)"
    try:
        text = path.read_text(encoding="utf-8")
        spec = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerFileError(path=path, problem=f"not a tokenizer.json: not JSON ({exc})", fix=fix) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise TokenizerFileError(path=path, problem="not a tokenizer.json: it has no 'model' object", fix=fix)
    try:
        tok = Tokenizer.from_str(text)
    except Exception as exc:  # noqa: BLE001  (tokenizers raises a bare Exception for what it cannot read)
        raise TokenizerFileError(path=path, problem=f"not a tokenizer the tokenizers library reads ({exc})",
                                 fix=fix) from None
    return spec, tok
