"""The study on your own data (`python -m spdnas.experiments run --dataset PATH.npz --out DIR`) end to end on
a tiny file with a tiny config, its resumption, and its bad inputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import eigh
from sklearn.neighbors import KNeighborsClassifier

from spdnas.cli import main as cli_main
from spdnas.data import load_dataset
from spdnas.experiments import run_search_stage, stage_config
from spdnas.experiments.config import FLOOR_METHODS
from spdnas.experiments.study import STUDY_METHODS, main as study_main, markdown_table, study_params

ROOT = Path(__file__).resolve().parents[1]
TINY = {"exp_search": {"epochs": 1, "max_steps": 1, "batch_size": 6, "order": 1, "split_seed": 0,
                       "fractions": [0.5, 0.25, 0.25]},
        "exp_train": {"epochs": 2, "batch_size": 6}}


def _tiny_npz(path, n_per=12, n=4, seed=0):
    """Three classes of SPD matrices with class-dependent spectra (floors well above chance)."""
    rng = np.random.default_rng(seed)
    mats, labels = [], []
    for k, name in enumerate(("alpha", "beta", "gamma")):
        scale = np.ones(n)
        scale[k] = 4.0
        for _ in range(n_per):
            a = rng.standard_normal((n, 3 * n)) * np.sqrt(scale)[:, None]
            mats.append(a @ a.T / (3 * n))
            labels.append(name)
    np.savez(path, X=np.stack(mats), y=np.array(labels))
    return path


def _config(tmp_path):
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps(TINY))
    return p


def _run(tmp_path, data, out, *extra):
    return study_main(["run", "--dataset", str(data), "--out", str(out), "--config", str(_config(tmp_path)),
                       "--profile", "smoke", *extra])


def _logm(x):
    w, v = eigh(x)
    return (v * np.log(w)) @ v.T


@pytest.fixture(scope="module", autouse=True)
def prepared_cache(tmp_path_factory):
    """The prepared-data cache of these studies in a temporary folder (not the repo's data/prepared)."""
    cache = tmp_path_factory.mktemp("prepared")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("spdnas.data.registry._default_cache_dir", lambda: cache)
        yield cache


@pytest.fixture(scope="module")
def study(tmp_path_factory, prepared_cache):
    tmp = tmp_path_factory.mktemp("study")
    data = _tiny_npz(tmp / "mine.npz")
    out = tmp / "out"
    assert _run(tmp, data, out, "--no-progress") == 0
    return tmp, data, out


def test_study_writes_the_table_the_figure_and_the_stage_folders(study):
    _, data, out = study
    for f in ("results.csv", "results.md", "cells.png", "cells.pdf", "study.json", "search/plan.json",
              "train/plan.json"):
        assert (out / f).is_file(), f
    table = pd.read_csv(out / "results.csv")
    assert list(table["method"]) == list(FLOOR_METHODS) + list(STUDY_METHODS)
    assert (table["status"] == "ok").all(), table
    assert list(table["runs"]) == [1, 1, 1, 3, 3, 3]
    info = json.loads((out / "study.json").read_text())
    assert info["dataset"] == str(data.resolve()) and info["seeds"] == [0, 1, 2] and info["n"] == 4
    assert info["split_sizes"] == {"train": 18, "val": 9, "test": 9} and info["classes"] == ["alpha", "beta", "gamma"]
    md = (out / "results.md").read_text()
    for m in (*FLOOR_METHODS, *STUDY_METHODS):
        assert f"| {m} |" in md
    assert "validation-selected" in md and "mine.npz" in md


def test_network_rows_are_the_mean_and_std_of_the_seed_records(study):
    _, _, out = study
    table = pd.read_csv(out / "results.csv").set_index("method")
    recs = pd.DataFrame(json.loads((out / "train" / "plan.json").read_text())["records"])
    for m in STUDY_METHODS:
        r = recs[(recs["method"] == m) & (recs["status"] == "ok")]
        assert sorted(r["seed"]) == [0, 1, 2]
        for col in ("test_acc", "val_acc"):
            v = 100 * r[col].to_numpy(float)
            assert table.loc[m, f"{col}_mean"] == pytest.approx(v.mean(), abs=1e-9)
            assert table.loc[m, f"{col}_std"] == pytest.approx(v.std(ddof=1), abs=1e-9)


def test_the_1nn_floor_is_fitted_on_the_networks_split(study):
    _, data, out = study
    ds = load_dataset("npz", path=data, cache=False)
    sp = ds.split(TINY["exp_search"]["split_seed"], tuple(TINY["exp_search"]["fractions"]))
    feats = np.stack([_logm(x) for x in ds.X.numpy()]).reshape(len(ds), -1)
    y = ds.y.numpy()
    knn = KNeighborsClassifier(1).fit(feats[sp.train], y[sp.train])
    table = pd.read_csv(out / "results.csv").set_index("method")
    assert table.loc["log-Euclidean 1-NN", "test_acc_mean"] == pytest.approx(100 * knn.score(feats[sp.test], y[sp.test]))
    assert table.loc["log-Euclidean 1-NN", "val_acc_mean"] == pytest.approx(100 * knn.score(feats[sp.val], y[sp.val]))


def test_a_rerun_resumes_and_a_changed_file_is_refused(study, tmp_path):
    tmp, data, out = study
    recs = sorted((out / "train").rglob("record.json"))
    before = {p: p.read_text() for p in recs}
    assert _run(tmp, data, out, "--no-progress") == 0
    assert {p: p.read_text() for p in recs} == before  # nothing retrained
    other = _tiny_npz(tmp_path / "mine.npz", seed=1)
    with pytest.raises(ValueError, match="other contents"):
        study_main(["run", "--dataset", str(other), "--out", str(out), "--no-progress"])


def test_an_interrupted_study_is_not_resumed_on_a_changed_file(tmp_path, monkeypatch):
    data = _tiny_npz(tmp_path / "d.npz")

    def killed(search_p, train_p, search_out, train_out, shared, **kwargs):  # the searches finish, then ^C
        run_search_stage(search_p, search_out, shared, progress=False, data_options=kwargs["data_options"])
        raise KeyboardInterrupt

    monkeypatch.setattr("spdnas.experiments.study.run_search_and_train", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, data, tmp_path / "out", "--no-progress")
    assert (tmp_path / "out" / "search" / "plan.json").is_file()
    _tiny_npz(data, seed=2)
    with pytest.raises(ValueError, match="other contents"):
        _run(tmp_path, data, tmp_path / "out", "--no-progress")


def test_progress_bar_counts_every_unit_with_an_eta(tmp_path, capsys):
    data = _tiny_npz(tmp_path / "p.npz")
    assert _run(tmp_path, data, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "11/11 [" in err and "<" in err  # 1 search + 3 methods x 3 seeds + the floors, elapsed<remaining


def test_study_params_take_the_profile_and_need_three_seeds(tmp_path):
    search, train = study_params(tmp_path / "x.npz", "smoke")
    assert search["datasets"] == ["npz"] and search["ablation_datasets"] == [] and search["overrides"] == {}
    assert stage_config("search", search)["epochs"] == 1  # the smoke profile's exp_search
    assert train["methods"] == list(STUDY_METHODS) and train["seeds"] == [0, 1, 2]
    assert study_params(tmp_path / "x.npz", "smoke", seeds=[4, 5, 6])[1]["seeds"] == [4, 5, 6]
    with pytest.raises(ValueError, match="at least 3 distinct seeds"):
        study_params(tmp_path / "x.npz", "smoke", seeds=[0, 0, 1])
    with pytest.raises(ValueError, match=r"unknown sections \['exp_typo'\]"):
        study_params(tmp_path / "x.npz", "smoke", config={"exp_typo": {}})


def test_search_stage_on_a_user_dataset(tmp_path):
    cfg = {**TINY["exp_search"], "datasets": ["npz"], "ablation_datasets": []}
    with pytest.raises(ValueError, match=r"data_options: 'hdm05' .* is not a search dataset"):
        run_search_stage(cfg, tmp_path / "s", progress=False, data_options={"hdm05": {}})
    recs = run_search_stage(cfg, tmp_path / "s", progress=False)  # no path: a not-run row naming the problem
    assert recs[0]["status"].startswith("not run") and "needs path=" in recs[0]["status"]


@pytest.mark.parametrize("case, words", [
    ("missing", "file not found"),
    ("no_y", "missing arrays ['y']"),
    ("few", "class 'b' has 2"),
    ("seeds", "at least 3 distinct seeds"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, capsys, case, words):
    data = tmp_path / f"{case}.npz"
    extra = []
    if case == "no_y":
        np.savez(data, X=np.stack([np.eye(3)] * 6))
    elif case == "few":
        np.savez(data, X=np.stack([np.eye(3) * (1 + i) for i in range(8)]), y=np.array(["a"] * 6 + ["b"] * 2))
    elif case == "seeds":
        _tiny_npz(data)
        extra = ["--seeds", "0", "1"]
    rc = cli_main(["experiments", "run", "--dataset", str(data), "--out", str(tmp_path / "out"), "--no-progress",
                   *extra])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("spdnas experiments: error:") and words in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "search").exists()  # nothing ran


def test_python_m_spdnas_experiments_runs_the_command():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    proc = subprocess.run([sys.executable, "-m", "spdnas.experiments", "run", "--dataset", "/nonexistent/x.npz",
                           "--out", "/nonexistent/out", "--no-progress"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "python -m spdnas.experiments: error: file not found: /nonexistent/x.npz"


def test_markdown_table_escapes_pipes():
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_the_study_on_a_process_pool_gives_the_same_table(study, tmp_path):
    tmp, data, out = study
    assert _run(tmp, data, tmp_path / "pool", "--no-progress", "--executor", "process", "--workers", "2") == 0
    a, b = pd.read_csv(tmp_path / "pool" / "results.csv"), pd.read_csv(out / "results.csv")
    timing = [c for c in a.columns if "time" in c]
    assert timing and len(a) == len(b)  # everything but the wall times is identical
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))


def test_a_bad_executor_is_a_one_line_error(tmp_path, capsys):
    data = _tiny_npz(tmp_path / "x.npz")
    with pytest.raises(SystemExit) as e:
        study_main(["run", "--dataset", str(data), "--out", str(tmp_path / "o"), "--executor", "threads"])
    assert e.value.code == 2 and "unknown executor 'threads'" in capsys.readouterr().err
