"""SPD layers, batch norm, models and Riemannian optimisation."""

import io

import geoopt
import numpy as np
import pytest
import torch
from helpers_spd import rand_spd
from pyriemann.geometry.mean import mean_riemann

import spdnas.spd as S


def spd_batch(B, C, n, dtype=torch.float64):
    return rand_spd(B, C, n=n, dtype=dtype)


def is_spd(Y):
    sym = torch.allclose(Y, Y.transpose(-1, -2), atol=1e-6)
    return sym and bool((torch.linalg.eigvalsh(Y) > 0).all())


def test_bimap_matches_explicit_sum_and_gradcheck():
    m = S.BiMap(6, 4, in_channels=3, out_channels=2).double()
    X = spd_batch(5, 3, 6)
    Y = m(X)
    W = m.weight.detach()
    ref = torch.stack([sum(W[o, c].T @ X[:, c] @ W[o, c] for c in range(3)) for o in range(2)], 1)
    torch.testing.assert_close(Y, ref)
    assert Y.shape == (5, 2, 4, 4) and is_spd(Y)
    assert isinstance(m.weight, geoopt.ManifoldParameter)
    torch.testing.assert_close(W.transpose(-1, -2) @ W, torch.eye(4, dtype=torch.float64).expand(2, 3, 4, 4), atol=1e-6, rtol=0)
    assert torch.autograd.gradcheck(lambda x: m(S.sym(x)), (X[:2].clone().requires_grad_(),))
    assert S.BiMap.complexity(6, 4, 3, 2)[0] == sum(p.numel() for p in m.parameters())


def test_bimap_orthonormal_after_1000_riemannian_steps_float32():
    torch.manual_seed(0)
    m = S.BiMap(20, 10, 2, 2)
    opt = S.riemannian_optimizer(m, "sgd", lr=0.05, momentum=0.9)
    X = rand_spd(8, 2, n=20, dtype=torch.float32)
    target = torch.randn(8, 2, 10, 10).float()
    for _ in range(1000):
        opt.zero_grad()
        loss = ((m(X) - target) ** 2).mean()
        loss.backward()
        opt.step()
    W = m.weight.detach()
    err = (W.transpose(-1, -2) @ W - torch.eye(10)).abs().max().item()
    assert err < 1e-5


@pytest.mark.parametrize("layer", [S.ReEig(1e-2), S.LogEig(), S.ExpEig()])
def test_pointwise_layers_gradcheck(layer):
    X = spd_batch(2, 2, 4).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: layer(S.sym(x)), (X,))


def test_batchnorm_normalises_to_bias_and_tracks_running_mean():
    torch.manual_seed(1)
    bn = S.SPDBatchNorm(4, channels=2, momentum=1.0, karcher_iters=50).double()
    X = spd_batch(16, 2, 4)
    Y = bn(X)
    # with bias I the Karcher mean of the output is the identity
    for c in range(2):
        M = mean_riemann(Y[:, c].detach().numpy(), tol=1e-12, maxiter=200)
        np.testing.assert_allclose(M, np.eye(4), atol=1e-6)
        ref = mean_riemann(X[:, c].numpy(), tol=1e-12, maxiter=200)
        np.testing.assert_allclose(bn.running_mean[c].numpy(), ref, atol=1e-6)  # momentum 1
    assert is_spd(Y)


def test_batchnorm_running_mean_moves_along_geodesic():
    bn = S.SPDBatchNorm(3, momentum=0.25, karcher_iters=30).double()
    X = rand_spd(10, n=3)
    bn(X)
    M = torch.tensor(mean_riemann(X.numpy(), tol=1e-12, maxiter=200))
    ref = S.geodesic(torch.eye(3, dtype=torch.float64), M, 0.25)
    torch.testing.assert_close(bn.running_mean[0], ref, atol=1e-7, rtol=1e-7)


def test_batchnorm_state_dict_round_trip_and_eval_determinism():
    torch.manual_seed(2)
    bn = S.SPDBatchNorm(5, channels=1).double()
    for _ in range(3):
        bn(rand_spd(8, n=5))
    sd = bn.state_dict()
    assert "running_mean" in sd and "bias" in sd
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    bn2 = S.SPDBatchNorm(5, channels=1).double()
    bn2.load_state_dict(torch.load(buf, weights_only=True))
    bn.eval(), bn2.eval()
    X = rand_spd(4, n=5)
    y1, y2, y3 = bn(X), bn(X), bn2(X)
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(y1, y3)
    rm = bn.running_mean.clone()
    bn(X)
    torch.testing.assert_close(bn.running_mean, rm)  # eval does not update
    bn.float()
    assert bn.running_mean.dtype == torch.float32  # buffer follows .to()


def test_batchnorm_bias_stays_spd_under_riemannian_adam():
    bn = S.SPDBatchNorm(4).double()
    opt = S.riemannian_optimizer(bn, "adam", lr=0.1)
    X = rand_spd(8, n=4)
    for _ in range(20):
        opt.zero_grad()
        (bn(X) ** 2).sum().backward()
        opt.step()
    assert is_spd(bn.bias.detach())


def test_weighted_frechet_mean_layer():
    m = S.WeightedFrechetMean(3, 2, iters=20).double()
    X = spd_batch(4, 3, 4)
    Y = m(X)
    w = m.weights().detach()
    assert Y.shape == (4, 2, 4, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, dtype=torch.float64))
    ref = mean_riemann(X[0].numpy(), sample_weight=w[1].numpy(), tol=1e-12, maxiter=200)
    np.testing.assert_allclose(Y[0, 1].detach().numpy(), ref, atol=1e-8)


def test_sparsemax_closed_form_and_sparsity():
    z = torch.tensor([[1.0, 0.8, -1.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.5]])
    p = S.sparsemax(z)
    torch.testing.assert_close(p.sum(-1), torch.ones(3))
    torch.testing.assert_close(p[0], torch.tensor([0.6, 0.4, 0.0]))
    torch.testing.assert_close(p[1], torch.full((3,), 1 / 3))
    torch.testing.assert_close(p[2], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_spd_pooling_reduces_size_and_is_log_domain(mode):
    X = spd_batch(2, 3, 20)
    Y = S.SPDPool2d(mode, kernel_size=2)(X)
    assert Y.shape == (2, 3, 10, 10) and is_spd(Y)
    Z = S.SPDPool2d(mode, out_dim=30)(spd_batch(2, 1, 93))
    assert Z.shape == (2, 1, 30, 30) and is_spd(Z)
    L = S.logm(X)
    pool = torch.nn.functional.avg_pool2d if mode == "avg" else torch.nn.functional.max_pool2d
    torch.testing.assert_close(S.logm(Y), pool(L, 2))


def test_skip_reduced_is_block_diagonal_of_trained_bimaps():
    m = S.SkipReduced(10, 7, channels=2).double()
    X = spd_batch(3, 2, 10)
    Y = m(X)
    assert Y.shape == (3, 2, 7, 7) and is_spd(Y)
    torch.testing.assert_close(Y[..., :3, :3], m.bimap1(X))
    torch.testing.assert_close(Y[..., 3:, 3:], m.bimap2(X))
    assert Y[..., :3, 3:].abs().max() == 0
    Y.sum().backward()
    assert m.bimap1.weight.grad is not None and m.bimap2.weight.grad is not None


@pytest.mark.parametrize("cls", [S.SPDNet, S.SPDNetBN])
def test_models_train_and_count_params(cls):
    torch.manual_seed(0)
    model = cls([12, 8, 6, 4], num_classes=3)
    X = rand_spd(30, n=12, dtype=torch.float32)
    y = torch.randint(0, 3, (30,))
    opt = S.riemannian_optimizer(model, "sgd", lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    params, _ = S.SPDNet.complexity([12, 8, 6, 4], 3, batchnorm=(cls is S.SPDNetBN))
    assert params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "call, msg",
    [
        (lambda: S.BiMap(4, 3, in_channels=2)(rand_spd(2, 3, n=4)), "expects 2 input channels"),
        (lambda: S.BiMap(4, 3)(rand_spd(2, n=5)), "expects 4x4"),
        (lambda: S.BiMap(3, 4), "out_dim <= in_dim"),
        (lambda: S.BiMap(4, 3)(torch.zeros(2, 4, 3)), "square"),
        (lambda: S.SPDBatchNorm(4, channels=2)(rand_spd(2, n=4)), "channels"),
        (lambda: S.SPDNet([8, 4], 2)(torch.full((2, 8, 8), float("nan"))), "NaN"),
        (lambda: S.SPDNet([4, 2], 2)(-rand_spd(2, n=4, dtype=torch.float32)), "positive definite"),
        (lambda: S.SPDNet([4, 6], 2), "non-increasing"),
        (lambda: S.SPDNet([8, 4], 2)(torch.zeros(0, 8, 8, dtype=torch.float64)), "empty batch"),
        (lambda: S.SPDNetBN([8, 4], 2)(torch.zeros(0, 1, 8, 8, dtype=torch.float64)), "empty batch"),
        (lambda: S.SPDNet([8, 4], 2)(rand_spd(n=8)), r"expected a batch \(B, n, n\)"),
        (lambda: S.riemannian_optimizer(S.ReEig(), "sgd"), "no trainable"),
        (lambda: S.riemannian_optimizer(S.BiMap(3, 2), "lbfgs"), "unknown optimiser"),
    ],
)
def test_bad_inputs(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_spdnetbn_detach_mean_same_forward_no_gradient_through_the_batch_mean():
    import spdnas.spd as S

    g = torch.Generator().manual_seed(11)
    A = torch.randn(6, 5, 5, dtype=torch.float64, generator=g)
    X = A @ A.transpose(-1, -2) + 0.5 * torch.eye(5, dtype=torch.float64)
    torch.manual_seed(0)
    full = S.SPDNetBN([5, 4, 3], 2).double()
    torch.manual_seed(0)
    det = S.SPDNetBN([5, 4, 3], 2, detach_mean=True).double()
    assert all(m.detach_mean for m in det.modules() if isinstance(m, S.SPDBatchNorm))
    torch.testing.assert_close(full(X), det(X), rtol=0, atol=0)
    gw = [torch.autograd.grad(m(X).pow(2).sum(), m.features[0].weight)[0] for m in (full, det)]
    assert not torch.allclose(gw[0], gw[1])  # the batch mean depends on W: its gradient term is dropped
