"""Inputs from elsewhere never pass as verified, complete or safe (issue 12): each case a careless
or hostile user tried, refused at its cause with the file, the problem and the fix. The cases that
need a DeepSpeed run are in test_input_checks_train.py."""

from __future__ import annotations

import errno
import json
import os
import pickle
import resource
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from debias.core import atomic
from debias.core.config_errors import ConfigError
from debias.data.indexed import (
    CODES,
    IndexedDatasetError,
    MMapIndexedDataset,
    write_indexed_dataset,
)
from debias.eval.testing import make_checkpoint, train_small_tokenizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json", 400)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 4. a dropped override ----------------------------------------------------------------------
def test_a_key_the_configs_do_not_define_is_refused_with_the_other_problems() -> None:
    from debias.train import compose, make_plan

    cfg = compose(["+experiment=mini-test", "+schedul.total_steps=10", "+model.hiden_size=8", "seed=-1"])
    with pytest.raises(ConfigError) as info:
        make_plan(cfg)
    problems = info.value.problems
    assert any(p.startswith("schedul:") and "did you mean schedule?" in p for p in problems), problems
    assert any(p.startswith("model.hiden_size:") and "model.hidden_size" in p for p in problems), problems
    assert any("seed=-1" in p for p in problems), problems  # all at once, not the first alone
    make_plan(compose(["+experiment=mini-test", "schedule.total_steps=10"]))  # the honest spelling passes


def test_every_experiment_composes_without_an_unknown_key() -> None:
    from debias.core.config_keys import unknown_keys
    from debias.study.config import StudyAppConfig
    from debias.study.run import compose_study
    from debias.train import compose
    from debias.train.config import TrainConfig
    from tests.test_configs import (  # a base such as pythia-resume asks for its model and arm
        EXPERIMENT_ARGS,
        STUDIES,
    )

    for experiment in sorted((REPO / "conf" / "experiment").glob("*.yaml")):
        overrides = [f"+experiment={experiment.stem}", *EXPERIMENT_ARGS.get(experiment.stem, [])]
        if experiment.stem in STUDIES:  # python -m debias.study
            assert unknown_keys(compose_study(overrides), StudyAppConfig) == [], experiment.stem
        else:
            assert unknown_keys(compose(overrides), TrainConfig) == [], experiment.stem


def test_eval_refuses_an_unknown_key(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from debias.eval.__main__ import check

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=[f"path={tmp_path}", "+evl.batch_size=3"])
    GlobalHydra.instance().clear()
    with pytest.raises(ConfigError, match=r"evl: not a key of the config \(did you mean eval\?\)"):
        check(OmegaConf.to_object(cfg), cfg)


# -- 5. counts_file= overwrites any file --------------------------------------------------------
class _Identity:
    forms = ("he",)
    counts: dict = {}

    def swap_batch(self, texts: list[str]) -> list[str]:
        return list(texts)


def test_counts_file_is_checked_like_the_output(tmp_path: Path) -> None:
    from debias.swap.cli import SwapFileConfig, swap_file

    src = tmp_path / "book.txt"
    src.write_text("He left.\n")
    for counts, needle in [(src, "same file as input="), (tmp_path / "out.txt", "same file as output="),
                           (tmp_path / "old.json", "exists; pass overwrite=true")]:
        if counts.name == "old.json":
            counts.write_text("{}")
        with pytest.raises(ConfigError, match=needle):
            swap_file(SwapFileConfig(input=str(src), output=str(tmp_path / "out.txt"), counts_file=str(counts)),
                      swapper=_Identity())
    assert src.read_text() == "He left.\n" and (tmp_path / "old.json").read_text() == "{}"
    swap_file(SwapFileConfig(input=str(src), output=str(tmp_path / "out.txt"), counts_file=str(tmp_path / "c.json")),
              swapper=_Identity())
    assert json.loads((tmp_path / "c.json").read_text())["documents"] == 1


# -- 6. code run from a checkpoint -------------------------------------------------------------
class _Payload:
    """Unpickling this creates a file: what a crafted checkpoint would do instead."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_a_pickle_payload_in_deepspeed_state_is_refused_before_it_runs(tmp_path: Path) -> None:
    from debias.core.input_errors import InputError
    from debias.train.engine import safe_torch_load

    marker = tmp_path / "pwned"
    crafted = tmp_path / "mp_rank_00_model_states.pt"
    torch.save({"module": {"w": torch.ones(2)}, "extra": _Payload(marker)}, crafted)
    assert not marker.exists()
    with pytest.raises(InputError, match=r"mp_rank_00_model_states\.pt: the DeepSpeed state holds objects"):
        safe_torch_load(crafted)
    assert not marker.exists()
    honest = tmp_path / "honest.pt"
    torch.save({"module": {"w": torch.ones(2)}, "step": 3, "ds_version": "0.19"}, honest)
    assert safe_torch_load(honest)["step"] == 3
    assert pickle.loads(pickle.dumps(InputError("a", "b", "c"))).fix == "c"


# -- 8. files nobody else can read --------------------------------------------------------------
def test_outputs_and_folders_follow_the_umask(tmp_path: Path, umask_027, tokenizer: Path) -> None:
    from debias.train import checkpoint

    atomic.write_json(tmp_path / "report.json", {"a": 1})
    assert mode(tmp_path / "report.json") == 0o640
    with atomic.atomic_path(tmp_path / "folder", is_dir=True) as tmp:
        (tmp / "x").write_text("x")
    assert mode(tmp_path / "folder") == 0o750
    write_indexed_dataset(tmp_path / "ds", [np.arange(5)], dtype=np.uint16)
    assert mode(tmp_path / "ds.bin") == 0o640 and mode(tmp_path / "ds.idx") == 0o640
    src = make_checkpoint(tmp_path / "src", tokenizer, hidden=16, layers=1)
    from transformers import GPTNeoXForCausalLM

    dest = checkpoint.save(GPTNeoXForCausalLM.from_pretrained(src), tmp_path / "checkpoints" / "step1",
                           tokenizer_dir=None, state={"step": 1})
    assert mode(dest) == 0o750 and mode(dest / "model.safetensors") == 0o640
    os.umask(0o002)
    atomic.write_text(tmp_path / "shared.txt", "x")
    assert mode(tmp_path / "shared.txt") == 0o664


# -- 9. disk full ---------------------------------------------------------------------------------
def test_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))  # writes past 1,000 bytes fail: EFBIG
    try:
        with pytest.raises(OSError) as info:
            atomic.write_bytes(tmp_path / "big.bin", b"x" * 5000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert info.value.errno == errno.EFBIG and info.value.filename == str(tmp_path / "big.bin")
    assert str(tmp_path / "big.bin") in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_a_killed_run_are_cleared(tmp_path: Path) -> None:
    from debias.train.engine import clear_stale_temporaries

    run = tmp_path / "run"
    (run / "deepspeed" / ".step120.ab12.tmp" / "step120").mkdir(parents=True)
    (run / "deepspeed" / "step110").mkdir()
    (run / "deepspeed" / ".latest.tmp").write_text("step120")
    (run / "checkpoints" / ".step120.cd34.tmp").mkdir(parents=True)
    (run / "checkpoints" / "step110").mkdir()
    (run / ".run.json.ef56.tmp").write_text("{")
    (run / ".tokenizer").mkdir()
    removed = clear_stale_temporaries(run)
    assert len(removed) == 4
    assert sorted(p.name for p in (run / "deepspeed").iterdir()) == ["step110"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step110"]
    assert sorted(p.name for p in run.iterdir()) == [".tokenizer", "checkpoints", "deepspeed"]


# -- 10. indexed datasets -------------------------------------------------------------------------
def _patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_int16_code_on_uint16_data_says_the_dtype_code_is_wrong(tmp_path: Path) -> None:
    prefix = write_indexed_dataset(tmp_path / "ds", [np.array([5, 40000, 50000]), np.array([7, 8])],
                                   dtype=np.uint16)
    _patch(prefix.with_suffix(".idx"), 17, bytes([3]))  # int16: the same itemsize, so the index stays valid
    ds = MMapIndexedDataset(prefix, vocab_size=50304)
    with pytest.raises(IndexedDatasetError) as info:
        ds[0]
    message = str(info.value)
    assert "dtype code 3 says int16" in message and "uint16 (code 8)" in message
    assert "different tokenizer" not in message
    np.testing.assert_array_equal(MMapIndexedDataset(prefix, vocab_size=50304)[1], [7, 8])


def test_a_valid_but_wrong_dtype_code_names_the_dtypes(tmp_path: Path) -> None:
    prefix = write_indexed_dataset(tmp_path / "ds", [np.arange(10), np.arange(5), np.arange(3)], dtype=np.uint16)
    _patch(prefix.with_suffix(".idx"), 17, bytes([4]))  # int32
    with pytest.raises(IndexedDatasetError, match=r"dtype code 4 says int32 \(4-byte tokens\), but the pointers "
                                                  r"step by 2-byte tokens \(int16, uint16\)"):
        MMapIndexedDataset(prefix)


def test_a_float_dtype_code_over_int_data_is_named(tmp_path: Path) -> None:
    """float32 is as wide as int32: the pointers agree, and the ids were read as floats until a
    far-away TypeError ('float' object cannot be interpreted as an integer) without a file."""
    prefix = write_indexed_dataset(tmp_path / "ds", [np.arange(10), np.arange(5)], dtype=np.int32)
    _patch(prefix.with_suffix(".idx"), 17, bytes([CODES[np.dtype(np.float32)]]))
    with pytest.raises(IndexedDatasetError, match=r"\.idx: the header's dtype code \d+ says float32, but token ids "
                                                  r"are integers"):
        MMapIndexedDataset(prefix)


def test_doc_idx_errors_name_the_entry_that_is_wrong(tmp_path: Path) -> None:
    seqs = [np.arange(3)] * 4
    prefix = write_indexed_dataset(tmp_path / "ds", seqs, dtype=np.uint16)  # doc_idx 0 1 2 3 4
    idx = prefix.with_suffix(".idx")
    start = 34 + 12 * 4
    _patch(idx, start + 8 * 1, struct.pack("<q", 9))  # entry 1 beyond the 4 sequences
    with pytest.raises(IndexedDatasetError, match=r"doc_idx entry 1 is 9, outside 0\.\.4"):
        MMapIndexedDataset(prefix)
    _patch(idx, start + 8 * 1, struct.pack("<q", 3))  # 0 3 2 3 4: entry 1 is too large
    with pytest.raises(IndexedDatasetError, match=r"doc_idx decreases from entry 1 \(3\) to entry 2 \(2\)"):
        MMapIndexedDataset(prefix)


def test_an_idx_that_is_a_directory_says_so(tmp_path: Path) -> None:
    prefix = write_indexed_dataset(tmp_path / "ds", [np.arange(3)], dtype=np.uint16)
    prefix.with_suffix(".idx").unlink()
    prefix.with_suffix(".idx").mkdir()
    with pytest.raises(IndexedDatasetError, match=r"ds\.idx: a directory, not the \.idx file"):
        MMapIndexedDataset(prefix)


# -- 11. misleading messages ----------------------------------------------------------------------
def test_a_non_string_jsonl_field_says_what_it_holds(tmp_path: Path) -> None:
    from debias.data.text_corpus import CorpusError, read_corpus
    from debias.swap.cli import SwapFileConfig, SwapFileError, swap_file

    bad = tmp_path / "docs.jsonl"
    bad.write_text('{"text": 3}\n')
    with pytest.raises(SwapFileError, match=r"line 1 has field 'text' holding a number \(3\), not a string"):
        swap_file(SwapFileConfig(input=str(bad), output=str(tmp_path / "o.jsonl")), swapper=_Identity())
    with pytest.raises(CorpusError, match=r"docs\.jsonl:1: field 'text' holding a number \(3\), not a string"):
        read_corpus(bad)
    bad.write_text('{"text": ["a", "b"]}\n')
    with pytest.raises(CorpusError, match=r"holding an array"):
        read_corpus(bad)


def test_a_truncated_safetensors_file_is_named(tmp_path: Path, tokenizer: Path) -> None:
    from debias.core.input_errors import InputError
    from debias.eval.runner import load_model

    ckpt = make_checkpoint(tmp_path / "ckpt", tokenizer, hidden=16, layers=1)
    weights = ckpt / "model.safetensors"
    full = weights.read_bytes()
    for cut in (len(full) // 2, 100, 4):
        weights.write_bytes(full[:cut])
        with pytest.raises(InputError, match=rf"{weights}: truncated"):
            load_model(ckpt, "cpu", "float32")


def test_weights_of_another_shape_under_a_right_config_get_our_message(tmp_path: Path, tokenizer: Path) -> None:
    from debias.core.input_errors import InputError
    from debias.eval.runner import load_model

    small = make_checkpoint(tmp_path / "small", tokenizer, hidden=16, layers=1)
    big = make_checkpoint(tmp_path / "big", tokenizer, hidden=32, layers=1)
    (small / "model.safetensors").write_bytes((big / "model.safetensors").read_bytes())
    with pytest.raises(InputError) as info:
        load_model(small, "cpu", "float32")
    message = str(info.value)
    assert "the weights are not of the model its config.json describes" in message
    assert "gpt_neox.embed_in.weight is [448, 32], config.json implies [448, 16]" in message
    assert "ignore_mismatched_sizes" not in message
    load_model(big, "cpu", "float32")


# -- 2. NaN weights, "complete" ---------------------------------------------------------------------
def _poison(ckpt: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(ckpt / "model.safetensors")
    tensors["gpt_neox.layers.0.mlp.dense_h_to_4h.weight"][0, 0] = float("nan")
    save_file(tensors, ckpt / "model.safetensors", metadata={"format": "pt"})


def test_non_finite_source_weights_are_refused(tmp_path: Path, tokenizer: Path) -> None:
    from debias.core.input_errors import InputError
    from debias.train.config import ModelConfig, SourceConfig
    from debias.train.model import load_pretrained

    ckpt = make_checkpoint(tmp_path / "src", tokenizer, hidden=16, layers=1, heads=4)
    cfg = ModelConfig(name="t", num_layers=1, hidden_size=16, num_heads=4, vocab_size=448, max_position_embeddings=512,
                      attn_implementation="eager")
    load_pretrained(SourceConfig(path=str(ckpt)), cfg, 0)  # the honest one loads
    _poison(ckpt)
    with pytest.raises(InputError, match=r"1 weight tensor\(s\) hold NaN or infinity "
                                         r"\(gpt_neox\.layers\.0\.mlp\.dense_h_to_4h\.weight\)"):
        load_pretrained(SourceConfig(path=str(ckpt)), cfg, 0)


@pytest.mark.slow
def test_evaluation_refuses_a_model_whose_scores_are_not_finite(tmp_path: Path, tokenizer: Path) -> None:
    from debias.eval.checkpoints import CheckpointError
    from debias.eval.config import EvalConfig
    from debias.eval.runner import evaluate_checkpoint

    cfg = EvalConfig(batch_size=8, threads=1, device="cpu", cache_dir=str(tmp_path / "cache"))
    t = cfg.tasks
    for name in ("winobias", "winogender", "synthetic", "lambada", "heldout"):
        getattr(t, name).enabled = False
    t.crows_pairs.limit = 6
    good = make_checkpoint(tmp_path / "good", tokenizer, hidden=16, layers=1)
    result = evaluate_checkpoint(good, cfg)
    assert result.evaluated_now >= 1 and all(np.isfinite(v).all() for tab in result.tables.values()
                                             for v in [tab.columns.get("ll_more", [0.0])])
    bad = make_checkpoint(tmp_path / "bad", tokenizer, hidden=16, layers=1)
    _poison(bad)
    with pytest.raises(CheckpointError, match=r"crows_pairs.*items score a non-finite ll_more"):
        evaluate_checkpoint(bad, cfg)


@pytest.mark.parametrize(("module", "args", "typos"), [
    ("debias.swap", ["input=book.txt", "output=out.txt", "+swap.directon=both"], ["swap.directon"]),
    ("debias.rewrite", ["intervention=tail21", "+intervention.directon=both", "+verfy=false"],
     ["intervention.directon", "verfy"]),
])
def test_swap_and_rewrite_refuse_a_typod_key_instead_of_dropping_it(tmp_path: Path, module: str, args: list[str],
                                                                      typos: list[str]) -> None:
    """`+key=value` adds a key Hydra's schema lacks; without the check the two commands ran with the
    default (to_feminine, verify=true) and exit 0."""
    (tmp_path / "book.txt").write_text("He said his book was his.\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", module, *args, f"hydra.run.dir={tmp_path / 'hydra'}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for key in typos:
        assert f"{key}: not a key of the config (did you mean" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize(("override", "key"), [
    ("name=..", "name"), ("name=.", "name"), ("name=a/b", "name"),
    ("data.name=../../../escape", "data.name"), ("model.name=..", "model.name"), ("intervention.name=x/..", "intervention.name"),
])
def test_a_name_is_one_folder_under_its_root(tmp_path: Path, override: str, key: str) -> None:
    """`name=..` with overwrite=true cleared the folder above runs_root, and data.name=../../x wrote a data
    order outside it; names are refused before anything is written."""
    from debias.train import compose
    from debias.train.plan import make_plan

    cfg = compose(["+experiment=mini-test", f"runs_root={tmp_path / 'runs'}", override, "overwrite=true"])
    with pytest.raises(ConfigError) as err:
        make_plan(cfg)
    assert any(p.startswith(f"{key}=") and "is not a name" in p for p in err.value.problems), err.value.problems
    assert not any(tmp_path.iterdir())  # nothing written, inside runs_root or beside it


@pytest.mark.slow
def test_a_second_writer_of_a_run_folder_is_refused(tmp_path: Path) -> None:
    """Two `resume=auto` on one run at once both trained and both said "complete"; the second is
    now refused in a line while the first holds the folder, and the first is unharmed."""
    args = [sys.executable, "-m", "debias.train", "+experiment=mini-test", f"runs_root={tmp_path / 'runs'}",
            "schedule.total_steps=3000", "resume=auto", "progress=false"]
    run = tmp_path / "runs" / "mini-tiny-synthetic-test-s0-none"
    first = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run / "log.jsonl").is_file():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()[-3000:]
            time.sleep(0.2)
        second = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"{run}: another training run is running on this folder" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # still training
    finally:
        first.terminate()
        first.wait(timeout=60)


def _swap(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "debias.swap", *args, f"hydra.run.dir={tmp_path / 'hydra'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_swap_names_a_folder_or_a_fifo_given_as_input(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    for given, said in (("folder", "input=folder is a directory; name a .txt or .jsonl file"),
                        ("pipe", "input=pipe is not a regular file (a FIFO, socket or device)")):
        done = _swap(tmp_path, f"input={given}", "output=out.txt")
        assert done.returncode == 2 and said in done.stderr and "no such file" not in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "out.txt").exists()


def test_swap_names_the_line_holding_a_lone_surrogate(tmp_path: Path) -> None:
    """A JSONL line may escape a lone surrogate (\\ud800), which no encoding can write: it failed
    with UnicodeEncodeError; now the line is named and nothing is written."""
    lines = ['{"text": "He said his name."}', '{"text": "bad \\ud800 text"}', '{"text": "fine \\ud83d\\ude00"}']
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = _swap(tmp_path, "input=in.jsonl", "output=out.jsonl")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "in.jsonl: line 2 holds a lone surrogate (\\ud800)" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_train_names_a_malformed_tokenizer_json(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("[1, 2", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "debias.train", "+experiment=mini-test", f"runs_root={tmp_path / 'runs'}",
                           f"data.tokenizer={bad}", "progress=false"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{bad}: not a tokenizer.json: not JSON" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_deepspeed_checkpoint_with_nan_weights_is_refused_where_it_is_loaded(tmp_path: Path) -> None:
    """It trained into a NaN loss at its first step and then advised resume=auto from that same
    checkpoint; now the checkpoint is named when loaded, with the way out."""
    args = [sys.executable, "-m", "debias.train", "+experiment=mini-test", f"runs_root={tmp_path / 'runs'}",
            "progress=false"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "runs" / "mini-tiny-synthetic-test-s0-none"
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "completed": False}))  # as if killed after step 45
    tag = max((p for p in (run / "deepspeed").iterdir() if p.name.startswith("step") and p.name != "step50"),
              key=lambda p: int(p.name[4:]))
    (states,) = tag.glob("mp_rank_00_model_states.pt")
    state = torch.load(states, weights_only=False)
    name = next(iter(state["module"]))
    state["module"][name] = torch.full_like(state["module"][name], float("nan"))
    torch.save(state, states)
    again = subprocess.run([*args, "resume=auto"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2, again.stderr[-2000:]
    assert f"{tag}: its model state holds non-finite weights (NaN or infinity)" in again.stderr
    assert "delete that checkpoint folder" in again.stderr and "Traceback" not in again.stderr
