"""SPD design spaces: ``spdnet`` and ``spdnetnas`` with its restricted-op cell variants.

``dataset_info`` for SPD spaces holds ``n`` (input matrix size), ``num_classes`` and optionally
``in_channels`` (default 1). Complexity: params are exact; flops count the multiply-adds of the
matrix products (BiMap, batch-norm congruence) and of the linear head per sample —
eigendecompositions are not counted, as NDS counts only conv/fc multiply-adds.
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from ..nas.genotype import edge_kind, normalize_genotype, sample_genotype
from ..nas.model import SPDCellNetwork, net_config, network_complexity
from ..nas.ops import CELL_VARIANTS, NORMAL_OPS, REDUCE_OPS, cell_variant_ops
from ..spd import SPDNet, riemannian_optimizer
from .base import DesignSpace, choice



def eigh_cost(m: int) -> float:
    """Multiply-add equivalent of one m×m eigendecomposition with its backward (for scheduling).

    Fitted on radar_sim sweeps (n = 20): per-call overhead dominates small matrices."""
    return float(m ** 3 + 2000)


def spd_info(info: dict) -> dict:
    """Validate an SPD dataset_info (``n``, ``num_classes``, optional ``in_channels``)."""
    if not isinstance(info, dict):
        raise ValueError(f"dataset_info must be a dict, got {type(info).__name__}")
    out = dict(info)
    for key, default in (("n", None), ("num_classes", None), ("in_channels", 1)):
        v = info.get(key, default)
        if v is None:
            raise ValueError(f"SPD dataset_info is missing {key!r} (has {sorted(info)})")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) <= 0:
            raise ValueError(f"dataset_info[{key!r}] must be a positive integer, got {v!r}")
        out[key] = int(v)
    return out


class _RiemannianModel(nn.Module):
    """Mixin: sweeps call ``make_optimizer(recipe)``; manifold weights need Riemannian optimisers."""

    def make_optimizer(self, recipe: dict):
        name = "adam" if recipe.get("optimizer") in ("adam", "adamw") else "sgd"
        kw = {"momentum": recipe.get("momentum", 0.9)} if name == "sgd" else {}
        return riemannian_optimizer(self, name, lr=recipe["lr"], weight_decay=recipe.get("weight_decay", 0.0), **kw)


class SweepSPDNet(_RiemannianModel, SPDNet):
    """SPDNet with a Riemannian ``make_optimizer`` hook for sweeps."""


class SweepSPDCellNetwork(_RiemannianModel, SPDCellNetwork):
    """SPDNetNAS derived network with a Riemannian ``make_optimizer`` hook for sweeps."""


class SPDNetSpace(DesignSpace):
    """SPDNet (Huang & Van Gool 2017) design space.

    depth d ∈ {1..4} BiMap layers; widths drawn log-uniformly from a grid of 8 log-spaced fractions
    of the input size (0.15 … 0.9 of n), sorted non-increasing; batch norm on/off (SPDNetBN);
    ReEig eps ∈ {1e-4, 1e-3, 1e-2}.
    """

    depths = (1, 2, 3, 4)
    fractions = tuple(float(f) for f in np.geomspace(0.15, 0.9, 8))
    name = "spdnet"
    eps_values = (1e-4, 1e-3, 1e-2)

    def sample(self, rng: np.random.Generator) -> dict:
        d = choice(rng, list(self.depths))
        # widths as fractions so a config is valid for any input size; sorted non-increasing
        fr = sorted((choice(rng, list(self.fractions)) for _ in range(d)), reverse=True)
        return {"depth": d, "fractions": [round(f, 6) for f in fr], "batchnorm": bool(rng.integers(2)),
                "eps": choice(rng, list(self.eps_values))}

    def validate(self, config: dict, strict: bool = False) -> dict:
        if not isinstance(config, dict):
            raise ValueError(f"spdnet config must be a dict, got {type(config).__name__}")
        unknown = set(config) - {"depth", "fractions", "batchnorm", "eps"}
        if unknown:
            raise ValueError(f"spdnet config: unknown keys {sorted(unknown)}")
        try:
            d, fr = int(config["depth"]), [float(f) for f in config["fractions"]]
            bn, eps = bool(config["batchnorm"]), float(config["eps"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"spdnet config is incomplete or malformed: {exc}") from None
        if d not in self.depths or len(fr) != d:
            raise ValueError(f"spdnet config: depth {d} must be in {self.depths} and match {len(fr)} fractions")
        if any(not (0 < f <= 1) for f in fr) or fr != sorted(fr, reverse=True):
            raise ValueError(f"spdnet config: fractions must be non-increasing in (0, 1], got {fr}")
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"spdnet config: eps must be positive, got {eps}")
        if strict:
            grid = {round(f, 6) for f in self.fractions}
            off = [f for f in fr if round(f, 6) not in grid]
            if off or eps not in self.eps_values:
                raise ValueError(f"spdnet config: fractions {off} / eps {eps} are not on the grid "
                                 f"{sorted(grid)} / {self.eps_values}")
        return {"depth": d, "fractions": [round(f, 6) for f in fr], "batchnorm": bn, "eps": eps}

    def dims(self, config: dict, dataset_info: dict) -> list[int]:
        """Matrix sizes [n, w1, ..., wd] for a config and input size n."""
        cfg, info = self.validate(config), spd_info(dataset_info)
        n = info["n"]
        return [n] + [max(2, min(n, int(round(f * n)))) for f in cfg["fractions"]]

    def build(self, config: dict, dataset_info: dict) -> nn.Module:
        cfg, info = self.validate(config), spd_info(dataset_info)
        return SweepSPDNet(self.dims(cfg, info), info["num_classes"], eps=cfg["eps"], batchnorm=cfg["batchnorm"],
                           in_channels=info["in_channels"])

    def complexity(self, config: dict, dataset_info: dict) -> dict:
        cfg, info = self.validate(config), spd_info(dataset_info)
        p, f = SPDNet.complexity(self.dims(cfg, info), info["num_classes"], cfg["batchnorm"], info["in_channels"])
        return {"params": int(p), "flops": int(f)}

    def cost(self, config: dict, dataset_info: dict) -> float:
        """Flops plus the eigendecompositions per layer (ReEig/LogEig; a Karcher BN costs ~3 more)."""
        cfg = self.validate(config)
        dims = self.dims(cfg, dataset_info)[1:]
        eig = sum(eigh_cost(m) * (4 if cfg["batchnorm"] else 1) for m in dims)
        return float(self.flops(cfg, dataset_info) + eig)

    def size(self) -> int:
        # non-increasing fraction sequences of length d from G values: C(G + d - 1, d)
        G = len(self.fractions)
        seqs = sum(math.comb(G + d - 1, d) for d in self.depths)
        return seqs * 2 * len(self.eps_values)

    def input_shape(self, dataset_info: dict) -> tuple:
        info = spd_info(dataset_info)
        return (info["in_channels"], info["n"], info["n"])

    def describe(self) -> dict:
        return {"name": self.name, "size": self.size(), "depths": list(self.depths),
                "fractions": [round(f, 4) for f in self.fractions], "eps": list(self.eps_values)}


# ---------------------------------------------------------------------------------------------
# SPDNetNAS cell spaces
# ---------------------------------------------------------------------------------------------


class SPDNetNASSpace(DesignSpace):
    """Random genotypes of the SPDNetNAS cell space, with width/depth multipliers (NDS-style).

    A config is ``{"genotype": ..., "C": stem channels, "depth": cells}``; the network is a
    reduction cell (n → reduce_fraction·n) followed by ``depth − 1`` normal cells, cell channels
    doubling as in SPDNetNAS. ``normal_ops``/``reduce_ops`` restrict the candidate operations, which
    gives the variants compared like the NDS NAS-space study (e.g. without pooling, BiMap only).
    """

    def __init__(self, normal_ops=None, reduce_ops=None, steps: int = 2, widths=(1, 2, 3), depths=(1, 2, 3),
                 reduce_fraction: float = 0.5, name: str = "spdnetnas"):
        self.name = name
        self.normal_ops = [o for o in (normal_ops or NORMAL_OPS) if o != "none"]
        self.reduce_ops = [o for o in (reduce_ops or REDUCE_OPS) if o != "none"]
        bad = [o for o in self.normal_ops if o not in NORMAL_OPS] + [o for o in self.reduce_ops if o not in REDUCE_OPS]
        if bad or not self.normal_ops or not self.reduce_ops:
            raise ValueError(f"spdnetnas space: unknown or empty op lists (bad: {bad})")
        self.steps, self.widths, self.depths = int(steps), tuple(widths), tuple(depths)
        self.reduce_fraction = float(reduce_fraction)

    def _ops(self, cell: str, j: int) -> list[str]:
        return self.reduce_ops if edge_kind(cell, j) == "reduce" else self.normal_ops

    def sample(self, rng: np.random.Generator) -> dict:
        geno = sample_genotype(rng, self.steps, self.normal_ops, self.reduce_ops)
        return {"genotype": geno, "C": choice(rng, list(self.widths)), "depth": choice(rng, list(self.depths))}

    def validate(self, config: dict, strict: bool = False) -> dict:
        """Normalised config; every value is checked against the grid, so ``strict`` adds nothing."""
        if not isinstance(config, dict) or set(config) != {"genotype", "C", "depth"}:
            raise ValueError(f"{self.name} config needs exactly the keys genotype, C, depth; got "
                             f"{sorted(config) if isinstance(config, dict) else type(config).__name__}")
        g = normalize_genotype(config["genotype"])
        if len(g["normal"]) // 2 != self.steps:
            raise ValueError(f"{self.name}: genotype has {len(g['normal']) // 2} nodes, space has steps={self.steps}")
        for cell in ("normal", "reduce"):
            for op, j in g[cell]:
                if op not in self._ops(cell, j):
                    raise ValueError(f"{self.name}: op {op!r} on edge from {j} of the {cell} cell is not in this space")
        C, d = config["C"], config["depth"]
        if C not in self.widths or d not in self.depths:
            raise ValueError(f"{self.name}: C must be in {self.widths} and depth in {self.depths}, got C={C}, depth={d}")
        return {"genotype": g, "C": int(C), "depth": int(d)}

    def net_config(self, config: dict, dataset_info: dict) -> dict:
        """Network config (spdnas.nas.net_config) for a space config and dataset."""
        cfg, info = self.validate(config), spd_info(dataset_info)
        n = info["n"]
        return net_config(in_dim=n, num_classes=info["num_classes"], cells=["reduce"] + ["normal"] * (cfg["depth"] - 1),
                          reduce_dims=[max(2, int(round(self.reduce_fraction * n)))], C=cfg["C"],
                          steps=self.steps, dtype=dataset_info.get("dtype", "float32"))

    def build(self, config: dict, dataset_info: dict) -> nn.Module:
        return SweepSPDCellNetwork(self.validate(config)["genotype"], self.net_config(config, dataset_info))

    def complexity(self, config: dict, dataset_info: dict) -> dict:
        c = network_complexity(self.validate(config)["genotype"], self.net_config(config, dataset_info))
        return {"params": int(c["params"]), "flops": int(c["flops"])}

    def cell_count(self, cell: str) -> int:
        """Number of distinct cells: Π_nodes Σ_{input pairs j<k} |ops(j)|·|ops(k)|."""
        total = 1
        for i in range(self.steps):
            total *= sum(len(self._ops(cell, j)) * len(self._ops(cell, k))
                         for j in range(i + 2) for k in range(j + 1, i + 2))
        return total

    def size(self) -> int:
        return self.cell_count("normal") * self.cell_count("reduce") * len(self.widths) * len(self.depths)

    def counts(self) -> dict[str, int]:
        return {"configurations": self.size(), "normal cells": self.cell_count("normal"),
                "reduction cells": self.cell_count("reduce")}

    def input_shape(self, dataset_info: dict) -> tuple:
        info = spd_info(dataset_info)
        return (1, info["n"], info["n"])

    def describe(self) -> dict:
        return {"name": self.name, "size": self.size(), "normal_ops": self.normal_ops, "reduce_ops": self.reduce_ops,
                "widths": list(self.widths), "depths": list(self.depths), "steps": self.steps}


def _variant_space(variant: str) -> SPDNetNASSpace:
    name = "spdnetnas" if variant == "full" else f"spdnetnas_{variant}"
    return SPDNetNASSpace(*cell_variant_ops(variant), name=name)


# The SPD spaces (listed in spdnas.spaces.registry): SPDNet and one SPDNetNAS space per cell variant.
SPD_SPACES = (SPDNetSpace(), *(_variant_space(v) for v in CELL_VARIANTS))
