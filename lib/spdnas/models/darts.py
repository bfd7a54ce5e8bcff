"""DARTS-style CNN cell network (the NDS / DARTS CIFAR macro) built from a genotype.

Genotype format (JSON-serialisable, DARTS convention; validated by :mod:`spdnas.models.genotype`)::

    {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ...],   # 2 (op, input) pairs per node
     "normal_concat": [2, 3, 4, 5],                                # node indices concatenated
     "reduce": [...], "reduce_concat": [...]}

Inputs ``0`` and ``1`` are the cell inputs (outputs of the previous-previous and previous cell),
``2 + i`` is intermediate node ``i``. A node sums its two op outputs; the cell output
concatenates the ``*_concat`` nodes along channels (``len(concat) * C`` channels). In reduction
cells ops reading cell inputs have stride 2.

The network: stem 3x3 conv to ``stem_multiplier * C`` + BN, ``layers`` cells with reduction
cells (channels doubled) at ``layers // 3`` and ``2 * layers // 3``, global average pooling and
a linear classifier.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .cnn_ops import OPS, FactorizedReduce, ReLUConvBN
from .complexity import conv2d_cx, gap2d_cx, linear_cx, new_cx, norm2d_cx
from .genotype import CELLS, Genotype, check_concat, check_pairs, genotype_dict


def loose_ends(pairs) -> list[int]:
    """Intermediate nodes (indices >= 2) that no other node reads: the 'loose' outputs."""
    n = len(pairs) // 2
    used = {int(idx) for _, idx in pairs}
    return [2 + i for i in range(n) if 2 + i not in used]


def check_cnn_genotype(genotype, ops=None) -> Genotype:
    """Parse a CNN-cell genotype (dict or DARTS namedtuple) into a :class:`Genotype` (family 'cnn').

    Missing ``*_concat`` default to all intermediate nodes. ``ops`` restricts allowed op names
    (default: every op in :data:`OPS`, and then a 'cnn' Genotype is returned unchanged).
    """
    if ops is None and isinstance(genotype, Genotype) and genotype.family == "cnn":
        return genotype
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
    return Genotype(out, "cnn")


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
        self.genotype = check_cnn_genotype(genotype, ops)
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
    g = check_cnn_genotype(genotype, ops)
    _check_macro(C, layers, num_classes, in_channels, stem_multiplier, 0.0)
    cx = new_cx(image_size)
    CellNetwork.complexity(cx, g, C, layers, num_classes, in_channels, stem_multiplier)
    return {"params": cx["params"], "flops": cx["flops"]}
