"""A data order's rows for a range of steps only: what a resumed run and its tail rewrite read when
the data order is published in pieces (parquet chunks of 1,000 steps, ``debias.data.parquet_order``)
or as GPT-NeoX index maps over an unshuffled corpus (PolyPythias' seeds, ``debias.data.index_maps``).

The rows of steps ``first..end-1`` are written once as a Megatron ``rows.bin``/``rows.idx`` (the
format every reader here takes) with ``rows.steps.json`` last (``contracts.StepRangeRecord``):
``DataOrder`` opens the prefix at its own step numbers, and the rewrite, its proof, the control
arm and the tail checks work on it unchanged. A builder writes one part per piece it reads; the
assembly joins them in step order, checks that they cover exactly the steps asked for, and writes
the record, so a folder with a record is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.atomic import write_json
from debias.core.contracts import StepRangeRecord, read_steps_record, steps_record_path
from debias.core.input_errors import InputError
from debias.core.processes import folder_lock
from debias.data.fetch import sha256_file
from debias.data.indexed import bin_path, idx_path, write_uniform_index

log = logging.getLogger(__name__)

ROWS = "rows"  # a step range's Megatron prefix inside its folder
PARTS = ".parts"  # the builders' parts and logs until the assembly


class StepRangeError(InputError):
    """The pieces read do not hold the steps asked for, in order, at the expected rows per step."""


@dataclass
class Part:
    """One piece's rows (``path``) and what they are: steps ``first_step..end_step-1``."""

    path: Path
    first_step: int
    end_step: int
    sha256: str
    source: str  # the file (or map) it was read from
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"file": self.source, "first_step": self.first_step, "end_step": self.end_step, "rows": self.rows,
                "sha256": self.sha256, **self.extra}

    @classmethod
    def read(cls, path: Path) -> Part | None:
        """The part whose record is ``path`` (``<name>.json`` beside ``<name>.bin``), when it is intact."""
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        data = path.with_suffix(".bin")
        if not data.is_file():
            return None
        return cls(data, doc["first_step"], doc["end_step"], doc["sha256"], doc["file"], doc["rows"],
                   {k: v for k, v in doc.items() if k not in ("file", "first_step", "end_step", "rows", "sha256")})


def write_part(parts_dir: Path, name: str, rows: Iterable[np.ndarray], *, first_step: int, end_step: int,
               source: str, **extra: Any) -> Part:
    """Write the rows of one piece as ``parts_dir/<name>.bin`` and its record (rows first, temp then rename)."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    data = parts_dir / f"{name}.bin"
    tmp = parts_dir / f".{name}.bin.{os.getpid()}.tmp"
    digest, count = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as fh:
            for block in rows:
                raw = np.ascontiguousarray(block).tobytes()
                digest.update(raw)
                fh.write(raw)
                count += len(block)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, data)
    finally:
        tmp.unlink(missing_ok=True)
    part = Part(data, first_step, end_step, digest.hexdigest(), source, count, dict(extra))
    write_json(parts_dir / f"{name}.json", part.record())
    return part


@contextmanager
def building(folder: Path) -> Iterator[None]:
    """Hold ``folder`` while its steps are read: runs that need the same steps (a seed's arms,
    started together) wait for the first, then find the range finished."""
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder, "read of these steps", wait=True):
        yield


def folder_for(root: Path, name: str, first_step: int, end_step: int, identity: dict[str, Any]) -> Path:
    """``root/<name>-steps<first>-<end>-<digest>``: one folder per source, shape and step range."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return root / f"{name}-steps{first_step}-{end_step}-{digest}"


def finished(folder: Path, first_step: int, end_step: int) -> StepRangeRecord | None:
    """The record of a complete step range in ``folder`` holding at least ``first_step..end_step-1``."""
    record = read_steps_record(folder / ROWS)
    if record is None:
        return None
    if record.first_step > first_step or record.end_step < end_step:
        return None
    return record


def assemble(folder: Path, parts: list[Part], *, kind: str, source: str, first_step: int, end_step: int,
             rows_per_step: int, row_length: int, dtype: np.dtype) -> StepRangeRecord:
    """Join ``parts`` (in step order) into ``folder/rows.bin``/``.idx`` and write the record last.
    Refuses parts that leave a gap, overlap, or do not add up to the steps asked for."""
    parts = sorted(parts, key=lambda p: p.first_step)
    expect = first_step
    for part in parts:
        if part.first_step != expect:
            raise StepRangeError(source, f"the pieces read give steps up to {expect - 1}, then {part.source} starts "
                                         f"at step {part.first_step}",
                                 "the source lacks some steps or holds them twice; check its files")
        if part.rows != (part.end_step - part.first_step) * rows_per_step:
            raise StepRangeError(part.source, f"gave {part.rows} rows for steps {part.first_step}..{part.end_step - 1}, "
                                              f"not {rows_per_step} per step", "check data.rows_per_step")
        expect = part.end_step
    if expect != end_step:
        raise StepRangeError(source, f"the pieces read end at step {expect - 1}, not {end_step - 1}",
                             "the source lacks the last steps of the range; check its files")
    prefix = folder / ROWS
    tmp = folder / f".{ROWS}.bin.tmp"
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                check = hashlib.sha256()
                with open(part.path, "rb") as fh:
                    while block := fh.read(1 << 22):
                        check.update(block)
                        digest.update(block)
                        out.write(block)
                if check.hexdigest() != part.sha256:
                    raise StepRangeError(part.path, "changed since it was written", "run the same command again")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, bin_path(prefix))
    finally:
        tmp.unlink(missing_ok=True)
    rows = (end_step - first_step) * rows_per_step
    write_uniform_index(prefix, dtype, rows, row_length)
    doc = {"kind": kind, "source": source, "first_step": first_step, "end_step": end_step,
           "rows_per_step": rows_per_step, "row_length": row_length, "dtype": str(np.dtype(dtype)),
           "rows_sha256": digest.hexdigest(), "idx_sha256": sha256_file(idx_path(prefix)),
           "files": [p.record() for p in parts]}
    record = StepRangeRecord.from_dict(doc, steps_record_path(prefix))
    record.write(steps_record_path(prefix))
    shutil.rmtree(folder / PARTS, ignore_errors=True)
    log.info("%s: steps %d..%d (%d rows) from %d piece(s) of %s", prefix, first_step, end_step - 1, rows, len(parts),
             source)
    return record

