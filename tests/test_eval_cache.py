"""The per-checkpoint eval cache is a checked record: a file that is not what eval writes is named
(``RecordError``) where it is read, set aside as ``<name>.broken`` and never used."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from debias.core.contracts import RecordError
from debias.eval.cache import SCHEMA, EvalCache, entry_digest, read_cache, update_cache, with_digest


def _entry(n: int = 3) -> dict:
    return with_digest({"task": "lambada", "spec": {"task": "debias_lambada"}, "lm_eval": {"acc": 0.5},
                        "items": {"id": [f"lambada.{i}" for i in range(n)], "ll": [-1.0] * n, "greedy": [1] * n}})


def _good() -> dict:
    return {"schema": SCHEMA, "checkpoint": {"path": "/x/step0", "step": 0, "total_steps": 10, "run": None},
            "fingerprint": {"sha256": "ab" * 32, "stat": {}}, "tasks": {"lambada-0123456789ab": _entry()}}


def test_a_cache_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "eval" / "step0.json"
    assert read_cache(path).tasks == {} and read_cache(path).sha256 is None
    written = update_cache(path, lambda current: {**current.to_dict(), **_good()})
    again = read_cache(path)
    assert again == written and again.sha256 == "ab" * 32
    assert list(again.tasks["lambada-0123456789ab"].items["id"]) == ["lambada.0", "lambada.1", "lambada.2"]
    assert json.loads(path.read_text()) == _good()
    assert again.for_weights("cd" * 32).tasks == {} and again.for_weights("ab" * 32) is again


def _broken_ones() -> list[tuple[str, str, str]]:
    short = _good()
    short["tasks"]["lambada-0123456789ab"]["items"]["ll"] = [-1.0]
    edited = _good()  # a value changed by hand after eval wrote it
    edited["tasks"]["lambada-0123456789ab"]["items"]["ll"][1] = -0.5
    nan = _good()
    nan["tasks"]["lambada-0123456789ab"]["items"]["ll"][2] = float("nan")
    nan["tasks"]["lambada-0123456789ab"]["sha256"] = entry_digest(nan["tasks"]["lambada-0123456789ab"])
    unsealed = _good()
    del unsealed["tasks"]["lambada-0123456789ab"]["sha256"]
    no_ids = _good()
    del no_ids["tasks"]["lambada-0123456789ab"]["items"]["id"]
    return [
        ("not json", '{"schema": 1, "tasks": {', "not valid JSON"),
        ("an array", "[1, 2]", "not a JSON object"),
        ("other schema", json.dumps({**_good(), "schema": 2}), "schema 2, not 1"),
        ("tasks an array", json.dumps({**_good(), "tasks": []}), "'tasks' is an array"),
        ("short column", json.dumps(short), "'tasks['lambada-0123456789ab'].items.ll' holds 1 values for 3 items"),
        ("no ids", json.dumps(no_ids), "has no 'tasks['lambada-0123456789ab'].items.id'"),
        ("fingerprint", json.dumps({**_good(), "fingerprint": {"sha256": 7}}), "'fingerprint.sha256' is an integer"),
        ("edited by hand", json.dumps(edited), "does not match its sha256: it was changed after eval wrote it"),
        ("NaN", json.dumps(nan), "'tasks['lambada-0123456789ab'].items.ll[2]' is nan, not a finite number"),
        ("no digest", json.dumps(unsealed), "has no 'tasks['lambada-0123456789ab'].sha256'"),
    ]


@pytest.mark.parametrize("what, text, problem", _broken_ones(), ids=[b[0] for b in _broken_ones()])
def test_a_malformed_cache_is_named_set_aside_and_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                           what: str, text: str, problem: str) -> None:
    path = tmp_path / "step0.json"
    path.write_text(text)
    with pytest.raises(RecordError) as err:
        EvalCache.read(path)
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value)
    with caplog.at_level(logging.WARNING, logger="debias.eval.cache"):
        cache = read_cache(path)
    assert cache.tasks == {} and cache.fingerprint is None  # nothing of it is used: evaluated again
    assert not path.exists() and (tmp_path / "step0.json.broken").read_text() == text
    assert str(path) in caplog.text and problem in caplog.text


def test_entries_under_no_fingerprint_are_bound_to_no_weights(tmp_path: Path) -> None:
    """Another run's cache copied in with its fingerprint deleted: its entries are not adopted under
    the current weights' fingerprint (the report once stamped it on them and called a change)."""
    foreign = EvalCache.from_dict({**_good(), "fingerprint": None})
    assert foreign.sha256 is None and foreign.tasks
    assert foreign.for_weights("ab" * 32).tasks == {}
    assert EvalCache().for_weights("ab" * 32).tasks == {}
