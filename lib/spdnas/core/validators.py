"""Validators of config values: each returns the clean value or raises ``ValueError`` naming it."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["is_int", "positive_int", "int_list", "name_list", "split_fractions", "positive_number", "as_rng"]


def is_int(v) -> bool:
    """True for Python/numpy integers (not bools)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def positive_int(v, name: str, allow_none: bool = False) -> int | None:
    """``v`` as an int >= 1 (or None when ``allow_none``)."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int{' or null' if allow_none else ''}, got {v!r}")
    return int(v)


def int_list(v, name: str, lo: int = 0) -> list[int]:
    """A non-empty list of distinct ints >= ``lo``."""
    if not isinstance(v, (list, tuple)) or not v or any(isinstance(x, bool) or not isinstance(x, int) or x < lo
                                                        for x in v):
        raise ValueError(f"{name} must be a non-empty list of ints >= {lo}, got {v!r}")
    if len(set(v)) != len(v):
        raise ValueError(f"{name} has duplicates: {v!r}")
    return [int(x) for x in v]


def name_list(v, allowed, name: str) -> list:
    """A non-empty list of distinct names, each in ``allowed``."""
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError(f"{name} must be a non-empty list, got {v!r}")
    bad = [x for x in v if x not in allowed]
    if bad:
        raise ValueError(f"{name}: unknown name(s) {bad}; choose from {list(allowed)}")
    if len(set(v)) != len(v):
        raise ValueError(f"{name} has duplicates: {v!r}")
    return list(v)


def split_fractions(v, name: str) -> list[float]:
    """Three positive (train, val, test) shares summing to 1."""
    f = [float(x) for x in v] if isinstance(v, (list, tuple)) else None
    if f is None or len(f) != 3 or any(not math.isfinite(x) or x <= 0 for x in f) or not math.isclose(sum(f), 1.0):
        raise ValueError(f"{name} must be three positive (train, val, test) shares summing to 1, got {v!r}")
    return f


def positive_number(v, name: str) -> float:
    """A finite number > 0."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number, got {v!r}")
    return v


def as_rng(rng, name: str = "rng") -> np.random.Generator:
    """A numpy Generator from a Generator or an int seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if not is_int(rng):
        raise ValueError(f"{name} must be a numpy Generator or an int seed, got {rng!r}")
    return np.random.default_rng(int(rng))
