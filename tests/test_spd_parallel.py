"""Concurrent branches of a pass (spdnas.spd.parallel.branches) and the supernet cells that use them.

The concurrent form must give the serial values and gradients: each branch is the same computation,
only in its own thread and autograd graph (checked against one worker, i.e. the plain serial calls).
"""

import threading

import pytest
import torch

from spdnas.nas.model import net_config
from spdnas.nas.supernet import SuperNet
from spdnas.spd import SPDBatchNorm
from spdnas.spd import functional as F
from spdnas.spd import runtime as R
from spdnas.spd.modules import batch_norm, frozen_running_stats
from spdnas.spd.parallel import branches, parallel_branches_enabled

from helpers_spd import rand_spd

torch.set_num_threads(1)


def _branch(X, W, shared, scale):
    """A small SPD computation: logm of W^T X W plus a shared term; two outputs."""
    Y = F.logm(W.transpose(-1, -2) @ X @ W, check=False)
    return Y * scale + shared, (Y ** 2).sum()


def _inputs(seed):
    g = torch.Generator().manual_seed(seed)
    Xs = [rand_spd(70, n=6, gen=g) for _ in range(2)]
    Ws = [torch.linalg.qr(torch.randn(6, 4, generator=g, dtype=torch.float64))[0].requires_grad_() for _ in range(2)]
    shared = torch.randn(4, 4, generator=g, dtype=torch.float64)
    shared = (shared + shared.T).requires_grad_()
    return [X.requires_grad_() for X in Xs], Ws, shared


def _run(workers, seed=0):
    Xs, Ws, shared = _inputs(seed)
    with F.eigh_workers(workers):
        outs = branches(_branch, [(Xs[0], Ws[0], shared, 2.0), (Xs[1], Ws[1], shared, 3.0)])
    loss = sum(Y.pow(2).sum() + 0.1 * s for Y, s in outs)
    loss.backward()
    return outs, [t.grad for t in (*Xs, *Ws, shared)]


def test_concurrent_branches_equal_serial_values_and_gradients():
    (o1, g1), (o2, g2) = _run(1), _run(2)
    for (Y1, s1), (Y2, s2) in zip(o1, o2):
        torch.testing.assert_close(Y1, Y2, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(s1, s2, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2):  # the shared tensor's gradient is the sum over both branches
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


def test_branches_run_in_worker_threads_with_the_callers_settings():
    X = rand_spd(8, n=4, gen=torch.Generator().manual_seed(1)).requires_grad_()

    def probe(X, tag):
        from spdnas.spd import modules as M

        return X * 1.0, torch.tensor([float(F.checks_enabled()), float(F.thread_settings()["fast"]),
                                      float(R.workers()), float(torch.is_grad_enabled()),
                                      float(M.running_stats_frozen())])

    seen = {}

    def named(X, tag):
        seen[tag] = threading.current_thread().name
        return probe(X, tag)

    with F.eigh_workers(2), F.checks(False), F.fast_divided_differences(True), frozen_running_stats():
        outs = branches(named, [(X, "a"), (X, "b")])
        with torch.no_grad():
            outs_ng = branches(probe, [(X, "a"), (X, "b")])
    assert seen["a"] == threading.current_thread().name and seen["b"].startswith("spdnas-eigh")
    for _, flags in outs:  # checks off, fast forms on, one worker, gradients recorded, statistics frozen
        assert flags.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    for _, flags in outs_ng:  # a no-grad caller gets no-grad branches
        assert flags.tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]


def test_serial_fallbacks_and_errors():
    X = rand_spd(4, n=3, gen=torch.Generator().manual_seed(2))
    names = []

    def who(X):
        names.append(threading.current_thread().name)
        return X

    with F.eigh_workers(1):  # one worker: plain calls on the caller's graph
        assert not parallel_branches_enabled(X)
        branches(who, [(X,), (X,)])
    with F.eigh_workers(2):
        assert parallel_branches_enabled(X)
        branches(who, [(X,)])  # one branch: inline
    assert set(names) == {threading.current_thread().name}
    with pytest.raises(ValueError, match="non-empty list"):
        branches(who, [])
    with pytest.raises(ValueError, match="callable"):
        branches(None, [(X,)])
    with F.eigh_workers(2):
        with pytest.raises(ValueError, match="must return a tensor"):
            branches(lambda X: 1.0, [(X.clone().requires_grad_(),), (X,)])

        def boom(X, k):
            if k == 1:
                raise RuntimeError("branch 1 failed")
            return X * 2

        with pytest.raises(RuntimeError, match="branch 1 failed"):
            branches(boom, [(X, 0), (X, 1)])


def test_retained_graph_can_be_differentiated_twice():
    Xs, Ws, shared = _inputs(3)
    with F.eigh_workers(2):
        outs = branches(_branch, [(Xs[0], Ws[0], shared, 1.0), (Xs[1], Ws[1], shared, 1.0)])
    loss = sum(Y.sum() for Y, _ in outs)
    g1 = torch.autograd.grad(loss, Ws, retain_graph=True)
    g2 = torch.autograd.grad(loss, Ws)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_gradcheck_through_concurrent_branches():
    g = torch.Generator().manual_seed(4)
    A = rand_spd(3, n=3, gen=g).requires_grad_()
    B = rand_spd(3, n=3, gen=g).requires_grad_()

    def f(A, B):  # symmetric parts: gradcheck perturbs single entries
        with F.eigh_workers(2):
            a, b = branches(lambda X, Y: F.sqrtm(F.sym(X @ Y @ X), check=False), [(F.sym(A), F.sym(B)), (F.sym(B), F.sym(A))])
        return a + 2 * b

    assert torch.autograd.gradcheck(f, (A, B))


def test_functional_batch_norm_equals_module_with_channel_grid():
    torch.manual_seed(0)
    bn = SPDBatchNorm(4, 6, momentum=0.3).double()
    with torch.no_grad():
        bn.bias.copy_(rand_spd(6, n=4, gen=torch.Generator().manual_seed(5)))
    X = rand_spd(7, 6, n=4, gen=torch.Generator().manual_seed(6))
    mean, bias = bn.running_mean.clone().view(2, 3, 4, 4), bn.bias.detach().clone().view(2, 3, 4, 4)
    Y = bn(X)
    Z = batch_norm(X.view(7, 2, 3, 4, 4), mean, bias, True, 0.3, 1)
    torch.testing.assert_close(Z.reshape(7, 6, 4, 4), Y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mean.reshape(6, 4, 4), bn.running_mean, rtol=1e-12, atol=1e-12)  # updated in place
    with frozen_running_stats():
        before = mean.clone()
        batch_norm(X.view(7, 2, 3, 4, 4), mean, bias, True, 0.3, 1)
        assert torch.equal(mean, before)
        moved = mean.clone()
        with frozen_running_stats(False):  # lifted for an inner block
            batch_norm(X.view(7, 2, 3, 4, 4), moved, bias, True, 0.3, 1)
        assert not torch.equal(moved, before)
        batch_norm(X.view(7, 2, 3, 4, 4), mean, bias, True, 0.3, 1)  # frozen again after it
    assert torch.equal(mean, before)
    bn.eval()
    torch.testing.assert_close(batch_norm(X.view(7, 2, 3, 4, 4), mean, bias, False).reshape(7, 6, 4, 4), bn(X),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", [dict(C=2), dict(C=1), dict(cells=["normal", "reduce", "normal"], steps=3)],
                         ids=["radar", "one-channel", "three-cells"])
def test_supernet_cells_with_concurrent_branches_equal_batched_cells(cfg, monkeypatch):
    from spdnas.nas import supernet

    calls = []

    def counting(fn, args):
        calls.append((fn.__name__, R.workers()))
        return branches(fn, args)

    monkeypatch.setattr(supernet, "branches", counting)
    base = dict(in_dim=8, num_classes=3, reduce_dims=[6], cells=["reduce", "normal"])
    base.update(cfg)
    base["reduce_dims"] = base["reduce_dims"] * base["cells"].count("reduce")
    torch.manual_seed(0)
    nets = {w: SuperNet(net_config(**base)) for w in (1, 2)}
    nets[2].load_state_dict(nets[1].state_dict())
    X = rand_spd(9, n=8, gen=torch.Generator().manual_seed(7))
    y = torch.arange(9) % 3
    out, grads = {}, {}
    for w, net in nets.items():
        with F.eigh_workers(w):
            out[w] = net(X)
            torch.nn.functional.cross_entropy(out[w], y).backward()
            grads[w] = {n: p.grad for n, p in net.named_parameters()}
            net.eval()
            with torch.no_grad():
                out[w, "eval"] = net(X)
    # the 2-worker net splits every cell by input (training and evaluation forward), and the normal
    # edge groups with C > 1 into BiMaps | WeightedPooling (these run serially inside a cell branch)
    cells = [c for c in calls if c[0] == "_input_branch"]
    assert cells == [("_input_branch", 2)] * (2 * len(base["cells"]))
    parts = {c for c in calls if c[0] == "_normal_part"}
    # inner groups (they read a node) are called from the main thread: with both worker counts; with
    # one channel WeightedPooling is the identity and there is nothing to split
    split = any(g.C > 1 for cell in nets[1].cells for g in cell.inner)
    assert (("_normal_part", 2) in parts) == split and (("_normal_part", 1) in parts) == split
    torch.testing.assert_close(out[2], out[1], rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(out[2, "eval"], out[1, "eval"], rtol=1e-11, atol=1e-12)
    for n, g in grads[1].items():
        assert grads[2][n] is not None, n
        torch.testing.assert_close(grads[2][n], g, rtol=1e-9, atol=1e-12, msg=n)
    for (n, b1), (_, b2) in zip(nets[1].named_buffers(), nets[2].named_buffers()):  # running means moved alike
        torch.testing.assert_close(b2, b1, rtol=1e-11, atol=1e-12, msg=n)
