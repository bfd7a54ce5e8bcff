"""Distribution statistics of design spaces (NDS, Radosavovic et al. ICCV 2019).

Error EDFs, complexity normalisation, KS statistics and the distribution area, all vectorised
numpy (no Python loop over models). Weights are always rescaled to sum to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.stats


def as_values(x, name: str = "errors") -> np.ndarray:
    """1-D finite float64 array with at least one entry, else ``ValueError``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} has NaN/Inf at index {int(np.flatnonzero(bad)[0])}")
    return arr


def as_weights(weights, n: int, name: str = "weights") -> np.ndarray:
    """Non-negative weights of length ``n`` rescaled to sum 1 (``None``: uniform)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} has shape {w.shape}, expected ({n},) to match the values")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise ValueError(f"{name} must be finite and >= 0; index {int(np.flatnonzero(bad)[0])} is {w[bad][0]}")
    total = w.sum()
    if total <= 0:
        raise ValueError(f"{name} sum to zero")
    return w / total


def drop_zero_weights(values: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop zero-weight entries."""
    keep = w > 0
    return (values, w) if keep.all() else (values[keep], w[keep])


def effective_sample_size(weights) -> float:
    """Kish effective sample size ``(sum w)^2 / sum w^2``."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D array, got shape {w.shape}")
    w = as_weights(w, w.size)
    return float(1.0 / np.sum(w * w))


class EDF:
    """Weighted empirical distribution function ``F(e) = sum_i w_i 1[e_i < e]`` (callable)."""

    def __init__(self, errors, weights=None):
        e = as_values(errors)
        w = as_weights(weights, e.size)
        e, w = drop_zero_weights(e, w)
        order = np.argsort(e, kind="stable")
        self.values = e[order]
        self.weights = w[order]
        self.cum = np.minimum(np.cumsum(self.weights), 1.0)
        self.excl = np.concatenate([[0.0], self.cum[:-1]])
        self.n_eff = float(1.0 / np.sum(w * w))

    def __call__(self, x, side: str = "left") -> np.ndarray:
        """``side='left'``: ``P(e < x)``; ``side='right'``: ``P(e <= x)``."""
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        idx = np.searchsorted(self.values, np.asarray(x, dtype=np.float64), side=side)
        cum = np.concatenate([[0.0], self.cum])
        return cum[idx]

    @property
    def support(self) -> np.ndarray:
        """Sorted unique values carrying positive weight."""
        return np.unique(self.values)


def edf(errors, weights=None, grid=None, side: str = "left") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(grid, F)`` with ``F(g) = sum_i w_i 1[e_i < g]`` on a sorted grid.

    Args:
        errors: 1-D values (finite).
        weights: non-negative weights (default ``1/n``); rescaled to sum 1.
        grid: evaluation points (sorted on return); default the unique values with weight > 0.
        side: ``'left'`` strict ``<`` (as defined in the paper) or ``'right'`` for ``<=``
            (right-continuous; with the default grid it ends at 1, convenient for step plots).
    """
    f = EDF(errors, weights)
    g = f.support if grid is None else np.sort(as_values(grid, "grid"))
    return g, f(g, side=side)


def distribution_area(errors, eps, weights=None):
    """Area under the (normalised) EDF up to ``eps``, scaled by ``1/eps``: ``1 - sum w min(1, e/eps)``.

    ``eps`` may be a scalar or an array (result of the same shape). Errors must be >= 0.
    """
    e = as_values(errors)
    if (e < 0).any():
        raise ValueError(f"errors must be >= 0 for the distribution area, got min {e.min()}")
    w = as_weights(weights, e.size)
    eps_arr = np.asarray(eps, dtype=np.float64)
    if not np.all(np.isfinite(eps_arr)) or np.any(eps_arr <= 0):
        raise ValueError(f"eps must be finite and > 0, got {eps!r}")
    order = np.argsort(e, kind="stable")
    es, ws = e[order], w[order]
    cw = np.concatenate([[0.0], np.cumsum(ws)])
    cwe = np.concatenate([[0.0], np.cumsum(ws * es)])
    idx = np.searchsorted(es, eps_arr, side="left")  # models with e < eps
    # sum_{e<eps} w e/eps + sum_{e>=eps} w
    inner = cwe[idx] / eps_arr + (cw[-1] - cw[idx])
    out = 1.0 - inner
    return float(out) if np.ndim(out) == 0 else out


class KSResult(NamedTuple):
    """Two-sample Kolmogorov-Smirnov result."""

    statistic: float
    pvalue: float
    n_a: float
    n_b: float


def ks_test(a, b) -> KSResult:
    """Unweighted two-sample KS test (``scipy.stats.ks_2samp``, two-sided)."""
    a, b = as_values(a, "a"), as_values(b, "b")
    res = scipy.stats.ks_2samp(a, b)
    return KSResult(float(res.statistic), float(res.pvalue), float(a.size), float(b.size))


def ks_rows(rows_sorted: np.ndarray, ref_sorted: np.ndarray, ref_cum: np.ndarray,
             rows_cum: np.ndarray | None = None, rows_excl: np.ndarray | None = None) -> np.ndarray:
    """KS distance of each row's EDF (rows sorted ascending) against a reference EDF.

    ``ref_cum``/``rows_cum`` are inclusive cumulative weights aligned with the sorted values,
    ``rows_excl`` the exclusive ones (``rows_cum=None``: uniform ``(j+1)/k`` and ``j/k``).
    Evaluating at the row points only is exact because both EDFs are step functions:
    ``D = max_j max(C_row(<=x_j) - F_ref(<=x_j), F_ref(<x_j) - C_row(<x_j))`` (ties included).
    """
    k = rows_sorted.shape[-1]
    if rows_cum is None:
        rows_cum = np.arange(1, k + 1, dtype=np.float64) / k
        rows_excl = np.arange(k, dtype=np.float64) / k
    ref = np.concatenate([[0.0], ref_cum])
    f_right = ref[np.searchsorted(ref_sorted, rows_sorted, side="right")]
    f_left = ref[np.searchsorted(ref_sorted, rows_sorted, side="left")]
    d = np.maximum(rows_cum - f_right, f_left - rows_excl)
    return d.max(axis=-1)


def ks_statistic_weighted(a, b, weights_a=None, weights_b=None) -> float:
    """Weighted KS statistic ``sup_x |F_a(x) - F_b(x)|`` of two (normalised) EDFs."""
    fa = EDF(a, weights_a)
    fb = EDF(b, weights_b)
    return float(ks_rows(fa.values, fb.values, fb.cum, fa.cum, fa.excl))


def ks_weighted(a, b, weights_a=None, weights_b=None) -> KSResult:
    """Weighted two-sample KS statistic with an effective-sample-size p-value.

    Extension beyond the paper: the p-value uses the asymptotic two-sided distribution
    ``kstwo(round(n))`` with ``n = n_a n_b / (n_a + n_b)`` and Kish effective sizes
    ``n_eff = (sum w)^2 / sum w^2``. With uniform weights it equals ``ks_2samp(method='asymp')``.
    """
    fa = EDF(a, weights_a)
    fb = EDF(b, weights_b)
    d = float(ks_rows(fa.values, fb.values, fb.cum, fa.cum, fa.excl))
    na, nb = fa.n_eff, fb.n_eff
    en = na * nb / (na + nb)
    p = float(np.clip(scipy.stats.kstwo.sf(d, max(1, int(np.round(en)))), 0.0, 1.0))
    return KSResult(d, p, na, nb)


# ----------------------------------------------------------------------------------------------
# Complexity normalisation
# ----------------------------------------------------------------------------------------------


@dataclass
class Normalization:
    """Complexity-normalisation result: per-model weights over all input models.

    ``mask``: models with complexity in the open interval ``(lo, hi)``; ``weights``: ``1/(B
    count(bin_i))`` for kept models, 0 otherwise (sum 1); ``bin_index``: bin of each model (-1 when
    dropped); ``edges``: the ``B+1`` bin edges; ``counts``: models per bin.
    """

    mask: np.ndarray
    weights: np.ndarray
    bin_index: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    lo: float
    hi: float
    log_bins: bool

    @property
    def bins(self) -> int:
        """Number of bins."""
        return int(self.counts.size)


def _default_range(c: np.ndarray) -> tuple[float, float]:
    """Open interval just containing all values (so no model is dropped)."""
    return float(np.nextafter(c.min(), -np.inf)), float(np.nextafter(c.max(), np.inf))


def complexity_weights(complexity, bins: int = 10, lo: float | None = None, hi: float | None = None,
                       log_bins: bool = False) -> Normalization:
    """Normalisation weights of the NDS authors' code: ``w_i = 1 / (B count(bin_i))``.

    Models with complexity in the open interval ``(lo, hi)`` are kept and split into ``bins``
    equal-width (``log_bins``: equal in log space) bins over ``(lo, hi)``; a bin holds
    ``edges[j] <= c < edges[j+1]``. Every bin must be non-empty. ``lo``/``hi`` default to just
    outside the data range (all models kept); the NDS notebooks pass explicit ranges.
    """
    c = as_values(complexity, "complexity")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    dlo, dhi = _default_range(c)
    lo = dlo if lo is None else float(lo)
    hi = dhi if hi is None else float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        raise ValueError(f"complexity range must satisfy lo < hi, got ({lo}, {hi})")
    if log_bins:
        if lo <= 0:
            raise ValueError(f"log_bins needs lo > 0, got lo={lo}")
        edges = np.exp(np.linspace(np.log(lo), np.log(hi), bins + 1))
        edges[0], edges[-1] = lo, hi
    else:
        edges = np.linspace(lo, hi, bins + 1)
    mask = (c > lo) & (c < hi)
    if not mask.any():
        raise ValueError(f"no model has complexity in the open interval ({lo}, {hi})")
    idx = np.full(c.size, -1, dtype=np.int64)
    idx[mask] = np.clip(np.searchsorted(edges, c[mask], side="right") - 1, 0, bins - 1)
    counts = np.bincount(idx[mask], minlength=bins)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        j = int(empty[0])
        raise ValueError(
            f"complexity bin {j} [{edges[j]:.6g}, {edges[j + 1]:.6g}) is empty "
            f"({empty.size} of {bins} bins empty); use fewer bins or a narrower (lo, hi)"
        )
    w = np.zeros(c.size)
    w[mask] = 1.0 / (bins * counts[idx[mask]])
    return Normalization(mask, w, idx, edges, counts, lo, hi, bool(log_bins))


def normalized_edf(errors, complexity, bins: int = 10, lo=None, hi=None, log_bins=False, grid=None,
                   side: str = "left") -> tuple[np.ndarray, np.ndarray, Normalization]:
    """Complexity-normalised error EDF: ``(grid, F, normalization)``."""
    e = as_values(errors)
    c = as_values(complexity, "complexity")
    if c.size != e.size:
        raise ValueError(f"errors ({e.size}) and complexity ({c.size}) differ in length")
    norm = complexity_weights(c, bins, lo, hi, log_bins)
    g, f = edf(e, norm.weights, grid, side=side)
    return g, f, norm


def normalized_complexity_edf(complexity, bins: int = 10, lo=None, hi=None, log_bins=False,
                              grid=None) -> tuple[np.ndarray, np.ndarray]:
    """EDF of complexity under the normalisation weights; equals ``j/B`` at bin edge ``j``.

    Default grid: the bin edges.
    """
    norm = complexity_weights(complexity, bins, lo, hi, log_bins)
    g = norm.edges if grid is None else grid
    return edf(as_values(complexity, "complexity"), norm.weights, g)


def common_range(complexities) -> tuple[float, float]:
    """Overlap ``(max of mins, min of maxes)`` of several complexity samples (dict or list).

    Nudged outward by one ulp so the open interval keeps the boundary models.
    """
    vals = list(complexities.values()) if isinstance(complexities, dict) else list(complexities)
    if not vals:
        raise ValueError("need at least one complexity sample")
    arrs = [as_values(v, "complexity") for v in vals]
    lo = max(float(a.min()) for a in arrs)
    hi = min(float(a.max()) for a in arrs)
    if not lo < hi:
        raise ValueError(f"complexity ranges do not overlap (max of mins {lo} >= min of maxes {hi})")
    return float(np.nextafter(lo, -np.inf)), float(np.nextafter(hi, np.inf))


def normalize_spaces(df, by: str = "params", bins: int = 10, lo=None, hi=None, log_bins=False,
                     space_col: str = "space"):
    """Normalise every space of a population on a common ``(lo, hi)`` (default: range overlap).

    Returns the rows inside ``(lo, hi)`` with two extra columns: ``weight`` (sums to 1 within
    each space) and ``bin``. A space with an empty bin raises ``ValueError`` naming it.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame) or len(df) == 0:
        raise ValueError("population must be a non-empty DataFrame")
    for col in (by, space_col, "error"):
        if col not in df.columns:
            raise ValueError(f"population has no column {col!r}")
    groups = {k: g for k, g in df.groupby(space_col, sort=True)}
    if lo is None or hi is None:
        clo, chi = common_range({k: g[by].to_numpy(np.float64) for k, g in groups.items()})
        lo = clo if lo is None else lo
        hi = chi if hi is None else hi
    parts = []
    for name, g in groups.items():
        try:
            norm = complexity_weights(g[by].to_numpy(np.float64), bins, lo, hi, log_bins)
        except ValueError as exc:
            raise ValueError(f"space {name!r}: {exc}") from exc
        part = g.loc[norm.mask].copy()
        part["weight"] = norm.weights[norm.mask]
        part["bin"] = norm.bin_index[norm.mask]
        parts.append(part)
    return pd.concat(parts)
