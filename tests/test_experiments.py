"""spdnas.experiments: configs, restricted genotype sampling, table assembly, paper numbers,
search-history readers, cell-space populations and KS comparisons (no training here)."""

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from helpers_plots import assert_annotations_clear, colour_pixels, drawn_y_range
from matplotlib.figure import Figure

from spdnas import analysis as A
from spdnas import experiments as E
from spdnas.cli.experiments import main as experiments_cli, stage_help
from spdnas import nas, plots
from spdnas.workbench import pipeline
from spdnas.core.trainer import TRAIN_DEFAULTS
from spdnas.nas import NORMAL_OPS, REDUCE_OPS, cell_variant_ops, normalize_genotype, sample_genotype


# --------------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,section", [("search", "exp_search"), ("train", "exp_train"),
                                          ("data_efficiency", "exp_data_efficiency"),
                                          ("cell_spaces", "exp_cell_spaces")])
def test_params_yaml_sections_validate_for_every_profile(kind, section):
    for prof in pipeline.PROFILES:
        cfg = E.stage_config(kind, pipeline.stage_params(section, prof))
        assert isinstance(cfg, dict)


def test_paper_profile_uses_the_papers_search_protocol():
    cfg = E.stage_config("search", pipeline.stage_params("exp_search", "paper"))
    assert cfg["select"] == "val"  # "the final architecture selected on validation performance"
    proto = E.paper_protocol()
    said = {(r.setting, r.dataset): r.value for r in proto.itertuples()}
    assert cfg["order"] == 2 and cfg["arch_lr"] == 3e-4 and cfg["batch_size"] == int(said[("batch_size", "all")])
    assert said[("split", "all")] == "50/25/25" and cfg["fractions"] == [0.5, 0.25, 0.25]
    assert cfg["n_per_class"] == int(said[("n_per_class", "RADAR")])
    assert E.for_dataset(cfg, "hdm05")["epochs"] == int(said[("search_epochs", "HDM05")])
    assert E.for_dataset(cfg, "radar_sim")["epochs"] == 50  # not stated for RADAR: HDM05's length
    tr = E.stage_config("train", pipeline.stage_params("exp_train", "paper"))
    assert len(tr["seeds"]) == 5 and tr["lr"] == float(said[("lr", "RADAR")]) == float(said[("lr", "HDM05")])
    assert E.for_dataset(tr, "radar_sim")["epochs"] == int(said[("train_epochs", "RADAR")])
    assert E.for_dataset(tr, "hdm05")["epochs"] == int(said[("train_epochs", "HDM05")])


@pytest.mark.parametrize("kind,bad,match", [
    ("search", {"datasets": ["mnist"]}, "unknown name"),
    ("search", {"epochs": 0}, "epochs"),
    ("search", {"order": 3}, "order"),
    ("search", {"fractions": [0.5, 0.5]}, "fractions"),
    ("search", {"fractions": [0.5, 0.25, float("nan")]}, "fractions"),
    ("search", {"ablation_datasets": ["hdm05"], "datasets": ["radar_sim"]}, "ablation_datasets"),
    ("search", {"overrides": {"radar_sim": {"lr": 1}}}, "overrides"),
    ("search", {"overrides": {"mnist": {"epochs": 1}}}, "overrides"),
    ("search", {"typo": 1}, "unknown keys"),
    ("search", {"select": "test"}, "select must be one of"),
    ("train", {"methods": ["ResNet"]}, "unknown name"),
    ("train", {"seeds": []}, "seeds"),
    ("train", {"seeds": [0, 0]}, "duplicates"),
    ("train", {"lr": -1.0}, "lr"),
    ("train", {"optimizer": "rmsprop"}, "train config: optimizer must be 'sgd' or 'adam'"),
    ("train", {"schedule": "step"}, "train config: schedule must be one of"),
    ("train", {"momentum": -0.1}, "train config: momentum"),
    ("train", {"floors": "yes"}, "floors must be true or false"),
    ("train", {"overrides": {"hdm05": {"weight_decay": float("nan")}}}, r"overrides\['hdm05'\] weight_decay"),
    ("train", {"overrides": {"hdm05": {"lr": 0}}}, r"overrides\['hdm05'\] lr must be > 0"),
    ("train", {"overrides": {"hdm05": {"floors": True}}}, "overrides"),
    ("data_efficiency", {"optimizer": "lbfgs"}, "data_efficiency config: optimizer"),
    ("data_efficiency", {"lr_min": -1}, "data_efficiency config: lr_min"),
    ("cell_spaces", {"normalise": "zscore"}, "cell_spaces normalise must be one of"),
    ("cell_spaces", {"schedule": 1}, "cell_spaces config: schedule"),
    ("search", {"normalise": "whiten"}, "search normalise must be one of"),
    ("search", {"overrides": {"hdm05": {"normalise": "log"}}}, r"overrides\['hdm05'\] normalise"),
    ("search", {"overrides": {"hdm05": {"momentum": 0.5}}}, "overrides"),
    ("data_efficiency", {"train_fractions": [0.0, 1.0]}, "train_fractions"),
    ("data_efficiency", {"methods": ["DARTS"]}, "unknown name"),
    ("cell_spaces", {"variants": ["convs"]}, "unknown name"),
    ("cell_spaces", {"n": 0}, "n must"),
    ("cell_spaces", {"dataset_options": [1]}, "dataset_options"),
])
def test_stage_config_rejects_bad_values(kind, bad, match):
    with pytest.raises(ValueError, match=match):
        E.stage_config(kind, bad)


def test_protocol_settings_are_stage_settings_with_overrides():
    for kind in ("train", "data_efficiency", "cell_spaces"):
        cfg = E.stage_config(kind, {})
        assert {k: cfg[k] for k in ("optimizer", "schedule", "lr_min", "momentum", "weight_decay")} == \
            {k: TRAIN_DEFAULTS[k] for k in ("optimizer", "schedule", "lr_min", "momentum", "weight_decay")}
    cfg = E.stage_config("train", {"optimizer": "adam", "overrides": {"hdm05": {"schedule": "cosine", "lr_min": 1e-4}}})
    assert cfg["floors"] is False and cfg["optimizer"] == "adam"
    assert E.for_dataset(cfg, "hdm05")["schedule"] == "cosine" and E.for_dataset(cfg, "radar_sim")["schedule"] == "constant"
    s = E.stage_config("search", {"overrides": {"hdm05": {"normalise": "recentre"}}})
    assert s["normalise"] == "none" and E.for_dataset(s, "hdm05")["normalise"] == "recentre"
    assert E.stage_config("cell_spaces", {"normalise": "recentre"})["normalise"] == "recentre"


def test_stage_config_unknown_stage():
    with pytest.raises(ValueError, match="unknown experiment stage"):
        E.stage_config("table9", {})


# --------------------------------------------------------------------------------------------
# data helpers
# --------------------------------------------------------------------------------------------


def test_dataset_status_and_options(tmp_path):
    assert E.dataset_status("radar_sim", None) is None
    assert E.dataset_status("basicmotions", tmp_path) is None
    why = E.dataset_status("hdm05", tmp_path)
    assert why and "hdm05" in why and str(tmp_path / "hdm05") in why
    (tmp_path / "hdm05").mkdir()
    assert E.dataset_status("hdm05", tmp_path) is None
    assert "SPDNAS_DATA" in E.dataset_status("hdm05", None)
    with pytest.raises(ValueError, match="unknown experiment dataset"):
        E.dataset_status("cifar10", tmp_path)
    with pytest.raises(FileNotFoundError, match="hdm05"):
        E.load_experiment_data("hdm05", {}, tmp_path / "nowhere")
    assert E.dataset_options("radar_sim", 7, 3) == {"n_per_class": 7, "seed": 3}


def test_nets_follow_the_papers_sizes():
    assert E.baseline_dims("radar_sim", 20) == [20, 16, 8]
    assert E.baseline_dims("hdm05", 93) == [93, 70, 50, 30]
    assert E.baseline_dims("basicmotions", 6) == [6, 4, 3]
    assert E.net_for("hdm05", 93, 11)["reduce_dims"] == [30]
    assert E.net_for("radar_sim", 20, 3)["reduce_dims"] == [10]
    assert E.net_for("basicmotions", 6, 4, steps=3)["steps"] == 3


# --------------------------------------------------------------------------------------------
# restricted genotypes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(E.CELL_SPACE_VARIANTS))
def test_variant_genotypes_use_only_the_variant_ops(variant):
    normal_ops, reduce_ops = cell_variant_ops(variant)
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = sample_genotype(rng, 3, *cell_variant_ops(variant))
        assert normalize_genotype(g) == g
        for cell in ("normal", "reduce"):
            for k, (op, j) in enumerate(g[cell]):
                allowed = reduce_ops if (cell == "reduce" and j < 2) else normal_ops
                assert op in allowed and op != "none"
                seen.add(op)
            for i in range(3):  # two distinct inputs per node
                a, b = g[cell][2 * i][1], g[cell][2 * i + 1][1]
                assert a != b and max(a, b) < i + 2
    assert seen == set(normal_ops) | set(reduce_ops)  # every allowed op is reachable


def test_variant_sampling_is_uniform_and_reproducible():
    g1 = sample_genotype(5, 2, *cell_variant_ops("full"))
    assert g1 == sample_genotype(np.random.default_rng(5), 2, *cell_variant_ops("full"))
    assert g1 == sample_genotype(5)  # the 'full' variant is the whole derived space
    counts = {}
    rng = np.random.default_rng(1)
    n = 3000
    for _ in range(n):
        g = sample_genotype(rng, 1, *cell_variant_ops("full"))
        counts[g["normal"][0][0]] = counts.get(g["normal"][0][0], 0) + 1
    ops = cell_variant_ops("full")[0]
    # chi-square goodness of fit of the op on the first normal edge against uniform
    obs = np.array([counts.get(o, 0) for o in ops])
    assert scipy.stats.chisquare(obs).pvalue > 1e-3
    with pytest.raises(ValueError, match="unknown cell-space variant"):
        sample_genotype(0, 2, *cell_variant_ops("convs"))
    with pytest.raises(ValueError, match="rng"):
        sample_genotype("seed", 2, *cell_variant_ops("full"))
    with pytest.raises(ValueError, match="steps"):
        sample_genotype(0, 0, *cell_variant_ops("full"))
    with pytest.raises(ValueError, match="normal_ops must be a non-empty list"):
        sample_genotype(0, 2, ["Conv"], None)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _records():
    rng = np.random.default_rng(0)
    rows = []
    for ds in ("radar_sim", "basicmotions"):
        for m in E.METHODS:
            for s in range(3):
                rows.append({"dataset": ds, "method": m, "weighting": "sparsemax" if m == "SPDNetNAS" else None,
                             "seed": s, "status": "ok", "test_acc": float(rng.uniform(0.3, 1.0)),
                             "params": 100 + s})
        for w in ("softmax", "sigmoid"):
            for s in range(3):
                rows.append({"dataset": ds, "method": "SPDNetNAS", "weighting": w, "seed": s, "status": "ok",
                             "test_acc": float(rng.uniform(0.3, 1.0)), "params": 50})
    rows += [{"dataset": "hdm05", "method": m, "weighting": None, "seed": 0,
              "status": "not run: hdm05 data missing (x not found)"} for m in E.METHODS]
    return pd.DataFrame(rows)


def test_format_pm():
    assert E.format_pm(97.754, 0.3) == "97.75 ± 0.30"
    assert E.format_pm(50.0, float("nan")) == "50.00"
    assert E.format_pm(float("nan"), 1.0) == ""
    assert E.format_pm(1.23456, 0.5, digits=1) == "1.2 ± 0.5"


def test_summarize_matches_numpy():
    rec = _records()
    s = E.summarize(rec, ["dataset", "method"])
    ref = rec[(rec["status"] == "ok") & (rec["weighting"] != "softmax") & (rec["weighting"] != "sigmoid")]
    # SPDNetNAS groups also hold the softmax/sigmoid rows here: check a baseline group exactly
    g = ref[(ref["dataset"] == "radar_sim") & (ref["method"] == "SPDNet")]["test_acc"].to_numpy() * 100
    row = s[(s["dataset"] == "radar_sim") & (s["method"] == "SPDNet")].iloc[0]
    assert row["mean"] == pytest.approx(g.mean()) and row["std"] == pytest.approx(np.std(g, ddof=1))
    assert row["n"] == 3 and row["params"] == pytest.approx(101) and row["status"] == "ok"
    h = s[s["dataset"] == "hdm05"].iloc[0]
    assert h["n"] == 0 and math.isnan(h["mean"]) and h["status"].startswith("not run: hdm05 data missing")


def test_summarize_partial_and_bad_inputs():
    rec = pd.DataFrame([{"dataset": "a", "status": "ok", "test_acc": 0.5, "params": 1},
                        {"dataset": "a", "status": "not run: x", "test_acc": None, "params": None}])
    s = E.summarize(rec, "dataset")
    assert s["status"].iloc[0] == "ok (1 of 2 runs not run: x)" and s["mean"].iloc[0] == 50.0
    two = pd.concat([rec, pd.DataFrame([{"dataset": "a", "status": "not run: y"}])], ignore_index=True)
    assert E.summarize(two, "dataset")["status"].iloc[0] == "ok (2 of 3 runs not run)"  # reasons differ
    assert math.isnan(s["std"].iloc[0])
    with pytest.raises(ValueError, match="lack column"):
        E.summarize(rec, "method")
    with pytest.raises(ValueError, match="no records"):
        E.summarize(rec.iloc[:0], "dataset")
    bad = rec.copy()
    bad.loc[0, "test_acc"] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        E.summarize(bad, "dataset")


def test_table2_assembly():
    rec = _records()
    t = E.table2(rec, ["radar_sim", "hdm05", "basicmotions"], E.METHODS)
    assert list(t["dataset"]) == ["radar_sim"] * 6 + ["hdm05"] * 6 + ["basicmotions"] * 6
    assert list(t["method"][:6]) == list(E.METHODS)
    r = t[(t["dataset"] == "radar_sim") & (t["method"] == "SPDNetNAS")].iloc[0]
    ref = rec[(rec["dataset"] == "radar_sim") & (rec["method"] == "SPDNetNAS") & (rec["weighting"] == "sparsemax")]
    v = 100 * ref["test_acc"].to_numpy()
    assert r["ours_mean"] == pytest.approx(v.mean()) and r["ours_std"] == pytest.approx(v.std(ddof=1))
    assert r["ours_acc"] == E.format_pm(v.mean(), v.std(ddof=1)) and r["seeds"] == 3
    assert r["paper_acc"] == "97.75 ± 0.30" and r["paper_dataset"] == "RADAR"
    assert (t[t["dataset"] == "basicmotions"]["paper_acc"] == "not in the paper").all()
    assert t[t["dataset"] == "hdm05"]["status"].str.startswith("not run: hdm05 data missing").all()
    # a method the stage did not plan gets a not-run row
    t2 = E.table2(rec[rec["method"] != "DARTS"], ["radar_sim"], E.METHODS)
    assert t2[t2["method"] == "DARTS"]["status"].iloc[0].startswith("not run:")
    # no stage output at all
    t3 = E.table2(None, ["radar_sim"], ["SPDNet"], missing_reason="run stage exp_train")
    assert t3["status"].tolist() == ["not run: run stage exp_train"]
    # validation-selected epochs: median over seeds; a median in the last 10 % of training is flagged
    late = rec.assign(epochs=100, selected_epoch=np.resize([95, 99, 20], len(rec)))
    late.loc[(late["method"] == "SPDNet") & (late["dataset"] == "radar_sim"), "selected_epoch"] = [40, 50, 60]
    t4 = E.table2(late, ["radar_sim", "hdm05"], E.METHODS)
    r = t4[(t4["dataset"] == "radar_sim") & (t4["method"] == "SPDNetNAS")].iloc[0]
    assert r["selected_epoch"] == 95 and r["epochs"] == 100 and "may not have converged" in r["budget_note"]
    r = t4[(t4["dataset"] == "radar_sim") & (t4["method"] == "SPDNet")].iloc[0]
    assert r["selected_epoch"] == 50 and r["budget_note"] == ""
    assert (t4[t4["dataset"] == "hdm05"]["budget_note"] == "").all()  # not run: nothing to judge
    assert np.isnan(t["selected_epoch"]).all() and (t["budget_note"] == "").all()  # records without epochs
    with pytest.raises(ValueError, match="unknown method"):
        E.table2(rec, ["radar_sim"], ["ResNet"])
    with pytest.raises(ValueError, match="at least one"):
        E.table2(rec, [], E.METHODS)


def test_table4_assembly():
    rec = _records()
    t = E.table4(rec, ["radar_sim", "hdm05"])
    assert list(t["weighting"]) == list(E.WEIGHTINGS) * 2
    ref = rec[(rec["dataset"] == "radar_sim") & (rec["weighting"] == "sigmoid")]["test_acc"] * 100
    r = t[(t["dataset"] == "radar_sim") & (t["weighting"] == "sigmoid")].iloc[0]
    assert r["ours_mean"] == pytest.approx(ref.mean()) and r["status"] == "ok"
    assert t[t["dataset"] == "hdm05"]["status"].str.startswith("not run").all()
    assert (t["kind"] == "network").all()  # no floor records here: no floor rows
    assert E.table4(None, ["radar_sim"], missing_reason="x")["status"].tolist() == ["not run: x"] * 3
    with pytest.raises(ValueError, match="lack column"):
        E.table4(rec.drop(columns=["weighting"]), ["radar_sim"])


def test_data_efficiency_table():
    rows = [{"method": m, "fraction": f, "seed": s, "status": "ok", "test_acc": 0.5 + 0.4 * f + 0.01 * s, "params": 3}
            for m in ("SPDNet", "SPDNetNAS") for f in (0.1, 1.0) for s in (0, 1)]
    t = E.data_efficiency_table(pd.DataFrame(rows), methods=["SPDNetNAS", "SPDNet"])
    assert list(t["method"]) == ["SPDNetNAS", "SPDNetNAS", "SPDNet", "SPDNet"]
    assert list(t["train_share_pct"]) == [10.0, 100.0, 10.0, 100.0]
    assert t["ours_mean"].iloc[1] == pytest.approx(100 * (0.9 + 0.005))
    t0 = E.data_efficiency_table(None, [0.1, 1.0], ["SPDNet"], missing_reason="x")
    assert len(t0) == 2 and (t0["status"] == "not run: x").all()
    with pytest.raises(ValueError, match="fractions and methods"):
        E.data_efficiency_table(None)


# --------------------------------------------------------------------------------------------
# search history files
# --------------------------------------------------------------------------------------------


def _search_metrics(path, epochs=3, steps=2):
    rng = np.random.default_rng(0)
    n_edges = sum(i + 2 for i in range(steps))
    hist = []
    for e in range(1, epochs + 1):
        w = {c: rng.dirichlet(np.ones(6), size=n_edges).tolist() for c in ("normal", "reduce")}
        hist.append({"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.3 + 0.1 * e, "val_loss": 1.1 / e,
                     "val_acc": 0.2 + 0.1 * e, "time_s": 1.0, "arch_weights": w, "genotype": None})
    path.write_text(json.dumps({"config": {}, "history": hist}))
    return hist


def test_search_history_and_alpha_history(tmp_path):
    f = tmp_path / "search_metrics.json"
    hist = _search_metrics(f)
    h = nas.search_history(f)
    assert list(h["epoch"]) == [1, 2, 3] and h["val_acc"].iloc[-1] == pytest.approx(0.5)
    a = nas.alpha_history(f)
    assert len(a) == 3 * 2 * 5 * 6  # epochs x cells x edges (2 nodes: 2 + 3) x ops
    # reduction-cell input edges use the reduction op names, node-to-node edges the normal ones
    red = a[(a["cell"] == "reduce") & (a["edge"] == "0->2")]
    assert set(red["op"]) == set(REDUCE_OPS)
    assert set(a[(a["cell"] == "reduce") & (a["edge"] == "2->3")]["op"]) == set(NORMAL_OPS)
    one = a[(a["epoch"] == 2) & (a["cell"] == "normal") & (a["edge"] == "1->3")]
    assert one["weight"].to_numpy() == pytest.approx(hist[1]["arch_weights"]["normal"][3])
    assert_annotations_clear(plots.plot_search_curves({"x": h}))
    assert_annotations_clear(plots.plot_alpha_evolution(a, title="t"))


def test_search_history_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="search metrics"):
        nas.search_history(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        nas.search_history(bad)
    bad.write_text(json.dumps({"history": []}))
    with pytest.raises(ValueError, match="no search history"):
        nas.alpha_history(bad)
    bad.write_text(json.dumps({"history": [{"epoch": 1, "arch_weights": {"normal": [[float("nan")] * 6] * 5}}]}))
    with pytest.raises(ValueError, match="finite"):
        nas.alpha_history(bad)
    bad.write_text(json.dumps({"history": [{"epoch": 1}]}))
    with pytest.raises(ValueError, match="malformed"):
        nas.search_history(bad)


def test_read_plan_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="plan"):
        E.read_plan(tmp_path)
    (tmp_path / "plan.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="corrupt"):
        E.read_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({"records": [{"dataset": "a"}]}))
    with pytest.raises(ValueError, match="status"):
        E.read_plan(tmp_path)
    with pytest.raises(FileNotFoundError):
        E.read_records(tmp_path / "nope")


def test_genotypes_table():
    g = normalize_genotype(sample_genotype(0, 2, *cell_variant_ops("full")))
    other = normalize_genotype(sample_genotype(1, 2, *cell_variant_ops("full")))
    assert g != other
    ok = dict(status="ok", epochs=2, order=1, time_s=3.0)
    rec = pd.DataFrame([
        {"dataset": "radar_sim", "weighting": "sparsemax", **ok, "genotype": g, "val_acc": 0.5, "selected_epoch": 2,
         "alpha_max_change": 0.25, "alpha_entropy": 1.5, "alpha_entropy_edges": [1.5] * 10},
        {"dataset": "radar_sim", "weighting": "softmax", **ok, "genotype": g.to_dict(), "val_acc": 0.4},
        {"dataset": "radar_sim", "weighting": "sigmoid", **ok, "genotype": other, "val_acc": 0.3},
        {"dataset": "basicmotions", "weighting": "sparsemax", **ok, "genotype": g, "val_acc": 0.9,
         "alpha_entropy": 0.995 * np.log(6)},
        {"dataset": "hdm05", "weighting": "sparsemax", "status": "not run: missing"}])
    t = E.genotypes_table(rec)
    assert list(t.columns) == E.GENOTYPE_COLUMNS
    assert t["val_acc"].iloc[0] == 50.0 and t["selected_epoch"].iloc[0] == 2
    assert t["alpha_max_change"].iloc[0] == 0.25 and t["alpha_entropy"].iloc[0] == 1.5
    # alpha that did not move (mixing weights ~ uniform) is said beside the cell
    assert t["entropy_share"].iloc[0] == pytest.approx(1.5 / np.log(6)) and t["budget_note"].iloc[0] == ""
    assert t["entropy_share"].iloc[3] == pytest.approx(0.995) and "weights ~ uniform" in t["budget_note"].iloc[3]
    assert np.isnan(t["entropy_share"].iloc[1]) and t["budget_note"].iloc[1] == ""  # no entropy recorded
    assert np.isnan(t["alpha_max_change"].iloc[1]) and np.isnan(t["selected_epoch"].iloc[1])  # older records
    assert t["normal"].iloc[0] == ", ".join(f"{op}<-{j}" for op, j in g["normal"])
    ops = [op for c in ("normal", "reduce") for op, _ in g[c]]
    assert t["skip_share"].iloc[0] == sum(o in ("Skip", "Skip_reduced") for o in ops) / 8
    assert t["pool_share"].iloc[0] == sum(o in ("WeightedPooling", "AvgPooling", "MaxPooling") for o in ops) / 8
    # identical cells of two weightings are named, within a dataset only
    assert t["same_genotype_as"].tolist() == ["softmax", "sparsemax", "", "", ""]
    assert t["status"].iloc[4] == "not run: missing" and t["normal"].iloc[4] == ""
    assert np.isnan(t["skip_share"].iloc[4])
    rec["genotype"] = [g, g, g, g, None]  # sigmoid now derived the same cell too
    assert E.genotypes_table(rec)["same_genotype_as"].tolist()[:3] == ["softmax, sigmoid", "sparsemax, sigmoid",
                                                                         "sparsemax, softmax"]


# --------------------------------------------------------------------------------------------
# cell-space populations
# --------------------------------------------------------------------------------------------


def _cell_records(n=12):
    rng = np.random.default_rng(3)
    rows = []
    for v, (plo, phi, mu) in {"full": (100, 400, 0.6), "bimap_only": (300, 600, 0.7),
                              "no_bimap": (10, 40, 0.4)}.items():
        for i in range(n):
            rows.append({"variant": v, "model": i, "genotype": sample_genotype(i, 2, *cell_variant_ops(v)),
                         "params": int(rng.integers(plo, phi)), "flops": 1000 + i,
                         "test_acc": float(np.clip(rng.normal(mu, 0.1), 0, 1)), "seed": 0, "epochs": 2,
                         "dataset": "basicmotions", "status": "ok", "time_s": 1.0})
    rows.append({**rows[0], "model": 99, "status": "not run: x", "test_acc": None})
    return pd.DataFrame(rows)


def test_cell_space_population_and_summary():
    rec = _cell_records()
    pop = E.cell_space_population(rec)
    assert len(pop) == 36 and set(pop["space"]) == {"full", "bimap_only", "no_bimap"}
    r = rec[(rec["variant"] == "full") & (rec["model"] == 3)].iloc[0]
    p = pop[(pop["space"] == "full") & (pop["model_id"] == "0003")].iloc[0]
    assert p["error"] == pytest.approx(100 * (1 - r["test_acc"])) and json.loads(p["config"]) == r["genotype"]
    s = E.cell_space_summary(pop).set_index("variant")
    e = pop[pop["space"] == "no_bimap"]["error"]
    assert s.loc["no_bimap", "median_error"] == pytest.approx(np.median(e)) and s.loc["no_bimap", "models"] == 12
    with pytest.raises(ValueError, match="lack"):
        E.cell_space_population(rec.drop(columns=["genotype"]))
    with pytest.raises(ValueError, match="no finished"):
        E.cell_space_population(rec[rec["status"] != "ok"])


def test_compare_variants_against_scipy():
    pop = E.cell_space_population(_cell_records())
    t = A.compare_variants(pop, "full", bins=3)
    plain = t[(t["variant"] == "bimap_only") & (t["normalisation"] == "none")].iloc[0]
    a = pop[pop["space"] == "bimap_only"]["error"]
    b = pop[pop["space"] == "full"]["error"]
    ref = scipy.stats.ks_2samp(a, b)
    assert plain["ks_D"] == pytest.approx(ref.statistic)
    # params ranges [10, 40) and [100, 400) do not overlap -> not run; full vs bimap_only overlap
    nb = t[(t["variant"] == "no_bimap") & (t["normalisation"] == "params")].iloc[0]
    assert nb["status"].startswith("not run:") and "do not overlap" in nb["status"]
    bo = t[(t["variant"] == "bimap_only") & (t["normalisation"] == "params")].iloc[0]
    assert bo["status"] == "ok" and 1 <= bo["bins"] <= 3 and 0 <= bo["ks_D"] <= 1
    sub, k, excluded = A.normalizable_subset(pop, "full", 3)
    assert set(sub["space"]) == {"full", "bimap_only"} and excluded == ["no_bimap"] and k == bo["bins"]
    with pytest.raises(ValueError, match="reference space"):
        A.compare_variants(pop, "convs")


def test_compare_pair_weighted_means_and_bins_for_several_metrics():
    pop = E.cell_space_population(_cell_records())
    plain = A.compare_pair(pop, "bimap_only", "full")
    a, b = pop[pop["space"] == "bimap_only"]["error"], pop[pop["space"] == "full"]["error"]
    assert plain["mean_error_a"] == pytest.approx(a.mean()) and plain["n_eff_b"] == pytest.approx(len(b))
    assert plain["ks_D"] == pytest.approx(scipy.stats.ks_2samp(a, b).statistic)
    k = A.usable_bins(pop[pop["space"].isin(["bimap_only", "full"])], 3, by=("params", "flops"))
    assert k == A.usable_bins(pop[pop["space"].isin(["bimap_only", "full"])], 3, by="params")
    norm = A.compare_pair(pop, "bimap_only", "full", "params", k)
    d = A.normalize_spaces(pop[pop["space"].isin(["bimap_only", "full"])], by="params", bins=k)
    g = d[d["space"] == "full"]
    assert norm["mean_error_b"] == pytest.approx(np.average(g["error"], weights=g["weight"]))
    assert norm["n_eff_b"] == pytest.approx(A.effective_sample_size(g["weight"].to_numpy()))
    with pytest.raises(ValueError, match="bins"):
        A.compare_pair(pop, "bimap_only", "full", "params", 0)


def test_figures_and_their_errors():
    t = E.table2(_records(), ["radar_sim", "hdm05"])
    assert isinstance(plots.plot_accuracy_bars(t), Figure)
    with pytest.raises(ValueError, match="no finished"):
        plots.plot_accuracy_bars(t[t["dataset"] == "hdm05"])
    rows = [{"method": "SPDNet", "fraction": f, "status": "ok", "test_acc": f, "params": 1} for f in (0.1, 1.0)]
    assert isinstance(plots.plot_data_efficiency(E.data_efficiency_table(pd.DataFrame(rows))), Figure)
    assert isinstance(plots.plot_edge_weight_hist({"softmax": [0.1, 0.2], "sparsemax": [0.0, 1.0]}), Figure)
    with pytest.raises(ValueError, match="not finite"):
        plots.plot_edge_weight_hist({"softmax": [float("nan")]})
    with pytest.raises(ValueError):
        plots.plot_search_curves({})
    assert matplotlib.get_backend()  # no backend switch happened in the library


# --------------------------------------------------------------------------------------------
# figures a reader can trust: accuracy bars, edge-weight histograms
# --------------------------------------------------------------------------------------------


def _bar_table(seeds=2):
    """A Table-2-like frame: one cell not run, bars near 100 % and 0 % with large std."""
    rows = []
    for ds, vals in (("radar_sim", [(97.5, 3.54), (50.0, 10.0)]), ("hdm05", [(2.0, 5.0), None])):
        for m, v in zip(("SPDNet", "SPDNetNAS"), vals):
            if v is None:
                rows.append({"dataset": ds, "method": m, "ours_mean": np.nan, "ours_std": np.nan, "seeds": 0,
                             "status": "not run: left out by exp_train overrides"})
            else:
                rows.append({"dataset": ds, "method": m, "ours_mean": v[0], "ours_std": v[1], "seeds": seeds,
                             "status": "ok"})
    return pd.DataFrame(rows)


def test_accuracy_bars_clip_whiskers_to_0_100():
    fig = plots.plot_accuracy_bars(_bar_table())
    lo, hi = drawn_y_range(fig.axes[0])
    assert hi == pytest.approx(100.0) and lo == pytest.approx(0.0)  # 97.5 + 3.54 and 2 - 5 clipped
    assert_annotations_clear(fig)


def test_accuracy_bars_mark_a_not_run_cell():
    t = _bar_table()
    fig = plots.plot_accuracy_bars(t)
    ax = fig.axes[0]
    slots = [p for p in ax.patches if p.get_gid() == "not run"]
    assert len(slots) == 1
    x = slots[0].get_x() + slots[0].get_width() / 2
    assert 1.0 < x < 1.5  # hdm05 (tick 1), second method
    assert not slots[0].get_fill() and slots[0].get_hatch()
    texts = [tx for tx in ax.texts if tx.get_text() == "not run"]
    assert len(texts) == 1 and texts[0].get_position()[0] == pytest.approx(x)
    assert "not run" in [tx.get_text() for tx in ax.get_legend().get_texts()]
    # a dataset with no finished run at all keeps its slots too
    t2 = pd.concat([t, pd.DataFrame([{"dataset": "afew", "method": "SPDNet", "ours_mean": np.nan,
                                      "seeds": 0, "status": "not run: x"}])], ignore_index=True)
    ax2 = plots.plot_accuracy_bars(t2).axes[0]
    assert [tk.get_text() for tk in ax2.get_xticklabels()] == ["radar_sim", "hdm05", "afew"]
    assert len([p for p in ax2.patches if p.get_gid() == "not run"]) == 3


def test_accuracy_bars_say_what_the_error_bars_are():
    labels = lambda fig: [tx.get_text() for tx in fig.axes[0].get_legend().get_texts()]  # noqa: E731
    assert "mean ± std over 2 seeds" in labels(plots.plot_accuracy_bars(_bar_table(seeds=2)))
    assert "mean ± std over 5 seeds" in labels(plots.plot_accuracy_bars(_bar_table(seeds=5)))
    # mixed: the usual N in the legend, the others written on their bars
    t = _bar_table(seeds=3)
    t.loc[0, ["seeds", "ours_std"]] = [1, np.nan]
    fig = plots.plot_accuracy_bars(t)
    assert "mean ± std over 3 seeds (other n on the bar)" in labels(fig)
    assert [tx.get_text() for tx in fig.axes[0].texts if tx.get_gid() == "bar label"] == ["n=1"]
    single = _bar_table(seeds=1)
    single["ours_std"] = np.nan
    assert "1 seed each: no std" in labels(plots.plot_accuracy_bars(single))
    # the real table assembly: 3 seeds each
    t4 = E.table4(_records(), ["radar_sim", "hdm05"])
    fig4 = plots.plot_accuracy_bars(t4, group="weighting", paper=False)
    assert "mean ± std over 3 seeds" in labels(fig4)
    assert len([p for p in fig4.axes[0].patches if p.get_gid() == "not run"]) == 3  # hdm05 x 3 weightings


def test_accuracy_bars_bad_tables():
    with pytest.raises(ValueError, match="lacks column"):
        plots.plot_accuracy_bars(_bar_table().drop(columns=["ours_mean"]))
    bad = _bar_table()
    bad.loc[0, "ours_mean"] = 120.0
    with pytest.raises(ValueError, match=r"percentage in \[0, 100\]"):
        plots.plot_accuracy_bars(bad)
    with pytest.raises(ValueError, match="DataFrame"):
        plots.plot_accuracy_bars([1, 2])


def test_edge_weight_hist_shows_every_weighting():
    """Identical softmax and sparsemax weights (1/6 each, as after a short search) must both be seen."""
    w = {"sparsemax": np.full(30, 1 / 6), "softmax": np.full(30, 1 / 6), "sigmoid": np.linspace(0.45, 0.55, 30)}
    fig = plots.plot_edge_weight_hist(w)
    assert len(fig.axes) == 3
    assert [ax.get_title().split(" ")[0] for ax in fig.axes] == list(w)
    assert all(ax.get_shared_x_axes().joined(ax, fig.axes[0]) and ax.get_shared_y_axes().joined(ax, fig.axes[0])
               for ax in fig.axes)
    for ax, name in zip(fig.axes, w):
        heights = [p.get_height() for p in ax.patches]
        assert sum(heights) == pytest.approx(1.0), name
        colour = ax.patches[0].get_facecolor()
        assert colour_pixels(fig, colour) > 50, f"{name} is not visible in the rendered figure"


def test_edge_weight_hist_bad_inputs():
    with pytest.raises(ValueError, match="no weights"):
        plots.plot_edge_weight_hist({})
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        plots.plot_edge_weight_hist({"softmax": [0.5, 1.5]})


def test_data_efficiency_whiskers_clipped_and_legend_clear():
    rows = [{"method": m, "fraction": f, "seed": s, "status": "ok", "params": 1,
             "test_acc": (1.0 - 0.04 * s) if f == 1.0 else 0.1 * s} for m in ("SPDNet", "SPDNetBN")
            for f in (0.1, 1.0) for s in (0, 1)]  # 98 ± 2.8 and 5 ± 7.1: both whiskers need clipping
    fig = plots.plot_data_efficiency(E.data_efficiency_table(pd.DataFrame(rows)))
    lo, hi = drawn_y_range(fig.axes[0])
    assert hi == pytest.approx(100.0) and lo == pytest.approx(0.0)
    assert "mean ± std over 2 seeds" in fig.axes[0].get_ylabel()
    assert_annotations_clear(fig)


def test_stage_help_names_the_protocol_choices():
    train = " ".join(stage_help("train").split())
    for k in ("optimizer=", "schedule=", "lr_min=", "momentum=", "weight_decay=", "floors="):
        assert k in train, k
    assert "schedule: constant|cosine" in train and "validation-selected epoch" in train
    search = " ".join(stage_help("search").split())
    assert 'normalise="none"' in search and "normalise: none|recentre" in search
    assert "normalise: none|recentre" in " ".join(stage_help("cell-spaces").split())
