"""Split-level input normalisation: recentring every part by the training set's log-Euclidean mean.

``"recentre"`` maps every matrix X of train / val / test to M^{-1/2} X M^{-1/2}, M = expm(mean logm
X_train) (:func:`spdnas.spd.geometry.log_euclidean_mean` of the training matrices only, computed
in float64). The congruence keeps affine-invariant distances, so MDM-like classifiers see the same
data, while networks start near the identity, which shortens convergence in short budgets.
"""

from __future__ import annotations

import torch

from ..spd.functional import check_spd
from ..spd.geometry import log_euclidean_mean, recentre

__all__ = ["NORMALISATIONS", "check_normalise", "recentring_mean", "normalise_split"]

NORMALISATIONS = ("none", "recentre")


def check_normalise(how, name: str = "normalise") -> str:
    """``how`` when it is one of :data:`NORMALISATIONS`, else a ValueError naming ``name``."""
    if not isinstance(how, str) or how not in NORMALISATIONS:
        raise ValueError(f"{name} must be one of {NORMALISATIONS}, got {how!r}")
    return how


def recentring_mean(X) -> torch.Tensor:
    """Log-Euclidean mean (float64) of a stack (N, n, n) of SPD matrices."""
    X = torch.as_tensor(X)
    if X.dim() != 3 or X.shape[-1] != X.shape[-2] or X.shape[0] == 0:
        raise ValueError(f"recentring_mean: expected a non-empty stack (N, n, n), got shape {tuple(X.shape)}")
    X = X.to(torch.float64)
    check_spd(X, "recentring_mean: training matrices")
    return log_euclidean_mean(X, check=False)


def normalise_split(parts: dict, how: str = "none") -> dict:
    """``parts`` ({'train': (X, y), 'val': ..., 'test': ... or None}) normalised by ``how``.

    ``"none"`` returns the parts unchanged; ``"recentre"`` recentres every part by the training
    matrices' log-Euclidean mean (labels untouched, dtype kept).
    """
    check_normalise(how)
    if not isinstance(parts, dict) or "train" not in parts:
        raise ValueError("normalise_split: parts must be a dict with a 'train' (X, y) pair")
    if how == "none":
        return dict(parts)
    M = recentring_mean(parts["train"][0])
    out = {}
    for k, pair in parts.items():
        if pair is None:
            out[k] = None
            continue
        X, y = pair
        X = torch.as_tensor(X)
        X64 = X.to(torch.float64)
        check_spd(X64, f"normalise_split: {k} matrices")
        out[k] = (recentre(X64, M, check=False).to(X.dtype), y)
    return out
