"""spdnas.spd.products: batched congruences in NumPy's BLAS against torch's products, finite
differences and the layers that use them."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from helpers_spd import rand_spd, rand_sym
from spdnas.nas.supernet import bimap
from spdnas.spd import BiMap, SPDBatchNorm, frechet_mean
from spdnas.spd import functional as F
from spdnas.spd import geometry as G
from spdnas.spd import products

SHAPES = [  # (A, X): plain batch, A broadcast over the batch, X broadcast over A's channels, both
    ((6, 4, 4), (6, 4, 4)),
    ((3, 2, 5), (7, 3, 5, 5)),
    ((1, 4, 3, 2, 5), (6, 1, 3, 5, 5)),
    ((2, 1, 1, 3, 6), (1, 4, 1, 6, 6)),
    # gradients summed over non-adjacent broadcast dimensions (one at a time) and over leading ones
    ((2, 3, 1, 4, 1, 3, 5), (1, 3, 6, 1, 2, 5, 5)),
    ((2, 3, 4, 3, 5), (4, 5, 5)),
]


def _reference(A, X, symmetrize):
    Y = A @ X @ A.transpose(-1, -2)
    return 0.5 * (Y + Y.transpose(-1, -2)) if symmetrize else Y


@pytest.mark.parametrize("symmetrize", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("sa, sx", SHAPES)
def test_values_and_gradients_equal_torch_products(sa, sx, dtype, symmetrize):
    gen = torch.Generator().manual_seed(0)
    A0 = torch.randn(*sa, generator=gen, dtype=dtype)
    X0 = rand_sym(*sx[:-2], n=sx[-1], dtype=dtype)
    assert products.uses_numpy(A0, X0)
    grads, values = [], []
    for fn in (products.congruence, _reference):
        A, X = A0.clone().requires_grad_(), X0.clone().requires_grad_()
        Y = fn(A, X, symmetrize)
        W = torch.randn(Y.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
        values.append(Y)
        grads.append(torch.autograd.grad((Y * W).sum(), (A, X)))
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    assert values[0].dtype == dtype and values[0].shape == values[1].shape
    torch.testing.assert_close(values[0], values[1], **tol)
    for g, r in zip(grads[0], grads[1]):
        assert g.shape == r.shape
        torch.testing.assert_close(g, r, **tol)


def test_gradients_pass_finite_differences_and_double_backward():
    A = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    S = rand_sym(5, 1, n=4)

    def f(A, X):  # X enters symmetrised, as the congruence assumes symmetric X
        return products.congruence(A, 0.5 * (X + X.transpose(-1, -2)), symmetrize=True)

    X = S.clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (A, X))
    assert torch.autograd.gradgradcheck(f, (A, X))  # double backward runs on torch ops


def test_no_grad_path_and_one_sided_gradients():
    A, X = torch.randn(3, 4, 4, dtype=torch.float64), rand_spd(3, n=4)
    with torch.no_grad():
        Y = products.congruence(A, X, symmetrize=True)
    assert not Y.requires_grad
    torch.testing.assert_close(Y, _reference(A, X, True), rtol=1e-13, atol=1e-13)
    Xg = X.clone().requires_grad_()
    (gx,) = torch.autograd.grad(products.congruence(A, Xg).sum(), Xg)
    torch.testing.assert_close(gx, A.transpose(-1, -2) @ torch.ones(3, 4, 4, dtype=torch.float64) @ A)
    Ag = A.clone().requires_grad_()
    (ga,) = torch.autograd.grad(products.congruence(Ag, X).sum(), Ag)
    torch.testing.assert_close(ga, 2 * torch.ones(3, 4, 4, dtype=torch.float64) @ A @ X)


def test_torch_backend_other_dtypes_and_bad_inputs_use_torch_errors():
    A, X = torch.randn(3, 4, 4, dtype=torch.float64), rand_spd(3, n=4)
    with F.product_backend("torch"):
        assert not products.uses_numpy(A, X)
        torch.testing.assert_close(products.congruence(A, X), A @ X @ A.transpose(-1, -2), rtol=0, atol=0)
    assert products.uses_numpy(A, X)
    assert not products.uses_numpy(A.float(), X)  # mixed dtypes: torch raises its usual error
    with pytest.raises(RuntimeError, match="Float|dtype"):
        products.congruence(A.float(), X)
    assert not products.uses_numpy(A.to(torch.bfloat16), X.to(torch.bfloat16))
    with pytest.raises(RuntimeError):  # shapes that do not broadcast: torch's error, not NumPy's
        products.congruence(torch.randn(2, 4, 4, dtype=torch.float64), rand_spd(3, n=4))
    with pytest.raises(RuntimeError):
        products.congruence(torch.randn(3, 4, 5, dtype=torch.float64), rand_spd(3, n=4))
    with pytest.raises(ValueError, match="unknown product backend 'mkl'"):
        F.product_backend("mkl")
    with pytest.raises(ValueError, match="unknown product backend"):
        F.set_product_backend("mkl")


def test_layers_give_the_same_values_and_gradients_with_either_backend():
    gen = torch.Generator().manual_seed(3)
    X = rand_spd(8, 2, n=6, gen=gen)
    out = {}
    for backend in ("auto", "torch"):
        torch.manual_seed(0)
        bm, bn = BiMap(6, 4, 2, 3).double(), SPDBatchNorm(4, 3).double()
        Xg = X.clone().requires_grad_()
        with F.product_backend(backend):
            Y = bn(bm(Xg))
            M = frechet_mean(Y, dim=0, iters=2)
            loss = F.logm(M).pow(2).sum() + F.logm(Y).pow(2).sum()
            grads = torch.autograd.grad(loss, [Xg, bm.weight, bn.bias])
        out[backend] = (Y.detach(), M.detach(), bn.running_mean.clone(), grads)
    for a, b in zip(out["auto"][:3], out["torch"][:3]):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
    for a, b in zip(out["auto"][3], out["torch"][3]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    W = torch.linalg.qr(torch.randn(2, 3, 3, 6, 4, dtype=torch.float64)).Q.requires_grad_()
    Z = rand_spd(2, 5, 3, n=6)
    res = {}
    for backend in ("auto", "torch"):
        with F.product_backend(backend):
            Y = bimap(W, Z)
            res[backend] = (Y, torch.autograd.grad(Y.pow(2).sum(), W)[0])
    assert res["auto"][0].shape == (2, 5, 3, 4, 4)
    torch.testing.assert_close(res["auto"][0], res["torch"][0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(res["auto"][1], res["torch"][1], rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(G.sandwich(X[0], X), X[0] @ X @ X[0], rtol=1e-12, atol=1e-12)


def test_blas_threads_follow_torch_and_settings_reach_worker_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    A, X = torch.randn(3, 4, 4, dtype=torch.float64), rand_spd(3, n=4)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        products.congruence(A, X)
        blas = [c for c in threadpoolctl.ThreadpoolController().lib_controllers
                if c.user_api == "blas" and "numpy" in c.filepath]
        assert all(c.get_num_threads() == 1 for c in blas)
    finally:
        torch.set_num_threads(old)
    seen = {}
    with F.product_backend("torch"):
        mine = F.thread_settings()
    assert mine["products"] == "torch" and F.thread_settings()["products"] == "auto"

    def other():
        with F.use_settings(mine):
            seen["handed"] = products.uses_numpy(A, X)
        seen["after"] = products.uses_numpy(A, X)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == {"handed": False, "after": True}
    assert isinstance(np.__version__, str)


@pytest.mark.parametrize("var, key, bad", [("SPDNAS_PRODUCTS", "products", "mkl"), ("SPDNAS_EIGH", "backend", "magma")])
def test_environment_variables_set_the_default_backends(var, key, bad):
    code = f"from spdnas.spd import functional as F; print(F.thread_settings()[{key!r}])"
    env = dict(os.environ, **{var: "torch"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "torch", out.stderr
    env[var] = bad
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and var in out.stderr and bad in out.stderr
