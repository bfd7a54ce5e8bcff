"""SPDNetNAS search space: ops, sparsemax, supernet batching, genotypes, derive rule, complexity."""

import json

import numpy as np
import pytest
import torch

from spdnas.nas import genotype as gt
from spdnas.nas.model import build_network, net_config, network_complexity
from spdnas.nas.ops import NORMAL_OPS, REDUCE_OPS, make_op, op_complexity
from spdnas.nas.supernet import EdgeGroup, SuperNet, mix_weights, zero_one_loss

torch.set_num_threads(1)


def spd(*shape, n, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(*shape, n, 2 * n, generator=g, dtype=dtype)
    return A @ A.transpose(-1, -2) / (2 * n) + 1e-2 * torch.eye(n, dtype=dtype)


def assert_spd(Y, n):
    assert Y.shape[-2:] == (n, n)
    assert torch.allclose(Y, Y.transpose(-1, -2), atol=1e-10)
    assert bool(torch.isfinite(Y).all())
    assert float(torch.linalg.eigvalsh(Y.detach()).min()) > 0


@pytest.mark.parametrize("kind,name", [("normal", o) for o in NORMAL_OPS] + [("reduce", o) for o in REDUCE_OPS])
def test_every_op_maps_spd_to_spd(kind, name):
    C, n = 3, 6
    m = n if kind == "normal" else 4
    op = make_op(kind, name, C, n, m).double()
    X = spd(5, C, n=n)
    Y = op(X)
    assert Y.shape == (5, C, m, m)
    assert_spd(Y, m)
    op.eval()
    assert_spd(op(X), m)
    p, f = op_complexity(kind, name, C, n, m)
    assert p == sum(q.numel() for q in op.parameters())
    assert f >= 0


def test_op_bad_arguments():
    with pytest.raises(ValueError, match="unknown normal op"):
        make_op("normal", "AvgPooling", 2, 4, 4)
    with pytest.raises(ValueError, match="keeps the size"):
        make_op("normal", "BiMap_0", 2, 6, 4)
    with pytest.raises(ValueError, match="out_dim"):
        make_op("reduce", "BiMap_1_reduced", 2, 4, 6)
    with pytest.raises(ValueError, match="edge kind"):
        make_op("weird", "none", 2, 4, 4)


def _sparsemax_reference(z):
    """Projection onto the simplex by bisection on the threshold (float64 numpy)."""
    lo, hi = z.min() - 1.0, z.max()
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        if np.maximum(z - tau, 0).sum() > 1:
            lo = tau
        else:
            hi = tau
    return np.maximum(z - 0.5 * (lo + hi), 0)


def test_sparsemax_weights_sum_to_one_sparse_and_match_reference():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(7, 6, generator=g, dtype=torch.float64) * 2
    w = mix_weights(a, "sparsemax")
    assert torch.allclose(w.sum(-1), torch.ones(7, dtype=torch.float64), atol=1e-12)
    assert bool((w >= 0).all()) and bool((w == 0).any())
    for row, wr in zip(a.numpy(), w.numpy()):
        np.testing.assert_allclose(wr, _sparsemax_reference(row), atol=1e-10)
    # softmax / sigmoid variants
    assert torch.allclose(mix_weights(a, "softmax"), torch.softmax(a, -1))
    assert torch.allclose(mix_weights(a, "sigmoid"), torch.sigmoid(a))
    with pytest.raises(ValueError, match="weighting"):
        mix_weights(a, "gumbel")
    # zero-one loss: minimal (most negative) at saturated sigmoids
    assert float(zero_one_loss([torch.full((3,), 20.0)])) < float(zero_one_loss([torch.zeros(3)]))


@pytest.mark.parametrize("kind", ["normal", "reduce"])
def test_edge_group_matches_discrete_ops(kind):
    torch.manual_seed(0)
    k, C, n = 3, 2, 6
    m = n if kind == "normal" else 4
    grp = EdgeGroup(kind, k, C, n, m).double()
    with torch.no_grad():  # make the batch-norm biases non-trivial
        grp.bn.bias.copy_(spd(grp.bn.bias.shape[0], n=m, seed=5))
    X = spd(k, 4, C, n=n, seed=1)
    cand = grp(X)
    assert cand.shape == (k, 4, C, 6, m, m)
    assert_spd(cand, m)
    for e in range(k):
        for o, name in enumerate(grp.names):
            op = grp.extract(e, name)
            torch.testing.assert_close(op(X[e]), cand[e, :, :, o], rtol=1e-9, atol=1e-10)


def tiny_cfg(**kw):
    return net_config(**dict(dict(in_dim=6, num_classes=3, reduce_dims=[4]), **kw))


def test_supernet_forward_and_alphas():
    torch.manual_seed(0)
    net = SuperNet(tiny_cfg(cells=["reduce", "normal", "normal"]))
    assert [p.shape for p in net.arch_parameters()] == [(5, 6), (5, 6)]
    ids = {id(p) for p in net.weights()}
    assert not any(id(a) in ids for a in net.arch_parameters())
    out = net(spd(4, n=6))
    assert out.shape == (4, 3) and bool(torch.isfinite(out).all())
    out.sum().backward()
    assert all(a.grad is not None and bool(torch.isfinite(a.grad).all()) for a in net.arch_parameters())
    with pytest.raises(ValueError, match="positive definite"):
        net(-spd(4, n=6))
    with pytest.raises(ValueError, match="shape"):
        net(spd(4, n=5))


def test_derive_rule_on_hand_made_weights():
    W = np.zeros((5, 6))
    # node 0 (edges 0,1): edge 1 strongest via op 4 (BiMap_2); edge 0 via op 5 (Skip)
    W[0] = [0.9, 0.1, 0, 0, 0, 0.3]
    W[1] = [0.0, 0, 0, 0, 0.5, 0]
    # node 1 (edges 2,3,4 = inputs 0,1,2): 'none' is ignored even when largest
    W[2] = [1.0, 0.05, 0, 0, 0, 0]
    W[3] = [0.0, 0.2, 0.1, 0, 0, 0]
    W[4] = [0.0, 0, 0, 0.4, 0, 0]
    normal = gt.derive_cell(W, "normal")
    assert normal == [["BiMap_2", 1], ["Skip", 0], ["BiMap_1", 2], ["WeightedPooling", 1]]
    reduce = gt.derive_cell(W, "reduce")
    # input edges use the reduction op names, the edge from node 0 a normal op
    assert reduce == [["BiMap_2_reduced", 1], ["Skip_reduced", 0], ["BiMap_1", 2], ["AvgPooling", 1]]
    g = gt.derive_genotype(W, W)
    assert g["normal_concat"] == [2, 3] and g["reduce"] == reduce
    with pytest.raises(ValueError, match="shape"):
        gt.derive_cell(np.zeros((5, 4)), "normal")
    with pytest.raises(ValueError, match="NaN"):
        gt.derive_cell(np.full((5, 6), np.nan), "normal")


def test_genotype_json_roundtrip_and_validation(tmp_path):
    g = gt.sample_genotype(np.random.default_rng(1), steps=3)
    assert gt.genotype_from_json(gt.genotype_to_json(g)) == g
    p = gt.save_genotype(g, tmp_path / "g.json")
    assert gt.load_genotype(p) == g
    assert json.loads(p.read_text()) == g
    with pytest.raises(FileNotFoundError):
        gt.load_genotype(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        gt.load_genotype(tmp_path / "bad.json")
    bad = dict(gt.RADAR_SPARSEMAX, reduce=[["BiMap_0", 0]] + gt.RADAR_SPARSEMAX["reduce"][1:])
    with pytest.raises(ValueError, match="unknown reduce op"):
        gt.normalize_genotype(bad)
    with pytest.raises(ValueError, match="input"):
        gt.normalize_genotype(dict(gt.RADAR_SPARSEMAX, normal=[["Skip", 0], ["Skip", 2]] * 2))
    with pytest.raises(ValueError, match="unknown genotype keys"):
        gt.normalize_genotype(dict(gt.RADAR_SPARSEMAX, extra=1))


def test_sample_genotype_is_seeded_and_valid():
    a = gt.sample_genotype(7)
    assert a == gt.sample_genotype(np.random.default_rng(7))
    seen = set()
    for s in range(40):
        g = gt.sample_genotype(s)
        for cell in ("normal", "reduce"):
            pairs = g[cell]
            for i in range(2):
                assert pairs[2 * i][1] != pairs[2 * i + 1][1]
            seen |= {op for op, _ in pairs}
    assert "none" not in seen
    assert seen == (set(NORMAL_OPS) | set(REDUCE_OPS)) - {"none"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derived_network_params_match_analytic(seed):
    cfg = tiny_cfg(cells=["normal", "reduce", "normal"], C=2)
    g = gt.sample_genotype(seed)
    net = build_network(g, cfg, seed=0)
    cx = network_complexity(g, cfg)
    assert cx["params"] == sum(p.numel() for p in net.parameters())
    assert cx == net.complexity()
    out = net(spd(3, n=6))
    assert out.shape == (3, 3)


def test_official_radar_genotype_network():
    cfg = net_config("radar")
    net = build_network(gt.RADAR_SPARSEMAX, cfg, seed=0)
    assert net.complexity()["params"] == sum(p.numel() for p in net.parameters())
    # head: 8 channels of 10x10 -> 8 * 55 features
    assert net.head.fc.in_features == 8 * 55
    assert net(spd(2, n=20)).shape == (2, 3)


def test_draw_cell_figure(tmp_path):
    from spdnas import plots

    fig = plots.draw_genotype(gt.RADAR_SPARSEMAX, title="RADAR")
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"Skip", "BiMap_0", "BiMap_1", "BiMap_2_reduced"} <= texts
    paths = plots.save_figure(fig, tmp_path / "cell")
    a = paths[0].read_bytes()
    plots.save_figure(fig, tmp_path / "cell")
    assert paths[0].read_bytes() == a and paths[1].stat().st_size > 0
    one = plots.draw_cell(gt.RADAR_SPARSEMAX, "reduce")
    assert "BiMap_2_reduced" in {t.get_text() for t in one.axes[0].texts}


def test_net_config_validation():
    with pytest.raises(ValueError, match="unknown keys"):
        net_config(in_dim=6, num_classes=2, foo=1)
    with pytest.raises(ValueError, match="reduce_dims"):
        net_config(in_dim=6, num_classes=2, reduce_dims=[8])
    with pytest.raises(ValueError, match="cells"):
        net_config(in_dim=6, num_classes=2, cells=["conv"])
    with pytest.raises(ValueError, match="preset"):
        net_config("cifar")
    with pytest.raises(ValueError, match="steps"):
        build_network(gt.sample_genotype(0, steps=3), tiny_cfg())
