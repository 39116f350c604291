"""The report's figures, each written three ways: a PNG the HTML embeds (200 dpi), a PDF for a
paper, and the CSV of the numbers drawn. Axes carry the metric's title and unit, never its key.

Series: each metric against ``step / total_steps``, one thin line per run, the arm's mean over seeds
with its interval, intervention starts and the unbiased value marked. Forest: each arm minus its
control on the protocol's link endpoint, with its interval and the margin of no change.
"""

from __future__ import annotations

import csv
import io
import textwrap
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROLE_COLORS = {"baseline": ["#444444", "#888888"], "control": ["#1f77b4", "#17becf", "#9467bd"],
               "intervention": ["#d62728", "#ff7f0e", "#e377c2", "#2ca02c", "#8c564b", "#bcbd22", "#9467bd",
                                "#17becf", "#7f7f7f", "#aec7e8"]}


def arm_colors(arms: list[dict[str, Any]]) -> dict[str, str]:
    used: dict[str, int] = {}
    out = {}
    for arm in arms:
        palette = ROLE_COLORS.get(arm["role"], ["#2ca02c", "#bcbd22", "#8c564b"])
        i = used.get(arm["role"], 0)
        out[arm["label"]] = palette[i % len(palette)]
        used[arm["role"]] = i + 1
    return out


@dataclass(frozen=True)
class Figure:
    """One figure as the report writes it: ``png`` (embedded), ``pdf`` (vector) and ``csv`` (its data)."""

    png: bytes
    pdf: bytes
    csv: str


def _encode(fig: Any, rows: list[list[Any]], dpi: int) -> Figure:
    png, pdf = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    fig.savefig(pdf, format="pdf")
    plt.close(fig)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return Figure(png.getvalue(), pdf.getvalue(), text.getvalue())


def _axis_label(metric: dict[str, Any]) -> str:
    return metric.get("unit") or ""


def _x(point: dict[str, Any]) -> float:
    return point["fraction"] if point["fraction"] is not None else point["step"]


def series_figure(name: str, series: dict[str, Any], data: dict[str, Any], *, dpi: int = 200) -> Figure:
    """One metric's series: full training on the left, the intervention tail on the right."""
    colors = arm_colors(data["arms"])
    starts = data.get("intervention_starts") or []
    panels = 2 if starts else 1
    fig, axes = plt.subplots(1, panels, figsize=(11, 3.8), squeeze=False)
    for k, ax in enumerate(axes[0]):
        for run in series["runs"].values():
            pts = run["points"]
            ax.plot([_x(p) for p in pts], [p["value"] for p in pts], color=colors.get(run["arm"], "k"),
                    lw=0.8, alpha=0.35)
        for label, pts in series["arms"].items():
            xs = [_x(p) for p in pts]
            ax.plot(xs, [p["value"] for p in pts], color=colors.get(label, "k"), lw=2, marker="o", ms=3,
                    label=f"{label} (n={pts[0]['n_models']})" if pts else label)
            ax.fill_between(xs, [p["low"] for p in pts], [p["high"] for p in pts], color=colors.get(label, "k"),
                            alpha=0.15, lw=0)
        for s in starts:
            ax.axvline(s, color="#555555", ls="--", lw=1)
        if series.get("null") is not None:
            ax.axhline(series["null"], color="#999999", ls=":", lw=1)
        ax.set_xlabel("training progress (step / total steps)", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.3)
        if k == 1:
            ax.set_xlim(max(0.0, min(starts) - 0.05), 1.005)
            ax.set_title("intervention tail", fontsize=10)
        else:
            ax.set_title("whole run" + (" (dashed: intervention start)" if starts else ""), fontsize=10)
    metric = data["metrics"].get(name, {})
    axes[0][0].set_ylabel(_axis_label(metric), fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(textwrap.fill(series["label"], 110), fontsize=11)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.12 if handles else 0, 1, 0.94))
    rows: list[list[Any]] = [["curve", "kind", "step", "fraction", "value", "low", "high", "n_models"]]
    for label, pts in series["arms"].items():
        rows += [[label, "arm mean", p["step"], p["fraction"], p["value"], p["low"], p["high"], p["n_models"]] for p in pts]
    for run_name, run in series["runs"].items():
        rows += [[run_name, "run", p["step"], p["fraction"], p["value"], p["low"], p["high"], 1] for p in run["points"]]
    return _encode(fig, rows, dpi)


def forest_figure(data: dict[str, Any], *, dpi: int = 200) -> Figure | None:
    """Each rewritten arm minus its control on the protocol's link endpoint, with its interval:
    arms with a known answer marked by it, the margin of "no change" shaded."""
    link = data["protocol"]["link"]
    rows = [(c["b"], c.get("expect"), next((r for r in c["rows"] if r["metric"] == link), None))
            for c in data["comparisons"] if c.get("a_role") == "control"]
    rows = [(name, expect, r) for name, expect, r in rows if r is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.6))
    colors = {"weaker": "#d62728", "unchanged": "#1f77b4", None: "#444444"}
    for k, (_name, expect, r) in enumerate(reversed(rows)):
        ax.errorbar(r["diff"], k, xerr=[[r["diff"] - r["low"]], [r["high"] - r["diff"]]], fmt="o",
                    color=colors.get(expect, "#444444"), capsize=3)
    ax.set_yticks(range(len(rows)), [f"{n}" + (f"  (must: {e})" if e else "") for n, e, _ in reversed(rows)],
                  fontsize=9)
    ax.axvline(0, color="#999999", lw=1)
    margin = next((m["value"] for m in data["protocol"]["margins"] if m["metric"] == link and not m["relative"]), None)
    shaded = ""
    if margin:
        ax.axvspan(-margin, margin, color="#cccccc", alpha=0.4, lw=0)
        shaded = f"; shaded: the protocol's margin of no change, ±{margin:g}"
    ax.set_title(textwrap.fill(data["metrics"][link]["label"], 70), fontsize=10)
    unit = _axis_label(data["metrics"][link])
    ax.set_xlabel(textwrap.fill(f"arm - control ({unit}), {round(100 * data['confidence'])}% interval{shaded}", 80),
                  fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    table: list[list[Any]] = [["arm", "must show", "difference", "low", "high", "Holm p"]]
    table += [[name, expect or "", r["diff"], r["low"], r["high"], r.get("p_adjusted")] for name, expect, r in rows]
    return _encode(fig, table, dpi)
