"""Checkpoint weights from elsewhere, checked before a model is trained or scored from them.

transformers' own messages for these cases point away from the cause: a cut safetensors file
says ``incomplete metadata`` without the file, weights of another model under a right
``config.json`` suggest ``ignore_mismatched_sizes`` (which would train random weights), and NaN
weights load without a word. Here each is an ``InputError`` naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from debias.core.input_errors import InputError

INDEX = "model.safetensors.index.json"
if TYPE_CHECKING:  # torch is imported by the callers that have a model
    import torch

REFETCH = "copy or download the checkpoint again (the file is cut short: a full disk or an interrupted copy)"


def weight_files(directory: str | os.PathLike) -> list[Path]:
    """The safetensors files of a Hugging Face directory: ``model.safetensors`` or the shards its
    index names; [] when it holds none (another format, left to transformers)."""
    directory = Path(directory)
    if (directory / "model.safetensors").is_file():
        return [directory / "model.safetensors"]
    index = directory / INDEX
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(index, f"not a safetensors index ({exc})", REFETCH) from exc
        return [directory / name for name in names]
    return []


def read_header(path: str | os.PathLike) -> dict[str, dict]:
    """The tensors a safetensors file declares (name -> dtype, shape, data_offsets), after checking
    the file is long enough to hold them all."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing (the index names it)", REFETCH)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise InputError(path, f"truncated: {size} bytes, too short for a safetensors header", REFETCH)
        length = int.from_bytes(head, "little")
        if length > size - 8:
            raise InputError(path, f"truncated: its header declares {length:,} bytes of metadata, the file holds "
                                   f"{size:,} bytes in all", REFETCH)
        try:
            header = json.loads(fh.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(path, "not a safetensors file (its header is not JSON)", REFETCH) from exc
    if not isinstance(header, dict):
        raise InputError(path, "not a safetensors file (its header is not a JSON object)", REFETCH)
    header.pop("__metadata__", None)
    try:
        end = max((int(info["data_offsets"][1]) for info in header.values()), default=0)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise InputError(path, "not a safetensors file (a tensor entry lacks data_offsets)", REFETCH) from exc
    if 8 + length + end > size:
        raise InputError(path, f"truncated: its tensors need {8 + length + end:,} bytes, the file holds {size:,}",
                         REFETCH)
    return header


def expected_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Shapes of a model's state dict (a model built on the meta device costs no memory)."""
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def check_shapes(directory: str | os.PathLike, expected: dict[str, tuple[int, ...]]) -> None:
    """Stop when the weights in ``directory`` do not have the shapes its config.json implies
    (read from the files' headers: no weights are loaded)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for path in weight_files(directory):
        shapes.update({name: tuple(info["shape"]) for name, info in read_header(path).items()})
    wrong = [f"{name} is {list(shapes[name])}, config.json implies {list(shape)}"
             for name, shape in expected.items() if name in shapes and shapes[name] != shape]
    if wrong:
        raise InputError(directory, f"the weights are not of the model its config.json describes: {len(wrong)} "
                                    f"tensor(s) differ ({'; '.join(wrong[:3])})",
                         "the weights and config.json come from different models: put back the config.json saved "
                         "with these weights, or the weights of this config")


def non_finite(named: Iterable[tuple[str, torch.Tensor]]) -> list[str]:
    """Names of the tensors holding NaN or infinity."""
    import torch

    return [name for name, t in named if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def check_finite(model: torch.nn.Module, where: str | os.PathLike, fix: str) -> None:
    """Stop when any parameter of ``model`` holds NaN or infinity (buffers are left: some are
    masks that are -inf by design)."""
    bad = non_finite(model.named_parameters())
    if bad:
        raise InputError(where, f"{len(bad)} weight tensor(s) hold NaN or infinity ({', '.join(bad[:3])})", fix)
