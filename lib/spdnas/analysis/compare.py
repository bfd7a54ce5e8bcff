"""Generic NDS comparisons of populations: usable bin counts, normalisable subsets, KS of every space
against a reference (plain and complexity-normalised)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.status import not_run
from ..core.validators import positive_int
from .stats import ks_weighted, normalize_spaces

__all__ = ["usable_bins", "normalizable_subset", "compare_variants"]


def usable_bins(pop: pd.DataFrame, want: int, by: str = "params") -> int | None:
    """Largest bin count <= ``want`` for which every space of ``pop`` can be normalised by ``by``
    on the common range (no empty bin); None when the ranges do not overlap."""
    want = positive_int(want, "bins")
    for k in range(want, 0, -1):
        try:
            normalize_spaces(pop, by=by, bins=k)
            return k
        except ValueError:
            continue
    return None


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
    ref = pop[pop["space"] == reference]
    for s in spaces:
        if s == reference:
            continue
        g = pop[pop["space"] == s]
        ks = ks_weighted(g["error"].to_numpy(float), ref["error"].to_numpy(float))
        rows.append({"variant": s, "reference": reference, "normalisation": "none", "bins": np.nan,
                     "n_eff": ks.n_a, "n_eff_ref": ks.n_b, "ks_D": ks.statistic, "ks_p": ks.pvalue, "status": "ok"})
        pair = pop[pop["space"].isin([s, reference])]
        k = usable_bins(pair, bins, by)
        if k is None:
            rows.append({"variant": s, "reference": reference, "normalisation": by, "bins": np.nan,
                         "n_eff": np.nan, "n_eff_ref": np.nan, "ks_D": np.nan, "ks_p": np.nan,
                         "status": not_run(f"{by} ranges of {s} and {reference} do not overlap")})
            continue
        nd = normalize_spaces(pair, by=by, bins=k)
        a, b = nd[nd["space"] == s], nd[nd["space"] == reference]
        ks = ks_weighted(a["error"].to_numpy(float), b["error"].to_numpy(float), a["weight"].to_numpy(),
                         b["weight"].to_numpy())
        rows.append({"variant": s, "reference": reference, "normalisation": by, "bins": k, "n_eff": ks.n_a,
                     "n_eff_ref": ks.n_b, "ks_D": ks.statistic, "ks_p": ks.pvalue, "status": "ok"})
    return pd.DataFrame(rows)
