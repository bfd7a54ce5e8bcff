"""Fast supernet paths: shared eigendecompositions, GEMM BiMaps, 'none'-free mixing, deduplicated
edge inputs. Every fast path is checked against the plain composition it replaces (float64)."""

import pytest
import scipy.linalg
import torch

from spdnas.nas.supernet import _mix, bimap, karcher_mean
from spdnas.spd import functional as F

from helpers_spd import rand_spd

torch.set_num_threads(1)


def test_spectral_functions_match_single_functions_and_scipy():
    g = torch.Generator().manual_seed(0)
    X = rand_spd(3, 2, n=5, cond=50.0, gen=g)
    S, Si, L, E = F.spectral_functions(X, ("sqrt", "invsqrt", "log", "exp"))
    torch.testing.assert_close(S, F.sqrtm(X), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(Si, F.invsqrtm(X), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(L, F.logm(X), rtol=1e-12, atol=1e-12)
    x = X[1, 0].numpy()
    torch.testing.assert_close(L[1, 0], torch.from_numpy(scipy.linalg.logm(x).real), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(E[1, 0], torch.from_numpy(scipy.linalg.expm(x)), rtol=1e-9, atol=1e-10)


def test_spectral_functions_gradcheck_and_partial_outputs():
    g = torch.Generator().manual_seed(1)
    X = rand_spd(2, n=4, cond=5.0, gen=g).requires_grad_()

    def f(A):
        S, Si, L = F.spectral_functions(F.sym(A), ("sqrt", "invsqrt", "log"), check=False)
        return S, Si, L

    assert torch.autograd.gradcheck(f, (X,), eps=1e-6, atol=1e-6)
    # only some outputs used: the gradient equals the one of the single function
    _, _, L = f(X)
    gm = torch.autograd.grad((L * L).sum(), X)[0]
    gr = torch.autograd.grad((F.logm(F.sym(X)) ** 2).sum(), X)[0]
    torch.testing.assert_close(gm, gr, rtol=1e-10, atol=1e-12)


def test_spectral_functions_bad_inputs():
    X = rand_spd(2, n=3)
    with pytest.raises(ValueError, match="unknown kinds"):
        F.spectral_functions(X, ("log", "cos"))
    with pytest.raises(ValueError, match="at least one"):
        F.spectral_functions(X, ())
    with pytest.raises(ValueError, match="positive definite"):
        F.spectral_functions(-X, ("log",))
    with pytest.raises(ValueError, match="NaN"):
        F.spectral_functions(torch.full((3, 3), float("nan"), dtype=torch.float64), ("log",))
    with pytest.raises(ValueError, match="square"):
        F.spectral_functions(torch.ones(2, 3, dtype=torch.float64), ("log",))


def test_bimap_einsum_matches_loop_reference_and_broadcasts():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(2, 3, 4, 5, 3, generator=g, dtype=torch.float64)  # (k, Co, Ci, n, m)
    Z = rand_spd(2, 6, 4, n=5, gen=g)  # (k, B, Ci, n, n)
    Y = bimap(W, Z)
    ref = torch.zeros(2, 6, 3, 3, 3, dtype=torch.float64)
    for k in range(2):
        for b in range(6):
            for o in range(3):
                ref[k, b, o] = sum(W[k, o, c].T @ Z[k, b, c] @ W[k, o, c] for c in range(4))
    torch.testing.assert_close(Y, ref, rtol=1e-12, atol=1e-12)
    # a size-1 leading dim of Z broadcasts against W's
    W2 = torch.randn(3, 2, 3, 4, 5, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(bimap(W2, Z.unsqueeze(0)), bimap(W2, Z.expand(3, *Z.shape)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("iters", [1, 2])
def test_mix_without_none_eigh_equals_full_karcher_mean(iters):
    g = torch.Generator().manual_seed(3)
    E, B, C, K, m = 3, 4, 2, 6, 4
    X = rand_spd(E, B, C, K - 1, n=m, cond=20.0, gen=g).requires_grad_()
    eye = torch.eye(m, dtype=torch.float64).expand(E, B, C, 1, m, m)
    w = torch.softmax(torch.randn(E, K, generator=g, dtype=torch.float64), -1).requires_grad_()
    cands = torch.cat([eye, X], dim=3)
    fast = _mix(cands, w, iters)
    ref = karcher_mean(cands, w[:, None, None, :], 3, iters)
    torch.testing.assert_close(fast, ref, rtol=1e-11, atol=1e-12)
    gf = torch.autograd.grad((fast ** 2).sum(), (X, w))
    gr = torch.autograd.grad((ref ** 2).sum(), (X, w))
    for a, b in zip(gf, gr):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", ["normal", "reduce"])
def test_edge_group_shared_inputs_equal_repeated_inputs(kind):
    from spdnas.nas.supernet import EdgeGroup

    torch.manual_seed(0)
    C, n = 2, 6
    m = n if kind == "normal" else 4
    grp = EdgeGroup(kind, 4, C, n, m).double()
    X = rand_spd(2, 5, C, n=n, gen=torch.Generator().manual_seed(4))
    shared = grp(X)  # edges 0, 2 read X[0]; edges 1, 3 read X[1]
    repeated = grp(X[[0, 1, 0, 1]])
    torch.testing.assert_close(shared, repeated, rtol=1e-11, atol=1e-12)
    with pytest.raises(ValueError, match="cyclically"):
        grp(X[:1].expand(3, *X.shape[1:]))


def _reference_cell(cell, s0, s1, weights, iters):
    """Plain composition: discrete ops per (edge, op), weighted Karcher mean per edge, uniform per node."""
    from spdnas.spd import geometry as G

    states = [cell.pre0(s0), cell.pre1(s1)]
    for i in range(cell.steps):
        mixed = []
        for j, h in enumerate(states):
            names = cell.inputs.names if j < 2 else cell.inner[i - 1].names
            cands = torch.stack([cell.edge_op(i, j, nm)(h) for nm in names], dim=2)
            w = weights[cell.edge_index(i, j)].to(h.dtype)
            mixed.append(G.frechet_mean(cands, weights=w, dim=2, iters=iters, init="arithmetic", check=False))
        states.append(G.frechet_mean(torch.stack(mixed, 0), dim=0, iters=iters, init="arithmetic", check=False))
    return torch.cat(states[2:], dim=1)


@pytest.mark.parametrize("cells", [["reduce", "normal"], ["normal", "reduce", "normal"]])
def test_fast_cells_equal_plain_composition_of_discrete_ops(cells):
    from spdnas.nas.model import net_config
    from spdnas.nas.supernet import SuperNet

    torch.manual_seed(0)
    net = SuperNet(net_config(in_dim=6, num_classes=3, reduce_dims=[4] * cells.count("reduce"), cells=cells, steps=3))
    X = rand_spd(5, n=6, gen=torch.Generator().manual_seed(5))
    w = net.arch_weights()
    s0 = s1 = net.stem(X.unsqueeze(1))
    cache = {}
    for cell in net.cells:
        fast = cell(s0, s1, w[cell.kind], cache)
        ref = _reference_cell(cell, s0, s1, w[cell.kind], net.config["karcher_iters"])
        torch.testing.assert_close(fast, ref, rtol=1e-9, atol=1e-10)
        s0, s1 = s1, fast


@pytest.mark.parametrize("kind", ["log", "exp"])
def test_fast_divided_differences_match_default_forms(kind):
    g = torch.Generator().manual_seed(6)
    L = torch.rand(50, 8, generator=g, dtype=torch.float64) * 3 + 0.05
    L[:5, 1] = L[:5, 0]  # exact ties
    L[5:10, 2] = L[5:10, 0] * (1 + 1e-9)  # near ties
    ref = F.loewner(L, kind)
    fast = F.loewner(L, kind, fast=True)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=0)
    # float32 against the float64 reference
    torch.testing.assert_close(F.loewner(L.float(), kind, fast=True).double(), ref, rtol=2e-6, atol=0)
    # diagonal is the derivative f'(λ)
    d = torch.diagonal(fast, dim1=-2, dim2=-1)
    torch.testing.assert_close(d, 1 / L if kind == "log" else torch.exp(L), rtol=1e-14, atol=0)


def test_fast_divided_differences_recorded_at_forward_and_gradcheck():
    X = rand_spd(3, n=4, cond=30.0, gen=torch.Generator().manual_seed(7)).requires_grad_()
    with F.fast_divided_differences(True):
        Y = F.logm(X, check=False)
        assert torch.autograd.gradcheck(lambda A: F.expm(F.logm(F.sym(A), check=False), check=False), (X,),
                                        eps=1e-6, atol=1e-6)
    G = torch.randn(3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    g_fast = torch.autograd.grad(Y, X, G)[0]  # backward outside the context still uses the fast form
    g_ref = torch.autograd.grad(F.logm(X, check=False), X, G)[0]
    torch.testing.assert_close(g_fast, g_ref, rtol=1e-10, atol=1e-12)
    assert not F.thread_settings()["fast"]


def test_sqrtexp_kinds_and_symmetric_input():
    g = torch.Generator().manual_seed(9)
    A = torch.randn(4, 5, 5, generator=g, dtype=torch.float64)
    T = F.sym(A)  # symmetric, indefinite
    S, Si = F.spectral_functions(T, ("sqrtexp", "invsqrtexp"))
    torch.testing.assert_close(S, torch.linalg.matrix_exp(T / 2), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(Si, torch.linalg.matrix_exp(-T / 2), rtol=1e-11, atol=1e-12)
    X = T.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda Z: F.spectral_functions(F.sym(Z), ("sqrtexp", "invsqrtexp"), check=False),
                                    (X,), eps=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="positive definite"):
        F.spectral_functions(T, ("sqrtexp", "log"))


