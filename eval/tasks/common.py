"""What every benchmark folder under ``eval/tasks`` shares: file errors, seeded subsamples,
lm-eval samples turned into item columns, data checksums and the options a task is planned with.

A bad row stops the run with a message naming the file, the line and the fix, because a silently
skipped row changes a benchmark's meaning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from debias.core.errors import DebiasError
from debias.data.fetch import resolve, sha256_file

Columns = dict[str, list[Any]]


class BenchmarkFormatError(DebiasError, ValueError):
    """A benchmark file has a row this code cannot score; the message names file, line and fix."""

    def __init__(self, path: str | Path, line: int | None, problem: str, fix: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}. {fix}", path=str(path), problem=problem, fix=fix)
        self.line = line


def not_utf8(path: Path, fix: str) -> BenchmarkFormatError:
    """The error for a benchmark file that is not UTF-8, naming the line and the first bad byte."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BenchmarkFormatError(path, data[: exc.start].count(b"\n") + 1,
                                    f"not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})",
                                    f"Convert the file to UTF-8 (e.g. `iconv -f cp1252 -t utf-8`), or: {fix}")
    return BenchmarkFormatError(path, None, "not UTF-8", fix)


@contextmanager
def decoding(path: Path, fix: str) -> Iterator[None]:
    """Reading ``path`` inside: a byte that is not UTF-8 stops with the file, the line and ``fix``
    (Python's own error names neither the file nor the line)."""
    try:
        yield
    except UnicodeDecodeError:
        raise not_utf8(path, fix) from None


def data_path(relpath: str, override: str | Path | None = None) -> Path:
    """An absolute path: ``override`` when given (a user's own copy), else the resolved registry file."""
    if override is not None:
        path = Path(override).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"{path}: benchmark file not found (given in place of {relpath})")
        return path
    return resolve(relpath)


def subsample(items: Sequence[Any], limit: int | None, seed: int) -> list[Any]:
    """A seeded subset of ``limit`` items in their original order (all items when limit is None)."""
    items = list(items)
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise ValueError(f"limit={limit} must be at least 1 (or null for every item)")
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep]


def limit_problems(where: str, limit: int | None) -> list[str]:
    """A task option ``limit`` must be null or at least 1."""
    if limit is not None and limit < 1:
        return [f"{where}.limit={limit} must be at least 1, or null for every item"]
    return []


# ---------------------------------------------------------------- planning
@dataclass(frozen=True)
class Planned:
    """One lm-eval task a benchmark's options ask for: ``name`` names its item table, ``yaml`` is
    the file in the benchmark's folder, ``base`` the task it is a variant of (default: ``name``)."""

    name: str
    yaml: str
    options: dict[str, Any] = field(default_factory=dict)
    base: str | None = None


# ---------------------------------------------------------------- samples -> item columns
def ll(sample: dict[str, Any], i: int) -> float:
    """The log-likelihood of choice ``i`` of one logged lm-eval sample."""
    resp = sample["filtered_resps"][i]
    return float(resp[0] if isinstance(resp, (tuple, list)) else resp)


def greedy(sample: dict[str, Any], i: int) -> int:
    """Whether greedy decoding gives choice ``i`` of one logged lm-eval sample (1 or 0). A response
    that is not a real bool (lm-eval's tracker writes them as text) is refused, not read as true."""
    flag = sample["filtered_resps"][i][1]
    if not isinstance(flag, bool):
        raise TypeError(f"is_greedy of sample {sample.get('doc_id')} is {flag!r}, not a bool: were the samples "
                        "turned into text (lm-eval's EvaluationTracker does so in place)?")
    return int(flag)


def columns(rows: list[dict[str, Any]]) -> Columns:
    """Rows (one dict per item) as aligned columns, sorted by ``id``."""
    rows = sorted(rows, key=lambda r: r["id"])
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {"id": []}


def as_dataset(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """What a ``custom_dataset`` function gives lm-eval: the docs as its test split."""
    import datasets

    return {"test": datasets.Dataset.from_list(docs)}


# ---------------------------------------------------------------- data checksums
@cache
def _digest_cached(path: str, size: int, mtime: int) -> str:
    return sha256_file(path)


def file_digests(paths: list[Path]) -> dict[str, str]:
    """``{path: sha256}``, each file hashed once while its size and mtime stay the same."""
    out = {}
    for p in paths:
        st = p.stat()
        out[str(p)] = _digest_cached(str(p), st.st_size, st.st_mtime_ns)
    return out


# ---------------------------------------------------------------- lm-eval hooks of she/he pair tasks
def pair_choices(doc: dict[str, Any]) -> list[str]:
    """A pair task's two sentences, the pro-stereotyped one first, scored from an empty context."""
    return [doc["pro"], doc["anti"]]


def pair_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """``pref_pro``: the pro-stereotyped sentence is likelier; ``logodds_female``: its mean is the prior."""
    (pro, _), (anti, _) = results
    female_minus_male = pro - anti if doc["stereotype"] == "female" else anti - pro
    return {"pref_pro": float(pro > anti), "logodds_female": female_minus_male}


# ---------------------------------------------------------------- options of a benchmark scored whole
@dataclass
class WholeTask:
    """The options of a benchmark with one task and no options of its own: on or off, and a seeded
    subsample. A subclass names its key under ``eval.tasks`` (``KEY``) and its YAML (``YAML``)."""

    KEY: ClassVar[str]
    YAML: ClassVar[str]
    enabled: bool = True  # score this benchmark
    limit: int | None = None  # a seeded subsample of this many items; None: every item

    def problems(self) -> list[str]:
        return limit_problems(f"eval.tasks.{self.KEY}", self.limit)

    def plans(self, seed: int) -> list[Planned]:
        return [Planned(self.KEY, self.YAML, {"limit": self.limit, "seed": seed})] if self.enabled else []
