"""Generic NDS comparisons of populations: usable bin counts, normalisable subsets, KS of every space
against a reference (plain and complexity-normalised)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.status import not_run
from ..core.validators import positive_int
from .stats import ks_weighted, normalize_spaces

__all__ = ["usable_bins", "normalizable_subset", "compare_pair", "compare_variants"]


def usable_bins(pop: pd.DataFrame, want: int, by="params") -> int | None:
    """Largest bin count <= ``want`` for which every space of ``pop`` can be normalised by ``by``
    (a complexity column, or several that must all work) on the common range (no empty bin);
    None when the ranges do not overlap."""
    want = positive_int(want, "bins")
    metrics = (by,) if isinstance(by, str) else tuple(by)
    for k in range(want, 0, -1):
        try:
            for metric in metrics:
                normalize_spaces(pop, by=metric, bins=k)
            return k
        except ValueError:
            continue
    return None


def compare_pair(pop: pd.DataFrame, a: str, b: str, by: str | None = None, bins: int | None = None) -> dict:
    """Weighted KS test of space ``a``'s error EDF against space ``b``'s: plain (``by=None``) or
    normalised by the complexity column ``by`` with ``bins`` bins on the common range.

    Returns ``{n_eff_a, n_eff_b, mean_error_a, mean_error_b, ks_D, ks_p}`` (means weighted like the EDFs).
    """
    pair = pop[pop["space"].isin([a, b])]
    d = pair if by is None else normalize_spaces(pair, by=by, bins=positive_int(bins, "bins"))
    ga, gb = d[d["space"] == a], d[d["space"] == b]
    wa = None if by is None else ga["weight"].to_numpy()
    wb = None if by is None else gb["weight"].to_numpy()
    ks = ks_weighted(ga["error"].to_numpy(float), gb["error"].to_numpy(float), wa, wb)
    return {"n_eff_a": ks.n_a, "n_eff_b": ks.n_b, "mean_error_a": float(np.average(ga["error"], weights=wa)),
            "mean_error_b": float(np.average(gb["error"], weights=wb)), "ks_D": ks.statistic, "ks_p": ks.pvalue}


def normalizable_subset(pop: pd.DataFrame, reference: str, want: int, by: str = "params"):
    """Spaces that can be complexity-normalised together with ``reference`` (greedy, in name order).

    Returns (subset population, bins used, excluded spaces).
    """
    spaces = sorted(set(pop["space"]))
    if reference not in spaces:
        raise ValueError(f"reference space {reference!r} not in the population (has {spaces})")
    keep, excluded, k = [reference], [], None
    for s in spaces:
        if s == reference:
            continue
        b = usable_bins(pop[pop["space"].isin(keep + [s])], want, by)
        if b is None:
            excluded.append(s)
        else:
            keep.append(s)
    sub = pop[pop["space"].isin(keep)]
    if len(keep) > 1:
        k = usable_bins(sub, want, by)
    return sub, k, excluded


def compare_variants(pop: pd.DataFrame, reference: str = "full", bins: int = 4, by: str = "params") -> pd.DataFrame:
    """KS test of every variant's error EDF against ``reference``: plain and ``by``-normalised
    (largest usable bin count <= ``bins``; not-run rows when the complexity ranges do not overlap)."""
    spaces = sorted(set(pop["space"]))
    if reference not in spaces:
        raise ValueError(f"reference space {reference!r} not in the population (has {spaces})")
    rows = []
    for s in spaces:
        if s == reference:
            continue
        r = compare_pair(pop, s, reference)
        rows.append({"variant": s, "reference": reference, "normalisation": "none", "bins": np.nan,
                     "n_eff": r["n_eff_a"], "n_eff_ref": r["n_eff_b"], "ks_D": r["ks_D"], "ks_p": r["ks_p"],
                     "status": "ok"})
        k = usable_bins(pop[pop["space"].isin([s, reference])], bins, by)
        if k is None:
            rows.append({"variant": s, "reference": reference, "normalisation": by, "bins": np.nan,
                         "n_eff": np.nan, "n_eff_ref": np.nan, "ks_D": np.nan, "ks_p": np.nan,
                         "status": not_run(f"{by} ranges of {s} and {reference} do not overlap")})
            continue
        r = compare_pair(pop, s, reference, by, k)
        rows.append({"variant": s, "reference": reference, "normalisation": by, "bins": k, "n_eff": r["n_eff_a"],
                     "n_eff_ref": r["n_eff_b"], "ks_D": r["ks_D"], "ks_p": r["ks_p"], "status": "ok"})
    return pd.DataFrame(rows)
