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

from debias.core.atomic import write_text
from debias.core.errors import exits_on_error
from debias.core.input_errors import InputError
from eval.report.content import HEADLINE, fmt, supported

START, END = "<!-- results:start -->", "<!-- results:end -->"


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
        header = ["metric", pairs[0]["a"].split(" (")[0] + " (value)"] + [c["b"] + " - " + c["a"] for c in pairs]
        lines += ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
        by_metric = [{r["metric"]: r for r in c["rows"]} for c in pairs]
        primary = set(data.get("primary", []))
        names = [n for n in HEADLINE if any(n in rows for rows in by_metric)]
        names.sort(key=lambda n: n not in primary)
        for name in names:
            spec = data["metrics"][name]["fmt"]
            label = data["metrics"][name]["label"]
            first = next(rows[name] for rows in by_metric if name in rows)
            cells = [f"**{label}** (primary)" if name in primary else label,
                     "-" if first["part"] == "residual" else fmt(first["a"], spec)]
            for rows in by_metric:
                r = rows.get(name)
                if r is None:
                    cells.append("-")
                    continue
                mark = " \u2020" if supported(r, data["confidence"]) else ""
                cells.append(f"{fmt(r['diff'], spec, True)} [{fmt(r['low'], spec, True)}, "
                             f"{fmt(r['high'], spec, True)}]{mark}")
            lines.append("| " + " | ".join(cells) + " |")
        method = pairs[0]["rows"][0]["method"] if pairs[0]["rows"] else ""
        lines += ["", f"Final checkpoints; each cell is arm - control, the mean over seeds with its {pct}% interval "
                  f"({method}); \u2020 Holm-adjusted p < {1 - data['confidence']:.2f} (Holm over the primary endpoints, "
                  "and apart over the rest of each comparison). Residual = observed association change minus what "
                  "a prior push alone predicts; placebo and sham arms leave the occupation link untouched by "
                  "construction, so what they show is what the analysis shows without a real change.", ""]
        lines += _controls_lines(data, pairs)
    swaps = _swap_lines(data)
    if swaps:
        lines += ["Words the rewrites swapped (from each run's manifest, summed over seeds):", "", *swaps, ""]
    return "\n".join(lines).rstrip() + "\n"


def _controls_lines(data: dict[str, Any], pairs: list[dict[str, Any]]) -> list[str]:
    """For the arms that change no link (placebo, sham): how many bias metrics the analysis calls changed."""
    out = []
    for comp in pairs:
        if not any(word in comp["b"] for word in ("placebo", "sham")):
            continue
        bias = [r for r in comp["rows"] if r["kind"] == "bias" and r["part"] in ("association", "residual", "rank")]
        called = [r["label"] for r in bias if supported(r, data["confidence"])]
        out.append(f"- {comp['b']}: {len(called)} of {len(bias)} association, rank and residual metrics supported "
                   f"as changed{': ' + '; '.join(called) if called else ''}.")
    return ["Arms that leave the occupation link as it was, analysed like the intervention:", "", *out, ""] if out else []


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
        raise InputError(readme, f"no {START} ... {END} markers", "add them where the results belong")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    write_text(readme, f"{head}{START}\n{results_markdown(Path(report_dir))}{END}{tail}")


@exits_on_error("eval.report.readme")
def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m eval.report.readme <report dir> <README.md>", file=sys.stderr)
        return 2
    update_readme(argv[0], argv[1])
    print(f"updated {argv[1]} from {argv[0]}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
