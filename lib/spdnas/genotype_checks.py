"""Validation shared by the DARTS-style genotypes of the SPD search space (:mod:`spdnas.nas.genotype`)
and of the CNN cell design spaces (:mod:`spdnas.spaces.cells`).

A genotype is a dict ``{normal, normal_concat, reduce, reduce_concat}`` (or a DARTS namedtuple):
each cell a list of two ``[op, input]`` pairs per intermediate node, node ``k`` reading inputs in
``[0, k + 2)`` (0 and 1 are the cell inputs), and ``*_concat`` the intermediate nodes
concatenated into the output (default: all). Errors are ``ValueError``s naming the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

__all__ = ["CELLS", "KEYS", "is_int", "genotype_dict", "check_pairs", "check_concat"]

CELLS = ("normal", "reduce")
KEYS = ("normal", "normal_concat", "reduce", "reduce_concat")


def is_int(v) -> bool:
    """An int or numpy integer, not a bool."""
    return not isinstance(v, bool) and isinstance(v, (int, np.integer))


def genotype_dict(genotype) -> dict:
    """The genotype as a dict (namedtuples converted), with only known keys and both cells present."""
    if hasattr(genotype, "_asdict"):
        genotype = genotype._asdict()
    if not isinstance(genotype, dict):
        raise ValueError(f"genotype must be a dict, got {type(genotype).__name__}")
    unknown = set(genotype) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown genotype keys: {sorted(unknown)}")
    for cell in CELLS:
        if cell not in genotype:
            raise ValueError(f"genotype is missing {cell!r}")
    return genotype


def check_pairs(pairs, cell: str, allowed: Callable[[int], tuple[str, Collection[str]]]) -> list:
    """Canonical ``[[op, input], ...]`` of one cell; ``allowed(input)`` gives (the op family's name
    for messages, e.g. 'reduce', or '' for one family; the ops allowed on an edge from that input)."""
    if not isinstance(pairs, (list, tuple)) or len(pairs) < 2 or len(pairs) % 2:
        raise ValueError(f"genotype[{cell!r}] must be a non-empty list with two [op, input] pairs per node")
    out = []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"genotype[{cell!r}][{k}] must be an [op, input] pair, got {pair!r}")
        op, j = pair
        node = k // 2
        if not is_int(j) or not 0 <= j < node + 2:
            raise ValueError(f"genotype[{cell!r}][{k}]: input {j!r} must be an int in [0, {node + 2}) for node {node}")
        what, ops = allowed(int(j))
        if op not in ops:
            family = f"{what} " if what else ""
            raise ValueError(f"genotype[{cell!r}][{k}]: unknown {family}op {op!r}; allowed: {sorted(ops)}")
        out.append([str(op), int(j)])
    return out


def check_concat(concat, cell: str, steps: int) -> list:
    """Sorted node indices of ``{cell}_concat``: distinct ints in [2, steps + 2)."""
    key = f"{cell}_concat"
    if not isinstance(concat, (list, tuple, range)) or len(concat) == 0:
        raise ValueError(f"genotype[{key!r}] must be a non-empty list of node indices")
    vals = []
    for c in concat:
        if not is_int(c) or not 2 <= c < steps + 2:
            raise ValueError(f"genotype[{key!r}] entries must be ints in [2, {steps + 2}), got {list(concat)!r}")
        vals.append(int(c))
    if len(set(vals)) != len(vals):
        raise ValueError(f"genotype[{key!r}] has duplicate entries: {list(concat)!r}")
    return sorted(vals)
