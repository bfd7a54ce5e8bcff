"""EDFs, complexity normalisation, KS statistics and distribution area (spdnas.analysis.stats)."""

import numpy as np
import pytest
import scipy.stats

from spdnas import analysis as A


def brute_edf(e, w, g, strict=True):
    w = np.asarray(w, float) / np.sum(w)
    cmp = e[:, None] < g[None, :] if strict else e[:, None] <= g[None, :]
    return (w[:, None] * cmp).sum(axis=0)


def test_edf_matches_brute_force_with_ties_and_weights():
    rng = np.random.default_rng(0)
    e = np.round(rng.normal(10, 2, 300), 1)
    w = rng.uniform(0, 3, 300)
    g = np.linspace(4, 16, 97)
    for side, strict in (("left", True), ("right", False)):
        grid, f = A.edf(e, w, g, side=side)
        np.testing.assert_allclose(f, brute_edf(e, w, g, strict), atol=1e-12)
    grid, f = A.edf(e)  # default grid: unique values, F = P(e < x)
    np.testing.assert_array_equal(grid, np.unique(e))
    assert f[0] == 0.0 and np.all(np.diff(f) > 0)
    assert A.edf(e, side="right")[1][-1] == pytest.approx(1.0)
    fn = A.EDF(e, w)
    np.testing.assert_allclose(fn(g), brute_edf(e, w, g), atol=1e-12)


def test_edf_of_uniform_sample_is_close_to_identity():
    e = np.random.default_rng(1).uniform(0, 1, 20_000)
    g = np.linspace(0, 1, 101)
    _, f = A.edf(e, grid=g)
    # DKW: P(sup|F_n - F| > eps) <= 2 exp(-2 n eps^2) = 2e-9 for eps = 0.025
    assert np.max(np.abs(f - g)) < 0.025


def test_distribution_area_closed_forms():
    n = 100_000
    e = (np.arange(n) + 0.5) / n  # uniform on [0, 1]: F(e) = e
    assert A.distribution_area(e, 0.5) == pytest.approx(0.25, abs=1e-6)  # (1/eps) int_0^eps e de
    assert A.distribution_area(e, 2.0) == pytest.approx(1 - 0.5 / 2.0, abs=1e-6)
    eps = np.array([0.1, 0.3, 0.7])
    np.testing.assert_allclose(A.distribution_area(e, eps), eps / 2, atol=1e-6)


def test_distribution_area_formula_and_integral_with_weights():
    rng = np.random.default_rng(2)
    e = rng.gamma(3.0, 2.0, 500)
    w = rng.uniform(0, 1, 500)
    wn = w / w.sum()
    for eps in (1.0, 5.0, 12.0):
        direct = 1 - np.sum(wn * np.minimum(1, e / eps))
        assert A.distribution_area(e, eps, w) == pytest.approx(direct, abs=1e-12)
        x = np.linspace(0, eps, 20_001)
        integral = np.trapezoid(brute_edf(e, w, x), x) / eps
        assert A.distribution_area(e, eps, w) == pytest.approx(integral, abs=1e-3)


def test_ks_unweighted_matches_scipy():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = np.round(rng.normal(0, 1, rng.integers(5, 80)), 1)
        b = np.round(rng.normal(0.4, 1.2, rng.integers(5, 80)), 1)
        ref = scipy.stats.ks_2samp(a, b)
        r = A.ks_test(a, b)
        assert r.statistic == pytest.approx(ref.statistic) and r.pvalue == pytest.approx(ref.pvalue)
        rw = A.ks_weighted(a, b)
        asymp = scipy.stats.ks_2samp(a, b, method="asymp")
        assert rw.statistic == pytest.approx(asymp.statistic, abs=1e-12)
        assert rw.pvalue == pytest.approx(asymp.pvalue, abs=1e-9)
        assert rw.n_a == pytest.approx(a.size) and rw.n_b == pytest.approx(b.size)


def test_weighted_ks_equals_ks_of_replicated_samples():
    rng = np.random.default_rng(4)
    a = np.round(rng.normal(0, 1, 40), 1)
    b = np.round(rng.normal(0.2, 1, 60), 1)
    ma = rng.integers(0, 5, a.size)
    mb = rng.integers(1, 4, b.size)
    d = A.ks_statistic_weighted(a, b, ma, mb)
    ref = scipy.stats.ks_2samp(np.repeat(a, ma), np.repeat(b, mb)).statistic
    assert d == pytest.approx(ref, abs=1e-12)
    # brute force over the union of points
    pts = np.union1d(a, b)
    assert d == pytest.approx(np.max(np.abs(brute_edf(a, ma, pts, False) - brute_edf(b, mb, pts, False))))


def test_effective_sample_size():
    assert A.effective_sample_size(np.ones(37)) == pytest.approx(37)
    assert A.effective_sample_size([0, 0, 5, 0]) == pytest.approx(1)
    assert A.effective_sample_size([1, 1, 2]) == pytest.approx(16 / 6)


@pytest.mark.parametrize(
    "call",
    [
        lambda: A.edf([]),
        lambda: A.edf([1.0, np.nan]),
        lambda: A.edf([1.0, np.inf]),
        lambda: A.edf(np.ones((2, 2))),
        lambda: A.edf([1.0, 2.0], weights=[1.0]),
        lambda: A.edf([1.0, 2.0], weights=[1.0, -1.0]),
        lambda: A.edf([1.0, 2.0], weights=[0.0, 0.0]),
        lambda: A.edf([1.0, 2.0], side="middle"),
        lambda: A.distribution_area([1.0, 2.0], 0.0),
        lambda: A.distribution_area([-1.0, 2.0], 1.0),
        lambda: A.ks_test([], [1.0]),
        lambda: A.ks_weighted([1.0, 2.0], [1.0], weights_b=[1.0, 2.0]),
        lambda: A.effective_sample_size([]),
    ],
)
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


def nds_reference_weights(cs, num_bins, c_range):
    """The NDS notebooks' histogram/digitize recipe, written independently for comparison."""
    hist, edges = np.histogram(cs, bins=num_bins, range=c_range)
    inds = np.digitize(cs, bins=edges) - 1
    return 1 / hist[inds] / num_bins


def test_complexity_weights_match_nds_recipe():
    rng = np.random.default_rng(5)
    c = rng.uniform(0, 1, 5000) ** 2
    lo, hi, bins = 0.02, 0.8, 12
    norm = A.complexity_weights(c, bins, lo, hi)
    keep = (c > lo) & (c < hi)
    np.testing.assert_array_equal(norm.mask, keep)
    np.testing.assert_allclose(norm.weights[keep], nds_reference_weights(c[keep], bins, (lo, hi)))
    assert np.all(norm.weights[~keep] == 0)
    assert norm.weights.sum() == pytest.approx(1.0)
    per_bin = np.bincount(norm.bin_index[keep], weights=norm.weights[keep], minlength=bins)
    np.testing.assert_allclose(per_bin, 1 / bins)
    np.testing.assert_allclose(norm.edges, np.linspace(lo, hi, bins + 1))


def test_complexity_weights_boundaries_and_log_bins():
    c = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    norm = A.complexity_weights(c, 2, lo=1.0, hi=5.0)  # open interval drops 1 and 5
    np.testing.assert_array_equal(norm.mask, [False, True, True, True, False])
    np.testing.assert_array_equal(norm.bin_index, [-1, 0, 1, 1, -1])  # 3 sits on the edge: bin 1
    np.testing.assert_allclose(norm.weights, [0, 0.5, 0.25, 0.25, 0])
    assert A.complexity_weights(c, 2).mask.all()  # default range keeps every model
    c = np.geomspace(1e4, 1e7, 400)
    norm = A.complexity_weights(c, 6, log_bins=True)
    np.testing.assert_allclose(np.diff(np.log(norm.edges)), np.log(1e3) / 6, rtol=1e-6)
    assert norm.counts.max() - norm.counts.min() <= 1  # geometric grid: equal counts per log bin
    with pytest.raises(ValueError, match="lo > 0"):
        A.complexity_weights(c, 6, lo=0.0, hi=2e7, log_bins=True)


def test_empty_bin_is_named():
    c = np.concatenate([np.linspace(0.01, 0.3, 50), np.linspace(0.71, 0.99, 50)])
    with pytest.raises(ValueError, match=r"bin 3 .*empty"):
        A.complexity_weights(c, 10, 0.0, 1.0)
    with pytest.raises(ValueError, match="bins"):
        A.complexity_weights(c, 0)
    with pytest.raises(ValueError, match="lo < hi"):
        A.complexity_weights(c, 2, 1.0, 0.5)
    with pytest.raises(ValueError, match="differ in length"):
        A.normalized_edf(c, c[:-1])


def test_normalised_complexity_edfs_agree_at_bin_edges():
    rng = np.random.default_rng(6)
    small = rng.gamma(2.0, 1.0, 4000) + 0.2  # two spaces with very different complexity mixes
    large = rng.uniform(0.2, 8.0, 3000)
    lo, hi = A.common_range([small, large])
    bins = 8
    f = {}
    for name, c in (("small", small), ("large", large)):
        g, f[name] = A.normalized_complexity_edf(c, bins, lo, hi)
        np.testing.assert_allclose(f[name], np.arange(bins + 1) / bins, atol=1e-12)
    # unnormalised complexity EDFs differ a lot on the same edges
    assert np.max(np.abs(A.edf(small, grid=g)[1] - A.edf(large, grid=g)[1])) > 0.3


def test_normalize_spaces_on_real_nas_bench_macro(shared_data):
    df = A.load_nas_bench_macro(shared_data / "nas-bench-macro" / "nas-bench-macro_cifar10.json")
    df["space"] = np.where(df["model_id"].str[0] == "0", "first-identity", "first-block")
    bins = 8
    for by in ("params", "flops"):
        nd = A.normalize_spaces(df, by=by, bins=bins)
        lo, hi = A.common_range({k: g[by] for k, g in df.groupby("space")})
        assert nd[by].between(lo, hi).all()
        edges = np.linspace(lo, hi, bins + 1)
        for _, g in nd.groupby("space"):
            assert g["weight"].sum() == pytest.approx(1.0)
            _, f = A.edf(g[by].to_numpy(float), g["weight"].to_numpy(), edges)
            np.testing.assert_allclose(f, np.arange(bins + 1) / bins, atol=1e-12)
        # the normalised error EDFs still differ (first-layer identity is worse)
        e = {k: (g["error"].to_numpy(), g["weight"].to_numpy()) for k, g in nd.groupby("space")}
        ks = A.ks_weighted(e["first-identity"][0], e["first-block"][0], e["first-identity"][1], e["first-block"][1])
        assert ks.statistic > 0.1 and ks.pvalue < 1e-6
    with pytest.raises(ValueError, match="do not overlap"):
        A.common_range([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="no column"):
        A.normalize_spaces(df, by="latency")
