"""SPDNetNAS candidate operations (Sukthanker et al., IJCAI 2021) as discrete modules.

Every op maps a batch of SPD matrices ``(B, C, n, n)`` to ``(B, C, m, m)`` with the same channel
count C. Normal ops keep the size (``n == m``); reduction ops map ``n -> m``. The twelve ops of
the paper (six per edge type) are registered in :data:`OPS` with an analytic parameter/flop
count; :data:`NORMAL_OPS` and :data:`REDUCE_OPS` give their canonical order (the order of the
architecture parameters' columns).

Flop convention (as :meth:`spdnas.spd.SPDNet.complexity`): multiply-adds of the BiMap products,
``2 m^3`` per channel for a batch-norm congruence, and the linear head. Eigen-decompositions and
Fréchet means are not counted (no agreed flop count exists for them).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..spd import functional as F
from ..spd.modules import (
    BiMap,
    ReEig,
    SkipReduced,
    SPDBatchNorm,
    SPDPool2d,
    WeightedFrechetMean,
)

__all__ = [
    "NORMAL_OPS",
    "REDUCE_OPS",
    "OPS",
    "CELL_VARIANTS",
    "cell_variant_ops",
    "make_op",
    "op_complexity",
    "IdentityMatrix",
    "Skip",
]

NORMAL_OPS = ["none", "WeightedPooling", "BiMap_0", "BiMap_1", "BiMap_2", "Skip"]
REDUCE_OPS = ["none", "AvgPooling", "MaxPooling", "BiMap_1_reduced", "BiMap_2_reduced", "Skip_reduced"]
OPS = {"normal": NORMAL_OPS, "reduce": REDUCE_OPS}

# Cell-space variants (NDS's NAS-space study transposed to SPD cells): the non-'none' ops each
# variant may use on normal edges and on the input edges of reduction cells. One vocabulary for
# the registered spaces (``spdnetnas`` = full, ``spdnetnas_<variant>`` of spdnas.spaces)
# and the cell-space stage of spdnas.experiments.
_NORMAL = tuple(o for o in NORMAL_OPS if o != "none")
_REDUCE = tuple(o for o in REDUCE_OPS if o != "none")
CELL_VARIANTS = {
    "full": (_NORMAL, _REDUCE),
    "bimap_only": (("BiMap_0", "BiMap_1", "BiMap_2"), ("BiMap_1_reduced", "BiMap_2_reduced")),
    "no_bimap": (("WeightedPooling", "Skip"), ("AvgPooling", "MaxPooling", "Skip_reduced")),
    "no_skip": (("WeightedPooling", "BiMap_0", "BiMap_1", "BiMap_2"),
                ("AvgPooling", "MaxPooling", "BiMap_1_reduced", "BiMap_2_reduced")),
    "no_pool": (("WeightedPooling", "BiMap_0", "BiMap_1", "BiMap_2", "Skip"),
                ("BiMap_1_reduced", "BiMap_2_reduced", "Skip_reduced")),
}


def cell_variant_ops(variant: str) -> tuple[list[str], list[str]]:
    """(normal ops, reduction-input ops) of a cell-space variant of :data:`CELL_VARIANTS`."""
    if variant not in CELL_VARIANTS:
        raise ValueError(f"unknown cell-space variant {variant!r}; choose from {sorted(CELL_VARIANTS)}")
    a, b = CELL_VARIANTS[variant]
    return list(a), list(b)


class IdentityMatrix(nn.Module):
    """The ``none`` op: the identity matrix I_m (the 'zero' of the SPD manifold) per channel."""

    def __init__(self, out_dim: int):
        super().__init__()
        self.out_dim = int(out_dim)

    def forward(self, X):
        eye = torch.eye(self.out_dim, dtype=X.dtype, device=X.device)
        return eye.expand(X.shape[0], X.shape[1], self.out_dim, self.out_dim)

    def extra_repr(self):
        return f"out_dim={self.out_dim}"


class Skip(nn.Module):
    """Identity skip connection (normal cells)."""

    def forward(self, X):
        return X


def _check(kind, name, C, n, m):
    if kind not in OPS:
        raise ValueError(f"unknown edge kind {kind!r}; choose 'normal' or 'reduce'")
    if name not in OPS[kind]:
        raise ValueError(f"unknown {kind} op {name!r}; choose from {OPS[kind]}")
    for k, v in (("channels", C), ("in_dim", n), ("out_dim", m)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: {k} must be a positive int, got {v!r}")
    if kind == "normal" and n != m:
        raise ValueError(f"normal op {name!r} keeps the size, got {n}->{m}")
    if m > n:
        raise ValueError(f"op {name!r}: out_dim {m} > in_dim {n} (BiMap reduces)")
    if name == "Skip_reduced" and m < 2:
        raise ValueError("Skip_reduced needs out_dim >= 2 (two diagonal blocks)")


def make_op(kind: str, name: str, C: int, in_dim: int, out_dim: int, eps: float = 1e-4,
            bn_momentum: float = 0.1, karcher_iters: int = 1) -> nn.Module:
    """Build a discrete op ``(B, C, in_dim, in_dim) -> (B, C, out_dim, out_dim)``.

    Args:
        kind: 'normal' (size preserving) or 'reduce' (edges from the inputs of a reduction cell).
        name: op name from ``OPS[kind]``.
        eps: ReEig threshold; bn_momentum, karcher_iters: SPD batch-norm settings (also the
            Karcher iterations of WeightedPooling).
    """
    _check(kind, name, C, in_dim, out_dim)
    n, m = in_dim, out_dim

    def bn(size):
        return SPDBatchNorm(size, C, momentum=bn_momentum, karcher_iters=karcher_iters)

    if name == "none":
        return IdentityMatrix(m)
    if name == "Skip":
        return Skip()
    if name == "WeightedPooling":
        return WeightedFrechetMean(C, C, iters=karcher_iters, weighting="sparsemax")
    if name in ("BiMap_0",):
        return nn.Sequential(BiMap(n, m, C, C), bn(m))
    if name in ("BiMap_1", "BiMap_1_reduced"):
        return nn.Sequential(BiMap(n, m, C, C), bn(m), ReEig(eps))
    if name in ("BiMap_2", "BiMap_2_reduced"):
        return nn.Sequential(ReEig(eps), BiMap(n, m, C, C), bn(m))
    if name in ("AvgPooling", "MaxPooling"):
        return nn.Sequential(SPDPool2d("avg" if name == "AvgPooling" else "max", out_dim=m), bn(m))
    if name == "Skip_reduced":
        return SkipReduced(n, m, C)
    raise AssertionError(name)  # pragma: no cover


def op_complexity(kind: str, name: str, C: int, in_dim: int, out_dim: int) -> tuple[int, int]:
    """Analytic (params, flops) of :func:`make_op` for one sample (see module docstring)."""
    _check(kind, name, C, in_dim, out_dim)
    n, m = in_dim, out_dim
    bn_p, bn_f = C * m * m, C * 2 * m ** 3
    if name in ("none", "Skip"):
        return 0, 0
    if name == "WeightedPooling":
        return C * C, 0
    if name.startswith("BiMap"):
        p, f = BiMap.complexity(n, m, C, C)
        return p + bn_p, f + bn_f
    if name in ("AvgPooling", "MaxPooling"):
        return bn_p, bn_f
    if name == "Skip_reduced":
        a = m // 2
        p1, f1 = BiMap.complexity(n, a, C, C)
        p2, f2 = BiMap.complexity(n, m - a, C, C)
        return p1 + p2, f1 + f2
    raise AssertionError(name)  # pragma: no cover


def identity_like(X: torch.Tensor, m: int) -> torch.Tensor:
    """Identity matrices of size m broadcast to X's leading dims (..., m, m)."""
    eye = torch.eye(m, dtype=X.dtype, device=X.device)
    return eye.expand(*X.shape[:-2], m, m)


def check_input(X: torch.Tensor, name: str = "input") -> None:
    """Full validation of a network input (shape, finite, symmetric, PD): one host sync."""
    F.check_spd(X, name)
