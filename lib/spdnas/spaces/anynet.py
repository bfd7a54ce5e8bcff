"""NDS standard image design spaces (AnyNet): Vanilla, ResNet, ResNeXt-A, ResNeXt-B.

The networks live in :mod:`spdnas.models.anynet`; this module holds the value grids (NDS
Table 1; ``size()`` equals the paper's counts exactly) and :class:`AnyNetSpace`.
"""

from __future__ import annotations

import numpy as np

from ..models.anynet import BLOCK_FUNS, BLOCKS, AnyNet
from ..models.complexity import new_cx
from .base import DesignSpace, check_dataset_info, choice, prod


def _pos_int_list(config, key, n):
    v = config.get(key)
    if not isinstance(v, (list, tuple)) or len(v) != n:
        raise ValueError(f"config[{key!r}] must be a list of {n} integers, got {v!r}")
    out = []
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or int(x) <= 0:
            raise ValueError(f"config[{key!r}] must hold positive integers, got {v!r}")
        out.append(int(x))
    return out


class AnyNetSpace(DesignSpace):
    """Per-stage independent depth/width(/bottleneck ratio/groups) grids over AnyNet models."""

    def __init__(self, name, block, depths, widths, bot_ratios=None, groups=None, stages=3):
        if block not in BLOCK_FUNS:
            raise ValueError(f"unknown block {block!r}; known: {BLOCKS}")
        if (block == "res_bottleneck") != (bot_ratios is not None and groups is not None):
            raise ValueError("bot_ratios and groups are required exactly for res_bottleneck")
        self.name, self.block, self.stages = name, block, int(stages)
        self.grid = {"depths": list(depths), "widths": list(widths)}
        if bot_ratios is not None:
            self.grid.update(bot_ratios=list(bot_ratios), groups=list(groups))

    def keys(self):
        return ["block", *self.grid]

    def sample(self, rng):
        """Each stage draws each hyper-parameter uniformly and independently."""
        cfg = {"block": self.block}
        for key, values in self.grid.items():
            cfg[key] = [int(choice(rng, values)) for _ in range(self.stages)]
        return cfg

    def validate(self, config, strict: bool = False):
        """Check structure (and, with ``strict``, grid membership); return a clean copy."""
        if not isinstance(config, dict):
            raise ValueError(f"config must be a dict, got {type(config).__name__}")
        unknown = set(config) - set(self.keys())
        if unknown:
            raise ValueError(f"unknown config keys for space {self.name!r}: {sorted(unknown)}")
        if config.get("block", self.block) != self.block:
            raise ValueError(f"space {self.name!r} uses block {self.block!r}, got {config['block']!r}")
        out = {"block": self.block}
        for key, values in self.grid.items():
            out[key] = _pos_int_list(config, key, self.stages)
            if strict and any(v not in values for v in out[key]):
                raise ValueError(f"config[{key!r}]={out[key]} is outside the grid {values}")
        if self.block == "res_bottleneck":
            for w, r, g in zip(out["widths"], out["bot_ratios"], out["groups"]):
                if w % r or (w // r) % g:
                    raise ValueError(
                        f"width {w} with bottleneck ratio {r} and {g} groups is not divisible"
                    )
        return out

    def build(self, config, dataset_info):
        info = check_dataset_info(dataset_info)
        return AnyNet(self.validate(config), info["in_channels"], info["num_classes"])

    def complexity(self, config, dataset_info):
        info = check_dataset_info(dataset_info)
        cx = new_cx(info["image_size"])
        AnyNet.complexity(cx, self.validate(config), info["in_channels"], info["num_classes"])
        return {"params": cx["params"], "flops": cx["flops"]}

    def size(self):
        return prod(len(v) for v in self.grid.values()) ** self.stages

    def describe(self):
        return {"name": self.name, "size": self.size(), "block": self.block, **self.grid}


STD_DEPTHS = [1, 2, 3, 4, 6, 8, 12, 16, 24]
STD_WIDTHS = [16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256]

# The four spaces of NDS Table 1 (listed in spdnas.spaces.registry).
ANYNET_SPACES = (
    AnyNetSpace("vanilla", "vanilla", STD_DEPTHS, STD_WIDTHS),
    AnyNetSpace("resnet", "res_basic", STD_DEPTHS, STD_WIDTHS),
    AnyNetSpace("resnext_a", "res_bottleneck", [1, 2, 4, 8, 16], [16, 32, 64, 128, 256],
                bot_ratios=[1, 2, 4], groups=[1, 2, 4]),
    AnyNetSpace("resnext_b", "res_bottleneck", [1, 2, 4, 8, 16], [64, 128, 256, 512, 1024],
                bot_ratios=[1, 2, 4], groups=[1, 2, 4, 8, 16]),
)
