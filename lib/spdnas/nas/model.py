"""Macro architecture shared by the SPDNetNAS supernet and the derived (discrete) networks.

Network: BiMap + SPD batch-norm stem (1 -> C channels), a configurable sequence of reduction /
normal cells, LogEig + upper-triangular vectorisation + linear head. A cell has two input nodes
(the outputs of the previous two cells, each preprocessed by ReEig -> BiMap -> BN to the cell's
input size and channel count), ``steps`` intermediate nodes (each the Fréchet mean of its
incoming edges) and outputs the channel concatenation of its ``concat`` nodes.

Sizes: a reduction cell maps its input size n to the next entry of ``reduce_dims`` (RADAR
20 -> 10, HDM05 93 -> 30); a normal cell keeps the size. Channels of cell i default to
``C * 2**(i + 1)`` as in the official code.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..spd import functional as F
from ..spd import geometry as G
from ..spd.modules import BiMap, LogEig, ReEig, SPDBatchNorm, VecUpper, apply_grouped
from .genotype import edge_kind, normalize_genotype
from .ops import make_op, op_complexity

__all__ = ["net_config", "cell_plan", "SPDCellNetwork", "network_complexity", "build_network", "PRESETS"]

_DEFAULTS = dict(in_dim=None, num_classes=None, cells=["reduce", "normal"], reduce_dims=None, C=1,
                 channels=None, steps=2, eps=1e-4, bn_momentum=0.1, karcher_iters=1, dtype="float64")

PRESETS = {
    "radar": dict(in_dim=20, num_classes=3, cells=["reduce", "normal"], reduce_dims=[10]),
    "hdm05": dict(in_dim=93, num_classes=117, cells=["reduce", "normal"], reduce_dims=[30]),
}

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _pos_int(v, name):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"net config: {name} must be a positive int, got {v!r}")
    return v


def net_config(preset: str | None = None, **overrides) -> dict:
    """Validated, fully resolved network config (JSON-able dict).

    Keys: in_dim, num_classes, cells (list of 'reduce'/'normal'), reduce_dims (one size per
    reduction cell; default halving), C (stem channels), channels (per cell; default C*2**(i+1)),
    steps (intermediate nodes), eps (ReEig), bn_momentum, karcher_iters, dtype ('float64'/'float32').
    ``preset``: 'radar' or 'hdm05' defaults.
    """
    cfg = dict(_DEFAULTS)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        cfg.update(PRESETS[preset])
    unknown = set(overrides) - set(_DEFAULTS)
    if unknown:
        raise ValueError(f"net config: unknown keys {sorted(unknown)}; allowed: {sorted(_DEFAULTS)}")
    cfg.update({k: v for k, v in overrides.items()})
    _pos_int(cfg["in_dim"], "in_dim")
    _pos_int(cfg["num_classes"], "num_classes")
    cells = list(cfg["cells"])
    if not cells or any(c not in ("reduce", "normal") for c in cells):
        raise ValueError(f"net config: cells must be a non-empty list of 'reduce'/'normal', got {cfg['cells']!r}")
    cfg["cells"] = cells
    n_red = cells.count("reduce")
    if cfg["reduce_dims"] is None:
        dims, d = [], cfg["in_dim"]
        for _ in range(n_red):
            d = max(2, d // 2)
            dims.append(d)
        cfg["reduce_dims"] = dims
    rd = [_pos_int(int(v) if not isinstance(v, bool) else v, "reduce_dims entry") for v in cfg["reduce_dims"]]
    if len(rd) != n_red:
        raise ValueError(f"net config: {n_red} reduction cells need {n_red} reduce_dims, got {rd}")
    d = cfg["in_dim"]
    for v in rd:
        if not 2 <= v <= d:
            raise ValueError(f"net config: reduce_dims must be non-increasing within [2, in_dim], got {rd}")
        d = v
    cfg["reduce_dims"] = rd
    _pos_int(cfg["C"], "C")
    if cfg["channels"] is None:
        cfg["channels"] = [cfg["C"] * 2 ** (i + 1) for i in range(len(cells))]
    ch = [_pos_int(c, "channels entry") for c in cfg["channels"]]
    if len(ch) != len(cells):
        raise ValueError(f"net config: channels needs one entry per cell ({len(cells)}), got {ch}")
    cfg["channels"] = ch
    _pos_int(cfg["steps"], "steps")
    _pos_int(cfg["karcher_iters"], "karcher_iters")
    if not float(cfg["eps"]) > 0:
        raise ValueError(f"net config: eps must be > 0, got {cfg['eps']!r}")
    if not 0.0 <= float(cfg["bn_momentum"]) <= 1.0:
        raise ValueError(f"net config: bn_momentum must be in [0, 1], got {cfg['bn_momentum']!r}")
    if cfg["dtype"] not in DTYPES:
        raise ValueError(f"net config: dtype must be one of {sorted(DTYPES)}, got {cfg['dtype']!r}")
    return cfg


def cell_plan(cfg: dict, concat_sizes=None) -> list[dict]:
    """Per cell: kind, input (dim, channels) of s0/s1, op in/out size, channels C, out channels."""
    cfg = net_config(**cfg)
    s0 = s1 = (cfg["in_dim"], cfg["C"])
    plan, r = [], 0
    for i, kind in enumerate(cfg["cells"]):
        C = cfg["channels"][i]
        d_in = s1[0]
        if kind == "reduce":
            d_out = cfg["reduce_dims"][r]
            r += 1
        else:
            d_out = d_in
        mult = cfg["steps"] if concat_sizes is None else concat_sizes[kind]
        plan.append(dict(kind=kind, s0=s0, s1=s1, dim_in=d_in, dim_out=d_out, C=C, out_channels=mult * C))
        s0, s1 = s1, (d_out, mult * C)
    return plan


class Preprocess(nn.Sequential):
    """ReEig -> BiMap (size/channels to the cell's) -> SPD BN."""

    def __init__(self, in_dim, out_dim, in_ch, out_ch, eps, momentum, karcher_iters):
        super().__init__(ReEig(eps), BiMap(in_dim, out_dim, in_ch, out_ch),
                         SPDBatchNorm(out_dim, out_ch, momentum=momentum, karcher_iters=karcher_iters))

    @staticmethod
    def complexity(in_dim, out_dim, in_ch, out_ch):
        p, f = BiMap.complexity(in_dim, out_dim, in_ch, out_ch)
        return p + out_ch * out_dim ** 2, f + out_ch * 2 * out_dim ** 3


class Stem(nn.Sequential):
    """BiMap (1 -> C channels, size kept) -> SPD BN."""

    def __init__(self, n, C, momentum, karcher_iters):
        super().__init__(BiMap(n, n, 1, C), SPDBatchNorm(n, C, momentum=momentum, karcher_iters=karcher_iters))

    @staticmethod
    def complexity(n, C):
        p, f = BiMap.complexity(n, n, 1, C)
        return p + C * n * n, f + C * 2 * n ** 3


class Head(nn.Module):
    """LogEig -> vec_upper -> linear classifier."""

    def __init__(self, channels, n, num_classes):
        super().__init__()
        self.log, self.vec = LogEig(), VecUpper()
        self.fc = nn.Linear(channels * n * (n + 1) // 2, num_classes)

    def forward(self, X):
        return self.fc(self.vec(self.log(X)))

    @staticmethod
    def complexity(channels, n, num_classes):
        v = channels * n * (n + 1) // 2
        return v * num_classes + num_classes, v * num_classes


def node_mean(outs: torch.Tensor, iters: int) -> torch.Tensor:
    """Uniform Fréchet mean over dim 2 of (B, C, K, m, m)."""
    if outs.shape[2] == 1:
        return outs[:, :, 0]
    return G.frechet_mean(outs, dim=2, iters=iters, check=False)


def node_means(stacks, iters: int) -> list[torch.Tensor]:
    """:func:`node_mean` of each (B, C_i, K, m, m) stack; stacks of one shape but for C_i as one call."""
    stacks = list(stacks)
    a = stacks[0]
    if len(stacks) == 1 or any(s.shape[0] != a.shape[0] or s.shape[2:] != a.shape[2:] for s in stacks):
        return [node_mean(s, iters) for s in stacks]
    sizes = [s.shape[1] for s in stacks]
    return list(node_mean(torch.cat(stacks, dim=1), iters).split(sizes, dim=1))


class DiscreteCell(nn.Module):
    """A derived cell: each node is the Fréchet mean of its two chosen op outputs.

    The forward pass runs in rounds: every edge whose input state exists (edges of one op on
    inputs of one size grouped by :func:`spdnas.spd.modules.apply_grouped`), then every node
    whose two edges are done (one Fréchet-mean call per matrix size). The two preprocessings
    are grouped too. The values are those of the edge-by-edge order (to round-off); set
    ``grouped = False`` on a cell for that order.
    """

    grouped = True

    def __init__(self, pairs, concat, plan: dict, cfg: dict):
        super().__init__()
        C, d_in, d_out, kind = plan["C"], plan["dim_in"], plan["dim_out"], plan["kind"]
        pre = dict(eps=cfg["eps"], momentum=cfg["bn_momentum"], karcher_iters=cfg["karcher_iters"])
        self.pre0 = Preprocess(plan["s0"][0], d_in, plan["s0"][1], C, **pre)
        self.pre1 = Preprocess(plan["s1"][0], d_in, plan["s1"][1], C, **pre)
        self.indices = [j for _, j in pairs]
        self.names = [op for op, _ in pairs]
        self.ops = nn.ModuleList(
            make_op(edge_kind(kind, j), op, C, d_in if j < 2 else d_out, d_out, cfg["eps"], cfg["bn_momentum"],
                    cfg["karcher_iters"])
            for op, j in pairs
        )
        self.concat, self.iters = list(concat), cfg["karcher_iters"]

    def forward(self, s0, s1):
        if not self.grouped:
            states = [self.pre0(s0), self.pre1(s1)]
            for i in range(len(self.ops) // 2):
                outs = [self.ops[k](states[self.indices[k]]) for k in (2 * i, 2 * i + 1)]
                states.append(node_mean(torch.stack(outs, dim=2), self.iters))
            return torch.cat([states[c] for c in self.concat], dim=1)
        states = dict(enumerate(apply_grouped([self.pre0, self.pre1], [s0, s1])))
        outs, steps = {}, len(self.ops) // 2
        while len(states) < 2 + steps:
            ready = [k for k in range(len(self.ops)) if k not in outs and self.indices[k] in states]
            groups = {}
            for k in ready:
                groups.setdefault((self.names[k], tuple(states[self.indices[k]].shape)), []).append(k)
            for ks in groups.values():
                ys = apply_grouped([self.ops[k] for k in ks], [states[self.indices[k]] for k in ks])
                outs.update(zip(ks, ys))
            nodes = [i for i in range(steps) if 2 + i not in states and 2 * i in outs and 2 * i + 1 in outs]
            if not nodes:  # pragma: no cover - normalize_genotype guarantees edges from earlier states
                raise RuntimeError("DiscreteCell: a node's edges come from states that are never computed")
            means = node_means([torch.stack([outs[2 * i], outs[2 * i + 1]], dim=2) for i in nodes], self.iters)
            states.update((2 + i, y) for i, y in zip(nodes, means))
        return torch.cat([states[c] for c in self.concat], dim=1)


class SPDCellNetwork(nn.Module):
    """Discrete SPDNetNAS network built from a genotype and a network config."""

    def __init__(self, genotype, cfg: dict):
        super().__init__()
        self.genotype = normalize_genotype(genotype)
        self.config = net_config(**cfg)
        self._check_steps()
        plan = cell_plan(self.config, self._concat_sizes())
        self.stem = Stem(self.config["in_dim"], self.config["C"], self.config["bn_momentum"],
                         self.config["karcher_iters"])
        self.cells = nn.ModuleList(
            DiscreteCell(self.genotype[p["kind"]], self.genotype[p["kind"] + "_concat"], p, self.config) for p in plan
        )
        last = plan[-1]
        self.head = Head(last["out_channels"], last["dim_out"], self.config["num_classes"])
        self.to(DTYPES[self.config["dtype"]])
        reproject_(self)

    def _check_steps(self):
        steps = len(self.genotype["normal"]) // 2
        if steps != self.config["steps"]:
            raise ValueError(f"genotype has {steps} nodes per cell but the config says steps={self.config['steps']}")

    def _concat_sizes(self):
        return {k: len(self.genotype[k + "_concat"]) for k in ("normal", "reduce")}

    def forward(self, X):
        X = prepare_input(X, self.config["in_dim"], self.head.fc.weight.dtype)
        s0 = s1 = self.stem(X)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)

    def complexity(self) -> dict:
        return network_complexity(self.genotype, self.config)


def prepare_input(X, in_dim: int, dtype) -> torch.Tensor:
    """Validate a network input once (shape, finite, symmetric, PD) and cast it to (B, 1, n, n)."""
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"network input must be a torch.Tensor, got {type(X).__name__}")
    if X.dim() == 3:
        X = X.unsqueeze(1)
    if X.dim() != 4 or X.shape[1] != 1 or X.shape[-1] != in_dim or X.shape[-2] != in_dim:
        raise ValueError(f"network input must have shape (B, {in_dim}, {in_dim}) or (B, 1, {in_dim}, {in_dim}), "
                         f"got {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError("network input is an empty batch")
    F.check_spd(X, "network input")
    return X.to(dtype)


def reproject_(model: nn.Module) -> nn.Module:
    """Project manifold parameters back onto their manifolds (after a dtype change)."""
    import geoopt

    with torch.no_grad():
        for p in model.parameters():
            if isinstance(p, geoopt.ManifoldParameter):
                p.copy_(p.manifold.projx(p))
    return model


def network_complexity(genotype, cfg: dict) -> dict:
    """Analytic {'params', 'flops'} of :class:`SPDCellNetwork` (flops per sample, see ops docs)."""
    g = normalize_genotype(genotype)
    cfg = net_config(**cfg)
    if len(g["normal"]) // 2 != cfg["steps"]:
        raise ValueError("genotype node count does not match config steps")
    plan = cell_plan(cfg, {k: len(g[k + "_concat"]) for k in ("normal", "reduce")})
    params, flops = Stem.complexity(cfg["in_dim"], cfg["C"])
    for p in plan:
        for s in (p["s0"], p["s1"]):
            a, b = Preprocess.complexity(s[0], p["dim_in"], s[1], p["C"])
            params, flops = params + a, flops + b
        for op, j in g[p["kind"]]:
            a, b = op_complexity(edge_kind(p["kind"], j), op, p["C"], p["dim_in"] if j < 2 else p["dim_out"],
                                 p["dim_out"])
            params, flops = params + a, flops + b
    a, b = Head.complexity(plan[-1]["out_channels"], plan[-1]["dim_out"], cfg["num_classes"])
    return {"params": int(params + a), "flops": int(flops + b)}


def build_network(genotype, cfg: dict | None = None, seed: int | None = None, **overrides) -> SPDCellNetwork:
    """Build a derived network; ``seed`` makes the initialisation reproducible."""
    cfg = dict(cfg or {}, **overrides)
    if seed is None:
        return SPDCellNetwork(genotype, cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return SPDCellNetwork(genotype, copy.deepcopy(cfg))
