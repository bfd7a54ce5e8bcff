"""Every split of the library, on one per-class permutation core (:func:`class_parts`).

- :func:`stratified_split`: train/val/test by class with largest-remainder counts per class (the
  split of every SPD dataset, ``SPDDataset.split``, and of raw ``(X, y)`` pairs in ``spdnas.nas``);
- :func:`group_split` (whole groups, e.g. subjects) and :func:`official_split` (a ``split`` column);
- :func:`stratified_subset`: a share of each class (the data-efficiency training subsets);
- :func:`stratified_train_test`: a global test quota spread over the classes by largest
  remainder, parts shuffled (the image datasets of the sweeps, scikit-learn's convention).

The rules differ in how many samples each class gives to each part; the draws are the same
(one permutation per class, in sorted label order), so a seed fixes every split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["SPLIT_NAMES", "Split", "check_fractions", "check_class_sizes", "allocate", "class_parts", "stratified_split", "group_split",
           "official_split", "stratified_subset", "stratified_train_test"]

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


class Split(NamedTuple):
    """Index arrays (int64, sorted) of a train/validation/test partition."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray




def check_fractions(fractions) -> np.ndarray:
    """(train, val, test) shares from 2 (train, test) or 3 non-negative fractions summing to 1."""
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or f.size not in (2, 3):
        raise ValueError(f"fractions must have 2 (train, test) or 3 (train, val, test) entries, got {fractions!r}")
    if not np.isfinite(f).all() or (f < 0).any() or abs(f.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions!r}")
    if f.size == 2:
        f = np.array([f[0], 0.0, f[1]])
    return f


def allocate(n: int, f: np.ndarray) -> np.ndarray:
    """Largest-remainder integer allocation of ``n`` items to fractions ``f``; every non-zero
    fraction gets at least one item when ``n`` allows it."""
    raw = n * f
    counts = np.floor(raw).astype(int)
    rem = n - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rem]] += 1
    need = np.nonzero((f > 0) & (counts == 0))[0]
    for j in need:
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[j] += 1
    return counts


def class_parts(y, rng: np.random.Generator, counts: Callable[[int, int], "np.ndarray | list[int]"],
                index=None) -> list[list[np.ndarray]]:
    """Per class (sorted labels) a permutation of its indices cut into consecutive parts of sizes
    ``counts(n_class, class_position)``; returns, per part, the list of the classes' chunks."""
    y = np.asarray(y)
    index = np.arange(len(y)) if index is None else np.asarray(index)
    parts: list[list[np.ndarray]] | None = None
    for pos, c in enumerate(np.unique(y)):
        idx = rng.permutation(index[y == c])
        sizes = np.asarray(counts(len(idx), pos), dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        parts = parts or [[] for _ in sizes]
        for j in range(len(sizes)):
            parts[j].append(idx[bounds[j]: bounds[j + 1]])
    return parts or []


def _as_split(parts) -> Split:
    return Split(*(np.sort(np.asarray(p, dtype=np.int64)) for p in parts))


def check_class_sizes(y, f: np.ndarray, class_names=None) -> None:
    """ValueError naming the classes with fewer samples than the non-empty parts of ``f``."""
    need = int((f > 0).sum())
    values, counts = np.unique(np.asarray(y), return_counts=True)
    small = np.nonzero(counts < need)[0]
    if small.size:
        def name(v):
            return class_names[int(v)] if class_names is not None else v.item()
        listed = ", ".join(f"class {name(values[i])!r} has {int(counts[i])}" for i in small[:5])
        more = f" (and {small.size - 5} more)" if small.size > 5 else ""
        shares = "/".join(f"{v:g}" for v in f)
        raise ValueError(f"too few samples per class for a {shares} train/val/test split (needs at "
                         f"least {need} per class, one in each non-empty part): {listed}{more}")


def stratified_split(y, seed: int, fractions=(0.5, 0.25, 0.25), index=None, class_names=None) -> Split:
    """Random split stratified by class, fully determined by ``seed`` (largest-remainder counts per class).

    A class with fewer samples than non-empty parts is a ValueError naming it (``class_names[label]``
    when given) and its count.
    """
    f = check_fractions(fractions)
    check_class_sizes(y, f, class_names)
    parts = class_parts(y, np.random.default_rng(seed), lambda n, _: allocate(n, f), index)
    return _as_split([np.concatenate(p) if p else np.empty(0, np.int64) for p in parts])


def group_split(groups, seed: int, fractions=(0.5, 0.25, 0.25)) -> Split:
    """Split whole groups (e.g. subjects): the fractions are shares of the groups, by ``seed``."""
    f = check_fractions(fractions)
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    if uniq.size < int((f > 0).sum()):
        raise ValueError(
            f"cannot split {uniq.size} group(s) into {int((f > 0).sum())} non-empty parts"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(uniq)
    counts = allocate(uniq.size, f)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    parts = [np.nonzero(np.isin(groups, perm[bounds[j]: bounds[j + 1]]))[0] for j in range(3)]
    return _as_split(parts)


def official_split(split_col, y, seed: int, fractions=(0.5, 0.25, 0.25), class_names=None) -> Split:
    """Official train/test split from a ``split`` column; without official validation rows the
    validation part is carved from train (stratified, share f_val / (f_train + f_val), by seed)."""
    f = check_fractions(fractions)
    col = pd.Series(split_col).astype(str).str.lower().map(SPLIT_NAMES)
    if col.isna().any():
        bad = pd.Series(split_col)[col.isna()].unique()[:5]
        raise ValueError(f"official split column has unknown values {list(bad)} (use train/val/test)")
    col = col.to_numpy()
    train = np.nonzero(col == "train")[0]
    val = np.nonzero(col == "val")[0]
    test = np.nonzero(col == "test")[0]
    if train.size == 0 or test.size == 0:
        raise ValueError("official split needs both train and test rows")
    if val.size == 0 and f[1] > 0:
        share = f[1] / (f[0] + f[1])
        try:
            sub = stratified_split(np.asarray(y)[train], seed, (1.0 - share, share), index=train,
                                   class_names=class_names)
        except ValueError as exc:
            raise ValueError(f"official split has no val rows; carving them from train: {exc}") from None
        train, val = sub.train, sub.test
    return _as_split([train, val, test])


def stratified_subset(y, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class (rounded, at least one sample per class)."""
    def counts(n, _):
        k = max(1, int(round(fraction * n)))
        return [k, n - k]

    keep = class_parts(y, np.random.default_rng(seed), counts)[0]
    return np.sort(np.concatenate(keep))


def stratified_train_test(y, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: ``ceil(test_fraction * N)`` test samples allotted to classes
    in proportion to their sizes (largest remainder), each part shuffled by ``seed``."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    _, sizes = np.unique(y, return_counts=True)
    n_test = int(np.ceil(test_fraction * len(y)))
    quota = sizes * n_test / len(y)
    take = np.floor(quota).astype(int)
    for j in np.argsort(-(quota - take), kind="stable")[: n_test - take.sum()]:
        take[j] += 1
    te, tr = class_parts(y, rng, lambda n, pos: [int(take[pos]), n - int(take[pos])])
    return rng.permutation(np.concatenate(tr)), rng.permutation(np.concatenate(te))
