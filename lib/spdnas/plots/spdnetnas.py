"""SPDNetNAS paper figures: search curves, mixing-weight evolution, accuracy bars, data efficiency,
edge-weight histograms (matplotlib Figure objects, no pyplot)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..nas import REDUCE_OPS
from .style import palette, style

__all__ = ["plot_search_curves", "plot_alpha_evolution", "plot_accuracy_bars", "plot_data_efficiency",
           "plot_edge_weight_hist"]

_TAB20 = matplotlib.colormaps["tab20"]
# ops of the input edges of a reduction cell (drawn dashed); "none" is shared with normal edges
_REDUCTION_OPS = tuple(o for o in REDUCE_OPS if o != "none")


def plot_search_curves(curves: dict):
    """Accuracy and loss per search epoch (train solid, val dashed), one colour per search.

    ``curves``: {label: :func:`search_history` frame}.
    """
    if not curves:
        raise ValueError("plot_search_curves: no curves")
    with style():
        fig = Figure(figsize=(8.0, 3.2), layout="constrained")
        axes = fig.subplots(1, 2)
        for (label, h), col in zip(curves.items(), palette(len(curves))):
            for ax, what in zip(axes, ("acc", "loss")):
                scale = 100.0 if what == "acc" else 1.0
                ax.plot(h["epoch"], scale * h[f"train_{what}"], "-o", color=col, ms=3, label=f"{label} train")
                ax.plot(h["epoch"], scale * h[f"val_{what}"], "--s", color=col, ms=3, label=f"{label} val")
        axes[0].set_ylabel("accuracy (%)")
        axes[1].set_ylabel("cross-entropy")
        for ax in axes:
            ax.set_xlabel("search epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[1].legend(fontsize=6, loc="best")
    return fig


def plot_alpha_evolution(alphas: pd.DataFrame, title: str | None = None):
    """Mixing weight of every op (mean over the cell's edges offering it) per search epoch, normal
    vs reduction cell (reduction ops dashed)."""
    if not isinstance(alphas, pd.DataFrame) or len(alphas) == 0:
        raise ValueError("plot_alpha_evolution: no alpha history")
    with style():
        fig = Figure(figsize=(8.0, 3.2), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, cell in zip(axes, ("normal", "reduce")):
            a = alphas[alphas["cell"] == cell]
            if len(a) == 0:
                ax.set_axis_off()
                continue
            # mean over the edges offering the op (reduction ops: the input edges of a reduce cell)
            m = a.groupby(["epoch", "op"], sort=False)["weight"].mean().reset_index()
            ops = list(dict.fromkeys(a["op"]))
            cols = palette(len(ops)) if len(ops) <= 10 else [_TAB20(i % 20) for i in range(len(ops))]
            for op, col in zip(ops, cols):
                mo = m[m["op"] == op]
                ax.plot(mo["epoch"], mo["weight"], "--o" if op in _REDUCTION_OPS else "-o", ms=3, color=col,
                        label=op)
            ax.set_title(f"{cell} cell", fontsize=9)
            ax.set_xlabel("search epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.legend(fontsize=6, ncol=2, framealpha=0.8)
        axes[0].set_ylabel("mean edge weight")
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def plot_accuracy_bars(table: pd.DataFrame, group: str = "method", paper: bool = True):
    """Our accuracy (mean ± std) per dataset and ``group``, the paper's values as black markers."""
    t = table[np.isfinite(table["ours_mean"].astype(float))] if len(table) else table
    if len(t) == 0:
        raise ValueError("plot_accuracy_bars: no finished results to plot")
    datasets = list(dict.fromkeys(t["dataset"]))
    groups = list(dict.fromkeys(t[group]))
    with style():
        fig = Figure(figsize=(max(4.0, 1.0 + 0.55 * len(groups) * len(datasets)), 3.4), layout="constrained")
        ax = fig.subplots()
        width = 0.8 / len(groups)
        for gi, (g, col) in enumerate(zip(groups, palette(len(groups)))):
            for di, ds in enumerate(datasets):
                r = t[(t["dataset"] == ds) & (t[group] == g)]
                if len(r) == 0:
                    continue
                x = di + (gi - (len(groups) - 1) / 2) * width
                std = float(r["ours_std"].iloc[0]) if np.isfinite(r["ours_std"].iloc[0]) else 0.0
                ax.bar(x, float(r["ours_mean"].iloc[0]), width, yerr=std, color=col, capsize=2,
                       label=g if di == 0 else None)
                if paper and "paper_mean" in r and np.isfinite(r["paper_mean"].iloc[0]):
                    ax.plot([x], [float(r["paper_mean"].iloc[0])], "k_", ms=12, mew=2,
                            label="paper" if (gi, di) == (0, 0) else None)
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 105)
        handles, labels = ax.get_legend_handles_labels()
        if paper and "paper_mean" in t and not any("paper" in lab for lab in labels) \
                and np.isfinite(t["paper_mean"].astype(float)).any():
            ax.plot([], [], "k_", ms=12, mew=2, label="paper")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_data_efficiency(table: pd.DataFrame):
    """Accuracy (mean ± std) vs share of the training data, one line per method."""
    t = table[np.isfinite(table["ours_mean"].astype(float))]
    if len(t) == 0:
        raise ValueError("plot_data_efficiency: no finished results to plot")
    methods = list(dict.fromkeys(t["method"]))
    with style():
        fig = Figure(figsize=(4.6, 3.3), layout="constrained")
        ax = fig.subplots()
        for m, col in zip(methods, palette(len(methods))):
            r = t[t["method"] == m].sort_values("fraction")
            ax.errorbar(r["train_share_pct"], r["ours_mean"], yerr=r["ours_std"].fillna(0.0), fmt="-o", ms=4,
                        capsize=2, color=col, label=m)
        ax.set_xlabel("training data used (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    return fig


def plot_edge_weight_hist(weights: dict):
    """Distribution of the final mixing weights of all (edge, op) pairs per weighting (paper Fig. 2a).

    ``weights``: {weighting: 1-d array of weights}.
    """
    if not weights:
        raise ValueError("plot_edge_weight_hist: no weights")
    with style():
        fig = Figure(figsize=(4.6, 3.3), layout="constrained")
        ax = fig.subplots()
        bins = np.linspace(0.0, 1.0, 21)
        for (w, vals), col in zip(weights.items(), palette(len(weights))):
            v = np.asarray(vals, dtype=float)
            if v.size == 0 or not np.isfinite(v).all():
                raise ValueError(f"plot_edge_weight_hist: weights of {w!r} are empty or not finite")
            ax.hist(v, bins=bins, histtype="step", lw=1.5, color=col, label=w,
                    weights=np.full(v.size, 1.0 / v.size))
        ax.set_xlabel("edge weight of an op")
        ax.set_ylabel("fraction of (edge, op) pairs")
        ax.legend(fontsize=7)
    return fig
