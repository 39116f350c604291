"""Training curves (``logging=tensorboard|wandb|csv``, train/curves.py): every step's loss, learning
rate, gradient norm and tokens/s, keyed by the step, read back from each backend's own files and
held against the run's ``log.jsonl``. W&B runs offline; nothing is sent anywhere."""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
RUN = "mini-tiny-synthetic-test-s0-none"
STEPS = 50  # +experiment=mini-test
TAGS = {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s"}


def _train(tmp_path: Path, *args: str) -> Path:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run([sys.executable, "-m", "debias.train", "+experiment=mini-test", f"runs_root={tmp_path}",
                           "progress=false", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path / RUN


def _log(run: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {r["step"] + 1: r for r in rows}


def test_tensorboard_events_hold_every_step_of_the_log(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _train(tmp_path, "logging=tensorboard")
    (folder,) = (run / "curves").iterdir()
    assert folder.name == RUN
    events = EventAccumulator(str(folder))
    events.Reload()
    assert set(events.Tags()["scalars"]) == TAGS
    logged = _log(run)
    for tag in TAGS:
        points = events.Scalars(tag)
        assert [p.step for p in points] == list(range(1, STEPS + 1)), tag
        key = tag.split("/", 1)[1]
        for p in points:  # TensorBoard keeps float32
            assert p.value == pytest.approx(logged[p.step][key], rel=1e-6, abs=1e-12), (tag, p.step)
    assert logged[STEPS]["loss"] < logged[1]["loss"] - 1.0  # the curve is of a model that learned


def _wandb_records(path: Path) -> list[bytes]:
    """The records of a W&B run file: a 7-byte header, then LevelDB-log records in 32 KiB blocks
    (checksum, length, kind; kind 1 whole, 2..4 first/middle/last pieces)."""
    raw, block = path.read_bytes(), 32768
    assert raw[:4] == b":W&B"
    pos, pieces, out = 7, [], []
    while pos + 7 <= len(raw):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", raw[pos:pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):
            pos += left
            continue
        pieces.append(raw[pos + 7:pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):
            out.append(b"".join(pieces))
            pieces = []
    return out


def test_wandb_offline_run_is_named_for_the_run_and_holds_every_step(tmp_path: Path) -> None:
    from wandb.proto import wandb_internal_pb2

    run = _train(tmp_path, "logging=wandb", "logging.project=debias-test")
    (path,) = (run / "curves" / "wandb").glob("offline-run-*/run-*.wandb")
    history, meta = [], None
    for data in _wandb_records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.history.item})
        elif kind == "run":
            meta = record.run
    assert meta is not None
    assert (meta.display_name, meta.project, meta.run_group) == (RUN, "debias-test", "mini-tiny-synthetic-test")
    assert [row["_step"] for row in history] == list(range(1, STEPS + 1))
    logged = _log(run)
    for row in history:
        assert TAGS <= set(row)
        assert row["train/loss"] == pytest.approx(logged[row["_step"]]["loss"], rel=1e-12)
        assert row["train/lr"] == pytest.approx(logged[row["_step"]]["lr"], rel=1e-12, abs=1e-15)


def test_csv_curves_need_no_package_and_every_step_is_a_row(tmp_path: Path) -> None:
    run = _train(tmp_path, "logging=csv", "logging.every=10")
    folder = run / "curves" / RUN
    assert {p.name for p in folder.iterdir()} == {f"{t.replace('/', '_')}.csv" for t in TAGS}
    with open(folder / "train_loss.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "loss"]
    logged = _log(run)
    assert [int(r[0]) for r in rows[1:]] == [10, 20, 30, 40, 50]
    assert [float(r[1]) for r in rows[1:]] == [logged[s]["loss"] for s in (10, 20, 30, 40, 50)]

