"""HDM05, AFEW and UEA loaders on tiny fixture files in each original layout, and real data."""

import numpy as np
import pandas as pd
import pytest
import scipy.io
import torch

from spdnas.data import load_afew, load_dataset, load_hdm05, load_uea, read_ts
from spdnas.data.overview import overview
from spdnas.spd.covariance import covariance

# ---------------------------------------------------------------------------------- HDM05


def _spd(rng, n, rank=None):
    a = rng.standard_normal((n, rank or n + 2))
    return a @ a.T


def _write_hdm05(root, rng, n=5):
    (root / "spd").mkdir(parents=True)
    names = []
    for subj in ("bd", "bk", "mm", "tr"):
        for lab, act in ((0, "walk"), (3, "jump")):
            name = f"{subj}_{act}_{len(names):03d}_{lab}.npy"
            np.save(root / "spd" / name, _spd(rng, n, rank=3))
            names.append(name)
    return names


def test_hdm05_release_layout(tmp_path):
    rng = np.random.default_rng(0)
    names = _write_hdm05(tmp_path, rng)
    ds = load_hdm05(tmp_path, ridge=1e-3)
    assert ds.X.shape == (8, 5, 5) and ds.classes == ["walk", "jump"]  # labels 0, 3 -> 0, 1
    assert sorted(ds.meta.file) == sorted(names)
    row = ds.meta.index[ds.meta.file == names[0]][0]
    raw = np.load(tmp_path / "spd" / names[0])
    np.testing.assert_allclose(ds.X[row].numpy(), raw + 1e-3 * np.trace(raw) / 5 * np.eye(5), rtol=1e-12)
    assert set(ds.meta.subject) == {"bd", "bk", "mm", "tr"}
    assert dict(zip(ds.meta.subject, ds.meta.split)) == {"bd": "train", "bk": "train", "mm": "test", "tr": "test"}
    assert set(ds.meta.label_orig) == {0, 3}
    assert torch.linalg.eigvalsh(ds.X).min() > 0  # rank-3 matrices made PD by the ridge
    with pytest.raises(ValueError, match="not positive definite"):
        load_hdm05(tmp_path, ridge=0.0)


@pytest.mark.parametrize("corrupt,match", [
    (lambda p: np.save(p / "spd" / "bd_x_001_1.npy", np.ones((5, 4))), "bd_x_001_1.npy: expected a square"),
    (lambda p: np.save(p / "spd" / "bd_x_001_1.npy", np.triu(np.ones((5, 5)))), "not symmetric"),
    (lambda p: np.save(p / "spd" / "bd_x_001_1.npy", np.full((5, 5), np.inf)), "NaN or Inf"),
    (lambda p: np.save(p / "spd" / "bd_x_001_1.npy", np.eye(6)), "6x6, other files are 5x5"),
    (lambda p: np.save(p / "spd" / "bd_x_001_a.npy", np.eye(5)), "bd_x_001_a.npy: cannot parse a label"),
    (lambda p: np.save(p / "spd" / "bd_x_001_1.npy", -np.eye(5)), "not positive semidefinite"),
    (lambda p: (p / "spd" / "bd_x_001_1.npy").write_bytes(b"\x93NUMPY trunc"), "bd_x_001_1.npy: unreadable"),
])
def test_hdm05_bad_files(tmp_path, corrupt, match):
    _write_hdm05(tmp_path, np.random.default_rng(1))
    corrupt(tmp_path)
    with pytest.raises(ValueError, match=match):
        load_hdm05(tmp_path)


def test_hdm05_missing_and_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="SPDNAS_DATA"):
        load_hdm05(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no HDM05 .npy"):
        load_hdm05(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="trajectories"):
        load_hdm05(tmp_path / "empty", source="trajectories")
    with pytest.raises(ValueError, match="unknown HDM05 source"):
        load_hdm05(tmp_path, source="video")


def _write_traj(root, rng):
    lens = [30, 41, 25]
    x = rng.standard_normal((sum(lens), 6)).astype(np.float32)
    np.savez(root / "trajectories.npz", X=x, offsets=np.concatenate([[0], np.cumsum(lens)]),
             label=np.array([2, 0, 2]), action=np.array(["b", "a", "b"]),
             subject=np.array(["bd", "mm", "dg"]), split=np.array(["train", "test", "train"]))
    return x, lens


def test_hdm05_trajectories(tmp_path):
    rng = np.random.default_rng(2)
    x, lens = _write_traj(tmp_path, rng)
    ds = load_hdm05(tmp_path, source="trajectories", ridge=1e-4, shrinkage="oas")
    seq = x[30:71].astype(np.float64).T
    ref = covariance(torch.from_numpy(seq), shrinkage="oas").numpy()
    ref = ref + 1e-4 * np.trace(ref) / 6 * np.eye(6)
    np.testing.assert_allclose(ds.X[1].numpy(), ref, rtol=1e-12)
    assert ds.classes == ["a", "b"] and ds.y.tolist() == [1, 0, 1]
    assert ds.meta.n_frames.tolist() == lens
    bad = dict(np.load(tmp_path / "trajectories.npz"))
    bad["offsets"] = np.array([0, 30, 20, 96])
    np.savez(tmp_path / "trajectories.npz", **bad)
    with pytest.raises(ValueError, match="offsets must be increasing"):
        load_hdm05(tmp_path, source="trajectories")
    bad.pop("split")
    np.savez(tmp_path / "trajectories.npz", **bad)
    with pytest.raises(ValueError, match=r"missing arrays \['split'\]"):
        load_hdm05(tmp_path, source="trajectories")


def _no_pickle_hint(exc_info):
    msg = str(exc_info.value)
    assert "allow_pickle" not in msg and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("content", [b"garbage, not numpy\n", b"\x80\x04K\x01.", b"PK\x03\x04trunc"])
def test_garbage_trajectories_npz_names_the_file_never_allow_pickle(tmp_path, content):
    """numpy's own message for a non-NumPy (or pickle) file suggests allow_pickle=True."""
    (tmp_path / "trajectories.npz").write_bytes(content)
    with pytest.raises(ValueError) as e:
        load_hdm05(tmp_path, source="trajectories")
    assert str(tmp_path / "trajectories.npz") in _no_pickle_hint(e)


def test_object_arrays_and_pickled_npy_are_refused_by_name(tmp_path):
    rng = np.random.default_rng(3)
    _write_traj(tmp_path, rng)
    arrays = dict(np.load(tmp_path / "trajectories.npz"))
    arrays["action"] = np.array([{"evil": 1}] * len(arrays["action"]), dtype=object)
    np.savez(tmp_path / "trajectories.npz", **arrays)
    with pytest.raises(ValueError, match=r"trajectories.npz: array 'action' holds pickled Python objects") as e:
        load_hdm05(tmp_path, source="trajectories")
    _no_pickle_hint(e)
    names = _write_hdm05(tmp_path / "rel", rng)
    np.save(tmp_path / "rel" / "spd" / names[0], np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=names[0] + ": not a plain .npy array file") as e:
        load_hdm05(tmp_path / "rel")
    _no_pickle_hint(e)


def test_garbage_prepared_and_nas_data_files(tmp_path):
    from spdnas.cli.nas import main as nas_main
    from spdnas.data import load_prepared

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="corrupt prepared dataset") as e:
        load_prepared(bad)
    assert str(bad) in _no_pickle_hint(e)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data: {bad}\n")
    with pytest.raises(ValueError) as e:
        nas_main(["search", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert str(bad) in _no_pickle_hint(e)


def test_hdm05_real_subset(shared_data):
    ds = load_dataset("hdm05", cache=False)
    assert len(ds) == 287 and len(ds.classes) == 11 and ds.X.shape[1:] == (93, 93)
    assert ds.meta.subject.nunique() == 5
    sp = ds.split(0, by="official", fractions=(0.75, 0.25))  # no val requested
    assert (sp.train.size, sp.val.size, sp.test.size) == (188, 0, 99)
    assert set(ds.meta.subject.iloc[sp.test]) == {"mm", "tr"}
    assert set(ds.meta.subject.iloc[sp.train]) == {"bd", "bk", "dg"}
    traj = load_dataset("hdm05", cache=False, source="trajectories")
    key = ["subject", "action"]
    assert sorted(map(tuple, traj.meta[key].to_numpy())) == sorted(map(tuple, ds.meta[key].to_numpy()))
    ov = overview(ds, seed=0, mdm=False)
    assert ov["split"] == "official" and ov["lognn_acc"] > 0.5  # chance ~0.16


# ---------------------------------------------------------------------------------- AFEW


def _write_afew(root, rng, n=6, clip_format="5"):
    clips = root / "spdface_400_inter_histeq"
    names, labels, sets = [], [], []
    for i in range(6):
        lab = i % 3 + 1
        rel = f"train\\{lab}\\{i}_1.mat" if i < 4 else f"val\\{lab}\\{i}_1.mat"
        path = clips / rel.replace("\\", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(path, {"Y1": _spd(rng, n)}, format=clip_format)
        names.append(rel)
        labels.append(lab)
        sets.append(1 if i < 4 else 2)
    spd = {"name": np.array(names, dtype=object), "label": np.array(labels, float),
           "set": np.array(sets, float)}
    scipy.io.savemat(root / "spddb_afew_train_spd400_int_histeq.mat",
                     {"spd_train": {"spdDir": "D:\\data\\spdface_400_inter_histeq", "spd": spd}})
    return names, labels


@pytest.mark.parametrize("clip_format", ["5", "4"])
def test_afew_release_layout(tmp_path, clip_format):
    rng = np.random.default_rng(3)
    names, labels = _write_afew(tmp_path, rng, clip_format=clip_format)
    ds = load_afew(tmp_path)
    assert ds.X.shape == (6, 6, 6) and ds.classes[:3] == ["Angry", "Disgust", "Fear"]
    assert ds.y.tolist() == [lab - 1 for lab in labels]
    assert ds.meta.split.tolist() == ["train"] * 4 + ["test"] * 2
    ref = scipy.io.loadmat(tmp_path / "spdface_400_inter_histeq" / "train" / "1" / "0_1.mat")["Y1"]
    np.testing.assert_allclose(ds.X[0].numpy(), ref, rtol=1e-12)
    sp = ds.split(0, by="official", fractions=(0.75, 0.25))
    assert sp.test.tolist() == [4, 5]


def test_afew_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="EmotiW"):
        load_afew(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="spddb_afew"):
        load_afew(tmp_path / "empty")
    rng = np.random.default_rng(4)
    _write_afew(tmp_path, rng)
    clip = tmp_path / "spdface_400_inter_histeq" / "train" / "2" / "1_1.mat"
    scipy.io.savemat(clip, {"Y1": np.triu(np.ones((6, 6)))})
    with pytest.raises(ValueError, match="1_1.mat: matrix is not symmetric"):
        load_afew(tmp_path)
    clip.write_bytes(b"MATLAB 5.0 truncated")
    with pytest.raises(ValueError, match="1_1.mat: unreadable MAT"):
        load_afew(tmp_path)
    clip.unlink()
    with pytest.raises(FileNotFoundError, match="1_1.mat"):
        load_afew(tmp_path)
    scipy.io.savemat(tmp_path / "spddb_afew_train_spd400_int_histeq.mat", {"other": np.eye(2), "x": 1})
    with pytest.raises(ValueError, match="spd_train"):
        load_afew(tmp_path)


# ---------------------------------------------------------------------------------- UEA .ts

_TS = """#comment
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3,4:0,1,0,2:up
2,1,0,-1,-2:0,0,1,1,0:down
5,3,1:1,2,4:up
0,1,1,0:3,1,2,2:down
"""


def _write_ts(root, text_train=_TS, text_test=_TS):
    (root / "Tiny").mkdir(parents=True, exist_ok=True)
    (root / "Tiny" / "Tiny_TRAIN.ts").write_text(text_train)
    (root / "Tiny" / "Tiny_TEST.ts").write_text(text_test)


def test_ts_parser_and_loader(tmp_path):
    _write_ts(tmp_path)
    series, labels, header = read_ts(tmp_path / "Tiny" / "Tiny_TRAIN.ts")
    assert labels == ["up", "down", "up", "down"] and header["classlabel"] == ["up", "down"]
    assert [s.shape for s in series] == [(2, 4), (2, 5), (2, 3), (2, 4)]
    np.testing.assert_array_equal(series[1][0], [2, 1, 0, -1, -2])
    ds = load_uea("Tiny", root=tmp_path, shrinkage=0.0, ridge=0.1)
    assert ds.X.shape == (8, 2, 2) and ds.classes == ["up", "down"]
    ref = np.cov(series[2])
    np.testing.assert_allclose(ds.X[2].numpy(), ref + 0.1 * np.trace(ref) / 2 * np.eye(2), rtol=1e-12)
    assert ds.meta.split.tolist() == ["train"] * 4 + ["test"] * 4


@pytest.mark.parametrize("text,match", [
    (_TS.replace("1,2,3,4:0,1,0,2:up", "1,2,x,4:0,1,0,2:up"), "unparsable number"),
    (_TS.replace("1,2,3,4:0,1,0,2:up", "1,2,3,4:0,1,0,2:left"), "'left' is not among"),
    (_TS.replace("1,2,3,4:0,1,0,2:up", "1,2,3,4:0,1:up"), "different lengths"),
    (_TS.replace("1,2,3,4:0,1,0,2:up", "1,2,3,4:up"), "1 channels, header declares 2"),
    (_TS.split("@data")[0], "no @data section"),
    (_TS.replace("@timeStamps false", "@timeStamps maybe"), "expected true/false"),
    ("garbage line\n", "expected a @header"),
])
def test_ts_bad_files(tmp_path, text, match):
    path = tmp_path / "x.ts"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_ts(path)


def test_uea_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="Tiny_TRAIN.ts"):
        load_uea("Tiny", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_uea("Tiny", root=tmp_path / "nope")
    _write_ts(tmp_path, text_test=_TS.replace("0,1,1,0:3,1,2,2:down", "?,1,1,0:3,1,2,2:down"))
    with pytest.raises(ValueError, match="missing values"):
        load_uea("Tiny", root=tmp_path)


def test_bundled_uea_datasets():
    bm = load_dataset("basicmotions", cache=False)
    assert bm.X.shape == (80, 6, 6) and len(bm.classes) == 4
    assert bm.meta.split.value_counts().to_dict() == {"train": 40, "test": 40}
    jv = load_dataset("japanesevowels", cache=False)
    assert jv.X.shape == (640, 12, 12) and len(jv.classes) == 9
    assert jv.meta.split.value_counts().to_dict() == {"test": 370, "train": 270}
    assert jv.meta.length.min() == 7 and jv.meta.length.max() == 29  # unequal lengths
    assert torch.linalg.eigvalsh(jv.X).min() > 0
    ov = overview(bm, seed=0)
    assert ov["split"] == "official" and ov["lognn_acc"] >= 0.9 and ov["mdm_acc"] >= 0.9
