"""The tail rewrite at Pile scale: cost per token and peak memory at 10 and 100 steps, 1 against 2
workers, and the hours the real tails would take, from the measured per-core rate.

The data is a data order in Pythia's exact format: uint16 tokens, rows of 2,049, 1,024 rows a step,
made from the Gutenberg novels in DEBIAS_DATA_DIR (gutenberg_corpus/train) with the GPT-NeoX-20B
tokenizer; its ~3,000 distinct rows repeat to fill the steps. The baseline, measured in this
process over the same rows, is the row rewriter alone (``RowRewriter.rewrite``, what each worker
of the old process pool ran), so the ratio says what the engine (datatrove, part files, markers,
assembly, checksums) costs. Each rewrite runs in a child process so that its peak memory is its
own (``ru_maxrss`` of the parent and of its largest worker) and so is its CPU time (``ru_utime +
ru_stime`` of it and its reaped workers): on a shared machine CPU time per token is the cost a
dedicated core would see, where wall time also counts the other tenants. The ratios come from one run.

    python benchmarks/rewrite_scale.py [--runs 10:1 10:2 100:2] [--baseline-rows 512] [--work runs/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core per worker
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DEBIAS_DATA_DIR", str(REPO.parent / "shared" / "data"))

import numpy as np  # noqa: E402

ROW, RPS = 2049, 1024  # Pythia: 2,049 tokens a row, 1,024 rows a step
TAILS = {"7% tail": 21.0e9, "21% tail": 62.9e9}  # 10,000 and 30,000 steps of 1,024 x 2,049 tokens
CORES = (16, 64, 512)


def build_order(work: Path, steps: int, corpus: str) -> tuple[Path, Path]:
    """A ``steps``-step data order in Pythia's format from real text (rows repeat); cached."""
    from debias.config import DataConfig
    from debias.data.corpus import prepare_data_order
    from debias.data.indexed import MMapIndexedDataset, write_uniform_index

    cfg = DataConfig(name="gutenberg-20b", source="text", corpus=corpus, tokenizer="neox-20b",
                     seq_length=ROW - 1, rows_per_step=1)
    base_prefix, tokenizer = prepare_data_order(cfg, out_dir=work / "data_orders", seed=1234,
                                                progress=False)
    base = MMapIndexedDataset(base_prefix).rows(0, len(MMapIndexedDataset(base_prefix)))
    prefix = work / "scale" / f"pile-format-{steps}"
    rows = steps * RPS
    if not (prefix.with_suffix(".idx").is_file() and
            prefix.with_suffix(".bin").stat().st_size == rows * ROW * 2):
        prefix.parent.mkdir(parents=True, exist_ok=True)
        with open(prefix.with_suffix(".bin"), "wb") as fh:
            for lo in range(0, rows, len(base)):
                fh.write(base[: min(len(base), rows - lo)].astype(np.uint16).tobytes())
        write_uniform_index(prefix, np.uint16, rows, ROW)
    return prefix, tokenizer


def baseline(prefix: Path, tokenizer: Path, n: int, span: int) -> tuple[float, float]:
    """Tokens per CPU second and per wall second of the row rewriter alone (one core) over ``n``
    rows spread evenly over the first ``span`` rows."""
    from debias.data.indexed import MMapIndexedDataset
    from debias.data.token_bytes import ByteVocab
    from debias.rewrite.rows import RewriteStats, RowRewriter
    from debias.swap.swapper import PronounSwapper

    vocab = ByteVocab(tokenizer)
    rewriter = RowRewriter(vocab, PronounSwapper(direction="to_feminine"))
    data = MMapIndexedDataset(prefix)
    rows = np.stack([data.rows(r, r + 1)[0] for r in np.linspace(0, span - 1, n).astype(int)])
    rewriter.rewrite(rows[:32], RewriteStats())  # warm up
    cpu, wall = time.process_time(), time.perf_counter()
    for lo in range(0, n, 32):
        rewriter.rewrite(rows[lo : lo + 32], RewriteStats())
    return rows.size / (time.process_time() - cpu), rows.size / (time.perf_counter() - wall)


def child(prefix: str, tokenizer: str, steps: int, workers: int, out: str) -> None:
    """One rewrite in this process; prints its wall time and peak memory as JSON."""
    from debias.rewrite.tail import rewrite_tail

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    m = rewrite_tail(prefix, out, start_step=0, end_step=steps, rows_per_step=RPS,
                     tokenizer=tokenizer, direction="to_feminine", workers=workers, progress=False)
    wall = time.perf_counter() - t
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime  # workers are reaped by now
    print(json.dumps({"wall": wall, "cpu": cpu, "tokens": m["totals"]["tokens"], "tasks": m["shards"],
                      "swaps": m["totals"]["swapped"], "parent_mb": me.ru_maxrss / 1024,
                      "worker_mb": kids.ru_maxrss / 1024}))
    shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", default=["10:1", "10:2", "100:2"], help="steps:workers")
    ap.add_argument("--baseline-rows", type=int, default=512)
    ap.add_argument("--corpus", default="gutenberg_corpus/train")
    ap.add_argument("--work", default=str(REPO / "runs" / "bench"))
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        p, tok, steps, workers, out = args.child
        child(p, tok, int(steps), int(workers), out)
        return
    work = Path(args.work)
    runs = [tuple(map(int, r.split(":"))) for r in args.runs]
    prefix, tokenizer = build_order(work, max(s for s, _ in runs), args.corpus)
    base, base_wall = baseline(prefix, tokenizer, args.baseline_rows, min(s for s, _ in runs) * RPS)
    print(f"data: {prefix} (uint16, {ROW}-token rows, {RPS} rows a step); cores here: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"baseline, row rewriter alone in this process over {args.baseline_rows} rows spread over "
          f"the first {min(s for s, _ in runs)} steps: {base:,.0f} tokens per CPU second "
          f"({base_wall:,.0f} per wall second)")
    print("cost per token in CPU time (every process of the run: parent, workers, datatrove's manager),")
    print("which a shared machine does not inflate; wall time and rates from it as measured.")
    print(f"{'steps':>5} {'tokens':>12} {'W':>2} {'tasks':>5} {'wall s':>7} {'cpu s':>7} "
          f"{'tok/s':>9} {'tok/cpu-s':>9} {'us/tok':>6} {'vs base':>7} {'parent MB':>9} {'worker MB':>9}")
    per_core: dict[tuple[int, int], float] = {}
    walls: dict[tuple[int, int], float] = {}
    for steps, workers in runs:
        out = work / "scale" / f"tail-{steps}-{workers}"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(prefix), str(tokenizer), str(steps),
             str(workers), str(out)], capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"the rewrite of {steps} steps with {workers} workers failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        per_core[steps, workers] = r["tokens"] / r["cpu"]
        walls[steps, workers] = r["tokens"] / r["wall"]
        print(f"{steps:>5} {r['tokens']:>12,} {workers:>2} {r['tasks']:>5} {r['wall']:>7.1f} "
              f"{r['cpu']:>7.1f} {walls[steps, workers]:>9,.0f} {per_core[steps, workers]:>9,.0f} "
              f"{1e6 / per_core[steps, workers]:>6.2f} {per_core[steps, workers] / base:>7.2f} "
              f"{r['parent_mb']:>9.0f} {r['worker_mb']:>9.0f}  (load {os.getloadavg()[0]:.1f})")
    sizes = sorted({s for s, _ in runs})
    for w in sorted({w for _, w in runs}):
        if len(sizes) > 1 and all((s, w) in per_core for s in sizes):
            print(f"cost per token, {sizes[-1]} against {sizes[0]} steps, {w} workers: "
                  f"{per_core[sizes[0], w] / per_core[sizes[-1], w]:.3f}x")
    for s in sizes:
        if (s, 1) in per_core and (s, 2) in per_core:
            print(f"{s} steps, 2 workers against 1: wall rate {walls[s, 2] / walls[s, 1]:.2f}x, "
                  f"CPU per token {per_core[s, 1] / per_core[s, 2]:.2f}x")
    rate = per_core[max(per_core, key=lambda k: (k[0], -k[1]))]
    print(f"hours from {rate:,.0f} tokens per CPU second (largest size measured), one task per core:")
    print(f"{'':>9}" + "".join(f"{c:>9} cores" for c in CORES))
    for name, tokens in TAILS.items():
        print(f"{name:>9}" + "".join(f"{tokens / (rate * c) / 3600:>15.2f}" for c in CORES))


if __name__ == "__main__":
    main()
