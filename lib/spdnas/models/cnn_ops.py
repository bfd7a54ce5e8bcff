"""CNN cell operations of the DARTS/NDS cell networks, each with its exact complexity.

:data:`OPS` maps an op name to ``(factory(C, stride) -> nn.Module, complexity(cx, C, stride) -> cx)``;
ops keep the channel count ``C`` and divide the resolution by ``stride``. Add one with
:func:`register_op` (at run time; nothing registers at import).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .complexity import conv2d_cx, norm2d_cx, pool2d_cx


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


# The DARTS search space's ops (Liu et al. 2019; also NDS Table 2's 'DARTS' space).
DARTS_OPS = [
    "none", "skip_connect", "max_pool_3x3", "avg_pool_3x3",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
]
