"""SPDNet (Huang & Van Gool 2017) and SPDNetBN (Brooks et al. 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from . import functional as F
from .modules import BiMap, LogEig, ReEig, SPDBatchNorm, VecUpper

__all__ = ["SPDNet", "SPDNetBN"]


class SPDNet(nn.Module):
    """BiMap[→BN]→ReEig blocks (no ReEig after the last BiMap), then LogEig → vec → linear head.

    Args:
        dims: matrix sizes, e.g. (93, 70, 50, 30) for HDM05 or (20, 16, 8) for RADAR.
        num_classes: classifier outputs.
        eps: ReEig threshold.
        batchnorm: insert SPDBatchNorm after every BiMap (SPDNetBN).
        in_channels: channels of the input SPD tensor (1 for (B, n, n) inputs).
        bn_momentum, detach_mean: :class:`SPDBatchNorm` settings (``detach_mean=True``: no gradient
            through the batch Karcher mean, as in spd-learn's SPDBatchNormMean).
    """

    def __init__(self, dims: Sequence[int], num_classes: int, eps: float = 1e-4, batchnorm: bool = False,
                 in_channels: int = 1, bn_momentum: float = 0.1, detach_mean: bool = False):
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2:
            raise ValueError(f"SPDNet: need at least two sizes in dims, got {dims}")
        if any(b > a for a, b in zip(dims, dims[1:])):
            raise ValueError(f"SPDNet: dims must be non-increasing (BiMap reduces), got {dims}")
        if num_classes < 1:
            raise ValueError(f"SPDNet: num_classes must be >= 1, got {num_classes}")
        self.dims, self.num_classes, self.eps, self.batchnorm = dims, num_classes, eps, batchnorm
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            layers.append(BiMap(a, b, in_channels if i == 0 else 1, 1))
            if batchnorm:
                layers.append(SPDBatchNorm(b, 1, momentum=bn_momentum, detach_mean=detach_mean))
            if i < len(dims) - 2:
                layers.append(ReEig(eps))
        self.features = nn.Sequential(*layers)
        self.log = LogEig()
        self.vec = VecUpper()
        self.head = nn.Linear(dims[-1] * (dims[-1] + 1) // 2, num_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.dim() not in (3, 4):
            raise ValueError(f"SPDNet input: expected a batch (B, n, n) or (B, C, n, n), got shape {tuple(X.shape)}")
        if X.shape[0] == 0:
            raise ValueError(f"SPDNet input: empty batch (shape {tuple(X.shape)}); pass at least one matrix")
        if X.dim() == 3:
            X = X.unsqueeze(1)
        F.check_spd(X, "SPDNet input")
        X = X.to(self.head.weight.dtype)
        Z = self.features(X)
        return self.head(self.vec(self.log(Z)))

    @staticmethod
    def complexity(dims: Sequence[int], num_classes: int, batchnorm: bool = False, in_channels: int = 1):
        """Exact parameter count and multiply-add count (matrix products + head) per sample."""
        params = flops = 0
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            p, f = BiMap.complexity(a, b, in_channels if i == 0 else 1, 1)
            params, flops = params + p, flops + f
            if batchnorm:
                params += b * b
                flops += 2 * b ** 3  # congruence by the (bias^{1/2} mean^{-1/2}) factor
        v = dims[-1] * (dims[-1] + 1) // 2
        params += v * num_classes + num_classes
        flops += v * num_classes
        return params, flops


class SPDNetBN(SPDNet):
    """SPDNet with Riemannian batch normalisation after every BiMap (Brooks et al. 2019)."""

    def __init__(self, dims: Sequence[int], num_classes: int, eps: float = 1e-4, in_channels: int = 1,
                 bn_momentum: float = 0.1, detach_mean: bool = False):
        super().__init__(dims, num_classes, eps=eps, batchnorm=True, in_channels=in_channels,
                         bn_momentum=bn_momentum, detach_mean=detach_mean)
