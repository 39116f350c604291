"""The tail rewrite on datatrove: the same bytes as before the move for every (tasks, workers), the
engine's own markers, workers that die with their parent, and inputs refused before anything is
written (a tokenizer that does not fit the rows, a tampered finished tail, a full disk)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from test_tail import CRAFTED

from debias.data.corpus import build_data_order
from debias.data.fetch import sha256_file
from debias.data.text_corpus import decode_text
from debias.data.tokenizer_fit import TokenizerMismatchError
from debias.rewrite.engine import ExecutorConfig, task_rows
from debias.rewrite.tail import rewrite_tail
from debias.rewrite.verify import TailVerificationError, verify_tail

REPO = Path(__file__).resolve().parents[1]
RPS = 4
# sha256 of what the rewrite wrote before it moved onto datatrove (main at 3479d1e, its own process
# pool), for steps 10..59 of the corpus below: the move must not change a byte.
OLD_FEMININE_BIN = "468689d34be0dfe4762c69668dda8d331db04ac4f9c056a5f39c8cf22f268e9b"
OLD_BOTH_BIN = "bc5638111d37850c3d8f8acd8b1e2f99ab6b3fa4e2c6aa1b7e5819d0cf25dbb5"
OLD_IDX = "dd3d3a04b2d2e4fe2d0295e54e74623f79cf18d2e674b3249bc6fe6a3fd53a95"


def _paragraphs(data_dir: Path) -> list[str]:
    text = decode_text((data_dir / "gutenberg_corpus/heldout/pg550.txt").read_bytes(), "pg550")
    return [p for p in text.split("\n\n") if p.strip()][:700]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, neox_tokenizer_path: Path) -> Path:
    """The data order of tests/test_tail.py: 725 rows of 129 tokens from a Gutenberg book."""
    paragraphs = _paragraphs(data_dir)
    docs = CRAFTED * 5 + ["\n\n".join(paragraphs[i : i + 20]) for i in range(0, len(paragraphs), 20)]
    out = tmp_path_factory.mktemp("corpus") / "order"
    build_data_order(docs, neox_tokenizer_path, out, seq_length=128, seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def small_bpe(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path]:
    """A 400-token BPE and a data order made with it."""
    from debias.data.bpe import train_bpe

    paragraphs = _paragraphs(data_dir)
    docs = ["\n\n".join(paragraphs[i : i + 20]) for i in range(0, len(paragraphs), 20)]
    folder = tmp_path_factory.mktemp("small")
    tok = train_bpe(docs, 400, folder / "tokenizer.json")
    build_data_order(docs, tok, folder / "order", seq_length=128, seed=0, progress=False)
    return tok, folder / "order"


def _rewrite(source: Path, out: Path, tokenizer: Path, **overrides) -> dict:
    args = dict(start_step=10, end_step=60, rows_per_step=RPS, direction="to_feminine")
    return rewrite_tail(source, out, tokenizer=tokenizer, progress=False, **{**args, **overrides})


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_task_rows_cover_the_range_in_order() -> None:
    for tasks, rows in ((1, 7), (3, 7), (7, 7), (64, 1000)):
        spans = [task_rows(r, tasks, 40, rows) for r in range(tasks)]
        assert spans[0][0] == 40 and spans[-1][1] == 40 + rows
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert max(h - lo for lo, h in spans) - min(h - lo for lo, h in spans) <= 1


@pytest.mark.parametrize("tasks", [1, 7, 13])
def test_the_bytes_are_those_of_the_old_rewrite_for_any_task_count(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path, tasks: int
) -> None:
    out = tmp_path / "t"
    manifest = _rewrite(corpus, out, neox_tokenizer_path, tasks=tasks)
    assert (_sha(out / "tail.bin"), _sha(out / "tail.idx")) == (OLD_FEMININE_BIN, OLD_IDX)
    assert manifest["output"]["bin_sha256"] == OLD_FEMININE_BIN and manifest["shards"] == tasks
    assert (manifest["totals"]["rows"], manifest["totals"]["swapped"]) == (200, 646)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "tail.bin", "tail.idx"]
    summary = verify_tail(corpus, out, tasks=tasks, progress=False)
    assert summary["swaps"] == 646 and summary["changed_rows"] == 144


@pytest.mark.slow
def test_two_workers_give_the_old_bytes_and_verify(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    out = tmp_path / "both"
    _rewrite(corpus, out, neox_tokenizer_path, direction="both", tasks=7, workers=2)
    assert (_sha(out / "tail.bin"), _sha(out / "tail.idx")) == (OLD_BOTH_BIN, OLD_IDX)
    assert verify_tail(corpus, out, workers=2, tasks=5, progress=False)["swaps"] == 893


def test_the_local_executor_is_datatrove_and_leaves_its_markers(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    out = tmp_path / "markers"

    def stop(rank: int) -> None:
        if rank == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _rewrite(corpus, out, neox_tokenizer_path, tasks=6, on_task_done=stop)
    logs = out / ".rewrite" / "rewrite"
    executor = json.loads((logs / "executor.json").read_text())  # written by datatrove
    assert executor["world_size"] == 6 and executor["workers"] == 1
    assert sorted(p.name for p in (logs / "completions").iterdir()) == ["00000", "00001", "00002"]
    assert (logs / "logs" / "task_00003.log").is_file()
    _rewrite(corpus, out, neox_tokenizer_path, tasks=6)
    assert _sha(out / "tail.bin") == OLD_FEMININE_BIN


ORPHAN_SCRIPT = """
import sys, time
from debias.rewrite.tail import rewrite_tail
rewrite_tail(sys.argv[1], sys.argv[2], start_step=0, end_step=150, rows_per_step=4, tokenizer=sys.argv[3],
             direction="to_feminine", workers=2, tasks=150, progress=False,
             on_task_done=lambda k: __import__("time").sleep(0.3))
"""


def _session(sid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _kill_session(sid: int) -> None:
    for pid in _session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.slow
def test_no_worker_goes_on_writing_once_the_rewrite_is_killed(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    out = tmp_path / "orphans"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(corpus), str(out), str(neox_tokenizer_path)],
        env=env,
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    parts = out / ".rewrite" / "parts"
    try:
        deadline = time.monotonic() + 180
        while len(list(parts.glob("0*.json"))) < 4 and time.monotonic() < deadline:
            assert proc.poll() is None, "the rewrite ended before it could be killed"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers must follow by themselves
        proc.wait()
        time.sleep(2)
        written = {p.name: p.stat().st_mtime_ns for p in parts.iterdir()}
        time.sleep(5)  # the old pool went on for about 50 s
        assert {p.name: p.stat().st_mtime_ns for p in parts.iterdir()} == written
        assert len(written) < 2 * 150
        assert _session(proc.pid) == []  # workers, datatrove's manager, the resource tracker
    finally:
        _kill_session(proc.pid)
    # and the killed rewrite resumes to the same bytes as one run straight through
    reference = tmp_path / "reference"
    _rewrite(corpus, out, neox_tokenizer_path, start_step=0, end_step=150, tasks=150)
    _rewrite(corpus, reference, neox_tokenizer_path, start_step=0, end_step=150, tasks=3)
    assert _sha(out / "tail.bin") == _sha(reference / "tail.bin")


# -- issue 12, item 1: a tokenizer that does not fit the rows ------------------------------------
def test_rows_of_a_small_bpe_rewritten_with_the_20b_tokenizer_are_refused_before_writing(
    tmp_path: Path, small_bpe: tuple[Path, Path], neox_tokenizer_path: Path
) -> None:
    _tok, order = small_bpe
    out = tmp_path / "wrong"
    with pytest.raises(TokenizerMismatchError, match=r"reproduces only \d+\.\d% of the tokens"):
        _rewrite(order, out, neox_tokenizer_path, start_step=0, end_step=20)
    assert not out.exists()


def test_20b_rows_with_a_small_tokenizer_are_refused_before_writing(
    tmp_path: Path, corpus: Path, small_bpe: tuple[Path, Path]
) -> None:
    tok, _order = small_bpe
    out = tmp_path / "reverse"
    with pytest.raises(TokenizerMismatchError, match="beyond the 400 tokens"):
        _rewrite(corpus, out, tok)
    assert not out.exists()


def test_the_command_line_refuses_a_small_tokenizer_in_two_lines_and_exit_2(
    tmp_path: Path, corpus: Path, small_bpe: tuple[Path, Path]
) -> None:
    tok, _order = small_bpe
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "debias.rewrite.cli", f"source={corpus}", f"tokenizer={tok}",
         f"output={out}", "intervention=tail21", "intervention.fraction=null",
         "intervention.start_step=20", "schedule.total_steps=30", "schedule.checkpoint_interval=10",
         "data.rows_per_step=4", "progress=false", f"hydra.run.dir={tmp_path / 'hydra'}"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and "beyond the 400 tokens" in lines[0], proc.stderr
    assert not out.exists()


def test_verify_refuses_a_tail_whose_manifest_names_a_tokenizer_that_does_not_fit(
    tmp_path: Path, small_bpe: tuple[Path, Path], neox_tokenizer_path: Path
) -> None:
    tok, order = small_bpe
    out = tmp_path / "small-tail"
    _rewrite(order, out, tok, start_step=0, end_step=20)
    assert verify_tail(order, out, progress=False)["rows"] == 80
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tokenizer"] = {"path": str(neox_tokenizer_path), "sha256": sha256_file(neox_tokenizer_path)}
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TokenizerMismatchError, match="reproduces only"):
        verify_tail(order, out, progress=False)


# -- issue 12, item 3: a finished tail is checked before "nothing to do" --------------------------
def test_a_rerun_of_a_finished_rewrite_refuses_a_tampered_tail(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    out = tmp_path / "done"
    _rewrite(corpus, out, neox_tokenizer_path)
    assert _rewrite(corpus, out, neox_tokenizer_path)["output"]["bin_sha256"] == OLD_FEMININE_BIN
    raw = bytearray((out / "tail.bin").read_bytes())
    row = 199 * 129 * 2  # the last row, one of the sampled ones
    raw[row + 10 : row + 12] = np.uint16(783).tobytes() if raw[row + 10 : row + 12] != np.uint16(
        783
    ).tobytes() else np.uint16(784).tobytes()
    (out / "tail.bin").write_bytes(bytes(raw))
    with pytest.raises(TailVerificationError, match="sampled rows' sha256 differs"):
        _rewrite(corpus, out, neox_tokenizer_path)
    (out / "tail.bin").write_bytes(bytes(raw[:-258]))
    with pytest.raises(TailVerificationError, match="bytes, but the manifest's 200 rows"):
        _rewrite(corpus, out, neox_tokenizer_path)


# -- issue 12, item 9: a full disk names the path; stale temp files go on the next run -----------
FULL_DISK_SCRIPT = """
import resource, signal, sys
from debias.rewrite.tail import rewrite_tail
from debias.rewrite.engine import OutputWriteError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    rewrite_tail(sys.argv[1], sys.argv[2], start_step=10, end_step=60, rows_per_step=4,
                 tokenizer=sys.argv[3], direction="to_feminine", tasks=2, progress=False)
except OutputWriteError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


def test_a_full_disk_names_the_file_and_the_rerun_clears_stale_temp_files(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    out = tmp_path / "full"
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SCRIPT, str(corpus), str(out), str(neox_tokenizer_path)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert str(out / ".rewrite" / "parts") in last and "free space" in last, last
    assert list(out.rglob("*.tmp")) == []
    # what a process killed mid-write leaves behind
    (out / ".tail.bin.tmp").write_bytes(b"half")
    (out / ".rewrite" / "parts" / ".00001.bin.4242.tmp").write_bytes(b"half")
    _rewrite(corpus, out, neox_tokenizer_path, tasks=2)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "tail.bin", "tail.idx"]
    assert _sha(out / "tail.bin") == OLD_FEMININE_BIN


def test_executor_config_problems() -> None:
    assert ExecutorConfig().problems() == []
    assert "executor.partition" in ExecutorConfig(kind="slurm").problems()[0]
    assert "not one of local, slurm, ray" in ExecutorConfig(kind="k8s").problems()[0]
    assert "mem_per_cpu_gb=0 must be above 0" in ExecutorConfig(mem_per_cpu_gb=0).problems()[0]


def test_slurm_is_a_switch_away(tmp_path: Path) -> None:
    """The slurm executor builds its sbatch script from the config (nothing is submitted)."""
    from debias.rewrite.engine import make_executor

    cfg = ExecutorConfig(kind="slurm", partition="cpu", sbatch_args={"account": "bias"})
    ex = make_executor(cfg, [], tasks=2560, workers=512, logging_dir=tmp_path / "logs")
    script = ex.get_launch_file_contents(ex.get_sbatch_args(1001), "srun -l launch_pickled_pipeline x")
    assert "#SBATCH --partition=cpu" in script and "#SBATCH --account=bias" in script
    assert "#SBATCH --array=0-1000%512" in script and f"source {sys.prefix}/bin/activate" in script
    shutil.rmtree(tmp_path / "logs", ignore_errors=True)


BUSY_SCRIPT = """
import sys
from debias.rewrite.tail import rewrite_tail
rewrite_tail(sys.argv[1], sys.argv[2], start_step=10, end_step=60, rows_per_step=4, tokenizer=sys.argv[3],
             direction="to_feminine", tasks=50, progress=False,
             on_task_done=lambda k: __import__("time").sleep(0.5))
"""


@pytest.mark.slow
def test_a_second_rewrite_while_one_runs_is_refused(
    tmp_path: Path, corpus: Path, neox_tokenizer_path: Path
) -> None:
    from debias.rewrite.engine import FolderBusyError

    out = tmp_path / "busy"
    proc = subprocess.Popen(
        [sys.executable, "-c", BUSY_SCRIPT, str(corpus), str(out), str(neox_tokenizer_path)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not list((out / ".rewrite" / "parts").glob("0*.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the first rewrite ended too early"
            time.sleep(0.01)
        with pytest.raises(FolderBusyError, match="another rewrite is running on this folder"):
            _rewrite(corpus, out, neox_tokenizer_path, tasks=50)
    finally:
        proc.kill()
        proc.wait()
    _rewrite(corpus, out, neox_tokenizer_path, tasks=50)  # the lock died with its holder
    assert _sha(out / "tail.bin") == OLD_FEMININE_BIN


def test_two_seeds_data_orders_of_one_shape_are_each_rewritten_from_their_own_rows(
    corpus: Path, tmp_path: Path, data_dir: Path, neox_tokenizer_path: Path
) -> None:
    """Seeds of one corpus give data orders with identical .idx files; one process rewriting both
    (as a reused worker of the study does) must read each one's own rows."""
    paragraphs = _paragraphs(data_dir)
    docs = CRAFTED * 5 + ["\n\n".join(paragraphs[i : i + 20]) for i in range(0, len(paragraphs), 20)]
    other = tmp_path / "order-seed1"
    build_data_order(docs, neox_tokenizer_path, other, seq_length=128, seed=1, progress=False)
    assert _sha(other.with_suffix(".idx")) == _sha(corpus.with_suffix(".idx"))
    assert _sha(other.with_suffix(".bin")) != _sha(corpus.with_suffix(".bin"))
    _rewrite(corpus, tmp_path / "tail0", neox_tokenizer_path, tasks=1)
    _rewrite(other, tmp_path / "tail1", neox_tokenizer_path, tasks=1)
    assert verify_tail(other, tmp_path / "tail1", progress=False)["rows"] == 50 * RPS
    assert _sha(tmp_path / "tail0" / "tail.bin") != _sha(tmp_path / "tail1" / "tail.bin")


# -- issue 24, item 1: no output overlaps an input ----------------------------------------------------
def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``debias-rewrite`` of steps 20..29 of a 30-step schedule (tail21 from step 20), with ``args``."""
    return subprocess.run(
        [sys.executable, "-m", "debias.rewrite.cli", "intervention=tail21", "intervention.fraction=null",
         "intervention.start_step=20", "schedule.total_steps=30", "schedule.checkpoint_interval=10",
         f"data.rows_per_step={RPS}", "progress=false", f"hydra.run.dir={tmp_path / 'hydra'}", *args],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path, timeout=300)


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink", "hardlink"])
def test_a_rewrite_into_the_folder_of_its_source_is_refused(tmp_path: Path, corpus: Path, neox_tokenizer_path: Path,
                                                            spelling: str) -> None:
    """`source=D/tail ... output=D` replaced the 5.94 MB source with 660 KB, then crashed: the
    output folder is refused when it holds an input, however either path is spelled."""
    folder = tmp_path / "D"
    folder.mkdir()
    for suffix in (".bin", ".idx"):
        shutil.copyfile(corpus.with_name(corpus.name + suffix), folder / f"tail{suffix}")
    source, output = folder / "tail", str(folder)
    if spelling == "relative":
        output = "D/../D"
    elif spelling == "symlink":
        (tmp_path / "link").symlink_to(folder)
        output = str(tmp_path / "link")
    elif spelling == "hardlink":  # another folder, holding the source's .bin under another name
        other = tmp_path / "E"
        other.mkdir()
        os.link(folder / "tail.bin", other / "tail.bin")
        output = str(other)
    before = _sha(folder / "tail.bin")
    proc = _cli(tmp_path, f"source={source}", f"tokenizer={neox_tokenizer_path}", f"output={output}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    want = "the same file as source=" if spelling == "hardlink" else "holds the input source="
    assert f"output={output} " in proc.stderr and want in proc.stderr, proc.stderr
    assert _sha(folder / "tail.bin") == before
    assert sorted(p.name for p in folder.iterdir()) == ["tail.bin", "tail.idx"]


def test_a_malformed_tokenizer_json_is_named_in_a_line(tmp_path: Path, corpus: Path) -> None:
    """It was a bare JSONDecodeError with no path."""
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"model": {"type": "BPE", ', encoding="utf-8")
    proc = _cli(tmp_path, f"source={corpus}", f"tokenizer={bad}", f"output={tmp_path / 'out'}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"{bad}: not a tokenizer.json: not JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_rerun_in_another_direction_into_a_finished_folder_is_one_line(tmp_path: Path, corpus: Path,
                                                                         neox_tokenizer_path: Path) -> None:
    """It was FileExistsError's traceback."""
    def cli(direction: str) -> subprocess.CompletedProcess:
        return _cli(tmp_path, f"source={corpus}", f"tokenizer={neox_tokenizer_path}", f"output={tmp_path / 'tail'}",
                    f"intervention.direction={direction}", "verify=false")

    assert cli("to_feminine").returncode == 0
    again = cli("both")
    assert again.returncode == 2, again.stderr[-3000:]
    lines = again.stderr.strip().splitlines()
    assert len(lines) <= 2 and "holds a finished rewrite of other inputs" in lines[-1] and "Traceback" not in again.stderr


# -- issue 24, item 7: the tokenizer's identity ----------------------------------------------------
def test_the_20b_tokenizer_with_he_and_she_exchanged_is_refused(tmp_path: Path, corpus: Path,
                                                                 neox_tokenizer_path: Path) -> None:
    """Its ids round-trip any text, so the decode-encode check passed it, and the rows came out
    masculinised. The tokens of a known tokenizer under other ids are refused before writing."""
    spec = json.loads(neox_tokenizer_path.read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    vocab["Ġhe"], vocab["Ġshe"] = vocab["Ġshe"], vocab["Ġhe"]
    forged = tmp_path / "tokenizer.json"
    forged.write_text(json.dumps(spec), encoding="utf-8")
    out = tmp_path / "tail"
    with pytest.raises(TokenizerMismatchError, match=r"holds the tokens of GPT-NeoX-20B \(Pythia's\) tokenizer under "
                                                     r"other ids \(2 moved: 'Ġhe' is \d+, not \d+"):
        _rewrite(corpus, out, forged)
    assert not out.exists()


def test_a_data_orders_recorded_tokenizer_is_required(tmp_path: Path, corpus: Path, neox_tokenizer_path: Path) -> None:
    order = tmp_path / "order"
    order.mkdir()
    for suffix in (".bin", ".idx"):
        shutil.copyfile(corpus.with_name(corpus.name + suffix), order / f"data{suffix}")
    (order / "data_order.json").write_text(json.dumps({"tokenizer_sha256": "0" * 64}))
    with pytest.raises(TokenizerMismatchError, match=r"data_order\.json records the tokenizer the rows were made with"):
        _rewrite(order / "data", tmp_path / "tail", neox_tokenizer_path)
    (order / "data_order.json").write_text(json.dumps({"tokenizer_sha256": _sha(neox_tokenizer_path)}))
    assert _rewrite(order / "data", tmp_path / "tail", neox_tokenizer_path)["totals"]["swapped"] > 0


VERIFY_SCRIPT = """
import sys
from debias.rewrite.verify import verify_tail
verify_tail(sys.argv[1], sys.argv[2], workers=2, tasks=150, progress=False)
"""


@pytest.mark.slow
def test_nothing_outlives_a_rewrite_killed_while_it_verifies(tmp_path: Path, corpus: Path,
                                                             neox_tokenizer_path: Path) -> None:
    """After SIGKILL during verification, the pool's manager (forked, not spawned, and holding no
    lock then) was alive 32 minutes later."""
    out = tmp_path / "tail"
    _rewrite(corpus, out, neox_tokenizer_path, start_step=0, end_step=150, tasks=3)
    proc = subprocess.Popen([sys.executable, "-c", VERIFY_SCRIPT, str(corpus), str(out)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while len(_session(proc.pid)) < 4:  # the verifier, its manager, tracker and workers
            assert proc.poll() is None and time.monotonic() < deadline, "the verification ended before the kill"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session(proc.pid) == []
    finally:
        _kill_session(proc.pid)


@pytest.mark.slow
def test_a_worker_killed_mid_task_fails_the_rewrite_instead_of_hanging_it(tmp_path: Path, corpus: Path,
                                                                         neox_tokenizer_path: Path) -> None:
    """SIGKILL of one local worker (as the OOM killer would) left the rewrite at "7/8 tasks completed"
    at 0% CPU for as long as anyone watched; now it fails, naming the worker and how it died."""
    out = tmp_path / "tail"
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(corpus), str(out), str(neox_tokenizer_path)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                            stderr=subprocess.PIPE, text=True)
    parts = out / ".rewrite" / "parts"
    try:
        deadline = time.monotonic() + 180
        while len(list(parts.glob("0*.json"))) < 4:
            assert proc.poll() is None and time.monotonic() < deadline, "the rewrite ended before the kill"
            time.sleep(0.01)
        workers = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
        workers[0].kill()
        _, err = proc.communicate(timeout=60)  # it hung for good before
        assert proc.returncode != 0
        assert f"a worker process died while its task ran (worker pid {workers[0].pid}: " in err, err[-3000:]
        assert "killed by SIGKILL" in err or "replaced by the pool" in err
    finally:
        _kill_session(proc.pid)
