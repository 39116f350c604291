"""Time of our evaluation of the bias tasks (``eval.runner.evaluate_checkpoint``: model load, one
lm-eval run, per-item scores, cache write) against a plain ``lm_eval.simple_evaluate`` call with the
same tasks and batch size, in the same process. Goal: ours / plain <= 1.1.

The checkpoint is a random GPT-NeoX with the real 20B tokenizer (vocabulary 50,304) in Pythia-14m's
shape by default; tasks are CrowS-Pairs, WinoBias (preference and coreference), WinoGender and the
synthetic probes, each subsampled to ``--limit`` items. Both sides skip lm-eval's stderr bootstrap
(our intervals come from ``eval.stats`` at comparison time). Runs alternate after one warm-up
each; the machines are noisy, so read the ratio of medians.

    python benchmarks/eval_speed.py [--limit 300] [--batch-size 32] [--repeats 3] [--threads 2]
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

import torch  # noqa: E402

from debias.data.fetch import resolve  # noqa: E402
from eval.config import EvalConfig  # noqa: E402
from eval.runner import evaluate_checkpoint  # noqa: E402
from eval.suite import TASKS_DIR, plan_tasks  # noqa: E402
from eval.testing import make_checkpoint  # noqa: E402


def bias_config(limit: int | None, batch_size: int, cache_dir: Path) -> EvalConfig:
    cfg = EvalConfig(batch_size=batch_size, device="cpu", dtype="float32", cache_dir=str(cache_dir))
    t = cfg.tasks
    t.lambada.enabled = t.heldout.enabled = False
    t.crows_pairs.limit = t.winobias.limit = t.winogender.limit = t.synthetic.limit = limit
    return cfg


def ours(ckpt: Path, cfg: EvalConfig) -> float:
    start = time.perf_counter()
    evaluate_checkpoint(ckpt, cfg, force=True)
    return time.perf_counter() - start


def plain(ckpt: Path, cfg: EvalConfig) -> float:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    tasks = [p.lm_eval_config() for p in plan_tasks(cfg)]
    start = time.perf_counter()
    simple_evaluate(model="hf", model_args={"pretrained": str(ckpt), "dtype": "float32", "device": "cpu"},
                    tasks=tasks, batch_size=cfg.batch_size, bootstrap_iters=0,
                    task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=300, help="items per task (0 = every item)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    limit = args.limit or None
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_checkpoint(Path(tmp) / "step0", resolve("pythia_tokenizer_config/20B_tokenizer.json"),
                               hidden=args.hidden, layers=args.layers, heads=4, max_positions=2048)
        cfg = bias_config(limit, args.batch_size, Path(tmp) / "cache")
        n_items = {p.name: p.options.get("limit") for p in plan_tasks(cfg)}
        print(f"model: GPT-NeoX {args.layers} layers x {args.hidden}, vocab 50,304; tasks: {n_items}; "
              f"batch size {args.batch_size}; torch threads {args.threads}")
        ours(ckpt, cfg), plain(ckpt, cfg)  # warm-up: imports, dataset building, caches
        times: dict[str, list[float]] = {"plain lm_eval.simple_evaluate": [], "ours (evaluate_checkpoint)": []}
        for _ in range(args.repeats):
            times["plain lm_eval.simple_evaluate"].append(plain(ckpt, cfg))
            times["ours (evaluate_checkpoint)"].append(ours(ckpt, cfg))
    for name, values in times.items():
        print(f"{name:32s} median {statistics.median(values):7.2f} s   runs {', '.join(f'{v:.2f}' for v in values)}")
    ratio = statistics.median(times["ours (evaluate_checkpoint)"]) / statistics.median(times["plain lm_eval.simple_evaluate"])
    print(f"ratio ours / plain: {ratio:.3f}  (goal <= 1.1)")


if __name__ == "__main__":
    main()
