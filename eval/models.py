"""Where a model to evaluate comes from: a Hugging Face hub name at a revision, or a folder.

A hub model is fetched with ``huggingface_hub.snapshot_download`` into the hub's own cache (its
config, tokenizer and weights only) and pinned to the commit its revision resolved to, which the
results record: ``step143000`` names a branch that could move, the commit cannot. Without a
network (``HF_HUB_OFFLINE=1``, or no route to the hub) the same call answers from that cache.

Whatever the source, the folder is checked before anything runs: it must hold weights in a form
transformers reads without running code (safetensors, or ``.bin`` read with ``weights_only=True``;
single files or sharded with their index), a tokenizer (its own, or the one ``tokenizer=`` names),
and an architecture transformers ships. A folder that asks for its own code (``auto_map`` in
config.json) is refused: that code would run with the user's permissions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debias.core.errors import DebiasError

log = logging.getLogger(__name__)

# Weights, in the order transformers prefers them: a single file, or shards named by an index.
SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
BIN, BIN_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
# What a hub download fetches: config and tokenizer files, then weights in one format only.
_META = ["*.json", "*.txt", "*.model"]
# Pythia's released checkpoints: revision step<N> of 143,000 (Biderman et al. 2023).
PYTHIA_TOTAL_STEPS = 143_000
_HUB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class ModelSourceError(DebiasError, ValueError):
    """A model name, revision or folder that cannot be evaluated; the message says what to do."""


@dataclass(frozen=True)
class ModelSource:
    """A model as the user named it, and where it was found.

    ``model``: the hub name or folder given; ``revision``: the revision asked for (hub only);
    ``commit``: the commit that revision resolved to (hub only); ``path``: the folder read (for a
    hub model, its snapshot in the hub cache); ``tokenizer``: the folder its tokenizer is read from.
    """

    model: str
    path: Path
    tokenizer: Path
    revision: str | None = None
    commit: str | None = None
    tokenizer_name: str | None = None  # tokenizer= as given, when not the model's own

    @property
    def name(self) -> str:
        """How tables name it: ``EleutherAI/pythia-410m-deduped@step143000``, or the folder's name."""
        if self.commit is None:
            return self.model
        return f"{self.model}@{self.revision or self.commit[:10]}"

    @property
    def step(self) -> int | None:
        """The training step a ``step<N>`` revision names (Pythia's branches)."""
        found = re.fullmatch(r"step(\d+)", self.revision or "")
        return int(found.group(1)) if found else None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "revision": self.revision, "commit": self.commit,
                "tokenizer": self.tokenizer_name, "path": str(self.path)}


def tokenizer_digest(folder: Path) -> str:
    """sha256 of the tokenizer files of ``folder``: part of a released model's cache key, so that
    results scored with one tokenizer are never read for another (``tokenizer=``)."""
    digest = hashlib.sha256()
    for name in sorted({*TOKENIZER_FILES, "special_tokens_map.json", "merges.txt", "vocab.txt", "added_tokens.json"}):
        if (folder / name).is_file():
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return digest.hexdigest()


def is_hub_name(text: str) -> bool:
    """``owner/name`` and not an existing folder: what the hub calls a repository id."""
    return bool(_HUB_NAME.fullmatch(text)) and not Path(text).expanduser().exists()


def split_spec(spec: str) -> tuple[str, str | None]:
    """``name@revision`` -> (name, revision); a folder or a bare name -> (it, None)."""
    if "@" in spec and not Path(spec).expanduser().exists():
        name, revision = spec.rsplit("@", 1)
        return name, revision or None
    return spec, None


def total_steps_of(model: str, step: int | None) -> int | None:
    """The length of training a ``step<N>`` revision is a fraction of: 143,000 for Pythia's models."""
    if step is not None and model.lower().startswith("eleutherai/pythia-"):
        return PYTHIA_TOTAL_STEPS
    return None


def resolve(model: str, revision: str | None = None, tokenizer: str | None = None, *,
            cache_dir: str | None = None) -> ModelSource:
    """The folder of ``model`` (downloaded when a hub name), checked as the module says."""
    folder = Path(model).expanduser()
    if folder.exists():
        if revision is not None:
            raise ModelSourceError(f"model={model} is a folder, and a folder has no revisions (revision={revision}); "
                                   "drop revision=, or give a hub name")
        path, commit = folder.resolve(), None
    elif is_hub_name(model):
        path = download(model, revision, cache_dir=cache_dir, weights=True)
        commit = path.name if _COMMIT.fullmatch(path.name) else None
    else:
        raise ModelSourceError(f"model={model}: no such folder, and not a hub name (owner/name); give a folder "
                               "holding config.json and weights, or a name such as EleutherAI/pythia-70m-deduped")
    check_model_folder(path)
    tok_path = _tokenizer_folder(path, tokenizer, cache_dir)
    return ModelSource(model=model, path=path, tokenizer=tok_path, revision=revision, commit=commit,
                       tokenizer_name=tokenizer)


def _tokenizer_folder(model_path: Path, tokenizer: str | None, cache_dir: str | None) -> Path:
    if tokenizer is None:
        if not any((model_path / f).is_file() for f in TOKENIZER_FILES):
            raise ModelSourceError(f"{model_path}: no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}); give "
                                   "tokenizer=<hub name or folder>, e.g. tokenizer=EleutherAI/pythia-70m-deduped")
        return model_path
    name, revision = split_spec(tokenizer)
    folder = Path(name).expanduser()
    if folder.is_file():  # a tokenizer.json on its own: its folder
        folder = folder.parent
    if folder.is_dir():
        path = folder.resolve()
    elif is_hub_name(name):
        path = download(name, revision, cache_dir=cache_dir, weights=False)
    else:
        raise ModelSourceError(f"tokenizer={tokenizer}: no such folder, and not a hub name (owner/name)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelSourceError(f"tokenizer={tokenizer}: {path} holds no tokenizer files ({', '.join(TOKENIZER_FILES)})")
    return path


def download(name: str, revision: str | None, *, cache_dir: str | None = None, weights: bool = True) -> Path:
    """The hub snapshot of ``name`` at ``revision`` (default ``main``): config and tokenizer files,
    and the weights in one format (safetensors where the repository has them, else ``.bin``)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{name}@{revision or 'main'}"
    kwargs: dict[str, Any] = {"repo_id": name, "revision": revision, "cache_dir": cache_dir}
    try:
        path = Path(snapshot_download(allow_patterns=[*_META, "*.safetensors"] if weights else _META, **kwargs))
        if weights and not _has_weights(path):
            path = Path(snapshot_download(allow_patterns=[*_META, "*.bin"], **kwargs))
    except RevisionNotFoundError as exc:
        raise ModelSourceError(f"{where}: the hub has no such revision; Pythia's are step0 ... step143000 "
                               f"(every 1000) and main ({type(exc).__name__})") from None
    except RepositoryNotFoundError:
        raise ModelSourceError(f"{where}: no such model on the hub (or it is private: log in with `hf auth login`)") from None
    except IncompleteSnapshotError as exc:
        raise ModelSourceError(f"{where}: the hub cache holds part of it and the hub cannot be reached ({exc})") from None
    except LocalEntryNotFoundError:
        raise ModelSourceError(
            f"{where}: not in the hub cache, and the hub cannot be reached; download it where the hub can be "
            "reached (`hf download NAME --revision REV`), or point HF_HUB_CACHE at a cache that holds it") from None
    except HfHubHTTPError as exc:
        raise ModelSourceError(f"{where}: the hub refused the download ({exc}); check the name and your login") from None
    log.info("%s: %s", where, path)
    return path


def _has_weights(path: Path) -> bool:
    return any((path / f).is_file() for f in (SAFETENSORS, SAFETENSORS_INDEX, BIN, BIN_INDEX))


def weight_paths(path: Path) -> list[Path]:
    """The weight files transformers would read from ``path``, safetensors first; [] when none."""
    for single, index in ((SAFETENSORS, SAFETENSORS_INDEX), (BIN, BIN_INDEX)):
        if (path / single).is_file():
            return [path / single]
        if (path / index).is_file():
            try:
                names = sorted(set(json.loads((path / index).read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ModelSourceError(f"{path / index}: not a weight index ({exc}); download the model again") from None
            missing = [n for n in names if not (path / n).is_file()]
            if missing:
                raise ModelSourceError(f"{path / index} names {len(missing)} shard(s) the folder lacks ({missing[0]}, "
                                       "...); the download is incomplete: fetch the model again")
            return [path / n for n in names]
    return []


def check_model_folder(path: Path) -> None:
    """Stop before loading a folder that has no config, no weights in a safe format, or custom code."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelSourceError(f"{path}: no config.json, so not a Hugging Face model folder")
    if not weight_paths(path):
        others = sorted(p.name for p in path.iterdir() if p.suffix in (".pt", ".pth", ".ckpt", ".h5", ".msgpack"))
        hint = f" (it holds {', '.join(others[:3])}: convert them to safetensors)" if others else ""
        raise ModelSourceError(f"{path}: no model weights ({SAFETENSORS}, {SAFETENSORS_INDEX}, {BIN} or {BIN_INDEX})"
                               f"{hint}; the checkpoint is incomplete")
    refuse_custom_code(config_file)


def refuse_custom_code(config_file: Path) -> None:
    """A config that names its own code (``auto_map``) or an architecture transformers does not
    ship is refused: loading it would mean running the folder's Python (``trust_remote_code``)."""
    from transformers import CONFIG_MAPPING

    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelSourceError(f"{config_file}: not valid JSON ({exc}); download the model again") from None
    why = ("pythia-debias never runs code shipped with a model (trust_remote_code): it would run with your "
           "permissions, unreviewed. Evaluate a model whose architecture transformers ships")
    if config.get("auto_map"):
        raise ModelSourceError(f"{config_file}: the model asks to run its own code (auto_map: "
                               f"{', '.join(sorted(config['auto_map']))}); {why}")
    if "/" in str(config.get("attn_implementation") or ""):  # a kernel fetched from the hub and run
        raise ModelSourceError(f"{config_file}: attn_implementation {config['attn_implementation']!r} names code on "
                               f"the hub; {why}")
    if config.get("model_type") is not None and config["model_type"] not in CONFIG_MAPPING:
        raise ModelSourceError(f"{config_file}: model_type {config.get('model_type')!r} is not an architecture "
                               f"transformers ships; {why}")
