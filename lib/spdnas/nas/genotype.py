"""SPDNetNAS genotypes: validation, JSON, the DARTS derive rule, random sampling and drawing.

A genotype is a JSON-serialisable dict (DARTS convention)::

    {"normal": [["Skip", 0], ["BiMap_0", 1], ...],   # two [op, input] pairs per intermediate node
     "normal_concat": [2, 3],                          # nodes concatenated (channels) at the output
     "reduce": [["BiMap_2_reduced", 1], ...], "reduce_concat": [2, 3]}

Input ``0``/``1`` are the outputs of the previous-previous/previous cell, ``2 + i`` is node i.
In a reduction cell edges reading the cell inputs use reduction ops (:data:`REDUCE_OPS`) and
edges reading intermediate nodes use normal ops (:data:`NORMAL_OPS`); normal cells use normal ops
everywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..genotype_checks import CELLS, KEYS, check_concat, check_pairs, genotype_dict, is_int
from ..core.io import atomic_write_bytes, atomic_write_text
from .ops import NORMAL_OPS, REDUCE_OPS

__all__ = [
    "normalize_genotype",
    "edge_kind",
    "genotype_to_json",
    "genotype_from_json",
    "save_genotype",
    "load_genotype",
    "derive_cell",
    "derive_genotype",
    "sample_genotype",
    "draw_cell",
    "draw_genotype",
    "save_figure",
    "RADAR_SPARSEMAX",
    "HDM05_SPARSEMAX",
]


def edge_kind(cell: str, input_index: int) -> str:
    """Op family of an edge: 'reduce' for input edges of a reduction cell, else 'normal'."""
    return "reduce" if (cell == "reduce" and input_index < 2) else "normal"


def _allowed(cell: str):
    def ops(input_index: int):
        kind = edge_kind(cell, input_index)
        return kind, (REDUCE_OPS if kind == "reduce" else NORMAL_OPS)
    return ops


def normalize_genotype(genotype) -> dict:
    """Validate a genotype (dict or DARTS-style namedtuple) and return the canonical JSON-able dict."""
    genotype = genotype_dict(genotype)
    out = {}
    steps = None
    for cell in CELLS:
        pairs = check_pairs(genotype[cell], cell, _allowed(cell))
        n = len(pairs) // 2
        if steps is not None and n != steps:
            raise ValueError(f"normal and reduce cells have different node counts ({steps} vs {n})")
        steps = n
        concat = genotype.get(f"{cell}_concat")
        out[cell] = pairs
        out[f"{cell}_concat"] = list(range(2, n + 2)) if concat is None else check_concat(concat, cell, n)
    return {k: out[k] for k in KEYS}


def genotype_to_json(genotype, indent: int | None = None) -> str:
    """Canonical JSON text of a genotype."""
    return json.dumps(normalize_genotype(genotype), indent=indent, sort_keys=True)


def genotype_from_json(text: str) -> dict:
    """Parse and validate a genotype from JSON text."""
    try:
        obj = json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"genotype JSON is corrupt: {e}") from None
    return normalize_genotype(obj)


def save_genotype(genotype, path: str | os.PathLike) -> Path:
    """Write a genotype as JSON (atomic)."""
    return atomic_write_text(path, genotype_to_json(genotype, indent=1) + "\n")


def load_genotype(path: str | os.PathLike) -> dict:
    """Read a genotype JSON file (a bare genotype or a dict with a 'genotype' key)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"genotype file not found: {p}")
    try:
        obj = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"genotype file {p} is corrupt: {e}") from None
    if isinstance(obj, dict) and "genotype" in obj:
        obj = obj["genotype"]
    return normalize_genotype(obj)


# ---------------------------------------------------------------------------------------------
# Derivation (DARTS rule) and random sampling
# ---------------------------------------------------------------------------------------------


def _edge_count(steps: int) -> int:
    return sum(i + 2 for i in range(steps))


def derive_cell(weights, cell: str, steps: int | None = None, k: int = 2) -> list:
    """DARTS rule on one cell's op weights ``(num_edges, 6)``: per node keep the ``k`` incoming edges
    with the largest non-``none`` weight, and on each the best non-``none`` op.

    Ties are broken by the lower edge / op index. Returns the [op, input] pairs.
    """
    W = np.asarray(weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] != len(NORMAL_OPS):
        raise ValueError(f"derive: weights must have shape (num_edges, {len(NORMAL_OPS)}), got {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError("derive: weights contain NaN or Inf")
    if steps is None:
        steps = 0
        while _edge_count(steps) < W.shape[0]:
            steps += 1
    if _edge_count(steps) != W.shape[0]:
        raise ValueError(f"derive: {W.shape[0]} edges do not form a cell of {steps} nodes")
    if cell not in ("normal", "reduce"):
        raise ValueError(f"derive: cell must be 'normal' or 'reduce', got {cell!r}")
    none_col = NORMAL_OPS.index("none")
    assert REDUCE_OPS.index("none") == none_col
    masked = W.copy()
    masked[:, none_col] = -np.inf
    pairs, start = [], 0
    for i in range(steps):
        block = masked[start:start + i + 2]
        strength = block.max(axis=1)
        order = sorted(range(i + 2), key=lambda j: (-strength[j], j))[: min(k, i + 2)]
        for j in order:
            best = int(np.argmax(block[j]))  # first maximum: lowest op index on ties
            names = REDUCE_OPS if edge_kind(cell, j) == "reduce" else NORMAL_OPS
            pairs.append([names[best], int(j)])
        start += i + 2
    return pairs


def derive_genotype(weights_normal, weights_reduce, steps: int | None = None, concat=None) -> dict:
    """Discrete genotype from the normal/reduce op weights (see :func:`derive_cell`)."""
    normal = derive_cell(weights_normal, "normal", steps)
    reduce = derive_cell(weights_reduce, "reduce", steps)
    n = len(normal) // 2
    concat = list(range(2, n + 2)) if concat is None else list(concat)
    return normalize_genotype({"normal": normal, "normal_concat": concat, "reduce": reduce,
                               "reduce_concat": concat})


def sample_genotype(rng, steps: int = 2) -> dict:
    """Uniform random genotype of the derived space ("SPDNetNAS (R)" baseline).

    Each node picks two distinct inputs uniformly among its ``i + 2`` predecessors and, for each,
    a non-``none`` op uniformly from the edge's op family. ``rng``: numpy Generator or int seed.
    """
    if not isinstance(rng, np.random.Generator):
        if not is_int(rng):
            raise ValueError(f"sample_genotype: rng must be a numpy Generator or an int seed, got {rng!r}")
        rng = np.random.default_rng(int(rng))
    if not is_int(steps) or steps < 1:
        raise ValueError(f"sample_genotype: steps must be a positive int, got {steps!r}")
    out = {}
    for cell in ("normal", "reduce"):
        pairs = []
        for i in range(steps):
            inputs = rng.choice(i + 2, size=2, replace=False)
            for j in sorted(int(v) for v in inputs):
                names = [o for o in (REDUCE_OPS if edge_kind(cell, j) == "reduce" else NORMAL_OPS) if o != "none"]
                pairs.append([names[int(rng.integers(len(names)))], j])
        out[cell] = pairs
        out[f"{cell}_concat"] = list(range(2, steps + 2))
    return normalize_genotype(out)


# Genotypes published with the official code (genotypes.py), in this package's op names.
RADAR_SPARSEMAX = normalize_genotype({
    "normal": [["Skip", 0], ["Skip", 1], ["BiMap_0", 0], ["BiMap_1", 2]],
    "reduce": [["BiMap_2_reduced", 1], ["BiMap_2_reduced", 0], ["BiMap_1_reduced", 1], ["BiMap_2_reduced", 0]],
})
HDM05_SPARSEMAX = normalize_genotype({
    "normal": [["Skip", 0], ["Skip", 1], ["BiMap_2", 0], ["BiMap_2", 2]],
    "reduce": [["BiMap_1_reduced", 0], ["BiMap_1_reduced", 1], ["BiMap_2_reduced", 0], ["BiMap_1_reduced", 1]],
})


# ---------------------------------------------------------------------------------------------
# Drawing (matplotlib only)
# ---------------------------------------------------------------------------------------------


def draw_cell(genotype, cell: str = "normal", ax=None, title: str | None = None):
    """Draw one cell as a graph (inputs left, nodes middle, output right, op names on edges).

    Returns the matplotlib Figure. No graphviz needed.
    """
    import matplotlib.pyplot as plt

    g = normalize_genotype(genotype)
    if cell not in ("normal", "reduce"):
        raise ValueError(f"draw_cell: cell must be 'normal' or 'reduce', got {cell!r}")
    pairs, concat = g[cell], g[f"{cell}_concat"]
    steps = len(pairs) // 2
    if ax is None:
        fig, ax = plt.subplots(figsize=(2.2 + 1.8 * steps, 2.6 + 0.4 * steps))
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
    import matplotlib.pyplot as plt

    g = normalize_genotype(genotype)
    steps = len(g["normal"]) // 2
    fig, axes = plt.subplots(1, 2, figsize=(2 * (2.2 + 1.8 * steps), 2.6 + 0.4 * steps))
    draw_cell(g, "normal", axes[0])
    draw_cell(g, "reduce", axes[1], title="reduction cell")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def save_figure(fig, stem: str | os.PathLike, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``stem.pdf`` (deterministic bytes) and ``stem.png``, atomically."""
    import io

    stem = Path(stem)
    out = []
    for ext in ("pdf", "png"):
        buf = io.BytesIO()
        kw = {"metadata": {"CreationDate": None}} if ext == "pdf" else {"metadata": {"Software": None}}
        fig.savefig(buf, format=ext, dpi=dpi, bbox_inches="tight", **kw)
        out.append(atomic_write_bytes(stem.with_suffix(f".{ext}"), buf.getvalue()))
    return out
