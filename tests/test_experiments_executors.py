"""Experiment stages on the unit executors: inline, process pool and Dask give identical records;
a stage killed with SIGKILL part-way resumes without recomputing finished units and yields
exactly the planned records; a Dask worker killed mid-stage costs only its unit."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from spdnas import experiments as E

ROOT = Path(__file__).resolve().parents[1]
SEARCH = {"datasets": ["radar_sim"], "ablation_datasets": [], "n_per_class": 12, "epochs": 1, "order": 1,
          "batch_size": 30, "max_steps": 1}
TRAIN = {"methods": ["SPDNet", "SPDNetBN", "SPDNetNAS (R)"], "seeds": [0, 1], "epochs": 3, "floors": True}
FIELDS = ("dataset", "method", "seed", "status", "test_acc", "val_acc", "selected_epoch", "test_acc_last", "params")


def _view(records):
    return sorted(tuple(r.get(k) for k in FIELDS) for r in records)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("exec") / "search"
    E.run_search_stage(SEARCH, out, None, progress=False)
    return out


def test_inline_process_and_dask_give_identical_records(searched, tmp_path):
    runs = {ex: E.run_train_stage(TRAIN, searched, tmp_path / ex, None, progress=False, executor=ex, workers=2)
            for ex in ("inline", "process", "dask")}
    assert len(runs["inline"]) == 3 * 2 + 3  # 3 methods x 2 seeds + the 3 floors
    assert all(r["status"] == "ok" for r in runs["inline"])
    assert _view(runs["process"]) == _view(runs["inline"]) == _view(runs["dask"])
    # the plan lists the records in plan order on every executor
    for ex in runs:
        plan = json.loads((tmp_path / ex / "plan.json").read_text())["records"]
        assert [(r["method"], r["seed"]) for r in plan] == [(r["method"], r["seed"]) for r in runs["inline"]]


def test_search_and_train_as_one_set_of_units_equal_the_two_stages(searched, tmp_path):
    """run_search_and_train gives the records and unit keys of search-then-train; each stage's
    run resumes the other's units (nothing recomputed)."""
    search = dict(SEARCH, ablation_datasets=["radar_sim"])
    train = dict(TRAIN, methods=["SPDNet", "SPDNetNAS"], seeds=[0])
    srecs, trecs = E.run_search_and_train(search, train, tmp_path / "s", tmp_path / "t", None, progress=False,
                                          executor="process", workers=2)
    s2 = E.run_search_stage(search, tmp_path / "s2", None, progress=False)
    t2 = E.run_train_stage(train, tmp_path / "s2", tmp_path / "t2", None, progress=False)
    assert [r["key"] for r in srecs] == [r["key"] for r in s2]
    assert [(r["method"], r.get("weighting"), r["key"]) for r in trecs] == \
        [(r["method"], r.get("weighting"), r["key"]) for r in t2]
    assert len(trecs) == 1 + 3 + 3  # SPDNet, SPDNetNAS x 3 weightings (sparsemax + the ablation), floors
    assert _view(trecs) == _view(t2)
    stamp = _records(tmp_path)
    again = E.run_train_stage(train, tmp_path / "s", tmp_path / "t", None, progress=False)
    E.run_search_and_train(search, train, tmp_path / "s2", tmp_path / "t2", None, progress=False)
    assert [r["key"] for r in again] == [r["key"] for r in trecs]
    assert _records(tmp_path) == stamp  # every unit was read back, none rerun
    plan = json.loads((tmp_path / "t" / "plan.json").read_text())
    assert plan["stage"] == "train" and len(plan["records"]) == len(trecs)


def test_search_and_train_cli(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"exp_search": SEARCH, "exp_train": dict(TRAIN, seeds=[0],
                                                                                               methods=["SPDNet"])}))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    cmd = [sys.executable, "-m", "spdnas", "experiments", "search-train", "--config", str(tmp_path / "c.yaml"),
           "--out", str(tmp_path / "o"), "--executor", "inline", "--no-progress"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "search-train: 5 of 5 units ok" in r.stdout  # search, SPDNet, 3 floors
    assert (tmp_path / "o" / "search" / "plan.json").is_file() and (tmp_path / "o" / "train" / "plan.json").is_file()
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"exp_search": SEARCH}))
    r = subprocess.run(cmd[:5] + ["--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o2")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "exp_train" in r.stderr


def _records(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in out.rglob("record.json")}


def test_stage_killed_with_sigkill_resumes_without_recomputing(searched, tmp_path):
    cfg = dict(TRAIN, epochs=25, methods=["SPDNet", "SPDNetNAS (R)"])
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "train"
    cmd = [sys.executable, "-m", "spdnas", "experiments", "train", "--config", str(tmp_path / "t.yaml"),
           "--search", str(searched), "--out", str(out), "--executor", "process", "--workers", "2", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 240
    # wait until one unit has finished and another is part-way (a checkpoint, no record)
    while time.time() < deadline and proc.poll() is None:
        done = set(p.parent for p in out.rglob("record.json"))
        partial = [p.parent for p in out.rglob("checkpoint.pt") if p.parent not in done]
        if done and partial:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker processes
    proc.wait()
    before = _records(out)
    partial = [p.parent for p in out.rglob("checkpoint.pt") if not (p.parent / "record.json").exists()]
    assert before and partial
    epochs_before = {p: len(json.loads((p / "metrics.json").read_text())["history"]) for p in partial
                     if (p / "metrics.json").exists()}
    for p in epochs_before:  # mark the epochs of the first call (the resumed run rewrites the file from its checkpoint)
        m = json.loads((p / "metrics.json").read_text())
        m["history"] = [dict(h, time_s=100.0) for h in m["history"]]
        (p / "metrics.json").write_text(json.dumps(m))
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _records(out)
    assert all(after[p] == t for p, t in before.items())  # finished units were not recomputed
    for p, n in epochs_before.items():  # the killed units resumed from their checkpoints
        hist = json.loads((p / "metrics.json").read_text())["history"]
        assert len(hist) == 25 and n >= 1
        # a resumed unit's time_s covers its epochs of both calls, not only the last call's
        assert json.loads((p / "record.json").read_text())["time_s"] >= 100.0 * n
    plan = json.loads((out / "plan.json").read_text())["records"]
    assert sorted((r["method"], r["seed"]) for r in plan) == sorted(
        [(m, s) for m in cfg["methods"] for s in cfg["seeds"]] + [(m, 0) for m in E.FLOOR_METHODS])
    assert all(r["status"] == "ok" for r in plan)
    # identical to an uninterrupted run
    ref = E.run_train_stage(cfg, searched, tmp_path / "ref", None, progress=False)
    assert _view(plan) == _view(ref)


def test_dask_worker_killed_mid_stage(searched, tmp_path):
    from distributed import get_client

    cfg = dict(TRAIN, epochs=15, methods=["SPDNetNAS (R)"], floors=False)
    killed = {}

    def kill_a_busy_worker(stop):
        while not stop.is_set():
            try:
                client = get_client()
            except ValueError:
                time.sleep(0.05)
                continue
            try:  # the client may still be connecting (no scheduler yet) or closing
                busy = {w: ks for w, ks in client.processing().items() if ks}
                if busy and list((tmp_path / "dask").rglob("checkpoint.pt")):
                    addr = sorted(busy)[0]
                    pids = client.run(os.getpid)
                    killed["keys"] = busy[addr]
                    os.kill(pids[addr], signal.SIGKILL)
                    return
            except (AttributeError, OSError, KeyError):
                pass
            time.sleep(0.05)

    stop = threading.Event()
    th = threading.Thread(target=kill_a_busy_worker, args=(stop,), daemon=True)
    th.start()
    try:
        recs = E.run_train_stage(cfg, searched, tmp_path / "dask", None, progress=False, executor="dask", workers=2)
    finally:
        stop.set()
        th.join(5)
    assert killed.get("keys"), "no worker was killed while a unit ran"
    assert [r["status"] for r in recs] == ["ok", "ok"]
    ref = E.run_train_stage(cfg, searched, tmp_path / "ref", None, progress=False)
    assert _view(recs) == _view(ref)


def test_search_train_snapshot_lists_finished_units_and_runs_nothing(searched, tmp_path):
    """--snapshot of a run in progress: finished units as they are, every other unit (and the
    floors' methods) as 'not run: not finished yet'; no unit runs, no record is written."""
    import shutil

    out = tmp_path / "o"
    shutil.copytree(searched, out / "search")  # the search unit finished, no training yet
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"exp_search": SEARCH, "exp_train": dict(TRAIN, seeds=[0],
                                                                                           methods=["SPDNet"])}))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    cmd = [sys.executable, "-m", "spdnas", "experiments", "search-train", "--config", str(tmp_path / "c.yaml"),
           "--out", str(out), "--executor", "inline", "--no-progress", "--snapshot"]
    stamp = _records(out)
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 of 5 units finished (nothing run)" in r.stdout
    assert _records(out) == stamp and not (out / "train" / "radar_sim").exists()
    srecs = json.loads((out / "search" / "plan.json").read_text())["records"]
    trecs = json.loads((out / "train" / "plan.json").read_text())["records"]
    assert [r["status"] for r in srecs] == ["ok"] and srecs[0]["genotype"]
    assert sorted(r["method"] for r in trecs) == sorted(["SPDNet", *E.FLOOR_METHODS])
    assert {r["status"] for r in trecs} == {"not run: " + E.SNAPSHOT_REASON}
    assert all(r["dataset"] == "radar_sim" for r in trecs)
    assert all(r["epochs_done"] == 0 and r["epochs"] == TRAIN["epochs"] for r in trecs if r["method"] == "SPDNet")
    # a training part-way: its epochs so far are reported
    part = out / "train" / "radar_sim" / "SPDNet" / "seed0"
    part.mkdir(parents=True)
    (part / "metrics.json").write_text(json.dumps({"history": [{"epoch": 1}, {"epoch": 2}]}))
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "in progress: train radar_sim SPDNet seed 0: epoch 2 of 3" in r.stdout, r.stdout
    import shutil as _sh
    _sh.rmtree(out / "train" / "radar_sim")
    # the real run afterwards overwrites the snapshot's plans with finished records
    srecs2, trecs2 = E.run_search_and_train(SEARCH, dict(TRAIN, seeds=[0], methods=["SPDNet"]), out / "search",
                                            out / "train", None, progress=False)
    assert all(r["status"] == "ok" for r in srecs2 + trecs2)
    plan = json.loads((out / "train" / "plan.json").read_text())["records"]
    assert [r["status"] for r in plan] == ["ok"] * 4


def test_search_and_train_start_the_baselines_first(tmp_path):
    """The floors and SPDNet/SPDNetBN start before the search and the longer trainings (inline:
    one at a time, so the records are written in start order)."""
    train = dict(TRAIN, methods=["SPDNetNAS (R)", "SPDNetBN", "SPDNetNAS", "SPDNet"], seeds=[0])
    E.run_search_and_train(SEARCH, train, tmp_path / "s", tmp_path / "t", None, progress=False)
    recs = sorted(tmp_path.rglob("record.json"), key=lambda p: p.stat().st_mtime_ns)
    order = [p.parent.relative_to(tmp_path).as_posix() for p in recs]
    first = {"t/radar_sim/floors", "t/radar_sim/SPDNet/seed0", "t/radar_sim/SPDNetBN/seed0"}
    assert set(order[:3]) == first, order
    assert len(order) == 6 and order[3].startswith("s/")  # then the search, before the trainings waiting on it
