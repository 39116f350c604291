"""Time of our evaluation of a series of checkpoints against plain ``lm_eval.simple_evaluate`` on each,
in the same process, and the largest per-item difference between the two. Goal: plain / ours >= 3.

A series is what the study and ``debias-eval revisions=[...]`` evaluate: checkpoints of one model,
one tokenizer. Ours (``eval.runner.evaluate_checkpoint``, as a fresh process would run it: the
task and tokenization caches emptied first) loads lm-eval's tasks once and tokenizes each request
once for the series, and scores with ``eval.scoring.BucketLM``; plain builds everything per
checkpoint and scores with lm-eval's ``HFLM``. Both skip lm-eval's stderr bootstrap and log samples.

The checkpoints are random GPT-NeoX models in mini-3m's shape (6 layers x 160, vocabulary 4,096,
a byte-level BPE trained on the benchmark sentences); ``--vocab 50304 --hidden 128`` gives the
Pythia-14m-like model with the 20B tokenizer instead. Tasks: the bias suite (CrowS-Pairs gender,
WinoBias preference and coreference, WinoGender, synthetic probes), ``--limit`` items each.
Repeats alternate the two sides; read the ratio of medians.

    python benchmarks/eval_speed.py [--checkpoints 5] [--limit 300] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DEBIAS_DATA_DIR", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from debias.data.fetch import resolve  # noqa: E402
from debias.eval import runner, scoring  # noqa: E402
from debias.eval.config import EvalConfig  # noqa: E402
from debias.eval.suite import TASKS, TASKS_DIR, plan_tasks  # noqa: E402
from debias.eval.testing import make_checkpoint, train_small_tokenizer  # noqa: E402


def bias_config(limit: int | None, batch_size: int, cache_dir: Path) -> EvalConfig:
    cfg = EvalConfig(batch_size=batch_size, device="cpu", dtype="float32", cache_dir=str(cache_dir))
    t = cfg.tasks
    t.lambada.enabled = t.heldout.enabled = False
    t.crows_pairs.subsets = ["gender"]
    t.crows_pairs.limit = t.winobias.limit = t.winogender.limit = t.synthetic.limit = limit
    return cfg


def ours(checkpoints: list[Path], cfg: EvalConfig) -> tuple[float, dict]:
    runner._TASK_DICTS.clear()  # as a fresh process: nothing built or tokenized yet
    scoring._ENCODED.clear()
    start = time.perf_counter()
    results = [runner.evaluate_checkpoint(c, cfg, force=True) for c in checkpoints]
    return time.perf_counter() - start, {str(c): r.tables for c, r in zip(checkpoints, results, strict=True)}


def plain(checkpoints: list[Path], cfg: EvalConfig) -> tuple[float, dict]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    plans = plan_tasks(cfg)
    start = time.perf_counter()
    outs = {}
    for ckpt in checkpoints:
        out = simple_evaluate(model="hf", model_args={"pretrained": str(ckpt), "dtype": "float32", "device": "cpu"},
                              tasks=[p.lm_eval_config() for p in plans], batch_size=cfg.batch_size, bootstrap_iters=0,
                              log_samples=True, task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False))
        outs[str(ckpt)] = {p.name: TASKS[p.name].itemize(out["samples"][p.lm_eval_config()["task"]]) for p in plans}
    return time.perf_counter() - start, outs


def largest_difference(mine: dict, theirs: dict) -> float:
    """The largest absolute difference of any scored column, item by item (ids must agree)."""
    worst = 0.0
    for ckpt, tables in mine.items():
        for name, table in tables.items():
            other = theirs[ckpt][name]
            assert other["id"] == table.ids, f"{ckpt} {name}: the items differ"
            for column, values in table.columns.items():
                worst = max(worst, float(np.max(np.abs(values.astype(float) - np.asarray(other[column], float)))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=5, help="checkpoints in the series")
    parser.add_argument("--limit", type=int, default=300, help="items per task (0 = every item)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--hidden", type=int, default=160)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--vocab", type=int, default=4096, help="4096: a BPE trained here; 50304: the 20B tokenizer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    limit = args.limit or None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tokenizer = (resolve("pythia_tokenizer_config/20B_tokenizer.json") if args.vocab > 50000
                     else train_small_tokenizer(root / "tok" / "tokenizer.json", args.vocab))
        checkpoints = [make_checkpoint(root / f"step{k}", tokenizer, seed=k, hidden=args.hidden, layers=args.layers,
                                       heads=4, max_positions=2048, init_std=0.2) for k in range(args.checkpoints)]
        cfg = bias_config(limit, args.batch_size, root / "cache")
        print(f"series of {args.checkpoints} GPT-NeoX checkpoints, {args.layers} layers x {args.hidden}, vocabulary "
              f"{args.vocab:,}; tasks {[p.name for p in plan_tasks(cfg)]}, limit {limit}; batch size "
              f"{args.batch_size}; torch threads {args.threads}")
        ours(checkpoints[:1], cfg), plain(checkpoints[:1], cfg)  # warm-up: imports, first-use costs
        times: dict[str, list[float]] = {"plain simple_evaluate per checkpoint": [], "ours (evaluate_checkpoint)": []}
        worst = 0.0
        for k in range(args.repeats):
            sides = [("plain simple_evaluate per checkpoint", plain), ("ours (evaluate_checkpoint)", ours)]
            got = {}
            for name, fn in sides if k % 2 == 0 else sides[::-1]:
                seconds, got[name] = fn(checkpoints, cfg)
                times[name].append(seconds)
            worst = max(worst, largest_difference(got["ours (evaluate_checkpoint)"],
                                                  got["plain simple_evaluate per checkpoint"]))
    for name, values in times.items():
        print(f"{name:38s} median {statistics.median(values):7.2f} s   runs {', '.join(f'{v:.2f}' for v in values)}")
    ratio = statistics.median(times["plain simple_evaluate per checkpoint"]) / statistics.median(
        times["ours (evaluate_checkpoint)"])
    print(f"speed-up plain / ours: {ratio:.2f}x  (goal >= 3)   largest per-item difference: {worst:.2e}")


if __name__ == "__main__":
    main()
