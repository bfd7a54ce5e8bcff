"""SPDDataset, splits, registry and the prepared-data cache."""

import numpy as np
import pandas as pd
import pytest
import torch

from spdnas.data import (
    SPDDataset,
    cache_path,
    list_datasets,
    load_dataset,
    load_prepared,
    prepare_dataset,
    register_dataset,
    save_prepared,
)
from spdnas.cli import main as spdnas_main
from spdnas.data.base import check_square_symmetric, label_from_filename, regularise
from spdnas.data.overview import lognn_accuracy, mdm_accuracy, overview


def cli_main(argv):
    """``spdnas data ...``"""
    return spdnas_main(["data", *argv])


def _toy(n_per_class=12, n=3, seed=0, subjects=("a", "b", "c", "d")):
    rng = np.random.default_rng(seed)
    X, y, subj = [], [], []
    for c in range(3):
        for i in range(n_per_class):
            a = rng.standard_normal((n, n + 4)) + c * np.eye(n, n + 4)
            X.append(a @ a.T / (n + 4) + 0.1 * np.eye(n))
            y.append(c)
            subj.append(subjects[i % len(subjects)])
    meta = pd.DataFrame({"subject": subj, "split": ["test" if s == "d" else "train" for s in subj]})
    return SPDDataset("toy", np.stack(X), np.array(y), ["a", "b", "c"], meta)


def test_dataset_container_and_info():
    ds = _toy()
    assert ds.X.dtype == torch.float64 and ds.y.dtype == torch.int64
    assert ds.info == {"name": "toy", "n": 3, "num_classes": 3, "n_samples": 36}
    assert ds.spd is ds.X and len(ds) == 36
    assert ds.class_counts() == {"a": 12, "b": 12, "c": 12}
    sub = ds.subset(np.arange(5))
    assert len(sub) == 5 and len(sub.meta) == 5 and sub.info["n_samples"] == 5
    with pytest.raises(ValueError, match="labels must lie"):
        SPDDataset("bad", ds.X, ds.y + 5, ds.classes, ds.meta)
    with pytest.raises(ValueError, match="meta has"):
        SPDDataset("bad", ds.X, ds.y, ds.classes, ds.meta.iloc[:3])
    with pytest.raises(ValueError, match=r"\(N, n, n\)"):
        SPDDataset("bad", ds.X[:, :2], ds.y, ds.classes, ds.meta)


def test_stratified_split_reproducible_disjoint_and_balanced():
    ds = _toy()
    a, b = ds.split(seed=3), ds.split(seed=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(ds.split(seed=4).train, a.train)
    allidx = np.concatenate(a)
    assert np.array_equal(np.sort(allidx), np.arange(36))
    for part, frac in zip(a, (0.5, 0.25, 0.25)):
        counts = np.bincount(ds.y.numpy()[part], minlength=3)
        assert (counts == 12 * frac).all()
    two = ds.split(seed=0, fractions=(0.75, 0.25))
    assert two.val.size == 0 and two.train.size == 27


def test_group_and_official_splits():
    ds = _toy()
    sp = ds.split(seed=1, by="subject")
    groups = [set(ds.meta.subject.iloc[p]) for p in sp]
    assert all(groups) and not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    off = ds.split(seed=0, by="official")
    assert set(ds.meta.split.iloc[off.test]) == {"test"}
    assert set(ds.meta.split.iloc[np.concatenate([off.train, off.val])]) == {"train"}
    assert off.val.size > 0 and ds.has_official_split
    with pytest.raises(ValueError, match="not a meta column"):
        ds.split(by="session")
    with pytest.raises(ValueError, match="sum to 1"):
        ds.split(fractions=(0.5, 0.6, 0.1))
    small = ds.subset(np.nonzero(ds.meta.subject.isin(["a", "b"]).to_numpy())[0])
    with pytest.raises(ValueError, match="cannot split 2 group"):
        small.split(by="subject")
    assert small.split(by="subject", fractions=(0.5, 0.5)).val.size == 0
    no_official = SPDDataset("t", ds.X, ds.y, ds.classes, ds.meta.drop(columns="split"))
    with pytest.raises(ValueError, match="no official split"):
        no_official.split(by="official")


def test_validation_helpers():
    a = np.array([[2.0, 1.0], [1.0 + 1e-3, 2.0]])
    with pytest.raises(ValueError, match="not symmetric"):
        check_square_symmetric(a, "m.npy")
    with pytest.raises(ValueError, match="NaN"):
        check_square_symmetric(np.full((2, 2), np.nan), "m.npy")
    with pytest.raises(ValueError, match="square"):
        check_square_symmetric(np.ones((2, 3)), "m.npy")
    with pytest.raises(ValueError, match="not an integer"):
        label_from_filename("bd_walk_x.npy")
    assert label_from_filename("bd_walk_01_7.npy") == 7
    s = np.diag([4.0, 0.0])
    np.testing.assert_allclose(regularise(s, ridge=0.5), np.diag([5.0, 1.0]))
    np.testing.assert_allclose(regularise(s, shrinkage=1.0), 2 * np.eye(2))


def test_baselines_against_sklearn_and_pyriemann():
    from pyriemann.classification import MDM
    from scipy.linalg import logm
    from sklearn.neighbors import KNeighborsClassifier

    ds = _toy(n_per_class=10)
    sp = ds.split(seed=0, fractions=(0.6, 0.4))
    X, y = ds.X.numpy(), ds.y.numpy()
    feats = np.stack([logm(m).real.ravel() for m in X])  # Frobenius = our sqrt(2)-weighted upper
    knn = KNeighborsClassifier(1).fit(feats[sp.train], y[sp.train])
    ref = float(np.mean(knn.predict(feats[sp.test]) == y[sp.test]))
    assert lognn_accuracy(X[sp.train], y[sp.train], X[sp.test], y[sp.test]) == pytest.approx(ref)
    ref_mdm = np.mean(MDM(metric="riemann").fit(X[sp.train], y[sp.train]).predict(X[sp.test]) == y[sp.test])
    assert mdm_accuracy(X[sp.train], y[sp.train], X[sp.test], y[sp.test]) == pytest.approx(ref_mdm)
    ov = overview(ds, seed=0)
    assert ov["split"] == "official" and ov["n_test"] == 6 and ov["matrix_size"] == 3
    assert ov["cond_min"] <= ov["cond_median"] <= ov["cond_max"] and 0 <= ov["mdm_acc"] <= 1


@pytest.fixture
def toy_registered():
    calls = []

    def load_toy(n_per_class: int = 6, seed: int = 0, fail: bool = False, progress: bool = False):
        """Toy dataset for cache tests."""
        calls.append((n_per_class, seed))
        if fail:
            raise ValueError("simulated failure while building")
        return _toy(n_per_class, seed=seed)

    register_dataset("toy_cache_test", load_toy, overwrite=True)
    yield calls


def test_registry_and_cache_roundtrip(tmp_path, toy_registered):
    assert "toy_cache_test" in list_datasets() and "radar_sim" in list_datasets()
    ds = load_dataset("toy_cache_test", cache_dir=tmp_path, n_per_class=4)
    path = cache_path("toy_cache_test", tmp_path, n_per_class=4)
    assert path.exists() and path.name.startswith("toy_cache_test-")
    # explicit defaults hash the same; other options differ
    assert cache_path("toy_cache_test", tmp_path, n_per_class=4, seed=0) == path
    assert cache_path("toy_cache_test", tmp_path, n_per_class=5) != path
    again = load_dataset("toy_cache_test", cache_dir=tmp_path, n_per_class=4)
    assert len(toy_registered) == 1  # second call served from the cache
    torch.testing.assert_close(again.X, ds.X)
    pd.testing.assert_frame_equal(again.meta, ds.meta)
    assert again.classes == ds.classes and again.info["options"]["n_per_class"] == 4
    with pytest.raises(ValueError, match="unknown option"):
        load_dataset("toy_cache_test", cache_dir=tmp_path, bogus=1)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("toy_cache_test", lambda: None)


def test_corrupt_cache_rebuilt_and_failures_leave_nothing(tmp_path, toy_registered):
    path = cache_path("toy_cache_test", tmp_path)
    load_dataset("toy_cache_test", cache_dir=tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(ValueError, match="corrupt"):
        load_prepared(path)
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        ds = load_dataset("toy_cache_test", cache_dir=tmp_path)
    assert len(ds) == 18 and len(toy_registered) == 2
    load_prepared(path)  # valid again
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_prepared(path)
    with pytest.raises(ValueError, match="simulated failure"):
        load_dataset("toy_cache_test", cache_dir=tmp_path / "fresh", fail=True)
    assert not (tmp_path / "fresh").exists() or not any((tmp_path / "fresh").iterdir())
    with pytest.raises(FileNotFoundError):
        load_prepared(tmp_path / "missing.npz")


def test_prepare_and_cli(tmp_path, toy_registered, capsys):
    out = prepare_dataset("toy_cache_test", tmp_path / "out.npz", cache_dir=tmp_path, n_per_class=3)
    ds = load_prepared(out)
    assert len(ds) == 9
    rc = cli_main(["prepare", "toy_cache_test", "--out", str(tmp_path / "cli.npz"),
                   "--option", "n_per_class=2", "--option", "seed=5", "--no-progress"])
    assert rc == 0 and len(load_prepared(tmp_path / "cli.npz")) == 6
    assert toy_registered[-1] == (2, 5)
    assert cli_main(["prepare", "toy_cache_test", "--out", str(tmp_path / "x.npz"), "-o", "zzz=1"]) == 2
    assert "unknown option" in capsys.readouterr().err
    assert cli_main(["prepare", "toy_cache_test", "-o", "novalue"]) == 2
    assert cli_main(["list"]) == 0 and "radar_sim" in capsys.readouterr().out


def test_save_prepared_keeps_signals_and_pool(tmp_path):
    from spdnas.spd.covariance import WindowedCovPool

    sig = torch.randn(3, 60, dtype=torch.complex128)
    X = WindowedCovPool(20, 10)(sig) + 1e-3 * torch.eye(20)
    ds = SPDDataset("sig", X, torch.tensor([0, 1, 1]), ["a", "b"], pd.DataFrame({"i": [0, 1, 2]}),
                    {"pool": {"kind": "windowed", "window": 20, "hop": 10}}, signals=sig)
    back = load_prepared(save_prepared(ds, tmp_path / "s.npz"))
    torch.testing.assert_close(back.signals, sig)
    assert isinstance(back.pool, WindowedCovPool)
    torch.testing.assert_close(back.pool(back.signals) + 1e-3 * torch.eye(20), back.X)
