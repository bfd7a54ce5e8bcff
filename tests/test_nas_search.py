"""Bilevel search: alphas vs weights separation, Riemannian virtual step, end-to-end, resume."""

import geoopt
import numpy as np
import pytest
import torch

from spdnas.nas import search, train_genotype
from spdnas.nas.model import net_config
from spdnas.nas.search import Architect, resolve_data, search_config, weight_step
from spdnas.nas.supernet import SuperNet
from spdnas.core.trainer import load_checkpoint, save_checkpoint
from spdnas.spd import riemannian_optimizer

torch.set_num_threads(1)

NET = dict(in_dim=5, num_classes=3, reduce_dims=[3])


def class_data(N=48, n=5, K=3, seed=0):
    """Class-dependent random SPD matrices: C_k-shaped Wishart samples."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % K
    mix = torch.randn(K, n, n, generator=g, dtype=torch.float64)
    A = torch.randn(N, n, 2 * n, generator=g, dtype=torch.float64)
    A = (torch.eye(n, dtype=torch.float64) + 0.8 * mix[y]) @ A
    return A @ A.transpose(-1, -2) / (2 * n) + 1e-3 * torch.eye(n, dtype=torch.float64), y


def _setup(order=2, weighting="sparsemax"):
    torch.manual_seed(0)
    model = SuperNet(net_config(**NET), weighting)
    opt = riemannian_optimizer(model.weights(), "sgd", lr=0.05, momentum=0.9)
    arch = Architect(model, order)
    X, y = class_data(16)
    return model, opt, arch, X, y


def test_alphas_not_in_weight_optimizer_and_unchanged_by_weight_step():
    model, opt, arch, X, y = _setup()
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(a) in ids for a in model.arch_parameters())
    assert not any(id(p) in {id(q) for g in arch.optimizer.param_groups for q in g["params"]} for p in model.weights())
    before = [a.detach().clone() for a in model.arch_parameters()]
    w0 = [p.detach().clone() for p in model.weights()]
    weight_step(model, opt, X[:8], y[:8], grad_clip=5.0)
    assert all(torch.equal(a, b) for a, b in zip(model.arch_parameters(), before))
    assert any(not torch.equal(p, q) for p, q in zip(model.weights(), w0))


@pytest.mark.parametrize("order", [1, 2])
def test_arch_step_changes_only_alphas(order):
    model, opt, arch, X, y = _setup(order)
    w0 = [p.detach().clone() for p in model.weights()]
    b0 = [b.clone() for b in model.buffers()]
    a0 = [a.detach().clone() for a in model.arch_parameters()]
    arch.step(X[:8], y[:8], X[8:], y[8:], eta=0.05)
    assert all(torch.equal(p, q) for p, q in zip(model.weights(), w0))
    assert all(torch.equal(p, q) for p, q in zip(model.buffers(), b0))  # BN stats untouched
    assert any(not torch.equal(a, b) for a, b in zip(model.arch_parameters(), a0))


def test_second_order_reduces_to_first_order_at_zero_step():
    model, opt, arch2, X, y = _setup(2)
    arch1 = Architect(model, 1)
    g2 = arch2.arch_grads(X[:8], y[:8], X[8:], y[8:], eta=0.0)
    g1 = arch1.arch_grads(X[:8], y[:8], X[8:], y[8:], eta=0.0)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_virtual_step_stays_on_manifolds_and_matches_small_step_taylor():
    model, opt, arch, X, y = _setup(2)
    W1 = arch.virtual_step(X[:8], y[:8], eta=0.1)
    for (name, p), q in zip(model.named_weights(), W1):
        if isinstance(p, geoopt.ManifoldParameter) and isinstance(p.manifold, geoopt.EuclideanStiefel):
            eye = torch.eye(q.shape[-1], dtype=q.dtype)
            torch.testing.assert_close(q.transpose(-1, -2) @ q, eye.expand_as(q.transpose(-1, -2) @ q), atol=1e-10, rtol=0)
        if isinstance(p, geoopt.ManifoldParameter) and isinstance(p.manifold, geoopt.SymmetricPositiveDefinite):
            assert float(torch.linalg.eigvalsh(q).min()) > 0
    # the virtual step is a descent step: the training loss decreases for a small eta
    alphas = [a.detach() for a in model.arch_parameters()]
    W = [p.detach() for p in model.weights()]
    l0 = float(arch.loss(W, alphas, X[:8], y[:8]))
    l1 = float(arch.loss(arch.virtual_step(X[:8], y[:8], eta=1e-3), alphas, X[:8], y[:8]))
    assert l1 < l0


def test_second_order_hessian_term_matches_finite_difference_of_first_order():
    """d/dη of the unrolled objective at η=0 equals −(mixed second derivative)·∇L_val: compare the
    second-order gradient at a small η with a central difference of first-order gradients
    evaluated at the virtually stepped weights."""
    model, opt, arch, X, y = _setup(2)
    xt, yt, xv, yv = X[:8], y[:8], X[8:], y[8:]
    eta = 1e-3
    g2 = arch.arch_grads(xt, yt, xv, yv, eta)
    alphas = list(model.arch_parameters())
    W1 = arch.virtual_step(xt, yt, eta)
    direct = torch.autograd.grad(arch.loss(W1, alphas, xv, yv), alphas)
    # g2 = direct - eta * H v  with |eta * H v| small but non-zero; it must not be NaN and must differ
    diff = sum(float((a - b).abs().sum()) for a, b in zip(g2, direct))
    assert np.isfinite(diff) and diff > 0
    assert diff < 0.5 * sum(float(d.abs().sum()) for d in direct) + 1e-8


def test_search_config_validation():
    with pytest.raises(ValueError, match="unknown keys"):
        search_config(foo=1)
    with pytest.raises(ValueError, match="weighting"):
        search_config(weighting="gumbel")
    with pytest.raises(ValueError, match="order"):
        search_config(order=3)
    with pytest.raises(ValueError, match="fractions"):
        search_config(fractions=[0.5, 0.6])
    with pytest.raises(ValueError, match="in_dim"):
        search(class_data(), dict(net=dict(NET, in_dim=7), epochs=1), progress=False)
    with pytest.raises(ValueError, match="pair"):
        resolve_data(object())


def test_tiny_search_derive_train_end_to_end(tmp_path):
    X, y = class_data(60)
    cfg = dict(net=NET, epochs=2, batch_size=10, max_steps=2, order=2)
    res = search((X, y), cfg, out=tmp_path / "s", progress=False)
    g = res["genotype"]
    assert len(res["history"]) == 2 and {"val_acc", "train_loss", "genotype"} <= set(res["history"][0])
    assert (tmp_path / "s" / "genotype.json").is_file() and (tmp_path / "s" / "search_metrics.json").is_file()
    tr = train_genotype(g, (X, y), net=NET, config=dict(epochs=2, batch_size=10), out=tmp_path / "t", progress=False)
    assert tr["final"]["epoch"] == 2 and 0.0 <= tr["final"]["test_acc"] <= 1.0
    assert tr["complexity"]["params"] == sum(p.numel() for p in tr["model"].parameters())
    assert (tmp_path / "t" / "result.json").is_file()


@pytest.mark.parametrize("weighting", ["sparsemax", "sigmoid"])
def test_search_resume_matches_uninterrupted(tmp_path, weighting):
    X, y = class_data(48)
    cfg = dict(net=NET, epochs=2, batch_size=8, max_steps=2, order=2, weighting=weighting, seed=3)
    full = search((X, y), cfg, out=tmp_path / "full", progress=False)
    part = search((X, y), cfg, out=tmp_path / "part", progress=False, stop_after=1)
    assert len(part["history"]) == 1
    if weighting == "sigmoid":  # a checkpoint written before α₀ and select were saved resumes the same
        ck = tmp_path / "part" / "search_checkpoint.pt"
        st = load_checkpoint(ck)
        del st["alpha0"], st["config"]["select"]
        save_checkpoint(ck, **st)
    resumed = search((X, y), cfg, out=tmp_path / "part", progress=False)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(full["history"])
    # the α diagnostics are measured from the α₀ of the uninterrupted run (kept in the checkpoint)
    assert [r["alpha_max_change"] for r in resumed["history"]] == [r["alpha_max_change"] for r in full["history"]]
    assert resumed["history"][1]["alpha_max_change"] > 0
    assert resumed["history"][1]["alpha_entropy_edges"] == full["history"][1]["alpha_entropy_edges"]
    assert resumed["selected_epoch"] == full["selected_epoch"] == 2 and resumed["genotype"] == full["genotype"]
    sa, sb = full["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(ValueError, match="different search config"):
        search((X, y), dict(cfg, lr=0.1), out=tmp_path / "part", progress=False)


def test_sparsemax_propagates_nan_instead_of_index_error():
    from spdnas.spd import sparsemax

    out = sparsemax(torch.tensor([[float("nan"), 0.0, 1.0]]))
    assert out.shape == (1, 3)  # no IndexError; NaN input is caught by the search's divergence check


def test_ill_conditioned_float32_inputs_warn():
    from spdnas.nas.search import warn_if_ill_conditioned

    X, _ = class_data(8)
    Q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    bad = Q @ torch.diag(torch.tensor([1e-3, 1.0, 10.0, 100.0, 1e4], dtype=torch.float64)) @ Q.T
    with pytest.warns(RuntimeWarning, match="condition numbers up to 1e\\+07"):
        assert warn_if_ill_conditioned(bad[None], torch.float32) == pytest.approx(1e7, rel=1e-6)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_ill_conditioned(bad[None], torch.float64)  # cond·eps = 2e-9: fine
        warn_if_ill_conditioned(X, torch.float32)
    # the search itself warns before starting
    Xb = torch.cat([X, bad[None].expand(8, 5, 5)])
    yb = torch.arange(16) % 3
    with pytest.warns(RuntimeWarning, match="float32"):
        search((Xb, yb), dict(net=dict(NET, dtype="float32"), epochs=1, batch_size=4, max_steps=1, order=1),
               progress=False)
