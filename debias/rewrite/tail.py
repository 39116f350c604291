"""The tail rewrite: the rows a resumed run will read, with their pronouns swapped in place.

``rewrite_tail`` copies the rows of steps ``start..end-1`` out of a data order, rewrites each row's
pronouns on its tokens (``debias.rewrite.rows``), and writes ``tail.bin``/``tail.idx`` plus
``manifest.json``. It runs as two datatrove pipelines (``debias.rewrite.engine``): ``tasks`` tasks,
each rewriting one contiguous range of rows into a part file, then the dependent assembly of the
parts into the tail and its manifest. datatrove's completion markers are the resume: after a crash,
a kill or Ctrl-C a rerun redoes only the tasks without an intact, marked part, and the bytes are
those of an uninterrupted run, for any ``tasks`` and ``workers`` (each row is decided from its own
tokens alone). ``manifest.json`` is written last: a tail without it is unfinished.
``verify_tail`` (``debias.rewrite.verify``) proves the result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.pipeline.base import PipelineStep
from tqdm import tqdm

from debias.core.atomic import write_json
from debias.core.contracts import MANIFEST, TAIL, RewriteManifest, count_totals, empty_counts
from debias.data.fetch import sha256_file
from debias.data.indexed import (
    MMapIndexedDataset,
    bin_path,
    idx_path,
    strip_extension,
    write_uniform_index,
)
from debias.data.order import DataOrder, first_row_number
from debias.data.token_bytes import ByteVocab
from debias.data.tokenizer_fit import check_tokenizer_fits
from debias.rewrite.engine import (
    ExecutorConfig,
    connect_ray,
    folder_lock,
    guard_fields,
    make_executor,
    parent_alive,
    run_pipeline,
    task_guard,
    task_rows,
    writing,
)
from debias.rewrite.rows import RewriteStats, RowRewriter
from debias.rewrite.selection import RowSelection
from debias.rewrite.verify import (
    TailVerificationError,
    check_against_manifest,
    rows_sha256,
    sample_sha256,
    verify_tail,
)
from debias.swap.pronouns import source_forms

log = logging.getLogger(__name__)

ALGORITHM = "debias in-place token rewrite v1"
WORK = ".rewrite"  # parts/, rewrite/ and assemble/ (datatrove's logs and completion markers)


# -- the row rewriter: built here and only here ---------------------------------------------------
def _make_planner(
    direction: str,
    spacy_model: str | None,
    context_words: int | None = None,
    groups: Sequence[str] = ("pronouns",),
) -> Any:
    from debias.swap.torchless import load_swapper  # no torch: a second less in every worker

    extra = {} if context_words is None else {"context_words": context_words}
    return load_swapper(direction, spacy_model, groups=groups, **extra)


def _forms(plan: dict[str, Any]) -> tuple[str, ...]:
    """Every form the manifest counts: the direction's pronouns and, with nouns on, its nouns."""
    from debias.swap.gendered_nouns import noun_forms

    groups = plan.get("groups", ["pronouns"])
    nouns = noun_forms(plan["direction"]) if "nouns" in groups else ()
    return (source_forms(plan["direction"]) if "pronouns" in groups else ()) + nouns


def _spacy_info(planner: Any, requested: str | None) -> dict[str, Any]:
    info = getattr(planner, "model_info", {})
    return {
        "model": info.get("spacy_model", requested),
        "model_version": info.get("spacy_model_version"),
        "version": info.get("spacy_version"),
        "context_words": info.get("context_words"),
    }


# One rewriter and source per process and plan: the parent's own when a task runs in it, else
# loaded once by the first task a worker process runs.
_LOADED: dict[str, tuple[RowRewriter, MMapIndexedDataset]] = {}


def _loaded(
    job: dict[str, Any], planner: Any = None, vocab: ByteVocab | None = None
) -> tuple[RowRewriter, MMapIndexedDataset]:
    # Keyed by the source path too: data orders of equal shape (seeds of one corpus) have the same
    # .idx, hence the same plan, and a reused worker process must not read another seed's rows.
    key = f"{job['plan_sha256']}:{job['source']}"
    if key not in _LOADED:
        vocab = ByteVocab(job["tokenizer"]) if vocab is None else vocab
        if planner is None:
            planner = _make_planner(
                job["direction"], job["spacy_model"], job["context_words"], job["groups"]
            )
            got = _spacy_info(planner, job["spacy_model"])
            if got != job["spacy"]:  # every task must be planned by the same pipeline
                raise RuntimeError(
                    f"worker {os.getpid()} loaded spaCy {got}, but the rewrite uses {job['spacy']}"
                )
        source = MMapIndexedDataset(job["source"], vocab_size=vocab.size, streaming=True)
        _LOADED.clear()
        _LOADED[key] = (RowRewriter(vocab, planner), source)
    return _LOADED[key]


# -- the pipeline steps ---------------------------------------------------------------------------
def _part_paths(parts: Path, rank: int) -> tuple[Path, Path]:
    return parts / f"{rank:05d}.bin", parts / f"{rank:05d}.json"


class RewriteRows(PipelineStep):
    """Task ``rank`` of ``world_size``: rewrite its contiguous range of rows into a part file (the
    rows first, its record with their sha256 and counts last)."""

    name = "rewrite rows"
    type = "debias"

    def __init__(self, job: dict[str, Any], on_task_done: Callable[[int], None] | None = None):
        super().__init__()
        self.job = job
        self.on_task_done = on_task_done

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> None:
        job = self.job
        guard = task_guard(job)
        rewriter, source = _loaded(job)
        selection = RowSelection.from_record(job["selection"])
        lo, hi = task_rows(rank, world_size, job["first_row"], job["rows"])
        out_bin, out_json = _part_paths(Path(job["parts_dir"]), rank)
        tmp = out_bin.with_name(f".{out_bin.name}.{os.getpid()}.tmp")
        stats, digest = RewriteStats(), hashlib.sha256()
        in_parent = guard is None or os.getpid() == guard
        try:
            with writing(tmp, "a part of the rewritten tail"):
                with open(tmp, "wb") as fh:
                    for a in tqdm(
                        range(lo, hi, job["batch_rows"]),
                        desc=f"task {rank}: rewriting rows {lo}..{hi - 1}",
                        unit="batch",
                        disable=not (job["progress"] and in_parent),
                    ):
                        if guard is not None and not parent_alive(guard):
                            raise SystemExit(f"task {rank}: the rewrite that started it is gone")
                        b = min(hi, a + job["batch_rows"])
                        chosen = selection.chosen(np.arange(a, b) + job["row_number"])
                        new = _rewrite_chosen(rewriter, source.rows(a, b), chosen, stats)
                        data_bytes = new.astype(source.dtype, copy=False).tobytes()
                        digest.update(data_bytes)
                        fh.write(data_bytes)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, out_bin)
        finally:
            tmp.unlink(missing_ok=True)
        record = {
            "rank": rank,
            "rows": [lo, hi],
            "sha256": digest.hexdigest(),
            "stats": stats.as_dict(),
            "plan": job["plan_sha256"],
        }
        with writing(out_json, "a part's record"):
            write_json(out_json, record)
        self.stat_update("rows", value=hi - lo, unit="task")
        if self.on_task_done is not None:
            self.on_task_done(rank)


def _rewrite_chosen(rewriter: RowRewriter, rows: np.ndarray, chosen: np.ndarray, stats: RewriteStats) -> np.ndarray:
    """The rows with those ``chosen`` rewritten and the others as they were (a new array)."""
    if chosen.all():
        return rewriter.rewrite(rows, stats)
    out = np.array(rows, copy=True)
    if chosen.any():
        out[chosen] = rewriter.rewrite(rows[chosen], stats)
    return out


class AssembleTail(PipelineStep):
    """The dependent last stage: join the parts into tail.bin/.idx, then write the manifest (last:
    it marks completion)."""

    name = "assemble tail"
    type = "debias"

    def __init__(self, job: dict[str, Any], plan: dict[str, Any]):
        super().__init__()
        self.job = job
        self.plan = plan

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> None:
        _assemble(self.job, self.plan)


# -- planning and resuming ------------------------------------------------------------------------
def _part_is_done(parts: Path, rank: int, lo: int, hi: int, row_bytes: int, plan_sha: str) -> bool:
    """Whether task ``rank``'s part is complete and intact (a marker alone is not enough)."""
    out_bin, out_json = _part_paths(parts, rank)
    try:
        record = json.loads(out_json.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if record.get("plan") != plan_sha or record.get("rows") != [lo, hi]:
        return False
    if not out_bin.is_file() or out_bin.stat().st_size != (hi - lo) * row_bytes:
        return False
    return sha256_file(out_bin) == record.get("sha256")


def _prepare_work(output: Path, plan: dict[str, Any], row_bytes: int) -> str:
    """Make ``output/.rewrite`` hold only work of ``plan``, clear stale temp files, and drop the
    completion markers of tasks whose parts are missing or damaged; returns the plan's hash."""
    plan_sha = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()
    work = output / WORK
    plan_file = work / "plan.json"
    if work.exists():
        try:
            old = json.loads(plan_file.read_text()).get("sha256")
        except (OSError, json.JSONDecodeError):
            old = None
        if old != plan_sha:
            log.warning("%s holds work of a different rewrite; starting over", work)
            shutil.rmtree(work)
    for stray in [*output.glob(".*.tmp"), *(work / "parts").glob(".*.tmp")]:
        if stray.is_dir():  # half-written by a process that died
            shutil.rmtree(stray)
        else:
            stray.unlink()
    (work / "parts").mkdir(parents=True, exist_ok=True)
    if not plan_file.is_file():
        with writing(plan_file, "the rewrite's plan"):
            write_json(plan_file, {"sha256": plan_sha, **plan})
    markers = work / "rewrite" / "completions"
    kept = 0
    for marker in sorted(markers.glob("[0-9]*")):
        rank = int(marker.name)
        lo, hi = task_rows(rank, plan["tasks"], plan["first_row"], plan["rows"])
        if rank < plan["tasks"] and _part_is_done(work / "parts", rank, lo, hi, row_bytes, plan_sha):
            kept += 1
        else:
            log.warning("%s: task %d's part is missing or damaged; redoing it", work, rank)
            marker.unlink()
    if kept:
        log.info("resuming %s: %d of %d tasks already done", output, kept, plan["tasks"])
    return plan_sha


def _same_rewrite(manifest: RewriteManifest, plan: dict[str, Any], source: Path) -> bool:
    """Whether a finished tail's manifest records this rewrite. The source is compared by its path
    too, not only by its ``.idx``: the data orders of different seeds share their index (rows of one
    length) and differ only in the rows' order."""
    spacy = manifest.spacy or {}
    return (
        manifest.source is not None
        and manifest.source.idx_sha256 == plan["source_idx_sha256"]
        and Path(manifest.source.path).resolve() == source
        and manifest.tokenizer_sha256 == plan["tokenizer_sha256"]
        and all(
            getattr(manifest, k) == plan[k]
            for k in ("start_step", "end_step", "rows_per_step", "direction")
        )
        and list(manifest.groups) == plan["groups"]
        and (manifest.selection or None) == plan["selection"]
        and spacy.get("model") == plan["spacy"]["model"]
        and spacy.get("model_version") == plan["spacy"]["model_version"]
    )


def default_tasks(num_rows: int) -> int:
    """About 64 tasks of 64..8,192 rows (the unit of resuming and of parallel work)."""
    return math.ceil(num_rows / min(8192, max(64, math.ceil(num_rows / 64))))


def rewrite_tail(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    start_step: int,
    end_step: int,
    rows_per_step: int,
    tokenizer: str | os.PathLike,
    direction: str,
    workers: int = 1,
    tasks: int | None = None,
    executor: ExecutorConfig | None = None,
    spacy_model: str | None = None,
    context_words: int | None = None,
    groups: Sequence[str] = ("pronouns",),
    selection: RowSelection | None = None,
    shard_rows: int | None = None,
    batch_rows: int = 32,
    progress: bool = True,
    on_task_done: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Rewrite the rows of steps ``start_step..end_step-1`` of ``source`` (a .bin/.idx prefix) into
    ``output/tail.bin``, ``output/tail.idx`` and ``output/manifest.json``; returns the manifest.

    ``direction``, ``spacy_model`` and ``context_words`` (None: the swapper's default) as for
    ``PronounSwapper``, and ``groups`` (what is swapped: "pronouns", "nouns"); ``selection`` the rows
    rewritten (``debias.rewrite.selection``; None: every row), the rest copied as they are; ``tokenizer`` the
    tokenizer.json the rows were made with (refused when it
    does not reproduce them). ``tasks`` contiguous ranges of rows (None: ``shard_rows`` rows each,
    or about 64) run on ``executor`` (None: local) with ``workers`` at a time. With slurm the call
    submits the job arrays and returns ``{"submitted": ...}``; rerun it once they finish.
    A finished output with the same inputs is checked against its manifest and returned as is; one
    with other inputs is refused. ``on_task_done(rank)`` runs in the task's process once its part
    is on disk (for tests of interruption).
    """
    executor = executor or ExecutorConfig()
    source = strip_extension(source).resolve()
    output = Path(output)
    source_forms(direction)  # ValueError naming the choices
    if workers < 1:
        raise ValueError(f"workers={workers} must be at least 1")
    if problems := executor.problems():
        raise ValueError("; ".join(problems))
    order = DataOrder(source, rows_per_step)
    if not start_step < end_step:
        raise ValueError(f"start_step={start_step} must lie before end_step={end_step}")
    first_row = order.row_range(start_step).start
    number = first_row_number(source, rows_per_step)  # of the file's first row in the whole order
    stop_row = order.row_range(end_step - 1).stop  # StepOutOfRangeError when the data ends earlier
    num_rows = stop_row - first_row
    tokenizer = Path(tokenizer).resolve()
    vocab = ByteVocab(tokenizer)  # ValueError for a tokenizer the rewrite cannot work with
    # TokenizerMismatchError before anything is written
    check_tokenizer_fits(
        order.dataset, first_row, stop_row, tokenizer, vocab.size, where=str(bin_path(source))
    )
    if tasks is None:
        tasks = math.ceil(num_rows / shard_rows) if shard_rows else default_tasks(num_rows)
    if not 1 <= tasks <= num_rows:
        raise ValueError(f"tasks={tasks} must lie in 1..{num_rows} (the rows to rewrite)")
    planner = _make_planner(direction, spacy_model, context_words, groups)  # OSError naming the install
    plan = {
        "algorithm": ALGORITHM,
        "source_idx_sha256": sha256_file(idx_path(source)),
        "first_row": first_row,
        "rows": num_rows,
        "row_length": order.row_length,
        "dtype": str(order.dtype),
        "start_step": start_step,
        "end_step": end_step,
        "rows_per_step": rows_per_step,
        "tokenizer_sha256": sha256_file(tokenizer),
        "direction": direction,
        "groups": list(planner.groups),
        "spacy": _spacy_info(planner, spacy_model),
        "selection": None if selection is None or selection.everything else selection.record(
            number + first_row, number + stop_row),
        "tasks": tasks,
    }
    if executor.kind == "ray":
        connect_ray(executor)  # before the lock (see connect_ray); refuses a cluster too small
    created = not output.exists()
    with writing(output, "the output folder"):
        output.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(output):
            return _rewrite_locked(
                output, source, order, plan, vocab, planner, spacy_model, workers, executor,
                batch_rows, progress, on_task_done,
            )
    finally:
        if created and output.is_dir() and not any(output.iterdir()):
            output.rmdir()  # refused or failed before writing: leave nothing behind


def _rewrite_locked(
    output: Path,
    source: Path,
    order: DataOrder,
    plan: dict[str, Any],
    vocab: ByteVocab,
    planner: Any,
    spacy_model: str | None,
    workers: int,
    executor: ExecutorConfig,
    batch_rows: int,
    progress: bool,
    on_task_done: Callable[[int], None] | None,
) -> dict[str, Any]:
    manifest_path = output / MANIFEST
    if manifest_path.is_file():
        record = RewriteManifest.read(manifest_path)  # RecordError naming a malformed one
        manifest = record.to_dict()
        if not _same_rewrite(record, plan, source):
            raise FileExistsError(
                f"{output} holds a finished rewrite of other inputs (see {manifest_path}); "
                "choose another output folder or delete this one"
            )
        check_against_manifest(output, manifest)  # TailVerificationError when it was altered
        shutil.rmtree(output / WORK, ignore_errors=True)  # killed between manifest and clean-up
        log.info("%s is already complete and matches its manifest; nothing to do", output)
        return manifest

    row_bytes = order.row_length * order.dtype.itemsize
    plan_sha = _prepare_work(output, plan, row_bytes)
    work = output / WORK
    job = {
        "source": str(source),
        "tokenizer": str(vocab.path),
        "direction": plan["direction"],
        "groups": plan["groups"],
        "spacy_model": spacy_model,
        "context_words": plan["spacy"]["context_words"],
        "spacy": plan["spacy"],
        "selection": plan["selection"],
        # absolute: a Ray or Slurm task need not start in this directory
        "parts_dir": str((work / "parts").absolute()),
        "output": str(output.absolute()),
        "first_row": plan["first_row"],
        "row_number": first_row_number(source, plan["rows_per_step"]),
        "rows": plan["rows"],
        "row_length": plan["row_length"],
        "batch_rows": batch_rows,
        "plan_sha256": plan_sha,
        "progress": progress,
        # local workers die with this process, ray tasks with their actor (engine.task_guard)
        **guard_fields(executor),
    }
    _loaded(job, planner, vocab)  # tasks that run in this process reuse its swapper and vocab
    rewrite = make_executor(
        executor,
        [RewriteRows(job, on_task_done)],
        tasks=plan["tasks"],
        workers=workers,
        logging_dir=work / "rewrite",
    )
    assemble = make_executor(
        executor,
        [AssembleTail(job, plan)],
        tasks=1,
        workers=1,
        logging_dir=work / "assemble",
        depends=rewrite,
        name="-assemble",
    )
    run_pipeline(executor, assemble, f"the rewrite of {output}")  # the rewrite first (slurm: submits)
    if executor.kind == "slurm":
        log.info("submitted the rewrite of %s to slurm; rerun once its jobs finish", output)
        return {"submitted": True, "output": str(output), "logs": str(work)}
    if not manifest_path.is_file():
        raise RuntimeError(f"{output}: the assembly ended without a manifest; see {work} for logs")
    shutil.rmtree(work, ignore_errors=True)
    return RewriteManifest.read(manifest_path).to_dict()


def _selection_fields(selection: dict[str, Any] | None) -> dict[str, Any]:
    """What a partial rewrite's manifest adds: its parameters (as the intervention config names
    them, ``InterventionConfig.method_parameters``) and the selection's record."""
    if selection is None:
        return {}
    return {"parameters": {"row_fraction": selection["fraction"], "row_seed": selection["seed"]},
            "selection": selection}


def _assemble(job: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    output, parts = Path(job["output"]), Path(job["parts_dir"])
    prefix = output / TAIL
    stats = RewriteStats()
    stats.counts.update(empty_counts(_forms(plan)))  # every form of the direction and groups, seen or not
    tmp = output / f".{TAIL}.bin.tmp"
    tail_digest = hashlib.sha256()
    try:
        with writing(tmp, "the tail"):
            with open(tmp, "wb") as out:
                for rank in range(plan["tasks"]):
                    part_bin, part_json = _part_paths(parts, rank)
                    record = json.loads(part_json.read_text())
                    stats.merge(record["stats"])
                    digest = hashlib.sha256()
                    with open(part_bin, "rb") as fh:
                        while block := fh.read(1 << 22):
                            digest.update(block)
                            tail_digest.update(block)
                            out.write(block)
                    if digest.hexdigest() != record["sha256"]:
                        marker = output / WORK / "rewrite" / "completions" / f"{rank:05d}"
                        marker.unlink(missing_ok=True)
                        raise RuntimeError(
                            f"{part_bin}: changed since task {rank} wrote it; rerun to redo that task"
                        )
                out.flush()
                os.fsync(out.fileno())
            idx_path(prefix).unlink(missing_ok=True)
            os.replace(tmp, bin_path(prefix))
    finally:
        tmp.unlink(missing_ok=True)
    with writing(idx_path(prefix), "the tail's index"):
        write_uniform_index(prefix, np.dtype(plan["dtype"]), plan["rows"], plan["row_length"])
    first, rows = plan["first_row"], plan["rows"]
    result = stats.as_dict()
    summed = count_totals(result["counts"])
    seen, left = summed["seen"], summed["left"]
    source_ds = MMapIndexedDataset(job["source"], streaming=True)
    tail_ds = MMapIndexedDataset(prefix, streaming=True)
    manifest = {
        "source": {
            "path": job["source"],
            "idx_sha256": plan["source_idx_sha256"],
            "rows_sha256": rows_sha256(source_ds, first, first + rows, job["progress"]),
            "first_row": first,
            "rows": rows,
        },
        "start_step": plan["start_step"],
        "end_step": plan["end_step"],
        "rows_per_step": plan["rows_per_step"],
        "row_length": plan["row_length"],
        "dtype": plan["dtype"],
        "tokenizer": {"path": job["tokenizer"], "sha256": plan["tokenizer_sha256"]},
        "direction": plan["direction"],
        "groups": plan["groups"],
        "spacy": plan["spacy"],
        **_selection_fields(plan["selection"]),
        "counts": result["counts"],
        "noncanonical": sum(result["noncanonical"].values()),
        "noncanonical_by_form": result["noncanonical"],
        "totals": {
            "rows": rows,
            "rows_rewritten": result["rows"],  # all of them, unless a selection chose fewer
            "tokens": rows * plan["row_length"],
            "changed_tokens": result["changed_tokens"],
            "changed_rows": result["changed_rows"],
            "seen": seen,
            "swapped": stats.swaps,
            "left": left,
            "left_fraction": left / seen if seen else 0.0,
        },
        "output": {
            "bin_sha256": tail_digest.hexdigest(),
            "idx_sha256": sha256_file(idx_path(prefix)),
            "sample_rows_sha256": sample_sha256(tail_ds),
        },
        "algorithm": plan["algorithm"],
        "engine": "datatrove",
        "shards": plan["tasks"],
        "shard_rows": task_rows(0, plan["tasks"], 0, rows)[1],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with writing(output / MANIFEST, "the manifest"):
        RewriteManifest.from_dict(manifest, output / MANIFEST).write(output / MANIFEST)
    log.info(
        "rewrote %d rows of steps %d..%d into %s: %d swaps, %d left (%.3f%%), %d non-canonical spellings",
        rows,
        plan["start_step"],
        plan["end_step"] - 1,
        output,
        stats.swaps,
        left,
        100 * manifest["totals"]["left_fraction"],
        manifest["noncanonical"],
    )
    return manifest


__all__ = ["rewrite_tail", "verify_tail", "TailVerificationError", "ExecutorConfig"]
