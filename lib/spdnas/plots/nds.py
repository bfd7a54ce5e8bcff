"""Design-space figures of Radosavovic et al. (NDS): error EDFs, complexity EDFs, RSE, KS vs sample size.

Every legend sits right of its axes (:func:`.style.legend_outside`), never on the data.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import analysis as A
from .style import check_frame, integer_x, legend_outside, log_x, new_figure, palette, step_post, style


def _space_edfs(df, by, bins, lo, hi, log_bins, space_col):
    """Per-space ``(values, weights)`` for plain or complexity-normalised error EDFs."""
    out = {}
    if by is None:
        for name, g in df.groupby(space_col, sort=True):
            out[name] = (g["error"].to_numpy(np.float64), None, None)
        return out
    nd = A.normalize_spaces(df, by=by, bins=bins, lo=lo, hi=hi, log_bins=log_bins, space_col=space_col)
    for name, g in nd.groupby(space_col, sort=True):
        out[name] = (g["error"].to_numpy(np.float64), g["weight"].to_numpy(), g["bin"].to_numpy())
    return out


def _draw_edfs(ax, df, by, bins, lo, hi, log_bins, space_col, band, n_boot, seed, legend=True):
    data = _space_edfs(df, by, bins, lo, hi, log_bins, space_col)
    cols = palette(len(data))
    for c, (name, (e, w, strata)) in zip(cols, data.items()):
        x, f = A.edf(e, w, side="right")
        x = np.concatenate([[x[0]], x])
        f = np.concatenate([[0.0], f])
        step_post(ax, x, f, color=c, label=str(name))
        if band:
            grid = np.linspace(e.min(), e.max(), 200)
            b = A.bootstrap_edf(e, w, grid, n_boot=n_boot, strata=strata, seed=seed)
            ax.fill_between(b.x, b.lower, b.upper, color=c, alpha=0.2, linewidth=0, step="post")
    ax.set_xlabel("error" if by is None else f"error | {by}")
    ax.set_ylabel("cumulative prob.")
    ax.set_ylim(-0.02, 1.02)
    if legend:
        legend_outside(ax)


def plot_edfs(df, by: str | None = None, bins: int = 10, lo=None, hi=None, log_bins: bool = False,
              space_col: str = "space", band: bool = False, n_boot: int = 200, seed=0,
              xlim=None) -> Figure:
    """Error EDF of each space; ``by='params'|'flops'`` normalises on the common complexity range.

    ``band=True`` adds a 95% bootstrap band (stratified by complexity bin when normalised).
    """
    check_frame(df, ["error", space_col] + ([by] if by else []))
    with style():
        fig, (ax,) = new_figure(w=5.2)
        _draw_edfs(ax, df, by, bins, lo, hi, log_bins, space_col, band, n_boot, seed)
        if xlim is not None:
            ax.set_xlim(*xlim)
    return fig


def plot_edf_comparison(df, bins: int = 10, metrics=("params", "flops"), log_bins: bool = False,
                        space_col: str = "space", xlim=None) -> Figure:
    """Unnormalised vs params- vs flops-normalised error EDFs side by side (NDS Fig. 3)."""
    check_frame(df, ["error", space_col, *metrics])
    with style():
        fig, axes = new_figure(ncols=1 + len(metrics), w=3.8)
        for i, (ax, by) in enumerate(zip(axes, (None, *metrics))):  # one legend: right of the last panel
            _draw_edfs(ax, df, by, bins, None, None, log_bins, space_col, False, 0, 0, legend=i == len(metrics))
            if xlim is not None:
                ax.set_xlim(*xlim)
    return fig


def plot_complexity_edfs(df, metrics=("params", "flops"), normalized: bool = False, bins: int = 10,
                         log_bins: bool = False, space_col: str = "space", logx: bool = True) -> Figure:
    """Complexity EDFs per space; ``normalized=True`` uses the normalisation weights (they agree
    across spaces at every bin edge, the check that normalisation worked)."""
    check_frame(df, [space_col, *metrics])
    with style():
        fig, axes = new_figure(ncols=len(metrics), w=4.2)
        for ax, by in zip(axes, metrics):
            if normalized:
                nd = A.normalize_spaces(df, by=by, bins=bins, log_bins=log_bins, space_col=space_col)
                groups = {k: (g[by].to_numpy(np.float64), g["weight"].to_numpy()) for k, g in
                          nd.groupby(space_col, sort=True)}
            else:
                groups = {k: (g[by].to_numpy(np.float64), None) for k, g in df.groupby(space_col, sort=True)}
            for c, (name, (v, w)) in zip(palette(len(groups)), groups.items()):
                x, f = A.edf(v, w, side="right")
                step_post(ax, np.concatenate([[x[0]], x]), np.concatenate([[0.0], f]), color=c, label=str(name))
            if logx:
                log_x(ax)
            ax.set_xlabel(by + (" (normalised)" if normalized else ""))
            ax.set_ylabel("cumulative prob.")
        legend_outside(axes[-1])
    return fig


def plot_error_vs_complexity(df, by: str = "params", space_col: str = "space", max_points: int = 5000,
                             seed=0, logx: bool = True, alpha: float = 0.15) -> Figure:
    """Scatter of error vs complexity per space (at most ``max_points`` random models each)."""
    check_frame(df, ["error", by, space_col])
    rng = np.random.default_rng(seed)
    with style():
        fig, (ax,) = new_figure(w=5.6)
        groups = list(df.groupby(space_col, sort=True))
        for c, (name, g) in zip(palette(len(groups)), groups):
            if len(g) > max_points:
                g = g.iloc[np.sort(rng.choice(len(g), max_points, replace=False))]
            ax.scatter(g[by], g["error"], s=6, color=c, alpha=alpha, label=str(name),
                       rasterized=True, linewidths=0)
        if logx:
            log_x(ax)
        ax.set_xlabel(by)
        ax.set_ylabel("error (%)")
        leg = legend_outside(ax, markerscale=2)
        for h in leg.legend_handles:
            h.set_alpha(1)
    return fig


def _as_dict(results, kind):
    if isinstance(results, dict):
        if not results:
            raise ValueError(f"no {kind} to plot")
        return results
    return {"": results}


def plot_rse(curves, ylabel: str = "min error (%)") -> Figure:
    """Random-search efficiency: ``{name: RSEResult | Band}``; bands are ``mean +- 2 std`` for
    :class:`RSEResult` and the bootstrap interval for :class:`Band`. x axis: log2 experiment size."""
    curves = _as_dict(curves, "curves")
    with style():
        fig, (ax,) = new_figure(w=4.0 + 1.8 * any(curves))
        for c, (name, r) in zip(palette(len(curves)), curves.items()):
            if isinstance(r, A.RSEResult):
                x, y, lo, hi = r.k, r.mean, r.lower, r.upper
            elif isinstance(r, A.Band):
                x, y, lo, hi = r.x, r.y, r.lower, r.upper
            else:
                raise ValueError(f"curve {name!r}: expected RSEResult or Band, got {type(r).__name__}")
            lx = np.log2(np.asarray(x, dtype=np.float64))
            ax.plot(lx, y, marker="o", ms=3, color=c, label=str(name) or None)
            ax.fill_between(lx, lo, hi, color=c, alpha=0.15, linewidth=0)
        ax.set_xlabel("experiment size (log2)")
        integer_x(ax)
        ax.set_ylabel(ylabel)
        if any(curves):
            legend_outside(ax)
    return fig


def plot_ks_sample_size(results, fit_range=None) -> Figure:
    """Mean KS statistic vs sample size (log2), ``+-`` one std, with a dashed ``c/sqrt(k)`` fit."""
    results = _as_dict(results, "results")
    with style():
        fig, (ax,) = new_figure(w=5.8)
        for c, (name, r) in zip(palette(len(results)), results.items()):
            if not isinstance(r, A.SampleSizeResult):
                raise ValueError(f"result {name!r}: expected SampleSizeResult, got {type(r).__name__}")
            lx = np.log2(r.sizes.astype(np.float64))
            ax.plot(lx, r.mean, color=c, marker="o", ms=3, label=str(name) or None)
            ax.fill_between(lx, r.mean - r.std, r.mean + r.std, color=c, alpha=0.15, linewidth=0)
            kmin, kmax = fit_range or (r.sizes.min(), max(r.sizes.min() + 1, r.sizes.max() // 16))
            slope, amp = A.decay_slope(r.sizes, r.mean, kmin, kmax)
            ax.plot(lx, amp * r.sizes.astype(np.float64) ** slope, color=c, ls="--", lw=1,
                    label=f"{name + ': ' if name else ''}fit k^{slope:.2f}")
        ax.axhline(0, color="0.5", lw=1)
        ax.set_xlabel("sample size (log2)")
        integer_x(ax)
        ax.set_ylabel("KS statistic (D)")
        legend_outside(ax)
    return fig


def plot_point_estimate(result, bins: int = 29) -> Figure:
    """Histogram of ``min error(B) - min error(M)`` over trials (NDS Fig. 2 right).

    The probabilities are the title of the legend, right of the axes (not written on the bars).
    """
    if not isinstance(result, A.PointEstimateResult):
        raise ValueError(f"expected PointEstimateResult, got {type(result).__name__}")
    with style():
        fig, (ax,) = new_figure(w=6.0)
        ax.hist(result.diff, bins=bins, color=palette(1)[0], alpha=0.85, label=f"{result.trials} trials")
        ax.axvline(0, color=palette(4)[3], ls="--", lw=2, label="equal min error")
        ax.set_xlabel(f"min error(B={result.b}) - min error(M={result.m})")
        ax.set_ylabel("number of trials")
        legend_outside(ax, title=f"P(M better) = {result.p_m_better:.3f}\nM/(B+M) = {result.p_iid:.3f}",
                       alignment="left")
    return fig


