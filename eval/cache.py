"""The per-checkpoint eval cache (``<run>/eval/step<N>.json``, or ``<checkpoint>/eval_results.json``)
as a typed record, checked where it is read, in the style of ``debias.core.contracts``.

The file looks like::

    {"schema": 1, "checkpoint": {"path", "step", "total_steps", "run"}, "fingerprint": {"sha256", "stat"},
     "tasks": {"<task>-<key>": {"task", "spec", "items": {"id": [...], "<column>": [...]},
                                "lm_eval": {metric: value}, "seconds", "evaluated_at", "lm_eval_version",
                                "protocol": {"name", "sha256"}}}}

``protocol`` is the analysis protocol in force when the entry was computed (``eval.protocol``): a
report read under another one is marked exploratory.

Items are per-item scores (log-likelihoods, margins, token counts), from which ``eval.metrics``
computes every metric and ``eval.stats`` every interval.

Each entry carries the sha256 of its own content (``entry_digest``), written when it is computed
and checked when it is read, so a hand edit is caught; every item value is finite; and entries are
used only under the fingerprint of the weights they were computed on, which is never written onto
entries that did not carry it (a cache copied in from another run with its fingerprint removed is
evaluated again, not adopted).

A cache that is not what ``eval`` writes (not JSON, another schema, a task entry without its
columns, columns of unequal length, ...) is never used: ``read_cache`` moves it aside to
``<name>.broken``, logs a warning naming the file and the problem, and the checkpoint is evaluated
again. The cache is derived from the checkpoint, so recomputing it costs time and loses nothing,
where stopping a study over it would cost the study; the file set aside keeps what was wrong.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from debias.core.atomic import write_json
from debias.core.contracts import RecordError, _check, _Record

log = logging.getLogger(__name__)

SCHEMA = 1
CACHE_FIX = ("this is eval's per-checkpoint cache, which eval alone writes; delete it (or let eval set it "
             "aside) and the checkpoint is evaluated again")
OBJ, OPT_OBJ = (dict,), (dict, type(None))


def entry_digest(doc: Mapping[str, Any]) -> str:
    """The sha256 of one task entry's content (everything but its own ``sha256``), as canonical JSON."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()).hexdigest()


def with_digest(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A newly computed entry, sealed with its digest (only eval's own results are ever sealed)."""
    return {**doc, "sha256": entry_digest(doc)}


@dataclass(frozen=True)
class CacheEntry:
    """One task's scores on one checkpoint: ``items`` are aligned columns, ``id`` among them."""

    task: str
    items: Mapping[str, list[Any]]
    spec: Mapping[str, Any] = field(default_factory=dict)
    lm_eval: Mapping[str, Any] = field(default_factory=dict)
    protocol: Mapping[str, str] | None = None  # {"name", "sha256"} of the protocol it was computed under
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: Any, where: str, key: str) -> CacheEntry:
        prefix = f"tasks[{key!r}]."
        if not isinstance(doc, dict):
            raise RecordError(where, f"'tasks[{key!r}]' is not an object", CACHE_FIX)
        task = _check(doc, "task", (str,), where, CACHE_FIX, prefix=prefix)
        items = _check(doc, "items", OBJ, where, CACHE_FIX, prefix=prefix)
        ids = _check(items, "id", (list,), where, CACHE_FIX, prefix=f"{prefix}items.")
        for name, values in items.items():
            if not isinstance(values, list):
                raise RecordError(where, f"'{prefix}items.{name}' is not an array", CACHE_FIX)
            if len(values) != len(ids):
                raise RecordError(where, f"'{prefix}items.{name}' holds {len(values)} values for {len(ids)} items",
                                  CACHE_FIX)
            bad = next((i for i, v in enumerate(values) if isinstance(v, float) and not math.isfinite(v)), None)
            if bad is not None:
                raise RecordError(where, f"'{prefix}items.{name}[{bad}]' is {values[bad]}, not a finite number",
                                  CACHE_FIX)
        digest = _check(doc, "sha256", (str,), where, CACHE_FIX, prefix=prefix)
        if digest != entry_digest(doc):
            raise RecordError(where, f"'{prefix}' does not match its sha256: it was changed after eval wrote it",
                              CACHE_FIX)
        spec = _check(doc, "spec", OBJ, where, CACHE_FIX, required=False, prefix=prefix)
        lm_eval = _check(doc, "lm_eval", OBJ, where, CACHE_FIX, required=False, prefix=prefix)
        protocol = _check(doc, "protocol", OPT_OBJ, where, CACHE_FIX, required=False, prefix=prefix)
        if protocol is not None:
            for name in ("name", "sha256"):
                _check(protocol, name, (str,), where, CACHE_FIX, prefix=f"{prefix}protocol.")
        return cls(task=task, items=items, spec=spec or {}, lm_eval=lm_eval or {}, protocol=protocol, doc=doc)


@dataclass(frozen=True)
class EvalCache(_Record):
    """The whole cache file of one checkpoint: what it was, the fingerprint of its weights, and
    one ``CacheEntry`` per task key (``eval.suite.TaskPlan.key``)."""

    FIX: ClassVar[str] = CACHE_FIX
    tasks: Mapping[str, CacheEntry] = field(default_factory=dict)
    checkpoint: Mapping[str, Any] | None = None
    fingerprint: Mapping[str, Any] | None = None  # {"sha256": ..., "stat": {file: [size, mtime_ns]}}
    doc: Mapping[str, Any] = field(default_factory=lambda: {"schema": SCHEMA, "tasks": {}}, compare=False,
                                   repr=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str | os.PathLike = "eval cache") -> EvalCache:
        where = os.fspath(where)
        schema = _check(doc, "schema", (int,), where, CACHE_FIX)
        if schema != SCHEMA:
            raise RecordError(where, f"is a cache of schema {schema}, not {SCHEMA}", CACHE_FIX)
        checkpoint = _check(doc, "checkpoint", OPT_OBJ, where, CACHE_FIX, required=False)
        fingerprint = _check(doc, "fingerprint", OPT_OBJ, where, CACHE_FIX, required=False)
        if fingerprint is not None:
            _check(fingerprint, "sha256", (str,), where, CACHE_FIX, prefix="fingerprint.")
            _check(fingerprint, "stat", OBJ, where, CACHE_FIX, required=False, prefix="fingerprint.")
        tasks = _check(doc, "tasks", OBJ, where, CACHE_FIX)
        entries = {key: CacheEntry.from_dict(entry, where, key) for key, entry in tasks.items()}
        return cls(tasks=entries, checkpoint=checkpoint, fingerprint=fingerprint, doc=dict(doc))

    @property
    def sha256(self) -> str | None:
        """The weights' sha256 the entries were computed on (None for an empty cache)."""
        return self.fingerprint["sha256"] if self.fingerprint is not None else None

    def for_weights(self, sha256: str) -> EvalCache:
        """This cache, emptied of its entries unless they were computed on these weights (entries
        under no fingerprint at all are bound to no weights, so they are not used either)."""
        if self.sha256 == sha256 or (self.sha256 is None and not self.tasks):
            return self
        return EvalCache.from_dict({**self.doc, "tasks": {}}, "eval cache")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path``, so that two evaluations of one run do not drop each other's tasks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_cache(path: Path) -> EvalCache:
    """The cache of one checkpoint, empty when absent; a file that is not what eval writes is set
    aside as ``<name>.broken`` with a warning naming it and its problem, never used."""
    if not path.is_file():
        return EvalCache()
    try:
        return EvalCache.read(path)
    except RecordError as exc:
        broken = path.with_name(path.name + ".broken")
        path.replace(broken)
        log.warning("%s: unusable results cache (%s); moved to %s and evaluating afresh", path, exc.problem, broken)
        return EvalCache()


def update_cache(path: Path, change: Callable[[EvalCache], Mapping[str, Any]]) -> EvalCache:
    """Under the cache's lock: read it, let ``change`` give the new document, check it and write it
    atomically (temp then rename)."""
    with locked(path):
        doc = {**change(read_cache(path)), "schema": SCHEMA}
        record = EvalCache.from_dict(doc, path)
        write_json(path, record.to_dict())
        return record
