"""Batched congruences A X Aᵀ with their backward, on the CPU through NumPy's BLAS.

The congruences of the BiMap layers, batch norms and Fréchet means are the matrix products that
autograd records in an SPD network. torch's CPU batched products of these small matrices go through
MKL, which on AMD CPUs runs 2–3× slower than NumPy's OpenBLAS on the same arrays (``bench/README.md``,
``bench_train.py``). :func:`congruence` is therefore one autograd function: forward and backward
products in NumPy on arrays that share memory with the tensors, the symmetrisation and the
reduction over broadcast dimensions folded in. Values equal the torch products to round-off.

Backend 'auto' (the default) takes this path for float32/float64 CPU tensors and ``torch.matmul``
otherwise (other devices and dtypes, double backward); 'torch' always uses ``torch.matmul``
(:func:`spdnas.spd.runtime.product_backend`, or ``SPDNAS_PRODUCTS=torch``). While NumPy computes,
its BLAS uses as many threads as ``torch.get_num_threads()`` (set when they differ), so a worker
limited to one torch thread stays on one core.
"""

from __future__ import annotations

import numpy as np
import torch

from . import runtime

__all__ = ["congruence", "congruence_numpy", "chain", "chain_torch", "uses_numpy"]

_FLOATS = (torch.float32, torch.float64)
_BLAS = {"controllers": None, "threads": None}


def _follow_torch_threads() -> None:
    """Give NumPy's BLAS the intra-op thread count of torch (found once; nothing to do if unknown)."""
    want = torch.get_num_threads()
    if _BLAS["threads"] == want:
        return
    if _BLAS["controllers"] is None:
        try:
            from threadpoolctl import ThreadpoolController  # optional: without it BLAS keeps its own count
        except ImportError:
            _BLAS["controllers"] = []
        else:
            _BLAS["controllers"] = [c for c in ThreadpoolController().lib_controllers
                                    if c.user_api == "blas" and "numpy" in c.filepath]
    for c in _BLAS["controllers"]:
        c.set_num_threads(want)
    _BLAS["threads"] = want


def uses_numpy(*tensors: torch.Tensor) -> bool:
    """Whether products of these tensors compute in NumPy (backend 'auto', all on the CPU, one dtype,
    float32/float64)."""
    dtype = tensors[0].dtype
    return (runtime.product_backend_name() == "auto" and dtype in _FLOATS
            and all(t.device.type == "cpu" and t.dtype == dtype and not t.is_neg() for t in tensors))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _np_sym(y: np.ndarray) -> np.ndarray:
    return 0.5 * (y + np.swapaxes(y, -1, -2))


def _np_congruence(a: np.ndarray, x: np.ndarray, symmetrize: bool) -> tuple[np.ndarray, np.ndarray]:
    """(A X, A X Aᵀ, symmetrised if asked)."""
    ax = np.matmul(a, x)
    y = np.matmul(ax, np.swapaxes(a, -1, -2))
    return ax, (_np_sym(y) if symmetrize else y)


def _sum_to(g, shape: torch.Size):
    """Sum a gradient (tensor or array) over the dimensions that broadcasting added or expanded to
    reach ``shape``, one dimension at a time: torch's CPU sum over several non-adjacent dimensions
    at once is ≈ 20× slower than these single-dimension sums on the (…, B, C, K, n, n) gradients of
    the Fréchet means (measured: 3.2 ms against 0.15 ms on 576 k doubles)."""
    np_in = isinstance(g, np.ndarray)
    for _ in range(g.ndim - len(shape)):
        g = g.sum(0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True) if np_in else g.sum(i, keepdim=True)
    return g


def _torch_congruence(A: torch.Tensor, X: torch.Tensor, symmetrize: bool) -> torch.Tensor:
    Y = chain_torch(A, X, A.transpose(-1, -2))
    return 0.5 * (Y + Y.transpose(-1, -2)) if symmetrize else Y


class _Congruence(torch.autograd.Function):
    """Y = A X Aᵀ (optionally symmetrised) for symmetric X: dX = Aᵀ Ḡ A, dA = (Ḡ + Ḡᵀ) (A X)."""

    @staticmethod
    def forward(ctx, A, X, symmetrize):
        _follow_torch_threads()
        ax, y = _np_congruence(_np(A), _np(X), symmetrize)
        ctx.save_for_backward(A, X, torch.from_numpy(ax))
        ctx.symmetrize = symmetrize
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx, G):
        A, X, AX = ctx.saved_tensors
        need_a, need_x = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():  # double backward: differentiable torch ops
            Gs = 0.5 * (G + G.transpose(-1, -2)) if ctx.symmetrize else G
            dX = _sum_to(A.transpose(-1, -2) @ Gs @ A, X.shape) if need_x else None
            dA = _sum_to((Gs + Gs.transpose(-1, -2)) @ A @ X, A.shape) if need_a else None
            return dA, dX, None
        _follow_torch_threads()
        a, g = _np(A), _np(G)
        dA = dX = None
        if ctx.symmetrize:
            g = _np_sym(g)
            g2 = 2.0 * g
        else:
            g2 = g + np.swapaxes(g, -1, -2)
        if need_x:
            dX = torch.from_numpy(np.ascontiguousarray(_sum_to(np.matmul(np.matmul(np.swapaxes(a, -1, -2), g), a),
                                                               X.shape)))
        if need_a:
            dA = torch.from_numpy(np.ascontiguousarray(_sum_to(np.matmul(g2, _np(AX)), A.shape)))
        return dA, dX, None


def congruence(A: torch.Tensor, X: torch.Tensor, symmetrize: bool = False) -> torch.Tensor:
    """A X Aᵀ over the last two dimensions (leading dimensions broadcast as in ``torch.matmul``),
    symmetrised ((Y + Yᵀ) / 2) if asked; NumPy's BLAS on the CPU (backend 'auto').

    X must be symmetric (SPD matrices, their logarithms, tangent vectors): the gradient of A
    uses Xᵀ = X.
    """
    if uses_numpy(A, X):
        return congruence_numpy(A, X, symmetrize)
    return _torch_congruence(A, X, symmetrize)


def congruence_numpy(A: torch.Tensor, X: torch.Tensor, symmetrize: bool = False) -> torch.Tensor:
    """:func:`congruence` in NumPy, for callers that checked :func:`uses_numpy` and keep their own
    torch form otherwise."""
    try:
        if torch.is_grad_enabled() and (A.requires_grad or X.requires_grad):
            return _Congruence.apply(A, X, symmetrize)
        _follow_torch_threads()
        return torch.from_numpy(_np_congruence(_np(A), _np(X), symmetrize)[1])
    except ValueError:  # shapes that do not broadcast: let torch raise its usual error
        return _torch_congruence(A, X, symmetrize)


def chain(*mats: torch.Tensor) -> torch.Tensor:
    """mats[0] @ mats[1] @ ... (broadcast), in NumPy's BLAS when no graph is being recorded (backend
    'auto', CPU, float32/float64: the rebuilds and Daleckii–Krein products inside the spectral
    functions' forward and backward), else ``torch.matmul``."""
    if torch.is_grad_enabled() or not uses_numpy(*mats):
        return chain_torch(*mats)
    _follow_torch_threads()
    out = _np(mats[0])
    try:
        for m in mats[1:]:
            out = np.matmul(out, _np(m))
    except ValueError:  # shapes that do not broadcast: torch's error
        return chain_torch(*mats)
    return torch.from_numpy(out)


def chain_torch(*mats: torch.Tensor) -> torch.Tensor:
    """mats[0] @ mats[1] @ ... with torch.matmul."""
    out = mats[0]
    for m in mats[1:]:
        out = out @ m
    return out
