"""NAS cell design spaces (NASNet, Amoeba, PNAS, ENAS, DARTS) of NDS Table 2.

The networks and the genotype format are :mod:`spdnas.models.darts`.

Cell counts (NDS Table 2): each of the ``n`` nodes picks two ordered (input, op) pairs, inputs
with replacement from the ``i + 2`` available states, so one cell type has
``prod_i (|ops| (i + 2))^2`` choices; the paper reports this in billions, e.g. NASNet
(13 ops, 5 nodes) 71,465,842 B and DARTS (8 ops, 4 nodes) 242 B. ``size()`` of a space counts
normal and reduction cells independently and the width and depth grids.
"""

from __future__ import annotations

import numpy as np

from ..models.cnn_ops import DARTS_OPS, OPS
from ..models.darts import build_cell_network, cell_network_complexity, check_cnn_genotype, loose_ends
from .base import DesignSpace, check_dataset_info, choice, prod


# Op lists of the NDS paper (Table 2), in the DARTS naming used by :data:`OPS`.
NASNET_OPS = [
    "skip_connect", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "avg_pool_3x3",
    "max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
]
AMOEBA_OPS = [
    "skip_connect", "conv_1x7_7x1", "avg_pool_3x3", "max_pool_3x3",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3",
]
PNAS_OPS = [
    "skip_connect", "conv_1x7_7x1", "avg_pool_3x3", "max_pool_3x3",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3",
]
ENAS_OPS = ["skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"]

def num_cells(num_ops: int, num_nodes: int) -> int:
    """Number of possible cells: ``prod_{i<n} (num_ops (i + 2))^2`` (ordered pairs, inputs with
    replacement), the NDS counting convention."""
    if num_ops <= 0 or num_nodes <= 0:
        raise ValueError(f"num_ops and num_nodes must be positive, got {num_ops}, {num_nodes}")
    return prod((num_ops * (i + 2)) ** 2 for i in range(num_nodes))


def in_billions(n: int) -> int:
    """Round a count to whole billions, half up (the unit of NDS Table 2)."""
    return (int(n) + 500_000_000) // 1_000_000_000


class NASCellSpace(DesignSpace):
    """Cell-based NAS space: random normal + reduction cells, width and depth from grids."""

    def __init__(self, name, ops, nodes, output, widths=(16, 24, 32), depths=(4, 8, 12, 16, 20)):
        if output not in ("loose", "all"):
            raise ValueError(f"output must be 'loose' or 'all', got {output!r}")
        unknown = set(ops) - set(OPS)
        if unknown:
            raise ValueError(f"unknown ops {sorted(unknown)}")
        self.name, self.ops, self.nodes, self.output = name, list(ops), int(nodes), output
        self.widths, self.depths = list(widths), list(depths)

    def _concat(self, pairs):
        return loose_ends(pairs) if self.output == "loose" else list(range(2, self.nodes + 2))

    def sample_cell(self, rng) -> list:
        """One random cell: per node two (op, input) draws, input uniform over earlier states."""
        pairs = []
        for i in range(self.nodes):
            for _ in range(2):
                op = choice(rng, self.ops)
                pairs.append([op, int(rng.integers(i + 2))])
        return pairs

    def sample(self, rng):
        normal, reduce = self.sample_cell(rng), self.sample_cell(rng)
        genotype = {"normal": normal, "normal_concat": self._concat(normal),
                    "reduce": reduce, "reduce_concat": self._concat(reduce)}
        return {"genotype": genotype, "width": int(choice(rng, self.widths)),
                "depth": int(choice(rng, self.depths))}

    def validate(self, config, strict: bool = False):
        """Ops must be this space's; with ``strict`` also node count, concat rule and grids."""
        if not isinstance(config, dict):
            raise ValueError(f"config must be a dict, got {type(config).__name__}")
        unknown = set(config) - {"genotype", "width", "depth"}
        if unknown or "genotype" not in config:
            raise ValueError(f"config for {self.name!r} needs keys genotype/width/depth, got {sorted(config)}")
        g = check_cnn_genotype(config["genotype"], self.ops)
        out = {"genotype": g}
        for key in ("width", "depth"):
            v = config.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"config[{key!r}] must be a positive integer, got {v!r}")
            out[key] = int(v)
        if strict:
            for kind in ("normal", "reduce"):
                if len(g[kind]) != 2 * self.nodes:
                    raise ValueError(f"{kind} cell must have {self.nodes} nodes")
                if g[f"{kind}_concat"] != self._concat(g[kind]):
                    raise ValueError(f"{kind}_concat does not follow the '{self.output}' rule")
            if out["width"] not in self.widths or out["depth"] not in self.depths:
                raise ValueError(f"width/depth {out['width']}/{out['depth']} outside the grid")
        return out

    def build(self, config, dataset_info):
        info = check_dataset_info(dataset_info)
        cfg = self.validate(config)
        return build_cell_network(cfg["genotype"], cfg["width"], cfg["depth"], info["num_classes"],
                                  info["in_channels"], ops=self.ops)

    def complexity(self, config, dataset_info):
        info = check_dataset_info(dataset_info)
        cfg = self.validate(config)
        return cell_network_complexity(cfg["genotype"], cfg["width"], cfg["depth"],
                                       info["num_classes"], info["in_channels"],
                                       info["image_size"], ops=self.ops)

    def num_cells(self) -> int:
        """Possible cells of one type (NDS Table 2 convention, exact integer)."""
        return num_cells(len(self.ops), self.nodes)

    def size(self):
        return self.num_cells() ** 2 * len(self.widths) * len(self.depths)

    def counts(self):
        return {"configurations": self.size(), "cells of one type": self.num_cells()}

    def describe(self):
        return {"name": self.name, "size": self.size(), "num_cells": self.num_cells(),
                "ops": self.ops, "nodes": self.nodes, "output": self.output,
                "widths": self.widths, "depths": self.depths}


# The five NAS cell spaces of NDS Table 2 (listed in spdnas.spaces.registry).
CELL_SPACES = (
    NASCellSpace("nasnet", NASNET_OPS, 5, "loose"),
    NASCellSpace("amoeba", AMOEBA_OPS, 5, "loose"),
    NASCellSpace("pnas", PNAS_OPS, 5, "all"),
    NASCellSpace("enas", ENAS_OPS, 5, "loose"),
    NASCellSpace("darts", DARTS_OPS, 4, "all"),
)
