"""The records that pass between stages (debias.core.contracts): round trips, a reader that refuses a
malformed file naming it, the control arm's own file (and the old placeholder), one counts shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from debias.core.contracts import (
    CONTROL,
    MANIFEST,
    RUN_RECORD,
    ControlRecord,
    RecordError,
    RewriteManifest,
    RunRecord,
    count_totals,
    left_by_reason,
    merge_counts,
    parse_step,
    read_arm_record,
    read_control,
    read_manifest,
    read_run_record,
    step_dirs,
    step_name,
)
from debias.core.errors import DebiasError, describe
from debias.data.indexed import IndexedDatasetWriter
from debias.data.order import DataOrder
from debias.rewrite.arms.tailfile import write_tail

RUN = {"name": "tail21-s0", "arm": "intervention", "model": "pythia-14m", "seed": 0, "start_step": 40,
       "end_step": 50, "total_steps": 50, "seq_length": 128, "direction": "to_feminine", "method": "morphological",
       "method_parameters": {}, "intervention_name": "tail21", "resumed_from": None, "completed": True,
       "restarts": [], "deepspeed": {"zero_stage": 0}}
MANIFEST_DOC = {
    "source": {"path": "/data/order", "idx_sha256": "a" * 64, "rows_sha256": "b" * 64, "first_row": 320, "rows": 80},
    "start_step": 40, "end_step": 50, "rows_per_step": 8, "row_length": 129, "dtype": "uint16",
    "tokenizer": {"path": "/data/tokenizer.json", "sha256": "c" * 64}, "direction": "to_feminine",
    "groups": ["pronouns"], "counts": {"he": {"seen": 10, "swapped": 9, "left": {"row_edge": 1}}},
    "totals": {"rows": 80, "seen": 10, "swapped": 9, "left": 1, "left_fraction": 0.1},
    "output": {"bin_sha256": "d" * 64, "idx_sha256": "e" * 64}, "method": "sham",
    "parameters": {"sham_source": "a", "sham_target": "the"}, "created": "2026-01-01T00:00:00+0000",
    "a_method_field": [1, 2, 3],
}


def _write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _refused(read, path: Path, needle: str) -> RecordError:
    with pytest.raises(RecordError) as caught:
        read(path)
    err = caught.value
    assert isinstance(err, DebiasError) and err.path == str(path) and needle in err.problem and err.fix
    assert describe(err).startswith(f"{path}: ")  # what a command prints before exiting 2
    return err


def _refuses_each(tmp_path: Path, name: str, read, cases: list[tuple[object, str]]) -> None:
    """Each case's document (a string: the file's text) written as ``name`` is refused, naming the file."""
    for i, (doc, needle) in enumerate(cases):
        path = tmp_path / f"case{i}" / name
        path.parent.mkdir()
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        _refused(read, path, needle)


def test_step_folders_are_named_parsed_and_listed_in_step_order(tmp_path: Path) -> None:
    assert step_name(120) == "step120" and parse_step("step120") == 120
    assert parse_step(".step120.ab12.tmp") is None and parse_step("step") is None and parse_step("stepx") is None
    for name in ("step100", "step20", "step3", ".step40.x.tmp", "eval"):
        (tmp_path / name).mkdir()
    (tmp_path / "step7").write_text("a file, not a checkpoint")
    assert step_dirs(tmp_path) == [(3, tmp_path / "step3"), (20, tmp_path / "step20"), (100, tmp_path / "step100")]
    assert step_dirs(tmp_path / "missing") == []


def test_run_record_round_trips_and_keeps_every_key(tmp_path: Path) -> None:
    path = tmp_path / "run" / RUN_RECORD
    RunRecord.from_dict(RUN, path).write(path)
    record = read_run_record(path.parent)
    assert record is not None and record.to_dict() == RUN and json.loads(path.read_text()) == RUN
    assert (record.arm, record.seq_length, record.completed, record.method) == ("intervention", 128, True,
                                                                                 "morphological")
    assert read_run_record(tmp_path / "elsewhere") is None


def test_run_record_reader_refuses_a_malformed_run_json_naming_it(tmp_path: Path) -> None:
    cases = [("{", "not valid JSON"), ([RUN], "not a JSON object"),
             ({k: v for k, v in RUN.items() if k != "name"}, "has no 'name'"),
             ({**RUN, "seq_length": "128"}, "'seq_length' is a string"),
             ({**RUN, "seed": True}, "'seed' is true or false"),
             ({**RUN, "arm": "treatment"}, "not one of baseline, intervention, control")]
    _refuses_each(tmp_path, RUN_RECORD, RunRecord.read, cases)


def test_rewrite_manifest_round_trips_with_the_method_s_own_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "tail" / MANIFEST, MANIFEST_DOC)
    record = read_manifest(path.parent)
    assert record is not None and record.to_dict() == MANIFEST_DOC and record.finished()
    assert record.source is not None and (record.source.first_row, record.source.rows) == (320, 80)
    assert (record.method, record.groups, record.tokenizer_sha256) == ("sham", ("pronouns",), "c" * 64)
    record.write(tmp_path / "copy.json")
    assert json.loads((tmp_path / "copy.json").read_text()) == MANIFEST_DOC
    # an old tail (before methods) or a report's fixture: the defaults of a morphological rewrite
    old = RewriteManifest.from_dict({k: MANIFEST_DOC[k] for k in ("start_step", "end_step", "direction", "counts",
                                                                  "totals")})
    assert (old.method, dict(old.parameters), old.groups, old.finished()) == ("morphological", {}, ("pronouns",),
                                                                              False)
    assert read_manifest(tmp_path / "unfinished") is None


def test_rewrite_manifest_reader_refuses_a_malformed_manifest_naming_it(tmp_path: Path) -> None:
    source = MANIFEST_DOC["source"]
    cases = [("[1, 2", "not valid JSON"),
             ({k: v for k, v in MANIFEST_DOC.items() if k != "counts"}, "has no 'counts'"),
             ({**MANIFEST_DOC, "end_step": 50.0}, "'end_step' is a number"),
             ({**MANIFEST_DOC, "source": {**source, "first_row": "320"}}, "'source.first_row' is a string"),
             ({**MANIFEST_DOC, "source": {k: v for k, v in source.items() if k != "idx_sha256"}}, "'source.idx_sha256'"),
             ({**MANIFEST_DOC, "counts": {"he": {"seen": 1, "left": {}}}}, "'counts['he'].swapped'"),
             ({**MANIFEST_DOC, "output": {"bin_sha256": "d" * 64}}, "'output.idx_sha256'"),
             ({"arm": "control", "source": source, "start_step": 40, "end_step": 50}, "control arm's record")]
    _refuses_each(tmp_path, MANIFEST, RewriteManifest.read, cases)


def test_control_record_has_its_own_file_and_the_old_placeholder_is_still_read(tmp_path: Path) -> None:
    record = ControlRecord.build(source_path="/data/order", source_idx_sha256="a" * 64, start_step=40, end_step=50,
                                 rows_per_step=8, row_length=129, matching_rewrite=MANIFEST_DOC)
    new = tmp_path / "new"
    record.write(new / CONTROL)
    got = read_control(new)
    assert got == record and got.to_dict() == json.loads((new / CONTROL).read_text())
    assert (got.start_step, got.end_step, got.source_path, got.matching_rewrite) == (40, 50, "/data/order", MANIFEST_DOC)
    assert isinstance(read_arm_record(new), ControlRecord)
    # a run folder of an earlier version: the control placeholder under manifest.json
    old = tmp_path / "old"
    _write(old / MANIFEST, {**record.to_dict(), "matching_rewrite": None})
    got = read_control(old)
    assert got is not None and (got.start_step, got.end_step, got.matching_rewrite) == (40, 50, None)
    assert isinstance(read_arm_record(old), ControlRecord)
    # an intervention's run folder holds the rewrite's manifest; a baseline's holds neither
    _write(tmp_path / "arm" / MANIFEST, MANIFEST_DOC)
    assert read_control(tmp_path / "arm") is None and isinstance(read_arm_record(tmp_path / "arm"), RewriteManifest)
    assert read_arm_record(tmp_path / "baseline") is None


def test_control_record_reader_refuses_a_malformed_control_json_naming_it(tmp_path: Path) -> None:
    good = ControlRecord.build(source_path="/d", source_idx_sha256="a" * 64, start_step=1, end_step=2,
                               rows_per_step=8, row_length=9, matching_rewrite=None).to_dict()
    cases = [("", "not valid JSON"), ({**good, "arm": "intervention"}, "not 'control'"),
             ({k: v for k, v in good.items() if k != "end_step"}, "has no 'end_step'"),
             ({**good, "source": "/d"}, "'source' is a string")]
    _refuses_each(tmp_path, CONTROL, lambda path: read_control(path.parent), cases)


def test_counts_have_one_shape_and_merge() -> None:
    counts = {"he": {"seen": 5, "swapped": 3, "left": {"odd_case": 1, "unknown": 1}},
              "his": {"seen": 1, "swapped": 1, "left": {}}}
    flat = {"he": {"seen": 5, "swapped": 3, "left": 2}, "his": {"seen": 1, "swapped": 1, "left": 0}}
    merge_counts(counts, {"he": {"seen": 2, "swapped": 1, "left": {"odd_case": 1}},
                          "him": {"seen": 1, "swapped": 0, "left": {"row_edge": 1}}})
    assert counts["he"] == {"seen": 7, "swapped": 4, "left": {"odd_case": 2, "unknown": 1}}
    assert count_totals(counts) == {"seen": 9, "swapped": 5, "left": 4}
    assert left_by_reason(counts) == {"odd_case": 2, "unknown": 1, "row_edge": 1}
    assert count_totals(flat) == {"seen": 6, "swapped": 4, "left": 2}  # a bare number left is read too


def _order(folder: Path, rows: np.ndarray) -> DataOrder:
    with IndexedDatasetWriter(folder / "order", np.uint16) as writer:
        writer.add_rows(rows, one_document_each=True)
    return DataOrder(folder / "order", 4)


def test_a_finished_tail_is_not_reused_for_another_data_order_with_the_same_index(tmp_path: Path) -> None:
    """Seeds' data orders share their .idx (rows of one length): the source's path tells them apart."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 500, size=(16, 9), dtype=np.uint16)
    first, other = _order(tmp_path / "seed0", rows), _order(tmp_path / "seed1", rows[::-1].copy())
    assert (tmp_path / "seed0" / "order.idx").read_bytes() == (tmp_path / "seed1" / "order.idx").read_bytes()
    tokenizer = _write(tmp_path / "tokenizer.json", {"model": {}})
    identity = {"start_step": 1, "end_step": 3, "rows_per_step": 4, "direction": "to_feminine", "method": "sham",
                "parameters": {}, "algorithm": "test"}

    def rewrite(order: DataOrder) -> dict:
        return write_tail(tmp_path / "tail", order, 4, 12, lambda _lo, r: r, identity=identity, tokenizer=tokenizer,
                          fields=lambda: {"counts": {}}, progress=False)

    manifest = rewrite(first)
    assert RewriteManifest.read(tmp_path / "tail" / MANIFEST).to_dict() == manifest
    assert rewrite(first) == manifest  # the same inputs: reused as it is
    with pytest.raises(FileExistsError, match="finished rewrite of other inputs"):
        rewrite(other)


def test_eval_refuses_a_checkpoint_whose_run_json_is_malformed_naming_it(tmp_path: Path) -> None:
    from debias.eval.checkpoints import checkpoint_info, find_checkpoints

    step = tmp_path / "run" / "checkpoints" / step_name(10)
    step.mkdir(parents=True)
    (step / "config.json").write_text("{}")
    (step / "model.safetensors").write_bytes(b"")
    _write(tmp_path / "run" / RUN_RECORD, {**RUN, "seq_length": "128"})
    with pytest.raises(RecordError, match="run.json: 'seq_length' is a string") as caught:
        checkpoint_info(step)
    assert caught.value.path == str((tmp_path / "run" / RUN_RECORD).resolve())
    _write(tmp_path / "run" / RUN_RECORD, RUN)
    (found,) = find_checkpoints(tmp_path / "run")
    assert (found.step, found.run) == (10, RUN)


def test_train_s_tail_check_refuses_a_manifest_without_the_checksums_of_a_finished_tail(tmp_path: Path) -> None:
    from debias.train.tail_check import check_tail

    partial = RewriteManifest.from_dict({k: MANIFEST_DOC[k] for k in ("start_step", "end_step", "direction",
                                                                      "counts", "totals")})
    (problem,) = check_tail(tmp_path, partial, None, tmp_path / "tokenizer.json")  # type: ignore[arg-type]
    assert problem.startswith(f"{tmp_path / MANIFEST}: lacks the rows, row length or output checksums")


def test_train_writes_the_control_record_as_control_json_replacing_an_old_placeholder(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from debias.train.rundir import write_records

    control = ControlRecord.build(source_path="/d", source_idx_sha256="a" * 64, start_step=40, end_step=50,
                                  rows_per_step=8, row_length=9, matching_rewrite=None)
    run = tmp_path / "control21-s0"
    _write(run / MANIFEST, control.to_dict())  # a control run of an earlier version, continued now
    write_records(SimpleNamespace(run_dir=run), {}, {**RUN, "arm": "control", "method": None}, control)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", CONTROL, RUN_RECORD]
    assert read_control(run) == control and read_run_record(run).arm == "control"
    arm = tmp_path / "tail21-s0"
    write_records(SimpleNamespace(run_dir=arm), {}, RUN, RewriteManifest.from_dict(MANIFEST_DOC))
    assert json.loads((arm / MANIFEST).read_text()) == MANIFEST_DOC and not (arm / CONTROL).exists()
    with pytest.raises(RecordError, match="'completed' is a string"):
        write_records(SimpleNamespace(run_dir=arm), {}, {**RUN, "completed": "yes"}, None)
