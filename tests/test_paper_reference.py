"""The paper's numbers as data (data/reference/): the reference file's values, its loader's errors,
and tables 2 / 4 / data efficiency and the accuracy figure showing them beside ours with the floors."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers_plots import assert_annotations_clear

from spdnas import experiments as E
from spdnas import plots
from spdnas.experiments.reference import REFERENCE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
FLOORS = E.FLOOR_METHODS


def _ref():
    return E.paper_reference()


def _one(ref, table, dataset, method, weighting=None):
    r = ref[(ref["table"] == table) & (ref["dataset"] == dataset) & (ref["method"] == method)]
    r = r[r["weighting"].isna()] if weighting is None else r[r["weighting"] == weighting]
    assert len(r) == 1, (table, dataset, method, weighting)
    return r.iloc[0]


# --------------------------------------------------------------------------------------------
# the reference file
# --------------------------------------------------------------------------------------------


def test_reference_file_spot_values():
    ref = _ref()
    r = _one(ref, 2, "RADAR", "SPDNetNAS")
    assert (r["mean"], r["std"], r["size_printed"]) == (97.75, 0.30, "0.0184 MB")
    r = _one(ref, 2, "HDM05", "SPDNetBN")
    assert (r["mean"], r["std"], r["size_printed"]) == (65.20, 1.15, "0.1091 MB")
    assert _one(ref, 2, "HDM05", "SPDNetNAS")["size_printed"] == "1.064 MB"  # as printed, not 1.0640
    assert _one(ref, 2, "HDM05", "DARTS")["size_printed"] == "3.6800 MB"
    assert _one(ref, 2, "RADAR", "FairDARTS")["mean"] == 98.51
    r = _one(ref, 3, "AFEW", "SPDNetNAS (RADAR)")
    assert r["mean"] == 40.80 and math.isnan(r["std"]) and r["size_printed"] == ""
    r = _one(ref, 4, "HDM05", "SPDNetNAS", "sigmoid")
    assert (r["mean"], r["std"]) == (68.64, 0.09)
    assert _one(ref, 4, "RADAR", "SPDNetNAS", "softmax")["mean"] == 96.47


def test_reference_file_is_complete_and_consistent():
    ref = _ref()
    assert list(ref.columns) == list(REFERENCE_COLUMNS)
    t2 = ref[ref["table"] == 2]
    assert sorted(zip(t2["dataset"], t2["method"])) == sorted((d, m) for d in ("RADAR", "HDM05") for m in E.METHODS)
    assert len(ref[ref["table"] == 3]) == 7 and set(ref[ref["table"] == 3]["dataset"]) == {"AFEW"}
    t4 = ref[ref["table"] == 4]
    assert sorted(zip(t4["dataset"], t4["weighting"])) == sorted((d, w) for d in ("RADAR", "HDM05")
                                                                 for w in E.WEIGHTINGS)
    assert t2["std"].notna().all() and t4["std"].notna().all() and ref[ref["table"] == 3]["std"].isna().all()
    assert (t2["size_printed"].str.fullmatch(r"\d+\.\d+ MB")).all()
    assert ref["source"].str.contains("double-blind submission version").all()
    assert all(f"Table {t}" in s for t, s in zip(ref["table"], ref["source"]))
    # the ablation's sparsemax row is the Table 2 SPDNetNAS row
    for ds in ("RADAR", "HDM05"):
        a, b = _one(ref, 4, ds, "SPDNetNAS", "sparsemax"), _one(ref, 2, ds, "SPDNetNAS")
        assert (a["mean"], a["std"]) == (b["mean"], b["std"])


def test_reference_file_is_found_from_the_workbench_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    pd.testing.assert_frame_equal(E.paper_reference(), E.paper_reference(ROOT / E.REFERENCE_FILE))
    assert (ROOT / "data" / "reference" / "README.md").read_text().count("double-blind submission") >= 1


def _write(tmp_path, text, name="ref.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


HEAD = "table,dataset,method,weighting,mean,std,size_printed,source\n"
ROW = "2,RADAR,SPDNet,,93.21,0.39,0.0014 MB,paper Table 2\n"


@pytest.mark.parametrize("text,match", [
    (HEAD.replace(",std", "") + "2,RADAR,SPDNet,,93.21,0.0014 MB,paper\n", r"missing column\(s\) \['std'\]"),
    (HEAD + ROW.replace("93.21", "93,21"), r"line 2: 9 fields, the header has 8"),
    (HEAD + ROW.replace("93.21", "abc"), r"line 2: mean must be a finite number, got 'abc'"),
    (HEAD + ROW.replace("93.21", "nan"), r"line 2: mean must be a finite number"),
    (HEAD + ROW.replace("93.21", ""), r"line 2: mean must be a finite number, got ''"),
    (HEAD + ROW + ROW.replace("0.39", "x"), r"line 3: std must be a finite number, got 'x'"),
    (HEAD + ROW.replace("0.39", "-0.39"), "std must be >= 0"),
    (HEAD + ROW.replace("93.21", "193.21"), r"accuracy in \[0, 100\]"),
    (HEAD + ROW.replace("2,RADAR", "two,RADAR"), "table must be an integer"),
    (HEAD + ROW.replace("SPDNet,", ",", 1), "empty method"),
    (HEAD + ROW + ROW.replace("93.21", "90.0"), r"duplicate key .*\(2, 'RADAR', 'SPDNet', None\)"),
    (HEAD, "no rows"),
    ("", r"not a readable CSV file \(empty\)"),
])
def test_bad_reference_files_name_the_file_and_the_problem(tmp_path, text, match):
    p = _write(tmp_path, text)
    with pytest.raises(ValueError, match=match) as e:
        E.paper_reference(p)
    assert str(p) in str(e.value)


def test_missing_reference_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="paper reference file not found: .*nowhere.csv"):
        E.paper_reference(tmp_path / "nowhere.csv")
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        E.table2(None, ["radar_sim"], reference=tmp_path / "nowhere.csv")


def test_a_weighting_makes_a_distinct_key(tmp_path):
    p = _write(tmp_path, HEAD + ROW + ROW.replace(",,93.21", ",softmax,90.0"))
    ref = E.paper_reference(p)
    assert ref["weighting"].isna().tolist() == [True, False] and ref["table"].tolist() == [2, 2]


def test_protocol_file_states_the_papers_protocol(tmp_path):
    p = E.paper_protocol().set_index(["setting", "dataset"])["value"]
    assert p[("split", "all")] == "50/25/25" and p[("batch_size", "all")] == "30"
    assert p[("lr", "RADAR")] == p[("lr", "HDM05")] == "0.025" and p[("lr", "AFEW")] == "0.05"
    assert (p[("n_per_class", "RADAR")], p[("matrix_size", "RADAR")], p[("reduction", "RADAR")],
            p[("train_epochs", "RADAR")]) == ("1000", "20x20", "20->10", "200")
    assert (p[("classes", "HDM05")], p[("n_samples", "HDM05")], p[("matrix_size", "HDM05")],
            p[("reduction", "HDM05")], p[("search_epochs", "HDM05")], p[("train_epochs", "HDM05")]) == \
        ("117", "2083", "93x93", "93->30", "50", "100")
    assert p[("selection", "all")] == "validation" and p[("search_epochs", "RADAR")] == "not stated"
    assert E.paper_protocol()["paper_says"].str.len().min() > 10
    bad = _write(tmp_path, "setting,dataset,value\nsplit,all,50/25/25\n", "proto.csv")
    with pytest.raises(ValueError, match=r"proto.csv: missing column\(s\) \['paper_says'\]"):
        E.paper_protocol(bad)
    dup = _write(tmp_path, "setting,dataset,value,paper_says\nlr,all,1,a\nlr,all,2,b\n", "dup.csv")
    with pytest.raises(ValueError, match="duplicate"):
        E.paper_protocol(dup)
    with pytest.raises(FileNotFoundError, match="paper protocol file not found"):
        E.paper_protocol(tmp_path / "none.csv")


# --------------------------------------------------------------------------------------------
# tables: the paper beside ours, diff, floors, last epoch
# --------------------------------------------------------------------------------------------


def _plan(last=True):
    """A train-stage plan: three seeds per network on radar_sim / basicmotions, one record per floor
    on radar_sim, softmax/sigmoid SPDNetNAS rows; ``test_acc_last`` a planted 0.05 below test_acc."""
    rng = np.random.default_rng(1)
    rows = []
    for ds in ("radar_sim", "basicmotions"):
        for m in E.METHODS:
            for s in range(3):
                rows.append({"stage": "train", "dataset": ds, "method": m, "weighting": "sparsemax" if m == "SPDNetNAS"
                             else None, "seed": s, "status": "ok", "test_acc": float(rng.uniform(0.5, 0.9)),
                             "val_acc": 0.7, "params": 100})
        for w in ("softmax", "sigmoid"):
            for s in range(3):
                rows.append({"stage": "train", "dataset": ds, "method": "SPDNetNAS", "weighting": w, "seed": s,
                             "status": "ok", "test_acc": float(rng.uniform(0.5, 0.9)), "val_acc": 0.7, "params": 50})
    for i, m in enumerate(FLOORS):
        rows.append({"stage": "train", "dataset": "radar_sim", "method": m, "weighting": None, "seed": 0,
                     "status": "ok", "test_acc": 0.6 + 0.1 * i, "val_acc": 0.55 + 0.1 * i, "params": None,
                     "flops": None})
    df = pd.DataFrame(rows)
    if last:
        df["test_acc_last"] = np.where(df["method"].isin(FLOORS), np.nan, df["test_acc"] - 0.05)
    return df


def _row(t, **kv):
    m = np.ones(len(t), bool)
    for k, v in kv.items():
        m &= (t[k].isna() if v is None else t[k] == v).to_numpy()
    assert m.sum() == 1, kv
    return t[m].iloc[0]


def test_table2_shows_the_paper_values_and_the_diff():
    plan = _plan()
    t = E.table2(plan, ["radar_sim", "hdm05", "basicmotions"])
    r = _row(t, dataset="radar_sim", method="SPDNetNAS")
    v = 100 * plan[(plan["dataset"] == "radar_sim") & (plan["method"] == "SPDNetNAS")
                   & (plan["weighting"] == "sparsemax")]["test_acc"].to_numpy()
    assert r["ours_mean"] == pytest.approx(v.mean()) and r["seeds"] == 3
    assert (r["paper_acc"], r["paper_mean"], r["paper_std"], r["paper_size"]) == ("97.75 ± 0.30", 97.75, 0.30,
                                                                                  "0.0184 MB")
    assert r["diff"] == pytest.approx(v.mean() - 97.75)
    assert "Table 2" in r["paper_source"] and "double-blind" in r["paper_source"]
    h = _row(t, dataset="hdm05", method="SPDNetBN")  # not run here, the paper value is still shown
    assert h["paper_acc"] == "65.20 ± 1.15" and h["paper_size"] == "0.1091 MB" and math.isnan(h["diff"])
    assert h["status"].startswith("not run")
    assert _row(t, dataset="hdm05", method="SPDNetNAS")["paper_size"] == "1.064 MB"
    bm = t[t["dataset"] == "basicmotions"]
    assert (bm["paper_acc"] == E.NOT_IN_PAPER).all() and bm["diff"].isna().all() and (bm["paper_source"] == "").all()


def test_table2_has_the_floors_as_rows_and_the_last_epoch():
    plan = _plan()
    t = E.table2(plan, ["radar_sim", "basicmotions"])
    assert list(t["method"][:9]) == list(FLOORS) + list(E.METHODS)  # floors first, then the networks
    assert t["kind"].tolist()[:9] == ["floor"] * 3 + ["network"] * 6
    for i, m in enumerate(FLOORS):
        f = _row(t, dataset="radar_sim", method=m)
        assert f["ours_mean"] == pytest.approx(100 * (0.6 + 0.1 * i)) and f["ours_acc"] == f"{100 * (0.6 + 0.1 * i):.2f}"
        assert f["status"] == "ok" and f["seeds"] == 1 and f["paper_acc"] == E.NOT_IN_PAPER
        assert math.isnan(f["ours_last_mean"]) and f["ours_last_acc"] == ""
    # a dataset whose plan has no floors says so instead of leaving them out
    assert t[(t["dataset"] == "basicmotions") & (t["kind"] == "floor")]["status"].str.startswith("not run").all()
    # last epoch: the records' test_acc_last, beside the validation-selected test_acc
    r = _row(t, dataset="radar_sim", method="SPDNet")
    assert r["ours_last_mean"] == pytest.approx(r["ours_mean"] - 5.0)
    sel = plan[(plan["dataset"] == "radar_sim") & (plan["method"] == "SPDNet")]["test_acc_last"].to_numpy() * 100
    assert r["ours_last_acc"] == E.format_pm(sel.mean(), sel.std(ddof=1))
    # records written before the selection existed: no last-epoch column, NaN there
    old = E.table2(_plan(last=False), ["radar_sim"])
    assert old["ours_last_mean"].isna().all() and (old["ours_last_acc"] == "").all()
    assert np.isfinite(old[old["kind"] == "network"]["ours_mean"]).all()
    with pytest.raises(ValueError, match="unknown method"):
        E.table2(plan, ["radar_sim"], ["1-NN"])


def test_table2_reads_the_paper_from_the_given_file(tmp_path):
    p = _write(tmp_path, HEAD + "2,RADAR,SPDNet,,50.00,1.00,9 MB,my copy Table 2\n")
    t = E.table2(_plan(), ["radar_sim"], ["SPDNet", "SPDNetBN"], reference=p)
    r = _row(t, method="SPDNet")
    assert (r["paper_acc"], r["paper_size"], r["paper_source"]) == ("50.00 ± 1.00", "9 MB", "my copy Table 2")
    assert r["diff"] == pytest.approx(r["ours_mean"] - 50.0)
    assert _row(t, method="SPDNetBN")["paper_acc"] == E.NOT_IN_PAPER


def test_paper_table2_is_the_files_table_2():
    p = E.paper_table2()
    assert len(p) == 12 and set(p["paper_dataset"]) == {"RADAR", "HDM05"}
    r = p[(p["paper_dataset"] == "HDM05") & (p["method"] == "SPDNetNAS (R)")].iloc[0]
    assert (r["paper_acc"], r["paper_size"]) == ("66.92 ± 0.72", "1.0557 MB")


def test_table4_shows_the_paper_values_the_diff_and_the_floors():
    plan = _plan()
    t = E.table4(plan, ["radar_sim", "hdm05"])
    rad = t[t["dataset"] == "radar_sim"]
    assert rad["method"].tolist() == list(FLOORS) + ["SPDNetNAS"] * 3  # floors first, as in table2
    assert rad["weighting"].tolist()[3:] == list(E.WEIGHTINGS) and rad["weighting"][:3].isna().all()
    assert (rad["kind"] == ["floor"] * 3 + ["network"] * 3).all()
    paper = {"sparsemax": (97.75, 0.30), "softmax": (96.47, 0.10), "sigmoid": (97.70, 0.23)}
    for w, (m, s) in paper.items():
        r = _row(t, dataset="radar_sim", weighting=w)
        v = 100 * plan[(plan["dataset"] == "radar_sim") & (plan["weighting"] == w)]["test_acc"].to_numpy()
        assert r["ours_mean"] == pytest.approx(v.mean()) and r["paper_acc"] == E.format_pm(m, s)
        assert r["diff"] == pytest.approx(v.mean() - m) and r["ours_last_mean"] == pytest.approx(v.mean() - 5)
        assert "Table 4" in r["paper_source"]
    assert _row(t, dataset="radar_sim", method="MDM")["ours_mean"] == pytest.approx(70.0)
    assert (rad[rad["kind"] == "floor"]["paper_acc"] == E.NOT_IN_PAPER).all()
    hd = t[t["dataset"] == "hdm05"]  # no hdm05 records: not-run rows, the paper's values beside them
    assert (hd["kind"] == "network").all() and hd["status"].str.startswith("not run").all()
    assert _row(t, dataset="hdm05", weighting="sigmoid")["paper_acc"] == "68.64 ± 0.09"
    t0 = E.table4(None, ["radar_sim"], missing_reason="x")
    assert t0["status"].tolist() == ["not run: x"] * 3 and t0["paper_acc"].tolist() == ["97.75 ± 0.30",
                                                                                          "96.47 ± 0.10",
                                                                                          "97.70 ± 0.23"]
    with pytest.raises(ValueError, match="at least one dataset"):
        E.table4(plan, [])


def _de_records():
    return pd.DataFrame([{"stage": "data_efficiency", "dataset": "radar_sim", "method": m, "fraction": f, "seed": s,
                          "status": "ok", "test_acc": 0.5 + 0.4 * f + 0.01 * s, "test_acc_last": 0.45 + 0.4 * f,
                          "params": 3} for m in ("SPDNet", "SPDNetNAS") for f in (0.1, 1.0) for s in (0, 1)])


def test_data_efficiency_table_says_figure_only_and_shows_the_floors():
    t = E.data_efficiency_table(_de_records(), methods=["SPDNetNAS", "SPDNet"], floors=_plan(), dataset="radar_sim")
    assert t["method"].tolist() == list(FLOORS) + ["SPDNetNAS"] * 2 + ["SPDNet"] * 2
    nets, fl = t[t["kind"] == "network"], t[t["kind"] == "floor"]
    assert (nets["paper_acc"] == E.PAPER_FIGURE_ONLY).all() and (fl["paper_acc"] == E.NOT_IN_PAPER).all()
    assert np.isfinite(nets["ours_mean"]).all() and not t["paper_acc"].str.contains(r"\d").any()
    assert (fl["fraction"] == 1.0).all() and fl["ours_mean"].tolist() == pytest.approx([60.0, 70.0, 80.0])
    assert nets["ours_last_mean"].tolist() == pytest.approx([49.0, 85.0, 49.0, 85.0])
    # floors of another dataset are not shown; floors held by the records themselves win
    other = _plan().assign(dataset="basicmotions")
    assert (E.data_efficiency_table(_de_records(), floors=other, dataset="radar_sim")["kind"] == "network").all()
    own = pd.DataFrame([{"dataset": "radar_sim", "method": "MDM", "fraction": f, "seed": 0, "status": "ok",
                         "test_acc": 0.3 + 0.1 * f, "params": None} for f in (0.1, 1.0)])
    t2 = E.data_efficiency_table(pd.concat([_de_records(), own]), floors=_plan(), dataset="radar_sim")
    mdm = t2[t2["method"] == "MDM"]
    assert mdm["fraction"].tolist() == [0.1, 1.0] and mdm["ours_mean"].tolist() == pytest.approx([31.0, 40.0])
    t0 = E.data_efficiency_table(None, [0.1, 1.0], ["SPDNet"], missing_reason="x")
    assert (t0["paper_acc"] == E.PAPER_FIGURE_ONLY).all() and (t0["status"] == "not run: x").all()


# --------------------------------------------------------------------------------------------
# the figure: ours, the paper (mean ± std) and the floors, all visible and labelled
# --------------------------------------------------------------------------------------------


def _labels(ax):
    return [tx.get_text() for tx in ax.get_legend().get_texts()]


def test_accuracy_bars_draw_the_paper_and_the_floors():
    t = E.table2(_plan(), ["radar_sim", "hdm05"])
    fig = plots.plot_accuracy_bars(t)
    ax = fig.axes[0]
    labels = _labels(ax)
    assert "paper (mean ± std)" in labels and [f"floor: {m}" for m in FLOORS] == [x for x in labels
                                                                                 if x.startswith("floor:")]
    # paper: one marker per cell with a paper value (12: both datasets, six methods), at its mean
    marks = [ln for ln in ax.lines if ln.get_gid() == "paper" and ln.get_marker() == "D"]
    assert len(marks) == 1
    want = t[t["kind"] == "network"]["paper_mean"].dropna().tolist()
    assert sorted(marks[0].get_ydata()) == pytest.approx(sorted(want))
    # its error bars span mean ± std
    segs = [s for c in ax.collections if c.get_gid() == "paper" for s in c.get_segments()]
    spans = np.array(sorted((np.asarray(s)[:, 1].min(), np.asarray(s)[:, 1].max()) for s in segs))
    net = t[t["kind"] == "network"].dropna(subset=["paper_mean"])
    want = np.array(sorted(zip(net["paper_mean"] - net["paper_std"], net["paper_mean"] + net["paper_std"])))
    np.testing.assert_allclose(spans, want)
    # floors: a dashed line per floor across radar_sim's slots (hdm05 has none), at the floor's value
    floors = [ln for ln in ax.lines if ln.get_gid() == "floor"]
    assert len(floors) == 3 and sorted(float(ln.get_ydata()[0]) for ln in floors) == pytest.approx([60, 70, 80])
    assert all(ln.get_linestyle() != "-" for ln in floors)
    assert all(-0.5 <= min(ln.get_xdata()) and max(ln.get_xdata()) <= 0.5 for ln in floors)
    # the networks are still bars at our means, not hidden by the paper's markers
    heights = sorted(p.get_height() for p in ax.patches if p.get_gid() != "not run")
    assert heights == pytest.approx(sorted(t[(t["kind"] == "network")]["ours_mean"].dropna()))
    marker_x = marks[0].get_xdata()
    bar_x = [p.get_x() + p.get_width() / 2 for p in ax.patches if p.get_gid() != "not run"]
    assert min(abs(a - b) for a in marker_x for b in bar_x) > 0.01  # beside the bars, not on their whiskers
    assert_annotations_clear(fig)


def test_accuracy_bars_without_paper_values_or_floors():
    t = E.table2(_plan(), ["basicmotions"], E.METHODS)
    ax = plots.plot_accuracy_bars(t).axes[0]
    assert not [ln for ln in ax.lines if ln.get_gid() in ("paper", "floor")]
    assert not [x for x in _labels(ax) if x.startswith(("paper", "floor"))]
    t4 = E.table4(_plan(), ["radar_sim"])
    ax4 = plots.plot_accuracy_bars(t4, group="weighting", paper=False).axes[0]
    assert not [ln for ln in ax4.lines if ln.get_gid() == "paper"]
    assert len([ln for ln in ax4.lines if ln.get_gid() == "floor"]) == 3
    assert [tk.get_text() for tk in ax4.get_xticklabels()] == ["radar_sim"]
    assert sorted(x for x in _labels(ax4) if x in E.WEIGHTINGS) == sorted(E.WEIGHTINGS)  # floors are no bar group


def test_data_efficiency_figure_draws_the_floors():
    t = E.data_efficiency_table(_de_records(), floors=_plan(), dataset="radar_sim")
    fig = plots.plot_data_efficiency(t)
    ax = fig.axes[0]
    floors = [ln for ln in ax.lines if ln.get_gid() == "floor"]
    assert sorted(float(ln.get_ydata()[0]) for ln in floors) == pytest.approx([60, 70, 80])
    assert "floor: MDM (100 % of train)" in _labels(ax)
    assert_annotations_clear(fig)


def test_table4_names_weightings_that_trained_the_same_cell():
    plan = _plan()
    a = {"normal": [["Skip", 0]], "reduce": [["AvgPooling", 1]]}
    b = {"normal": [["BiMap_0", 0]], "reduce": [["AvgPooling", 1]]}
    nas = plan["method"] == "SPDNetNAS"
    plan["genotype"] = None
    plan.loc[nas, "genotype"] = pd.Series([b if w == "sigmoid" else a for w in plan.loc[nas, "weighting"]],
                                          index=plan.index[nas], dtype=object)
    t = E.table4(plan, ["radar_sim"])
    same = dict(zip(t["weighting"], t["same_cell_as"]))
    assert same["sparsemax"] == "softmax" and same["softmax"] == "sparsemax" and same["sigmoid"] == ""
    assert (t[t["kind"] == "floor"]["same_cell_as"] == "").all()
