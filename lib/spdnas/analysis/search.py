"""Random-search efficiency, minimal sample size and the point-estimate experiment (NDS).

All functions take a population's errors (and optional normalisation weights), are vectorised
over models and take a ``seed`` for reproducible sampling (``numpy.random.default_rng``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln
from tqdm.auto import tqdm

from .stats import ks_rows, drop_zero_weights, as_values, as_weights


def _sorted_dist(errors, weights) -> tuple[np.ndarray, np.ndarray]:
    """Errors sorted ascending with their normalised weights (zero weights dropped)."""
    e = as_values(errors)
    w = as_weights(weights, e.size)
    e, w = drop_zero_weights(e, w)
    order = np.argsort(e, kind="stable")
    return e[order], w[order]


def check_ks(ks, n: int, name: str = "ks") -> np.ndarray:
    """Budgets ``ks`` as positive ints; ``None`` gives the powers of two up to ``n``."""
    if ks is None:
        return 2 ** np.arange(int(np.floor(np.log2(n))) + 1)
    arr = np.atleast_1d(np.asarray(ks))
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or (arr < 1).any():
        raise ValueError(f"{name} must be a non-empty list of positive integers, got {ks!r}")
    return arr.astype(np.int64)


@dataclass
class RSEResult:
    """Random-search efficiency curve: expected min error of ``k`` random models.

    ``lower``/``upper`` are ``mean -/+ 2 std`` (the band of the NDS figures); ``trials`` is the
    number of simulated trials per ``k`` (0 for the exact curve).
    """

    k: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    trials: np.ndarray

    @property
    def lower(self) -> np.ndarray:
        return self.mean - 2 * self.std

    @property
    def upper(self) -> np.ndarray:
        return self.mean + 2 * self.std


def rse_exact(errors, weights=None, ks=None) -> RSEResult:
    """Exact ``E[min of k]`` and its std for ``k`` weighted draws with replacement.

    Uses ``P(min > e_(j)) = (1 - C_j)^k`` with ``C_j`` the cumulative weight of the ``j``
    smallest errors, and the tail sum ``E[min] = e_(1) + sum_j (e_(j+1) - e_(j)) (1 - C_j)^k``.
    ``ks`` default ``1, 2, 4, ..`` up to the number of models.
    """
    e, w = _sorted_dist(errors, weights)
    ks = check_ks(ks, e.size)
    surv = np.clip(1.0 - np.cumsum(w)[:-1], 0.0, 1.0)  # P(X > e_(j)), j < n
    d = e - e[0]
    step1 = np.diff(d)
    step2 = np.diff(d * d)
    p = surv[None, :] ** ks[:, None].astype(np.float64)  # (len(ks), n-1)
    m1 = p @ step1
    m2 = p @ step2
    std = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    return RSEResult(ks, e[0] + m1, std, np.zeros(ks.size, dtype=np.int64))


def rse_simulate(errors, weights=None, ks=None, trials=None, seed=0, progress=False) -> RSEResult:
    """The NDS simulation: for each ``k``, ``floor(n/k)`` trials of ``k`` weighted draws with
    replacement; the min error of each trial; mean and std over trials.

    ``trials`` fixes the number of trials per ``k`` instead (useful for tight comparisons).
    """
    e, w = _sorted_dist(errors, weights)
    n = e.size
    ks = check_ks(ks, n)
    if trials is not None and (isinstance(trials, bool) or int(trials) != trials or trials < 1):
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    rng = np.random.default_rng(seed)
    uniform = np.allclose(w, 1.0 / n)
    cw = np.cumsum(w)
    means, stds, ts = [], [], []
    for k in tqdm(ks, desc="rse", disable=not progress):
        t = int(trials) if trials is not None else max(1, n // int(k))
        if uniform:
            idx = rng.integers(0, n, size=(t, int(k)))
        else:
            idx = np.minimum(np.searchsorted(cw, rng.random((t, int(k))) * cw[-1], side="right"), n - 1)
        # e is sorted, so the min error is at the min index
        mins = e[idx.min(axis=1)]
        means.append(mins.mean())
        stds.append(mins.std())
        ts.append(t)
    return RSEResult(ks, np.array(means), np.array(stds), np.array(ts, dtype=np.int64))


@dataclass
class SampleSizeResult:
    """Mean (and std) KS statistic between size-``k`` subsamples and a large reference sample."""

    sizes: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n_ref: int
    trials: int


def ks_vs_sample_size(errors, sizes=None, n_ref=None, trials=50, seed=0, progress=False) -> SampleSizeResult:
    """Minimal-sample-size experiment (NDS Fig. 7): KS D of subsamples vs a reference.

    The reference is ``n_ref`` models drawn without replacement (default ``min(n, 2^14)``); for
    each size ``k`` (default ``2^0 .. 2^floor(log2 n_ref)``), ``trials`` subsamples of ``k``
    models are drawn without replacement from the whole population and compared with the
    reference by the two-sample KS statistic (vectorised over trials).
    """
    e = as_values(errors)
    n = e.size
    n_ref = min(n, 2**14) if n_ref is None else int(n_ref)
    if not 1 <= n_ref <= n:
        raise ValueError(f"n_ref must be in [1, {n}], got {n_ref}")
    if isinstance(trials, bool) or int(trials) != trials or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    sizes = check_ks(sizes, n_ref, "sizes")
    if sizes.max() > n:
        raise ValueError(f"sample sizes must be <= the population size {n}, got {sizes.max()}")
    rng = np.random.default_rng(seed)
    ref = np.sort(e[rng.choice(n, n_ref, replace=False)])
    ref_cum = np.arange(1, n_ref + 1, dtype=np.float64) / n_ref
    means, stds = [], []
    for k in tqdm(sizes, desc="ks-vs-size", disable=not progress):
        idx = np.stack([rng.choice(n, int(k), replace=False) for _ in range(int(trials))])
        rows = np.sort(e[idx], axis=1)
        d = ks_rows(rows, ref, ref_cum)
        means.append(d.mean())
        stds.append(d.std())
    return SampleSizeResult(sizes, np.array(means), np.array(stds), n_ref, int(trials))


def decay_slope(sizes, values, kmin=None, kmax=None) -> tuple[float, float]:
    """Least-squares fit ``log values = a + s log sizes`` on ``kmin <= size <= kmax``: ``(s, e^a)``."""
    x = as_values(sizes, "sizes")
    y = as_values(values, "values")
    if x.size != y.size:
        raise ValueError(f"sizes ({x.size}) and values ({y.size}) differ in length")
    sel = np.ones(x.size, bool)
    if kmin is not None:
        sel &= x >= kmin
    if kmax is not None:
        sel &= x <= kmax
    sel &= (x > 0) & (y > 0)
    if sel.sum() < 2:
        raise ValueError("need at least two positive points in range to fit a slope")
    s, a = np.polyfit(np.log(x[sel]), np.log(y[sel]), 1)
    return float(s), float(np.exp(a))


# ----------------------------------------------------------------------------------------------
# Point estimates (NDS Sec. 3 / Fig. 2): is the best of M models better than the best of B?
# ----------------------------------------------------------------------------------------------


@dataclass
class PointEstimateResult:
    """Outcome of the point-estimate experiment.

    ``p_m_better``: fraction of trials with ``min(M) < min(B)``, ties counted 1/2;
    ``p_strict``/``p_tie``: strict wins and ties; ``p_exact``: the same quantity computed exactly
    from the (weighted) empirical distribution; ``p_iid``: ``M/(B+M)``, the value for i.i.d.
    continuous errors; ``diff``: ``min(B) - min(M)`` per trial (the NDS histogram).
    """

    b: int
    m: int
    trials: int
    replace: bool
    p_m_better: float
    p_strict: float
    p_tie: float
    p_exact: float
    p_iid: float
    diff: np.ndarray = field(repr=False)


def _min_surv(counts_below: np.ndarray, n: int, size: int, cw_below, replace: bool) -> np.ndarray:
    """``P(min of size draws >= v)`` given the number / weight of models strictly below ``v``."""
    if replace:
        return np.clip(1.0 - cw_below, 0.0, 1.0) ** size
    free = n - counts_below
    out = np.zeros(free.shape)
    ok = free >= size
    # C(free, size) / C(n, size)
    out[ok] = np.exp(
        gammaln(free[ok] + 1) - gammaln(free[ok] - size + 1) - gammaln(n + 1) + gammaln(n - size + 1)
    )
    return np.minimum(out, 1.0)


def _sample_min_rank(surv_rank: np.ndarray, trials: int, rng) -> np.ndarray:
    """Draw min ranks by inversion of ``S(j) = P(min rank >= j)`` (``S(0) = 1``, decreasing)."""
    u = rng.random(trials)
    # rank = #{j >= 1 : S(j) > u}
    return np.minimum(np.searchsorted(-surv_rank[1:], -u, side="left"), surv_rank.size - 2)


def point_estimate(errors, b: int = 100, m: int = 1000, trials: int = 5000, weights=None,
                   replace: bool | None = None, seed=0) -> PointEstimateResult:
    """P(min error of ``m`` random models < min error of ``b`` random models) over trials.

    Paper setting: ``b=100, m=1000, trials=5000`` with sampling without replacement (the default
    here when ``weights`` is None; weighted draws need ``replace=True``). Each trial samples the
    two minima independently and exactly by inverting the distribution of the minimum rank, so
    a trial costs O(log n) instead of O(b + m).
    """
    e, w = _sorted_dist(errors, weights)
    n = e.size
    for name, v in (("b", b), ("m", m), ("trials", trials)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    uniform = weights is None or np.allclose(w, 1.0 / n)
    if replace is None:
        replace = not uniform
    if not replace:
        if not uniform:
            raise ValueError("weighted sampling needs replace=True")
        if max(b, m) > n:
            raise ValueError(f"without replacement b and m must be <= the population size {n}")
    rng = np.random.default_rng(seed)
    # rank level: S(j) = P(min rank >= j) for j = 0..n
    below = np.arange(n + 1)
    cw_below = np.concatenate([[0.0], np.cumsum(w)])
    rank_b = _sample_min_rank(_min_surv(below, n, b, cw_below, replace), trials, rng)
    rank_m = _sample_min_rank(_min_surv(below, n, m, cw_below, replace), trials, rng)
    min_b, min_m = e[rank_b], e[rank_m]
    p_strict = float(np.mean(min_m < min_b))
    p_tie = float(np.mean(min_m == min_b))
    # exact value on distinct values v: P(min >= v) and P(min > v)
    vals, first = np.unique(e, return_index=True)
    last = np.concatenate([first[1:], [n]])
    s_b_ge = _min_surv(first, n, b, cw_below[first], replace)
    s_b_gt = _min_surv(last, n, b, cw_below[last], replace)
    s_m_ge = _min_surv(first, n, m, cw_below[first], replace)
    s_m_gt = _min_surv(last, n, m, cw_below[last], replace)
    pm_eq = s_m_ge - s_m_gt
    pb_eq = s_b_ge - s_b_gt
    p_exact = float(np.sum(pm_eq * s_b_gt) + 0.5 * np.sum(pm_eq * pb_eq))
    return PointEstimateResult(
        b=int(b), m=int(m), trials=int(trials), replace=bool(replace),
        p_m_better=p_strict + 0.5 * p_tie, p_strict=p_strict, p_tie=p_tie, p_exact=p_exact,
        p_iid=m / (b + m), diff=min_b - min_m,
    )
