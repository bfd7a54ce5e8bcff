"""Dataset container, reproducible splits and input validation shared by all SPD loaders."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..spd.covariance import CovPool, WindowedCovPool
from .splits import SPLIT_NAMES, Split, group_split, official_split, stratified_split

__all__ = [
    "non_positive_definite",
    "SPDDataset",
    "check_square_symmetric",
    "regularise",
    "check_positive_definite",
    "label_from_filename",
    "encode_labels",
]



# --------------------------------------------------------------------------------------------
# validation helpers (numpy, float64)


def check_square_symmetric(a, where: str, sym_rtol: float = 1e-6) -> np.ndarray:
    """Return ``a`` as a float64 symmetric (n, n) or (N, n, n) array; ValueError naming ``where``."""
    try:
        arr = np.asarray(a)
    except Exception as exc:  # pragma: no cover - numpy conversion error
        raise ValueError(f"{where}: not an array ({exc})") from exc
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{where}: expected a real numeric matrix, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim not in (2, 3) or arr.shape[-1] != arr.shape[-2] or arr.shape[-1] == 0:
        raise ValueError(f"{where}: expected a square matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: contains NaN or Inf values")
    asym = np.abs(arr - np.swapaxes(arr, -1, -2)).max(axis=(-2, -1))
    scale = np.maximum(np.abs(arr).max(axis=(-2, -1)), 1e-300)
    bad = np.nonzero(np.atleast_1d(asym > sym_rtol * scale))[0]
    if bad.size:
        i = int(bad[0])
        rel = float(np.atleast_1d(asym / scale)[i])
        sub = f" (matrix {i})" if arr.ndim == 3 else ""
        raise ValueError(f"{where}{sub}: matrix is not symmetric (max relative asymmetry {rel:.2e})")
    return 0.5 * (arr + np.swapaxes(arr, -1, -2))


def regularise(x: np.ndarray, ridge: float = 0.0, shrinkage: float = 0.0) -> np.ndarray:
    """Shrink towards ``tr/n · I`` by ``shrinkage`` then add ``ridge · tr/n · I`` (relative ridge)."""
    if not 0.0 <= float(shrinkage) <= 1.0:
        raise ValueError(f"shrinkage must lie in [0, 1], got {shrinkage}")
    if not float(ridge) >= 0.0 or not np.isfinite(ridge):
        raise ValueError(f"ridge must be a finite non-negative float, got {ridge}")
    n = x.shape[-1]
    mu = np.trace(x, axis1=-2, axis2=-1) / n
    eye = np.eye(n)
    out = x
    if shrinkage:
        out = (1.0 - shrinkage) * out + shrinkage * mu[..., None, None] * eye
    if ridge:
        out = out + ridge * mu[..., None, None] * eye
    return out


def non_positive_definite(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the matrices of ``x`` (N, n, n) that are not numerically positive definite,
    eigenvalues (N, n) ascending)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # many small matrices: no BLAS threads
        lam = np.linalg.eigvalsh(x)
    lo, hi = lam[:, 0], np.abs(lam[:, -1])
    return np.nonzero(~(lo > 1e-14 * np.maximum(hi, 1e-300)))[0], lam


def check_positive_definite(x: np.ndarray, names: Sequence[str] | None = None, what: str = "") -> None:
    """ValueError naming the first matrix of ``x`` (N, n, n) that is not positive definite."""
    bad, lam = non_positive_definite(x)
    lo = lam[:, 0]
    if bad.size:
        i = int(bad[0])
        who = names[i] if names is not None else f"matrix {i}"
        hint = f" {what}" if what else " (increase the ridge / shrinkage option)"
        raise ValueError(
            f"{who}: matrix is not positive definite (smallest eigenvalue {lo[i]:.3e}, "
            f"largest {lam[i, -1]:.3e}){hint}"
        )


_INT_RE = re.compile(r"^[+-]?\d+$")


def label_from_filename(path: str | Path) -> int:
    """Integer after the last underscore of the file stem (``bd_walk_001_3.npy`` -> 3)."""
    stem = Path(path).stem
    if "_" not in stem:
        raise ValueError(f"{path}: cannot parse a label: file name has no '_<label>' suffix")
    tail = stem.rsplit("_", 1)[1]
    if not _INT_RE.match(tail):
        raise ValueError(f"{path}: cannot parse a label: {tail!r} after the last '_' is not an integer")
    return int(tail)


def encode_labels(raw: Sequence, names: dict | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Map raw labels to 0..K-1 (sorted order); returns (codes, class names, sorted raw values)."""
    raw = np.asarray(raw)
    values, codes = np.unique(raw, return_inverse=True)
    names = names or {}
    classes = [str(names.get(v.item() if hasattr(v, "item") else v, v)) for v in values]
    return codes.astype(np.int64), classes, values


# --------------------------------------------------------------------------------------------
# splits


# --------------------------------------------------------------------------------------------
# container


def _pool_from_spec(spec: dict):
    """Rebuild the signal -> SPD layer recorded in ``info["pool"]`` (kept through the cache)."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind == "windowed":
        return WindowedCovPool(**spec)
    if kind == "cov":
        return CovPool(**spec)
    raise ValueError(f"unknown pool kind {kind!r} in dataset info")


@dataclass
class SPDDataset:
    """SPD matrices with labels, per-sample metadata and reproducible splits.

    Attributes:
        name: registry name.
        X: float64 tensor (N, n, n) of SPD matrices.
        y: int64 tensor (N,) of labels in 0..K-1.
        classes: K class names (``classes[y[i]]``).
        meta: one row per sample (subject, source file, official split, generator parameters...).
        info: dict with at least ``name``, ``n`` (matrix size), ``num_classes``, ``n_samples``.
        signals: optional raw signals the matrices were made from (e.g. complex RADAR returns).
        pool: optional ``torch.nn.Module`` mapping ``signals`` to SPD matrices.
    """

    name: str
    X: torch.Tensor
    y: torch.Tensor
    classes: list
    meta: pd.DataFrame
    info: dict = field(default_factory=dict)
    signals: torch.Tensor | None = None
    pool: torch.nn.Module | None = None

    def __post_init__(self):
        if not isinstance(self.X, torch.Tensor):
            self.X = torch.as_tensor(np.asarray(self.X))
        if not isinstance(self.y, torch.Tensor):
            self.y = torch.as_tensor(np.asarray(self.y))
        self.X = self.X.to(torch.float64)
        self.y = self.y.to(torch.int64)
        if self.X.ndim != 3 or self.X.shape[-1] != self.X.shape[-2]:
            raise ValueError(f"{self.name}: X must have shape (N, n, n), got {tuple(self.X.shape)}")
        n_samples = self.X.shape[0]
        if n_samples == 0:
            raise ValueError(f"{self.name}: dataset is empty")
        if self.y.shape != (n_samples,):
            raise ValueError(f"{self.name}: y must have shape ({n_samples},), got {tuple(self.y.shape)}")
        self.classes = [str(c) for c in self.classes]
        if int(self.y.min()) < 0 or int(self.y.max()) >= len(self.classes):
            raise ValueError(f"{self.name}: labels must lie in 0..{len(self.classes) - 1}")
        if self.meta is None:
            self.meta = pd.DataFrame(index=range(n_samples))
        if len(self.meta) != n_samples:
            raise ValueError(f"{self.name}: meta has {len(self.meta)} rows for {n_samples} samples")
        self.meta = self.meta.reset_index(drop=True)
        info = dict(self.info)
        if self.pool is None and isinstance(info.get("pool"), dict):
            self.pool = _pool_from_spec(info["pool"])
        info.update(name=self.name, n=int(self.X.shape[-1]), num_classes=len(self.classes),
                    n_samples=int(n_samples))
        self.info = info

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def spd(self) -> torch.Tensor:
        """SPD matrices (N, n, n), float64 (same as ``X``)."""
        return self.X

    @property
    def has_official_split(self) -> bool:
        """Whether ``meta`` carries an official train/test ``split`` column."""
        if "split" not in self.meta.columns:
            return False
        col = self.meta["split"].astype(str).str.lower().map(SPLIT_NAMES)
        return bool(col.notna().all()) and {"train", "test"} <= set(col)

    def class_counts(self) -> dict:
        """Number of samples per class name."""
        counts = np.bincount(self.y.numpy(), minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts)}

    def split(self, seed: int = 0, fractions=(0.5, 0.25, 0.25), by: str | None = None) -> Split:
        """Reproducible (train, val, test) index arrays.

        Args:
            seed: same seed, same split.
            fractions: (train, val, test) or (train, test) shares summing to 1.
            by: ``None`` the dataset's own rule (``info["split_by"]``, set e.g. by an npz file with
                ``split`` or ``groups``), else random stratified; ``"stratified"`` random stratified
                by class; ``"official"`` the dataset's official split (validation carved from train
                when there is none); any ``meta`` column (e.g. ``"subject"``) splits whole groups,
                ``fractions`` being shares of groups.
        """
        by = self.info.get("split_by") if by is None else by
        where = self.info.get("path") or self.name
        try:
            if by is None or by == "stratified":
                return stratified_split(self.y.numpy(), seed, fractions, class_names=self.classes)
            if by == "official":
                if "split" not in self.meta.columns:
                    raise ValueError("dataset has no official split (no 'split' column in meta)")
                return official_split(self.meta["split"], self.y.numpy(), seed, fractions,
                                      class_names=self.classes)
            if by not in self.meta.columns:
                raise ValueError(f"cannot split by {by!r}: not a meta column (have {list(self.meta.columns)})")
            return group_split(self.meta[by].to_numpy(), seed, fractions)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def subset(self, index) -> "SPDDataset":
        """New dataset restricted to ``index`` (int array or boolean mask)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        idx = idx.astype(np.int64)
        if idx.size == 0:
            raise ValueError(f"{self.name}: empty subset")
        t = torch.from_numpy(idx)
        return SPDDataset(
            name=self.name, X=self.X[t], y=self.y[t], classes=list(self.classes),
            meta=self.meta.iloc[idx].reset_index(drop=True), info=dict(self.info),
            signals=None if self.signals is None else self.signals[t], pool=self.pool,
        )

    def tensors(self, index=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` tensors, optionally restricted to ``index``."""
        if index is None:
            return self.X, self.y
        t = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return self.X[t], self.y[t]

    def __repr__(self) -> str:
        return (f"SPDDataset(name={self.name!r}, n_samples={len(self)}, n={self.info['n']}, "
                f"classes={self.classes})")
