"""BatchedRiemannianSGD equals geoopt's RiemannianSGD (the reference) to round-off, step by step."""

import copy

import geoopt
import pytest
import torch

from spdnas.spd import BiMap, SPDBatchNorm, riemannian_optimizer
from spdnas.spd.optim import BatchedRiemannianSGD


class _Model(torch.nn.Module):
    """Stiefel weights of two shapes (two of one shape), SPD biases of two sizes, Euclidean params,
    a parameter on a manifold without a batched form (Sphere) and one with no gradient."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.b1, self.b2, self.b3 = BiMap(6, 4, 1, 2), BiMap(6, 4, 2, 2), BiMap(4, 3, 2, 1)
        self.n1, self.n2 = SPDBatchNorm(4, 2), SPDBatchNorm(3, 1)
        self.lin = torch.nn.Linear(5, 3).double()
        self.sphere = geoopt.ManifoldParameter(torch.nn.functional.normalize(torch.randn(3, 4, dtype=torch.float64), dim=-1),
                                               manifold=geoopt.Sphere())
        self.unused = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
        self.double()
        for bn in (self.n1, self.n2):  # SPD biases away from the identity
            A = torch.randn(*bn.bias.shape, dtype=torch.float64)
            bn.bias.data.copy_(A @ A.mT / A.shape[-1] + torch.eye(A.shape[-1], dtype=torch.float64))


def _grads(model, step):
    g = torch.Generator().manual_seed(100 + step)
    for name, p in model.named_parameters():
        if name == "unused":
            continue
        p.grad = 0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype)


@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True), dict(momentum=0.5, dampening=0.3),
                                dict()], ids=["momentum", "nesterov", "dampening", "plain"])
def test_batched_rsgd_equals_geoopt_step_by_step(kw):
    ours_m, ref_m = _Model(), None
    ref_m = copy.deepcopy(ours_m)
    ours = riemannian_optimizer(ours_m, "sgd", lr=0.05, weight_decay=1e-2, **kw)
    assert isinstance(ours, BatchedRiemannianSGD)
    man = [p for p in ref_m.parameters() if isinstance(p, geoopt.ManifoldParameter)]
    euc = [p for p in ref_m.parameters() if not isinstance(p, geoopt.ManifoldParameter)]
    ref = geoopt.optim.RiemannianSGD([{"params": man, "weight_decay": 0.0}, {"params": euc, "weight_decay": 1e-2}],
                                     lr=0.05, **kw)
    for step in range(6):
        _grads(ours_m, step)
        _grads(ref_m, step)
        ours.step()
        ref.step()
        for (name, a), b in zip(ours_m.named_parameters(), ref_m.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11, msg=f"{name} at step {step}")
    for a, b in zip(ours_m.parameters(), ref_m.parameters()):
        if "momentum_buffer" in ref.state[b]:
            torch.testing.assert_close(ours.state[a]["momentum_buffer"], ref.state[b]["momentum_buffer"],
                                       rtol=1e-9, atol=1e-10)
    # still on the manifolds
    W = ours_m.b2.weight
    torch.testing.assert_close(W.mT @ W, torch.eye(4, dtype=W.dtype).expand_as(W.mT @ W), atol=1e-12, rtol=0)
    assert bool((torch.linalg.eigvalsh(ours_m.n1.bias) > 0).all())
    assert ours_m.unused.grad is None and bool((ours_m.unused == 0).all())


def test_batched_rsgd_state_dict_is_geoopts():
    """A checkpoint written by geoopt's optimiser resumes in ours (and back) with the same result."""
    a, b = _Model(), None
    b = copy.deepcopy(a)
    geo = geoopt.optim.RiemannianSGD(a.parameters(), lr=0.05, momentum=0.9)
    _grads(a, 0)
    geo.step()
    b.load_state_dict(a.state_dict())
    ours = BatchedRiemannianSGD(b.parameters(), lr=0.05, momentum=0.9)
    ours.load_state_dict(copy.deepcopy(geo.state_dict()))  # as through torch.save / torch.load
    for step in (1, 2):
        _grads(a, step)
        _grads(b, step)
        geo.step()
        ours.step()
    for x, y in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-11)
    assert set(ours.state_dict()["state"][0]) == set(geo.state_dict()["state"][0]) == {"momentum_buffer"}


def test_batched_rsgd_float32_and_sparse_grads():
    m = BiMap(5, 3, 2, 2).float()
    opt = riemannian_optimizer(m, "sgd", lr=0.1, momentum=0.9)
    m.weight.grad = torch.randn(m.weight.shape)
    opt.step()
    W = m.weight
    torch.testing.assert_close(W.mT @ W, torch.eye(3).expand_as(W.mT @ W), atol=1e-5, rtol=0)
    emb = torch.nn.Embedding(4, 2, sparse=True)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        BatchedRiemannianSGD(emb.parameters(), lr=0.1).step()
