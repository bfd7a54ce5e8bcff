"""Figures of SPDNetNAS genotypes: one cell as a graph, or the normal and reduction cell side by side."""

from __future__ import annotations

from matplotlib.figure import Figure

from ..nas.genotype import normalize_genotype

__all__ = ["draw_cell", "draw_genotype"]


def draw_cell(genotype, cell: str = "normal", ax=None, title: str | None = None):
    """Draw one cell as a graph (inputs left, nodes middle, output right, op names on edges).

    Returns the matplotlib Figure (built without pyplot). No graphviz needed.
    """
    g = normalize_genotype(genotype)
    if cell not in ("normal", "reduce"):
        raise ValueError(f"draw_cell: cell must be 'normal' or 'reduce', got {cell!r}")
    pairs, concat = g[cell], g[f"{cell}_concat"]
    steps = len(pairs) // 2
    if ax is None:
        fig = Figure(figsize=(2.2 + 1.8 * steps, 2.6 + 0.4 * steps))
        ax = fig.subplots()
    else:
        fig = ax.figure
    pos = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    for i in range(steps):
        y = 0.0 if steps == 1 else 1.5 - 3.0 * i / (steps - 1)
        pos[2 + i] = (1.5 + 1.5 * i, y)
    out_x = 1.5 + 1.5 * steps
    pos["out"] = (out_x, 0.0)
    labels = {0: r"$c_{k-2}$", 1: r"$c_{k-1}$", "out": r"$c_k$"}
    labels.update({2 + i: str(i) for i in range(steps)})
    colors = {0: "#a6cee3", 1: "#a6cee3", "out": "#b2df8a"}
    arrow = dict(arrowstyle="-|>", color="0.3", lw=1.0, shrinkA=13, shrinkB=13, connectionstyle="arc3,rad=0.08")
    for k, (op, j) in enumerate(pairs):
        dst = 2 + k // 2
        (x0, y0), (x1, y1) = pos[j], pos[dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=arrow)
        ax.text(0.5 * (x0 + x1), 0.5 * (y0 + y1), op, fontsize=7, ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for c in concat:
        (x0, y0), (x1, y1) = pos[c], pos["out"]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrow, color="0.6", ls="--"))
    for key, (x, y) in pos.items():
        ax.scatter([x], [y], s=650, c=colors.get(key, "#fdbf6f"), edgecolors="0.2", zorder=3)
        ax.text(x, y, labels[key], ha="center", va="center", fontsize=9, zorder=4)
    ax.set_xlim(-0.6, out_x + 0.6)
    ax.set_ylim(-2.0, 2.0)
    ax.set_axis_off()
    ax.set_title(title if title is not None else f"{cell} cell", fontsize=10)
    return fig


def draw_genotype(genotype, title: str | None = None):
    """Figure with the normal and the reduction cell side by side."""
    g = normalize_genotype(genotype)
    steps = g.steps
    fig = Figure(figsize=(2 * (2.2 + 1.8 * steps), 2.6 + 0.4 * steps))
    axes = fig.subplots(1, 2)
    draw_cell(g, "normal", axes[0])
    draw_cell(g, "reduce", axes[1], title="reduction cell")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
