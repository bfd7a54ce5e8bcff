"""AnyNet image networks of the NDS standard design spaces (Vanilla, ResNet, ResNeXt-A/B).

Every model is stem (3x3 conv, 16 channels, BN, ReLU) + 3 stages + head (global avg pool + fc).
Stage ``i`` has depth ``d_i`` blocks and width ``w_i``; its first block has stride 1 (stage 1)
or 2 (stages 2, 3). Blocks (pycls naming):

* ``vanilla``: two 3x3 conv-BN-ReLU, no residual;
* ``res_basic``: two 3x3 convs with a residual connection (ResNet basic block);
* ``res_bottleneck``: 1x1 -> 3x3 group conv -> 1x1 with bottleneck width ``w_b = w / r`` and
  ``g`` groups (ResNeXt block).

A projection shortcut (1x1 conv + BN) is used whenever the width or resolution changes.

Value grids (NDS Table 1; ``size()`` equals the paper's counts exactly)::

    vanilla / resnet : d in {1,2,3,4,6,8,12,16,24}, w in {16,24,32,40,48,64,80,96,128,160,192,256}
                       -> (9*12)^3 = 1,259,712
    resnext_a        : d in {1,2,4,8,16}, w in {16,32,64,128,256}, r in {1,2,4}, g in {1,2,4}
                       -> (5*5*3*3)^3 = 11,390,625
    resnext_b        : d in {1,2,4,8,16}, w in {64,128,256,512,1024}, r in {1,2,4},
                       g in {1,2,4,8,16} -> (5*5*3*5)^3 = 52,734,375

Config example (ResNet-56): ``{"block": "res_basic", "depths": [9, 9, 9],
"widths": [16, 32, 64]}``; bottleneck spaces add ``"bot_ratios"`` and ``"groups"`` lists.
"""

from __future__ import annotations

from torch import nn

from .complexity import conv2d_cx, gap2d_cx, linear_cx, norm2d_cx

STEM_WIDTH = 16
STAGE_STRIDES = (1, 2, 2)
BLOCKS = ("vanilla", "res_basic", "res_bottleneck")


def _conv_bn(w_in, w_out, k, stride=1, groups=1):
    return [
        nn.Conv2d(w_in, w_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(w_out),
    ]


def _conv_bn_cx(cx, w_in, w_out, k, stride=1, groups=1):
    conv2d_cx(cx, w_in, w_out, k, stride=stride, groups=groups)
    return norm2d_cx(cx, w_out)


class Stem(nn.Module):
    """3x3 conv, BN, ReLU."""

    def __init__(self, w_in, w_out):
        super().__init__()
        self.f = nn.Sequential(*_conv_bn(w_in, w_out, 3), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.f(x)

    @staticmethod
    def complexity(cx, w_in, w_out):
        return _conv_bn_cx(cx, w_in, w_out, 3)


class Shortcut(nn.Module):
    """Projection shortcut: 1x1 conv (strided) + BN."""

    def __init__(self, w_in, w_out, stride):
        super().__init__()
        self.f = nn.Sequential(*_conv_bn(w_in, w_out, 1, stride))

    def forward(self, x):
        return self.f(x)

    @staticmethod
    def complexity(cx, w_in, w_out, stride):
        return _conv_bn_cx(cx, w_in, w_out, 1, stride)


def _needs_proj(w_in, w_out, stride):
    return w_in != w_out or stride != 1


class VanillaBlock(nn.Module):
    """Two 3x3 conv-BN-ReLU layers, no residual."""

    def __init__(self, w_in, w_out, stride, **_):
        super().__init__()
        self.f = nn.Sequential(
            *_conv_bn(w_in, w_out, 3, stride), nn.ReLU(inplace=True),
            *_conv_bn(w_out, w_out, 3), nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.f(x)

    @staticmethod
    def complexity(cx, w_in, w_out, stride, **_):
        _conv_bn_cx(cx, w_in, w_out, 3, stride)
        return _conv_bn_cx(cx, w_out, w_out, 3)


class _Residual(nn.Module):
    """ReLU(shortcut(x) + F(x)); subclasses build ``self.f`` and then call ``_add_shortcut``
    (after ``f``, so parameters are created, and seeded weights drawn, in the same order as before)."""

    def _add_shortcut(self, w_in, w_out, stride):
        """Projection shortcut when the shape changes, identity otherwise; final ReLU."""
        self.proj = Shortcut(w_in, w_out, stride) if _needs_proj(w_in, w_out, stride) else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        s = x if self.proj is None else self.proj(x)
        return self.relu(s + self.f(x))

    @staticmethod
    def shortcut_complexity(cx, w_in, w_out, stride):
        """Add the projection's cost (if any) to ``cx``, leaving the residual branch's input size."""
        if _needs_proj(w_in, w_out, stride):
            h, w = cx["h"], cx["w"]
            Shortcut.complexity(cx, w_in, w_out, stride)
            cx["h"], cx["w"] = h, w


class ResBasicBlock(_Residual):
    """ResNet basic block: x + F(x), F = 3x3 conv-BN-ReLU, 3x3 conv-BN."""

    def __init__(self, w_in, w_out, stride, **_):
        super().__init__()
        self.f = nn.Sequential(
            *_conv_bn(w_in, w_out, 3, stride), nn.ReLU(inplace=True), *_conv_bn(w_out, w_out, 3)
        )
        self._add_shortcut(w_in, w_out, stride)

    @staticmethod
    def complexity(cx, w_in, w_out, stride, **_):
        _Residual.shortcut_complexity(cx, w_in, w_out, stride)
        _conv_bn_cx(cx, w_in, w_out, 3, stride)
        return _conv_bn_cx(cx, w_out, w_out, 3)


class ResBottleneckBlock(_Residual):
    """ResNeXt block: x + F(x), F = 1x1, 3x3 (g groups), 1x1 with width w_out / r inside."""

    def __init__(self, w_in, w_out, stride, bot_ratio=1, groups=1):
        super().__init__()
        w_b = w_out // bot_ratio
        self.f = nn.Sequential(
            *_conv_bn(w_in, w_b, 1), nn.ReLU(inplace=True),
            *_conv_bn(w_b, w_b, 3, stride, groups), nn.ReLU(inplace=True),
            *_conv_bn(w_b, w_out, 1),
        )
        self._add_shortcut(w_in, w_out, stride)

    @staticmethod
    def complexity(cx, w_in, w_out, stride, bot_ratio=1, groups=1):
        _Residual.shortcut_complexity(cx, w_in, w_out, stride)
        w_b = w_out // bot_ratio
        _conv_bn_cx(cx, w_in, w_b, 1)
        _conv_bn_cx(cx, w_b, w_b, 3, stride, groups)
        return _conv_bn_cx(cx, w_b, w_out, 1)


BLOCK_FUNS = {"vanilla": VanillaBlock, "res_basic": ResBasicBlock, "res_bottleneck": ResBottleneckBlock}


class Head(nn.Module):
    """Global average pooling + fully connected classifier."""

    def __init__(self, w_in, num_classes):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w_in, num_classes)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))

    @staticmethod
    def complexity(cx, w_in, num_classes):
        gap2d_cx(cx)
        return linear_cx(cx, w_in, num_classes)


class AnyNet(nn.Module):
    """Stem + stages of identical blocks + head, built from a validated config."""

    def __init__(self, config: dict, in_channels: int, num_classes: int):
        super().__init__()
        self.stem = Stem(in_channels, STEM_WIDTH)
        block = BLOCK_FUNS[config["block"]]
        stages, w_in = [], STEM_WIDTH
        for i, (d, w, kw) in enumerate(stage_params(config)):
            layers = []
            for j in range(d):
                stride = STAGE_STRIDES[i] if j == 0 else 1
                layers.append(block(w_in, w, stride, **kw))
                w_in = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.head = Head(w_in, num_classes)
        _init_weights(self)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))

    @staticmethod
    def complexity(cx, config, in_channels, num_classes):
        Stem.complexity(cx, in_channels, STEM_WIDTH)
        block = BLOCK_FUNS[config["block"]]
        w_in = STEM_WIDTH
        for i, (d, w, kw) in enumerate(stage_params(config)):
            for j in range(d):
                block.complexity(cx, w_in, w, STAGE_STRIDES[i] if j == 0 else 1, **kw)
                w_in = w
        return Head.complexity(cx, w_in, num_classes)


def stage_params(config):
    n = len(config["depths"])
    ratios = config.get("bot_ratios") or [None] * n
    groups = config.get("groups") or [None] * n
    for d, w, r, g in zip(config["depths"], config["widths"], ratios, groups):
        kw = {} if r is None else {"bot_ratio": r, "groups": g}
        yield d, w, kw


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


def resnet_cifar_config(depth: int = 56) -> dict:
    """Config of the classic CIFAR ResNet-(6n+2): n basic blocks per stage, widths 16/32/64."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 >= 8, got {depth!r}")
    n = (depth - 2) // 6
    return {"block": "res_basic", "depths": [n, n, n], "widths": [16, 32, 64]}
