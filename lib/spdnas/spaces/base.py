"""The design-space base class and the sampling helpers of the spaces.

A design space is declarative: it samples JSON-able configs, builds ``nn.Module`` s (from
:mod:`spdnas.models` or :mod:`spdnas.nas`) from a config plus a ``dataset_info`` dict, and computes
exact params/flops analytically. The named spaces are listed in :mod:`spdnas.spaces.registry`.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod

import numpy as np
from torch import nn


def check_dataset_info(info: dict, keys=("in_channels", "image_size", "num_classes")) -> dict:
    """Validate a dataset_info dict holding positive integers under ``keys``."""
    if not isinstance(info, dict):
        raise ValueError(f"dataset_info must be a dict, got {type(info).__name__}")
    out = dict(info)
    for k in keys:
        if k not in info:
            raise ValueError(f"dataset_info is missing {k!r} (has {sorted(info)})")
        v = info[k]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) <= 0:
            raise ValueError(f"dataset_info[{k!r}] must be a positive integer, got {v!r}")
        out[k] = int(v)
    return out


class DesignSpace(ABC):
    """A parameterised population of models: sample configs, build them, count them."""

    name: str = ""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> dict:
        """Draw one JSON-able config."""

    @abstractmethod
    def validate(self, config: dict, strict: bool = False) -> dict:
        """Return a normalised copy of ``config`` or raise ValueError naming the problem.

        ``strict``: also require every value to lie on the space's value grid."""

    def contains(self, config) -> bool:
        """Whether ``config`` is a valid point of this space's value grid."""
        try:
            self.validate(config, strict=True)
        except ValueError:
            return False
        return True

    @abstractmethod
    def build(self, config: dict, dataset_info: dict) -> nn.Module:
        """Instantiate the model for ``config`` and a dataset."""

    @abstractmethod
    def complexity(self, config: dict, dataset_info: dict) -> dict:
        """Analytic ``{"params": int, "flops": int}`` (flops = multiply-adds)."""

    @abstractmethod
    def size(self) -> int:
        """Number of distinct configurations in the space."""

    def counts(self) -> dict[str, int]:
        """What the space counts, label -> number (``spdnas spaces`` prints them): ``configurations``
        (:meth:`size`) and, for cell spaces, how many cells there are."""
        return {"configurations": self.size()}

    def params(self, config: dict, dataset_info: dict) -> int:
        """Exact learnable parameter count."""
        return int(self.complexity(config, dataset_info)["params"])

    def flops(self, config: dict, dataset_info: dict) -> int:
        """Exact multiply-adds for one input sample."""
        return int(self.complexity(config, dataset_info)["flops"])

    def cost(self, config: dict, dataset_info: dict) -> float:
        """Relative training cost of a config (sweeps run the costliest first); default = flops."""
        return float(self.flops(config, dataset_info))

    def input_shape(self, dataset_info: dict) -> tuple:
        """Shape of one input sample (no batch dim); image spaces use (C, S, S)."""
        info = check_dataset_info(dataset_info)
        return (info["in_channels"], info["image_size"], info["image_size"])

    def to_json(self, config: dict) -> str:
        """Canonical JSON string of a (validated) config."""
        return json.dumps(self.validate(config), sort_keys=True, separators=(",", ":"))

    def describe(self) -> dict:
        """JSON-able summary of the space (name, size, value grids)."""
        return {"name": self.name, "size": self.size()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, size={self.size():,})"


def _rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def choice(rng: np.random.Generator, values):
    """Uniform choice from a list, returning the plain Python element."""
    return values[int(_rng(rng).integers(len(values)))]


def prod(values) -> int:
    """Exact integer product."""
    return int(math.prod(int(v) for v in values))
