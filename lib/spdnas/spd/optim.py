"""Riemannian optimisers over mixed manifold / Euclidean models (via geoopt)."""

from __future__ import annotations

from collections import defaultdict

import geoopt
import torch
import torch.nn as nn
from geoopt.manifolds.symmetric_positive_definite import SPDMetric

from . import functional as F

__all__ = ["BatchedRiemannianSGD", "riemannian_optimizer", "split_parameters"]


def split_parameters(params):
    """Split an iterable of parameters into (manifold, euclidean) lists."""
    man, euc = [], []
    for p in params:
        if not p.requires_grad:
            continue
        (man if isinstance(p, geoopt.ManifoldParameter) else euc).append(p)
    return man, euc


# ---------------------------------------------------------------------------------------------
# Batched manifold operations (one call for every parameter of a bucket)
# ---------------------------------------------------------------------------------------------


class _Euclid:
    """R^n: identity gradient conversion and transport, x + u retraction."""

    @staticmethod
    def rgrad(X, G):
        return G

    @staticmethod
    def retr(X, U):
        return X + U

    @staticmethod
    def retr_transp(X, U, V):
        return X + U, V


class _Stiefel:
    """geoopt's ``EuclideanStiefel``: projection gradient, QR retraction (sign-fixed), projection transport."""

    @staticmethod
    def rgrad(X, G):
        return G - X @ F.sym(X.transpose(-1, -2) @ G)

    @staticmethod
    def retr(X, U):
        Q, R = torch.linalg.qr(X + U)
        unflip = torch.diagonal(R, 0, -2, -1).sign().add(0.5).sign()
        return Q * unflip.unsqueeze(-2)

    @classmethod
    def retr_transp(cls, X, U, V):
        Y = cls.retr(X, U)
        return Y, cls.rgrad(Y, V)


class _SPD:
    """geoopt's ``SymmetricPositiveDefinite`` (affine-invariant metric): X sym(G) X gradient, the
    second-order retraction sym(X + U + ½ U X⁻¹ U) and parallel transport E V Eᵀ; the spectral
    functions are this package's (compiled small-matrix kernel on the CPU)."""

    @staticmethod
    def rgrad(X, G):
        return X @ F.sym(G) @ X.transpose(-1, -2)

    @staticmethod
    def retr(X, U):
        return F.sym(X + U + 0.5 * U @ torch.linalg.solve(X, U))

    @classmethod
    def retr_transp(cls, X, U, V):
        Y = cls.retr(X, U)
        S, Si = F.sqrtm_invsqrtm(X, check=False)
        E = F.sqrtm(F.sym(Si @ Y @ Si), check=False)  # = expm(½ logm(X^{-½} Y X^{-½}))
        A = S @ E
        return Y, A @ F.sym(Si @ V @ Si) @ A.transpose(-1, -2)


def _kind(p):
    """The batched manifold of a parameter, or None when only geoopt's own per-parameter step applies."""
    if not isinstance(p, (geoopt.ManifoldParameter, geoopt.ManifoldTensor)):
        return _Euclid
    m = p.manifold
    if type(m) is geoopt.EuclideanStiefel:
        return _Stiefel
    if type(m) is geoopt.SymmetricPositiveDefinite and m.default_metric == SPDMetric.AIM:
        return _SPD
    if type(m) is geoopt.Euclidean and m.ndim == 0:
        return _Euclid
    return None


class BatchedRiemannianSGD(geoopt.optim.RiemannianSGD):
    """geoopt's ``RiemannianSGD`` with one batched update per (manifold, matrix shape, dtype, device).

    Same arguments, the same per-parameter state (``momentum_buffer``, so state dicts are
    interchangeable with geoopt's) and the same update — including geoopt's momentum buffer
    initialised to the raw first gradient — equal to round-off: Stiefel (``EuclideanStiefel``)
    weights of one shape share a QR, SPD (affine-invariant) biases of one size share their
    eigendecompositions, Euclidean parameters of one dtype share a flat update. Parameters on any
    other manifold take geoopt's per-parameter step.
    """

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                group["step"] = group.get("step", 0) + 1
                buckets, others = defaultdict(list), []
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p.grad.is_sparse:
                        raise RuntimeError("BatchedRiemannianSGD does not support sparse gradients")
                    kind = _kind(p)
                    if kind is None:
                        others.append(p)
                        continue
                    shape = None if kind is _Euclid else tuple(p.shape[-2:])
                    buckets[(kind, shape, p.dtype, p.device)].append(p)
                for (kind, shape, _, _), ps in buckets.items():
                    self._step_bucket(group, kind, shape, ps)
                for p in others:
                    self._step_one(group, p)
                if group["stabilize"] is not None and group["step"] % group["stabilize"] == 0:
                    self.stabilize_group(group)
        return loss

    def _init_state(self, group, p):
        state = self.state[p]
        if len(state) == 0 and group["momentum"] > 0:
            state["momentum_buffer"] = p.grad.clone()  # geoopt's: the raw gradient, before weight decay
        return state

    def _step_bucket(self, group, kind, shape, ps):
        wd, mom, damp, nest, lr = (group[k] for k in ("weight_decay", "momentum", "dampening", "nesterov", "lr"))
        sizes = [p.numel() for p in ps]
        flat = (lambda ts: torch.cat([t.reshape(-1) for t in ts])) if shape is None else \
            (lambda ts: torch.cat([t.reshape(-1, *shape) for t in ts]))
        states = [self._init_state(group, p) for p in ps]
        X, G = flat(ps), flat([p.grad for p in ps])
        if wd != 0:
            G = G.add(X, alpha=wd)
        R = kind.rgrad(X, G)
        if mom > 0:
            B = flat([s["momentum_buffer"] for s in states]).mul_(mom).add_(R, alpha=1 - damp)
            D = R.add(B, alpha=mom) if nest else B
            Y, B = kind.retr_transp(X, -lr * D, B)
            for s, b in zip(states, self._split(B, sizes, shape)):
                s["momentum_buffer"].copy_(b.reshape(s["momentum_buffer"].shape))
        else:
            Y = kind.retr(X, -lr * R)
        for p, y in zip(ps, self._split(Y, sizes, shape)):
            p.copy_(y.reshape(p.shape))

    @staticmethod
    def _split(T, sizes, shape):
        if shape is None:
            return torch.split(T, sizes)
        per = shape[0] * shape[1]
        return torch.split(T, [s // per for s in sizes])

    def _step_one(self, group, p):
        """geoopt's update of one parameter on a manifold without a batched form."""
        wd, mom, damp, nest, lr = (group[k] for k in ("weight_decay", "momentum", "dampening", "nesterov", "lr"))
        state, man = self._init_state(group, p), p.manifold
        grad = man.egrad2rgrad(p, p.grad.add(p, alpha=wd))
        if mom > 0:
            buf = state["momentum_buffer"]
            buf.mul_(mom).add_(grad, alpha=1 - damp)
            grad = grad.add(buf, alpha=mom) if nest else buf
            new_p, new_buf = man.retr_transp(p, -lr * grad, buf)
            buf.copy_(new_buf)
            p.copy_(new_p)
        else:
            p.copy_(man.retr(p, -lr * grad))


_OPTIMIZERS = {"sgd": BatchedRiemannianSGD, "adam": geoopt.optim.RiemannianAdam}


def riemannian_optimizer(model_or_params, name: str = "sgd", lr: float = 1e-2, weight_decay: float = 0.0,
                         **kwargs):
    """Build Riemannian SGD (:class:`BatchedRiemannianSGD`, geoopt's update batched) or geoopt's
    ``RiemannianAdam``: manifold parameters (Stiefel, SPD) move by Riemannian gradient + retraction
    and stay on their manifolds; weight decay is applied to the Euclidean parameters only (it has
    no meaning on a manifold).
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
