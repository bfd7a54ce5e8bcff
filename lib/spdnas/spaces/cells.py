"""NAS cell design spaces (NASNet, Amoeba, PNAS, ENAS, DARTS) and a DARTS-style cell network.

Genotype format (JSON-serialisable, DARTS convention)::

    {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ...],   # 2 (op, input) pairs per node
     "normal_concat": [2, 3, 4, 5],                                # node indices concatenated
     "reduce": [...], "reduce_concat": [...]}

Inputs ``0`` and ``1`` are the cell inputs (outputs of the previous-previous and previous cell),
``2 + i`` is intermediate node ``i``. A node sums its two op outputs; the cell output
concatenates the ``*_concat`` nodes along channels (``len(concat) * C`` channels). In reduction
cells ops reading cell inputs have stride 2. :func:`build_cell_network` is usable standalone.

The network (NDS / DARTS CIFAR macro): stem 3x3 conv to ``stem_multiplier * C`` + BN, ``layers``
cells with reduction cells (channels doubled) at ``layers // 3`` and ``2 * layers // 3``, global
average pooling and a linear classifier.

Cell counts (NDS Table 2): each of the ``n`` nodes picks two ordered (input, op) pairs, inputs
with replacement from the ``i + 2`` available states, so one cell type has
``prod_i (|ops| (i + 2))^2`` choices; the paper reports this in billions, e.g. NASNet
(13 ops, 5 nodes) 71,465,842 B and DARTS (8 ops, 4 nodes) 242 B. ``size()`` of a space counts
normal and reduction cells independently and the width and depth grids.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..genotype_checks import CELLS, check_concat, check_pairs, genotype_dict
from .base import DesignSpace, check_dataset_info, choice, prod, register_space
from .complexity import conv2d_cx, gap2d_cx, linear_cx, new_cx, norm2d_cx, pool2d_cx

# --------------------------------------------------------------------------------------------
# Operations: each entry is (factory(C, stride) -> nn.Module, complexity(cx, C, stride) -> cx)
# --------------------------------------------------------------------------------------------


class Zero(nn.Module):
    """Zero op (``none``): outputs zeros at the strided resolution."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class ReLUConvBN(nn.Module):
    """ReLU, conv (any kernel/stride/dilation), BN."""

    def __init__(self, c_in, c_out, k, stride=1, padding=None, dilation=1):
        super().__init__()
        padding = dilation * (k - 1) // 2 if padding is None else padding
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, k, stride, padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x):
        return self.op(x)

    @staticmethod
    def complexity(cx, c_in, c_out, k, stride=1, dilation=1):
        conv2d_cx(cx, c_in, c_out, k, stride=stride, dilation=dilation)
        return norm2d_cx(cx, c_out)


class FactorizedReduce(nn.Module):
    """Halve resolution with two offset stride-2 1x1 convs, concatenated, + BN (odd sizes ok)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        if c_out < 2:
            raise ValueError(f"FactorizedReduce needs at least 2 output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))

    @staticmethod
    def complexity(cx, c_in, c_out):
        h, w = cx["h"], cx["w"]
        conv2d_cx(cx, c_in, c_out // 2, 1, stride=2)
        cx["h"], cx["w"] = h, w
        conv2d_cx(cx, c_in, c_out - c_out // 2, 1, stride=2)
        return norm2d_cx(cx, c_out)


class SepConv(nn.Module):
    """DARTS separable conv: (ReLU, depthwise kxk, pointwise 1x1, BN) twice, first strided."""

    def __init__(self, c, k, stride):
        super().__init__()
        p = k // 2
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, 1, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x):
        return self.op(x)

    @staticmethod
    def complexity(cx, c, k, stride):
        for s in (stride, 1):
            conv2d_cx(cx, c, c, k, stride=s, groups=c)
            conv2d_cx(cx, c, c, 1)
            norm2d_cx(cx, c)
        return cx


class DilConv(nn.Module):
    """DARTS dilated separable conv: ReLU, depthwise kxk dilation 2, pointwise 1x1, BN."""

    def __init__(self, c, k, stride, dilation=2):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride, dilation * (k - 1) // 2, dilation=dilation, groups=c,
                      bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x):
        return self.op(x)

    @staticmethod
    def complexity(cx, c, k, stride, dilation=2):
        conv2d_cx(cx, c, c, k, stride=stride, dilation=dilation, groups=c)
        conv2d_cx(cx, c, c, 1)
        return norm2d_cx(cx, c)


class FactorizedConv(nn.Module):
    """ReLU, 1xk conv then kx1 conv (stride split over the two), BN (NASNet '1xk then kx1')."""

    def __init__(self, c, k, stride):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, (1, k), (1, stride), (0, k // 2), bias=False),
            nn.Conv2d(c, c, (k, 1), (stride, 1), (k // 2, 0), bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x):
        return self.op(x)

    @staticmethod
    def complexity(cx, c, k, stride):
        conv2d_cx(cx, c, c, (1, k), stride=(1, stride), padding=(0, k // 2))
        conv2d_cx(cx, c, c, (k, 1), stride=(stride, 1), padding=(k // 2, 0))
        return norm2d_cx(cx, c)


def _skip(c, stride):
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c)


def _skip_cx(cx, c, stride):
    return cx if stride == 1 else FactorizedReduce.complexity(cx, c, c)


def _max_pool(k):
    return (lambda c, s: nn.MaxPool2d(k, s, k // 2), lambda cx, c, s: pool2d_cx(cx, k, stride=s))


OPS: dict[str, tuple] = {
    "none": (lambda c, s: Zero(s), lambda cx, c, s: pool2d_cx(cx, 1, stride=s, padding=0)),
    "skip_connect": (_skip, _skip_cx),
    "avg_pool_3x3": (
        lambda c, s: nn.AvgPool2d(3, s, 1, count_include_pad=False),
        lambda cx, c, s: pool2d_cx(cx, 3, stride=s),
    ),
    "max_pool_3x3": _max_pool(3),
    "max_pool_5x5": _max_pool(5),
    "max_pool_7x7": _max_pool(7),
    "conv_1x1": (lambda c, s: ReLUConvBN(c, c, 1, s), lambda cx, c, s: ReLUConvBN.complexity(cx, c, c, 1, s)),
    "conv_3x3": (lambda c, s: ReLUConvBN(c, c, 3, s), lambda cx, c, s: ReLUConvBN.complexity(cx, c, c, 3, s)),
    "conv_1x3_3x1": (lambda c, s: FactorizedConv(c, 3, s), lambda cx, c, s: FactorizedConv.complexity(cx, c, 3, s)),
    "conv_1x7_7x1": (lambda c, s: FactorizedConv(c, 7, s), lambda cx, c, s: FactorizedConv.complexity(cx, c, 7, s)),
    "sep_conv_3x3": (lambda c, s: SepConv(c, 3, s), lambda cx, c, s: SepConv.complexity(cx, c, 3, s)),
    "sep_conv_5x5": (lambda c, s: SepConv(c, 5, s), lambda cx, c, s: SepConv.complexity(cx, c, 5, s)),
    "sep_conv_7x7": (lambda c, s: SepConv(c, 7, s), lambda cx, c, s: SepConv.complexity(cx, c, 7, s)),
    "dil_conv_3x3": (lambda c, s: DilConv(c, 3, s), lambda cx, c, s: DilConv.complexity(cx, c, 3, s)),
    "dil_conv_5x5": (lambda c, s: DilConv(c, 5, s), lambda cx, c, s: DilConv.complexity(cx, c, 5, s)),
}


def register_op(name: str, factory, complexity, *, overwrite: bool = False) -> None:
    """Add a cell op: ``factory(C, stride) -> nn.Module`` (C -> C channels, spatial /stride)
    and ``complexity(cx, C, stride) -> cx`` updating params/flops/h/w like the forward."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"op name must be a non-empty string, got {name!r}")
    if name in OPS and not overwrite:
        raise ValueError(f"op {name!r} already exists (pass overwrite=True)")
    if not callable(factory) or not callable(complexity):
        raise ValueError("factory and complexity must be callables")
    OPS[name] = (factory, complexity)


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
DARTS_OPS = [
    "none", "skip_connect", "max_pool_3x3", "avg_pool_3x3",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
]

# --------------------------------------------------------------------------------------------
# Genotypes
# --------------------------------------------------------------------------------------------


def loose_ends(pairs) -> list[int]:
    """Intermediate nodes (indices >= 2) that no other node reads: the 'loose' outputs."""
    n = len(pairs) // 2
    used = {int(idx) for _, idx in pairs}
    return [2 + i for i in range(n) if 2 + i not in used]


def normalize_genotype(genotype, ops=None) -> dict:
    """Validate a genotype (dict or DARTS namedtuple) and return the canonical JSON-able dict.

    Missing ``*_concat`` default to all intermediate nodes. ``ops`` restricts allowed op names
    (default: every op in :data:`OPS`).
    """
    genotype = genotype_dict(genotype)
    allowed = set(OPS if ops is None else ops)
    missing = set(allowed) - set(OPS)
    if missing:
        raise ValueError(f"ops not registered in OPS: {sorted(missing)}")
    out = {}
    for kind in CELLS:
        pairs = check_pairs(genotype[kind], kind, lambda _input: ("", allowed))
        n = len(pairs) // 2
        concat = genotype.get(f"{kind}_concat")
        concat = list(range(2, n + 2)) if concat is None else check_concat(concat, kind, n)
        out[kind], out[f"{kind}_concat"] = pairs, list(concat)
    return out


# --------------------------------------------------------------------------------------------
# Cells and the network
# --------------------------------------------------------------------------------------------


def _drop_path(x, drop_prob):
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x.div(keep) * mask


class Cell(nn.Module):
    """One DARTS-style cell (normal or reduction) from a list of (op, input) pairs."""

    def __init__(self, pairs, concat, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1)
        self.pre1 = ReLUConvBN(c_p, c, 1)
        self.indices = [idx for _, idx in pairs]
        self.names = [op for op, _ in pairs]
        self.ops = nn.ModuleList(
            OPS[op][0](c, 2 if reduction and idx < 2 else 1) for op, idx in pairs
        )
        self.concat = list(concat)
        self.multiplier = len(self.concat)

    def forward(self, s0, s1, drop_prob=0.0):
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(len(self.ops) // 2):
            h = []
            for j in (2 * i, 2 * i + 1):
                y = self.ops[j](states[self.indices[j]])
                if self.training and drop_prob > 0 and not isinstance(self.ops[j], nn.Identity):
                    y = _drop_path(y, drop_prob)
                h.append(y)
            states.append(h[0] + h[1])
        return torch.cat([states[i] for i in self.concat], dim=1)

    @staticmethod
    def complexity(cx, s0_hw, s1_hw, pairs, concat, c_pp, c_p, c, reduction, reduction_prev):
        """Add this cell's params/flops to ``cx``; returns the output (h, w)."""
        cx["h"], cx["w"] = s0_hw
        if reduction_prev:
            FactorizedReduce.complexity(cx, c_pp, c)
        else:
            ReLUConvBN.complexity(cx, c_pp, c, 1)
        hw = [(cx["h"], cx["w"])]
        cx["h"], cx["w"] = s1_hw
        ReLUConvBN.complexity(cx, c_p, c, 1)
        hw.append((cx["h"], cx["w"]))
        for i in range(len(pairs) // 2):
            node_hw = None
            for op, idx in pairs[2 * i: 2 * i + 2]:
                cx["h"], cx["w"] = hw[idx]
                OPS[op][1](cx, c, 2 if reduction and idx < 2 else 1)
                node_hw = (cx["h"], cx["w"])
            hw.append(node_hw)
        out = {hw[i] for i in concat}
        if len(out) != 1:
            raise ValueError(f"cell outputs have mismatched sizes {sorted(out)}")
        return out.pop()


class CellNetwork(nn.Module):
    """Stem + stack of normal/reduction cells + global pooling + linear classifier."""

    def __init__(self, genotype, C, layers, num_classes, in_channels=3, stem_multiplier=3,
                 drop_path_prob=0.0, ops=None):
        super().__init__()
        self.genotype = normalize_genotype(genotype, ops)
        _check_macro(C, layers, num_classes, in_channels, stem_multiplier, drop_path_prob)
        self.drop_path_prob = float(drop_path_prob)
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_pp, c_p, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            c_curr = c_curr * 2 if reduction else c_curr
            kind = "reduce" if reduction else "normal"
            cell = Cell(self.genotype[kind], self.genotype[f"{kind}_concat"], c_pp, c_p, c_curr,
                        reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(self.pool(s1).flatten(1))

    @staticmethod
    def complexity(cx, genotype, C, layers, num_classes, in_channels=3, stem_multiplier=3):
        c_curr = stem_multiplier * C
        conv2d_cx(cx, in_channels, c_curr, 3)
        norm2d_cx(cx, c_curr)
        s0_hw = s1_hw = (cx["h"], cx["w"])
        c_pp, c_p, c_curr = c_curr, c_curr, C
        reduction_prev = False
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            c_curr = c_curr * 2 if reduction else c_curr
            kind = "reduce" if reduction else "normal"
            concat = genotype[f"{kind}_concat"]
            out_hw = Cell.complexity(cx, s0_hw, s1_hw, genotype[kind], concat, c_pp, c_p, c_curr,
                                     reduction, reduction_prev)
            s0_hw, s1_hw = s1_hw, out_hw
            reduction_prev = reduction
            c_pp, c_p = c_p, len(concat) * c_curr
        gap2d_cx(cx)
        return linear_cx(cx, c_p, num_classes)


def reduction_layers(layers: int) -> set[int]:
    """Indices of reduction cells: ``layers // 3`` and ``2 * layers // 3``."""
    return {layers // 3, 2 * layers // 3}


def _check_macro(C, layers, num_classes, in_channels, stem_multiplier, drop_path_prob):
    for k, v in (("C", C), ("layers", layers), ("num_classes", num_classes),
                 ("in_channels", in_channels), ("stem_multiplier", stem_multiplier)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"{k} must be a positive integer, got {v!r}")
    if C < 2:
        raise ValueError(f"C must be >= 2 (factorized reductions split channels), got {C}")
    if not 0.0 <= float(drop_path_prob) < 1.0:
        raise ValueError(f"drop_path_prob must be in [0, 1), got {drop_path_prob!r}")


def build_cell_network(genotype, C, layers, num_classes, in_channels=3, *, stem_multiplier=3,
                       drop_path_prob=0.0, ops=None) -> CellNetwork:
    """Build a DARTS-style CNN from a genotype (see module docstring for the format).

    Args:
        genotype: dict (or DARTS ``Genotype`` namedtuple) of normal/reduce cells.
        C: initial cell width; doubled at each of the two reduction cells.
        layers: total number of cells.
        num_classes, in_channels: classifier outputs and input image channels.
        stem_multiplier: stem width is ``stem_multiplier * C``.
        drop_path_prob: DARTS drop-path probability during training (0 disables).
        ops: optional whitelist of op names (default: all of :data:`OPS`).
    """
    return CellNetwork(genotype, C, layers, num_classes, in_channels, stem_multiplier,
                       drop_path_prob, ops)


def cell_network_complexity(genotype, C, layers, num_classes, in_channels=3, image_size=32,
                            *, stem_multiplier=3, ops=None) -> dict:
    """Analytic ``{"params", "flops"}`` of :func:`build_cell_network` for square inputs."""
    g = normalize_genotype(genotype, ops)
    _check_macro(C, layers, num_classes, in_channels, stem_multiplier, 0.0)
    cx = new_cx(image_size)
    CellNetwork.complexity(cx, g, C, layers, num_classes, in_channels, stem_multiplier)
    return {"params": cx["params"], "flops": cx["flops"]}


# --------------------------------------------------------------------------------------------
# Spaces
# --------------------------------------------------------------------------------------------


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
        g = normalize_genotype(config["genotype"], self.ops)
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

    def describe(self):
        return {"name": self.name, "size": self.size(), "num_cells": self.num_cells(),
                "ops": self.ops, "nodes": self.nodes, "output": self.output,
                "widths": self.widths, "depths": self.depths}


register_space("nasnet", NASCellSpace("nasnet", NASNET_OPS, 5, "loose"))
register_space("amoeba", NASCellSpace("amoeba", AMOEBA_OPS, 5, "loose"))
register_space("pnas", NASCellSpace("pnas", PNAS_OPS, 5, "all"))
register_space("enas", NASCellSpace("enas", ENAS_OPS, 5, "loose"))
register_space("darts", NASCellSpace("darts", DARTS_OPS, 4, "all"))
