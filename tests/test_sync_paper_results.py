"""tools/sync-paper-results copies finished units (records and small metrics), never checkpoints."""

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_sync_copies_finished_units_only(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    done = src / "runs" / "experiments" / "train" / "radar_sim" / "SPDNet" / "seed0"
    part = src / "runs" / "experiments" / "search" / "hdm05" / "sparsemax"
    for d in (done, part):
        d.mkdir(parents=True)
    (done / "record.json").write_text(json.dumps({"status": "ok", "key": "k"}))
    (done / "metrics.json").write_text("{}")
    (done / "checkpoint.pt").write_bytes(b"\0" * 10)
    (part / "search_checkpoint.pt").write_bytes(b"\0" * 10)
    (part / "genotype.partial.json").write_text("{}")
    (src / "RUNS.log").write_text("start\n")
    (src / "runs" / "experiments" / "search" / "datasets.json").write_text("{}")
    r = subprocess.run([str(ROOT / "tools" / "sync-paper-results"), str(src), str(dst)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "1 finished unit(s)" in r.stdout
    got = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert got == ["RUNS.log", "runs/experiments/search/datasets.json",
                   "runs/experiments/train/radar_sim/SPDNet/seed0/metrics.json",
                   "runs/experiments/train/radar_sim/SPDNet/seed0/record.json"]
    bad = subprocess.run([str(ROOT / "tools" / "sync-paper-results"), str(tmp_path / "nope"), str(dst)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no runs/ folder" in bad.stderr


def test_make_paper_snapshot_runs_nothing_and_renders_the_paper_notebooks(tmp_path):
    r = subprocess.run(["make", "-n", "paper-snapshot", f"PAPER={tmp_path}", "STAMP=Makefile"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cmds = r.stdout
    assert f"search-train --profile paper --out {tmp_path}/runs/experiments --snapshot" in cmds
    assert "for nb in 02_search 03_table2 04_table4;" in cmds
    assert f"SPDNAS_OUTPUT_DIR={tmp_path} " in cmds and f"notebooks/$nb.ipynb {tmp_path}/notebooks/$nb.ipynb" in cmds


def test_committed_paper_results_agree_with_their_records():
    """results/paper: every finished record is in the committed plans and tables, nothing else is ok."""
    import pandas as pd

    runs = ROOT / "results" / "paper" / "runs" / "experiments"
    # the DARTS / FairDARTS log-map searches (train/<dataset>/<method>/search/) are dependencies of
    # their trainings, not plan rows
    recs = {json.loads(p.read_text())["key"] for p in runs.rglob("record.json")
            if not (p.relative_to(runs).parts[0] == "train" and p.parent.name == "search")}
    plans = [runs / s / "plan.json" for s in ("search", "train")]
    if not all(p.is_file() for p in plans):
        return  # no snapshot committed yet
    ok = []
    for p in plans:
        for r in json.loads(p.read_text())["records"]:
            ok += [r["key"]] if r["status"] == "ok" else []
    floors = {p.parent.name for p in runs.rglob("floors/record.json")}
    assert set(ok) <= recs and len(set(ok)) >= len(recs) - len(floors)
    g = pd.read_csv(ROOT / "results" / "paper" / "tables" / "search_genotypes.csv")
    searched = sum(json.loads(p.read_text())["status"] == "ok" for p in (runs / "search").rglob("record.json"))
    assert (g["status"] == "ok").sum() == searched
