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
