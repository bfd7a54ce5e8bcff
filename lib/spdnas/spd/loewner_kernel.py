"""Fused Daleckii–Krein middle step on the CPU, compiled with numba: K ∘ sym(A) in one pass.

The backward pass of a spectral function U f(Λ) Uᵀ is U (K ∘ sym(Uᵀ G U)) Uᵀ with K the Loewner
matrix of divided differences of f. With torch ops, K alone takes 8–18 elementwise passes over
(N, n, n) grids (pair grids, near-pair switch, blend) plus two for sym and the product; each pass
streams the whole batch through memory (≈ 0.5–1 ms per pass for 64 × 93² float64 here, a third of a
batched GEMM of the same size) and costs a dispatch (≈ 5 µs, which dominates for 10×10 matrices).
This kernel computes each K_ij once per unordered pair, in float64 whatever the input dtype — the
plain quotient (f(λ_i) − f(λ_j))/(λ_i − λ_j) of precomputed values for well-separated eigenvalues,
the cancellation-free closed forms and the near-pair switch of
:func:`spdnas.spd.functional.loewner` for close ones — and writes c·K_ij·(A_ij + A_ji)/2 to both
(i, j) and (j, i). It releases the GIL (the spectral worker threads run it side by side) and is
used only where no autograd graph is being recorded (a double backward takes the torch path).
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:  # optional: without numba the torch implementation is used
    import numba
except ImportError:  # pragma: no cover - exercised by monkeypatching `numba` to None in the tests
    numba = None

__all__ = ["KINDS", "available", "supports", "hadamard_sym"]

#: spectral functions the kernel knows (codes in the compiled loop)
KINDS = {"log": 0, "exp": 1, "sqrt": 2, "invsqrt": 3, "pow": 4, "reeig": 5}

_DTYPES = (torch.float32, torch.float64)


def available() -> bool:
    """Whether numba is importable (the kernel is compiled on first use)."""
    return numba is not None


def supports(A: torch.Tensor, kind: str) -> bool:
    """Whether the kernel applies: numba installed, a CPU float32/float64 tensor, a known kind, and
    no autograd graph being recorded."""
    return (numba is not None and kind in KINDS and A.device.type == "cpu" and A.dtype in _DTYPES
            and not torch.is_grad_enabled())


#: relative (log, pow) or absolute (exp) gap beyond which the plain quotient (f(x) − f(y))/(x − y) of
#: precomputed f values is used; its relative round-off is ≈ 2 eps·max(1, |log λ|)/gap ≤ 3e-14·max(1,
#: |log λ|) there (f(λ) carries an absolute error of eps·|f|, the gap |f(x) − f(y)| ≥ ≈ gap·|f'|);
#: smaller gaps take log1p/expm1 (cancellation-free), the smallest the mid-point derivative
_WIDE = 1.0 / 64


def _divided_difference(code, x, y, fx, fy, p, rtol):  # pragma: no cover - compiled by numba
    """K(x, y) of f at eigenvalues x, y with f(x), f(y) precomputed (float64): the plain quotient for
    wide gaps, else the forms of spdnas.spd.functional.loewner (log1p/expm1, mid-point switch)."""
    if code == 0 or code == 4:  # log, pow: relative gap q = (x − y)/y
        q = (x - y) / y
        if abs(q) > _WIDE:
            return (fx - fy) / (x - y)
        if abs(q) <= rtol:
            m = 0.5 * (x + y)
            return 1.0 / m if code == 0 else p * m ** (p - 1.0)
        if code == 0:
            return math.log1p(q) / (q * y)
        return math.expm1(p * math.log1p(q)) / q * (fy / y)
    if code == 1:  # exp: absolute gap, f = e^λ
        d = x - y
        if abs(d) > _WIDE:
            return (fx - fy) / d
        if abs(d) <= rtol:
            return math.exp(0.5 * (x + y))
        return math.expm1(d) / d * fy
    if code == 2:  # sqrt (f = √λ): 1/(√x + √y), exact
        return 1.0 / (fx + fy)
    if code == 3:  # invsqrt (f = 1/√λ): −1/(√x √y (√x + √y)) = −f(x) f(y)/(√x + √y), exact
        return -(fx * fy) / (1.0 / fx + 1.0 / fy)
    # reeig, f = max(λ, ε) with ε = p: exact quotient; on exact ties the one-sided derivative
    if x == y:
        return 1.0 if x > p else 0.0
    return (fx - fy) / (x - y)


def _fused(L, A, out, code, p, rtol, a, c, accumulate):  # pragma: no cover - compiled by numba
    """out[b] (+)= c · K(a λ) ∘ sym(A[b]) for every matrix b; K evaluated once per unordered pair."""
    N, n = L.shape[0], L.shape[1]
    lam = np.empty(n)
    f = np.empty(n)
    for b in range(N):
        for i in range(n):
            x = a * np.float64(L[b, i])
            lam[i] = x
            if code == 0:
                f[i] = math.log(x)
            elif code == 1:
                f[i] = math.exp(x)
            elif code == 2:
                f[i] = math.sqrt(x)
            elif code == 3:
                f[i] = 1.0 / math.sqrt(x)
            elif code == 4:
                f[i] = x ** p
            else:
                f[i] = max(x, p)
        for i in range(n):
            x = lam[i]
            fx = f[i]
            for j in range(i + 1):
                k = c * _divided_difference_jit(code, x, lam[j], fx, f[j], p, rtol)
                v = k * 0.5 * (np.float64(A[b, i, j]) + np.float64(A[b, j, i]))
                if accumulate:
                    out[b, i, j] += v
                    if j != i:
                        out[b, j, i] += v
                else:
                    out[b, i, j] = v
                    out[b, j, i] = v


_OPTS = dict(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
if numba is not None:  # lazy: compiled on the first call
    _divided_difference_jit = numba.njit(**_OPTS)(_divided_difference)
    _KERNEL = numba.njit(**_OPTS)(_fused)


def hadamard_sym(L: torch.Tensor, A: torch.Tensor, kind: str, p: float = 0.0, rtol: float = 0.0,
                 scale: float = 1.0, coef: float = 1.0, out: torch.Tensor | None = None) -> torch.Tensor:
    """coef · K ∘ sym(A) for eigenvalues L (N, n) and matrices A (N, n, n), K the Loewner matrix of
    ``kind`` (parameter p: the power, or ReEig's ε) at ``scale``·L; added into ``out`` when given.

    ``rtol`` is the near-pair tolerance of log/pow (relative) and exp (absolute). Raises ValueError
    where :func:`supports` is false (other devices or dtypes, unknown kind, grad mode, no numba).
    """
    if not supports(A, kind):
        raise ValueError(f"loewner_kernel.hadamard_sym: unsupported input (kind {kind!r}, {A.dtype} on "
                         f"{A.device}, grad mode {torch.is_grad_enabled()}, numba {numba is not None})")
    if A.dim() != 3 or L.shape != A.shape[:2] or A.shape[1] != A.shape[2]:
        raise ValueError(f"loewner_kernel.hadamard_sym: expected L (N, n) and A (N, n, n), got "
                         f"{tuple(L.shape)} and {tuple(A.shape)}")
    A = A.contiguous()
    L = L.contiguous()
    accumulate = out is not None
    if out is None:
        out = torch.empty_like(A)
    elif out.shape != A.shape or out.dtype != A.dtype or not out.is_contiguous():
        raise ValueError("loewner_kernel.hadamard_sym: out must be a contiguous tensor like A")
    if A.numel():
        _KERNEL(L.numpy(), A.numpy(), out.numpy(), KINDS[kind], float(p), float(rtol), float(scale),
                  float(coef), accumulate)
    return out
