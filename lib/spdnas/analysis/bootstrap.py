"""Bootstrap confidence bands for EDFs and random-search-efficiency curves.

Beyond the NDS paper (which shows single curves): models are resampled with replacement,
``n_boot`` times, and pointwise percentile bands are reported. For complexity-normalised EDFs
pass ``strata=norm.bin_index`` to resample within each complexity bin (a stratified bootstrap
that keeps every bin non-empty, so the normalisation weights ``1/(B count)`` stay valid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .search import check_ks
from .stats import as_values, as_weights


@dataclass
class Band:
    """A curve with a pointwise bootstrap band: ``x``, the point estimate ``y``, ``lower``/``upper``."""

    x: np.ndarray
    y: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    n_boot: int


def _check_boot(n_boot, level):
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _resample_counts(n: int, n_boot: int, strata, rng) -> np.ndarray:
    """Multiplicity of each model in each bootstrap resample, shape ``(n_boot, n)``."""
    if strata is None:
        idx = rng.integers(0, n, size=(n_boot, n))
    else:
        s = np.asarray(strata)
        if s.shape != (n,):
            raise ValueError(f"strata has shape {s.shape}, expected ({n},)")
        order = np.argsort(s, kind="stable")
        ss = s[order]
        _, start, count = np.unique(ss, return_index=True, return_counts=True)
        grp = np.searchsorted(start, np.arange(n), side="right") - 1  # group of sorted position
        u = rng.random((n_boot, n))
        pos = start[grp] + np.minimum((u * count[grp]).astype(np.int64), count[grp] - 1)
        idx = order[pos]
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n)


def _prepare(errors, weights, strata):
    e = as_values(errors)
    w = as_weights(weights, e.size)
    keep = w > 0
    st = None if strata is None else np.asarray(strata)
    if st is not None and st.shape != e.shape:
        raise ValueError(f"strata has shape {st.shape}, expected {e.shape}")
    e, w = e[keep], w[keep]
    st = None if st is None else st[keep]
    order = np.argsort(e, kind="stable")
    return e[order], w[order], None if st is None else st[order]


def _boot_weights(w, n_boot, strata, rng):
    c = _resample_counts(w.size, n_boot, strata, rng)
    bw = c * w[None, :]
    return bw / bw.sum(axis=1, keepdims=True)


def bootstrap_edf(errors, weights=None, grid=None, n_boot: int = 200, level: float = 0.95,
                  strata=None, seed=0) -> Band:
    """Pointwise percentile band of the (weighted) EDF ``F(g) = sum w 1[e < g]`` on ``grid``."""
    _check_boot(n_boot, level)
    e, w, st = _prepare(errors, weights, strata)
    g = np.unique(e) if grid is None else np.sort(as_values(grid, "grid"))
    rng = np.random.default_rng(seed)
    bw = _boot_weights(w, int(n_boot), st, rng)
    cum = np.concatenate([np.zeros((bw.shape[0], 1)), np.cumsum(bw, axis=1)], axis=1)
    pos = np.searchsorted(e, g, side="left")
    fb = np.minimum(cum[:, pos], 1.0)
    f = np.minimum(np.concatenate([[0.0], np.cumsum(w)])[pos], 1.0)
    a = (1 - level) / 2
    lo, hi = np.quantile(fb, [a, 1 - a], axis=0)
    return Band(g, f, lo, hi, float(level), int(n_boot))


def bootstrap_rse(errors, weights=None, ks=None, n_boot: int = 100, level: float = 0.95,
                  strata=None, seed=0) -> Band:
    """Pointwise percentile band of the exact random-search curve ``E[min of k]``."""
    _check_boot(n_boot, level)
    e, w, st = _prepare(errors, weights, strata)
    ks = check_ks(ks, e.size)
    rng = np.random.default_rng(seed)
    bw = _boot_weights(w, int(n_boot), st, rng)
    step = np.diff(e - e[0])
    surv_b = np.clip(1.0 - np.cumsum(bw, axis=1)[:, :-1], 0.0, 1.0)
    surv = np.clip(1.0 - np.cumsum(w)[:-1], 0.0, 1.0)
    log_b = np.log(np.maximum(surv_b, 1e-300))
    zero_b = surv_b <= 0
    means = np.empty((int(n_boot), ks.size))
    for j, k in enumerate(ks):  # loop over the few k values, vectorised over models/resamples
        p = np.exp(k * log_b)
        p[zero_b] = 0.0
        means[:, j] = p @ step
    y = (surv[None, :] ** ks[:, None].astype(np.float64)) @ step
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a], axis=0)
    return Band(ks, e[0] + y, e[0] + lo, e[0] + hi, float(level), int(n_boot))
