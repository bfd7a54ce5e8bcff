"""Figures for design-space analysis in one consistent seaborn style (pycls/NDS-like).

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` built without pyplot (no
global figure state; notebooks still display it). :func:`save_figure` writes PDF + PNG
atomically with deterministic bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from spdnas import analysis as A
from spdnas.paths import atomic_write_bytes

_RC = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.4,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "svg.hashsalt": "spdnas",
}
_LABELS = {"params": "params", "flops": "flops", "error": "error (%)"}


@contextlib.contextmanager
def style(context: str = "paper", font_scale: float = 1.2):
    """Context manager applying the workbench plot style (seaborn whitegrid + colorblind)."""
    with sns.axes_style("whitegrid"), sns.plotting_context(context, font_scale=font_scale), \
            mpl.rc_context(_RC):
        with sns.color_palette("colorblind"):
            yield


def palette(n: int) -> list:
    """``n`` colours of the workbench palette."""
    return sns.color_palette("colorblind", max(1, int(n)))


def _figure(ncols: int = 1, nrows: int = 1, w: float = 4.0, h: float = 3.2):
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def _check_df(df, cols) -> None:
    if not isinstance(df, pd.DataFrame) or len(df) == 0:
        raise ValueError("expected a non-empty population DataFrame")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"population lacks column(s) {missing}")


def _logx(ax):
    """Log x axis; minor ticks at 2x and 5x only, so their labels (short ranges) do not overlap."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(mpl.ticker.LogLocator(subs=(2.0, 5.0)))


def _int_x(ax):
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))


def _step(ax, x, y, **kw):
    ax.step(x, y, where="post", **kw)


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


def _draw_edfs(ax, df, by, bins, lo, hi, log_bins, space_col, band, n_boot, seed):
    data = _space_edfs(df, by, bins, lo, hi, log_bins, space_col)
    cols = palette(len(data))
    for c, (name, (e, w, strata)) in zip(cols, data.items()):
        x, f = A.edf(e, w, side="right")
        x = np.concatenate([[x[0]], x])
        f = np.concatenate([[0.0], f])
        _step(ax, x, f, color=c, label=str(name))
        if band:
            grid = np.linspace(e.min(), e.max(), 200)
            b = A.bootstrap_edf(e, w, grid, n_boot=n_boot, strata=strata, seed=seed)
            ax.fill_between(b.x, b.lower, b.upper, color=c, alpha=0.2, linewidth=0, step="post")
    ax.set_xlabel("error" if by is None else f"error | {by}")
    ax.set_ylabel("cumulative prob.")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right")


def plot_edfs(df, by: str | None = None, bins: int = 10, lo=None, hi=None, log_bins: bool = False,
              space_col: str = "space", band: bool = False, n_boot: int = 200, seed=0,
              xlim=None) -> Figure:
    """Error EDF of each space; ``by='params'|'flops'`` normalises on the common complexity range.

    ``band=True`` adds a 95% bootstrap band (stratified by complexity bin when normalised).
    """
    _check_df(df, ["error", space_col] + ([by] if by else []))
    with style():
        fig, (ax,) = _figure()
        _draw_edfs(ax, df, by, bins, lo, hi, log_bins, space_col, band, n_boot, seed)
        if xlim is not None:
            ax.set_xlim(*xlim)
    return fig


def plot_edf_comparison(df, bins: int = 10, metrics=("params", "flops"), log_bins: bool = False,
                        space_col: str = "space", xlim=None) -> Figure:
    """Unnormalised vs params- vs flops-normalised error EDFs side by side (NDS Fig. 3)."""
    _check_df(df, ["error", space_col, *metrics])
    with style():
        fig, axes = _figure(ncols=1 + len(metrics), w=3.4)
        for ax, by in zip(axes, (None, *metrics)):
            _draw_edfs(ax, df, by, bins, None, None, log_bins, space_col, False, 0, 0)
            if xlim is not None:
                ax.set_xlim(*xlim)
    return fig


def plot_complexity_edfs(df, metrics=("params", "flops"), normalized: bool = False, bins: int = 10,
                         log_bins: bool = False, space_col: str = "space", logx: bool = True) -> Figure:
    """Complexity EDFs per space; ``normalized=True`` uses the normalisation weights (they agree
    across spaces at every bin edge, the check that normalisation worked)."""
    _check_df(df, [space_col, *metrics])
    with style():
        fig, axes = _figure(ncols=len(metrics), w=3.8)
        for ax, by in zip(axes, metrics):
            if normalized:
                nd = A.normalize_spaces(df, by=by, bins=bins, log_bins=log_bins, space_col=space_col)
                groups = {k: (g[by].to_numpy(np.float64), g["weight"].to_numpy()) for k, g in
                          nd.groupby(space_col, sort=True)}
            else:
                groups = {k: (g[by].to_numpy(np.float64), None) for k, g in df.groupby(space_col, sort=True)}
            for c, (name, (v, w)) in zip(palette(len(groups)), groups.items()):
                x, f = A.edf(v, w, side="right")
                _step(ax, np.concatenate([[x[0]], x]), np.concatenate([[0.0], f]), color=c, label=str(name))
            if logx:
                _logx(ax)
            ax.set_xlabel(by + (" (normalised)" if normalized else ""))
            ax.set_ylabel("cumulative prob.")
            ax.legend(loc="upper left")
    return fig


def plot_error_vs_complexity(df, by: str = "params", space_col: str = "space", max_points: int = 5000,
                             seed=0, logx: bool = True, alpha: float = 0.15) -> Figure:
    """Scatter of error vs complexity per space (at most ``max_points`` random models each)."""
    _check_df(df, ["error", by, space_col])
    rng = np.random.default_rng(seed)
    with style():
        fig, (ax,) = _figure(w=4.6)
        groups = list(df.groupby(space_col, sort=True))
        for c, (name, g) in zip(palette(len(groups)), groups):
            if len(g) > max_points:
                g = g.iloc[np.sort(rng.choice(len(g), max_points, replace=False))]
            ax.scatter(g[by], g["error"], s=6, color=c, alpha=alpha, label=str(name),
                       rasterized=True, linewidths=0)
        if logx:
            _logx(ax)
        ax.set_xlabel(by)
        ax.set_ylabel("error (%)")
        leg = ax.legend(loc="upper right", markerscale=2)
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
        fig, (ax,) = _figure()
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
        _int_x(ax)
        ax.set_ylabel(ylabel)
        if any(curves):
            ax.legend(loc="upper right")
    return fig


def plot_ks_sample_size(results, fit_range=None) -> Figure:
    """Mean KS statistic vs sample size (log2), ``+-`` one std, with a dashed ``c/sqrt(k)`` fit."""
    results = _as_dict(results, "results")
    with style():
        fig, (ax,) = _figure()
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
        _int_x(ax)
        ax.set_ylabel("KS statistic (D)")
        ax.legend(loc="upper right")
    return fig


def plot_point_estimate(result, bins: int = 29) -> Figure:
    """Histogram of ``min error(B) - min error(M)`` over trials (NDS Fig. 2 right)."""
    if not isinstance(result, A.PointEstimateResult):
        raise ValueError(f"expected PointEstimateResult, got {type(result).__name__}")
    with style():
        fig, (ax,) = _figure()
        ax.hist(result.diff, bins=bins, color=palette(1)[0], alpha=0.85)
        ax.axvline(0, color=palette(4)[3], ls="--", lw=2)
        ax.set_xlabel(f"min error(B={result.b}) - min error(M={result.m})")
        ax.set_ylabel("number of trials")
        ax.text(0.98, 0.95, f"P(M better) = {result.p_m_better:.3f}\nM/(B+M) = {result.p_iid:.3f}",
                transform=ax.transAxes, ha="right", va="top")
    return fig


def save_figure(fig: Figure, path_stem: str | os.PathLike, dpi: int = 150,
                formats=("pdf", "png")) -> list[Path]:
    """Write ``<stem>.pdf`` and ``<stem>.png`` atomically with deterministic bytes.

    Saved under :func:`style` (matplotlib creates extra tick artists at draw time from the
    current rcParams). The layout engine is run once and then frozen (``'none'``): constrained
    layout re-solved at every save drifts in the last float bits, which changes the bytes.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    stem = Path(path_stem)
    if stem.suffix.lower() in (".pdf", ".png"):
        stem = stem.with_suffix("")
    meta = {"pdf": {"CreationDate": None, "ModDate": None}, "png": {"Software": None},
            "svg": {"Date": None}}
    out = []
    if not isinstance(fig.get_layout_engine(), (type(None), mpl.layout_engine.PlaceHolderLayoutEngine)):
        with style():
            fig.draw_without_rendering()
        fig.set_layout_engine("none")
    for fmt in formats:
        if fmt not in meta:
            raise ValueError(f"unsupported figure format {fmt!r}; use pdf, png or svg")
        buf = io.BytesIO()
        with style():
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta[fmt])
        out.append(atomic_write_bytes(stem.with_name(f"{stem.name}.{fmt}"), buf.getvalue()))
    return out
