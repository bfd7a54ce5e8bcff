"""SPDNetNAS paper figures: search curves, mixing-weight evolution, accuracy bars, data efficiency,
edge-weight histograms (matplotlib Figure objects, no pyplot). Legends sit outside the axes."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..nas import REDUCE_OPS
from .style import legend_outside, palette, style

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
        fig = Figure(figsize=(9.6, 3.2), layout="constrained")
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
        legend_outside(axes[1], fontsize=6)
    return fig


def plot_alpha_evolution(alphas: pd.DataFrame, title: str | None = None):
    """Mixing weight of every op (mean over the cell's edges offering it) per search epoch, normal
    vs reduction cell (reduction ops dashed)."""
    if not isinstance(alphas, pd.DataFrame) or len(alphas) == 0:
        raise ValueError("plot_alpha_evolution: no alpha history")
    with style():
        fig = Figure(figsize=(10.4, 3.2), layout="constrained")
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
            legend_outside(ax, fontsize=6)
        axes[0].set_ylabel("mean edge weight")
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def _clipped_yerr(mean, std) -> np.ndarray:
    """``(2, n)`` lower/upper whisker lengths of ``mean ± std`` clipped to the [0, 100] % range
    (a missing std draws no whisker)."""
    mean = np.asarray(mean, dtype=float)
    std = np.nan_to_num(np.asarray(std, dtype=float), nan=0.0)
    return np.stack([np.minimum(std, mean), np.minimum(std, 100.0 - mean)])


def _seed_counts(seeds) -> tuple[int | None, str]:
    """``(N, label)``: the usual number of seeds behind an error bar (the most common n >= 2) and
    what the error bars are, ``mean ± std over N seeds`` with the actual N."""
    n = [int(k) for k in np.asarray(seeds, dtype=float) if np.isfinite(k)]
    multi = [k for k in n if k >= 2]
    if not n:
        return None, "mean ± std over seeds"
    if not multi:
        return None, "1 seed each: no std"
    usual = max(sorted(set(multi)), key=multi.count)
    other = " (other n on the bar)" if any(k != usual for k in n) else ""
    return usual, f"mean ± std over {usual} seeds{other}"


def _check_percent(table: pd.DataFrame, group: str, who: str) -> pd.Series:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{who}: expected a results table (DataFrame), got {type(table).__name__}")
    need = [c for c in ("dataset", group, "ours_mean") if c not in table.columns]
    if need:
        raise ValueError(f"{who}: table lacks column(s) {need}")
    mean = table["ours_mean"].astype(float)
    if not np.isfinite(mean).any():
        raise ValueError(f"{who}: no finished results to plot")
    bad = mean[np.isfinite(mean) & ((mean < 0) | (mean > 100))]
    if len(bad):
        raise ValueError(f"{who}: ours_mean must be a percentage in [0, 100], got {bad.iloc[0]:g}")
    return mean


def plot_accuracy_bars(table: pd.DataFrame, group: str = "method", paper: bool = True):
    """Our accuracy per dataset and ``group``: bar = mean over the finished seeds, error bar = ± one
    std over them (clipped to [0, 100] %; the legend says over how many seeds), the paper's values as
    black markers. A cell without a finished run is a hatched empty slot reading "not run"."""
    table = table.reset_index(drop=True) if isinstance(table, pd.DataFrame) else table
    mean = _check_percent(table, group, "plot_accuracy_bars")
    std = table["ours_std"].astype(float) if "ours_std" in table else pd.Series(np.nan, index=table.index)
    seeds = table["seeds"].astype(float) if "seeds" in table else pd.Series(np.nan, index=table.index)
    done = np.isfinite(mean)
    datasets = list(dict.fromkeys(table["dataset"]))
    groups = list(dict.fromkeys(table[group]))
    usual, label = _seed_counts(seeds[done])
    with style():
        fig = Figure(figsize=(max(5.0, 2.4 + 0.55 * len(groups) * len(datasets)), 3.4), layout="constrained")
        ax = fig.subplots()
        width = 0.8 / len(groups)
        ex, ey, eerr, gap, paper_mark = [], [], [], None, None
        bars = {}
        for gi, (g, col) in enumerate(zip(groups, palette(len(groups)))):
            for di, ds in enumerate(datasets):
                x = di + (gi - (len(groups) - 1) / 2) * width
                idx = table.index[(table["dataset"] == ds) & (table[group] == g)]
                if paper and "paper_mean" in table and len(idx) and np.isfinite(float(table.at[idx[0], "paper_mean"])):
                    paper_mark = ax.plot([x], [float(table.at[idx[0], "paper_mean"])], "k_", ms=12, mew=2,
                                         zorder=3)[0]
                if len(idx) == 0 or not done[idx[0]]:  # an empty hatched slot, not a missing bar
                    gap = ax.bar(x, 100.0, width, fill=False, hatch="//", edgecolor="0.75", linewidth=0.6,
                                 gid="not run")
                    ax.text(x, 50.0, "not run", rotation=90, ha="center", va="center", fontsize=6, color="0.25",
                            gid="not run", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0})
                    continue
                i = idx[0]
                bars.setdefault(g, ax.bar(x, mean[i], width, color=col))  # the first bar of g: its legend entry
                if np.isfinite(std[i]):
                    ex.append(x), ey.append(mean[i]), eerr.append(std[i])
                if np.isfinite(seeds[i]) and usual is not None and int(seeds[i]) != usual:
                    ax.text(x, 1.5, f"n={int(seeds[i])}", rotation=90, ha="center", va="bottom", fontsize=6,
                            color="white", gid="bar label")
        handles, labels = list(bars.values()), [str(g) for g in bars]
        for h, lab in ((paper_mark, "paper"), (gap, "not run")):
            if h is not None:
                handles.append(h), labels.append(lab)
        if ex:
            handles.append(ax.errorbar(ex, ey, yerr=_clipped_yerr(ey, eerr), fmt="none", ecolor="black",
                                       elinewidth=1.5, capsize=2))
        else:  # single seeds only: no error bars, the legend still says so
            handles.append(Line2D([], [], ls="none"))
        labels.append(label)
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 105)
        legend_outside(ax, handles, labels, fontsize=6)
    return fig


def plot_data_efficiency(table: pd.DataFrame):
    """Accuracy (mean ± std) vs share of the training data, one line per method."""
    t = table[np.isfinite(table["ours_mean"].astype(float))]
    if len(t) == 0:
        raise ValueError("plot_data_efficiency: no finished results to plot")
    methods = list(dict.fromkeys(t["method"]))
    with style():
        fig = Figure(figsize=(5.8, 3.3), layout="constrained")
        ax = fig.subplots()
        for m, col in zip(methods, palette(len(methods))):
            r = t[t["method"] == m].sort_values("fraction")
            ax.errorbar(r["train_share_pct"], r["ours_mean"], yerr=_clipped_yerr(r["ours_mean"], r["ours_std"]),
                        fmt="-o", ms=4, capsize=2, color=col, label=m)
        ax.set_xlabel("training data used (%)")
        ax.set_ylabel(f"test accuracy (%), {_seed_counts(t['seeds'] if 'seeds' in t else [])[1]}")
        legend_outside(ax, fontsize=7)
    return fig


def plot_edge_weight_hist(weights: dict):
    """Distribution of the final mixing weights of all (edge, op) pairs per weighting (paper Fig. 2a):
    one panel per weighting on shared axes, so that no weighting hides another.

    ``weights``: {weighting: 1-d array of weights in [0, 1]}.
    """
    if not isinstance(weights, dict) or not weights:
        raise ValueError("plot_edge_weight_hist: no weights")
    vals = {}
    for w, v in weights.items():
        v = np.asarray(v, dtype=float).ravel()
        if v.size == 0 or not np.isfinite(v).all():
            raise ValueError(f"plot_edge_weight_hist: weights of {w!r} are empty or not finite")
        if v.min() < -1e-6 or v.max() > 1 + 1e-6:
            raise ValueError(f"plot_edge_weight_hist: weights of {w!r} must lie in [0, 1], got "
                             f"[{v.min():g}, {v.max():g}]")
        vals[w] = np.clip(v, 0.0, 1.0)
    with style():
        fig = Figure(figsize=(0.8 + 2.6 * len(vals), 3.2), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(vals), sharex=True, sharey=True, squeeze=False)[0])
        bins = np.linspace(0.0, 1.0, 21)
        for ax, (w, v), col in zip(axes, vals.items(), palette(len(vals))):
            ax.hist(v, bins=bins, color=col, edgecolor="white", linewidth=0.5, label=w,
                    weights=np.full(v.size, 1.0 / v.size))
            ax.set_title(f"{w} ({v.size} pairs)", fontsize=9)
            ax.set_xlabel("edge weight of an op")
        axes[0].set_xlim(0.0, 1.0)
        axes[0].set_ylabel("fraction of (edge, op) pairs")
    return fig
