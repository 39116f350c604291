"""The tail rewrite: the rows a resumed run will read, with their pronouns swapped in place.

``rewrite_tail`` copies the rows of steps ``start..end-1`` out of a data order, rewrites each row's
pronouns on its tokens (``debias.row_rewrite``), and writes ``tail.bin``/``tail.idx`` plus
``manifest.json``. The work is cut into shards of rows, done by worker processes; each finished
shard is a file whose checksum is recorded beside it, so after a crash or Ctrl-C a rerun redoes
only the shards that are missing or damaged, and the result is byte-identical to an uninterrupted
run (each row is decided from its own tokens alone). ``manifest.json`` is written last: a tail
without it is unfinished. ``verify_tail`` (``debias.tail_verify``) proves the result.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from debias.atomic import write_json
from debias.data_order import DataOrder
from debias.fetch import sha256_file
from debias.indexed import (
    MMapIndexedDataset,
    bin_path,
    idx_path,
    strip_extension,
    write_uniform_index,
)
from debias.pronouns import source_forms
from debias.row_rewrite import RewriteStats, RowRewriter
from debias.tail_verify import MANIFEST, TAIL, TailVerificationError, rows_sha256, verify_tail
from debias.token_bytes import ByteVocab

log = logging.getLogger(__name__)

ALGORITHM = "debias in-place token rewrite v1"
SHARDS = ".shards"


# -- workers ----------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _make_planner(
    direction: str,
    spacy_model: str | None,
    context_words: int | None = None,
    groups: Sequence[str] = ("pronouns",),
) -> Any:
    from debias.swapper import PronounSwapper

    extra = {} if context_words is None else {"context_words": context_words}
    return PronounSwapper(direction=direction, spacy_model=spacy_model, groups=groups, **extra)


def _forms(plan: dict[str, Any]) -> tuple[str, ...]:
    from debias.gendered_nouns import noun_forms

    nouns = noun_forms(plan["direction"]) if "nouns" in plan["groups"] else ()
    return (source_forms(plan["direction"]) if "pronouns" in plan["groups"] else ()) + nouns


def _spacy_info(planner: Any, requested: str | None) -> dict[str, Any]:
    info = getattr(planner, "model_info", {})
    return {
        "model": info.get("spacy_model", requested),
        "model_version": info.get("spacy_model_version"),
        "version": info.get("spacy_version"),
        "context_words": info.get("context_words"),
    }


def _init_worker(job: dict[str, Any], planner: Any = None) -> None:
    """Load the tokenizer vocabulary, the swapper and the source once per process."""
    vocab = ByteVocab(job["tokenizer"])
    if planner is None:
        planner = _make_planner(
            job["direction"], job["spacy_model"], job["context_words"], job["groups"]
        )
        got = _spacy_info(planner, job["spacy_model"])
        if got != job["spacy"]:  # every shard must be planned by the same pipeline
            raise RuntimeError(
                f"worker {os.getpid()} loaded spaCy {got}, but the rewrite uses {job['spacy']}"
            )
    _WORKER.update(
        job=job,
        vocab=vocab,
        planner=planner,
        rewriter=RowRewriter(vocab, planner),
        source=MMapIndexedDataset(job["source"], vocab_size=vocab.size),
    )


def _shard_paths(shards_dir: Path, k: int) -> tuple[Path, Path]:
    return shards_dir / f"shard-{k:06d}.bin", shards_dir / f"shard-{k:06d}.json"


def _run_shard(task: tuple[int, int, int]) -> dict[str, Any]:
    """Rewrite source rows ``lo..hi-1`` into shard ``k``: the rows file first, its record last."""
    k, lo, hi = task
    job, source, rewriter = _WORKER["job"], _WORKER["source"], _WORKER["rewriter"]
    shards_dir = Path(job["shards_dir"])
    out_bin, out_json = _shard_paths(shards_dir, k)
    stats = RewriteStats()
    digest = hashlib.sha256()
    tmp = out_bin.with_name(f".{out_bin.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        for a in range(lo, hi, job["batch_rows"]):
            b = min(hi, a + job["batch_rows"])
            new = rewriter.rewrite(source.rows(a, b), stats)
            data = new.astype(source.dtype, copy=False).tobytes()
            digest.update(data)
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out_bin)
    record = {
        "shard": k,
        "rows": [lo, hi],
        "sha256": digest.hexdigest(),
        "stats": stats.as_dict(),
        "plan": job["plan_sha256"],
    }
    write_json(out_json, record)
    return record


# -- planning and resuming ----------------------------------------------------------------------
def _shard_is_done(
    shards_dir: Path, k: int, lo: int, hi: int, row_bytes: int, plan_sha: str
) -> dict | None:
    """The record of shard ``k`` when its rows file is complete and intact, else None."""
    out_bin, out_json = _shard_paths(shards_dir, k)
    if not (out_json.is_file() and out_bin.is_file()):
        return None
    try:
        record = json.loads(out_json.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("plan") != plan_sha or record.get("rows") != [lo, hi]:
        return None
    if out_bin.stat().st_size != (hi - lo) * row_bytes or sha256_file(out_bin) != record.get(
        "sha256"
    ):
        log.warning("%s is damaged; redoing shard %d", out_bin, k)
        return None
    return record


def _prepare_shards_dir(shards_dir: Path, plan: dict[str, Any]) -> str:
    """Make ``shards_dir`` hold only work of ``plan``; returns the plan's hash."""
    plan_sha = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()
    plan_file = shards_dir / "plan.json"
    if plan_file.is_file():
        try:
            old = json.loads(plan_file.read_text()).get("sha256")
        except json.JSONDecodeError:
            old = None
        if old != plan_sha:
            log.warning("%s holds shards of a different rewrite; starting over", shards_dir)
            shutil.rmtree(shards_dir)
    shards_dir.mkdir(parents=True, exist_ok=True)
    for stray in shards_dir.glob(".*.tmp"):  # half-written by a process that died
        stray.unlink()
    if not plan_file.is_file():
        write_json(plan_file, {"sha256": plan_sha, **plan})
    return plan_sha


def _same_rewrite(manifest: dict[str, Any], plan: dict[str, Any]) -> bool:
    return (
        manifest.get("source", {}).get("idx_sha256") == plan["source_idx_sha256"]
        and manifest.get("tokenizer", {}).get("sha256") == plan["tokenizer_sha256"]
        and all(
            manifest.get(k) == plan[k]
            for k in ("start_step", "end_step", "rows_per_step", "direction")
        )
        and manifest.get("groups", ["pronouns"]) == plan["groups"]
        and manifest.get("spacy", {}).get("model") == plan["spacy"]["model"]
        and manifest.get("spacy", {}).get("model_version") == plan["spacy"]["model_version"]
    )


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
    spacy_model: str | None = None,
    context_words: int | None = None,
    groups: Sequence[str] = ("pronouns",),
    shard_rows: int | None = None,
    batch_rows: int = 32,
    progress: bool = True,
    on_shard_done: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Rewrite the rows of steps ``start_step..end_step-1`` of ``source`` (a .bin/.idx prefix) into
    ``output/tail.bin``, ``output/tail.idx`` and ``output/manifest.json``; returns the manifest.

    ``direction``, ``spacy_model`` and ``context_words`` (None: the swapper's default) as for
    ``PronounSwapper``, and ``groups`` (what is swapped: "pronouns", "nouns"); ``tokenizer`` the tokenizer.json the rows were made with.
    ``workers`` processes share the shards (``shard_rows`` rows each; the default gives about 64).
    A finished output with the same inputs is returned as is; one with other inputs is refused.
    ``on_shard_done(k)`` is called in this process after each shard is safely on disk.
    """
    source = strip_extension(source).resolve()
    output = Path(output)
    source_forms(direction)  # ValueError naming the choices
    if workers < 1:
        raise ValueError(f"workers={workers} must be at least 1")
    order = DataOrder(source, rows_per_step)
    if not start_step < end_step:
        raise ValueError(f"start_step={start_step} must lie before end_step={end_step}")
    first_row = order.row_range(start_step).start
    stop_row = order.row_range(end_step - 1).stop  # StepOutOfRangeError when the data ends earlier
    num_rows = stop_row - first_row
    vocab = ByteVocab(
        Path(tokenizer).resolve()
    )  # ValueError for a tokenizer the rewrite cannot work with
    if shard_rows is None:
        shard_rows = min(8192, max(64, math.ceil(num_rows / 64)))
    planner = _make_planner(
        direction, spacy_model, context_words, groups
    )  # OSError naming the install command
    spacy_info = _spacy_info(planner, spacy_model)
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
        "spacy": spacy_info,
        "shard_rows": shard_rows,
    }

    with _exclusive(output):
        return _rewrite_locked(
            output,
            source,
            order,
            plan,
            vocab,
            planner,
            spacy_model,
            workers,
            batch_rows,
            progress,
            on_shard_done,
        )


@contextmanager
def _exclusive(output: Path) -> Iterator[None]:
    """Hold ``output/.lock`` so that two rewrites never write the same shards (a second one fails
    at once rather than waiting)."""
    output.mkdir(parents=True, exist_ok=True)
    with open(output / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"{output}: another rewrite is running on this folder; wait for it, or stop it "
                "and rerun (finished shards are kept)"
            ) from None
        try:
            yield
        finally:
            # finished: leave only tail.bin, tail.idx and manifest.json behind
            if (output / MANIFEST).is_file():
                (output / ".lock").unlink(missing_ok=True)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rewrite_locked(
    output: Path,
    source: Path,
    order: DataOrder,
    plan: dict[str, Any],
    vocab: ByteVocab,
    planner: Any,
    spacy_model: str | None,
    workers: int,
    batch_rows: int,
    progress: bool,
    on_shard_done: Callable[[int], None] | None,
) -> dict[str, Any]:
    start_step, end_step, direction = plan["start_step"], plan["end_step"], plan["direction"]
    first_row, num_rows, shard_rows = plan["first_row"], plan["rows"], plan["shard_rows"]
    stop_row = first_row + num_rows
    row_bytes = order.row_length * order.dtype.itemsize
    spacy_info = plan["spacy"]
    manifest_path = output / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if _same_rewrite(manifest, plan):
            log.info("%s is already complete; nothing to do", output)
            return manifest
        raise FileExistsError(
            f"{output} holds a finished rewrite of other inputs (see {manifest_path}); "
            "choose another output folder or delete this one"
        )

    shards_dir = output / SHARDS
    plan_sha = _prepare_shards_dir(shards_dir, plan)
    tasks = [
        (k, lo, min(stop_row, lo + shard_rows))
        for k, lo in enumerate(range(first_row, stop_row, shard_rows))
    ]
    records: dict[int, dict] = {}
    for k, lo, hi in tasks:
        if (record := _shard_is_done(shards_dir, k, lo, hi, row_bytes, plan_sha)) is not None:
            records[k] = record
    pending = [t for t in tasks if t[0] not in records]
    if records:
        log.info("resuming %s: %d of %d shards already done", output, len(records), len(tasks))
    job = {
        "source": str(source),
        "tokenizer": str(vocab.path),
        "direction": direction,
        "groups": plan["groups"],
        "spacy_model": spacy_model,
        "context_words": spacy_info["context_words"],
        "spacy": spacy_info,
        "shards_dir": str(shards_dir),
        "batch_rows": batch_rows,
        "plan_sha256": plan_sha,
    }
    bar = tqdm(
        total=num_rows,
        initial=sum(r["rows"][1] - r["rows"][0] for r in records.values()),
        desc=f"rewriting steps {start_step}..{end_step - 1}",
        unit="row",
        disable=not progress,
    )
    try:
        if pending and (workers == 1 or len(pending) == 1):
            _init_worker(job, planner)
            results = map(_run_shard, pending)
            _collect(results, records, bar, on_shard_done)
        elif pending:
            ctx = multiprocessing.get_context("spawn")  # spaCy and tokenizers are not fork-safe
            with ctx.Pool(
                min(workers, len(pending)), initializer=_init_worker, initargs=(job,)
            ) as pool:
                _collect(pool.imap_unordered(_run_shard, pending), records, bar, on_shard_done)
    finally:
        bar.close()
    return _assemble(output, source, order, plan, tasks, records, vocab, progress)


def _collect(
    results: Any, records: dict[int, dict], bar: tqdm, on_done: Callable[[int], None] | None
) -> None:
    for record in results:
        records[record["shard"]] = record
        bar.update(record["rows"][1] - record["rows"][0])
        if on_done is not None:
            on_done(record["shard"])


def _assemble(
    output: Path,
    source: Path,
    order: DataOrder,
    plan: dict,
    tasks: list,
    records: dict,
    vocab: ByteVocab,
    progress: bool,
) -> dict[str, Any]:
    """Join the shards into tail.bin/.idx, then write the manifest (last: it marks completion)."""
    shards_dir = output / SHARDS
    prefix = output / TAIL
    stats = RewriteStats()
    for form in _forms(plan):  # every form of the direction and groups, seen or not
        stats.counts[form] = {"seen": 0, "swapped": 0, "left": {}}
    tmp = output / f".{TAIL}.bin.tmp"
    tail_digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for k, _lo, _hi in tasks:
            stats.merge(records[k]["stats"])
            with open(_shard_paths(shards_dir, k)[0], "rb") as fh:
                while block := fh.read(1 << 22):
                    tail_digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    idx_path(prefix).unlink(missing_ok=True)
    os.replace(tmp, bin_path(prefix))
    write_uniform_index(prefix, order.dtype, plan["rows"], order.row_length)
    first, rows = plan["first_row"], plan["rows"]
    result = stats.as_dict()
    seen = sum(c["seen"] for c in result["counts"].values())
    left = sum(sum(c["left"].values()) for c in result["counts"].values())
    manifest = {
        "source": {
            "path": str(source),
            "idx_sha256": plan["source_idx_sha256"],
            "rows_sha256": rows_sha256(order.dataset, first, first + rows, progress),
            "first_row": first,
            "rows": rows,
        },
        "start_step": plan["start_step"],
        "end_step": plan["end_step"],
        "rows_per_step": plan["rows_per_step"],
        "row_length": plan["row_length"],
        "dtype": plan["dtype"],
        "tokenizer": {"path": str(vocab.path), "sha256": plan["tokenizer_sha256"]},
        "direction": plan["direction"],
        "groups": plan["groups"],
        "spacy": plan["spacy"],
        "counts": result["counts"],
        "noncanonical": sum(result["noncanonical"].values()),
        "noncanonical_by_form": result["noncanonical"],
        "totals": {
            "rows": result["rows"],
            "tokens": result["tokens"],
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
        },
        "algorithm": plan["algorithm"],
        "shards": len(tasks),
        "shard_rows": plan["shard_rows"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(output / MANIFEST, manifest)
    shutil.rmtree(shards_dir, ignore_errors=True)
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


__all__ = ["rewrite_tail", "verify_tail", "TailVerificationError"]
