"""The tagger's matrix products on numpy's BLAS, one thread per process.

About half of the tail rewrite's time is the tagger's ``gemm`` (the maxout layers of its tok2vec).
thinc's ``NumpyOps`` runs it through the ``blis`` package, which on this project's machines
(x86-64, AVX-512) reaches 28 GFLOP/s on one core, where numpy's OpenBLAS reaches 88 on the same
core (``benchmarks/rewrite_scale.py``; see docs/measurements.md). The arithmetic is the same single-precision
product, so the tags match (checked on the UD gold data and the challenge set, and by the tails'
pinned sha256). One BLAS thread, because the rewrite already runs one worker process per core.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from spacy.language import Language
from thinc.api import NumpyOps
from threadpoolctl import ThreadpoolController

log = logging.getLogger(__name__)


class BlasOps(NumpyOps):
    """``NumpyOps`` whose ``gemm`` is ``numpy.matmul`` (the BLAS numpy was built with)."""

    name = "numpy-blas"

    def gemm(self, x: Any, y: Any, out: Any = None, trans1: bool = False, trans2: bool = False) -> Any:
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        if out is None:
            return np.matmul(a, b)
        np.matmul(a, b, out=out)
        return out


def use_blas(nlp: Language) -> Language:
    """Give every layer of ``nlp``'s trainable components ``BlasOps``; returns ``nlp``."""
    ops = BlasOps()
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is None or not isinstance(model.ops, NumpyOps):
            continue  # a GPU pipeline keeps its own ops
        for node in model.walk():
            node.ops = ops
        log.debug("spaCy component %s: matrix products on numpy's BLAS", name)
    return nlp


_CONTROLLER: ThreadpoolController | None = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with numpy's BLAS on one thread (each rewrite worker owns one core)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()  # finds the loaded BLAS libraries once (milliseconds)
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield
