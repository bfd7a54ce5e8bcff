"""bench/bench_spd.py runs and reports what its README table is built from (no timing asserts)."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_spd
        yield bench_spd
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_paired_alternates_and_returns_median_ratio(bench):
    calls = []
    t, ratio, refs = bench.paired(lambda: calls.append("fn"), lambda: calls.append("ref"), bench.torch.device("cpu"),
                                  repeats=3, warmup=1)
    assert calls == ["ref", "fn"] * 4 and len(refs) == 3 and t >= 0 and ratio > 0


def test_smoke_run_writes_every_row(bench, tmp_path):
    out, table = tmp_path / "b.json", tmp_path / "b.md"
    bench.main(["--quick", "--repeats", "1", "--threads", "1", "--dtypes", "float64", "--out", str(out),
                "--table", str(table)])
    rows = json.loads(out.read_text())["results"]
    ops = {r["op"] for r in rows}
    for name in ("logm", "expm", "sqrtm", "invsqrtm", "powm(0.5)", "reeig"):
        assert f"{name} fwd+bwd (spdnas)" in ops
    assert {"eigh (forward only)", "SPDNet train step (spd-learn)", "SPDNetBN train step (spd-learn)",
            "SPDNet train step (spdnas)", "SPDNetBN train step, mean detached (spdnas)"} <= ops
    refs = [r for r in rows if r.get("ref")]
    assert len(refs) == 2 + 2  # eigh per shape (2 shapes), two spd-learn models
    assert all(r["seconds"] > 0 and r["ratio"] > 0 and r["ratio_best"] > 0 for r in rows)
    assert table.read_text().count("\n| 1 | float64 |") == len(rows)
