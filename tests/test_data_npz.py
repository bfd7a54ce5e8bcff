"""Bring your own data: ``load_dataset("npz", path=...)`` on tiny generated files, and its bad inputs."""

import os
import re

import numpy as np
import pytest

from spdnas.cli.data import main as data_main
from spdnas.data import dataset_options, list_datasets, load_dataset, stratified_split
from spdnas.data.npz import load_npz


def _spd(rng, n_mats, n, rank=None):
    a = rng.standard_normal((n_mats, n, rank or n + 3))
    return a @ np.swapaxes(a, 1, 2)


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def _basic(rng, n_per=6, n=4):
    labels = np.repeat(np.array(["eel", "cat", "dog"]), n_per)
    return _spd(rng, labels.size, n), labels


def test_npz_is_registered_with_its_options(capsys):
    assert "npz" in list_datasets()
    assert dataset_options("npz") == {"path": None, "ridge": 0.0}
    assert data_main(["list"]) == 0
    out = capsys.readouterr().out
    line = out[out.index("npz:"):].splitlines()
    assert ".npz" in line[0] and "'path': None" in line[1] and "'ridge': 0.0" in line[1]


def test_loads_values_and_encodes_string_labels(tmp_path):
    rng = np.random.default_rng(0)
    X, labels = _basic(rng)
    path = _write(tmp_path / "mine.npz", X=X.astype(np.float32), y=labels)
    ds = load_dataset("npz", path=path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(ds.X.numpy(), X.astype(np.float32).astype(np.float64))
    assert ds.classes == ["cat", "dog", "eel"]
    np.testing.assert_array_equal(np.array(ds.classes)[ds.y.numpy()], labels)
    assert ds.info["n"] == 4 and ds.info["num_classes"] == 3 and ds.info["path"] == str(path.resolve())
    np.testing.assert_array_equal(ds.meta["index"], np.arange(labels.size))
    # no split / groups: the stratified 50/25/25 split, per class 3/1.5/1.5 -> 3+2+1 or 3+1+2
    sp = ds.split(seed=0)
    assert sorted(np.concatenate(sp)) == list(range(labels.size))
    for part in sp:
        assert set(ds.y.numpy()[part]) == {0, 1, 2}


def test_integer_labels_keep_their_values_as_names(tmp_path):
    rng = np.random.default_rng(1)
    y = np.array([7, 3, 3, 7, 3, 7, 11, 11, 11])
    ds = load_npz(_write(tmp_path / "a.npz", X=_spd(rng, 9, 3), y=y))
    assert ds.classes == ["3", "7", "11"]
    np.testing.assert_array_equal(ds.y.numpy(), np.searchsorted([3, 7, 11], y))


def test_split_column_is_the_split(tmp_path):
    rng = np.random.default_rng(2)
    X, labels = _basic(rng, n_per=8)
    split = np.tile(np.array(["train", "train", "TRAIN", "train", "val", "valid", "test", "test"]), 3)
    ds = load_dataset("npz", path=_write(tmp_path / "s.npz", X=X, y=labels, split=split), cache=False)
    want = {"train": np.nonzero(np.char.lower(split) == "train")[0],
            "val": np.nonzero(np.isin(split, ["val", "valid"]))[0], "test": np.nonzero(split == "test")[0]}
    for seed in (0, 5):
        sp = ds.split(seed=seed)
        for part in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(sp, part), want[part])
    assert ds.has_official_split and ds.info["split_by"] == "official"
    # an explicit stratified split is still available
    assert not np.array_equal(ds.split(seed=0, by="stratified").test, want["test"])


def test_split_without_val_rows_carves_val_from_train(tmp_path):
    rng = np.random.default_rng(3)
    X, labels = _basic(rng, n_per=8)
    split = np.tile(np.array(["train"] * 6 + ["test"] * 2), 3)
    ds = load_npz(_write(tmp_path / "s.npz", X=X, y=labels, split=split))
    sp = ds.split(seed=0)
    np.testing.assert_array_equal(sp.test, np.nonzero(split == "test")[0])
    assert sp.val.size == 6 and set(split[np.concatenate([sp.train, sp.val])]) == {"train"}


def test_groups_never_straddle_parts(tmp_path):
    rng = np.random.default_rng(4)
    X, labels = _basic(rng, n_per=8)
    groups = np.tile(np.array(["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"]), 3)
    ds = load_dataset("npz", path=_write(tmp_path / "g.npz", X=X, y=labels, groups=groups), cache_dir=tmp_path)
    assert ds.info["split_by"] == "group"
    for seed in range(4):
        sp = ds.split(seed=seed)
        sets = [set(groups[p]) for p in sp]
        assert all(sets) and not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        assert sorted(np.concatenate(sp)) == list(range(labels.size))
    few = _write(tmp_path / "few.npz", X=X, y=labels, groups=np.tile(np.array([1, 1, 1, 1, 2, 2, 2, 2]), 3))
    with pytest.raises(ValueError, match=r"few\.npz: cannot split 2 group\(s\) into 3"):
        load_npz(few).split()


def test_ridge_repairs_rank_deficient_matrices_by_exactly_ridge_tr_over_n(tmp_path):
    rng = np.random.default_rng(5)
    X, labels = _basic(rng, n=5)
    X[2] = _spd(rng, 1, 5, rank=3)[0]
    X[4] = _spd(rng, 1, 5, rank=2)[0]
    path = _write(tmp_path / "rank.npz", X=X, y=labels)
    lam = np.linalg.eigvalsh(X[2])[0]
    with pytest.raises(ValueError, match=r"rank\.npz: X\[2\] is not positive definite") as err:
        load_dataset("npz", path=path, cache_dir=tmp_path)
    msg = str(err.value)
    assert "smallest eigenvalue" in msg and f"{lam:.3e}" in msg and "ridge=" in msg and "2 of 18" in msg
    ds = load_dataset("npz", path=path, ridge=1e-3, cache_dir=tmp_path)
    added = ds.X.numpy() - X
    want = 1e-3 * np.trace(X, axis1=1, axis2=2)[:, None, None] / 5 * np.eye(5)
    np.testing.assert_allclose(added, want, rtol=1e-9, atol=1e-15 * np.abs(X).max())
    assert (np.linalg.eigvalsh(ds.X.numpy())[:, 0] > 0).all() and ds.info["ridge"] == 1e-3
    assert load_npz(path, ridge="1e-3").info["ridge"] == 1e-3  # a YAML-ish string from --option


def test_changed_file_is_not_served_from_the_cache(tmp_path):
    rng = np.random.default_rng(6)
    X, labels = _basic(rng)
    path = _write(tmp_path / "c.npz", X=X, y=labels)
    first = load_dataset("npz", path=path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(load_dataset("npz", path=path, cache_dir=tmp_path / "cache").X, first.X)
    X2 = 2.0 * X
    _write(path, X=X2, y=labels)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = load_dataset("npz", path=path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.X.numpy(), X2)
    assert len(list((tmp_path / "cache").glob("npz-*.npz"))) == 2


def test_too_few_samples_per_class_names_the_class_and_counts(tmp_path):
    rng = np.random.default_rng(7)
    labels = np.array(["a"] * 6 + ["b"] * 2 + ["c"] * 5 + ["d"])
    ds = load_npz(_write(tmp_path / "few.npz", X=_spd(rng, labels.size, 3), y=labels))
    with pytest.raises(ValueError, match=r"few\.npz: too few samples per class") as err:
        ds.split()
    msg = str(err.value)
    assert "class 'b' has 2" in msg and "class 'd' has 1" in msg and "at least 3" in msg and "'a'" not in msg
    with pytest.raises(ValueError, match="at least 2 per class") as err:  # 2 parts: only 'd' is short
        ds.split(fractions=(0.5, 0.5))
    assert "class 'd' has 1" in str(err.value) and "'b'" not in str(err.value)
    # the split function itself names the label value without class names
    with pytest.raises(ValueError, match="class 4 has 1"):
        stratified_split(np.array([0, 0, 0, 4]), 0)


def test_too_few_train_rows_to_carve_val_is_explained(tmp_path):
    rng = np.random.default_rng(8)
    labels = np.array(["a"] * 4 + ["b"] * 4)
    split = np.array(["train", "train", "train", "test", "train", "test", "test", "test"])
    ds = load_npz(_write(tmp_path / "carve.npz", X=_spd(rng, 8, 3), y=labels, split=split))
    with pytest.raises(ValueError, match=r"no val rows; carving them from train: .*class 'b' has 1"):
        ds.split()


def _bad_cases(tmp_path, rng):
    X, labels = _basic(rng)
    n = labels.size
    nan = X.copy()
    nan[5, 1, 2] = np.nan
    inf = X.copy()
    inf[3, 0, 0] = np.inf
    asym = X.copy()
    asym[4, 0, 1] += 1.0
    text = tmp_path / "text.npz"
    text.write_text("X,y\n1,2\n")
    npy = tmp_path / "one.npy"
    np.save(npy, X)
    return [
        (dict(X=X), r"missing arrays \['y'\]"),
        (dict(y=labels), r"missing arrays \['X'\]"),
        (dict(X=X[0], y=labels), r"X must be 3-D \(N, n, n\), got shape \(4, 4\)"),
        (dict(X=X[:, :, :3], y=labels), r"X must hold square matrices"),
        (dict(X=X[:0], y=labels[:0]), r"X is empty"),
        (dict(X=X, y=labels[:-1]), rf"y has {n - 1} entries but X holds {n} matrices"),
        (dict(X=X, y=labels[:, None]), r"y must be 1-D"),
        (dict(X=X, y=np.full(n, 0.5)), r"y\[0\] = .* is not an integer"),
        (dict(X=X, y=np.array(["a"] * n)), r"single class"),
        (dict(X=X, y=labels, split=np.array(["train"] * (n - 1))), rf"split has {n - 1} entries"),
        (dict(X=X, y=labels, split=np.array(["train", "test", "holdout"] * (n // 3))),
         r"split has unknown values \['holdout'\] \(use train, val, test\)"),
        (dict(X=X, y=labels, split=np.array(["train", "val"] * (n // 2))), r"split has no test rows"),
        (dict(X=X, y=labels, groups=np.arange(n + 2)), rf"groups has {n + 2} entries"),
        (dict(X=nan, y=labels), r"X\[5\] contains NaN or Inf"),
        (dict(X=inf, y=labels), r"X\[3\] contains NaN or Inf"),
        (dict(X=asym, y=labels), r"X \(matrix 4\): matrix is not symmetric"),
        (dict(X=X + 0j, y=labels), r"X must hold real numbers"),
        (dict(X=X, y=labels.astype(object)), r"array 'y' holds pickled Python objects"),
        (text, r"text\.npz: not a plain \.npz array file"),
        (npy, r"one\.npy: a single \.npy array, expected a \.npz archive"),
    ]


def test_bad_files_raise_value_errors_naming_the_file_and_the_problem(tmp_path):
    rng = np.random.default_rng(9)
    for i, (case, pattern) in enumerate(_bad_cases(tmp_path, rng)):
        path = case if not isinstance(case, dict) else tmp_path / f"bad{i}.npz"
        if isinstance(case, dict):
            np.savez(path, **case)
        with pytest.raises(ValueError) as err:
            load_dataset("npz", path=path, cache_dir=tmp_path / "cache")
        msg = str(err.value)
        assert str(path.resolve()) in msg, msg
        assert re.search(pattern, msg), (pattern, msg)


def test_bad_options(tmp_path):
    rng = np.random.default_rng(10)
    X, labels = _basic(rng)
    path = _write(tmp_path / "ok.npz", X=X, y=labels)
    with pytest.raises(FileNotFoundError, match="file not found: .*missing.npz"):
        load_npz(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"needs path="):
        load_dataset("npz", cache=False)
    for ridge in (-1e-3, float("nan"), "lots"):
        with pytest.raises(ValueError, match="ridge must be a finite non-negative number"):
            load_npz(path, ridge=ridge)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['shrinkage'\]"):
        load_dataset("npz", path=path, shrinkage=0.1)
