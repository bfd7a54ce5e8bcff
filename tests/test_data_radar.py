"""Simulated RADAR generator and the original-release RADAR reader."""

import numpy as np
import pytest
import torch

from spdnas.data import load_dataset, simulate_radar
from spdnas.data.overview import lognn_accuracy
from spdnas.data.radar import PRF_HZ, load_radar
from spdnas.spd.covariance import windowed_covariance


@pytest.fixture(scope="module")
def small_sim():
    return load_dataset("radar_sim", cache=False, n_per_class=60, seed=7)


def test_generator_deterministic_by_seed():
    a, ya, pa = simulate_radar(5, length=128, seed=3)
    b, yb, pb = simulate_radar(5, length=128, seed=3)
    c, _, _ = simulate_radar(5, length=128, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert pa.equals(pb)
    assert not np.allclose(a, c)
    assert a.dtype == np.complex128 and a.shape == (15, 128)
    np.testing.assert_allclose(np.mean(np.abs(a) ** 2, axis=1), 1.0)  # unit power
    assert list(np.bincount(ya)) == [5, 5, 5]
    assert set(pa.cls) == {"drone", "bird", "clutter"}


def test_physics_of_the_classes():
    # noise-free: clutter stays near zero Doppler, drones spread power over many Doppler bins
    s, y, p = simulate_radar(20, length=1024, seed=0, snr_db=(80, 80))
    spec = np.abs(np.fft.fft(s, axis=1)) ** 2
    freqs = np.fft.fftfreq(1024, 1 / PRF_HZ)
    low = (spec[:, np.abs(freqs) < 60].sum(1) / spec.sum(1))
    assert np.median(low[y == 2]) > 0.9
    # drone: power outside +-150 Hz of the body line (the blade flashes)
    body_f = 2 * p["v"].to_numpy() / (299_792_458.0 / 10e9)
    def off_body(i):
        d = np.abs(((freqs - body_f[i]) + PRF_HZ / 2) % PRF_HZ - PRF_HZ / 2)
        return spec[i, d > 150].sum() / spec[i].sum()
    drone = np.median([off_body(i) for i in np.nonzero(y == 0)[0]])
    bird = np.median([off_body(i) for i in np.nonzero(y == 1)[0]])
    assert drone > 0.02 and drone > bird


def test_dataset_is_spd_and_matches_windowed_covariance(small_sim):
    ds = small_sim
    assert ds.X.shape == (180, 20, 20) and ds.classes == ["drone", "bird", "clutter"]
    assert torch.linalg.eigvalsh(ds.X).min() > 0
    sig, _, _ = simulate_radar(60, seed=7)
    ref = windowed_covariance(torch.from_numpy(sig[:3]), 20, 10).numpy()
    ref = ref + 1e-6 * np.trace(ref, axis1=1, axis2=2)[:, None, None] / 20 * np.eye(20)
    np.testing.assert_allclose(ds.X[:3].numpy(), ref, rtol=1e-10)
    assert {"snr_db", "v", "n_blades", "flap_hz"} <= set(ds.meta.columns)


def test_class_separability_realistic(small_sim):
    ds = small_sim
    accs = []
    for seed in range(3):
        sp = ds.split(seed, fractions=(0.5, 0.5))
        X, y = ds.X.numpy(), ds.y.numpy()
        accs.append(lognn_accuracy(X[sp.train], y[sp.train], X[sp.test], y[sp.test]))
    acc = float(np.mean(accs))
    assert 0.5 < acc < 0.98, acc  # chance is 1/3


def test_keep_signals_and_pool():
    ds = load_dataset("radar_sim", cache=False, n_per_class=3, length=200, keep_signals=True)
    assert ds.signals.shape == (9, 200) and ds.signals.is_complex()
    rebuilt = ds.pool(ds.signals)
    tr = torch.diagonal(rebuilt, dim1=-2, dim2=-1).sum(-1)
    torch.testing.assert_close(rebuilt + 1e-6 * tr[:, None, None] / 20 * torch.eye(20, dtype=torch.float64), ds.X)


@pytest.mark.parametrize("kw,match", [
    (dict(n_per_class=0), "n_per_class"),
    (dict(length=1), "length"),
    (dict(snr_db=(10, 0)), "low <= high"),
    (dict(snr_db="loud"), "snr_db"),
    (dict(prf=-1.0), "prf"),
])
def test_generator_bad_args(kw, match):
    with pytest.raises(ValueError, match=match):
        simulate_radar(**{"n_per_class": 2, "length": 64, **kw})


def _write_release(root, n=4, length=120):
    s, y, _ = simulate_radar(n, length=length, seed=1)
    root.mkdir(parents=True, exist_ok=True)
    for i, (sig, lab) in enumerate(zip(s, y)):
        np.save(root / f"sample_{i:04d}_{lab}.npy", sig)
    return s, y


def test_radar_release_layout(tmp_path):
    s, y = _write_release(tmp_path / "radar")
    ds = load_radar(tmp_path)  # finds the radar/ sub-folder
    assert ds.X.shape == (12, 20, 20) and ds.classes == ["0", "1", "2"]
    order = np.argsort([f"sample_{i:04d}_{lab}.npy" for i, lab in enumerate(y)])
    np.testing.assert_array_equal(ds.y.numpy(), y[order])
    ref = windowed_covariance(torch.from_numpy(s[order[0]]), 20, 10).numpy()
    np.testing.assert_allclose(ds.X[0].numpy(), ref + 1e-6 * np.trace(ref) / 20 * np.eye(20), rtol=1e-10)
    ds2 = load_dataset("radar", root=tmp_path, cache_dir=tmp_path / "cache")
    torch.testing.assert_close(ds2.X, ds.X)


def test_radar_release_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="radar_sim"):
        load_radar(tmp_path / "missing")
    root = tmp_path / "r"
    _write_release(root, n=1)
    (root / "bad_x.npy").write_bytes(np.zeros(100).tobytes())
    with pytest.raises(ValueError, match="bad_x.npy: cannot parse a label"):
        load_radar(root)
    (root / "bad_x.npy").unlink()
    (root / "trunc_1.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(ValueError, match="trunc_1.npy: unreadable"):
        load_radar(root)
    (root / "trunc_1.npy").unlink()
    np.save(root / "nan_1.npy", np.full(100, np.nan + 0j))
    with pytest.raises(ValueError, match="nan_1.npy: signal contains NaN"):
        load_radar(root)
    (root / "nan_1.npy").unlink()
    np.save(root / "short_1.npy", np.ones(25, complex))
    with pytest.raises(ValueError, match="short_1.npy: signal of length 25"):
        load_radar(root)
    (root / "short_1.npy").unlink()
    np.save(root / "twod_1.npy", np.ones((4, 50)))
    with pytest.raises(ValueError, match="twod_1.npy: expected a 1-D"):
        load_radar(root)
