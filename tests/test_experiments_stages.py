"""Smoke runs of the experiment compute stages (``python -m spdnas experiments ...``) with tiny
settings: records, not-run rows for missing external data, resume/skip, tables from real runs."""

import json

import numpy as np
import pytest
import yaml
from pyriemann.classification import MDM

from spdnas import analysis as A
from spdnas import experiments as E
from spdnas.cli.experiments import main as experiments_cli
from spdnas import nas
from spdnas.data import normalise_split
from spdnas.experiments.config import (FLOOR_METHODS, euclid_search_config, search_unit_config, stage_config,
                                       train_unit_config)

SEARCH = {"datasets": ["basicmotions", "radar_sim", "hdm05"], "ablation_datasets": ["basicmotions"],
          "n_per_class": 10, "epochs": 1, "order": 1, "batch_size": 30, "max_steps": 1,
          "overrides": {"basicmotions": {"batch_size": 10, "epochs": 2}}}
TRAIN = {"seeds": [0], "epochs": 1, "euclid_search_epochs": 1,
         "overrides": {"basicmotions": {"batch_size": 10, "seeds": [0, 1]}}}


def _cfg(path, obj):
    path.write_text(yaml.safe_dump(obj))
    return str(path)


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Run search -> train -> data-efficiency -> cell-spaces through the CLI entry point."""
    tmp = tmp_path_factory.mktemp("exp")
    data = tmp / "shared"  # empty shared-data folder: hdm05 is missing
    data.mkdir()
    common = ["--data", str(data), "--no-progress"]
    assert experiments_cli(["search", "--config", _cfg(tmp / "s.yaml", SEARCH), "--out", str(tmp / "search")] + common) == 0
    assert experiments_cli(["train", "--config", _cfg(tmp / "t.yaml", TRAIN), "--out", str(tmp / "train"),
                   "--search", str(tmp / "search")] + common) == 0
    de = {"dataset": "radar_sim", "train_fractions": [0.5, 1.0], "methods": ["SPDNet", "SPDNetNAS"],
          "seeds": [0], "epochs": 1}
    assert experiments_cli(["data-efficiency", "--config", _cfg(tmp / "d.yaml", de), "--out", str(tmp / "de"),
                   "--search", str(tmp / "search")] + common) == 0
    cs = {"dataset": "basicmotions", "variants": ["full", "bimap_only"], "n": 2, "epochs": 1}
    assert experiments_cli(["cell-spaces", "--config", _cfg(tmp / "c.yaml", cs), "--out", str(tmp / "cs")] + common) == 0
    return tmp


def test_search_stage_records(stages):
    plan = E.read_plan(stages / "search")
    st = {(r.dataset, r.weighting): r.status for r in plan.itertuples()}
    assert st[("basicmotions", "sparsemax")] == "ok" and st[("basicmotions", "sigmoid")] == "ok"
    assert st[("radar_sim", "sparsemax")] == "ok" and ("radar_sim", "softmax") not in st
    assert st[("hdm05", "sparsemax")].startswith("not run: hdm05 data missing")
    for ds in ("basicmotions", "radar_sim"):
        folder = stages / "search" / ds / "sparsemax"
        epochs = [1, 2] if ds == "basicmotions" else [1]
        assert nas.search_history(folder / "search_metrics.json")["epoch"].tolist() == epochs
        assert json.loads((folder / "genotype.json").read_text())["normal"]
    g = E.genotypes_table(plan)
    assert (g[g["status"] == "ok"]["normal"] != "").all()
    # the validation-selected epoch and the α diagnostics of that epoch (basicmotions: 2 search epochs)
    for r in plan[plan["status"] == "ok"].to_dict(orient="records"):
        folder = stages / "search" / r["dataset"] / r["weighting"]
        hist = json.loads((folder / "search_metrics.json").read_text())["history"]
        sel = nas.select_epoch(hist, "val")
        assert r["select"] == "val" and r["selected_epoch"] == sel
        h = hist[sel - 1]
        assert r["genotype"] == h["genotype"] == json.loads((folder / "genotype.json").read_text())
        assert r["genotype_last"] == hist[-1]["genotype"] and r["val_acc_last"] == hist[-1]["val_acc"]
        assert (r["val_acc"], r["train_acc"]) == (h["val_acc"], h["train_acc"])
        assert r["alpha_max_change"] == h["alpha_max_change"] > 0
        assert r["alpha_entropy_edges"] == h["alpha_entropy_edges"] and len(h["alpha_entropy_edges"]) == 10
        assert {k: r[k] for k in ("skip_share", "pool_share")} == nas.op_shares(r["genotype"])
    ok = g[g["status"] == "ok"]
    cols = ["alpha_max_change", "alpha_entropy", "skip_share", "pool_share", "selected_epoch"]
    assert np.isfinite(ok[cols].to_numpy(float)).all()


def test_a_search_unit_reruns_from_its_nas_cli_config(stages, tmp_path):
    """The stage translates its params.yaml section into the one search config format:
    ``spdnas nas search --config <unit>/nas_config.json`` repeats the unit's search exactly."""
    from spdnas.cli.nas import main as nas_cli

    folder = stages / "search" / "radar_sim" / "sparsemax"
    cfg = json.loads((folder / "nas_config.json").read_text())
    assert cfg["dataset"] == {"name": "radar_sim", "n_per_class": 10, "seed": 0}
    assert cfg["search"]["weighting"] == "sparsemax" and cfg["search"]["max_steps"] == 1 and cfg["net"]["in_dim"] == 20
    assert nas_cli(["search", "--config", str(folder / "nas_config.json"), "--out", str(tmp_path / "again"),
                    "--no-progress"]) == 0
    again = json.loads((tmp_path / "again" / "genotype.json").read_text())
    assert again == json.loads((folder / "genotype.json").read_text())
    h1 = nas.search_history(folder / "search_metrics.json")
    h2 = nas.search_history(tmp_path / "again" / "search_metrics.json")
    assert h1["val_acc"].tolist() == h2["val_acc"].tolist() and h1["train_loss"].tolist() == h2["train_loss"].tolist()


def test_train_stage_and_table2(stages):
    plan = E.read_plan(stages / "train")
    ok = plan[plan["status"] == "ok"]
    assert set(ok["dataset"]) == {"basicmotions", "radar_sim"}
    assert set(ok["method"]) == set(E.METHODS)
    assert ((ok["test_acc"] >= 0) & (ok["test_acc"] <= 1)).all() and (ok["params"] > 0).all()
    hd = plan[plan["dataset"] == "hdm05"]
    assert len(hd) == len(E.METHODS) and hd["status"].str.startswith("not run: hdm05 data missing").all()
    t = E.table2(plan, ["radar_sim", "hdm05", "basicmotions"])
    bm = t[(t["dataset"] == "basicmotions") & (t["kind"] == "network")]
    assert (bm["seeds"] == 2).all() and np.isfinite(bm["ours_std"]).all()  # two seeds -> a std
    r = ok[(ok["dataset"] == "radar_sim") & (ok["method"] == "SPDNet")].iloc[0]
    assert r["params"] == 559  # SPDNet 20-16-8, 3 classes: 320 + 128 + 36*3 + 3
    t4 = E.table4(plan, ["basicmotions", "radar_sim"])
    t4 = t4[t4["kind"] == "network"]
    assert (t4[t4["dataset"] == "basicmotions"]["status"] == "ok").all()
    assert t4[(t4["dataset"] == "radar_sim") & (t4["weighting"] == "softmax")]["status"].iloc[0].startswith("not run")
    # folders are shell/DVC friendly
    assert (stages / "train" / "radar_sim" / "SPDNetNAS-R" / "seed0" / "record.json").is_file()


def test_rerun_skips_finished_units_and_retrains_on_changed_config(stages, tmp_path):
    rec = stages / "train" / "radar_sim" / "SPDNet" / "seed0" / "record.json"
    before = rec.read_bytes()
    mtime = rec.stat().st_mtime_ns
    experiments_cli(["train", "--config", _cfg(tmp_path / "t.yaml", TRAIN), "--out", str(stages / "train"),
            "--search", str(stages / "search"), "--data", str(stages / "shared"), "--no-progress"])
    assert rec.stat().st_mtime_ns == mtime and rec.read_bytes() == before
    # a changed recipe re-trains in the same folders (no stale checkpoint is resumed)
    t2 = dict(TRAIN, epochs=2, methods=["SPDNet"])
    experiments_cli(["train", "--config", _cfg(tmp_path / "t2.yaml", t2), "--out", str(stages / "train2"),
            "--search", str(stages / "search"), "--data", str(stages / "shared"), "--no-progress"])
    experiments_cli(["train", "--config", _cfg(tmp_path / "t3.yaml", dict(t2, epochs=1)), "--out", str(stages / "train2"),
            "--search", str(stages / "search"), "--data", str(stages / "shared"), "--no-progress"])
    r = json.loads((stages / "train2" / "radar_sim" / "SPDNet" / "seed0" / "record.json").read_text())
    assert r["epochs"] == 1 and r["status"] == "ok"


def test_data_efficiency_stage(stages):
    plan = E.read_plan(stages / "de")
    assert (plan["status"] == "ok").all()
    n = plan.set_index(["method", "fraction"])["n_train"]
    assert n[("SPDNet", 0.5)] < n[("SPDNet", 1.0)] == 15  # radar 3 x 10 samples, half for training
    t = E.data_efficiency_table(plan, methods=["SPDNet", "SPDNetNAS"])
    assert t["train_share_pct"].tolist() == [50.0, 100.0, 50.0, 100.0]


def test_cell_spaces_stage(stages):
    pop = A.load_population(stages / "cs" / "population.parquet")
    assert sorted(pop["space"].unique()) == ["bimap_only", "full"] and len(pop) == 4
    for cfg in pop[pop["space"] == "bimap_only"]["config"]:
        g = json.loads(cfg)
        assert all(op.startswith("BiMap") for op, _ in g["normal"] + g["reduce"])


def test_cli_errors(stages, tmp_path):
    with pytest.raises(ValueError, match="needs --search"):
        experiments_cli(["train", "--config", _cfg(tmp_path / "t.yaml", TRAIN), "--out", str(tmp_path / "o")])
    with pytest.raises(FileNotFoundError, match="config file"):
        experiments_cli(["search", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1\n")
    with pytest.raises(ValueError, match="corrupt"):
        experiments_cli(["search", "--config", str(bad), "--out", str(tmp_path / "o")])
    with pytest.raises(FileNotFoundError, match="exp_search"):
        experiments_cli(["train", "--config", _cfg(tmp_path / "t.yaml", TRAIN), "--out", str(tmp_path / "o"),
                "--search", str(tmp_path / "nothing")])
    with pytest.raises(ValueError, match="unknown keys"):
        experiments_cli(["search", "--config", _cfg(tmp_path / "u.yaml", {"epoch": 1}), "--out", str(tmp_path / "o")])


def test_trained_records_report_the_validation_selected_epoch(stages):
    plan = E.read_plan(stages / "train")
    nets = plan[(plan["status"] == "ok") & plan["method"].isin(E.METHODS)]
    assert len(nets) and nets["selected_epoch"].notna().all()
    for r in nets.itertuples():
        sub = r.method.replace(" (", "-").replace(")", "") if not isinstance(r.weighting, str) \
            else f"{r.method}-{r.weighting}"
        m = json.loads((stages / "train" / r.dataset / sub / f"seed{r.seed}" / "metrics.json").read_text())
        h = {e["epoch"]: e for e in m["history"]}
        assert r.selected_epoch == m["selected_epoch"] and r.test_acc == h[r.selected_epoch]["test_acc"]
        assert r.val_acc == h[r.selected_epoch]["val_acc"] and r.val_loss == h[r.selected_epoch]["val_loss"]
        assert r.test_acc_last == m["history"][-1]["test_acc"] and r.val_acc_last == m["history"][-1]["val_acc"]
    de = E.read_plan(stages / "de")
    assert {"selected_epoch", "test_acc_last", "val_acc_last"} <= set(de.columns)
    cs = E.read_plan(stages / "cs")
    assert cs["selected_epoch"].notna().all() and {"test_acc_last", "val_loss"} <= set(cs.columns)


def _logvec(X):
    """log-Euclidean embedding (numpy eigh): upper triangle of logm, off-diagonal times sqrt(2)."""
    iu = np.triu_indices(X.shape[-1])
    w = np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))
    lam, U = np.linalg.eigh(X.astype(np.float64))
    return np.stack([(u * np.log(v)) @ u.T for v, u in zip(lam, U)])[:, iu[0], iu[1]] * w


def _recentred_split(search_dir, ds):
    info = json.loads((search_dir / "datasets.json").read_text())
    raw = E.load_experiment_data(ds, info["datasets"][ds]["options"])
    d = nas.resolve_data(raw, info["split_seed"], info["fractions"])
    return normalise_split(d, info["datasets"][ds]["normalise"])


def test_recentred_search_then_train_with_floors_and_a_cosine_protocol(stages, tmp_path):
    """normalise: recentre goes into datasets.json and the search key; the train stage applies it,
    the floors are computed on exactly the networks' (recentred) split, and the reported epoch is
    the validation-selected one of a 3-epoch cosine run."""
    common = ["--data", str(stages / "shared"), "--no-progress"]
    s = dict(SEARCH, datasets=["radar_sim", "hdm05"], ablation_datasets=[], overrides={},
             normalise="recentre")
    assert experiments_cli(["search", "--config", _cfg(tmp_path / "s.yaml", s), "--out", str(tmp_path / "search")]
                           + common) == 0
    info = json.loads((tmp_path / "search" / "datasets.json").read_text())
    assert info["datasets"]["radar_sim"]["normalise"] == "recentre"
    new = E.read_plan(tmp_path / "search").set_index(["dataset", "weighting"])
    old = E.read_plan(stages / "search").set_index(["dataset", "weighting"])
    assert new.at[("radar_sim", "sparsemax"), "key"] != old.at[("radar_sim", "sparsemax"), "key"]
    h_new = nas.search_history(tmp_path / "search" / "radar_sim" / "sparsemax" / "search_metrics.json")
    h_old = nas.search_history(stages / "search" / "radar_sim" / "sparsemax" / "search_metrics.json")
    assert h_new["train_loss"].tolist() != h_old["train_loss"].tolist()  # the search saw other inputs
    t = {"methods": ["SPDNet"], "seeds": [0], "epochs": 3, "floors": True, "schedule": "cosine", "lr": 0.05,
         "lr_min": 0.001, "momentum": 0.5, "weight_decay": 0.0}
    assert experiments_cli(["train", "--config", _cfg(tmp_path / "t.yaml", t), "--out", str(tmp_path / "train"),
                            "--search", str(tmp_path / "search")] + common) == 0
    plan = E.read_plan(tmp_path / "train")
    floors = plan[plan["method"].isin(FLOOR_METHODS)].set_index(["dataset", "method"])
    assert len(floors) == 2 * len(FLOOR_METHODS)
    assert floors.loc["hdm05"]["status"].str.startswith("not run: hdm05 data missing").all()
    rf = floors.loc["radar_sim"]
    assert (rf["status"] == "ok").all() and (rf["seed"] == 0).all() and rf["params"].isna().all()
    assert rf["weighting"].isna().all() and rf["flops"].isna().all()
    d = _recentred_split(tmp_path / "search", "radar_sim")
    (Xtr, ytr), (Xva, yva), (Xte, yte) = [(X.numpy(), y.numpy()) for X, y in (d["train"], d["val"], d["test"])]
    mdm = MDM(metric="riemann").fit(Xtr, ytr)
    nn1 = lambda X: ytr[((_logvec(X)[:, None] - _logvec(Xtr)[None]) ** 2).sum(-1).argmin(1)]  # noqa: E731
    for part, X, y in (("val", Xva, yva), ("test", Xte, yte)):
        assert rf.at["MDM", f"{part}_acc"] == np.mean(mdm.predict(X) == y)
        assert rf.at["log-Euclidean 1-NN", f"{part}_acc"] == np.mean(nn1(X) == y)
        assert 0 <= rf.at["TS + LR", f"{part}_acc"] <= 1
    assert (tmp_path / "train" / "radar_sim" / "floors" / "record.json").is_file()
    r = plan[(plan["method"] == "SPDNet") & (plan["dataset"] == "radar_sim")].iloc[0]
    m = json.loads((tmp_path / "train" / "radar_sim" / "SPDNet" / "seed0" / "metrics.json").read_text())
    assert m["config"]["schedule"] == "cosine" and m["config"]["momentum"] == 0.5 and m["config"]["lr_min"] == 0.001
    acc = np.array([e["val_acc"] for e in m["history"]])
    loss = np.array([e["val_loss"] for e in m["history"]])
    sel = int(np.lexsort((np.arange(3), loss, -acc))[0]) + 1
    assert r["selected_epoch"] == sel and r["test_acc"] == m["history"][sel - 1]["test_acc"]
    assert r["test_acc_last"] == m["history"][-1]["test_acc"]
    # a rerun skips every finished unit (floors included); a changed protocol setting is a new unit
    floor_rec = tmp_path / "train" / "radar_sim" / "floors" / "record.json"
    mtime = floor_rec.stat().st_mtime_ns
    experiments_cli(["train", "--config", _cfg(tmp_path / "t2.yaml", dict(t, momentum=0.6)), "--out",
                     str(tmp_path / "train"), "--search", str(tmp_path / "search")] + common)
    plan2 = E.read_plan(tmp_path / "train")
    assert floor_rec.stat().st_mtime_ns == mtime
    r2 = plan2[(plan2["method"] == "SPDNet") & (plan2["dataset"] == "radar_sim")].iloc[0]
    assert r2["key"] != r["key"]


def test_search_threads_setting(stages, tmp_path):
    """exp_search ``threads`` (spectral worker threads of one search): validated; the default 2 keeps
    the unit keys of searches from before the setting, another value is a different unit."""
    with pytest.raises(ValueError, match="threads"):
        E.stage_config("search", {"threads": 0})
    assert E.stage_config("search")["threads"] == 2
    cfg = {**SEARCH, "datasets": ["radar_sim"], "ablation_datasets": [], "overrides": {}}
    same = E.run_search_stage(dict(cfg, threads=2), stages / "search", progress=False)
    old = json.loads((stages / "search" / "radar_sim" / "sparsemax" / "record.json").read_text())
    assert same[0]["key"] == old["key"]  # read back, not rerun
    one = E.run_search_stage(dict(cfg, threads=1), tmp_path / "s1", progress=False)
    assert one[0]["key"] != old["key"] and one[0]["status"] == "ok"
    assert json.loads((tmp_path / "s1" / "radar_sim" / "sparsemax" / "nas_config.json").read_text())["search"]["threads"] == 1


def test_unit_configs_are_the_planners_and_apply_dataset_overrides():
    """search_unit_config / euclid_search_config / train_unit_config: what the planners hash into the
    unit keys (and bench/bench_protocol.py runs), with a dataset's overrides applied."""
    s = stage_config("search", {"datasets": ["radar_sim", "hdm05"], "epochs": 4, "overrides": {"hdm05": {"epochs": 9}}})
    net = {"steps": 2}
    a, b = search_unit_config(s, "radar_sim", "softmax", net), search_unit_config(s, "hdm05", "sigmoid", net)
    assert (a["epochs"], b["epochs"], a["weighting"], a["net"]) == (4, 9, "softmax", net)
    assert "threads" not in a  # the default 2 threads stay out of the key
    assert search_unit_config(dict(s, threads=1), "radar_sim", "softmax", net)["threads"] == 1
    t = stage_config("train", {"methods": ["DARTS"], "batch_size": 30, "overrides": {"hdm05": {"lr": 0.5}}})
    e = euclid_search_config(t, "radar_sim", "FairDARTS", 12, 7, [0.5, 0.25, 0.25])
    assert (e["weighting"], e["order"], e["batch_size"], e["seed"], e["split_seed"]) == ("sigmoid", 1, 12, 0, 7)
    assert e["net"] == {"C": t["euclid_C"], "layers": t["euclid_layers"]}
    assert euclid_search_config(t, "radar_sim", "DARTS", 100, 7, [0.5, 0.25, 0.25])["batch_size"] == 30
    tr = train_unit_config(t, "hdm05", 3)
    assert tr["lr"] == 0.5 and tr["seed"] == 3 and train_unit_config(t, "radar_sim", 0)["lr"] == t["lr"]
