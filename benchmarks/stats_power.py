"""False positives and power of the arm comparison at the demo's regime, for the README.

Simulates studies of k pretraining seeds, two arms resumed from each seed (paired), a metric that
is a mean over n items. Per model: a seed-level offset with sd ``ratio`` times the item noise of
the mean, plus item noise. Compares the headline's method (``seed_t``: paired t over seeds) with
the two-level bootstrap (seeds then items, seed level widened for few seeds), both on the same
simulated studies. Prints the share of studies called different (95% level) with no effect and
with an effect of 2 item-noise units of the mean.

    python benchmarks/stats_power.py            # about a minute
"""

from __future__ import annotations

import argparse

import numpy as np

from eval.stats import seed_t, two_level


def _mean(c):
    return np.mean(c["x"], axis=-1)


def _model(rng: np.random.Generator, items: np.ndarray, seed_offset: float, shift: float, seed_sd: float) -> dict:
    """One model's item scores: the items, its pretraining seed, the arm's shift, resume noise, item noise."""
    return {"x": items + seed_offset + shift + seed_sd * rng.normal() + rng.normal(size=len(items))}


def simulate(k: int, ratio: float, effect: float, sims: int, n: int, rng: np.random.Generator,
             n_boot: int) -> tuple[float, float]:
    unit = 1.0 / np.sqrt(n)  # item noise of the mean
    hits_t = hits_b = 0
    for i in range(sims):
        items = rng.normal(size=n)
        shared = rng.normal(size=k)
        a = [_model(rng, items, shared[s], 0.0, ratio * unit) for s in range(k)]
        b = [_model(rng, items, shared[s], effect * unit, ratio * unit) for s in range(k)]
        hits_t += seed_t(a, b, _mean, paired=True).p_value < 0.05
        hits_b += two_level(a, b, _mean, paired=True, n_boot=n_boot, seed=i).significant
    return hits_t / sims, hits_b / sims


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--n-boot", type=int, default=400)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{args.sims} simulated studies per cell, {args.items} items; share called different at the 95% level")
    print("| seeds | seed noise / item noise | false positives: paired t | two-level | "
          "power (effect 2 units): paired t | two-level |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in (3, 5, 6, 8):
        for ratio in (0.3, 1.0, 3.0):
            fp_t, fp_b = simulate(k, ratio, 0.0, args.sims, args.items, rng, args.n_boot)
            pw_t, pw_b = simulate(k, ratio, 2.0, args.sims, args.items, rng, args.n_boot)
            print(f"| {k} | {ratio} | {fp_t:.3f} | {fp_b:.3f} | {pw_t:.3f} | {pw_b:.3f} |", flush=True)


if __name__ == "__main__":
    main()
