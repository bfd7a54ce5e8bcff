"""Batched eigendecomposition of small symmetric matrices on the CPU, compiled with numba.

torch runs a batched CPU ``eigh`` as a loop of LAPACK ``syevd`` calls, whose fixed cost per call
dominates for the 10×10 and 20×20 matrices of SPD networks (≈ 9–13 µs per 10×10 here). This
kernel decomposes each matrix by a Householder reduction to tridiagonal form followed by the
implicit QL algorithm with shifts, in float64 arithmetic whatever the input dtype, with the
eigenvector rotations applied to contiguous rows — about twice as fast for n ≤ :data:`MAX_N`.
It releases the GIL, so the spectral worker threads of :mod:`spdnas.spd.functional` run it side by
side. Only the lower triangle of each matrix is read (as ``torch.linalg.eigh`` with UPLO='L').

Eigenvalues come in ascending order, eigenvectors as columns (same layout as ``torch.linalg.eigh``);
eigenvector signs, and the basis of a repeated eigenvalue's eigenspace, may differ from LAPACK's —
the spectral functions U f(Λ) Uᵀ and their Daleckii–Krein derivatives do not depend on them. A
matrix with a NaN or Inf entry gives NaN eigenvalues and eigenvectors.
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:  # optional at run time: without numba, spdnas.spd.functional falls back to torch.linalg.eigh
    import numba
except ImportError:  # pragma: no cover - exercised by monkeypatching `numba` to None in the tests
    numba = None

__all__ = ["MAX_N", "available", "supports", "eigh"]

#: largest matrix size the kernel is used for (measured crossover against LAPACK on the 2-core CPU)
MAX_N = 24

_DTYPES = (torch.float32, torch.float64)


def available() -> bool:
    """Whether numba is importable (the kernel is compiled on first use)."""
    return numba is not None


def supports(X: torch.Tensor) -> bool:
    """Whether the kernel applies to X: numba installed, a CPU float32/float64 tensor, n ≤ :data:`MAX_N`."""
    return numba is not None and X.device.type == "cpu" and X.dtype in _DTYPES and X.shape[-1] <= MAX_N


def _decompose(A, w, V):  # pragma: no cover - compiled by numba; covered through eigh()
    """Eigenvalues w (N, n) ascending and eigenvectors V (N, n, n) (columns) of the lower triangles of A."""
    N, n = A.shape[0], A.shape[1]
    a = np.empty((n, n))  # working copy (float64)
    H = np.zeros((n, n))  # row k: Householder vector k (entries k+1..n-1)
    Z = np.empty((n, n))  # transposed eigenvector matrix: row i = eigenvector i
    d = np.empty(n)  # diagonal of the tridiagonal matrix, then the eigenvalues
    e = np.empty(n)  # sub-diagonal (e[i] couples i and i+1)
    p = np.empty(n)
    beta = np.zeros(n)
    eps = 2.220446049250313e-16
    for b in range(N):
        amax = 0.0
        finite = True
        for i in range(n):
            for j in range(i + 1):
                x = np.float64(A[b, i, j])
                if not math.isfinite(x):
                    finite = False
                amax = max(amax, abs(x))
                a[i, j] = x
                a[j, i] = x
        if not finite:
            for i in range(n):
                w[b, i] = np.nan
                for j in range(n):
                    V[b, i, j] = np.nan
            continue
        # scale by a power of two (exact) so that squares neither overflow nor underflow
        scale = 1.0
        if amax > 0.0:
            scale = 2.0 ** math.floor(math.log2(amax))
            inv = 1.0 / scale
            for i in range(n):
                for j in range(n):
                    a[i, j] *= inv
        # --- Householder reduction: H_k zeroes column k below the sub-diagonal -----------------
        for k in range(n - 2):
            s = 0.0
            for i in range(k + 2, n):
                s += a[i, k] * a[i, k]
            x0 = a[k + 1, k]
            if s == 0.0:  # column already reduced
                e[k] = x0
                beta[k] = 0.0
                continue
            norm = math.sqrt(s + x0 * x0)
            alpha = -norm if x0 >= 0.0 else norm  # sign chosen so v0 = x0 - alpha never cancels
            v0 = x0 - alpha
            v = H[k]
            v[k + 1] = v0
            for i in range(k + 2, n):
                v[i] = a[i, k]
            bk = 2.0 / (s + v0 * v0)
            beta[k] = bk
            # symmetric rank-2 update of the trailing block: A <- A - v qᵀ - q vᵀ,
            # p = β A v, q = p - (β/2)(vᵀp) v
            vp = 0.0
            for i in range(k + 1, n):
                acc = 0.0
                for j in range(k + 1, n):
                    acc += a[i, j] * v[j]
                p[i] = bk * acc
                vp += v[i] * p[i]
            half = 0.5 * bk * vp
            for i in range(k + 1, n):
                p[i] -= half * v[i]
            for i in range(k + 1, n):
                vi = v[i]
                qi = p[i]
                for j in range(k + 1, n):
                    a[i, j] -= vi * p[j] + qi * v[j]
            e[k] = alpha
        for i in range(n):
            d[i] = a[i, i]
        if n >= 2:
            e[n - 2] = a[n - 1, n - 2]
        e[n - 1] = 0.0
        # --- Q = H_0 H_1 ... H_{n-3}, accumulated backwards, stored transposed in Z --------------
        for i in range(n):
            for j in range(n):
                Z[i, j] = 0.0
            Z[i, i] = 1.0
        for k in range(n - 3, -1, -1):
            bk = beta[k]
            if bk == 0.0:
                continue
            v = H[k]
            for c in range(k + 1, n):
                acc = 0.0
                for i in range(k + 1, n):
                    acc += Z[c, i] * v[i]
                acc *= bk
                for i in range(k + 1, n):
                    Z[c, i] -= acc * v[i]
        # --- implicit QL with shifts on (d, e); rotations applied to rows of Z --------------------
        for l in range(n):
            sweeps = 0
            while True:
                m = l
                while m < n - 1:  # first negligible sub-diagonal element at or after l
                    if abs(e[m]) <= eps * (abs(d[m]) + abs(d[m + 1])):
                        break
                    m += 1
                if m == l:
                    break
                sweeps += 1
                if sweeps > 60:  # no convergence (cannot happen for finite input): flag it
                    d[l] = np.nan
                    break
                g = (d[l + 1] - d[l]) / (2.0 * e[l])
                r = math.sqrt(g * g + 1.0)
                g = d[m] - d[l] + e[l] / (g + (r if g >= 0.0 else -r))
                s = 1.0
                c = 1.0
                shift = 0.0
                i = m - 1
                split = False
                while i >= l:
                    f = s * e[i]
                    bb = c * e[i]
                    r = math.sqrt(f * f + g * g)
                    e[i + 1] = r
                    if r == 0.0:  # the matrix splits: restart the search from l
                        d[i + 1] -= shift
                        e[m] = 0.0
                        split = True
                        break
                    s = f / r
                    c = g / r
                    g = d[i + 1] - shift
                    r = (d[i] - g) * s + 2.0 * c * bb
                    shift = s * r
                    d[i + 1] = g + shift
                    g = c * r - bb
                    for j in range(n):
                        z1 = Z[i + 1, j]
                        z0 = Z[i, j]
                        Z[i + 1, j] = s * z0 + c * z1
                        Z[i, j] = c * z0 - s * z1
                    i -= 1
                if split:
                    continue
                d[l] -= shift
                e[l] = g
                e[m] = 0.0
        # --- ascending order; column i of V = row i of Z ---------------------------------------
        for i in range(n):
            k = i
            for j in range(i + 1, n):
                if d[j] < d[k]:
                    k = j
            if k != i:
                t = d[i]
                d[i] = d[k]
                d[k] = t
                for j in range(n):
                    t = Z[i, j]
                    Z[i, j] = Z[k, j]
                    Z[k, j] = t
            w[b, i] = d[i] * scale
            for j in range(n):
                V[b, j, i] = Z[i, j]


_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})(_decompose)
    return _KERNEL


def eigh(X: torch.Tensor):
    """(eigenvalues, eigenvectors) of CPU float32/float64 matrices (..., n, n) from their lower triangles.

    Same contract as ``torch.linalg.eigh`` (ascending eigenvalues, eigenvectors as columns, the
    input's dtype), no autograd. Raises ValueError for other devices/dtypes, non-square input or
    when numba is not installed.
    """
    if numba is None:
        raise ValueError("small_eigh.eigh: numba is not installed (pip install numba)")
    if not isinstance(X, torch.Tensor) or X.dim() < 2 or X.shape[-1] != X.shape[-2]:
        raise ValueError(f"small_eigh.eigh: expected square matrices (..., n, n), got {getattr(X, 'shape', X)!r}")
    if X.device.type != "cpu" or X.dtype not in _DTYPES:
        raise ValueError(f"small_eigh.eigh: expected a CPU float32/float64 tensor, got {X.dtype} on {X.device}")
    n = X.shape[-1]
    A = X.detach().reshape(-1, n, n).contiguous()
    w = torch.empty(A.shape[0], n, dtype=X.dtype)
    V = torch.empty(A.shape[0], n, n, dtype=X.dtype)
    if A.shape[0] and n:
        _kernel()(A.numpy(), w.numpy(), V.numpy())
    return w.reshape(X.shape[:-1]), V.reshape(X.shape)
