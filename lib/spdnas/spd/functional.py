"""Batched spectral functions of symmetric matrices with Daleckii–Krein backward.

Every function takes a tensor of shape ``(..., n, n)`` holding symmetric matrices and computes
``U f(Λ) Uᵀ`` from one ``torch.linalg.eigh``. The backward pass uses the Daleckii–Krein formula

    dX = U (K ∘ (Uᵀ sym(G) U)) Uᵀ,   K_ij = (f(λ_i) − f(λ_j)) / (λ_i − λ_j),  K_ii = f'(λ_i)

with closed forms of the divided differences that are stable when eigenvalues coincide
(``log1p``/``expm1`` forms, exact algebraic forms for square roots) and a relative tolerance below
which the derivative at the mid point is used. Selection is arithmetic (a 0/1 mask blend), with no
host synchronisation, so the same code runs on CUDA. Plain autograd through ``eigh`` divides by
``λ_i − λ_j`` and returns NaN/Inf at the identity and wrong values on repeated spectra.

Input checks: shapes are always checked (free). Value checks (finite, symmetric, positive
definite) need a host sync; they run when ``check=True`` (the default of the public functions)
and can be switched off globally with :func:`set_checks` or locally with :func:`checks`.

Backward on the CPU: the Loewner matrix times sym(Uᵀ G U) is one compiled pass
(:mod:`spdnas.spd.loewner_kernel`, numba, float64 arithmetic; the same closed forms plus a plain
quotient for well-separated eigenvalues), used whenever no graph is being recorded; the torch forms
below serve other devices, double backward, and installations without numba.

Run-time settings (value checks, fast divided differences, eigensolver backend, worker threads,
the backend of the congruences of :mod:`spdnas.spd.products`) live in :mod:`spdnas.spd.runtime` and are re-exported here.
"""

from __future__ import annotations

import math

import torch

from . import loewner_kernel, products, runtime
from .runtime import (
    EIGH_BACKENDS,
    PRODUCT_BACKENDS,
    checks,
    checks_enabled,
    eigh_backend,
    eigh_workers,
    fast_divided_differences,
    product_backend,
    run_concurrently,
    set_checks,
    set_eigh_backend,
    set_eigh_workers,
    set_fast_divided_differences,
    set_product_backend,
    thread_settings,
    use_settings,
)

__all__ = [
    "sym",
    "check_shape",
    "check_symmetric",
    "check_spd",
    "set_checks",
    "checks",
    "checks_enabled",
    "thread_settings",
    "use_settings",
    "run_concurrently",
    "set_eigh_workers",
    "eigh_workers",
    "set_eigh_backend",
    "eigh_backend",
    "EIGH_BACKENDS",
    "set_product_backend",
    "product_backend",
    "PRODUCT_BACKENDS",
    "set_fast_divided_differences",
    "fast_divided_differences",
    "eigh",
    "logm",
    "expm",
    "sqrtm",
    "invsqrtm",
    "sqrtm_invsqrtm",
    "spectral_functions",
    "powm",
    "reeig",
    "spectral_apply",
    "vec_upper",
    "unvec_upper",
    "loewner",
]

def sym(X: torch.Tensor) -> torch.Tensor:
    """Symmetric part (X + Xᵀ) / 2 of the last two dimensions."""
    return 0.5 * (X + X.transpose(-1, -2))


def check_shape(X: torch.Tensor, name: str) -> None:
    """Raise ValueError unless X is a real floating tensor of non-empty square matrices (..., n, n)."""
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(X).__name__}")
    if X.dim() < 2 or X.shape[-1] != X.shape[-2]:
        raise ValueError(f"{name}: expected square matrices of shape (..., n, n), got {tuple(X.shape)}")
    if X.shape[-1] == 0:
        raise ValueError(f"{name}: empty matrices of shape {tuple(X.shape)}")
    if not (X.dtype.is_floating_point):
        raise ValueError(f"{name}: expected a real floating dtype (float32/float64), got {X.dtype}")


def _sym_tol(X: torch.Tensor) -> float:
    return 1e-4 if X.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-8


def check_symmetric(X: torch.Tensor, name: str = "input", check: bool = True) -> None:
    """Raise ValueError unless X has shape (..., n, n) and holds finite symmetric matrices."""
    check_shape(X, name)
    if not (check and runtime.checks_enabled()):
        return
    X = X.detach()
    if not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name}: contains NaN or Inf")
    scale = X.abs().amax(dim=(-1, -2)).clamp_min(1.0)
    asym = (X - X.transpose(-1, -2)).abs().amax(dim=(-1, -2)) / scale
    worst = float(asym.max())
    if worst > _sym_tol(X):
        raise ValueError(
            f"{name}: matrices are not symmetric (max relative |X - Xᵀ| = {worst:.3g} > {_sym_tol(X):g})"
        )


def check_spd(X: torch.Tensor, name: str = "input", check: bool = True) -> None:
    """Raise ValueError unless X holds finite symmetric positive definite matrices."""
    check_symmetric(X, name, check)
    if not (check and runtime.checks_enabled()):
        return
    L = torch.linalg.eigvalsh(sym(X.detach()))
    _check_pd_eigs(L, name)


def _check_pd_eigs(L: torch.Tensor, name: str) -> None:
    lmin = float(L.min())
    if not lmin > 0:
        raise ValueError(f"{name}: matrices are not positive definite (smallest eigenvalue {lmin:.3g})")


def eigh(X: torch.Tensor):
    """Eigendecomposition of the symmetric part of X (ascending eigenvalues)."""
    return torch.linalg.eigh(sym(X))


# ---------------------------------------------------------------------------------------------
# Scalar functions and their divided differences
# ---------------------------------------------------------------------------------------------


def _rtol(dtype: torch.dtype) -> float:
    # Balances round-off of the closed form (≈ eps / rtol) against the mid-point
    # approximation error (≈ rtol² / 12): rtol = eps^(1/3).
    return float(torch.finfo(dtype).eps) ** (1.0 / 3.0)


def _f(kind: str, L: torch.Tensor, p: float) -> torch.Tensor:
    if kind == "log":
        return torch.log(L)
    if kind == "exp":
        return torch.exp(L)
    if kind == "sqrt":
        return torch.sqrt(L)
    if kind == "invsqrt":
        return torch.rsqrt(L)
    if kind == "pow":
        return torch.pow(L, p)
    if kind == "reeig":
        return torch.clamp_min(L, p)
    raise ValueError(f"unknown spectral function {kind!r}")


def _fprime(kind: str, L: torch.Tensor, p: float) -> torch.Tensor:
    if kind == "log":
        return 1.0 / L
    if kind == "exp":
        return torch.exp(L)
    if kind == "sqrt":
        return 0.5 * torch.rsqrt(L)
    if kind == "invsqrt":
        return -0.5 * torch.rsqrt(L) / L
    if kind == "pow":
        return p * torch.pow(L, p - 1.0)
    if kind == "reeig":
        return (L > p).to(L.dtype)
    raise ValueError(f"unknown spectral function {kind!r}")


def _loewner_fast(L: torch.Tensor, kind: str) -> torch.Tensor:
    li, lj = L.unsqueeze(-1), L.unsqueeze(-2)
    if kind == "log":
        s = li + lj
        r = (li - lj).div_(s)
        # atanh(r)/r -> 1 at r = 0 (the only NaN of the quotient)
        return torch.atanh(r).div_(r).nan_to_num_(nan=1.0).div_(s).mul_(2.0)
    h = (li - lj).mul_(0.5)
    return torch.sinh(h).div_(h).nan_to_num_(nan=1.0).mul_(torch.exp((li + lj).mul_(0.5)))


def _pairs(v: torch.Tensor):
    """Contiguous (v_i, v_j) grids of shape (..., n, n); contiguous operands keep CPU kernels vectorised."""
    shape = (*v.shape, v.shape[-1])
    return v.unsqueeze(-1).expand(shape).contiguous(), v.unsqueeze(-2).expand(shape).contiguous()


def loewner(L: torch.Tensor, kind: str, p: float = 0.0, fast: bool = False) -> torch.Tensor:
    """Loewner matrix K_ij of divided differences of f at eigenvalues L (..., n) → (..., n, n).

    Pairs with |λ_i − λ_j| <= rtol·|λ_j| (absolute for exp) use the derivative at the mid point; the
    others a cancellation-free closed form (λ_i − λ_j is exact for close pairs, then ``log1p`` /
    ``expm1``). The two are blended arithmetically (``torch.where`` is slow on CPU) and nothing
    depends on data in Python, so there is no host synchronisation. ``fast=True`` uses the closed
    forms of :func:`set_fast_divided_differences` for 'log' and 'exp'.
    """
    if fast and kind in ("log", "exp"):
        return _loewner_fast(L, kind)
    if kind == "sqrt":
        si, sj = _pairs(torch.sqrt(L))
        return torch.reciprocal(si.add_(sj))  # exact, also for λ_i == λ_j
    if kind == "invsqrt":
        si, sj = _pairs(torch.sqrt(L))
        return torch.reciprocal(si * sj * (si + sj)).neg_()  # exact, also for λ_i == λ_j
    li, lj = _pairs(L)
    d = li - lj
    rtol = _rtol(L.dtype)
    if kind == "exp":
        near = (d.abs() <= rtol).to(L.dtype)
        d_safe = d.add(near)
        dd = torch.expm1(d_safe).div_(d_safe).mul_(torch.exp(lj))
        deriv = torch.exp(li.add_(lj).mul_(0.5))
    elif kind in ("log", "pow"):
        q = d.div_(lj)  # relative gap; d is not used after this point
        near = (q.abs() <= rtol).to(L.dtype)
        q.add_(near)  # never zero on near pairs (|q| <= rtol there)
        if kind == "log":
            dd = torch.log1p(q).div_(q.mul_(lj))
            deriv = torch.reciprocal(li.add_(lj).mul_(0.5))
        else:
            dd = torch.expm1(torch.log1p(q).mul_(p)).div_(q).mul_(torch.pow(lj, p - 1.0))
            deriv = torch.pow(li.add_(lj).mul_(0.5), p - 1.0).mul_(p)
    elif kind == "reeig":
        return _loewner_reeig(L, p)
    else:
        raise ValueError(f"unknown spectral function {kind!r}")
    return torch.addcmul(dd, near, deriv.sub_(dd))


def _loewner_reeig(L: torch.Tensor, eps: float) -> torch.Tensor:
    """Divided differences of f(λ) = max(λ, ε), exact without a near-pair switch.

    (f_i − f_j)/(λ_i − λ_j) is exactly 1 when both eigenvalues are kept (f = λ, the same floating
    point difference above and below), exactly 0 when both are clipped, and in [0, 1] without
    cancellation when one is kept and the other clipped (then λ_i − λ_j ≥ f_i − f_j ≥ 0 and the gap
    cannot vanish). Only exact ties λ_i = λ_j are left: there the one-sided derivative (1 if kept,
    0 if clipped) is added to the numerator and 1 to the denominator.
    """
    li, lj = _pairs(L)
    d = li.sub_(lj)  # λ_i − λ_j; lj is free after this
    tie = (d == 0).to(L.dtype)
    fi, fj = _pairs(_f("reeig", L, eps))
    num = fi.sub_(fj).addcmul_(tie, (L > eps).to(L.dtype).unsqueeze(-1))
    return num.div_(d.add_(tie))


def _flat(X: torch.Tensor) -> torch.Tensor:
    """(..., n, n) -> (N, n, n): the rows that :func:`spdnas.spd.runtime.map_rows` splits over threads."""
    n = X.shape[-1]
    return X.reshape(-1, n, n)


def _rebuild(U: torch.Tensor, fL: torch.Tensor) -> torch.Tensor:
    return products.chain(U * fL.unsqueeze(-2), U.transpose(-1, -2))


def _dk(L: torch.Tensor, U: torch.Tensor, terms, fast: bool = False) -> torch.Tensor:
    """Daleckii–Krein product U (Σ_k c_k K_k ∘ Uᵀ sym(G_k) U) Uᵀ, K_k the Loewner matrix of f_k at
    a_k Λ, for terms (kind_k, p_k, a_k, c_k, G_k).

    On the CPU with numba, and when no graph is being recorded, K_k ∘ sym(·) is one compiled pass
    (:mod:`spdnas.spd.loewner_kernel`, float64 arithmetic, the accurate forms whatever ``fast``);
    otherwise the torch ops of :func:`loewner`.
    """
    Ut = U.transpose(-1, -2)
    acc = None
    for kind, p, a, c, G in terms:
        A = products.chain(Ut, G, U)
        if loewner_kernel.supports(A, kind):
            acc = loewner_kernel.hadamard_sym(L, A, kind, p, _rtol(L.dtype), a, c, out=acc)
            continue
        t = loewner(L if a == 1.0 else a * L, kind, p, fast=fast).mul_(sym(A))
        if c != 1.0:
            t.mul_(c)
        acc = t if acc is None else acc.add_(t)
    return products.chain(U, acc, Ut)


class _Spectral(torch.autograd.Function):
    """U f(Λ) Uᵀ with Daleckii–Krein backward; f given by (kind, p)."""

    @staticmethod
    def forward(ctx, X, kind, p, pd_name=None):
        # eigh reads the lower triangle only: inputs are symmetric (checked by the public API)
        def work(Xc):
            L, U = runtime.spectral_eigh(Xc)
            return L, U, _rebuild(U, _f(kind, L, p))

        L, U, Y = runtime.map_rows(work, _flat(X))
        if pd_name is not None:  # positive definiteness from the same eigenvalues (one eigh per call)
            _check_pd_eigs(L, pd_name)
        ctx.kind, ctx.p, ctx.fast = kind, p, runtime.fast_divided_differences_enabled()
        ctx.save_for_backward(L, U)
        return Y.reshape(X.shape)

    @staticmethod
    def backward(ctx, G):
        L, U = ctx.saved_tensors
        kind, p, fast = ctx.kind, ctx.p, ctx.fast

        def work(Lc, Uc, Gc):
            return (_dk(Lc, Uc, [(kind, p, 1.0, 1.0, Gc)], fast),)

        (dX,) = runtime.map_rows(work, L, U, _flat(G))
        return dX.reshape(G.shape), None, None, None


class _SqrtInvSqrt(torch.autograd.Function):
    """X^{1/2} and X^{-1/2} from one eigendecomposition."""

    @staticmethod
    def forward(ctx, X, pd_name=None):
        def work(Xc):
            L, U = runtime.spectral_eigh(Xc)
            s = torch.sqrt(L)
            Ut = U.transpose(-1, -2)
            return L, U, products.chain(U * s.unsqueeze(-2), Ut), products.chain(U / s.unsqueeze(-2), Ut)

        L, U, S, Si = runtime.map_rows(work, _flat(X))
        if pd_name is not None:
            _check_pd_eigs(L, pd_name)
        ctx.save_for_backward(L, U)
        return S.reshape(X.shape), Si.reshape(X.shape)

    @staticmethod
    def backward(ctx, G1, G2):
        L, U = ctx.saved_tensors
        kinds = [k for k, G in (("sqrt", G1), ("invsqrt", G2)) if G is not None]
        grads = [_flat(G) for G in (G1, G2) if G is not None]
        if not grads:
            return None, None

        def work(Lc, Uc, *Gs):
            return (_dk(Lc, Uc, [(k, 0.0, 1.0, 1.0, Gk) for k, Gk in zip(kinds, Gs)]),)

        (dX,) = runtime.map_rows(work, L, U, *grads)
        shape = (G1 if G1 is not None else G2).shape
        return dX.reshape(shape), None


class _MultiSpectral(torch.autograd.Function):
    """Several U f_k(Λ) Uᵀ from one eigendecomposition; backward sums the Daleckii–Krein terms."""

    @staticmethod
    def forward(ctx, X, kinds, pd_name=None):
        def work(Xc):
            L, U = runtime.spectral_eigh(Xc)
            return (L, U, *(_rebuild(U, _fmulti(k, L)) for k in kinds))

        L, U, *outs = runtime.map_rows(work, _flat(X))
        if pd_name is not None:
            _check_pd_eigs(L, pd_name)
        ctx.kinds, ctx.fast = kinds, runtime.fast_divided_differences_enabled()
        ctx.save_for_backward(L, U)
        return tuple(o.reshape(X.shape) for o in outs)

    @staticmethod
    def backward(ctx, *grads):
        L, U = ctx.saved_tensors
        fast = ctx.fast
        kinds = [k for k, G in zip(ctx.kinds, grads) if G is not None]
        Gs = [_flat(G) for G in grads if G is not None]
        if not Gs:
            return None, None, None
        shape = next(G for G in grads if G is not None).shape

        def work(Lc, Uc, *Gc):
            return (_dk(Lc, Uc, [(*_MULTI_TERMS[k], g) for k, g in zip(kinds, Gc)], fast),)

        (dX,) = runtime.map_rows(work, L, U, *Gs)
        return dX.reshape(shape), None, None


_MULTI_KINDS = ("log", "exp", "sqrt", "invsqrt", "sqrtexp", "invsqrtexp")


def _fmulti(kind: str, L: torch.Tensor) -> torch.Tensor:
    if kind == "sqrtexp":
        return torch.exp(0.5 * L)
    if kind == "invsqrtexp":
        return torch.exp(-0.5 * L)
    return _f(kind, L, 0.0)


# (kind, p, a, c) of each multi kind: divided differences of exp(±λ/2) are ±½ those of exp at ±λ/2
_MULTI_TERMS = {"log": ("log", 0.0, 1.0, 1.0), "exp": ("exp", 0.0, 1.0, 1.0), "sqrt": ("sqrt", 0.0, 1.0, 1.0),
                "invsqrt": ("invsqrt", 0.0, 1.0, 1.0), "sqrtexp": ("exp", 0.0, 0.5, 0.5),
                "invsqrtexp": ("exp", 0.0, -0.5, -0.5)}


def spectral_functions(X: torch.Tensor, kinds, check: bool = True) -> tuple:
    """Several matrix functions of the same SPD matrices from a single eigendecomposition.

    Args:
        X: SPD matrices (..., n, n).
        kinds: sequence of names in {'log', 'exp', 'sqrt', 'invsqrt', 'sqrtexp', 'invsqrtexp'}, e.g.
            ('sqrt', 'invsqrt', 'log') gives (X^{1/2}, X^{-1/2}, log X) for one ``eigh`` instead of
            three; 'sqrtexp'/'invsqrtexp' are exp(±X/2), i.e. the square root and inverse square root
            of exp(X). With only these two (and 'exp') X need only be symmetric, not SPD.
    Returns: tuple of tensors (..., n, n), one per kind, differentiable (Daleckii–Krein backward).
    """
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("spectral_functions: kinds must name at least one function")
    bad = [k for k in kinds if k not in _MULTI_KINDS]
    if bad:
        raise ValueError(f"spectral_functions: unknown kinds {bad}; choose from {list(_MULTI_KINDS)}")
    check_shape(X, "spectral_functions")
    pd_name = None
    if check and runtime.checks_enabled():
        check_symmetric(X, "spectral_functions")
        if not all(k in ("exp", "sqrtexp", "invsqrtexp") for k in kinds):
            pd_name = "spectral_functions"
    return _MultiSpectral.apply(X, kinds, pd_name)


def _apply(X: torch.Tensor, kind: str, p: float, check: bool, name: str, needs_pd: bool) -> torch.Tensor:
    pd_name = None
    if needs_pd:
        check_shape(X, name)
        if check and runtime.checks_enabled():
            check_symmetric(X, name)
            pd_name = name
    else:
        check_symmetric(X, name, check)
    return _Spectral.apply(X, kind, p, pd_name)


def logm(X: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Matrix logarithm of SPD matrices (..., n, n)."""
    return _apply(X, "log", 0.0, check, "logm", True)


def expm(X: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Matrix exponential of symmetric matrices (..., n, n)."""
    return _apply(X, "exp", 0.0, check, "expm", False)


def sqrtm(X: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Matrix square root of SPD matrices (..., n, n)."""
    return _apply(X, "sqrt", 0.0, check, "sqrtm", True)


def invsqrtm(X: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Inverse matrix square root of SPD matrices (..., n, n)."""
    return _apply(X, "invsqrt", 0.0, check, "invsqrtm", True)


def sqrtm_invsqrtm(X: torch.Tensor, check: bool = True):
    """(X^{1/2}, X^{-1/2}) of SPD matrices from a single eigendecomposition."""
    check_shape(X, "sqrtm_invsqrtm")
    pd_name = None
    if check and runtime.checks_enabled():
        check_symmetric(X, "sqrtm_invsqrtm")
        pd_name = "sqrtm_invsqrtm"
    return _SqrtInvSqrt.apply(X, pd_name)


def powm(X: torch.Tensor, p: float, check: bool = True) -> torch.Tensor:
    """Matrix power X^p of SPD matrices (..., n, n) for a real exponent p."""
    p = float(p)
    if not math.isfinite(p):
        raise ValueError(f"powm: exponent must be finite, got {p}")
    return _apply(X, "pow", p, check, "powm", True)


def reeig(X: torch.Tensor, eps: float = 1e-4, check: bool = True) -> torch.Tensor:
    """Eigenvalue rectification U max(Λ, eps) Uᵀ (SPDNet's ReEig) of symmetric matrices."""
    eps = float(eps)
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"reeig: eps must be a positive finite number, got {eps}")
    return _apply(X, "reeig", eps, check, "reeig", False)


def spectral_apply(X: torch.Tensor, kind: str, p: float = 0.0, check: bool = True) -> torch.Tensor:
    """Generic entry point: kind in {'log','exp','sqrt','invsqrt','pow','reeig'}."""
    table = {"log": True, "exp": False, "sqrt": True, "invsqrt": True, "pow": True, "reeig": False}
    if kind not in table:
        raise ValueError(f"unknown spectral function {kind!r}; choose from {sorted(table)}")
    return _apply(X, kind, float(p), check, kind, table[kind])


# ---------------------------------------------------------------------------------------------
# Vectorisation
# ---------------------------------------------------------------------------------------------

_TRIU_CACHE: dict = {}


def _triu(n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (n, str(device))
    if key not in _TRIU_CACHE:
        _TRIU_CACHE[key] = torch.triu_indices(n, n, device=device)
    return _TRIU_CACHE[key]


def vec_upper(X: torch.Tensor) -> torch.Tensor:
    """Upper triangle of symmetric (..., n, n) as (..., n(n+1)/2), off-diagonal scaled by √2.

    The scaling makes the map an isometry: ‖vec_upper(X)‖₂ = ‖X‖_F.
    """
    check_shape(X, "vec_upper")
    n = X.shape[-1]
    r, c = _triu(n, X.device)
    v = X[..., r, c]
    w = torch.where(r == c, 1.0, math.sqrt(2.0)).to(dtype=X.dtype)
    return v * w


def unvec_upper(v: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`vec_upper`: (..., n(n+1)/2) → symmetric (..., n, n)."""
    m = v.shape[-1]
    n = int(round((math.sqrt(8 * m + 1) - 1) / 2))
    if n * (n + 1) // 2 != m:
        raise ValueError(f"unvec_upper: length {m} is not a triangular number n(n+1)/2")
    r, c = _triu(n, v.device)
    w = torch.where(r == c, 1.0, 1.0 / math.sqrt(2.0)).to(dtype=v.dtype)
    X = v.new_zeros(*v.shape[:-1], n, n)
    X[..., r, c] = v * w
    X[..., c, r] = v * w
    return X
