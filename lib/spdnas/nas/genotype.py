"""SPDNetNAS genotypes: parsing, JSON, the DARTS derive rule and random sampling (figures:
:func:`spdnas.plots.draw_genotype`).

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

from ..models.darts import check_cnn_genotype
from ..models.genotype import CELLS, Genotype, check_concat, check_pairs, genotype_dict, is_int
from ..core.io import atomic_write_text, read_json
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
    "SKIP_OPS",
    "POOL_OPS",
    "op_shares",
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


def normalize_genotype(genotype) -> Genotype:
    """Parse an SPDNetNAS genotype (dict or DARTS-style namedtuple) into a :class:`Genotype`
    (family 'spd'); one already parsed is returned as it is."""
    if isinstance(genotype, Genotype) and genotype.family == "spd":
        return genotype
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
    return Genotype(out, "spd")


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


def load_genotype(path: str | os.PathLike, allow_partial: bool = False) -> Genotype:
    """Read a genotype JSON file (a bare genotype or a dict with a 'genotype' key).

    A genotype written before its search finished (``"complete": false``, e.g.
    ``genotype.partial.json``) is refused unless ``allow_partial``."""
    obj = read_json(path, "genotype file")
    if isinstance(obj, dict) and "genotype" in obj:
        if obj.get("complete") is False and not allow_partial:
            raise ValueError(f"genotype file {path} was written before its search finished (epoch "
                             f"{obj.get('epoch')} of {obj.get('epochs')}); pass allow_partial=True "
                             f"(--allow-partial) to use it anyway")
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


def sample_genotype(rng, steps: int = 2, normal_ops=None, reduce_ops=None) -> Genotype:
    """Uniform random genotype of the derived space ("SPDNetNAS (R)" baseline, the random cell of
    the design spaces and of the cell-space study).

    Each node picks two distinct inputs uniformly among its ``i + 2`` predecessors and, for each,
    an op uniformly from the edge's op family: ``normal_ops`` on normal edges, ``reduce_ops`` on the
    input edges of the reduction cell (default: every non-``none`` op of the family).
    ``rng``: numpy Generator or int seed.
    """
    if not isinstance(rng, np.random.Generator):
        if not is_int(rng):
            raise ValueError(f"sample_genotype: rng must be a numpy Generator or an int seed, got {rng!r}")
        rng = np.random.default_rng(int(rng))
    if not is_int(steps) or steps < 1:
        raise ValueError(f"sample_genotype: steps must be a positive int, got {steps!r}")
    families = {"normal": _op_list(normal_ops, NORMAL_OPS, "normal_ops"),
                "reduce": _op_list(reduce_ops, REDUCE_OPS, "reduce_ops")}
    out = {}
    for cell in ("normal", "reduce"):
        pairs = []
        for i in range(steps):
            inputs = rng.choice(i + 2, size=2, replace=False)
            for j in sorted(int(v) for v in inputs):
                names = families[edge_kind(cell, j)]
                pairs.append([names[int(rng.integers(len(names)))], j])
        out[cell] = pairs
        out[f"{cell}_concat"] = list(range(2, steps + 2))
    return normalize_genotype(out)


def _op_list(ops, family: list, name: str) -> list:
    """The ops an edge family may draw: ``ops`` (checked against ``family``) or its non-``none`` ops."""
    if ops is None:
        return [o for o in family if o != "none"]
    ops = list(ops)
    bad = [o for o in ops if o not in family]
    if not ops or bad:
        raise ValueError(f"sample_genotype: {name} must be a non-empty list of ops from {family}; bad: {bad}")
    return ops


# ---------------------------------------------------------------------------------------------
# Skip / pooling shares (all-skip collapse is the known failure of DARTS-style searches)
# ---------------------------------------------------------------------------------------------

# Skips: the identity ``Skip`` of normal edges and its reduction-edge counterpart ``Skip_reduced``
# (two BiMaps into diagonal blocks: the role of DARTS' skip_connect, a FactorizedReduce on stride-2
# edges); CNN cells: ``skip_connect``.
SKIP_OPS = {"spd": ("Skip", "Skip_reduced"), "cnn": ("skip_connect",)}
# Pooling: the Fréchet-mean ``WeightedPooling`` of normal edges and the log-domain ``AvgPooling`` /
# ``MaxPooling`` of reduction edges; CNN cells: every avg/max pool.
POOL_OPS = {"spd": ("WeightedPooling", "AvgPooling", "MaxPooling"),
            "cnn": ("avg_pool_3x3", "max_pool_3x3", "max_pool_5x5", "max_pool_7x7")}


def op_shares(genotype, family: str | None = None) -> dict:
    """``{'skip_share', 'pool_share'}``: shares of the normal and reduction cells' edges (together)
    whose op is a skip (:data:`SKIP_OPS`) or a pooling op (:data:`POOL_OPS`).

    ``family``: 'spd' (SPDNetNAS ops) or 'cnn' (DARTS cell ops); default the family of a parsed
    :class:`Genotype`, else 'spd'.
    """
    if family is None:
        family = genotype.family if isinstance(genotype, Genotype) else "spd"
    if family not in SKIP_OPS:
        raise ValueError(f"op_shares: family must be 'spd' or 'cnn', got {family!r}")
    g = normalize_genotype(genotype) if family == "spd" else check_cnn_genotype(genotype)
    ops = [op for cell in CELLS for op, _ in g[cell]]
    return {"skip_share": sum(op in SKIP_OPS[family] for op in ops) / len(ops),
            "pool_share": sum(op in POOL_OPS[family] for op in ops) / len(ops)}


# Genotypes published with the official code (genotypes.py), in this package's op names.
RADAR_SPARSEMAX = normalize_genotype({
    "normal": [["Skip", 0], ["Skip", 1], ["BiMap_0", 0], ["BiMap_1", 2]],
    "reduce": [["BiMap_2_reduced", 1], ["BiMap_2_reduced", 0], ["BiMap_1_reduced", 1], ["BiMap_2_reduced", 0]],
})
HDM05_SPARSEMAX = normalize_genotype({
    "normal": [["Skip", 0], ["Skip", 1], ["BiMap_2", 0], ["BiMap_2", 2]],
    "reduce": [["BiMap_1_reduced", 0], ["BiMap_1_reduced", 1], ["BiMap_2_reduced", 0], ["BiMap_1_reduced", 1]],
})
