"""The DARTS genotype format shared by the SPD search space (:mod:`spdnas.nas.genotype`) and the
CNN cell networks (:mod:`spdnas.models.darts`), and :class:`Genotype`, its parsed value type.

A genotype is a dict ``{normal, normal_concat, reduce, reduce_concat}`` (or a DARTS namedtuple):
each cell a list of two ``[op, input]`` pairs per intermediate node, node ``k`` reading inputs in
``[0, k + 2)`` (0 and 1 are the cell inputs), and ``*_concat`` the intermediate nodes
concatenated into the output (default: all). Errors are ``ValueError``s naming the entry.
Parsers return a :class:`Genotype`, which they accept back without checking it again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

__all__ = ["CELLS", "KEYS", "Genotype", "is_int", "genotype_dict", "check_pairs", "check_concat"]

CELLS = ("normal", "reduce")
KEYS = ("normal", "normal_concat", "reduce", "reduce_concat")


class Genotype(dict):
    """A parsed genotype: the canonical JSON-able dict (keys :data:`KEYS`), read-only.

    ``family`` names the op vocabulary it was checked against (``"spd"``: SPDNetNAS, ``"cnn"``:
    the CNN cell ops), so a parser handed a Genotype of its own family returns it unchanged.
    Being a dict it compares equal to the plain dict, serialises with ``json`` and pickles.
    """

    __slots__ = ("family",)

    def __init__(self, cells: dict, family: str):
        super().__init__((k, cells[k]) for k in KEYS)
        self.family = str(family)

    @property
    def steps(self) -> int:
        """Intermediate nodes per cell."""
        return len(self["normal"]) // 2

    def cell(self, kind: str) -> list:
        """The ``[op, input]`` pairs of the ``normal`` or ``reduce`` cell."""
        return self[kind]

    def concat(self, kind: str) -> list:
        """The nodes concatenated at the output of the ``normal`` or ``reduce`` cell."""
        return self[f"{kind}_concat"]

    def to_dict(self) -> dict:
        """A plain, independent dict copy."""
        return {k: [list(v) if isinstance(v, list) else v for v in self[k]] for k in KEYS}

    def __reduce__(self):
        return (type(self), (dict(self), self.family))

    def _read_only(self, *args, **kwargs):
        raise TypeError("a Genotype is read-only; use to_dict() for an editable copy")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _read_only


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
