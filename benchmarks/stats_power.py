"""False positives and power of the report's own analysis, from a finished study's own results.

Simulated studies (``eval.calibration``) go through ``compare_arms``, the protocol's families and
Holm, and the report's verdict rule, at each number of seeds. Their models are drawn from a model
fitted to the study's own seeds (``eval.calibration.fit``): the controls' mean and seed-to-seed
noise, the training noise of the A/A arm (aa21 against control21), and each arm's effect with its
spread from seed to seed.

- **null**: a control and its A/A twin, the twin pushed by a pure push of the prior as large as the
  intervention's (tail21's mean shift of the log-odds of "she", per task). Nothing about occupations
  changes, so every "changed" on a primary endpoint is a false positive;
- **pure push**: each real control against itself pushed, with no noise: never to be called changed;
- **power**: a control and the known-answer arm (unlink21, reverse21): how often the link is
  called weaker.

It writes ``power.json`` beside the report (docs/results.md quotes its sentence) and prints a table.

    python benchmarks/stats_power.py runs/report/mini-0.5m-synthetic80            # a few minutes
    python benchmarks/stats_power.py runs/report/mini-0.5m-synthetic80 --studies 200 --seeds 3 6
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from debias.core.atomic import write_json
from debias.eval.calibration import (
    binomial_halfwidth,
    fit,
    fitted_sampler,
    prior_shifts,
    pushed,
    rates,
    seed_pairs,
    study_finals,
)
from debias.eval.metrics import BY_NAME

DEMO_REPORT = Path("runs/report/mini-0.5m-synthetic80")  # where `make demo` writes its report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", type=Path, nargs="?", default=None,
                    help=f"a study's report folder (results.json and the runs it names); default {DEMO_REPORT}")
    ap.add_argument("--studies", type=int, default=500, help="simulated studies per design and seed count")
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6, 8, 10])
    ap.add_argument("--control", default="control21")
    ap.add_argument("--push-from", default="tail21", help="the arm whose prior shift the null's push copies")
    ap.add_argument("--noise-from", default="aa21", help="the A/A arm, whose difference is training noise")
    ap.add_argument("--power-for", nargs="+", default=["unlink21", "reverse21"])
    args = ap.parse_args()
    if args.report is None:
        if not (DEMO_REPORT / "results.json").is_file():
            print(f"stats_power: no finished study at {DEMO_REPORT} (run make demo first); nothing to measure")
            return
        args.report = DEMO_REPORT
    elif not (args.report / "results.json").is_file():
        print(f"stats_power: {args.report}/results.json: no such file; give the report folder of a finished study",
              file=sys.stderr)
        sys.exit(2)

    finals, cfg = study_finals(args.report)
    protocol, link = cfg.protocol, cfg.protocol.link
    control = finals[args.control]
    template = control[0]
    tables = sorted({BY_NAME[m].table(template.tables) for m in protocol.primary} - {None})
    twins = seed_pairs(control, finals[args.noise_from])
    push = prior_shifts(seed_pairs(control, finals[args.push_from]))
    samplers = {"null (push + training noise)": fitted_sampler(fit(control, twins, twins, tables), template,
                                                               effect=False, push=push),
                "pure push": lambda rng: (c := control[int(rng.integers(len(control)))], pushed(c, push))}
    for arm in args.power_for:
        if arm in finals:
            pairs = seed_pairs(control, finals[arm])
            samplers[f"power: {arm}"] = fitted_sampler(fit(control, twins, pairs, tables), template, effect=True)
    started = time.time()
    table: dict[str, dict[int, dict]] = {}
    bar = tqdm(total=len(samplers) * len(args.seeds) * args.studies, desc="simulated studies", unit="study")
    for name, sampler in samplers.items():
        studies = 1 if name == "pure push" else args.studies  # no noise: one study says it all
        for k in args.seeds:
            r = rates(sampler, k, studies, protocol, cfg.stats, seed=k, progress=lambda _i: bar.update())
            table.setdefault(name, {})[k] = {"changed": r.changed, "weaker": r.weaker, "any": r.any_changed,
                                             "studies": studies}
        if studies == 1:
            bar.update((args.studies - 1) * len(args.seeds))
    bar.close()

    seeds_run = len(control)
    print(f"{args.studies} simulated studies per cell, protocol {protocol.name} ({protocol.sha256()[:12]}), "
          f"alpha {protocol.alpha:g}; pools from {seeds_run} seeds; push {', '.join(f'{t} {v:+.2f}' for t, v in push.items())}")
    print("| design | " + " | ".join(f"{k} seeds" for k in args.seeds) + " |")
    print("|---|" + "---:|" * len(args.seeds))
    for name, by_k in table.items():
        key = "weaker" if name.startswith("power") else "changed"
        print(f"| {name}: {link} {key} | " + " | ".join(f"{by_k[k][key][link]:.3f}" for k in args.seeds) + " |")
        if not name.startswith("power"):
            print(f"| {name}: any primary endpoint changed | "
                  + " | ".join(f"{by_k[k]['any']:.3f}" for k in args.seeds) + " |")
    k_demo = seeds_run if seeds_run in args.seeds else max(args.seeds)
    null = table["null (push + training noise)"][k_demo]
    parts = [f"{name.split(': ')[1]} {by_k[k_demo]['weaker'][link]:.2f}" for name, by_k in table.items()
             if name.startswith("power")]
    half = binomial_halfwidth(0.8, args.studies)
    sentence = (f"Power, through the report's own comparison, Holm families and verdict rule ({args.studies:,} "
                f"simulated studies a cell, `python benchmarks/stats_power.py {args.report}`): at {k_demo} seeds the "
                f"link ({link}) is called weaker for {', '.join(parts)} of the time (±{half:.2f}); under a null "
                f"of a pure push of the prior as large as {args.push_from}'s, with training noise as the A/A arm "
                "shows it, "
                f"{null['changed'][link]:.3f} of studies call it changed and {null['any']:.3f} call any primary "
                f"endpoint changed (alpha {protocol.alpha:g}); the pure push alone is never called changed"
                f"{'' if all(v['any'] == 0 for v in table['pure push'].values()) else ' (NOT SO: see power.json)'}. "
                "By seeds: " + "; ".join(
                    f"{k}: " + ", ".join(f"{name.split(': ')[1]} {by_k[k]['weaker'][link]:.2f}"
                                         for name, by_k in table.items() if name.startswith("power"))
                    + f", null {table['null (push + training noise)'][k]['changed'][link]:.3f}" for k in args.seeds) + ".")
    print(sentence)
    write_json(args.report / "power.json", {
        "protocol": protocol.name, "protocol_sha256": protocol.sha256(), "studies": args.studies,
        "seeds_in_pools": seeds_run, "push": push, "table": {n: {str(k): v for k, v in t.items()} for n, t in table.items()},
        "sentence": sentence, "seconds": round(time.time() - started, 1)})
    print(json.dumps({"written": str(args.report / "power.json")}))


if __name__ == "__main__":
    main()
