"""The README's results section, generated from a report's ``results.json`` (never typed by hand).

    python -m eval.report.readme runs/report/mini-0.5m-synthetic README.md   # `make readme-results`

Replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in the README
with a table per intervention (against its control), the swap counts, and where and how the
numbers were made (``study.json``, written by the study beside the report).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from debias.atomic import write_text
from eval.report.content import fmt

START, END = "<!-- results:start -->", "<!-- results:end -->"
ROWS = (
    "winobias/prior", "winobias/association", "synthetic/prior", "synthetic/association",
    "winogender/prior", "winogender/association", "winobias_coref/net_bias", "winobias/pref_pro",
    "crows_pairs_gender/pct_stereotype", "heldout/ppl_token", "lambada/acc",
)


def results_markdown(report_dir: Path) -> str:
    data = json.loads((report_dir / "results.json").read_text())
    study_file = report_dir / "study.json"
    study = json.loads(study_file.read_text()) if study_file.is_file() else {}
    pct = round(100 * data["confidence"])
    pairs = [c for c in data["comparisons"] if " - control" in c["title"]]
    lines = ["## Results of `make demo`", ""]
    if study:
        finished = (study.get("invocations") or [{}])[-1].get("finished", data["generated"])
        lines += [f"Made by `{study.get('command', 'make demo')}` on {study.get('machine', 'an unnamed machine')}, "
                  f"{finished[:10]}, in {study.get('minutes_of_work', float('nan')):.0f} min: "
                  f"{len(study.get('seeds', []))} pretraining seeds of `{study.get('model')}` on `{study.get('data')}`, "
                  f"each resumed as {', '.join(study.get('arms', []))}. Regenerate this section with "
                  f"`make readme-results` after `make demo`; the full report is `{report_dir / 'report.html'}`.", ""]
    if pairs:
        header = ["metric"]
        for c in pairs:
            header += [c["a"], c["b"], f"difference [{pct}% CI]"]
        lines += ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
        by_metric = [{r["metric"]: r for r in c["rows"]} for c in pairs]
        for name in ROWS:
            if not all(name in rows for rows in by_metric):
                continue
            spec = data["metrics"][name]["fmt"]
            cells = [data["metrics"][name]["label"]]
            for rows in by_metric:
                r = rows[name]
                star = " *" if r["significant"] else ""
                cells += [fmt(r["a"], spec), fmt(r["b"], spec),
                          f"{fmt(r['diff'], spec, True)} [{fmt(r['low'], spec, True)}, {fmt(r['high'], spec, True)}]{star}"]
            lines.append("| " + " | ".join(cells) + " |")
        method = pairs[0]["rows"][0]["method"] if pairs[0]["rows"] else ""
        lines += ["", f"Final checkpoints, mean over seeds; difference = intervention - control ({method}); "
                  f"* the {pct}% interval excludes 0. Prior = mean log P(she) - log P(he); association = that "
                  "log-odds on female- minus male-stereotyped items (WinoGender: its correlation with the share "
                  "of women in the occupation).", ""]
    swaps = _swap_lines(data)
    if swaps:
        lines += ["Pronouns the rewrite swapped (from each run's manifest, summed over seeds):", "", *swaps, ""]
    for nc in data.get("null_checks", []):
        s = nc["summary"]
        lines.append(f"Null check ({nc['arm']}, seeds {nc['seeds_a']} vs {nc['seeds_b']}, no intervention in "
                     f"either): the two-level analysis calls {sum(v['two_level_significant'] for v in s.values())} "
                     f"of {len(s)} bias metrics different; per-item tests of single models call "
                     f"{sum(v['single_significant'] for v in s.values())} of "
                     f"{sum(v['single_compared'] for v in s.values())} comparisons different.")
    return "\n".join(lines).rstrip() + "\n"


def _swap_lines(data: dict[str, Any]) -> list[str]:
    totals: dict[str, dict[str, Any]] = {}
    for run in data["runs"]:
        man = run.get("manifest")
        if not man or run.get("role") != "intervention":
            continue
        t = totals.setdefault(run["arm"], {"seen": 0, "swapped": 0, "left": 0, "why": {}})
        for key in ("seen", "swapped", "left"):
            t[key] += int(man.get(key) or 0)
        for reason, n in (man.get("left_by_reason") or {}).items():
            t["why"][reason] = t["why"].get(reason, 0) + n
    lines = []
    for arm, t in totals.items():
        why = ", ".join(f"{reason} {n:,}" for reason, n in sorted(t["why"].items(), key=lambda kv: -kv[1]))
        lines.append(f"- {arm}: {t['swapped']:,} of {t['seen']:,} swapped, {t['left']:,} left "
                     f"({100 * t['left'] / max(1, t['seen']):.2f}%{': ' + why if why else ''})")
    return lines


def update_readme(report_dir: str | Path, readme: str | Path) -> None:
    readme = Path(readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme}: no {START} ... {END} markers; add them where the results belong")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    write_text(readme, f"{head}{START}\n{results_markdown(Path(report_dir))}{END}{tail}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m eval.report.readme <report dir> <README.md>", file=sys.stderr)
        return 2
    update_readme(argv[0], argv[1])
    print(f"updated {argv[1]} from {argv[0]}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
