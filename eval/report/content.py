"""The report's sections as format-neutral tables, rendered by ``html`` and ``markdown``.

A table is (title, note, header, rows); a cell is plain text (escaped by the renderer), so dataset
sentences can never inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from debias.eval.tasks.registry import headline_metrics
from debias.eval.tasks.winobias.reader import irregular_examples
from debias.eval.verdict import supported

PUBLISHED = [
    ("70m-deduped", "0.509 → 0.503", "89.1 → 98.4", "0.247 → 0.238"),
    ("410m-deduped", "0.572 → 0.538", "10.88 → 11.03", "0.513 → 0.511"),
    ("1.4b-deduped", "0.606 → 0.600 (21%: 0.588)", "6.51 → 6.64", "0.596 → 0.584"),
    ("6.9b-deduped", "0.597 → 0.591", "4.115 → 4.125", "0.695 → 0.697"),
]

METHODS = (
    "Every difference is b - a between the arms' final checkpoints. With several pretraining seeds per arm, each "
    "model's metric is computed on all benchmark items, and the interval is a t-interval over seeds: paired by seed "
    "where the arms were resumed from the same pretraining runs (every arm against its control), Welch's otherwise. "
    "Each seed's value already holds that model's item noise, so seed and item variation count once each; the "
    "p-value comes from the same t distribution. With one model per arm, items are resampled jointly and the p-value "
    "is a paired permutation test. The protocol (stated above, fixed before the data) puts each metric in a family; "
    "Holm's adjustment runs within each family of each comparison ('Holm p'), a metric in no family is exploratory, "
    "and a metric with an equivalence margin also gets two one-sided tests of |difference| < margin ('TOST Holm p'). "
    "Verdicts: 'changed' when the Holm p is below alpha; 'no effect' only when the equivalence test is supported; "
    "'inconclusive' otherwise. Prior = mean log P(she-sentence) - log P(he-sentence), which a one-directional "
    "pronoun rewrite moves by construction. Association = that log-odds on female- minus male-stereotyped items, "
    "which a push of the prior also moves (items at low log-odds move most). The rank association (AUC of female- "
    "against male-stereotyped items) is unchanged by any push that moves every item by the same increasing map, "
    "which is why the link endpoints are rank measures. Arms with a known answer (the link removed or reversed, the "
    "control's rows reordered, a gender-neutral word pair rewritten) are analysed exactly like the intervention, "
    "and the instrument check says whether the analysis saw what each must show. "
    "WinoGender's association is the correlation over its 60 occupations of the occupation's mean log-odds with its "
    "share of women, apart for items whose pronoun refers to the occupation and to the participant (Rudinger et al. "
    "2018). WinoBias coreference is headlined on its test split, type 1 and type 2 apart; it compares two occupations "
    "under a fixed pronoun, so a global pronoun prior cancels. CrowS-Pairs is scored, as lm-eval does, by full-"
    "sentence causal log-likelihood, so word frequency alone can decide a pair; lm-eval's English set is the revised "
    "one and not comparable one to one with the original paper's 1,508 pairs. Held-out perplexity is scored in "
    "windows of the model's training context; 'other tokens' leaves out the tokens of gendered pronouns, which a "
    "one-sided rewrite makes less likely by construction."
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


def protocol_table(data: dict[str, Any]) -> Table:
    """The protocol the report was read under, and whether the evaluations recorded it."""
    p = data["protocol"]
    t = Table(f"Protocol {p['name']} (sha256 {p['sha256'][:12]}): {p['status']}", ["what", "fixed before the data"])
    t.rows.append(["alpha (each family of each comparison)", f"{p['alpha']:g}"])
    t.rows.append(["primary endpoints", ", ".join(p["primary"])])
    for f in p["families"]:
        t.rows.append([f"family {f['name']} (Holm within)", ", ".join(f["metrics"])])
    for m in p["margins"]:
        t.rows.append([f"equivalence margin of {m['metric']}",
                       f"±{m['value']:g}" + (" of the control's value" if m["relative"] else "")])
    t.rows.append(["link endpoint of the known answers", p["link"]])
    for e in p["expect"]:
        t.rows.append([f"known answer of {e['arm']}", e["answer"]])
    recorded = ", ".join(f"{k}: {v}" for k, v in p["recorded"].items()) or "nothing"
    t.note = (f"The evaluations read here recorded: {recorded} (task results). 'confirmatory': every one recorded this "
              "protocol, fixed before the data; 'exploratory': some recorded another or none, so the analysis may have "
              "been chosen after the data and claims nothing beyond description.")
    t.marks = [""] * len(t.rows)
    return t


def instrument_table(data: dict[str, Any]) -> Table:
    """Arms whose answer is known: what the analysis had to show on the link, and what it showed."""
    pct = round(100 * data["confidence"])
    link = data["protocol"]["link"]
    spec = data["metrics"][link]["fmt"]
    t = Table(f"Instrument check: arms with a known answer, on {data['metrics'][link]['label']}",
              ["arm", "must show", "difference", f"{pct}% interval", "Holm p", "verdict", "met"])
    for x in data["instrument"]:
        t.rows.append([x["arm"], "a weaker link" if x["expect"] == "weaker" else "no change beyond the margin",
                       fmt(x["diff"], spec, True), f"[{fmt(x['low'], spec, True)}, {fmt(x['high'], spec, True)}]",
                       fmt(x["p_adjusted"], ".3g"), str(x["verdict"]), "yes" if x["met"] else "NO"])
        t.marks.append("" if x["met"] else "significant")
    t.note = ("Each arm against its control, under the protocol. An instrument that misses a known weaker link, or "
              "calls a reordering or a sham changed, cannot be believed on the intervention.")
    return t


def comparison_tables(data: dict[str, Any]) -> list[Table]:
    pct = round(100 * data["confidence"])
    alpha = data["protocol"]["alpha"]
    out = []
    for comp in data["comparisons"]:
        t = Table(comp["title"], ["metric", comp["a"], comp["b"], "difference", f"{pct}% interval", "p", "Holm p",
                                  "family", "margin", "TOST Holm p", "verdict", "seed sd"])
        for row in comp["rows"]:
            spec = data["metrics"][row["metric"]]["fmt"]
            t.rows.append([row["label"], fmt(row["a"], spec), fmt(row["b"], spec), fmt(row["diff"], spec, True),
                           f"[{fmt(row['low'], spec, True)}, {fmt(row['high'], spec, True)}]",
                           fmt(row["p_value"], ".3g"), fmt(row.get("p_adjusted"), ".3g"),
                           row.get("family") or "exploratory", fmt(row.get("margin"), spec),
                           fmt(row.get("p_equivalence_adjusted"), ".3g"), row.get("verdict", ""),
                           fmt(row.get("seed_sd"), spec)])
            t.marks.append("significant" if supported(row, alpha) else "")
        methods = sorted({row["method"] for row in comp["rows"]})
        seeds = any(row.get("seed_sd") is not None for row in comp["rows"])
        t.note = (f"Method: {'; '.join(methods)}. Highlighted rows: Holm p < {alpha:g} in their family."
                  + (" Seed sd: the metric's sd over the first arm's seeds, what seeds alone move." if seeds else ""))
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
    """The report's reading: sentences generated from the results by stated rules (``eval.report.reading``)."""
    from debias.eval.report.reading import reading

    return reading(data)


# The metrics the headline and the README show, in this order after the primary endpoints: each
# benchmark places its own (eval.tasks.registry).
HEADLINE = headline_metrics()
