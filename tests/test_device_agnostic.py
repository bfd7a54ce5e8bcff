"""The code paths run unchanged on a non-CPU device, checked without a GPU on torch's "meta" device.

Meta tensors carry shapes and dtypes but no data: any host synchronisation (``.item()``, ``bool(t)``,
``.tolist()``, ``.numpy()``, data-dependent Python control flow) raises, and every CPU-only path (the
compiled eigensolver and Daleckii–Krein kernel, the concurrent thread branches) must step aside for
the torch forms — exactly the conditions of a CUDA run. Value checks host-sync by design, so they are
switched off (as in training loops); values are not compared (there are none).
"""

import pytest
import torch

import spdnas.spd as S
from spdnas.nas import genotype as gt
from spdnas.nas.model import SPDCellNetwork, net_config
from spdnas.nas.search import Architect, weight_step
from spdnas.nas.supernet import SuperNet
from spdnas.spd import functional as F
from spdnas.spd import geometry as G

META = torch.device("meta")


def _spd(*shape, dtype=torch.float64):
    return torch.empty(*shape, device=META, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,fn", [
    ("logm", F.logm), ("expm", F.expm), ("sqrtm", F.sqrtm), ("invsqrtm", F.invsqrtm),
    ("powm", lambda X, check: F.powm(X, 0.3, check=check)), ("reeig", lambda X, check: F.reeig(X, 1e-4, check=check)),
    ("sqrtm_invsqrtm", lambda X, check: sum(F.sqrtm_invsqrtm(X, check=check))),
    ("spectral_functions", lambda X, check: sum(F.spectral_functions(X, ("log", "sqrtexp", "invsqrtexp"), check=check))),
])
def test_spectral_functions_forward_backward(name, fn, dtype):
    X = _spd(3, 2, 7, 7, dtype=dtype).requires_grad_()
    with S.checks(False), F.eigh_workers(2):  # two workers: the thread split must step aside too
        Y = fn(X, check=False)
        (g,) = torch.autograd.grad(Y.sum(), X)
    assert Y.device == META and Y.shape == X.shape and g.shape == X.shape and g.dtype == dtype


def test_geometry_on_meta():
    A, B = _spd(4, 6, 6), _spd(4, 6, 6)
    w = torch.empty(4, device=META, dtype=torch.float64)
    with S.checks(False):
        for out in (G.distance(A, B, check=False), G.geodesic(A, B, 0.3, check=False), G.log_map(A, B, check=False),
                    G.exp_map(A, B, check=False), G.frechet_mean(A, weights=w, iters=3, check=False),
                    G.frechet_mean(A, iters=2, check=False, detach=True)):
            assert out.device == META


@pytest.mark.parametrize("model", ["SPDNet", "SPDNetBN"])
def test_model_training_step_and_eval(model):
    net = (S.SPDNet((12, 8, 6, 4), 3) if model == "SPDNet" else S.SPDNetBN((12, 8, 6, 4), 3)).to(META)
    opt = S.riemannian_optimizer(net, "sgd", lr=1e-2)
    X = _spd(6, 1, 12, 12, dtype=torch.float32)
    y = torch.zeros(6, dtype=torch.long, device=META)
    with S.checks(False), F.eigh_workers(2):
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            assert net(X).shape == (6, 3)


def test_covariance_pooling_on_meta():
    sig = torch.empty(4, 3, 50, device=META)
    with S.checks(False):
        assert S.CovPool(shrinkage=0.1)(sig).shape == (4, 3, 3)
        assert S.CovPool(shrinkage="lw")(sig).shape == (4, 3, 3)
        assert S.WindowedCovPool(20, 10, shrinkage="oas")(torch.empty(4, 60, device=META)).shape[-2:] == (20, 20)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("weighting", ["sparsemax", "softmax", "sigmoid"])
def test_supernet_search_step(order, weighting):
    model = SuperNet(net_config(in_dim=5, num_classes=3, reduce_dims=[3]), weighting).to(META)
    opt = S.riemannian_optimizer(model.weights(), "sgd", lr=0.05, momentum=0.9)
    arch = Architect(model, order)
    X = _spd(8, 5, 5)
    y = torch.zeros(8, dtype=torch.long, device=META)
    with S.checks(False), F.eigh_workers(2):
        arch.step(X, y, X, y, eta=0.05)
        weight_step(model, opt, X, y, grad_clip=5.0)
        model.eval()
        with torch.no_grad():
            assert model(X).shape == (8, 3)


def test_derived_network_training_step():
    net = SPDCellNetwork(gt.RADAR_SPARSEMAX, net_config(in_dim=5, num_classes=3, reduce_dims=[3])).to(META)
    opt = S.riemannian_optimizer(net, "sgd", lr=1e-2)
    with S.checks(False):
        torch.nn.functional.cross_entropy(net(_spd(4, 5, 5)), torch.zeros(4, dtype=torch.long, device=META)).backward()
        opt.step()
