"""SPD design spaces: sampling, validation, exact complexity, sweep integration."""

import math

import numpy as np
import pytest
import torch
from helpers_spd import rand_spd

from spdnas.spaces import get_space, list_spaces

INFO = {"n": 20, "num_classes": 3}


def test_spdnet_registered_and_sampling_is_deterministic():
    assert "spdnet" in list_spaces()
    sp = get_space("spdnet")
    a = [sp.sample(np.random.default_rng(5)) for _ in range(3)]
    b = [sp.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a == b
    cfgs = [sp.sample(np.random.default_rng(i)) for i in range(200)]
    assert {c["depth"] for c in cfgs} == {1, 2, 3, 4}
    assert {c["batchnorm"] for c in cfgs} == {True, False}
    for c in cfgs:
        assert sp.validate(c) == c
        dims = sp.dims(c, INFO)
        assert dims == sorted(dims, reverse=True) and dims[0] == 20 and min(dims) >= 2


def test_spdnet_size_closed_form():
    sp = get_space("spdnet")
    G = len(sp.fractions)
    expected = (G + math.comb(G + 1, 2) + math.comb(G + 2, 3) + math.comb(G + 3, 4)) * 2 * 3
    assert sp.size() == expected == 2964


@pytest.mark.parametrize("seed", range(6))
def test_spdnet_params_exact_and_model_runs(seed):
    sp = get_space("spdnet")
    cfg = sp.sample(np.random.default_rng(seed))
    model = sp.build(cfg, INFO)
    assert sp.params(cfg, INFO) == sum(p.numel() for p in model.parameters())
    out = model(rand_spd(4, n=20, dtype=torch.float32))
    assert out.shape == (4, 3)
    assert sp.flops(cfg, INFO) > 0


def test_spdnet_flops_counted_from_matrix_products():
    sp = get_space("spdnet")
    cfg = {"depth": 2, "fractions": [0.5, 0.25], "batchnorm": False, "eps": 1e-4}
    dims = sp.dims(cfg, INFO)
    assert dims == [20, 10, 5]
    # W^T X W: n*n*m + n*m*m multiply-adds per BiMap; head: 15 features x 3 classes
    expected = (20 * 20 * 10 + 20 * 10 * 10) + (10 * 10 * 5 + 10 * 5 * 5) + 15 * 3
    assert sp.flops(cfg, INFO) == expected


def test_spdnet_model_has_riemannian_optimizer_hook():
    import geoopt

    sp = get_space("spdnet")
    model = sp.build({"depth": 1, "fractions": [0.5], "batchnorm": True, "eps": 1e-3}, INFO)
    opt = model.make_optimizer({"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0})
    assert isinstance(opt, geoopt.optim.RiemannianSGD)


@pytest.mark.parametrize(
    "cfg, msg",
    [
        ({"depth": 2, "fractions": [0.5], "batchnorm": False, "eps": 1e-4}, "match"),
        ({"depth": 2, "fractions": [0.2, 0.5], "batchnorm": False, "eps": 1e-4}, "non-increasing"),
        ({"depth": 1, "fractions": [0.5], "batchnorm": False, "eps": -1}, "eps"),
        ({"depth": 1, "fractions": [0.5], "batchnorm": False, "eps": 1e-4, "x": 1}, "unknown keys"),
        ({"depth": 1}, "incomplete"),
    ],
)
def test_spdnet_bad_configs(cfg, msg):
    with pytest.raises(ValueError, match=msg):
        get_space("spdnet").validate(cfg)


def test_spd_info_validation():
    with pytest.raises(ValueError, match="missing 'n'"):
        get_space("spdnet").build({"depth": 1, "fractions": [0.5], "batchnorm": False, "eps": 1e-4}, {"num_classes": 2})


NAS_SPACES = ["spdnetnas", "spdnetnas_no_pool", "spdnetnas_bimap_only", "spdnetnas_no_skip", "spdnetnas_no_bimap"]


def test_spdnetnas_cell_counts_closed_form():
    sp = get_space("spdnetnas")
    # normal: node0 inputs {0,1}: 5*5; node1 three pairs: 3*25  -> 25*75
    assert sp.cell_count("normal") == 25 * 75
    # reduce: node0 reduce/reduce 25; node1 {0,1} 25 + {0,2},{1,2} reduce x normal 2*25
    assert sp.cell_count("reduce") == 25 * 75
    assert sp.size() == (25 * 75) ** 2 * 9
    bim = get_space("spdnetnas_bimap_only")
    assert bim.cell_count("normal") == 9 * 27 and bim.cell_count("reduce") == 4 * (4 + 6 + 6)


@pytest.mark.parametrize("name", NAS_SPACES)
def test_spdnetnas_variants_sample_build_and_count(name):
    sp = get_space(name)
    cfg = sp.sample(np.random.default_rng(3))
    assert sp.validate(cfg)["C"] == cfg["C"]
    for cell in ("normal", "reduce"):
        for op, j in cfg["genotype"][cell]:
            assert op in sp._ops(cell, j)
    model = sp.build(cfg, INFO)
    assert sp.params(cfg, INFO) == sum(p.numel() for p in model.parameters())
    out = model(rand_spd(4, n=20, dtype=torch.float32))
    assert out.shape == (4, 3) and torch.isfinite(out).all()
    assert hasattr(model, "make_optimizer")


def test_spdnetnas_sampling_deterministic_and_rejects_foreign_ops():
    sp = get_space("spdnetnas_bimap_only")
    assert sp.sample(np.random.default_rng(0)) == sp.sample(np.random.default_rng(0))
    cfg = get_space("spdnetnas").sample(np.random.default_rng(1))
    cfg["genotype"]["normal"][0][0] = "Skip"
    with pytest.raises(ValueError, match="not in this space"):
        sp.validate(cfg)
    with pytest.raises(ValueError, match="exactly the keys"):
        sp.validate({"genotype": cfg["genotype"]})


def test_spdnet_cost_counts_eigendecompositions():
    from spdnas.spaces.spd import eigh_cost

    sp, info = get_space("spdnet"), {"n": 20, "num_classes": 3}
    base = {"depth": 2, "fractions": [0.9, 0.5], "batchnorm": False, "eps": 1e-4}
    dims = sp.dims(base, info)[1:]
    assert sp.cost(base, info) == sp.flops(base, info) + sum(eigh_cost(m) for m in dims)
    bn = {**base, "batchnorm": True}
    assert sp.cost(bn, info) == sp.flops(bn, info) + 4 * sum(eigh_cost(m) for m in dims)
    deeper = {**base, "depth": 3, "fractions": [0.9, 0.5, 0.5]}
    assert sp.cost(deeper, info) > sp.cost(base, info)


@pytest.mark.parametrize("name", ["spdnet", "spdnetnas", "spdnetnas_bimap_only"])
def test_spd_spaces_contain_their_samples_only(name):
    sp = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert sp.contains(sp.sample(rng))
    cfg = sp.sample(rng)
    if name == "spdnet":
        assert not sp.contains({**cfg, "eps": 0.5})  # valid value, off the grid
        assert sp.validate({**cfg, "eps": 0.5})["eps"] == 0.5
        assert not sp.contains({**cfg, "fractions": [0.77] * cfg["depth"]})
    else:
        assert not sp.contains({**cfg, "C": 7})
    assert not sp.contains({"depth": "x"})


def test_spdnetnas_built_model_class_is_shared():
    sp, info = get_space("spdnetnas"), {"n": 12, "num_classes": 3}
    rng = np.random.default_rng(1)
    a, b = sp.build(sp.sample(rng), info), sp.build(sp.sample(rng), info)
    assert type(a) is type(b) and hasattr(a, "make_optimizer")
