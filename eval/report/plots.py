"""Series plots for the report: each metric against ``step / total_steps``, one thin line per run,
the arm's mean over seeds with its interval, intervention starts and the unbiased value marked."""

from __future__ import annotations

import io
import textwrap
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


def _x(point: dict[str, Any]) -> float:
    return point["fraction"] if point["fraction"] is not None else point["step"]


def series_png(name: str, series: dict[str, Any], data: dict[str, Any], *, dpi: int = 100) -> bytes:
    """PNG of one metric's series: full training on the left, the intervention tail on the right."""
    colors = arm_colors(data["arms"])
    starts = data.get("intervention_starts") or []
    panels = 2 if starts else 1
    fig, axes = plt.subplots(1, panels, figsize=(11, 3.4), dpi=dpi, squeeze=False)
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
        ax.set_xlabel("training progress (step / total steps)")
        ax.grid(alpha=0.3)
        if k == 1:
            ax.set_xlim(max(0.0, min(starts) - 0.05), 1.005)
            ax.set_title("intervention tail", fontsize=9)
        else:
            ax.set_title("whole run" + (" (dashed: intervention start)" if starts else ""), fontsize=9)
    axes[0][0].set_ylabel(name, fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(series["label"], fontsize=10)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1 if handles else 0, 1, 0.95))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def forest_png(data: dict[str, Any], *, dpi: int = 100) -> bytes | None:
    """Each rewritten arm minus its control on the protocol's link endpoint, with its interval:
    arms with a known answer marked by it, the margin of "no change" shaded."""
    link = data["protocol"]["link"]
    rows = [(c["b"], c.get("expect"), next((r for r in c["rows"] if r["metric"] == link), None))
            for c in data["comparisons"] if c.get("a_role") == "control"]
    rows = [(name, expect, r) for name, expect, r in rows if r is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.4), dpi=dpi)
    colors = {"weaker": "#d62728", "unchanged": "#1f77b4", None: "#444444"}
    for k, (_name, expect, r) in enumerate(reversed(rows)):
        ax.errorbar(r["diff"], k, xerr=[[r["diff"] - r["low"]], [r["high"] - r["diff"]]], fmt="o",
                    color=colors.get(expect, "#444444"), capsize=3)
    ax.set_yticks(range(len(rows)), [f"{n}" + (f"  (must: {e})" if e else "") for n, e, _ in reversed(rows)],
                  fontsize=8)
    ax.axvline(0, color="#999999", lw=1)
    margin = next((m["value"] for m in data["protocol"]["margins"] if m["metric"] == link and not m["relative"]), None)
    shaded = ""
    if margin:
        ax.axvspan(-margin, margin, color="#cccccc", alpha=0.4, lw=0)
        shaded = f"; shaded: the protocol's margin of no change, ±{margin:g}"
    ax.set_title(textwrap.fill(data["metrics"][link]["label"], 70), fontsize=9)
    ax.set_xlabel(f"arm - control, {round(100 * data['confidence'])}% interval{shaded}", fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
