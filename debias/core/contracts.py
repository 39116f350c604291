"""The files that pass between stages, as typed records, and the names they go by (CONTRACTS.md).

A rewrite writes its tail's ``manifest.json`` (``RewriteManifest``); a run writes ``run.json``
(``RunRecord``), a copy of the manifest it trained on, or, for the control arm, ``control.json``
(``ControlRecord``); eval reads them. Every reader here checks the keys and types it relies on and
names the file that is wrong (``RecordError``, an ``InputError``). A record keeps the document it
was read from (``doc``) so that writing it back gives the same file, extra keys included.

Pronoun counts have one shape (``Counts``): ``{form: {"seen": n, "swapped": m, "left": {reason: k}}}``,
in a manifest, in ``PronounSwapper.counts`` and in ``debias-swap``'s ``counts_file`` alike.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypedDict

from debias.core.atomic import write_json
from debias.core.input_errors import InputError

# -- names -------------------------------------------------------------------------------------
MANIFEST = "manifest.json"  # a tail's proof (and the run directory's copy of the one it trained on)
CONTROL = "control.json"  # the control arm's record in its run directory
RUN_RECORD = "run.json"  # a run directory's record of what it trained
TAIL = "tail"  # a tail folder's Megatron prefix: tail.bin / tail.idx
CHECKPOINTS = "checkpoints"  # a run directory's Hugging Face checkpoints, one step<N> folder each
STEP_DIR = re.compile(r"^step(\d+)$")

Arm = Literal["baseline", "intervention", "control"]
ARMS = ("baseline", "intervention", "control")


def step_name(step: int) -> str:
    """``step<N>``: the folder (and DeepSpeed tag) of a step's checkpoint."""
    return f"step{int(step)}"


def parse_step(name: str) -> int | None:
    """The step of a ``step<N>`` folder name; None for any other name (temporaries included)."""
    found = STEP_DIR.match(name)
    return int(found.group(1)) if found else None


def step_dirs(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step<N>`` folder directly in ``folder``, by step; [] when it is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(step, p) for p in folder.iterdir() if p.is_dir() and (step := parse_step(p.name)) is not None]
    return sorted(found)


# -- pronoun counts ----------------------------------------------------------------------------
class FormCount(TypedDict):
    """What a rewrite did with one lower-case form: occurrences seen, swapped, and left by reason."""

    seen: int
    swapped: int
    left: dict[str, int]


Counts = dict[str, FormCount]


def form_count() -> FormCount:
    return {"seen": 0, "swapped": 0, "left": {}}


def empty_counts(forms: Iterable[str]) -> Counts:
    """Every form at zero, so that a manifest lists the forms that never occurred too."""
    return {f: form_count() for f in forms}


def add_left(count: FormCount, reason: str, n: int = 1) -> None:
    count["left"][reason] = count["left"].get(reason, 0) + n


def merge_counts(into: Counts, other: Mapping[str, Mapping[str, Any]]) -> Counts:
    """Add ``other`` (of the same shape) into ``into``, in place; returns ``into``."""
    for f, c in other.items():
        row = into.setdefault(f, form_count())
        row["seen"] += c["seen"]
        row["swapped"] += c["swapped"]
        for reason, n in c["left"].items():
            add_left(row, reason, n)
    return into


def left_total(count: Mapping[str, Any]) -> int:
    """The occurrences left of one form (a number in old or flat counts, by reason in ours)."""
    left = count.get("left", 0)
    return sum(left.values()) if isinstance(left, Mapping) else int(left)


def count_totals(counts: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """``{"seen", "swapped", "left"}`` summed over the forms."""
    return {"seen": sum(int(c["seen"]) for c in counts.values()),
            "swapped": sum(int(c["swapped"]) for c in counts.values()),
            "left": sum(left_total(c) for c in counts.values())}


def left_by_reason(counts: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Occurrences left, summed over the forms, by reason, most first (a bare number: "unknown")."""
    out: dict[str, int] = {}
    for c in counts.values():
        left = c.get("left", 0)
        for reason, n in (left.items() if isinstance(left, Mapping) else [("unknown", left)]):
            out[reason] = out.get(reason, 0) + int(n)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# -- reading and checking ----------------------------------------------------------------------
class RecordError(InputError):
    """A record file (run.json, manifest.json, control.json) is not what its writer writes."""


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "an object",
               list: "an array", type(None): "null"}


def _names(types: tuple[type, ...]) -> str:
    return " or ".join(dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in types))


def _check(doc: Mapping[str, Any], key: str, types: tuple[type, ...], where: str, fix: str, *,
           required: bool = True, prefix: str = "") -> Any:
    """``doc[key]`` when it has one of ``types`` (None when optional and absent)."""
    if key not in doc:
        if required:
            raise RecordError(where, f"has no '{prefix}{key}' (it has {sorted(doc)[:12]})", fix)
        return None
    value = doc[key]
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise RecordError(where, f"'{prefix}{key}' is {_TYPE_NAMES.get(type(value), type(value).__name__)} "
                                 f"({shown}), not {_names(types)}", fix)
    return value


def load_json(path: str | os.PathLike, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``; ``RecordError`` naming it when it is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(path, f"not valid JSON ({exc})", fix) from None
    if not isinstance(doc, dict):
        raise RecordError(path, f"holds {_TYPE_NAMES.get(type(doc), type(doc).__name__)}, not a JSON object", fix)
    return doc


INT, STR, OPT_INT, OPT_STR, OBJ = (int,), (str,), (int, type(None)), (str, type(None)), (dict,)


def _check_counts(value: Any, where: str, fix: str) -> None:
    for f, c in value.items():
        if not isinstance(c, dict):
            raise RecordError(where, f"counts[{f!r}] is not an object", fix)
        for key in ("seen", "swapped"):
            _check(c, key, INT, where, fix, prefix=f"counts[{f!r}].")
        _check(c, "left", (dict, int), where, fix, prefix=f"counts[{f!r}].")


class _Record:
    """What every record does: read a file (checked by the subclass's ``from_dict``), give back the
    document it was read from, and write it (temp then rename)."""

    FIX: ClassVar[str]
    doc: Mapping[str, Any]

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str | os.PathLike) -> Self:
        raise NotImplementedError

    @classmethod
    def read(cls, path: str | os.PathLike) -> Self:
        return cls.from_dict(load_json(path, cls.FIX), path)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.doc)

    def write(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())


# -- run.json ----------------------------------------------------------------------------------
RUN_FIX = "the run directory was not written by `python -m debias.train` or was edited; rerun the run or restore the file"


@dataclass(frozen=True)
class RunRecord(_Record):
    """``run.json``: written by ``train`` (train/rundir.py) when a run starts and ends; read by resume,
    eval (the training context) and the report (arm, model, seed, steps)."""

    FIX: ClassVar[str] = RUN_FIX
    name: str
    arm: Arm
    model: str | None = None
    seed: int | None = None
    start_step: int | None = None
    end_step: int | None = None
    total_steps: int | None = None
    seq_length: int | None = None  # the training context: evaluation windows use it
    direction: str | None = None
    method: str | None = None  # how the tail was rewritten; None for baseline and control runs
    completed: bool = False
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str | os.PathLike = RUN_RECORD) -> RunRecord:
        where = os.fspath(where)
        arm = _check(doc, "arm", STR, where, RUN_FIX)
        if arm not in ARMS:
            raise RecordError(where, f"'arm' is {arm!r}, not one of {', '.join(ARMS)}", RUN_FIX)
        ints = {k: _check(doc, k, OPT_INT, where, RUN_FIX, required=False)
                for k in ("seed", "start_step", "end_step", "total_steps", "seq_length")}
        strs = {k: _check(doc, k, OPT_STR, where, RUN_FIX, required=False) for k in ("model", "direction", "method")}
        for key in ("resumed_from", "method_parameters"):
            _check(doc, key, (dict, type(None)), where, RUN_FIX, required=False)
        _check(doc, "restarts", (list,), where, RUN_FIX, required=False)
        completed = _check(doc, "completed", (bool,), where, RUN_FIX, required=False)
        return cls(name=_check(doc, "name", STR, where, RUN_FIX), arm=arm, **ints, **strs,
                   completed=bool(completed), doc=dict(doc))



def read_run_record(run_dir: str | os.PathLike) -> RunRecord | None:
    """A run directory's ``run.json`` as a record; None when it has none."""
    path = Path(run_dir) / RUN_RECORD
    return RunRecord.read(path) if path.is_file() else None


# -- manifest.json (the rewrite's proof) -------------------------------------------------------
MANIFEST_FIX = "rewrite the tail (delete the folder and rerun debias-rewrite or the run), or restore the file"


@dataclass(frozen=True)
class SourceRef:
    """The source rows a tail replaces: the data order's prefix, its ``.idx``'s sha256, and
    the sha256 of the rows' bytes (``first_row``, ``rows``)."""

    path: str
    idx_sha256: str
    rows_sha256: str | None
    first_row: int
    rows: int


@dataclass(frozen=True)
class RewriteManifest(_Record):
    """``manifest.json`` of a tail: written last by every rewrite (debias/rewrite/tail.py for the morphological
    method, debias/rewrite/arms/tailfile.py for placebo, sham and published); read to reuse or refuse a finished
    tail, by train before training on it (train/data.py, train/tail_check.py), by the proofs, and by the
    report (counts, totals). Required: the steps, direction, counts and totals; the rest is typed when
    present (a report's fixture or an old tail may lack it)."""

    FIX: ClassVar[str] = MANIFEST_FIX
    start_step: int
    end_step: int
    direction: str
    counts: Counts
    totals: Mapping[str, Any]
    method: str = "morphological"  # a tail written before methods existed is a morphological one
    parameters: Mapping[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ("pronouns",)
    rows_per_step: int | None = None
    row_length: int | None = None
    dtype: str | None = None
    source: SourceRef | None = None
    tokenizer_sha256: str | None = None
    output: Mapping[str, Any] | None = None  # bin_sha256, idx_sha256 (sample_rows_sha256 for the rewrite)
    spacy: Mapping[str, Any] | None = None
    algorithm: str | None = None
    # a partial rewrite's choice of rows (debias.rewrite.selection): fraction, seed, rule, rows_chosen
    selection: Mapping[str, Any] | None = None
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str | os.PathLike = MANIFEST) -> RewriteManifest:
        where, fix = os.fspath(where), MANIFEST_FIX
        if doc.get("arm") == "control":
            raise RecordError(where, "is the control arm's record, not a rewrite's manifest",
                              "give the folder of a rewritten tail")
        counts = _check(doc, "counts", OBJ, where, fix)
        _check_counts(counts, where, fix)
        source = _check(doc, "source", OBJ, where, fix, required=False)
        ref = None
        if source is not None:
            ref = SourceRef(path=_check(source, "path", STR, where, fix, prefix="source."),
                            idx_sha256=_check(source, "idx_sha256", STR, where, fix, prefix="source."),
                            rows_sha256=_check(source, "rows_sha256", OPT_STR, where, fix, required=False,
                                               prefix="source."),
                            first_row=_check(source, "first_row", INT, where, fix, prefix="source."),
                            rows=_check(source, "rows", INT, where, fix, prefix="source."))
        tokenizer = _check(doc, "tokenizer", OBJ, where, fix, required=False)
        tok_sha = _check(tokenizer, "sha256", STR, where, fix, prefix="tokenizer.") if tokenizer is not None else None
        output = _check(doc, "output", OBJ, where, fix, required=False)
        if output is not None:
            for key in ("bin_sha256", "idx_sha256"):
                _check(output, key, STR, where, fix, prefix="output.")
        groups = _check(doc, "groups", (list,), where, fix, required=False)
        method = _check(doc, "method", STR, where, fix, required=False)
        parameters = _check(doc, "parameters", OBJ, where, fix, required=False)
        selection = _check(doc, "selection", (dict, type(None)), where, fix, required=False)
        if selection is not None:
            _check(selection, "fraction", (float, int), where, fix, prefix="selection.")
            _check(selection, "seed", INT, where, fix, prefix="selection.")
            _check(selection, "rule", STR, where, fix, prefix="selection.")
        return cls(
            start_step=_check(doc, "start_step", INT, where, fix), end_step=_check(doc, "end_step", INT, where, fix),
            direction=_check(doc, "direction", STR, where, fix), counts=counts,
            totals=_check(doc, "totals", OBJ, where, fix),
            method=method or "morphological", parameters=parameters if parameters is not None else {},
            groups=tuple(groups) if groups else ("pronouns",),
            rows_per_step=_check(doc, "rows_per_step", OPT_INT, where, fix, required=False),
            row_length=_check(doc, "row_length", OPT_INT, where, fix, required=False),
            dtype=_check(doc, "dtype", OPT_STR, where, fix, required=False), source=ref, tokenizer_sha256=tok_sha,
            output=output, spacy=_check(doc, "spacy", (dict, type(None)), where, fix, required=False),
            algorithm=_check(doc, "algorithm", OPT_STR, where, fix, required=False), selection=selection,
            doc=dict(doc))

    def finished(self) -> bool:
        """Whether it records what a finished tail's check needs: the source rows and the output checksums."""
        return self.source is not None and self.row_length is not None and self.output is not None


def read_manifest(folder: str | os.PathLike) -> RewriteManifest | None:
    """A tail folder's ``manifest.json`` as a record; None when it has none (an unfinished tail)."""
    path = Path(folder) / MANIFEST
    return RewriteManifest.read(path) if path.is_file() else None


# -- <prefix>.steps.json (a data order's rows for a range of steps) ---------------------------
STEPS_SUFFIX = ".steps.json"  # beside a step range's .bin/.idx: <prefix>.steps.json
STEPS_FIX = "build the step range again (delete its folder and rerun the command that built it)"
STEP_SOURCES = ("parquet", "index_maps")


def steps_record_path(prefix: str | os.PathLike) -> Path:
    """Where the record of a step range with Megatron prefix ``prefix`` lives."""
    return Path(f"{os.fspath(prefix)}{STEPS_SUFFIX}")


@dataclass(frozen=True)
class StepRangeRecord(_Record):
    """``<prefix>.steps.json``: a Megatron .bin/.idx that holds only the rows of steps
    ``first_step..end_step-1`` of a data order, and where they were read from (``kind``: parquet
    chunks or GPT-NeoX index maps; ``files``: what was read, with the steps each gave). Written last by
    ``debias.data.step_range``; read by ``DataOrder``, which then answers for those step numbers."""

    FIX: ClassVar[str] = STEPS_FIX
    kind: str
    source: str
    first_step: int
    end_step: int
    rows_per_step: int
    row_length: int
    rows_sha256: str
    files: tuple[Mapping[str, Any], ...] = ()
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str | os.PathLike = STEPS_SUFFIX) -> StepRangeRecord:
        where, fix = os.fspath(where), STEPS_FIX
        kind = _check(doc, "kind", STR, where, fix)
        if kind not in STEP_SOURCES:
            raise RecordError(where, f"'kind' is {kind!r}, not one of {', '.join(STEP_SOURCES)}", fix)
        ints = {k: _check(doc, k, INT, where, fix) for k in ("first_step", "end_step", "rows_per_step", "row_length")}
        if not 0 <= ints["first_step"] < ints["end_step"] or ints["rows_per_step"] < 1 or ints["row_length"] < 1:
            raise RecordError(where, f"holds no usable steps ({ints})", fix)
        files = _check(doc, "files", (list,), where, fix, required=False) or []
        if not all(isinstance(f, dict) for f in files):
            raise RecordError(where, "'files' holds something other than objects", fix)
        return cls(kind=kind, source=_check(doc, "source", STR, where, fix), **ints,
                   rows_sha256=_check(doc, "rows_sha256", STR, where, fix), files=tuple(files), doc=dict(doc))


def read_steps_record(prefix: str | os.PathLike) -> StepRangeRecord | None:
    """The step-range record beside ``prefix``; None for a whole data order (it has none)."""
    path = steps_record_path(prefix)
    return StepRangeRecord.read(path) if path.is_file() else None


# -- control.json ------------------------------------------------------------------------------
CONTROL_FIX = "the run directory was not written by `python -m debias.train` or was edited; rerun the control run"


@dataclass(frozen=True)
class ControlRecord(_Record):
    """``control.json``: the control arm's record (written by train/data.py through train/rundir.py):
    it trained on the original rows of steps ``start..end-1`` of ``source_path``; ``matching_rewrite``
    is the manifest of the intervention's tail of those steps when there was one. Run folders of
    earlier versions hold it as ``manifest.json`` with ``"arm": "control"``; ``read_control`` reads both."""

    FIX: ClassVar[str] = CONTROL_FIX
    source_path: str
    source_idx_sha256: str
    start_step: int
    end_step: int
    rows_per_step: int | None = None
    row_length: int | None = None
    matching_rewrite: Mapping[str, Any] | None = None
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, *, source_path: str, source_idx_sha256: str, start_step: int, end_step: int,
              rows_per_step: int, row_length: int, matching_rewrite: Mapping[str, Any] | None) -> ControlRecord:
        return cls.from_dict({"arm": "control", "rows": "original, not rewritten",
                              "source": {"path": source_path, "idx_sha256": source_idx_sha256},
                              "start_step": start_step, "end_step": end_step, "rows_per_step": rows_per_step,
                              "row_length": row_length, "matching_rewrite": matching_rewrite})

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str | os.PathLike = CONTROL) -> ControlRecord:
        where, fix = os.fspath(where), CONTROL_FIX
        arm = _check(doc, "arm", STR, where, fix)
        if arm != "control":
            raise RecordError(where, f"'arm' is {arm!r}, not 'control'", fix)
        source = _check(doc, "source", OBJ, where, fix)
        return cls(source_path=_check(source, "path", STR, where, fix, prefix="source."),
                   source_idx_sha256=_check(source, "idx_sha256", STR, where, fix, prefix="source."),
                   start_step=_check(doc, "start_step", INT, where, fix),
                   end_step=_check(doc, "end_step", INT, where, fix),
                   rows_per_step=_check(doc, "rows_per_step", OPT_INT, where, fix, required=False),
                   row_length=_check(doc, "row_length", OPT_INT, where, fix, required=False),
                   matching_rewrite=_check(doc, "matching_rewrite", (dict, type(None)), where, fix, required=False),
                   doc=dict(doc))



def read_control(run_dir: str | os.PathLike) -> ControlRecord | None:
    """A control run's record: ``control.json``, or the placeholder ``manifest.json`` (``"arm": "control"``)
    of earlier versions; None when the run has neither."""
    run_dir = Path(run_dir)
    if (run_dir / CONTROL).is_file():
        return ControlRecord.read(run_dir / CONTROL)
    old = run_dir / MANIFEST
    if old.is_file():
        doc = load_json(old, CONTROL_FIX)
        if doc.get("arm") == "control":
            return ControlRecord.from_dict(doc, old)
    return None


def read_arm_record(run_dir: str | os.PathLike) -> RewriteManifest | ControlRecord | None:
    """What a run directory records about the rows its arm trained on: the rewrite's manifest (an
    intervention), the control record, or None (a baseline)."""
    control = read_control(run_dir)
    if control is not None:
        return control
    return read_manifest(run_dir)


# -- the run directory's file names written by train (removed together on overwrite) -----------
ARM_RECORDS = (MANIFEST, CONTROL)

__all__ = [
    "ARMS", "ARM_RECORDS", "CHECKPOINTS", "CONTROL", "MANIFEST", "RUN_RECORD", "TAIL", "Arm", "ControlRecord",
    "Counts", "FormCount", "RecordError", "RewriteManifest", "RunRecord", "SourceRef", "add_left", "count_totals",
    "empty_counts", "form_count", "left_by_reason", "left_total", "merge_counts", "parse_step",
    "read_arm_record", "read_control", "read_manifest", "read_run_record", "step_dirs", "step_name",
]
