"""bench/bench_train.py, bench/bench_experiments.py and bench/bench_protocol.py run and report what
their README tables are built from (no timing asserts)."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def benches():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_experiments
        import bench_train
        yield bench_train, bench_experiments
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_train_bench_records_the_eigendecompositions_it_replays(benches, tmp_path):
    bench_train, _ = benches
    out = tmp_path / "t.json"
    bench_train.main(["--repeats", "1", "--only", "radar_sim", "--out", str(out)])
    rows = {r["network"]: r for r in json.loads(out.read_text())["rows"]}
    assert len(rows) == 4  # searched and random SPDNetNAS cells, SPDNet, SPDNetBN
    spdnet = rows["SPDNet, radar_sim 20x20"]
    # SPDNet 20 -> 16 -> 8: the input check (eigvalsh at 20), ReEig at 16, LogEig at 8, each over the batch of 30
    assert spdnet["sizes"] == {"20": 1, "16": 1, "8": 1}
    assert spdnet["matrices"] == 90
    for r in rows.values():
        assert r["step_ms"] > 0 and r["eigh_floor_ms"] > 0 and r["ratio"] > 0 and r["eigh_calls"] > 0
        assert r["products"] > 0 and r["products_ms"] > 0 and r["floor_ratio"] > 1 and r["floor_ratio_numpy"] > 1
        assert r["step_torch_products_ms"] > 0 and r["ratio_torch_products"] > 0
    # the products are recorded as torch products although the default backend computes congruences in NumPy
    assert spdnet["products"] >= 6  # at least the BiMaps' two products forward and the backward's


def test_train_bench_finds_every_matrix_product(benches):
    import torch

    bench_train, _ = benches
    a, b, c = torch.randn(4, 3, 5), torch.randn(4, 5, 2), torch.randn(6, 3)

    def step():
        torch.bmm(a, b)
        c @ c.T  # mm
        torch.addmm(torch.zeros(6, 6), c, c.T)
        torch.relu(c)  # not a product

    assert bench_train._products(step) == [((4, 3, 5), (4, 5, 2)), ((6, 3), (3, 6)), ((6, 3), (3, 6))]


def test_experiments_bench_runs_the_same_units_on_each_executor(benches, tmp_path):
    _, bench_experiments = benches
    out = tmp_path / "e.json"
    bench_experiments.main(["--n-per-class", "12", "--epochs", "1", "--search-epochs", "1", "--seeds", "1",
                            "--repeats", "1", "--settings", "inline,process:2", "--quick", "--out", str(out)])
    d = json.loads(out.read_text())
    assert [r["setting"] for r in d["rows"]] == ["inline", "process:2"]
    assert all(r["units"] == d["rows"][0]["units"] and r["compute_s"] > 0 for r in d["rows"])
    assert d["identical"] is True


def test_train_bench_times_the_genotype_files_it_is_given(benches, tmp_path):
    bench_train, _ = benches
    g = tmp_path / "search" / "radar_sim" / "softmax" / "genotype.json"
    g.parent.mkdir(parents=True)
    g.write_text(json.dumps({"normal": [["Skip", 0], ["BiMap_0", 1], ["Skip", 0], ["WeightedPooling", 2]],
                             "reduce": [["MaxPooling", 0], ["Skip_reduced", 1], ["Skip_reduced", 0], ["MaxPooling", 1]]}))
    out = tmp_path / "t.json"
    bench_train.main(["--repeats", "1", "--genotype", str(g), "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["network"] for r in rows] == ["SPDNetNAS radar_sim/softmax cell, radar_sim 20x20"]
    assert rows[0]["step_ms"] > 0 and rows[0]["eigh_calls"] > 0
    with pytest.raises(FileNotFoundError):
        bench_train.main(["--repeats", "1", "--genotype", str(tmp_path / "missing.json")])


def test_protocol_bench_measures_every_unit_of_the_profile(benches, tmp_path):
    import bench_protocol  # on the path while the benches fixture is active

    out = tmp_path / "p.json"
    d = bench_protocol.main(["--profile", "smoke", "--epochs", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(d))
    units = [r["unit"] for r in d["rows"]]
    # the smoke profile: radar_sim searched with sparsemax only, one seed of every method
    assert units == ["SPDNetNAS search (order 1)", "SPDNet", "SPDNetBN", "SPDNetNAS (sparsemax genotype)",
                     "SPDNetNAS (R) seed 0", "DARTS search (log-map CNN, first order)", "DARTS training",
                     "FairDARTS search (log-map CNN, first order)", "FairDARTS training"]
    assert all(r["s_per_epoch"] > 0 and r["count"] == 1 and r["epochs"] == 1 for r in d["rows"])
    assert "fallback" in d["rows"][3]["note"]  # no searched genotypes given
    assert d["core_seconds"] >= d["unit_seconds"] > 0
    with pytest.raises(SystemExit, match="not searched"):
        bench_protocol.main(["--profile", "smoke", "--dataset", "hdm05"])
