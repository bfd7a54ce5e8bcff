"""Population data model, Parquet round trip and the NDS / NAS-Bench-Macro / sweep importers."""

import json

import numpy as np
import pandas as pd
import pytest

from spdnas import analysis as A
from spdnas.analysis import population as P


def make_pop(n=4):
    return pd.DataFrame(
        {
            "space": ["s"] * n,
            "model_id": [f"m{i}" for i in range(n)],
            "config": [json.dumps({"w": i}) for i in range(n)],
            "params": np.arange(n) * 1000 + 10,
            "flops": np.arange(n) * 10**6 + 5,
            "error": np.linspace(5, 20, n),
            "seed": np.zeros(n, dtype=int),
            "epochs": np.full(n, 10),
            "dataset": ["cifar10"] * n,
        }
    )


def test_validate_canonicalises_dtypes_and_order():
    df = make_pop()[list(reversed(P.COLUMNS))]
    df["params"] = df["params"].astype(float)
    df["extra"] = 1
    out = A.validate_population(df)
    assert list(out.columns) == list(P.COLUMNS) + ["extra"]
    assert out["params"].dtype == np.int64 and out["error"].dtype == np.float64


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.drop(columns="flops"), "flops"),
        (lambda d: d.iloc[:0], "empty"),
        (lambda d: d.assign(error=[5.0, np.nan, 3.0, 4.0]), "NaN"),
        (lambda d: d.assign(error=[5.0, 101.0, 3.0, 4.0]), r"\[0, 100\]"),
        (lambda d: d.assign(params=[1.5, 2.0, 3.0, 4.0]), "params"),
        (lambda d: d.assign(flops=[1, -2, 3, 4]), "flops"),
        (lambda d: d.assign(params=["a", "b", "c", "d"]), "params"),
        (lambda d: d.assign(config=["{}", "{not json", "{}", "{}"]), "config"),
        (lambda d: d.assign(space=["s", "", "s", "s"]), "space"),
        (lambda d: d.assign(model_id=["a", "a", "b", "c"]), "duplicate"),
    ],
)
def test_validate_rejects_bad_populations(mutate, match):
    with pytest.raises(ValueError, match=match):
        A.validate_population(mutate(make_pop()))


def test_validate_names_the_row():
    df = make_pop()
    df.loc[2, "error"] = np.inf
    with pytest.raises(ValueError, match="row 2"):
        A.validate_population(df)


def test_parquet_round_trip_and_errors(tmp_path):
    df = make_pop()
    df["curve"] = [json.dumps([20.0, 10.0])] * 4
    path = A.save_population(df, tmp_path / "sub" / "pop.parquet")
    back = A.load_population(path)
    pd.testing.assert_frame_equal(back, A.validate_population(df).reset_index(drop=True))
    assert [p.name for p in path.parent.iterdir()] == ["pop.parquet"]  # no temp file left
    with pytest.raises(FileNotFoundError):
        A.load_population(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match="Parquet"):
        A.load_population(tmp_path / "bad.parquet")
    with pytest.raises(ValueError):
        A.save_population(df.assign(error=np.nan), tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def nds_record(i, err=8.0, seed=1):
    return {
        "job_id": 100 + i,
        "rng_seed": seed,
        "net": {"depth": 10 + i, "width": 16},
        "optim": {"base_lr": 0.1, "wd": 5e-4, "max_ep": 3},
        "params": 1000 * (i + 1),
        "flops": 10**6 * (i + 1),
        "min_test_top1": err,
        "test_ep_top1": [30.0, 12.0, err + 0.5],
        "prec_time": {"train_fw_bw": 0.1},
    }


def test_load_nds_list_and_reruns(tmp_path):
    path = tmp_path / "ResNet.json"
    path.write_text(json.dumps([nds_record(i, 5.0 + i) for i in range(3)]))
    df = A.load_nds_json(path)
    assert df["space"].unique().tolist() == ["ResNet"] and df["dataset"].iloc[0] == "cifar10"
    assert df["model_id"].tolist() == ["100", "101", "102"]
    np.testing.assert_allclose(df["error"], [5.0, 6.0, 7.0])
    assert df["epochs"].tolist() == [3, 3, 3] and df["seed"].tolist() == [1, 1, 1]
    assert json.loads(df["config"].iloc[1])["net"]["depth"] == 11
    assert json.loads(df["curve"].iloc[0]) == [30.0, 12.0, 5.5]
    final = A.load_nds_json(path, space="R", error="final")
    np.testing.assert_allclose(final["error"], [5.5, 6.5, 7.5])
    reruns = tmp_path / "DARTS_in_reruns.json"
    recs = {"top": [nds_record(0, 4.0, s) for s in range(2)], "mid": [nds_record(1, 6.0)]}
    for r in recs["top"] + recs["mid"]:
        del r["job_id"]
    reruns.write_text(json.dumps(recs))
    df = A.load_nds_json(reruns)
    assert df["space"].iloc[0] == "DARTS_in" and df["dataset"].iloc[0] == "imagenet"
    assert df["group"].tolist() == ["top", "top", "mid"]
    assert df["model_id"].tolist() == ["top[0]", "top[1]", "mid[0]"]


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda r: r.pop("net"), "record 1: missing or non-object 'net'"),
        (lambda r: r.update(min_test_top1=float("nan")), "record 1: 'min_test_top1'"),
        (lambda r: r.update(min_test_top1=150.0), r"record 1: .*\[0, 100\]"),
        (lambda r: r.update(params="big"), "record 1: 'params'"),
        (lambda r: r.update(test_ep_top1=[1.0, "x"]), r"record 1: 'test_ep_top1'\[1\]"),
        (lambda r: r.update(optim=[1]), "record 1: 'optim'"),
    ],
)
def test_load_nds_malformed_records(tmp_path, bad, match):
    recs = [nds_record(i) for i in range(3)]
    bad(recs[1])
    path = tmp_path / "X.json"
    path.write_text(json.dumps(recs))
    with pytest.raises(ValueError, match=match):
        A.load_nds_json(path)


def test_load_nds_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        A.load_nds_json(tmp_path / "nope.json")
    (tmp_path / "a.json").write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        A.load_nds_json(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps([nds_record(0), 3]))
    with pytest.raises(ValueError, match="record 1: record must be a JSON object"):
        A.load_nds_json(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(json.dumps({"top": {"a": 1}}))
    with pytest.raises(ValueError, match="'top'"):
        A.load_nds_json(tmp_path / "c.json")
    (tmp_path / "d.json").write_text("[]")
    with pytest.raises(ValueError, match="no records"):
        A.load_nds_json(tmp_path / "d.json")
    (tmp_path / "e.json").write_text(json.dumps([nds_record(0)]))
    with pytest.raises(ValueError, match="error must be"):
        A.load_nds_json(tmp_path / "e.json", error="best")


def test_load_nas_bench_macro_matches_raw_json(shared_data):
    path = shared_data / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
    raw = json.loads(path.read_text())
    df = A.load_nas_bench_macro(path)
    assert len(df) == 3 * len(raw) == 19683
    assert df["model_id"].nunique() == 6561 and set(df["seed"]) == {0, 1, 2}
    assert (df["space"] == "nas-bench-macro").all() and (df["dataset"] == "cifar10").all()
    arch = "11111221"
    rows = df[df["model_id"] == arch].sort_values("seed")
    np.testing.assert_allclose(rows["error"], [100 - a for a in raw[arch]["test_acc"]], atol=1e-4)
    assert rows["params"].iloc[0] == raw[arch]["params"] and rows["flops"].iloc[0] == raw[arch]["flops"]
    best = min(min(v["test_acc"]) for v in raw.values())
    assert df["error"].max() == pytest.approx(100 - best, abs=1e-4)
    mean = A.load_nas_bench_macro(shared_data, aggregate="mean")  # a folder works too
    assert len(mean) == 6561 and (mean["seed"] == -1).all()
    m = mean.set_index("model_id")
    assert m.loc[arch, "error"] == pytest.approx(100 - raw[arch]["mean_acc"], abs=1e-4)
    assert m.loc[arch, "error_std"] == pytest.approx(raw[arch]["std"])


def test_load_nas_bench_macro_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="NAS-Bench-Macro"):
        A.load_nas_bench_macro(tmp_path)
    with pytest.raises(ValueError, match="aggregate"):
        A.load_nas_bench_macro(tmp_path, aggregate="median")
    good = {"test_acc": [90.0, 91.0, 92.0], "mean_acc": 91.0, "std": 0.8, "params": 10, "flops": 20}
    for bad, match in (
        ({"0120": {**good, "test_acc": []}}, "record 0 .*test_acc"),
        ({"0120": good, "0121": {**good, "params": -1}}, "record 1 .*params"),
        ({"01x0": good}, "arch"),
        ([1, 2], "expected a non-empty object"),
    ):
        (tmp_path / "n.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=match):
            A.load_nas_bench_macro(tmp_path / "n.json")


def sweep_record(i):
    return {
        "space": "spdnet", "model_id": i, "config": {"depth": i}, "params": 100 + i,
        "flops": 1000 + i, "error": 30.0 + i, "seed": 0, "epochs": 2, "dataset": "hdm05",
        "train_time": 1.5, "curve": [2.0, None], "test_loss": None, "diverged": False,
        "model_seed": 7 + i, "sweep": "abc", "recipe": json.dumps({"lr": 0.1}), "host": "h:1",
    }


def test_sweep_records_round_trip(tmp_path):
    path = tmp_path / "sweep.jsonl"
    path.write_text("\n".join(json.dumps(sweep_record(i)) for i in range(3)) + "\n\n")
    df = A.load_sweep_records(path)
    assert df["model_id"].tolist() == ["0", "1", "2"]
    assert json.loads(df["config"].iloc[2]) == {"depth": 2}
    assert json.loads(df["curve"].iloc[0]) == [2.0, None]
    out = A.save_sweep_records(df, tmp_path / "again.jsonl")
    again = A.load_sweep_records(out)
    pd.testing.assert_frame_equal(df, again)


def test_sweep_records_from_result_store(tmp_path):
    store_mod = pytest.importorskip("spdnas.sweep.store")
    store = store_mod.ResultStore(tmp_path / "runs.jsonl")
    for i in range(3):
        store.append(sweep_record(i) | {"config": json.dumps({"depth": i})})
    df = A.load_sweep_records(store.path)
    assert len(df) == 3 and df["sweep"].unique().tolist() == ["abc"]


@pytest.mark.parametrize(
    "line, match",
    [
        ("{not json", "line 2 .*not valid JSON"),
        (json.dumps([1, 2]), "line 2 .*JSON object"),
        (json.dumps({k: v for k, v in sweep_record(1).items() if k != "error"}), r"line 2 .*missing key\(s\) \['error'\]"),
        (json.dumps(sweep_record(1) | {"colour": "red"}), "line 2 .*unknown key"),
        (json.dumps(sweep_record(1) | {"error": -3.0}), "line 2 .*'error'"),
        (json.dumps(sweep_record(1) | {"params": 1.5}), "line 2 .*'params'"),
        (json.dumps(sweep_record(1) | {"dataset": ""}), "line 2 .*'dataset'"),
    ],
)
def test_sweep_records_malformed(tmp_path, line, match):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(sweep_record(0)) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=match):
        A.load_sweep_records(path)


def test_sweep_records_missing_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError):
        A.load_sweep_records(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no records"):
        A.load_sweep_records(tmp_path / "empty.jsonl")
    with pytest.raises(ValueError, match="no records"):
        A.save_sweep_records([], tmp_path / "x.jsonl")
