"""Design spaces: registry, value grids and sizes, sampling, params/flops vs counting."""

import itertools
import json

import numpy as np
import pytest
import torch

from spdnas.models import (
    build_cell_network,
    cell_network_complexity,
    count_flops,
    count_params,
    loose_ends,
    resnet_cifar_config,
)
from spdnas.models import check_cnn_genotype as normalize_genotype
from spdnas.spaces import (
    AnyNetSpace,
    DesignSpace,
    NASCellSpace,
    get_space,
    in_billions,
    list_spaces,
    num_cells,
    register_space,
)

CIFAR = {"in_channels": 3, "image_size": 32, "num_classes": 10}
DIGITS = {"in_channels": 1, "image_size": 8, "num_classes": 10}
STANDARD = ["vanilla", "resnet", "resnext_a", "resnext_b"]
CELLS = ["nasnet", "amoeba", "pnas", "enas", "darts"]

# DARTS (second order) genotype from Liu et al. 2019; their code reports 3.349342 M params for
# NetworkCIFAR(C=36, layers=20) without the auxiliary head, and ~528 M multiply-adds.
DARTS_V2 = {
    "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
               ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
               ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
    "reduce_concat": [2, 3, 4, 5],
}


@pytest.fixture(autouse=True)
def one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def small_configs(space, info, k=2, seed=0, max_params=60_000):
    """First k sampled configs whose analytic size is small enough to build quickly."""
    rng, out = np.random.default_rng(seed), []
    for _ in range(5000):
        cfg = space.sample(rng)
        if isinstance(space, NASCellSpace):
            cfg["width"], cfg["depth"] = 4, min(cfg["depth"], 4)
        if space.params(cfg, info) <= max_params:
            out.append(cfg)
            if len(out) == k:
                return out
    raise AssertionError(f"no small configs found for {space.name}")


def test_registry_lists_all_spaces():
    names = list_spaces()
    for n in STANDARD + CELLS:
        assert n in names
        assert get_space(n).name == n
    assert get_space("ResNeXt-A") is get_space("resnext_a")
    with pytest.raises(ValueError, match="unknown design space"):
        get_space("no_such_space")
    with pytest.raises(ValueError, match="non-empty"):
        get_space("")


def test_register_space_decorator_and_duplicates():
    class Toy(AnyNetSpace):
        def __init__(self):
            super().__init__("toy_space_test", "vanilla", [1], [4])

    try:
        register_space("toy_space_test")(Toy)
        assert isinstance(get_space("toy_space_test"), Toy)
        with pytest.raises(ValueError, match="already registered"):
            register_space("toy_space_test", Toy())
        with pytest.raises(ValueError, match="DesignSpace"):
            register_space("toy_bad", object())
    finally:
        from spdnas.spaces import SPACES

        SPACES.pop("toy_space_test", None)


def test_standard_grids_and_sizes():
    r = get_space("resnet")
    assert r.grid["depths"] == [1, 2, 3, 4, 6, 8, 12, 16, 24]
    assert len(r.grid["widths"]) == 12 and r.grid["widths"][0] == 16 and r.grid["widths"][-1] == 256
    # roughly log-spaced: consecutive ratios bounded, spanning 16x in 11 steps
    ratios = np.diff(np.log2(r.grid["widths"]))
    assert ratios.min() > 0 and ratios.max() <= 0.6
    assert get_space("vanilla").size() == 1_259_712 == (9 * 12) ** 3
    assert r.size() == 1_259_712
    assert get_space("resnext_a").size() == 11_390_625
    assert get_space("resnext_b").size() == 52_734_375


def test_nds_cell_counts_match_paper():
    # NDS Table 2, "# cells" in billions (ordered input/op pairs, inputs with replacement).
    expected = {"nasnet": 71_465_842, "amoeba": 556_628, "pnas": 556_628, "enas": 5_063, "darts": 242}
    ops = {"nasnet": 13, "amoeba": 8, "pnas": 8, "enas": 5, "darts": 8}
    nodes = {"nasnet": 5, "amoeba": 5, "pnas": 5, "enas": 5, "darts": 4}
    for name, b in expected.items():
        sp = get_space(name)
        assert len(sp.ops) == ops[name] and sp.nodes == nodes[name]
        assert in_billions(sp.num_cells()) == b
        assert sp.size() == sp.num_cells() ** 2 * 3 * 5
    assert num_cells(8, 4) == 241_591_910_400


def test_num_cells_matches_brute_force_enumeration():
    space = NASCellSpace("tiny_count", ["skip_connect", "max_pool_3x3"], 2, "loose")
    choices = [[(op, i) for op in space.ops for i in range(node + 2)] for node in range(2) for _ in range(2)]
    cells = {tuple(c) for c in itertools.product(*choices)}
    assert len(cells) == num_cells(2, 2) == space.num_cells() == (2 * 2) ** 2 * (2 * 3) ** 2
    # sampling only produces members of that enumeration
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert tuple(tuple(p) for p in space.sample_cell(rng)) in cells


@pytest.mark.parametrize("depth,params_m,gflops", [(20, 0.27, 0.04), (56, 0.86, 0.13), (110, 1.73, 0.25)])
def test_cifar_resnets_known_complexity(depth, params_m, gflops):
    sp = get_space("resnet")
    cfg = resnet_cifar_config(depth)
    assert round(sp.params(cfg, CIFAR) / 1e6, 2) == params_m
    assert round(sp.flops(cfg, CIFAR) / 1e9, 2) == gflops


def test_resnet56_analytic_equals_counted():
    sp = get_space("resnet")
    cfg = resnet_cifar_config(56)
    model = sp.build(cfg, CIFAR)
    assert count_params(model) == sp.params(cfg, CIFAR) == 855_770
    assert count_flops(model, (3, 32, 32)) == sp.flops(cfg, CIFAR) == 125_747_840


def test_darts_v2_matches_published_size():
    cx = cell_network_complexity(DARTS_V2, 36, 20, 10, 3, 32)
    assert cx["params"] == 3_349_342
    assert round(cx["flops"] / 1e6) == 528


@pytest.mark.parametrize("name", STANDARD + CELLS)
def test_sample_deterministic_json_and_in_space(name):
    sp = get_space(name)
    a = [sp.sample(np.random.default_rng(7)) for _ in range(3)]
    b = [sp.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(1)
    many = [sp.sample(rng) for _ in range(20)]
    assert len({json.dumps(c, sort_keys=True) for c in many}) > 10
    for c in many:
        assert json.loads(json.dumps(c)) == c
        assert sp.contains(c)
        assert sp.validate(c) == c


def test_sampler_covers_grid_uniformly():
    sp = get_space("resnet")
    rng = np.random.default_rng(0)
    depths = [d for _ in range(900) for d in sp.sample(rng)["depths"]]
    counts = np.array([depths.count(v) for v in sp.grid["depths"]])
    assert counts.min() > 0.6 * 300 and counts.max() < 1.4 * 300


@pytest.mark.parametrize("name", STANDARD + CELLS)
def test_analytic_complexity_equals_counting(name):
    sp = get_space(name)
    for info in (DIGITS, {"in_channels": 3, "image_size": 9, "num_classes": 7}):
        for cfg in small_configs(sp, info, k=1, seed=3):
            model = sp.build(cfg, info)
            assert count_params(model) == sp.params(cfg, info)
            shape = sp.input_shape(info)
            assert count_flops(model, shape) == sp.flops(cfg, info)
            out = model(torch.randn(2, *shape))
            assert out.shape == (2, info["num_classes"]) and torch.isfinite(out).all()


def test_cell_network_standalone_backward_and_namedtuple():
    from collections import namedtuple

    Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    g = Genotype(**{k: [tuple(p) if isinstance(p, list) else p for p in v] for k, v in DARTS_V2.items()})
    net = build_cell_network(g, C=4, layers=3, num_classes=5, in_channels=2, drop_path_prob=0.2)
    assert json.loads(json.dumps(net.genotype)) == DARTS_V2
    x = torch.randn(3, 2, 10, 10)
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert count_params(net) == cell_network_complexity(g, 4, 3, 5, 2, 10)["params"]


def test_loose_ends_and_concat_rules():
    pairs = [["skip_connect", 0], ["skip_connect", 1], ["skip_connect", 2], ["skip_connect", 0],
             ["skip_connect", 2], ["skip_connect", 3]]
    assert loose_ends(pairs) == [4]
    cfg = get_space("enas").sample(np.random.default_rng(0))
    assert cfg["genotype"]["normal_concat"] == loose_ends(cfg["genotype"]["normal"])
    cfg = get_space("darts").sample(np.random.default_rng(0))
    assert cfg["genotype"]["normal_concat"] == [2, 3, 4, 5]


def test_bad_configs_and_infos_raise():
    r = get_space("resnet")
    good = resnet_cifar_config(20)
    with pytest.raises(ValueError, match="unknown config keys"):
        r.validate({**good, "extra": 1})
    with pytest.raises(ValueError, match="depths"):
        r.validate({**good, "depths": [1, 2]})
    with pytest.raises(ValueError, match="positive"):
        r.validate({**good, "widths": [16, -1, 64]})
    with pytest.raises(ValueError, match="outside the grid"):
        r.validate(good | {"depths": [5, 5, 5]}, strict=True)
    with pytest.raises(ValueError, match="block"):
        r.validate({**good, "block": "vanilla"})
    x = get_space("resnext_a")
    with pytest.raises(ValueError, match="divisible"):
        x.validate({"block": "res_bottleneck", "depths": [1, 1, 1], "widths": [16, 16, 16],
                    "bot_ratios": [4, 1, 1], "groups": [8, 1, 1]})
    for bad in ({}, {"in_channels": 3, "image_size": 0, "num_classes": 10}, [1, 2],
                {"in_channels": 3, "image_size": 32, "num_classes": 2.5}):
        with pytest.raises(ValueError):
            r.params(good, bad)
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet_cifar_config(57)
    with pytest.raises(ValueError, match="Generator"):
        r.sample(0)


def test_bad_genotypes_raise():
    with pytest.raises(ValueError, match="unknown op"):
        normalize_genotype({**DARTS_V2, "normal": [["conv_9x9", 0], ["skip_connect", 1]]})
    with pytest.raises(ValueError, match="input"):
        normalize_genotype({**DARTS_V2, "normal": [["skip_connect", 2], ["skip_connect", 1]]})
    with pytest.raises(ValueError, match="pairs"):
        normalize_genotype({**DARTS_V2, "normal": [["skip_connect", 0]]})
    with pytest.raises(ValueError, match="missing"):
        normalize_genotype({"normal": DARTS_V2["normal"]})
    with pytest.raises(ValueError, match="duplicate"):
        normalize_genotype({**DARTS_V2, "normal_concat": [2, 2]})
    with pytest.raises(ValueError, match="unknown op"):
        get_space("enas").validate({"genotype": DARTS_V2, "width": 16, "depth": 4})
    with pytest.raises(ValueError, match="positive"):
        build_cell_network(DARTS_V2, C=0, layers=3, num_classes=10)


def test_design_space_is_abstract():
    with pytest.raises(TypeError):
        DesignSpace()
