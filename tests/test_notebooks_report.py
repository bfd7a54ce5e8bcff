"""spdnas.report: tables (CSV + LaTeX), metrics JSON, "not run" rows/figures, data manifest."""

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from spdnas.cli import main as spdnas_main
from spdnas.workbench import report


def test_write_table_csv_roundtrip_and_latex(tmp_path):
    df = pd.DataFrame({"space": ["Res_Net", "50% & more"], "error": [7.123456789, np.nan],
                       "n": [3, 4]})
    csv, tex = report.write_table(df, tmp_path / "t", caption="A & B", label="tab:t")
    assert (csv.name, tex.name) == ("t.csv", "t.tex")
    back = pd.read_csv(csv)
    assert back["space"].tolist() == df["space"].tolist()
    np.testing.assert_allclose(back["error"], df["error"], rtol=1e-9)
    assert back["n"].tolist() == [3, 4]
    t = tex.read_text()
    assert r"\begin{tabular}{lrr}" in t and r"\toprule" in t and r"\bottomrule" in t
    assert r"Res\_Net & 7.12 & 3 \\" in t
    assert r"50\% \& more &  & 4 \\" in t  # NaN -> empty cell, specials escaped
    assert r"\caption{A \& B}" in t and r"\label{tab:t}" in t
    # deterministic bytes
    before = csv.read_bytes(), tex.read_bytes()
    report.write_table(df, tmp_path / "t.csv", caption="A & B", label="tab:t")
    assert (csv.read_bytes(), tex.read_bytes()) == before


def test_write_table_tex_columns(tmp_path):
    df = pd.DataFrame({"a": [1], "long": ["x y z"], "b": [2.5]})
    csv, tex = report.write_table(df, tmp_path / "t", tex_columns=["b", "a"])
    assert pd.read_csv(csv).columns.tolist() == ["a", "long", "b"]
    assert "b & a \\\\" in tex.read_text() and "long" not in tex.read_text()
    with pytest.raises(ValueError, match="tex_columns"):
        report.write_table(df, tmp_path / "t", tex_columns=["nope"])


def test_write_table_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        report.write_table(pd.DataFrame({"a": []}), tmp_path / "t")
    with pytest.raises(ValueError, match="DataFrame"):
        report.write_table([1, 2], tmp_path / "t")
    with pytest.raises(ValueError, match="no columns"):
        report.write_csv(pd.DataFrame(), tmp_path / "e.csv")
    # header-only CSV (plot data of a result that was not run) is allowed
    p = report.write_csv(pd.DataFrame(columns=["k", "mean"]), tmp_path / "e.csv")
    assert p.read_text() == "k,mean\n"


def test_not_run_rows_and_status():
    row = report.not_run_row(["dataset", "acc"], "HDM05 missing (x not found)", dataset="hdm05")
    assert row["dataset"] == "hdm05" and np.isnan(row["acc"])
    assert row["status"] == "not run: HDM05 missing (x not found)"
    assert report.is_not_run(row["status"]) and not report.is_not_run("ok")
    with pytest.raises(ValueError, match="unknown column"):
        report.not_run_row(["a"], "why", b=1)
    with pytest.raises(ValueError, match="reason"):
        report.not_run("  ")


def test_missing_reason(tmp_path):
    (tmp_path / "a").write_text("x")
    assert report.missing_reason([tmp_path / "a"]) is None
    why = report.missing_reason([tmp_path / "a", tmp_path / "b"], "thing")
    assert why.startswith("thing missing") and str(tmp_path / "b") in why
    with pytest.raises(ValueError):
        report.missing_reason([])


def test_metrics_json_nan_to_null_and_errors(tmp_path):
    p = report.write_metrics({"b": np.float64(np.nan), "a": np.int64(3), "c": np.arange(2),
                              "d": {"x": np.bool_(True), "y": float("inf")}}, tmp_path / "m.json")
    data = json.loads(p.read_text())
    assert data == {"a": 3, "b": None, "c": [0, 1], "d": {"x": True, "y": None}}
    assert list(data) == ["a", "b", "c", "d"]  # sorted keys: stable diffs
    assert report.read_metrics(p) == data
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        report.write_metrics({"f": object()}, tmp_path / "x.json")
    with pytest.raises(ValueError):
        report.write_metrics({}, tmp_path / "x.json")
    with pytest.raises(FileNotFoundError):
        report.read_metrics(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        report.read_metrics(tmp_path / "bad.json")


def test_atomic_write_keeps_old_table_on_failure(tmp_path, monkeypatch):
    df = pd.DataFrame({"a": [1]})
    csv, _ = report.write_table(df, tmp_path / "t")
    old = csv.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        report.write_table(pd.DataFrame({"a": [2]}), tmp_path / "t")
    assert csv.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.tex"]  # no temp files left


def test_data_manifest_presence_and_hash(tmp_path):
    (tmp_path / "hdm05" / "spd").mkdir(parents=True)
    (tmp_path / "hdm05" / "spd" / "a_1.npy").write_bytes(b"abc")
    man = report.data_manifest(tmp_path)
    assert man["nas_bench_macro"] == {"present": False,
                                      "missing": ["nas-bench-macro/nas-bench-macro_cifar10.json"]}
    h = man["hdm05"]
    assert h["present"] and h["files"] == 1 and h["bytes"] == 3
    ref = hashlib.sha256(b"hdm05/spd/a_1.npy\0abc\0").hexdigest()  # independent recomputation
    assert h["sha256"] == ref
    # a changed file changes the hash; the data location does not enter the manifest
    (tmp_path / "hdm05" / "spd" / "a_1.npy").write_bytes(b"abd")
    assert report.data_manifest(tmp_path)["hdm05"]["sha256"] != ref
    assert str(tmp_path) not in json.dumps(report.data_manifest(tmp_path))
    with pytest.raises(ValueError):
        report.data_manifest(tmp_path, datasets={})


def test_manifest_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("SPDNAS_DATA", str(tmp_path / "nothing"))
    out = tmp_path / "m.json"
    assert spdnas_main(["report", "manifest", "--out", str(out)]) == 0
    data = report.read_metrics(out)
    assert not data["hdm05"]["present"] and not data["nas_bench_macro"]["present"]


def test_not_run_figure_saves(tmp_path):
    from spdnas.plots import save_figure

    fig = report.not_run_figure("NAS-Bench-Macro missing", "title")
    paths = save_figure(fig, tmp_path / "f")
    assert [p.suffix for p in paths] == [".pdf", ".png"] and all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(ValueError):
        report.not_run_figure("")
