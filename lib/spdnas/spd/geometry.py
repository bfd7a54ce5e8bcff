"""Affine-invariant Riemannian geometry of SPD matrices, batched and differentiable.

All functions broadcast over leading dimensions. They are built from the spectral functions of
:mod:`spdnas.spd.functional`, so gradients use the Daleckii–Krein backward.
"""

from __future__ import annotations

import torch

from . import functional as F
from . import products

__all__ = [
    "distance",
    "geodesic",
    "exp_map",
    "log_map",
    "transport",
    "frechet_mean",
    "log_euclidean_mean",
    "congruence",
    "sandwich",
    "recentre",
]


def congruence(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """A X Aᵀ (batched, X symmetric), symmetrised to remove round-off asymmetry (NumPy's BLAS on the
    CPU: :mod:`spdnas.spd.products`)."""
    return products.congruence(A, X, symmetrize=True)


def sandwich(S: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """S X S for symmetric S (batched), not symmetrised: for matrices handed straight to a spectral
    function, which reads only the lower triangle and returns symmetric gradients (so the
    symmetrisation of :func:`congruence` would change nothing but round-off and cost two passes)."""
    return products.congruence_numpy(S, X) if products.uses_numpy(S, X) else S @ X @ S


def recentre(X: torch.Tensor, M: torch.Tensor, check: bool = True) -> torch.Tensor:
    """M^{-1/2} X M^{-1/2} (batched, symmetrised): the congruence that moves M to the identity."""
    if check:
        F.check_spd(X, "recentre: X")
        F.check_spd(M, "recentre: reference M")
    return congruence(F.invsqrtm(M, check=False), X)


def _whiten(P: torch.Tensor, X: torch.Tensor, check: bool):
    if check:
        F.check_spd(P, "reference point P")
    S, Si = F.sqrtm_invsqrtm(P, check=False)
    return S, Si, congruence(Si, X)


def distance(A: torch.Tensor, B: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Affine-invariant distance ‖log(A^{-1/2} B A^{-1/2})‖_F, shape (...)."""
    if check:
        F.check_spd(A, "distance: A")
        F.check_spd(B, "distance: B")
    Si = F.invsqrtm(A, check=False)
    L = F.logm(congruence(Si, B), check=False)
    return torch.linalg.matrix_norm(L, ord="fro")


def geodesic(A: torch.Tensor, B: torch.Tensor, t, check: bool = True) -> torch.Tensor:
    """Point at time t on the geodesic from A (t=0) to B (t=1): A^{1/2}(A^{-1/2}BA^{-1/2})^t A^{1/2}."""
    if check:
        F.check_spd(B, "geodesic: B")
    S, Si, W = _whiten(A, B, check)
    if isinstance(t, torch.Tensor):
        Lw = F.logm(W, check=False)
        inner = F.expm(t[..., None, None] * Lw, check=False)
    else:
        inner = F.powm(W, float(t), check=False)
    return congruence(S, inner)


def exp_map(P: torch.Tensor, V: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Riemannian exponential at P of the symmetric tangent vector V."""
    if check:
        F.check_symmetric(V, "exp_map: V")
    S, Si, W = _whiten(P, V, check)
    return congruence(S, F.expm(W, check=False))


def log_map(P: torch.Tensor, X: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Riemannian logarithm at P of the SPD point X (a symmetric tangent vector)."""
    if check:
        F.check_spd(X, "log_map: X")
    S, Si, W = _whiten(P, X, check)
    return congruence(S, F.logm(W, check=False))


def transport(P: torch.Tensor, Q: torch.Tensor, V: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Parallel transport of tangent vector V from P to Q along the geodesic: E V Eᵀ, E = (QP⁻¹)^{1/2}."""
    if check:
        F.check_spd(Q, "transport: Q")
        F.check_symmetric(V, "transport: V")
    S, Si, W = _whiten(P, Q, check)
    E = S @ F.sqrtm(W, check=False) @ Si
    return congruence(E, V)


def _weights(X: torch.Tensor, weights, dim: int) -> torch.Tensor:
    """Normalised weights broadcastable to X.shape[:-2], uniform when ``weights`` is None."""
    if weights is not None:
        return _move_weights(X, weights, dim)
    shape = [1] * (X.dim() - 2)
    shape[dim] = X.shape[dim]
    return X.new_full(shape, 1.0 / X.shape[dim])


def log_euclidean_mean(X: torch.Tensor, weights=None, dim: int = -3, check: bool = True) -> torch.Tensor:
    """Weighted log-Euclidean mean exp(Σ w_i log X_i) over dimension ``dim`` of (..., K, ..., n, n)."""
    dim = _canon_dim(X, dim)
    if check:
        F.check_spd(X, "log_euclidean_mean: X")
    w = _weights(X, weights, dim)
    L = F.logm(X, check=False)
    return F.expm((w[..., None, None] * L).sum(dim), check=False)


def _canon_dim(X: torch.Tensor, dim: int) -> int:
    if X.dim() < 3:
        raise ValueError(f"expected a stack (..., K, n, n) of matrices, got shape {tuple(X.shape)}")
    d = dim % X.dim()
    if d >= X.dim() - 2:
        raise ValueError(f"reduction dim {dim} must be a batch dimension, not a matrix dimension")
    return d


def _move_weights(X: torch.Tensor, weights, dim: int) -> torch.Tensor:
    """Return weights broadcastable to X.shape[:-2] with the K axis at position ``dim``."""
    w = torch.as_tensor(weights, dtype=X.dtype, device=X.device)
    K = X.shape[dim]
    if w.dim() == 0 or w.shape[-1] != K:
        raise ValueError(f"frechet_mean: weights of shape {tuple(w.shape)} do not match {K} matrices")
    if F.checks_enabled() and not bool(torch.isfinite(w).all()):
        raise ValueError("frechet_mean: weights contain NaN or Inf")
    w = w / w.sum(dim=-1, keepdim=True)
    # weights given as (..., K) with leading dims matching X.shape[:dim] (w.dim() >= 1 here)
    return w.reshape(*w.shape, *([1] * (X.dim() - 3 - dim)))


def frechet_mean(
    X: torch.Tensor,
    weights=None,
    dim: int = -3,
    iters: int = 5,
    step: float = 1.0,
    init: torch.Tensor | str = "logeuclid",
    detach: bool = False,
    check: bool = True,
) -> torch.Tensor:
    """Weighted affine-invariant Fréchet (Karcher) mean by a fixed number of Karcher-flow steps.

    Args:
        X: SPD stack (..., K, ..., n, n); the mean is taken over ``dim`` (default the K axis just
           before the matrix axes).
        weights: None (uniform) or non-negative weights of shape (..., K) whose leading dims match
           ``X.shape[:dim]``; normalised to sum to one.
        iters: number of Karcher-flow iterations (fixed: no data-dependent stopping, no host sync).
           ``iters=0`` returns the initialisation.
        step: Karcher step size (1 is the classic flow).
        init: initial point (..., n, n), or "logeuclid" (weighted log-Euclidean mean, one extra
           eigendecomposition per matrix) or "arithmetic" (weighted arithmetic mean, free; the
           choice of Brooks et al.'s batch norm).
        detach: if True, compute without building a graph and return a detached tensor.
    """
    if iters < 0:
        raise ValueError(f"frechet_mean: iters must be >= 0, got {iters}")
    dim = _canon_dim(X, dim)
    if check:
        F.check_spd(X, "frechet_mean: X")
    if detach:
        with torch.no_grad():
            return frechet_mean(X, weights, dim, iters, step, init, False, False).detach()
    w = _weights(X, weights, dim)
    S = Si = None
    if isinstance(init, torch.Tensor):
        M = init
    elif init == "logeuclid":
        T0 = (w[..., None, None] * F.logm(X, check=False)).sum(dim)
        if iters == 0:
            return F.expm(T0, check=False)
        # the start M0 = exp(T0) is never formed: M0^{±1/2} = exp(±T0/2) from one eigendecomposition of T0
        S, Si = F.spectral_functions(T0, ("sqrtexp", "invsqrtexp"), check=False)
    elif init == "arithmetic":
        M = (w[..., None, None] * X).sum(dim)
    else:
        raise ValueError(f"frechet_mean: init must be a tensor, 'logeuclid' or 'arithmetic', got {init!r}")
    for it in range(iters):
        if it > 0 or S is None:
            S, Si = F.sqrtm_invsqrtm(M, check=False)
        T = (w[..., None, None] * F.logm(sandwich(Si.unsqueeze(dim), X), check=False)).sum(dim)
        M = congruence(S, F.expm(step * T, check=False))
    return M
