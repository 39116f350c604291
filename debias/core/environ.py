"""Environment variables set for a while and then put back as they were."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


@contextmanager
def environ_restored(keys: Iterable[str]) -> Iterator[None]:
    """On leaving, ``keys`` hold again what they held on entering (unset ones are unset again): a
    process that runs several jobs in turn must not pass one job's settings to the next."""
    saved = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
