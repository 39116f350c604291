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
dedicated core would see, where wall time also counts the other tenants. This VM's per-core rate
drifts by 10-25% within minutes, so the baseline is measured again next to every run and each
run's rate is also given against it; ``--repeats`` rounds over the runs, and medians.

    python benchmarks/rewrite_scale.py [--runs 10:1 10:2 100:2] [--repeats 2] [--baseline-rows 512]
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


class Baseline:
    """The row rewriter alone (one core, this process) over ``n`` rows spread evenly over the first
    ``span`` rows: what each worker of the old process pool ran. Measured again next to every run,
    since this VM's per-core rate drifts by 10-25% within minutes; the rewriter is built once, so
    every measurement after the first sees a warm spaCy vocabulary, as a long-running worker does."""

    def __init__(self, prefix: Path, tokenizer: Path, n: int, span: int) -> None:
        from debias.data.indexed import MMapIndexedDataset
        from debias.data.token_bytes import ByteVocab
        from debias.rewrite.rows import RowRewriter
        from debias.swap.torchless import load_swapper

        self.rewriter = RowRewriter(ByteVocab(tokenizer), load_swapper("to_feminine"))
        data = MMapIndexedDataset(prefix)
        self.rows = np.stack([data.rows(r, r + 1)[0] for r in np.linspace(0, span - 1, n).astype(int)])
        self.rates: list[float] = []
        self.measure()  # warm-up: the vocabulary fills, the BLAS pool starts

    def measure(self) -> float:
        """Tokens per CPU second over the sample, once."""
        from debias.rewrite.rows import RewriteStats

        cpu = time.process_time()
        for lo in range(0, len(self.rows), 32):
            self.rewriter.rewrite(self.rows[lo : lo + 32], RewriteStats())
        self.rates.append(self.rows.size / (time.process_time() - cpu))
        return self.rates[-1]


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


def run_child(prefix: Path, tokenizer: Path, steps: int, workers: int, out: Path) -> dict:
    """One rewrite in a fresh process: its wall and CPU time, tokens and peak memory."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(prefix), str(tokenizer), str(steps), str(workers),
         str(out)], capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"the rewrite of {steps} steps with {workers} workers failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", default=["10:1", "10:2", "100:2"], help="steps:workers")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over --runs, interleaved")
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
    span = min(s for s, _ in runs)
    base = Baseline(prefix, tokenizer, args.baseline_rows, span * RPS)
    print(f"data: {prefix} (uint16, {ROW}-token rows, {RPS} rows a step); cores here: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"baseline: the row rewriter alone in this process over {args.baseline_rows} rows spread over "
          f"the first {span} steps, measured before and after every run (a run's 'vs base' is its")
    print("rate over the mean of the two). Cost is CPU time per token over every process of the run")
    print("(parent, workers, datatrove's manager), which other tenants of the machine do not inflate.")
    print(f"{'round':>5} {'steps':>5} {'tokens':>12} {'W':>2} {'tasks':>5} {'wall s':>7} {'cpu s':>7} "
          f"{'tok/s':>9} {'tok/cpu-s':>9} {'base':>9} {'vs base':>7} {'parent MB':>9} {'worker MB':>9}")
    results: dict[tuple[int, int], list[dict]] = {run: [] for run in runs}
    before = base.measure()
    for rnd in range(1, args.repeats + 1):
        for steps, workers in runs:
            r = run_child(prefix, tokenizer, steps, workers, work / "scale" / f"tail-{steps}-{workers}")
            after = base.measure()
            r.update(rate=r["tokens"] / r["cpu"], wall_rate=r["tokens"] / r["wall"],
                     base=(before + after) / 2)
            r["ratio"] = r["rate"] / r["base"]
            results[steps, workers].append(r)
            print(f"{rnd:>5} {steps:>5} {r['tokens']:>12,} {workers:>2} {r['tasks']:>5} {r['wall']:>7.1f} "
                  f"{r['cpu']:>7.1f} {r['wall_rate']:>9,.0f} {r['rate']:>9,.0f} {r['base']:>9,.0f} "
                  f"{r['ratio']:>7.3f} {r['parent_mb']:>9.0f} {r['worker_mb']:>9.0f}  "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
            before = after
    print(f"baseline over the session: median {median(base.rates):,.0f} tokens per CPU second, "
          f"range {min(base.rates):,.0f}..{max(base.rates):,.0f} ({len(base.rates)} measurements)")
    print(f"medians over {args.repeats} rounds:")
    print(f"{'steps':>5} {'W':>2} {'tok/cpu-s':>9} {'us/tok':>6} {'vs base':>7} {'wall tok/s':>10} "
          f"{'parent MB':>9} {'worker MB':>9}")
    for (steps, workers), rs in results.items():
        rate = median([r["rate"] for r in rs])
        print(f"{steps:>5} {workers:>2} {rate:>9,.0f} {1e6 / rate:>6.2f} "
              f"{median([r['ratio'] for r in rs]):>7.3f} {median([r['wall_rate'] for r in rs]):>10,.0f} "
              f"{max(r['parent_mb'] for r in rs):>9.0f} {max(r['worker_mb'] for r in rs):>9.0f}")
    sizes = sorted({s for s, _ in runs})
    for w in sorted({w for _, w in runs}):
        if len(sizes) < 2 or not all((s, w) in results for s in (sizes[0], sizes[-1])):
            continue
        small, large = results[sizes[0], w], results[sizes[-1], w]
        raw = median([r["rate"] for r in small]) / median([r["rate"] for r in large])
        fair = median([r["ratio"] for r in small]) / median([r["ratio"] for r in large])
        # fixed CPU seconds per run: cpu = fixed + tokens / rate, each run's CPU put at the
        # session's median baseline (cpu * base / median base) so that drift does not enter
        norm = median(base.rates)
        c_s = median([r["cpu"] * r["base"] / norm for r in small])
        c_l = median([r["cpu"] * r["base"] / norm for r in large])
        t_s, t_l = small[0]["tokens"], large[0]["tokens"]
        fixed = (c_s * t_l - c_l * t_s) / (t_l - t_s)
        print(f"cost per token, {sizes[-1]} against {sizes[0]} steps, {w} workers: {raw:.3f}x as "
              f"measured, {fair:.3f}x against the baseline next to each run; fixed start-up "
              f"{fixed:.1f} CPU s a run ({100 * fixed / c_s:.1f}% of {sizes[0]} steps, "
              f"{100 * fixed / c_l:.1f}% of {sizes[-1]})")
    for s in sizes:
        if (s, 1) in results and (s, 2) in results:
            one, two = results[s, 1], results[s, 2]
            print(f"{s} steps, 2 workers against 1: wall rate "
                  f"{median([r['wall_rate'] for r in two]) / median([r['wall_rate'] for r in one]):.2f}x, "
                  f"CPU per token {median([r['ratio'] for r in one]) / median([r['ratio'] for r in two]):.2f}x")
    key = max(results, key=lambda k: (k[0], -k[1]))
    rate = median([r["rate"] for r in results[key]])
    print(f"hours from {rate:,.0f} tokens per CPU second ({key[0]} steps, {key[1]} workers), one task "
          "per core:")
    print(f"{'':>9}" + "".join(f"{c:>9} cores" for c in CORES))
    for name, tokens in TAILS.items():
        print(f"{name:>9}" + "".join(f"{tokens / (rate * c) / 3600:>15.2f}" for c in CORES))


if __name__ == "__main__":
    main()
