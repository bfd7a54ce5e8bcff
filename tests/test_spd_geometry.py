"""Affine-invariant geometry against pyriemann (float64)."""

import numpy as np
import pytest
import torch
from pyriemann.geometry.distance import distance_riemann
from pyriemann.geometry.geodesic import geodesic_riemann
from pyriemann.geometry.mean import mean_riemann
from pyriemann.geometry.tangentspace import exp_map_riemann, log_map_riemann, transport_riemann

import spdnas.spd as S

from helpers_spd import rand_spd, rand_sym


def test_distance_matches_pyriemann():
    A, B = rand_spd(4, n=5, cond=50), rand_spd(4, n=5, cond=50)
    ours = S.distance(A, B).numpy()
    ref = [distance_riemann(a, b) for a, b in zip(A.numpy(), B.numpy())]
    np.testing.assert_allclose(ours, ref, rtol=1e-9)
    assert torch.allclose(S.distance(A, A), torch.zeros(4, dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 1.7])
def test_geodesic_matches_pyriemann(t):
    A, B = rand_spd(n=4), rand_spd(n=4)
    np.testing.assert_allclose(S.geodesic(A, B, t).numpy(), geodesic_riemann(A.numpy(), B.numpy(), t), atol=1e-10)
    tt = torch.tensor(t, dtype=torch.float64)
    np.testing.assert_allclose(S.geodesic(A, B, tt).numpy(), geodesic_riemann(A.numpy(), B.numpy(), t), atol=1e-10)


def test_exp_log_maps_match_pyriemann_and_invert():
    P, X, V = rand_spd(n=5), rand_spd(n=5), rand_sym(n=5)
    np.testing.assert_allclose(S.log_map(P, X).numpy(), log_map_riemann(X.numpy(), P.numpy(), C12=True), atol=1e-10)
    np.testing.assert_allclose(S.exp_map(P, V).numpy(), exp_map_riemann(V.numpy(), P.numpy(), Cm12=True), atol=1e-10)
    torch.testing.assert_close(S.exp_map(P, S.log_map(P, X)), X)


def test_transport_matches_pyriemann_and_preserves_norm():
    P, Q, V = rand_spd(n=4), rand_spd(n=4), rand_sym(n=4)
    T = S.transport(P, Q, V)
    np.testing.assert_allclose(T.numpy(), transport_riemann(V.numpy(), P.numpy(), Q.numpy()), atol=1e-10)

    def rnorm(M, W):  # ‖W‖_M = ‖M^{-1/2} W M^{-1/2}‖_F
        Mi = S.invsqrtm(M)
        return torch.linalg.matrix_norm(Mi @ W @ Mi)

    torch.testing.assert_close(rnorm(Q, T), rnorm(P, V))


def test_frechet_mean_matches_pyriemann():
    X = rand_spd(12, n=5, cond=30)
    w = torch.rand(12, dtype=torch.float64)
    ours = S.frechet_mean(X, weights=w, dim=0, iters=30)
    ref = mean_riemann(X.numpy(), sample_weight=w.numpy(), tol=1e-12, maxiter=200)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-9)
    # batched over a leading dimension, mean over dim=1
    Xb = torch.stack([X, X.flip(0)])
    Mb = S.frechet_mean(Xb, dim=1, iters=30)
    ref_u = mean_riemann(X.numpy(), tol=1e-12, maxiter=200)
    np.testing.assert_allclose(Mb.numpy(), np.stack([ref_u, ref_u]), atol=1e-9)


def test_frechet_mean_of_two_is_geodesic_midpoint():
    A, B = rand_spd(n=4), rand_spd(n=4)
    M = S.frechet_mean(torch.stack([A, B]), dim=0, iters=20)
    torch.testing.assert_close(M, S.geodesic(A, B, 0.5))


def test_frechet_mean_detach_and_differentiate():
    X = rand_spd(6, n=3).requires_grad_()
    M = S.frechet_mean(X, dim=0, iters=2)
    assert M.requires_grad
    M.sum().backward()
    assert torch.isfinite(X.grad).all()
    assert not S.frechet_mean(X, dim=0, iters=2, detach=True).requires_grad
    assert torch.autograd.gradcheck(lambda x: S.frechet_mean(S.sym(x), dim=0, iters=1, check=False), (X.detach()[:3].clone().requires_grad_(),))


def test_frechet_mean_bad_inputs():
    X = rand_spd(3, n=3)
    with pytest.raises(ValueError, match="weights"):
        S.frechet_mean(X, weights=torch.ones(4), dim=0)
    with pytest.raises(ValueError, match="matrix dimension"):
        S.frechet_mean(X, dim=-1)
    with pytest.raises(ValueError, match="iters"):
        S.frechet_mean(X, dim=0, iters=-1)
    with pytest.raises(ValueError, match="positive definite"):
        S.frechet_mean(-X, dim=0)


def test_frechet_mean_inits_converge_to_the_same_point():
    X = rand_spd(6, n=4, cond=20)
    a = S.frechet_mean(X, dim=0, iters=40, init="arithmetic")
    b = S.frechet_mean(X, dim=0, iters=40, init="logeuclid")
    c = S.frechet_mean(X, dim=0, iters=40, init=X[0])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(S.frechet_mean(X, dim=0, iters=0, init="arithmetic"), X.mean(0))
    with pytest.raises(ValueError, match="init"):
        S.frechet_mean(X, dim=0, init="median")


@pytest.mark.parametrize("iters", [1, 2])
def test_logeuclid_start_equals_the_explicit_start(iters):
    """init='logeuclid' takes M0^{±1/2} = exp(±T0/2) from one eigendecomposition of T0 without forming
    M0 = exp(T0): the same mean (and gradients in X and the weights) as starting at exp(T0) given as a tensor."""
    g = torch.Generator().manual_seed(5)
    X = rand_spd(3, 4, n=5, cond=30, gen=g).requires_grad_()
    w = torch.rand(3, 4, generator=g, dtype=torch.float64).add_(0.1).requires_grad_()
    G = rand_sym(3, n=5)
    a = S.frechet_mean(X, weights=w, dim=1, iters=iters)
    wn = (w / w.sum(-1, keepdim=True))[..., None, None]
    b = S.frechet_mean(X, weights=w, dim=1, iters=iters, init=S.expm((wn * S.logm(X)).sum(1)))
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    ga = torch.autograd.grad((a * G).sum(), (X, w))
    gb = torch.autograd.grad((b * G).sum(), (X, w))
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(S.frechet_mean(X, weights=w, dim=1, iters=0), S.expm((wn * S.logm(X)).sum(1)))


def test_sandwich_feeds_spectral_functions_like_the_symmetrised_congruence():
    """S X S without symmetrisation gives logm values and gradients equal (to round-off) to the
    symmetrised congruence: the spectral functions read the lower triangle and return symmetric
    gradients."""
    g = torch.Generator().manual_seed(11)
    X = rand_spd(20, n=6, gen=g)
    P = rand_spd(20, n=6, gen=g)
    Gout = rand_sym(20, n=6)
    res = []
    for f in (S.geometry.sandwich, S.geometry.congruence):
        Xr, Pr = X.clone().requires_grad_(), P.clone().requires_grad_()
        Si = S.invsqrtm(Pr)
        Y = S.logm(f(Si, Xr))
        res.append((Y.detach(), *torch.autograd.grad(Y, (Xr, Pr), Gout)))
    torch.testing.assert_close(S.geometry.sandwich(P, X), P @ X @ P)
    for a, b in zip(*res):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
