"""The compiled small-matrix eigensolver (spdnas.spd.small_eigh) against scipy/LAPACK in float64."""

import numpy as np
import pytest
import scipy.linalg
import torch

from spdnas.spd import functional as F
from spdnas.spd import small_eigh

pytestmark = pytest.mark.skipif(not small_eigh.available(), reason="numba not installed")


def _check_decomposition(X, L, U, tol):
    """Eigenvalues equal scipy's, U orthonormal, U diag(L) Uᵀ = X (all relative to ‖X‖)."""
    Xd = X.double()
    scale = Xd.abs().amax(dim=(-1, -2), keepdim=True).clamp_min(1e-300)
    ref = torch.from_numpy(np.stack([scipy.linalg.eigh(x, eigvals_only=True) for x in Xd.reshape(-1, *X.shape[-2:]).numpy()]))
    ref = ref.reshape(L.shape)
    assert L.dtype == X.dtype and U.dtype == X.dtype and L.shape == X.shape[:-1] and U.shape == X.shape
    assert torch.all(L[..., 1:] >= L[..., :-1]), "eigenvalues must be ascending"
    assert ((L.double() - ref).abs() / scale[..., 0]).max() <= tol
    Ud = U.double()
    eye = torch.eye(X.shape[-1], dtype=torch.float64)
    assert (Ud.mT @ Ud - eye).abs().max() <= tol
    assert ((Ud @ torch.diag_embed(L.double()) @ Ud.mT - Xd).abs() / scale).max() <= tol


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 17, 24])
def test_random_symmetric_matrices_match_scipy(n):
    g = torch.Generator().manual_seed(n)
    A = torch.randn(40, n, n, dtype=torch.float64, generator=g)
    X = A + A.mT  # indefinite
    L, U = small_eigh.eigh(X)
    _check_decomposition(X, L, U, 1e-13)


def _with_spectrum(lams, seed):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(len(lams), len(lams), dtype=torch.float64, generator=g))
    return Q @ torch.diag(torch.tensor(lams, dtype=torch.float64)) @ Q.mT


@pytest.mark.parametrize("name", ["identity", "zero", "diagonal", "repeated", "rank1", "tridiagonal",
                                  "graded", "tiny", "huge"])
def test_structured_matrices(name):
    n = 10
    if name == "identity":
        X = torch.eye(n, dtype=torch.float64)
    elif name == "zero":
        X = torch.zeros(n, n, dtype=torch.float64)
    elif name == "diagonal":
        X = torch.diag(torch.tensor([3.0, 1, 1, 2, 5, 5, 5, 0.5, 4, 1], dtype=torch.float64))
    elif name == "repeated":
        X = _with_spectrum([1, 1, 1, 2, 2, 5, 5, 5, 5, 7], 0)
    elif name == "rank1":
        v = torch.arange(1.0, n + 1, dtype=torch.float64)
        X = torch.outer(v, v)
    elif name == "tridiagonal":
        X = torch.diag(torch.full((n,), 2.0, dtype=torch.float64)) - torch.diag(torch.ones(n - 1, dtype=torch.float64), 1) \
            - torch.diag(torch.ones(n - 1, dtype=torch.float64), -1)
    elif name == "graded":  # eigenvalues over 12 decades (an ill-conditioned SPD matrix)
        X = _with_spectrum(list(10.0 ** np.linspace(-6, 6, n)), 1)
    elif name == "tiny":
        X = _with_spectrum(list(np.linspace(1, 2, n)), 2) * 1e-200
    else:
        X = _with_spectrum(list(np.linspace(-1, 2, n)), 3) * 1e200
    L, U = small_eigh.eigh(X[None])
    _check_decomposition(X[None], L, U, 1e-13)
    if name == "tridiagonal":  # closed form 2 − 2 cos(kπ/(n+1))
        k = torch.arange(1, n + 1, dtype=torch.float64)
        torch.testing.assert_close(L[0], 2 - 2 * torch.cos(k * torch.pi / (n + 1)), rtol=0, atol=1e-14)


def test_float32_is_computed_in_double_and_returned_in_float32():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(64, 12, 12, dtype=torch.float64, generator=g)
    X = (A @ A.mT / 12 + 0.1 * torch.eye(12, dtype=torch.float64)).float()
    L, U = small_eigh.eigh(X)
    assert L.dtype == U.dtype == torch.float32
    _check_decomposition(X, L, U, 2e-6)


def test_reads_the_lower_triangle_only_and_accepts_any_layout():
    g = torch.Generator().manual_seed(4)
    A = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=g)
    S = A + A.mT
    junk = S + torch.triu(torch.randn(8, 8, dtype=torch.float64, generator=g), 1)  # upper triangle garbage
    L, U = small_eigh.eigh(junk)
    L0, U0 = torch.linalg.eigh(junk)  # LAPACK reads the lower triangle too (UPLO='L')
    torch.testing.assert_close(L, L0, rtol=0, atol=1e-12)
    Lt, _ = small_eigh.eigh(S.transpose(-1, -2))  # non-contiguous view
    torch.testing.assert_close(Lt, L0, rtol=0, atol=1e-12)
    L_empty, U_empty = small_eigh.eigh(torch.zeros(0, 5, 5))
    assert L_empty.shape == (0, 5) and U_empty.shape == (0, 5, 5)


def test_non_finite_input_gives_nan_for_that_matrix_only():
    X = torch.eye(6, dtype=torch.float64).repeat(3, 1, 1)
    X[1, 4, 2] = float("nan")
    X[2, 5, 5] = float("inf")
    L, U = small_eigh.eigh(X)
    assert torch.isnan(L[1]).all() and torch.isnan(U[1]).all()
    assert torch.isnan(L[2]).all() and torch.isnan(U[2]).all()
    torch.testing.assert_close(L[0], torch.ones(6, dtype=torch.float64))


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="square"):
        small_eigh.eigh(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="float32/float64"):
        small_eigh.eigh(torch.zeros(3, 3, dtype=torch.int64))


def test_spectral_functions_agree_across_backends_also_on_repeated_spectra():
    """Values and Daleckii–Krein gradients do not depend on the eigensolver (eigenvector signs and
    the basis of repeated eigenspaces may differ)."""
    g = torch.Generator().manual_seed(5)
    A = torch.randn(50, 10, 10, dtype=torch.float64, generator=g)
    X = A @ A.mT / 10 + 0.05 * torch.eye(10, dtype=torch.float64)
    X[:5] = torch.eye(10, dtype=torch.float64)  # fully repeated spectrum
    X[5:10] = _with_spectrum([1, 1, 1, 2, 2, 3, 3, 3, 4, 4], 6)
    G = torch.randn(50, 10, 10, dtype=torch.float64, generator=g)
    fns = [F.logm, F.expm, F.sqrtm, F.invsqrtm, lambda Z, check=True: F.reeig(Z - 0.5 * torch.eye(10, dtype=Z.dtype), 0.2),
           lambda Z, check=True: F.sqrtm_invsqrtm(Z)[1],
           lambda Z, check=True: F.spectral_functions(Z, ("log", "sqrt"))[0]]
    for fn in fns:
        res = {}
        for backend in F.EIGH_BACKENDS:
            Xr = X.clone().requires_grad_()
            with F.eigh_backend(backend):
                Y = fn(Xr)
                (dX,) = torch.autograd.grad(Y, Xr, G)
            res[backend] = (Y.detach(), dX)
        torch.testing.assert_close(res["auto"][0], res["torch"][0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(res["auto"][1], res["torch"][1], rtol=1e-10, atol=1e-10)


def test_dispatch_uses_the_kernel_only_where_it_applies(monkeypatch):
    used = []
    real = small_eigh.eigh
    monkeypatch.setattr(small_eigh, "eigh", lambda X: used.append(X.shape[-1]) or real(X))
    small = torch.eye(small_eigh.MAX_N, dtype=torch.float64)[None] * 2
    large = torch.eye(small_eigh.MAX_N + 1, dtype=torch.float64)[None] * 2
    F.logm(small)
    F.logm(large)
    with F.eigh_backend("torch"):
        F.logm(small)
    assert used == [small_eigh.MAX_N]
    assert small_eigh.supports(small) and not small_eigh.supports(large)
    assert not small_eigh.supports(small.half()) and not small_eigh.supports(small.long())
    monkeypatch.setattr(small_eigh, "numba", None)  # numba missing: LAPACK, same values
    used.clear()
    torch.testing.assert_close(F.logm(small), torch.log(torch.tensor(2.0, dtype=torch.float64)) * small / 2)
    assert used == []
    with pytest.raises(ValueError, match="numba is not installed"):
        real(small)
