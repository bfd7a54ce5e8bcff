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


# classical floors (rows with kind "floor"): one dash pattern each, in near-black
_FLOOR_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))


def _floor_rows(table: pd.DataFrame) -> pd.Series:
    """Rows that are classical floors (``kind == "floor"``), not networks."""
    return table["kind"].eq("floor") if "kind" in table else pd.Series(False, index=table.index)


def _floor_name(table: pd.DataFrame, i, group: str) -> str:
    return str(table.at[i, "method"] if "method" in table else table.at[i, group])


def _draw_floors(ax, table: pd.DataFrame, group: str, datasets: list) -> dict:
    """Dashed horizontal lines across each dataset's slots at the floors' accuracy; {label: line}."""
    handles = {}
    floors = table[_floor_rows(table) & np.isfinite(table["ours_mean"].astype(float))]
    names = list(dict.fromkeys(_floor_name(table, i, group) for i in floors.index))
    for i in floors.index:
        name = _floor_name(table, i, group)
        di = datasets.index(table.at[i, "dataset"])
        line = ax.plot([di - 0.45, di + 0.45], [float(table.at[i, "ours_mean"])] * 2, color="0.1", lw=1.4,
                       ls=_FLOOR_STYLES[names.index(name) % len(_FLOOR_STYLES)], zorder=3.5, gid="floor")[0]
        handles.setdefault(f"floor: {name}", line)
    return handles


def _draw_paper(ax, xs, means, stds):
    """The paper's mean ± std as white diamonds with black error bars (gid "paper")."""
    c = ax.errorbar(xs, means, yerr=_clipped_yerr(means, stds), fmt="D", ms=4.5, mfc="white", mec="black",
                    mew=1.2, ecolor="black", elinewidth=1.2, capsize=2.5, zorder=4)
    for art in (c.lines[0], *c.lines[1], *c.lines[2]):
        art.set_gid("paper")
    return c


def plot_accuracy_bars(table: pd.DataFrame, group: str = "method", paper: bool = True):
    """Our accuracy per dataset and ``group``: bar = mean over the finished seeds, error bar = ± one
    std over them (clipped to [0, 100] %; the legend says over how many seeds). Beside each bar the
    paper's mean ± std (``paper_mean``/``paper_std``, white diamond with error bar), and rows with
    ``kind == "floor"`` (classical floors) as dashed lines across their dataset. A cell without a
    finished run is a hatched empty slot reading "not run"."""
    table = table.reset_index(drop=True) if isinstance(table, pd.DataFrame) else table
    _check_percent(table, group, "plot_accuracy_bars")
    floor = _floor_rows(table)
    nets = table[~floor]
    mean = nets["ours_mean"].astype(float)
    std = nets["ours_std"].astype(float) if "ours_std" in nets else pd.Series(np.nan, index=nets.index)
    seeds = nets["seeds"].astype(float) if "seeds" in nets else pd.Series(np.nan, index=nets.index)
    done = np.isfinite(mean)
    pmean = nets["paper_mean"].astype(float) if paper and "paper_mean" in nets else pd.Series(np.nan, index=nets.index)
    pstd = nets["paper_std"].astype(float) if "paper_std" in nets else pd.Series(np.nan, index=nets.index)
    with_paper = bool(np.isfinite(pmean).any())
    datasets = list(dict.fromkeys(table["dataset"]))
    groups = list(dict.fromkeys(nets[group]))
    usual, label = _seed_counts(seeds[done])
    with style():
        fig = Figure(figsize=(max(5.0, 2.4 + 0.55 * max(1, len(groups)) * len(datasets)), 3.4), layout="constrained")
        ax = fig.subplots()
        width = 0.8 / max(1, len(groups))
        # with paper values: our bar on the left 60 % of the slot, the paper's marker on the right
        bar_w, bar_dx, paper_dx = (0.6 * width, -0.2 * width, 0.3 * width) if with_paper else (width, 0.0, 0.0)
        ex, ey, eerr, gap, px, py, ps = [], [], [], None, [], [], []
        bars = {}
        for gi, (g, col) in enumerate(zip(groups, palette(len(groups)))):
            for di, ds in enumerate(datasets):
                x = di + (gi - (len(groups) - 1) / 2) * width
                idx = nets.index[(nets["dataset"] == ds) & (nets[group] == g)]
                if len(idx) and np.isfinite(pmean[idx[0]]):
                    px.append(x + paper_dx), py.append(pmean[idx[0]]), ps.append(pstd[idx[0]])
                if len(idx) == 0 or not done[idx[0]]:  # an empty hatched slot, not a missing bar
                    gap = ax.bar(x, 100.0, width, fill=False, hatch="//", edgecolor="0.75", linewidth=0.6,
                                 gid="not run")
                    ax.text(x, 50.0, "not run", rotation=90, ha="center", va="center", fontsize=6, color="0.25",
                            gid="not run", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0})
                    continue
                i = idx[0]
                xb = x + bar_dx
                bars.setdefault(g, ax.bar(xb, mean[i], bar_w, color=col))  # the first bar of g: its legend entry
                if np.isfinite(std[i]):
                    ex.append(xb), ey.append(mean[i]), eerr.append(std[i])
                if np.isfinite(seeds[i]) and usual is not None and int(seeds[i]) != usual:
                    ax.text(xb, 1.5, f"n={int(seeds[i])}", rotation=90, ha="center", va="bottom", fontsize=6,
                            color="white", gid="bar label")
        handles, labels = list(bars.values()), [str(g) for g in bars]
        floors = _draw_floors(ax, table, group, datasets)
        handles += list(floors.values())
        labels += list(floors)
        if px:
            handles.append(_draw_paper(ax, px, py, ps))
            labels.append("paper (mean ± std)")
        if gap is not None:
            handles.append(gap), labels.append("not run")
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
    """Accuracy (mean ± std) vs share of the training data, one line per method; rows with
    ``kind == "floor"`` (classical floors) dashed in near-black."""
    t = table[np.isfinite(table["ours_mean"].astype(float))]
    if len(t) == 0:
        raise ValueError("plot_data_efficiency: no finished results to plot")
    floor = _floor_rows(t)
    nets, floors = t[~floor], t[floor]
    methods = list(dict.fromkeys(nets["method"]))
    with style():
        fig = Figure(figsize=(5.8, 3.3), layout="constrained")
        ax = fig.subplots()
        for m, col in zip(methods, palette(len(methods))):
            r = nets[nets["method"] == m].sort_values("fraction")
            ax.errorbar(r["train_share_pct"], r["ours_mean"], yerr=_clipped_yerr(r["ours_mean"], r["ours_std"]),
                        fmt="-o", ms=4, capsize=2, color=col, label=m)
        for k, m in enumerate(dict.fromkeys(floors["method"])):
            r = floors[floors["method"] == m].sort_values("fraction")
            ls = _FLOOR_STYLES[k % len(_FLOOR_STYLES)]
            if len(r) == 1:  # fitted on one share only: a level line, the label says which share
                ax.axhline(float(r["ours_mean"].iloc[0]), color="0.1", lw=1.2, ls=ls, gid="floor",
                           label=f"floor: {m} ({r['train_share_pct'].iloc[0]:g} % of train)")
            else:
                ax.plot(r["train_share_pct"], r["ours_mean"], color="0.1", lw=1.2, ls=ls, marker=".", gid="floor",
                        label=f"floor: {m}")
        ax.set_xlabel("training data used (%)")
        ax.set_ylabel(f"test accuracy (%), {_seed_counts(nets['seeds'] if 'seeds' in nets else [])[1]}")
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
