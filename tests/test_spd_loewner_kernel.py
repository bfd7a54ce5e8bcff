"""The compiled Daleckii–Krein middle step (spdnas.spd.loewner_kernel) against the torch forms and
against exact references."""

from fractions import Fraction

import numpy as np
import pytest
import torch

import spdnas.spd as S
from spdnas.spd import functional as F
from spdnas.spd import loewner_kernel as LK

pytestmark = pytest.mark.skipif(not LK.available(), reason="numba not installed")

KINDS = [("log", 0.0), ("exp", 0.0), ("sqrt", 0.0), ("invsqrt", 0.0), ("pow", 0.3), ("pow", -1.7),
         ("reeig", 0.5)]


def _spectra(dtype):
    """Rows with generic, repeated, near-repeated (1 ulp and 1e-9 relative), widely spread and
    clipped eigenvalues; ascending as eigh returns them."""
    rng = np.random.default_rng(3)
    rows = [np.sort(rng.uniform(0.05, 4.0, 9)),
            np.array([0.3, 0.3, 0.3, 1.0, 1.0, 2.0, 2.0, 2.0, 5.0]),
            np.array([1.0, 1.0 + 1e-9, 1.0 + 2e-9, 1.5, np.nextafter(1.5, 2), 3.0, 3.0 * (1 + 1e-7), 7.0, 7.5]),
            np.geomspace(1e-4, 1e3, 9),
            np.array([0.01, 0.02, 0.4999, 0.5, 0.5001, 0.6, 1.0, 1.0, 2.0])]
    return torch.tensor(np.stack(rows), dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind,p", KINDS)
def test_kernel_equals_torch_loewner_times_sym(kind, p, dtype):
    L = _spectra(dtype)
    if kind == "exp":
        L = torch.log(L)  # any sign
    A = torch.randn(L.shape[0], 9, 9, dtype=dtype, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = LK.hadamard_sym(L, A, kind, p, F._rtol(dtype))
    ref = (F.loewner(L.double(), kind, p) * F.sym(A.double())).to(dtype)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol * ref.abs().max().item())
    assert torch.equal(out, out.mT)


def test_divided_differences_against_exact_rationals():
    """Wide gaps use the plain quotient of precomputed values: still ≈ eps relative (log, reeig)."""
    lam = [0.001, 0.01, 0.02, 0.7, 1.0, 1.2, 3.0, 3.0, 50.0, 1e3]
    L = torch.tensor([lam], dtype=torch.float64)
    A = torch.ones(1, len(lam), len(lam), dtype=torch.float64)
    with torch.no_grad():
        Klog = LK.hadamard_sym(L, A, "log", 0.0, F._rtol(torch.float64))[0]
        Kre = LK.hadamard_sym(L, A, "reeig", 0.5, 0.0)[0]
        Ksq = LK.hadamard_sym(L, A, "sqrt", 0.0, 0.0)[0]
    for i, a in enumerate(lam):
        for j, b in enumerate(lam):
            if a == b:
                ref_log, ref_re = 1.0 / a, 1.0 if a > 0.5 else 0.0
            else:
                ref_log = (np.log(np.longdouble(a)) - np.log(np.longdouble(b))) / (np.longdouble(a) - np.longdouble(b))
                fa, fb = max(Fraction(a), Fraction(0.5)), max(Fraction(b), Fraction(0.5))
                ref_re = float((fa - fb) / (Fraction(a) - Fraction(b)))
            assert Klog[i, j].item() == pytest.approx(float(ref_log), rel=1e-14)
            assert Kre[i, j].item() == pytest.approx(ref_re, rel=1e-15, abs=0.0)
            assert Ksq[i, j].item() == pytest.approx(1.0 / (np.sqrt(a) + np.sqrt(b)), rel=1e-15)


def test_accumulate_scale_and_coefficient():
    L = _spectra(torch.float64)
    A = torch.randn(L.shape[0], 9, 9, dtype=torch.float64)
    B = torch.randn(L.shape[0], 9, 9, dtype=torch.float64)
    with torch.no_grad():
        out = LK.hadamard_sym(L, A, "sqrt", 0.0, 0.0)
        LK.hadamard_sym(L, B, "exp", 0.0, F._rtol(torch.float64), scale=-0.5, coef=-0.5, out=out)
    ref = F.loewner(L, "sqrt") * F.sym(A) - 0.5 * F.loewner(-0.5 * L, "exp") * F.sym(B)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_bad_inputs_and_unsupported_cases():
    L = torch.rand(2, 3, dtype=torch.float64) + 1
    A = torch.randn(2, 3, 3, dtype=torch.float64)
    with torch.no_grad():
        with pytest.raises(ValueError, match="expected L"):
            LK.hadamard_sym(L[:, :2], A, "log")
        with pytest.raises(ValueError, match="unsupported"):
            LK.hadamard_sym(L, A, "cosh")
        with pytest.raises(ValueError, match="unsupported"):
            LK.hadamard_sym(L.long(), A.long(), "log")
        with pytest.raises(ValueError, match="out must be"):
            LK.hadamard_sym(L, A, "log", out=torch.empty(2, 3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="grad mode True"):
        LK.hadamard_sym(L, A, "log")
    assert not LK.supports(A, "log")  # grad mode on


@pytest.mark.parametrize("name,fn", [("logm", S.logm), ("expm", S.expm), ("reeig", lambda X: S.reeig(X, 0.7)),
                                     ("powm", lambda X: S.powm(X, 0.3)),
                                     ("sqrtm_invsqrtm", lambda X: sum(S.sqrtm_invsqrtm(X))),
                                     ("spectral_functions", lambda X: sum(F.spectral_functions(X, ("log", "sqrtexp", "invsqrtexp"))))])
def test_gradients_equal_the_torch_path(monkeypatch, name, fn):
    """The kernel (backward without a graph) and the torch forms (numba missing; or a double
    backward, which records the graph) give the same gradients, also on a repeated spectrum."""
    Q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    X = torch.stack([(Q * torch.tensor([0.2, 0.5, 0.5, 1.0, 1.0, 3.0], dtype=torch.float64)) @ Q.T,
                     S.sqrtm(torch.eye(6, dtype=torch.float64) + 0.3 * (Q + Q.T))])
    G = torch.randn(2, 6, 6, dtype=torch.float64)
    Xk = X.clone().requires_grad_()
    (gk,) = torch.autograd.grad((fn(Xk) * G).sum(), Xk)
    Xg = X.clone().requires_grad_()
    Gg = G.clone().requires_grad_()
    (gg,) = torch.autograd.grad((fn(Xg) * Gg).sum(), Xg, create_graph=True)  # torch path, graph to G
    assert gg.requires_grad
    torch.testing.assert_close(gk, gg.detach(), rtol=1e-10, atol=1e-12)
    monkeypatch.setattr(LK, "numba", None)
    Xt = X.clone().requires_grad_()
    (gt,) = torch.autograd.grad((fn(Xt) * G).sum(), Xt)
    torch.testing.assert_close(gk, gt, rtol=1e-10, atol=1e-12)


def test_backward_uses_the_kernel_on_cpu_without_a_graph(monkeypatch):
    calls = []
    real = LK.hadamard_sym
    monkeypatch.setattr(LK, "hadamard_sym", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    X = (torch.eye(4, dtype=torch.float64) * 2).requires_grad_()
    S.logm(X).sum().backward()
    assert calls == ["log"]
    torch.testing.assert_close(X.grad, 0.5 * torch.ones(4, 4, dtype=torch.float64))  # Dlog(2I)[E] = E/2


@pytest.mark.parametrize("kind", ["log", "exp", "pow"])
def test_quotient_switch_keeps_full_accuracy_near_its_threshold(kind):
    """Gaps just above / below the switch to the plain quotient (relative 1/64), at extreme
    magnitudes, against long-double references: relative error ≤ 1e-12."""
    base = np.array([1e-6, 1e-3, 0.7, 1.0, 40.0, 1e6]) if kind != "exp" else np.array([-30.0, -1.0, 0.0, 2.0, 30.0])
    gaps = np.array([1 / 64 * (1 + 1e-9), 1 / 64 * (1 - 1e-9), 0.02, 0.01, 1e-3, 1e-5])
    x = np.concatenate([base * (1 + g) if kind != "exp" else base + g for g in gaps])
    y = np.concatenate([base] * len(gaps))
    n = x.size
    L = torch.tensor(np.concatenate([x, y])[None], dtype=torch.float64)
    A = torch.zeros(1, 2 * n, 2 * n, dtype=torch.float64)
    idx = torch.arange(n)
    A[0, idx, idx + n] = 1.0  # only the (x_k, y_k) pairs: sym halves them, K_ij·½ lands at (i, j)
    p = 0.37
    with torch.no_grad():
        out = LK.hadamard_sym(L, A, kind, p, F._rtol(torch.float64))[0, idx, idx + n].numpy() * 2
    xl, yl = x.astype(np.longdouble), y.astype(np.longdouble)
    f = {"log": np.log, "exp": np.exp, "pow": lambda v: v ** np.longdouble(p)}[kind]
    ref = (f(xl) - f(yl)) / (xl - yl)
    np.testing.assert_allclose(out, ref.astype(np.float64), rtol=1e-12)
