"""Riemannian optimisers over mixed manifold / Euclidean models (via geoopt)."""

from __future__ import annotations

import geoopt
import torch.nn as nn

__all__ = ["riemannian_optimizer", "split_parameters"]

_OPTIMIZERS = {"sgd": geoopt.optim.RiemannianSGD, "adam": geoopt.optim.RiemannianAdam}


def split_parameters(params):
    """Split an iterable of parameters into (manifold, euclidean) lists."""
    man, euc = [], []
    for p in params:
        if not p.requires_grad:
            continue
        (man if isinstance(p, geoopt.ManifoldParameter) else euc).append(p)
    return man, euc


def riemannian_optimizer(model_or_params, name: str = "sgd", lr: float = 1e-2, weight_decay: float = 0.0,
                         **kwargs):
    """Build geoopt ``RiemannianSGD``/``RiemannianAdam``: manifold parameters (Stiefel, SPD) move by
    Riemannian gradient + retraction and stay on their manifolds; weight decay is applied to the
    Euclidean parameters only (it has no meaning on a manifold).
    """
    key = name.lower()
    if key not in _OPTIMIZERS:
        raise ValueError(f"unknown optimiser {name!r}; choose from {sorted(_OPTIMIZERS)}")
    params = model_or_params.parameters() if isinstance(model_or_params, nn.Module) else model_or_params
    man, euc = split_parameters(params)
    groups = []
    if man:
        groups.append({"params": man, "weight_decay": 0.0})
    if euc:
        groups.append({"params": euc, "weight_decay": weight_decay})
    if not groups:
        raise ValueError("riemannian_optimizer: no trainable parameters")
    return _OPTIMIZERS[key](groups, lr=lr, **kwargs)
