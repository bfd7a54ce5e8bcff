"""Covariance pooling against numpy/scikit-learn references in float64."""

import numpy as np
import pytest
import torch
from sklearn.covariance import ledoit_wolf, oas

from spdnas.spd.covariance import (
    CovPool,
    WindowedCovPool,
    complex_to_real_spd,
    covariance,
    frame_signal,
    windowed_covariance,
)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_real_matches_numpy_cov_batched(rng):
    x = rng.standard_normal((3, 2, 5, 17))
    out = covariance(torch.from_numpy(x))
    assert out.shape == (3, 2, 5, 5) and out.dtype == torch.float64
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(out[i, j].numpy(), np.cov(x[i, j]), rtol=1e-12, atol=1e-12)


def test_uncentered_is_second_moment(rng):
    x = rng.standard_normal((4, 9))
    out = covariance(torch.from_numpy(x), center=False).numpy()
    np.testing.assert_allclose(out, x @ x.T / 9, rtol=1e-12)


def test_float32_dtype_kept(rng):
    x = torch.from_numpy(rng.standard_normal((2, 4, 30)).astype(np.float32))
    out = covariance(x)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out[1].numpy(), np.cov(x[1].double().numpy()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("d,t", [(5, 8), (12, 7), (4, 60)])
@pytest.mark.parametrize("method,ref", [("oas", oas), ("lw", ledoit_wolf)])
def test_data_driven_shrinkage_matches_sklearn(rng, d, t, method, ref):
    x = rng.standard_normal((d, t)) * np.linspace(0.5, 3, d)[:, None]
    ref_cov, _ = ref(x.T)  # sklearn uses the 1/T moment
    ours = covariance(torch.from_numpy(x), shrinkage=method).numpy() * (t - 1) / t
    np.testing.assert_allclose(ours, ref_cov, rtol=1e-10, atol=1e-12)


def test_float_shrinkage_closed_form(rng):
    x = rng.standard_normal((6, 20))
    s = np.cov(x)
    a = 0.3
    ref = (1 - a) * s + a * np.trace(s) / 6 * np.eye(6)
    out = covariance(torch.from_numpy(x), shrinkage=a, eps=1e-3).numpy()
    np.testing.assert_allclose(out, ref + 1e-3 * np.eye(6), rtol=1e-12)
    # the trace is preserved by shrinkage
    np.testing.assert_allclose(np.trace(covariance(torch.from_numpy(x), shrinkage=a).numpy()),
                               np.trace(s), rtol=1e-12)


def test_shrinkage_makes_rank_deficient_pd(rng):
    x = torch.from_numpy(rng.standard_normal((12, 5)))  # rank <= 4
    assert torch.linalg.eigvalsh(covariance(x)).min() < 1e-10
    assert torch.linalg.eigvalsh(covariance(x, shrinkage="oas")).min() > 1e-3


def test_complex_real_mode_is_real_part_of_hermitian(rng):
    z = rng.standard_normal((2, 4, 50)) + 1j * rng.standard_normal((2, 4, 50))
    z[:, 1] += 0.7j * z[:, 0]  # correlated channels -> non-zero imaginary covariance
    out = covariance(torch.from_numpy(z), complex_mode="real")
    assert out.dtype == torch.float64 and out.shape == (2, 4, 4)
    for b in range(2):
        herm = np.cov(z[b])  # numpy: conjugates the second factor
        np.testing.assert_allclose(out[b].numpy(), herm.real, rtol=1e-12, atol=1e-12)
        assert np.abs(herm.imag).max() > 0.1
        np.testing.assert_array_equal(out[b].numpy(), out[b].numpy().T)
        assert np.linalg.eigvalsh(out[b].numpy()).min() > 0


def test_complex_embedding_doubles_hermitian_spectrum(rng):
    z = rng.standard_normal((5, 40)) + 1j * rng.standard_normal((5, 40))
    z[2] += (0.5 + 0.8j) * z[0]
    herm = np.cov(z)
    emb = covariance(torch.from_numpy(z), complex_mode="embed").numpy()
    assert emb.shape == (10, 10)
    np.testing.assert_allclose(emb, emb.T, atol=0)
    np.testing.assert_allclose(emb[:5, :5], herm.real, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(emb[5:, :5], herm.imag, rtol=1e-12, atol=1e-13)
    lam_h = np.sort(np.linalg.eigvalsh(herm))
    lam_e = np.sort(np.linalg.eigvalsh(emb))
    np.testing.assert_allclose(lam_e, np.sort(np.repeat(lam_h, 2)), rtol=1e-10, atol=1e-12)
    assert lam_e.min() >= -1e-12


def test_complex_shrinkage_applies_before_embedding(rng):
    z = torch.from_numpy(rng.standard_normal((3, 30)) + 1j * rng.standard_normal((3, 30)))
    herm = covariance(z, shrinkage=0.4, complex_mode="real")
    emb = covariance(z, shrinkage=0.4, complex_mode="embed")
    torch.testing.assert_close(emb[:3, :3], herm)
    assert complex_to_real_spd(herm) is herm  # real input passes through


def test_gradcheck_covariance(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3, 6))).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: covariance(v, shrinkage=0.2, eps=1e-3), (x,))
    assert torch.autograd.gradcheck(lambda v: covariance(v, shrinkage="oas"), (x,))
    assert torch.autograd.gradcheck(lambda v: covariance(v, shrinkage="lw", center=False), (x,))
    z = torch.from_numpy(rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6)))
    z.requires_grad_()
    assert torch.autograd.gradcheck(lambda v: covariance(v, complex_mode="embed"), (z,))


def test_windowing_against_hand_loop(rng):
    sig = rng.standard_normal(95) + 1j * rng.standard_normal(95)
    window, hop = 20, 10
    frames = frame_signal(torch.from_numpy(sig), window, hop)
    n_frames = (95 - window) // hop + 1
    assert frames.shape == (window, n_frames)
    cols = [sig[j * hop: j * hop + window] for j in range(n_frames)]
    hand = np.stack(cols, axis=1)
    np.testing.assert_array_equal(frames.numpy(), hand)
    out = windowed_covariance(torch.from_numpy(sig), window, hop)
    np.testing.assert_allclose(out.numpy(), np.cov(hand).real, rtol=1e-12, atol=1e-12)
    batched = WindowedCovPool(window, hop)(torch.from_numpy(np.stack([sig, 2 * sig])))
    torch.testing.assert_close(batched[1], 4 * batched[0])


def test_modules_match_functional(rng):
    x = torch.from_numpy(rng.standard_normal((4, 3, 25)))
    torch.testing.assert_close(CovPool(shrinkage=0.1, eps=1e-4)(x), covariance(x, 0.1, eps=1e-4))
    assert "shrinkage=0.1" in repr(CovPool(shrinkage=0.1))
    assert "window=20" in repr(WindowedCovPool())


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: covariance(torch.zeros(5)), "shape"),
        (lambda: covariance(torch.zeros(3, 1)), "T >= 2"),
        (lambda: covariance(torch.tensor([[1.0, float("nan")], [0.0, 1.0]])), "NaN"),
        (lambda: covariance(torch.tensor([[1.0, float("inf")], [0.0, 1.0]])), "NaN or Inf"),
        (lambda: covariance(torch.zeros(2, 4, dtype=torch.int64)), "floating"),
        (lambda: covariance(torch.zeros(2, 4), shrinkage=1.5), r"\[0, 1\]"),
        (lambda: covariance(torch.zeros(2, 4), shrinkage="bogus"), "unknown shrinkage"),
        (lambda: covariance(torch.zeros(2, 4), complex_mode="avg"), "complex_mode"),
        (lambda: covariance(torch.zeros(2, 4), eps=-1.0), "eps"),
        (lambda: windowed_covariance(torch.zeros(25), 20, 10), "at least 2"),
        (lambda: windowed_covariance(torch.zeros(10), 20, 10), "shorter than the window"),
        (lambda: frame_signal(torch.zeros(30), 0, 10), "window"),
        (lambda: WindowedCovPool(hop=0), "hop"),
        (lambda: CovPool(shrinkage="x"), "unknown shrinkage"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_value_check_follows_the_library_switch():
    """Like the spectral functions: checks(False) switches off the NaN/Inf host sync (shape checks stay)."""
    import spdnas.spd as S

    x = torch.tensor([[1.0, float("nan"), 0.0], [0.0, 1.0, 2.0]])
    with S.checks(False):
        assert torch.isnan(covariance(x)).any()
        assert torch.isnan(CovPool()(x)).any()
        with pytest.raises(ValueError, match="T >= 2"):
            covariance(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="NaN"):
        covariance(x)
