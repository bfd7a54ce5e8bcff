"""The workbench figure style (seaborn whitegrid + colorblind), figure helpers and :func:`save_figure`
(PDF + PNG, atomic, deterministic bytes)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import matplotlib as mpl
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..core.io import atomic_write_bytes

__all__ = ["style", "palette", "new_figure", "check_frame", "log_x", "integer_x", "step_post", "legend_outside",
           "save_figure"]

_RC = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.4,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "svg.hashsalt": "spdnas",
}



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


def new_figure(ncols: int = 1, nrows: int = 1, w: float = 4.0, h: float = 3.2):
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def check_frame(df, cols) -> None:
    if not isinstance(df, pd.DataFrame) or len(df) == 0:
        raise ValueError("expected a non-empty population DataFrame")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"population lacks column(s) {missing}")


def log_x(ax):
    """Log x axis; minor ticks at 2x and 5x only, so their labels (short ranges) do not overlap."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(mpl.ticker.LogLocator(subs=(2.0, 5.0)))


def integer_x(ax):
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))


def step_post(ax, x, y, **kw):
    ax.step(x, y, where="post", **kw)


def legend_outside(ax, handles=None, labels=None, **kw):
    """The legend of ``ax`` right of the axes, top-aligned, so that it never covers data.

    The figure's constrained layout makes room for it (the axes shrink); ``handles``/``labels``
    and ``kw`` go to :meth:`~matplotlib.axes.Axes.legend`. Returns the legend.
    """
    kw = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, **kw}
    args = () if handles is None else ((handles,) if labels is None else (handles, labels))
    return ax.legend(*args, **kw)


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
            # the saved canvas is the tight box of every artist: a legend outside the axes is never cut
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta[fmt], bbox_inches="tight", pad_inches=0.05)
        out.append(atomic_write_bytes(stem.with_name(f"{stem.name}.{fmt}"), buf.getvalue()))
    return out
