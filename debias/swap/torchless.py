"""spaCy loaded without torch, where nothing has loaded torch yet.

thinc (spaCy's layer library) imports torch, when it is installed, only to offer PyTorch-backed
layers; ``en_core_web_sm`` has none. torch is installed beside the swapper for training, and its
import costs about 1.0 of the 1.7 CPU seconds that ``import spacy`` takes on this project's
machines. Every rewrite worker is a fresh (spawned) process that loads the swapper once, so that
second is a fixed cost per process, part of what makes a short rewrite dearer per token than a
long one (``benchmarks/rewrite_scale.py``). A process that has loaded torch already (training,
evaluation) is left as it is, and torch imports normally after the block. A pipeline named by the
user may need torch (a transformer one does), so only the default pipeline loads without it; thinc
decides once per process, so one that wants both must load the named pipeline first.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from debias.swap.swapper import PronounSwapper


@contextmanager
def without_torch() -> Iterator[None]:
    """Inside the block, ``import torch`` raises ImportError, unless torch is already loaded (or
    thinc is, which has made its choice)."""
    if "torch" in sys.modules or "thinc" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # Python's "not importable" marker
    try:
        yield
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


def for_pipeline(spacy_model: str | None) -> AbstractContextManager[None]:
    """``without_torch()`` for the default pipeline (``spacy_model`` None: en_core_web_sm, which
    has no PyTorch layers); a named pipeline loads as it would anyway."""
    return without_torch() if spacy_model is None else nullcontext()


def load_swapper(direction: str, spacy_model: str | None = None, **options: Any) -> PronounSwapper:
    """``PronounSwapper(direction, spacy_model, **options)`` with spaCy loaded through
    ``for_pipeline``: how the tail rewrite and ``debias-swap`` build theirs."""
    with for_pipeline(spacy_model):
        from debias.swap.swapper import PronounSwapper

        return PronounSwapper(direction, spacy_model, **options)
