"""Grouped spectral calls (spd.modules.apply_grouped, the derived cells' rounds) against one-by-one calls."""

import copy

import pytest
import torch
import torch.nn as nn

from helpers_spd import rand_spd
from spdnas.nas import genotype as gt
from spdnas.nas.model import build_network, node_mean, node_means
from spdnas.nas.ops import make_op
from spdnas.spd import runtime
from spdnas.spd.modules import (
    BiMap,
    ReEig,
    SPDBatchNorm,
    SPDPool2d,
    WeightedFrechetMean,
    apply_grouped,
    frozen_running_stats,
)


def _inputs(k, B=4, C=3, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [rand_spd(B, C, n=n, cond=50.0, gen=g) for _ in range(k)]


def _perturb_(mods):
    """Non-trivial running means and biases, different per layer."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in mods:
            m.double()
            for mod in m.modules():
                if isinstance(mod, SPDBatchNorm):
                    mod.running_mean.copy_(rand_spd(mod.channels, n=mod.n, cond=5.0, gen=g))
                    mod.bias.copy_(rand_spd(mod.channels, n=mod.n, cond=5.0, gen=g))
                if isinstance(mod, WeightedFrechetMean):
                    mod.logits.normal_(generator=g)
    return mods


def _compare(mods, Xs, train=True, tol=1e-12):
    """Grouped vs one-by-one: outputs, input/parameter gradients and buffers."""
    twins = copy.deepcopy(mods)
    for group in (mods, twins):
        for m in group:
            m.train(train).double()
    Xa = [X.clone().requires_grad_(True) for X in Xs]
    Xb = [X.clone().requires_grad_(True) for X in Xs]
    Ya = apply_grouped(mods, Xa)
    Yb = [m(X) for m, X in zip(twins, Xb)]
    assert len(Ya) == len(Yb)
    for a, b in zip(Ya, Yb):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=tol, rtol=0)
    if not any(y.requires_grad for y in Yb):  # the 'none' op: constant identity matrices
        return Ya
    g = torch.Generator().manual_seed(5)
    weights = [torch.randn(y.shape, generator=g, dtype=y.dtype) for y in Yb]
    sum((w * y).sum() for w, y in zip(weights, Ya)).backward()
    sum((w * y).sum() for w, y in zip(weights, Yb)).backward()
    for a, b in zip(Xa, Xb):
        assert torch.allclose(a.grad, b.grad, atol=1e-9, rtol=0)
    for ma, mb in zip(mods, twins):
        for (name, pa), (_, pb) in zip(ma.named_parameters(), mb.named_parameters()):
            assert (pa.grad is None) == (pb.grad is None), name
            if pa.grad is not None:
                assert torch.allclose(pa.grad, pb.grad, atol=1e-9, rtol=0), name
        for (name, ba), (_, bb) in zip(ma.named_buffers(), mb.named_buffers()):
            assert torch.allclose(ba, bb, atol=tol, rtol=0), name
    return Ya


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_group_equals_one_by_one_and_writes_each_running_mean(train):
    mods = _perturb_([SPDBatchNorm(6, 3, momentum=0.3) for _ in range(3)])
    before = [m.running_mean.clone() for m in mods]
    _compare(mods, _inputs(3), train=train)
    moved = [not torch.allclose(m.running_mean, b) for m, b in zip(mods, before)]
    assert moved == [train] * 3


def test_batch_norm_group_with_different_channel_counts_and_frozen_stats():
    mods = _perturb_([SPDBatchNorm(5, 2), SPDBatchNorm(5, 4)])
    Xs = [rand_spd(3, 2, n=5), rand_spd(3, 4, n=5)]
    _compare(mods, Xs)
    before = [m.running_mean.clone() for m in mods]
    with frozen_running_stats():
        apply_grouped(mods, Xs)
    assert all(torch.equal(m.running_mean, b) for m, b in zip(mods, before))


def test_reeig_group_and_one_shared_input_decomposed_once():
    Xs = _inputs(2)
    Xs = [Xs[0] - 1.5 * torch.eye(6, dtype=torch.float64), Xs[1]]  # indefinite: ReEig clips
    _compare([ReEig(0.1), ReEig(0.1)], Xs)
    X = Xs[1]
    calls = []
    orig = runtime.spectral_eigh
    try:
        runtime.spectral_eigh = lambda A: calls.append(A.shape[0]) or orig(A)
        Y = apply_grouped([ReEig(0.1), ReEig(0.1)], [X, X])
    finally:
        runtime.spectral_eigh = orig
    assert Y[0] is Y[1]
    assert sum(calls) == X.shape[0] * X.shape[1]  # once, not twice


@pytest.mark.parametrize("weighting", ["softmax", "sparsemax"])
@pytest.mark.parametrize("shared", [False, True])
def test_weighted_mean_group_equals_one_by_one(weighting, shared):
    mods = _perturb_([WeightedFrechetMean(3, 3, iters=2, weighting=weighting) for _ in range(3)])
    Xs = _inputs(3)
    if shared:
        Xs = [Xs[0]] * 3
    _compare(mods, Xs)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_pool_group_equals_one_by_one(mode):
    _compare([SPDPool2d(mode, out_dim=3), SPDPool2d(mode, out_dim=3)], _inputs(2))


@pytest.mark.parametrize("kind,name,n,m", [("normal", "BiMap_0", 6, 6), ("normal", "BiMap_1", 6, 6),
                                           ("normal", "BiMap_2", 6, 6), ("reduce", "AvgPooling", 6, 3),
                                           ("reduce", "MaxPooling", 6, 3), ("reduce", "BiMap_1_reduced", 6, 4),
                                           ("reduce", "Skip_reduced", 6, 4), ("normal", "Skip", 6, 6),
                                           ("normal", "none", 6, 6), ("normal", "WeightedPooling", 6, 6)])
@pytest.mark.parametrize("train", [True, False])
def test_every_op_grouped_equals_one_by_one(kind, name, n, m, train):
    torch.manual_seed(0)
    mods = _perturb_([make_op(kind, name, 3, n, m, bn_momentum=0.2) for _ in range(2)])
    _compare(mods, _inputs(2, n=n), train=train)


def test_groups_that_cannot_be_concatenated_run_one_by_one():
    # different matrix sizes (the preprocessing of a normal cell after a reduction cell)
    mods = [nn.Sequential(ReEig(1e-4), BiMap(6, 4, 3, 3)), nn.Sequential(ReEig(1e-4), BiMap(5, 4, 3, 3))]
    _compare(mods, [rand_spd(4, 3, n=6), rand_spd(4, 3, n=5)])
    # different settings
    _compare([ReEig(1e-4), ReEig(0.5)], _inputs(2))
    # a 3-D input
    _compare([ReEig(1e-4), ReEig(1e-4)], [rand_spd(4, n=6), rand_spd(4, n=6)])


def test_apply_grouped_bad_calls():
    with pytest.raises(ValueError, match="2 layers for 1 inputs"):
        apply_grouped([ReEig(), ReEig()], _inputs(1))
    with pytest.raises(ValueError, match="different kinds"):
        apply_grouped([ReEig(), SPDBatchNorm(6, 3)], _inputs(2))
    with pytest.raises(ValueError, match="different lengths"):
        apply_grouped([nn.Sequential(ReEig()), nn.Sequential(ReEig(), ReEig())], _inputs(2))
    with pytest.raises(ValueError, match="expects 3 input channels"):
        apply_grouped([SPDBatchNorm(6, 3), SPDBatchNorm(6, 3)], _inputs(2, C=2))
    assert apply_grouped([], []) == []


def test_node_means_of_one_shape_equal_each_node_mean():
    stacks = [torch.stack(_inputs(2, C=c, seed=c), dim=2) for c in (2, 3)]
    for a, b in zip(node_means(stacks, 1), [node_mean(s, 1) for s in stacks]):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)
    odd = [stacks[0], torch.stack(_inputs(2, n=5), dim=2)]
    for a, b in zip(node_means(odd, 2), [node_mean(s, 2) for s in odd]):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


# the paper run's radar_sim sparsemax cell (results/paper/.../search/radar_sim/sparsemax/genotype.json): one
# WeightedPooling input read by two edges; a cell with 'none' edges and independent nodes
PAPER_SPARSEMAX = {"normal": [["WeightedPooling", 0], ["WeightedPooling", 1], ["WeightedPooling", 2],
                              ["WeightedPooling", 1]], "normal_concat": [2, 3],
                   "reduce": [["BiMap_1_reduced", 0], ["BiMap_1_reduced", 1], ["Skip_reduced", 0],
                              ["Skip_reduced", 1]], "reduce_concat": [2, 3]}
WITH_NONE = {"normal": [["none", 0], ["BiMap_2", 1], ["none", 1], ["BiMap_2", 0]], "normal_concat": [2, 3],
             "reduce": [["MaxPooling", 0], ["AvgPooling", 1], ["BiMap_0", 2], ["MaxPooling", 0]],
             "reduce_concat": [2, 3]}


def _cell_nets(genotype, cfg):
    a = build_network(genotype, cfg, seed=0)
    b = copy.deepcopy(a)
    for c in b.cells:
        c.grouped = False
    return a, b


@pytest.mark.parametrize("genotype", ["paper", "none", 0, 1, 2, 3])
def test_grouped_cells_equal_the_edge_by_edge_network(genotype):
    g = {"paper": PAPER_SPARSEMAX, "none": WITH_NONE}.get(genotype) or gt.sample_genotype(genotype)
    cfg = dict(in_dim=8, num_classes=3, cells=["reduce", "normal", "reduce", "normal"], reduce_dims=[6, 4], C=1,
               bn_momentum=0.3)
    a, b = _cell_nets(g, cfg)
    X, y = rand_spd(5, n=8, cond=30.0), torch.tensor([0, 1, 2, 0, 1])
    for step in range(2):  # the second pass sees the running means the first one moved
        for net in (a, b):
            net.zero_grad()
            torch.nn.functional.cross_entropy(net(X), y).backward()
        for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
            assert torch.allclose(pa.grad, pb.grad, atol=1e-9, rtol=1e-9), (step, name)
        for (name, ba), (_, bb) in zip(a.named_buffers(), b.named_buffers()):
            assert torch.allclose(ba, bb, atol=1e-12, rtol=0), (step, name)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.allclose(a(X), b(X), atol=1e-10, rtol=0)
    assert a.state_dict().keys() == b.state_dict().keys()


def test_grouped_cells_make_fewer_eigendecomposition_calls():
    cfg = dict(in_dim=20, num_classes=3, reduce_dims=[10])
    a, b = _cell_nets(PAPER_SPARSEMAX, cfg)
    X = rand_spd(6, n=20)
    counts = []
    orig = runtime.spectral_eigh
    for net in (a, b):
        calls = []
        try:
            runtime.spectral_eigh = lambda A: calls.append(A.shape[0]) or orig(A)
            net(X).sum().backward()
        finally:
            runtime.spectral_eigh = orig
        counts.append(len(calls))
    assert counts[0] < counts[1] - 15
