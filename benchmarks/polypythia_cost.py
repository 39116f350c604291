"""What the ten-seed PolyPythias study costs, and the power ten seeds buy.

Cost: training FLOPs per token ``6N + 12·L·d·s`` (N the parameters without the input embedding,
s = 2,048; docs/gpus-and-slurm.md), times the tail's tokens (2,097,152 a step: 21.0B for the 7%
tail, 62.9B for the 21%), for ten seeds of two arms (the intervention and its control), in H100
hours at an assumed model FLOPs utilisation (these small models use the GPU poorly; replace it
with a figure measured by benchmarks/gpu_check.sh).

Power: a paired t-test over seeds (the report's method). The per-seed standard deviation of an
arm-minus-control difference is read from a report's results.json (the width of its interval
gives it: sd = (high - low) / (2 t_0.975,n-1) x sqrt(n)); the mini study's is the only one
measured. The script prints, for 1 to 10 seeds, the smallest effect found 80% of the time, in
units of that SD and in the metric's own units. Real Pythia's seed-to-seed spread is not known
until PolyPythias is evaluated; the SD units carry over, the absolute values do not.

    python benchmarks/polypythia_cost.py [--results runs/report/mini-0.5m-synthetic80/results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

H100_BF16 = 989e12
TOKENS_PER_STEP = 1024 * 2048
TAILS = {"tail7": 10_000, "tail21": 30_000}
SIZES = ("pythia-14m", "pythia-70m", "pythia-160m")


def flops_per_token(size: str) -> float:
    from debias.train import compose
    from debias.train.plan import to_train_config

    model = to_train_config(compose([f"model={size}"])).model
    n = model.num_parameters() - model.vocab_size * model.hidden_size  # without the input embedding
    return 6 * n + 12 * model.num_layers * model.hidden_size * 2048


def cost_table(mfu: float, seeds: int) -> list[str]:
    out = [f"| model | tail | FLOP per arm | H100-h per arm | study ({seeds} seeds x 2 arms), H100-h |", "|---|---|---|---|---|"]
    for size in SIZES:
        per_token = flops_per_token(size)
        for tail, steps in TAILS.items():
            flops = per_token * steps * TOKENS_PER_STEP
            hours = flops / (H100_BF16 * mfu) / 3600
            out.append(f"| {size} | {tail} | {flops:.2e} | {hours:.1f} | {2 * seeds * hours:.0f} |")
    return out


def power(effect_in_sd: float, n: int, alpha: float = 0.05) -> float:
    """Two-sided paired t-test power at ``n`` seeds for an effect of ``effect_in_sd`` per-seed SDs."""
    if n < 2:
        return float("nan")  # one seed: no spread, no test
    df, delta = n - 1, effect_in_sd * math.sqrt(n)
    crit = stats.t.ppf(1 - alpha / 2, df)
    lower = stats.nct.cdf(-crit, df, delta)  # the wrong-sign tail; scipy gives NaN where it is ~0
    return float(stats.nct.sf(crit, df, delta) + (0.0 if math.isnan(lower) else lower))


def detectable(n: int, target: float = 0.8) -> float:
    """The smallest effect (in per-seed SDs) found with probability ``target`` at ``n`` seeds."""
    lo, hi = 0.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if power(mid, n) < target else (lo, mid)
    return hi


def seed_sd(results: Path, comparison: str, metric: str) -> tuple[float, float, int]:
    """(per-seed SD of the difference, the observed difference, seeds) of one row of a report."""
    doc = json.loads(results.read_text())
    for comp in doc["comparisons"]:
        if comp.get("b_name") == comparison:
            for row in comp["rows"]:
                if row["metric"] == metric:
                    n = int(row["n_b"])
                    sd = (row["high"] - row["low"]) / (2 * stats.t.ppf(0.975, n - 1)) * math.sqrt(n)
                    return sd, row["diff"], n
    raise SystemExit(f"{results}: no row {metric} in the comparison of {comparison}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="runs/report/mini-0.5m-synthetic80/results.json")
    parser.add_argument("--comparison", default="tail21")
    parser.add_argument("--metric", default="synthetic/auc")
    parser.add_argument("--mfu", type=float, default=0.25, help="assumed model FLOPs utilisation")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    print(f"Cost at an assumed {args.mfu:.0%} MFU of an H100's {H100_BF16 / 1e12:.0f} TFLOP/s:")
    print("\n".join(cost_table(args.mfu, args.seeds)))
    print()
    print("Smallest effect a paired t-test over seeds finds 80% of the time (alpha 0.05, two-sided):")
    results = Path(args.results)
    sd = diff = None
    if results.is_file():
        sd, diff, n = seed_sd(results, args.comparison, args.metric)
        print(f"  per-seed SD of {args.comparison} - control on {args.metric}: {sd:.4f} ({n} seeds of {results}); "
              f"its observed effect {diff:+.4f} = {diff / sd:+.2f} SD")
    print("| seeds | effect in SDs | " + ("in the metric's units |" if sd else "|"))
    print("|---|---|" + ("---|" if sd else ""))
    for n in (1, 2, 3, 5, 8, 10):
        d = detectable(n) if n > 1 else float("inf")
        shown = "no test (no spread)" if n == 1 else f"{d:.2f}"
        units = f" {d * sd:.4f} |" if sd and n > 1 else (" - |" if sd else "")
        print(f"| {n} | {shown} |{units}")
    if sd and diff:
        print(f"  power at {args.seeds} seeds for the mini study's {args.comparison} effect: "
              f"{power(abs(diff) / sd, args.seeds):.3f}")


if __name__ == "__main__":
    main()
