"""Figures of the SPD datasets: how well conditioned their matrices are (notebook 01)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import analysis as A
from .style import legend_outside, new_figure, palette, step_post, style

__all__ = ["plot_condition_numbers"]


def plot_condition_numbers(conds: dict, not_run=()) -> Figure:
    """EDF of ``log10`` of the condition numbers of each dataset's matrices, legend right of the axes.

    ``conds``: {dataset label: condition numbers (>= 1)}; ``not_run``: names of the datasets that
    could not be loaded, stated in the title.
    """
    if not isinstance(conds, dict) or not conds:
        raise ValueError("plot_condition_numbers: no condition numbers (expected {dataset: values})")
    logs = {}
    for name, c in conds.items():
        c = np.asarray(c, dtype=np.float64).ravel()
        if c.size == 0 or not np.isfinite(c).all() or (c < 1.0 - 1e-9).any():
            raise ValueError(f"plot_condition_numbers: condition numbers of {name!r} must be finite "
                             "values >= 1 (at least one)")
        logs[str(name)] = np.log10(np.maximum(c, 1.0))
    with style():
        fig, (ax,) = new_figure(w=6.0, h=3.4)
        for col, (name, v) in zip(palette(len(logs)), logs.items()):
            x, f = A.edf(v, side="right")
            step_post(ax, np.concatenate([[x[0]], x]), np.concatenate([[0.0], f]), color=col, label=name)
        ax.set_xlabel("log10 condition number")
        ax.set_ylabel("cumulative prob.")
        ax.set_ylim(-0.02, 1.02)
        legend_outside(ax, title="dataset")
        missing = list(not_run or ())
        if missing:
            ax.set_title("not run: " + ", ".join(map(str, missing)) + " (data missing)", fontsize=8)
    return fig
