"""Spectral functions: forward vs scipy, Daleckii–Krein gradients vs exact Fréchet derivatives."""

import numpy as np
import pytest
import scipy.linalg as sla
import torch

import spdnas.spd as S
from spdnas.spd import functional as F
from helpers_spd import rand_spd, rand_sym

torch.manual_seed(0)


SCIPY = {
    "logm": lambda X: sla.logm(X).real,
    "expm": sla.expm,
    "sqrtm": lambda X: sla.sqrtm(X).real,
    "invsqrtm": lambda X: np.linalg.inv(sla.sqrtm(X).real),
    "powm": lambda X: sla.fractional_matrix_power(X, 0.37).real,
}
OURS = {
    "logm": S.logm,
    "expm": S.expm,
    "sqrtm": S.sqrtm,
    "invsqrtm": S.invsqrtm,
    "powm": lambda X, **k: S.powm(X, 0.37, **k),
    "reeig": lambda X, **k: S.reeig(X, 0.5, **k),
}


def frechet_ref(name, X, E):
    """Exact Fréchet derivative Df(X)[E] via f of the block matrix [[X, E], [0, X]]."""
    n = X.shape[0]
    B = np.zeros((2 * n, 2 * n))
    B[:n, :n], B[n:, n:], B[:n, n:] = X, X, E
    return SCIPY[name](B)[:n, n:]


@pytest.mark.parametrize("name", list(SCIPY))
def test_forward_matches_scipy(name):
    X = rand_spd(3, n=6)
    Y = OURS[name](X).numpy()
    for i in range(3):
        np.testing.assert_allclose(Y[i], SCIPY[name](X[i].numpy()), rtol=1e-9, atol=1e-10)


def test_reeig_forward_closed_form():
    X = rand_spd(n=6, cond=100.0)
    L, U = np.linalg.eigh(X.numpy())
    ref = U @ np.diag(np.maximum(L, 0.5)) @ U.T
    np.testing.assert_allclose(S.reeig(X, 0.5).numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("name", list(OURS))
def test_gradcheck_float64(name):
    X = rand_spd(2, n=4).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: OURS[name](F.sym(x), check=False), (X,))


def test_gradcheck_sqrtm_invsqrtm_shared():
    X = rand_spd(2, n=4).requires_grad_()
    f = lambda x: S.sqrtm_invsqrtm(F.sym(x), check=False)  # noqa: E731
    assert torch.autograd.gradcheck(f, (X,))
    Sq, Si = S.sqrtm_invsqrtm(X.detach())
    torch.testing.assert_close(Sq @ Si, torch.eye(4, dtype=torch.float64).expand(2, 4, 4))


def _spectra_cases():
    I = np.eye(5)
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 5)))
    rep = Q @ np.diag([0.5, 2.0, 2.0, 2.0, 3.0]) @ Q.T  # triple eigenvalue
    near = Q @ np.diag([1.0, 1.0 + 1e-9, 1.0 + 2e-9, 4.0, 4.0]) @ Q.T  # clusters
    return {"identity": I, "repeated": rep, "near-repeated": near, "generic": rand_spd(n=5).numpy()}


@pytest.mark.parametrize("case", ["identity", "repeated", "near-repeated", "generic"])
@pytest.mark.parametrize("name", list(SCIPY))
def test_gradient_equals_exact_frechet_derivative(name, case):
    """⟨∇⟨G, f(X)⟩, E⟩ must equal ⟨G, Df(X)[E]⟩ (exact, block-matrix reference) for symmetric E."""
    X = _spectra_cases()[case]
    rng = np.random.default_rng(7)
    G = rng.standard_normal((5, 5))
    E = rng.standard_normal((5, 5))
    E = E + E.T
    Xt = torch.tensor(X, requires_grad=True)
    (grad,) = torch.autograd.grad((OURS[name](Xt) * torch.tensor(G)).sum(), Xt)
    assert torch.isfinite(grad).all()
    ours = float((grad.numpy() * E).sum())
    ref = float((G * frechet_ref(name, X, E)).sum())
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-8)


def test_float32_gradients_are_accurate_on_repeated_spectrum():
    X = _spectra_cases()["repeated"]
    G = torch.randn(5, 5, dtype=torch.float64)
    ref_x = torch.tensor(X, requires_grad=True)
    (ref,) = torch.autograd.grad((S.logm(ref_x) * G).sum(), ref_x)
    x32 = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    (g32,) = torch.autograd.grad((S.logm(x32) * G.float()).sum(), x32)
    assert torch.isfinite(g32).all()
    torch.testing.assert_close(g32.double(), ref, rtol=1e-4, atol=1e-4)


def test_plain_eigh_autograd_fails_where_ours_does_not():
    """The motivating defect: autograd through eigh divides by λ_i − λ_j."""
    X = torch.eye(4, dtype=torch.float64, requires_grad=True)
    L, U = torch.linalg.eigh(X)
    naive = (U @ torch.diag_embed(torch.log(L)) @ U.T).sum()
    (g_naive,) = torch.autograd.grad(naive, X)
    assert not torch.isfinite(g_naive).all()
    (g,) = torch.autograd.grad(S.logm(X).sum(), X)
    torch.testing.assert_close(g, torch.ones(4, 4, dtype=torch.float64))  # Dlog(I)[E] = E


def test_incoming_gradient_is_symmetrised():
    X = rand_spd(n=4).requires_grad_()
    G = torch.triu(torch.randn(4, 4, dtype=torch.float64))
    (g1,) = torch.autograd.grad((S.logm(X) * G).sum(), X)
    (g2,) = torch.autograd.grad((S.logm(X) * G.T).sum(), X)
    torch.testing.assert_close(g1, g2)
    torch.testing.assert_close(g1, g1.T)


def test_reeig_gradient_masks_small_eigenvalues():
    Q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
    X = (Q * torch.tensor([0.01, 0.02, 2.0, 3.0], dtype=torch.float64)) @ Q.T
    X.requires_grad_()
    Y = S.reeig(X, eps=0.1)
    (g,) = torch.autograd.grad((Y * torch.eye(4, dtype=torch.float64)).sum(), X)
    # d trace(max(Λ, eps)) = projector on eigenvalues above eps
    P = Q[:, 2:] @ Q[:, 2:].T
    torch.testing.assert_close(g, P)


def test_batched_shapes_and_dtypes():
    for dtype in (torch.float32, torch.float64):
        X = rand_spd(2, 3, n=4, dtype=dtype)
        for f in OURS.values():
            Y = f(X)
            assert Y.shape == X.shape and Y.dtype == dtype


def test_vec_upper_isometry_and_inverse():
    X = rand_sym(3, n=6)
    v = S.vec_upper(X)
    assert v.shape == (3, 21)
    torch.testing.assert_close(v.norm(dim=-1), torch.linalg.matrix_norm(X))
    torch.testing.assert_close(S.unvec_upper(v), X)
    from pyriemann.geometry.tangentspace import upper

    np.testing.assert_allclose(v.numpy(), upper(X.numpy()), atol=1e-12)
    with pytest.raises(ValueError, match="triangular"):
        S.unvec_upper(torch.zeros(5))


@pytest.mark.parametrize(
    "bad, msg",
    [
        (torch.zeros(3, 4), "square"),
        (torch.tensor([[1.0, 2.0], [0.0, 1.0]]), "not symmetric"),
        (torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]), "NaN"),
        (torch.tensor([[1.0, 0.0], [0.0, -1.0]]), "not positive definite"),
        (torch.eye(3, dtype=torch.int64), "floating"),
    ],
)
def test_bad_inputs_raise(bad, msg):
    with pytest.raises(ValueError, match=msg):
        S.logm(bad)


def test_checks_can_be_disabled():
    bad = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    with F.checks(False):
        S.expm(bad)  # no value check: symmetric part is used
    with pytest.raises(ValueError):
        S.expm(bad)
    with pytest.raises(ValueError, match="eps"):
        S.reeig(torch.eye(2), eps=0.0)
    with pytest.raises(ValueError, match="finite"):
        S.powm(torch.eye(2), float("inf"))


def test_checked_call_uses_one_eigendecomposition(monkeypatch):
    """With value checks on, positive definiteness is read from the eigenvalues of the function's
    own eigendecomposition: exactly one decomposition per call, and non-PD input still raises."""
    import spdnas.spd.functional as Fm
    import spdnas.spd.runtime as R

    calls = []
    real_eigh, real_eigvalsh = R.spectral_eigh, torch.linalg.eigvalsh
    monkeypatch.setattr(R, "spectral_eigh", lambda X: calls.append("eigh") or real_eigh(X))
    monkeypatch.setattr(torch.linalg, "eigvalsh", lambda X: calls.append("eigvalsh") or real_eigvalsh(X))
    A = torch.randn(4, 5, 5, dtype=torch.float64)
    X = A @ A.mT + torch.eye(5, dtype=torch.float64)
    bad = X.clone()
    bad[0] = -bad[0]
    for f in (Fm.logm, Fm.sqrtm, Fm.invsqrtm, lambda Z, check=True: Fm.powm(Z, 0.3, check=check),
              Fm.sqrtm_invsqrtm, lambda Z, check=True: Fm.spectral_functions(Z, ("sqrt", "log"), check=check)):
        calls.clear()
        f(X)
        assert calls == ["eigh"]
        with pytest.raises(ValueError, match="not positive definite"):
            f(bad)


def test_reeig_divided_differences_are_exact():
    """K_ij of max(λ, ε) against exact rational arithmetic: 1 both kept, 0 both clipped, the true
    quotient across ε (also for gaps of one ulp), the one-sided derivative on exact ties."""
    from fractions import Fraction

    eps = 0.1
    lam = [0.01, 0.01, 0.1, np.nextafter(0.1, 1.0), 0.5, 0.5, np.nextafter(0.5, 1.0), 3.0,
           np.nextafter(0.1, 0.0)]
    L = torch.tensor(lam, dtype=torch.float64)
    K = F.loewner(L, "reeig", eps)
    for i, a in enumerate(lam):
        for j, b in enumerate(lam):
            if a == b:
                ref = 1.0 if a > eps else 0.0
            else:
                fa, fb = max(Fraction(a), Fraction(eps)), max(Fraction(b), Fraction(eps))
                ref = float((fa - fb) / (Fraction(a) - Fraction(b)))
            assert K[i, j].item() == pytest.approx(ref, rel=1e-15, abs=0.0), (a, b)
