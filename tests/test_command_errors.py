"""Every command fails one way (issue 11): a bad input stops it with one message on stderr naming
the file, the problem and the fix, exit status 2 and no traceback; ``DEBIAS_DEBUG=1`` brings the
traceback back. Each case runs the real command in a subprocess, as a user would."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from debias.core.errors import DebiasError, describe
from debias.data.corpus import build_data_order
from debias.eval.testing import make_checkpoint, train_small_tokenizer

REPO = Path(__file__).resolve().parents[1]


def command(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` from the repository root, without the debug switch unless given."""
    full = {k: v for k, v in os.environ.items() if k != "DEBIAS_DEBUG"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          env=full, timeout=600)


def assert_refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, every needle (the file, the problem, the fix) on stderr, and no traceback."""
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}:\n{err[-3000:]}\n{proc.stdout[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    for needle in needles:
        assert needle in err, f"{needle!r} not in stderr:\n{err[-3000:]}"
    return err


# -- debias-rewrite ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def order(tmp_path_factory: pytest.TempPathFactory, neox_tokenizer_path: Path) -> Path:
    """93 rows of 33 tokens: steps 0..45 at 2 rows a step."""
    docs = ["He told his sister that she could keep the book herself, and he left. " * 3] * 60
    prefix = tmp_path_factory.mktemp("order") / "order"
    build_data_order(docs, neox_tokenizer_path, prefix, seq_length=32, seed=0, progress=False)
    return prefix


def rewrite(tmp_path: Path, source: Path, tokenizer: Path, *args: str, env: dict[str, str] | None = None):
    return command("debias.rewrite.cli", f"source={source}", f"tokenizer={tokenizer}", "intervention=tail21",
                   "intervention.fraction=null", "intervention.start_step=20", "schedule.total_steps=30",
                   "schedule.checkpoint_interval=10", "data.rows_per_step=2", "progress=false",
                   f"output={tmp_path / 'tail'}", f"hydra.run.dir={tmp_path / 'hydra'}", "hydra.output_subdir=null",
                   *args, env=env)


def corrupt_copy(order: Path, dest: Path) -> Path:
    """The pair with its .idx cut after the header: the header promises 93 rows the file lacks."""
    shutil.copy(f"{order}.bin", f"{dest}.bin")
    Path(f"{dest}.idx").write_bytes(Path(f"{order}.idx").read_bytes()[:40])
    return dest


def test_a_corrupt_idx_given_to_rewrite(tmp_path: Path, order: Path, neox_tokenizer_path: Path) -> None:
    bad = corrupt_copy(order, tmp_path / "bad")
    err = assert_refused(rewrite(tmp_path, bad, neox_tokenizer_path), f"{bad}.idx", "truncated or corrupt",
                         "copy it again")
    assert err.startswith("debias-rewrite: ") and len(err.strip().splitlines()) <= 2, err
    assert not (tmp_path / "tail").exists()


def test_debias_debug_shows_the_traceback(tmp_path: Path, order: Path, neox_tokenizer_path: Path) -> None:
    bad = corrupt_copy(order, tmp_path / "bad")
    proc = rewrite(tmp_path, bad, neox_tokenizer_path, env={"DEBIAS_DEBUG": "1"})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" in proc.stderr and "IndexedDatasetError" in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.rstrip().splitlines()[-1].startswith(f"debias-rewrite: {bad}.idx: ")  # the message last


def test_a_step_beyond_the_data(tmp_path: Path, order: Path, neox_tokenizer_path: Path) -> None:
    proc = rewrite(tmp_path, order, neox_tokenizer_path, "intervention.start_step=100", "schedule.total_steps=200")
    assert_refused(proc, str(order), "step 100 is beyond the data order", "last available step is 45",
                   "Shorten the run or build a larger data order")


def test_rows_per_step_0_given_to_rewrite(tmp_path: Path, order: Path, neox_tokenizer_path: Path) -> None:
    assert_refused(rewrite(tmp_path, order, neox_tokenizer_path, "data.rows_per_step=0"),
                   "rewrite config", "data.rows_per_step=0 must be positive")


def test_data_order_refuses_rows_per_step_0_as_a_config_error(order: Path) -> None:
    from debias.core.config_errors import ConfigError
    from debias.data.order import DataOrder

    with pytest.raises(ConfigError, match="rows_per_step=0 must be positive") as info:
        DataOrder(order, 0)
    assert isinstance(info.value, ValueError)  # callers that caught ValueError still do


# -- train -------------------------------------------------------------------------------------
def train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return command("debias.train", "+experiment=mini-test", f"runs_root={tmp_path / 'runs'}", "progress=false", *args)


@pytest.mark.slow
def test_rows_per_step_0_given_to_train(tmp_path: Path) -> None:
    assert_refused(train(tmp_path, "data.rows_per_step=0"), "training config", "data.rows_per_step=0 must be positive")
    assert not (tmp_path / "runs" / "data_orders").exists()


@pytest.fixture(scope="module")
def tokenizer_320(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_tokenizer(tmp_path_factory.mktemp("tok320") / "tokenizer.json", 320)


@pytest.mark.slow
def test_train_resuming_from_a_checkpoint_of_another_shape(tmp_path: Path, tokenizer_320: Path) -> None:
    other = make_checkpoint(tmp_path / "other", tokenizer_320, hidden=16, layers=1, heads=2)  # mini-tiny is 32 x 2
    assert_refused(train(tmp_path, "name=shape", "intervention=control21", f"source.path={other}"),
                   str(other), "does not have the configured shape", "hidden_size=16 (model.mini-tiny says 32)",
                   "Pick the model config that matches the checkpoint")


@pytest.mark.slow
def test_train_resuming_from_a_truncated_safetensors_file(tmp_path: Path, tokenizer_320: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "cut", tokenizer_320, hidden=32, layers=2, heads=2)  # mini-tiny's shape
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert_refused(train(tmp_path, "name=cut", "intervention=control21", f"source.path={ckpt}"),
                   str(weights), "truncated", "copy or download the checkpoint again")


# -- eval --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json", 400)


def evaluate(tmp_path: Path, path: Path, *, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    """CrowS-Pairs gender on 4 items, every other task off."""
    off = [f"eval.tasks.{t}.enabled=false" for t in ("winogender", "synthetic", "lambada", "heldout")]
    return command("debias.eval", f"path={path}", "eval.device=cpu", "eval.threads=1", f"eval.cache_dir={tmp_path / 'cache'}",
                   "eval.tasks.winobias.preference=false", "eval.tasks.winobias.coreference=false", *off,
                   "eval.tasks.crows_pairs.subsets=[gender]", "eval.tasks.crows_pairs.limit=4",
                   f"hydra.run.dir={tmp_path / 'hydra'}", "hydra.output_subdir=null",
                   env={"DEBIAS_DATA_DIR": str(data_dir)} if data_dir else None)


@pytest.mark.slow
def test_eval_of_weights_of_another_shape(tmp_path: Path, tokenizer: Path) -> None:
    small = make_checkpoint(tmp_path / "small", tokenizer, hidden=16, layers=1)
    big = make_checkpoint(tmp_path / "big", tokenizer, hidden=32, layers=1)
    (small / "model.safetensors").write_bytes((big / "model.safetensors").read_bytes())
    assert_refused(evaluate(tmp_path, small), str(small), "the weights are not of the model its config.json describes",
                   "put back the config.json saved with these weights")


@pytest.mark.slow
def test_eval_of_a_truncated_safetensors_file(tmp_path: Path, tokenizer: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "ckpt", tokenizer, hidden=16, layers=1)
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert_refused(evaluate(tmp_path, ckpt), str(weights), "truncated", "copy or download the checkpoint again")


def crows_copy(tmp_path: Path, data_dir: Path, line: int, text: bytes) -> Path:
    """A data folder holding only CrowS-Pairs, with line ``line`` (1-based) replaced by ``text``."""
    dest = tmp_path / "data" / "crows_pairs" / "crows_pairs_anonymized.csv"
    dest.parent.mkdir(parents=True)
    lines = (data_dir / "crows_pairs" / "crows_pairs_anonymized.csv").read_bytes().split(b"\n")
    lines[line - 1] = text
    dest.write_bytes(b"\n".join(lines))
    return dest


@pytest.mark.slow
def test_eval_of_a_malformed_benchmark_row(tmp_path: Path, tokenizer: Path, data_dir: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "ckpt", tokenizer, hidden=16, layers=1)
    bad = crows_copy(tmp_path, data_dir, 4, b"3,a row cut short")
    assert_refused(evaluate(tmp_path, ckpt, data_dir=tmp_path / "data"), f"{bad}:4", "empty sent_more or sent_less",
                   "Restore the original crows_pairs_anonymized.csv")


def test_a_benchmark_file_that_is_not_utf8_names_the_line(tmp_path: Path, data_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from debias.eval.tasks.common import BenchmarkFormatError
    from debias.eval.tasks.crows_pairs.reader import crows_pairs_docs

    bad = crows_copy(tmp_path, data_dir, 6, b"5,caf\xe9 au lait")  # cp1252, as a careless export writes it
    monkeypatch.setenv("DEBIAS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(BenchmarkFormatError, match=rf"{bad}:6: not UTF-8 \(byte 0xe9 at offset \d+\)") as info:
        crows_pairs_docs()
    assert info.value.path == str(bad) and "iconv" in info.value.fix


# -- eval.report.readme ------------------------------------------------------------------------
def test_readme_without_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# results\n")
    assert_refused(command("debias.eval.report.readme", str(tmp_path), str(readme)), str(readme), "markers",
                   "add them where the results belong")


# -- the type ----------------------------------------------------------------------------------
def test_every_project_error_is_a_debias_error_with_its_builtin_base() -> None:
    from debias.core.config_errors import ConfigError
    from debias.core.input_errors import InputError
    from debias.data.fetch import DataNotFoundError
    from debias.data.indexed import IndexedDatasetError
    from debias.data.order import StepOutOfRangeError
    from debias.eval.tasks.common import BenchmarkFormatError
    from debias.launch.jobs import JobsFailed
    from debias.rewrite.engine import OutputWriteError
    from debias.train.rundir import RunExistsError

    errors = [
        InputError("/x/model.safetensors", "truncated", "copy it again"),
        ConfigError(["a=1 must be 2", "b is missing"], where="training config"),
        IndexedDatasetError("/x/data.idx: corrupt. Rebuild it", path="/x/data.idx", problem="corrupt", fix="Rebuild it"),
        StepOutOfRangeError("step 9 is beyond", step=9, first_step=0, last_step=4),
        BenchmarkFormatError("/x/crows.csv", 4, "empty sent_more", "Restore it."),
        JobsFailed({"seed0": "exit 1"}, 3),
        OutputWriteError(28, "/x/out: cannot write; free space"),
        DataNotFoundError("crows.csv: missing; set DEBIAS_DATA_DIR"),
        RunExistsError("/x/run: a run already exists there"),
    ]
    builtin = [ValueError, ValueError, ValueError, ValueError, ValueError, RuntimeError, OSError, FileNotFoundError,
               FileExistsError]
    for error, base in zip(errors, builtin, strict=True):
        assert isinstance(error, DebiasError) and isinstance(error, base), type(error)
        again = pickle.loads(pickle.dumps(error))  # the study's worker processes send errors back pickled
        assert type(again) is type(error) and str(again) == str(error) and vars(again) == vars(error)
        assert describe(again) == str(error)
    assert errors[0].path == "/x/model.safetensors" and errors[0].problem == "truncated" and str(errors[0]) == (
        "/x/model.safetensors: truncated; copy it again")
    assert errors[1].path == "training config" and errors[1].problems == ["a=1 must be 2", "b is missing"]
    assert pickle.loads(pickle.dumps(errors[3])).last_step == 4
    assert pickle.loads(pickle.dumps(errors[6])).errno == 28


def test_an_os_error_naming_its_file_is_described_and_a_bug_is_not() -> None:
    import errno

    full = OSError(errno.ENOSPC, "No space left on device", "/x/ckpt/model.safetensors")
    assert describe(full, "rerun with resume=auto") == (
        "/x/ckpt/model.safetensors: No space left on device; free space on that disk, then rerun with resume=auto")
    assert describe(KeyError("text")) is None and describe(OSError(errno.EIO, "I/O error")) is None


def test_the_base_is_exported_from_the_top() -> None:
    import debias

    assert debias.DebiasError is DebiasError and issubclass(debias.TailVerificationError, DebiasError)


# -- every command, one missing input ------------------------------------------------------------
@pytest.mark.parametrize(("module", "args", "needle"), [
    ("debias.swap", ["input=/nonexistent/book.txt", "output={tmp}/out.txt"], "/nonexistent/book.txt"),
    ("debias.rewrite", ["data=pile", "data.indexed_path=/nonexistent/document", "intervention=tail7", "workers=2",
                        "output={tmp}/tail"], "/nonexistent/document.idx: no such file"),
    ("debias.train", ["+experiment=pythia-70m-tail7", "data.indexed_path=/nonexistent/document", "runs_root={tmp}/runs"],
     "/nonexistent/document.idx does not exist"),
    ("debias.eval", ["path=/nonexistent/run"], "/nonexistent/run does not exist"),
    ("debias.eval", ["model=/nonexistent/model"], "model=/nonexistent/model"),
    ("debias.eval.report", ["runs=[/nonexistent/runs]"], "/nonexistent/runs does not exist"),
    ("debias.eval.report", ["compare=[/nonexistent/a,/nonexistent/b]"], "/nonexistent/a"),
], ids=["swap", "rewrite", "train", "eval-path", "eval-model", "report-runs", "report-compare"])
def test_every_command_refuses_a_missing_input_in_a_line_or_two(tmp_path: Path, module: str, args: list[str],
                                                                 needle: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, *(a.format(tmp=tmp_path) for a in args)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**{k: v for k, v in os.environ.items() if k != "DEBIAS_DEBUG"},
                               "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"})
    err = assert_refused(done, needle)
    assert len([line for line in err.splitlines() if line.strip()]) <= 4, err  # the command's line and its problems
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "tail").exists()
