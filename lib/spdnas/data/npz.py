"""Bring your own SPD data: a user's ``.npz`` file as a registered dataset (``load_dataset("npz", path=...)``).

The archive holds plain arrays (never unpickled):

* ``X`` (N, n, n): symmetric positive definite matrices (any real dtype, read as float64);
* ``y`` (N,): class labels, integers or strings (encoded 0..K-1 in sorted order, names kept);
* ``split`` (N,), optional: ``train`` / ``val`` / ``test`` per sample, the dataset's official split,
  used instead of a stratified split (without ``val`` rows the validation part is carved from train);
* ``groups`` (N,), optional: group ids (e.g. subjects, integers or strings); without ``split`` the
  dataset is split by whole groups, so one group never sits in two parts.

Covariances of real recordings are often rank deficient: ``ridge`` (off by default) adds
``ridge · tr(X_i)/n · I`` to each matrix, relative to its own mean eigenvalue. With the ridge
off a matrix that is not positive definite is an error naming its index and smallest eigenvalue.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .base import SPDDataset, check_square_symmetric, encode_labels, non_positive_definite, regularise
from .files import read_npz
from .splits import SPLIT_NAMES

__all__ = ["load_npz", "npz_sources", "NPZ_KEYS"]

NPZ_KEYS = {"required": ("X", "y"), "optional": ("split", "groups")}
_RIDGE_HINT = "pass ridge=1e-4 (adds 1e-4 · tr(X_i)/n · I to each matrix) for rank-deficient covariances"


def npz_sources(options: dict) -> list:
    """The input file of an npz dataset (its size and modification time enter the cache key)."""
    path = options.get("path")
    return [] if path is None else [Path(path).expanduser().resolve()]


def _ids(arr: np.ndarray, key: str, n: int, path: Path) -> np.ndarray:
    """Per-sample ids (labels, groups, split names) as a 1-D int64 or str array; ValueError otherwise."""
    if arr.ndim != 1:
        raise ValueError(f"{path}: {key} must be 1-D with one entry per matrix, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{path}: {key} has {arr.shape[0]} entries but X holds {n} matrices")
    kind = arr.dtype.kind
    if kind == "S":
        try:
            return np.char.decode(arr, "utf-8").astype(str)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: {key} holds bytes that are not UTF-8 text ({exc})") from None
    if kind == "U":
        return arr.astype(str)
    if kind in "iub":
        return arr.astype(np.int64)
    if kind == "f":
        bad = np.nonzero(~np.isfinite(arr) | (arr != np.round(arr)))[0] if arr.size else []
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{path}: {key}[{i}] = {arr[i].item()!r} is not an integer (use integers or strings)")
        return arr.astype(np.int64)
    raise ValueError(f"{path}: {key} must hold integers or strings, got dtype {arr.dtype}")


def _matrices(x: np.ndarray, path: Path) -> np.ndarray:
    """``X`` as float64 (N, n, n) symmetric matrices; ValueError naming the first bad matrix."""
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{path}: X must hold real numbers, got dtype {x.dtype}")
    if x.ndim != 3:
        raise ValueError(f"{path}: X must be 3-D (N, n, n), got shape {x.shape}")
    if x.shape[1] != x.shape[2]:
        raise ValueError(f"{path}: X must hold square matrices (N, n, n), got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{path}: X is empty (no matrices)")
    if x.shape[1] == 0:
        raise ValueError(f"{path}: X holds 0x0 matrices")
    x = x.astype(np.float64, copy=False)
    bad = np.nonzero(~np.isfinite(x).all(axis=(1, 2)))[0]
    if bad.size:
        raise ValueError(f"{path}: X[{int(bad[0])}] contains NaN or Inf values "
                         f"({bad.size} matrices affected)")
    return check_square_symmetric(x, f"{path}: X")


def _check_spd(x: np.ndarray, ridge: float, path: Path) -> None:
    """ValueError naming the first matrix of ``x`` that is not positive definite."""
    bad, lam = non_positive_definite(x)
    lo = lam[:, 0]
    if bad.size:
        i = int(bad[0])
        hint = _RIDGE_HINT if ridge == 0 else f"with ridge={ridge:g}; a larger ridge may help"
        raise ValueError(f"{path}: X[{i}] is not positive definite (smallest eigenvalue {lo[i]:.3e}, "
                         f"largest {lam[i, -1]:.3e}; {bad.size} of {len(x)} matrices); {hint}")


def _split_column(split: np.ndarray, path: Path) -> np.ndarray:
    """Normalised train/val/test names; ValueError naming unknown values or missing parts."""
    names = pd.Series(split.astype(str)).str.strip().str.lower().map(SPLIT_NAMES)
    if names.isna().any():
        bad = [str(v) for v in pd.unique(split.astype(str)[names.isna().to_numpy()])[:5]]
        raise ValueError(f"{path}: split has unknown values {bad} (use train, val, test)")
    have = set(names)
    missing = [p for p in ("train", "test") if p not in have]
    if missing:
        raise ValueError(f"{path}: split has no {' and no '.join(missing)} rows "
                         "(needs train and test; val is carved from train when absent)")
    return names.to_numpy(dtype=object).astype(str)


def _ridge_value(ridge) -> float:
    try:
        r = float(ridge)
    except (TypeError, ValueError):
        raise ValueError(f"ridge must be a finite non-negative number, got {ridge!r}") from None
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"ridge must be a finite non-negative number, got {ridge!r}")
    return r


def load_npz(path: str | os.PathLike | None = None, ridge: float = 0.0) -> SPDDataset:
    """Your own SPD matrices from a ``.npz`` file (arrays X, y; optional split, groups).

    Args:
        path: the ``.npz`` file; ``X`` (N, n, n) SPD matrices, ``y`` (N,) integer or string labels,
            optional ``split`` (N,) train/val/test (used instead of a stratified split) and
            ``groups`` (N,) ids (without ``split``: whole groups go to one part each).
        ridge: relative ridge, off by default: adds ``ridge · tr(X_i)/n · I`` to each matrix
            (e.g. 1e-4 for rank-deficient covariances).
    """
    if path is None:
        raise ValueError("dataset 'npz' needs path=... (a .npz file with arrays X (N, n, n) and y (N,); "
                         "optional split, groups)")
    path = Path(path).expanduser().resolve()
    r = _ridge_value(ridge)
    z = read_npz(path, NPZ_KEYS["required"], NPZ_KEYS["optional"])
    x = _matrices(z["X"], path)
    n_samples = x.shape[0]
    labels = _ids(z["y"], "y", n_samples, path)
    if np.unique(labels).size < 2:
        raise ValueError(f"{path}: y has a single class ({labels[0]!r}); classification needs at least 2")
    if r:
        x = regularise(x, ridge=r)
    _check_spd(x, r, path)
    y, classes, _ = encode_labels(labels)
    meta = pd.DataFrame({"index": np.arange(n_samples), "label": labels})
    split_by = None
    if "groups" in z:
        meta["group"] = _ids(z["groups"], "groups", n_samples, path)
        split_by = "group"
    if "split" in z:
        meta["split"] = _split_column(_ids(z["split"], "split", n_samples, path), path)
        split_by = "official"
    info = {"path": str(path), "ridge": r, "split_by": split_by,
            "has_split": "split" in z, "has_groups": "groups" in z}
    return SPDDataset("npz", torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), classes,
                      meta, info)
