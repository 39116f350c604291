"""Series plots for the report: each metric against ``step / total_steps``, one thin line per run,
the arm's mean over seeds with its interval, intervention starts and the unbiased value marked."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROLE_COLORS = {"baseline": ["#444444", "#888888"], "control": ["#1f77b4", "#17becf", "#9467bd"],
               "intervention": ["#d62728", "#ff7f0e", "#e377c2"]}


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


def push_png(entry: dict[str, Any], *, dpi: int = 100) -> bytes:
    """Each item's shift (intervention - control log-odds of "she") against its control log-odds,
    coloured by the occupation's stereotype, with the shift a prior push alone gives. Points on
    the curve are what a model that learnt nothing about occupations would show."""
    import numpy as np

    z, shift = np.asarray(entry["z"]), np.asarray(entry["shift"])
    female = np.asarray(entry["female"]).astype(bool)
    predicted = np.asarray(entry["predicted"])
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=dpi)
    ax.scatter(z[female], shift[female], s=9, alpha=0.5, color="#d62728", label="female-stereotyped items")
    ax.scatter(z[~female], shift[~female], s=9, alpha=0.5, color="#1f77b4", label="male-stereotyped items")
    order = np.argsort(z)
    ax.plot(z[order], predicted[order], color="k", lw=2, label="prior push alone: k * sigmoid(-z)")
    ax.axhline(0, color="#999999", lw=0.8, ls=":")
    ax.set_xlabel("control log-odds z = log P(she) - log P(he)")
    ax.set_ylabel("shift of the log-odds")
    ax.set_title(entry["title"], fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
