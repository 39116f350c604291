"""spaCy loaded without torch, where nothing has loaded torch yet.

thinc (spaCy's layer library) imports torch, when it is installed, only to offer PyTorch-backed
layers; ``en_core_web_sm`` has none. torch is installed beside the swapper for training, and its
import costs about 1.0 of the 1.7 CPU seconds that ``import spacy`` takes on this project's
machines. Every rewrite worker is a fresh (spawned) process that loads the swapper once, so that
second is a fixed cost per process, and most of what makes a short rewrite dearer per token than a
long one (``benchmarks/rewrite_scale.py``). A process that has loaded torch already (training,
evaluation) is left as it is, and torch imports normally after the block.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


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
