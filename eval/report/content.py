"""The report's sections as format-neutral tables, rendered by ``html`` and ``markdown``.

A table is (title, note, header, rows); a cell is plain text (escaped by the renderer), so dataset
sentences can never inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eval.winobias import irregular_examples

PUBLISHED = [
    ("70m-deduped", "0.509 → 0.503", "89.1 → 98.4", "0.247 → 0.238"),
    ("410m-deduped", "0.572 → 0.538", "10.88 → 11.03", "0.513 → 0.511"),
    ("1.4b-deduped", "0.606 → 0.600 (21%: 0.588)", "6.51 → 6.64", "0.596 → 0.584"),
    ("6.9b-deduped", "0.597 → 0.591", "4.115 → 4.125", "0.695 → 0.697"),
]

METHODS = (
    "Every difference is b - a between the arms' final checkpoints. With several pretraining seeds per arm the "
    "interval is a two-level bootstrap: each replicate resamples seeds, then benchmark items (the same items for "
    "every model), so it carries seed-to-seed variation that a per-item test on single models ignores; arms "
    "resumed from the same seeds are resampled as pairs. With one model per arm, items are resampled jointly "
    "and the p-value is a paired permutation test. Prior = mean log P(she-sentence) - log P(he-sentence); "
    "association = that log-odds on female-stereotyped minus male-stereotyped items (WinoBias, synthetic probes) "
    "or its correlation with the occupation's share of women (WinoGender). A one-directional pronoun rewrite moves "
    "the prior by construction; whether it moves the association is the question. WinoBias coreference compares two "
    "occupations under a fixed pronoun, so a global pronoun prior cancels and its net bias measures association."
)


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""
    marks: list[str] = field(default_factory=list)  # per row: "" or "significant"


def fmt(value: Any, spec: str = ".3f", sign: bool = False) -> str:
    if value is None:
        return "-"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if f != f:
        return "nan"
    if abs(f) >= 1e5:  # a tiny model's LAMBADA perplexity can be 1e27: keep the column readable
        spec = ".4g"
    return format(f, ("+" if sign else "") + spec)


def runs_table(data: dict[str, Any]) -> Table:
    t = Table("Runs", ["run", "arm", "model", "seed", "steps", "direction", "resumed from",
                               "checkpoints evaluated", "pronouns swapped / seen (left)"])
    for r in data["runs"]:
        steps = f"{r.get('start_step')} → {r.get('end_step')} of {r.get('total_steps')}"
        resumed = r.get("resumed_from") or {}
        origin = "-" if not resumed else (
            f"{resumed.get('hub') or resumed.get('path')}@{resumed.get('revision') or resumed.get('step')}, "
            f"optimizer {resumed.get('optimizer')}")
        man = r.get("manifest")
        if not man:
            swaps = "-"
        elif man.get("control"):
            swaps = "none: original rows"
        else:
            swaps = f"{man['swapped']:,} / {man['seen']:,} ({man['left']:,})"
        ckpts = [c["step"] for c in r["checkpoints"]]
        t.rows.append([r["name"], r["arm"], str(r.get("model")), str(r.get("seed")), steps, str(r.get("direction") or "-"),
                       origin, f"{len(ckpts)} (steps {ckpts[0]}…{ckpts[-1]})", swaps])
    t.note = ("Swap counts come from each run's manifest.json (the rewrite it trained on): pronouns seen in the "
              "rewritten rows, swapped, and left unchanged (no same-length spelling, or no counterpart).")
    return t


def comparison_tables(data: dict[str, Any]) -> list[Table]:
    pct = round(100 * data["confidence"])
    out = []
    for comp in data["comparisons"]:
        t = Table(comp["title"], ["metric", comp["a"], comp["b"], "difference", f"{pct}% interval", "p", "items"])
        for row in comp["rows"]:
            spec = data["metrics"][row["metric"]]["fmt"]
            t.rows.append([row["label"], fmt(row["a"], spec), fmt(row["b"], spec), fmt(row["diff"], spec, True),
                           f"[{fmt(row['low'], spec, True)}, {fmt(row['high'], spec, True)}]", fmt(row["p_value"], ".3g"),
                           str(row["n_items"])])
            t.marks.append("significant" if row["significant"] else "")
        methods = sorted({row["method"] for row in comp["rows"]})
        t.note = f"Method: {'; '.join(methods)}. Highlighted rows: the interval excludes zero."
        out.append(t)
    return out


def null_tables(data: dict[str, Any]) -> list[Table]:
    """Per control arm: its seeds split in two, two-level (should find nothing) vs single models."""
    out = []
    for nc in data.get("null_checks", []):
        singles = {(t["a"], t["b"]): {r["metric"]: r for r in t["rows"]} for t in nc["single"]}
        pairs = list(singles)
        t = Table(f"Null check: {nc['arm']}, seeds {nc['seeds_a']} vs {nc['seeds_b']} (no intervention in either)",
                  ["metric", "two-level difference", "interval", "significant"]
                  + [f"{a} vs {b}: difference [interval]" for a, b in pairs])
        for row in nc["two_level"]:
            spec = data["metrics"][row["metric"]]["fmt"]
            cells = [row["label"], fmt(row["diff"], spec, True),
                     f"[{fmt(row['low'], spec, True)}, {fmt(row['high'], spec, True)}]",
                     "yes" if row["significant"] else "no"]
            for key in pairs:
                r = singles[key].get(row["metric"])
                cells.append("-" if r is None else f"{fmt(r['diff'], spec, True)} [{fmt(r['low'], spec, True)}, "
                             f"{fmt(r['high'], spec, True)}]{' *' if r['significant'] else ''}")
            t.rows.append(cells)
            t.marks.append("significant" if row["significant"] else "")
        flagged = sum(v["single_significant"] for v in nc["summary"].values())
        compared = sum(v["single_compared"] for v in nc["summary"].values())
        t.note = (f"Both groups had the same treatment, so a real method finds no difference. The two-level analysis "
                  f"(seeds, then items) flags {sum(v['two_level_significant'] for v in nc['summary'].values())} of "
                  f"{len(nc['summary'])} metrics; per-item tests of single models (*) flag {flagged} of {compared} "
                  "comparisons, because they take one model's seed for the method's effect.")
        out.append(t)
    return out


def cost_table(data: dict[str, Any]) -> Table:
    names = [n for n, m in data["metrics"].items() if m["kind"] == "capability"
             and any(n in a["final"] for a in data["arms"])]
    t = Table("Cost: language modelling before and after", ["arm", "when"] + [data["metrics"][n]["label"] for n in names])
    pct = round(100 * data["confidence"])
    for arm in data["arms"]:
        for when, values in (("baseline at intervention start", arm.get("baseline_at_start")), ("final", arm["final"])):
            if not values:
                continue
            cells = []
            for n in names:
                iv = values.get(n)
                spec = data["metrics"][n]["fmt"]
                cells.append("-" if iv is None else f"{fmt(iv['estimate'], spec)} [{fmt(iv['low'], spec)}, {fmt(iv['high'], spec)}]")
            t.rows.append([arm["label"], when] + cells)
    t.note = f"Mean over seeds with a {pct}% seeds-then-items interval."
    return t


def bias_table(data: dict[str, Any]) -> Table:
    """Final values of the bias metrics per arm (prior and association apart)."""
    names = [n for n, m in data["metrics"].items() if m["kind"] == "bias" and any(n in a["final"] for a in data["arms"])]
    t = Table("Bias at the final checkpoint", ["metric", "unbiased"] + [a["label"] for a in data["arms"]])
    for n in names:
        spec = data["metrics"][n]["fmt"]
        cells = []
        for arm in data["arms"]:
            iv = arm["final"].get(n)
            cells.append("-" if iv is None else f"{fmt(iv['estimate'], spec)} [{fmt(iv['low'], spec)}, {fmt(iv['high'], spec)}]")
        t.rows.append([data["metrics"][n]["label"], fmt(data["metrics"][n]["null"], spec)] + cells)
    return t


def emergence_table(data: dict[str, Any]) -> Table:
    arms = list(data["emergence"])
    names = sorted({n for e in data["emergence"].values() for n in e}, key=list(data["metrics"]).index)
    t = Table("Normalized emergence timing", ["metric"] + arms)
    for n in names:
        t.rows.append([data["metrics"][n]["label"]] + [fmt(data["emergence"][a].get(n), ".3f") for a in arms])
    t.note = ("First training progress (step / total steps) from which the arm's interval stays on one side of the "
              "unbiased value through the last evaluated checkpoint; '-' when the last checkpoint's interval "
              "includes it.")
    return t


def mover_tables(data: dict[str, Any]) -> list[Table]:
    out = []
    for mv in data["movers"]:
        if mv.get("winobias"):
            t = Table(f"WinoBias pairs that moved most: {mv['title']}",
                      ["pair", "she-sentence", "he-sentence", "stereotype", f"log-odds {mv['a']}", f"log-odds {mv['b']}"])
            for x in mv["winobias"]:
                t.rows.append([x["id"], x["female"], x["male"], x["stereotype"], fmt(x["a"], ".2f", True), fmt(x["b"], ".2f", True)])
            out.append(t)
        if mv.get("crows_pairs_gender"):
            t = Table(f"CrowS-Pairs gender pairs that moved most: {mv['title']}",
                      ["pair", "more stereotyping", "less stereotyping", f"margin {mv['a']}", f"margin {mv['b']}"])
            for x in mv["crows_pairs_gender"]:
                t.rows.append([x["id"], x["more"], x["less"], fmt(x["a"], ".2f", True), fmt(x["b"], ".2f", True)])
            out.append(t)
    return out


def data_tables(data: dict[str, Any]) -> list[Table]:
    out = []
    if data["arms"]:
        items = data["arms"][0]["items"]
        t = Table("Items per task", ["task", "items"], [[k, str(v)] for k, v in items.items()])
        tasks = data["eval_config"]["tasks"]
        t.note = (f"Subsampling: LAMBADA limit {tasks['lambada']['limit']}, held-out text limit {tasks['heldout']['limit']} "
                  f"chunks of ~{tasks['heldout']['chunk_chars']} characters (null = all).")
        out.append(t)
    t = Table("WinoBias pairs left out", ["type", "split", "line", "why", "pro-stereotyped line", "anti-stereotyped line"])
    try:
        for x in irregular_examples():
            t.rows.append([str(x["type"]), x["split"], str(x["line"]), x["reason"], x["pro"], x["anti"]])
    except (OSError, ValueError) as exc:  # the data may be unavailable where the report is rebuilt
        t.note = f"(could not read the WinoBias files: {exc})"
    t.note = t.note or "These pairs differ in more than the pronoun, so they cannot isolate it."
    out.append(t)
    pub = Table("For context: published figures (final checkpoint, baseline → 7% intervention)",
                ["model", "CrowS-Pairs gender pct_stereotype", "LAMBADA ppl", "LAMBADA acc"], [list(r) for r in PUBLISHED])
    pub.note = ("From Pythia's evals/bias-evals results; the 410m and 1.4b rows come from an earlier training run, "
                "CrowS-Pairs differences are within about one standard error, and no control run exists.")
    out.append(pub)
    return out


def headline(data: dict[str, Any]) -> list[str]:
    """One sentence per key metric of the first comparison."""
    if not data["comparisons"]:
        return ["No comparison: the report needs a baseline and an intervention (or control) arm."]
    comp = data["comparisons"][0]
    pct = round(100 * data["confidence"])
    lines = [f"{comp['title']}, final checkpoints:"]
    keys = ("winobias/prior", "winobias/association", "synthetic/prior", "synthetic/association",
            "winogender/prior", "winogender/association", "winobias_coref/net_bias",
            "crows_pairs_gender/pct_stereotype", "lambada/acc", "heldout/ppl_token")
    for row in comp["rows"]:
        if row["metric"] in keys:
            spec = data["metrics"][row["metric"]]["fmt"]
            verdict = "interval excludes 0" if row["significant"] else "no clear change"
            lines.append(f"{row['label']}: {fmt(row['diff'], spec, True)} ({pct}% [{fmt(row['low'], spec, True)}, "
                         f"{fmt(row['high'], spec, True)}]; {verdict})")
    return lines
