"""Dask executors: embedded loopback LocalCluster with one worker SIGKILLed mid-run, and an
existing scheduler given by address."""

import os
import signal
import threading
import time

import pytest

from spdnas.spaces import AnyNetSpace
from spdnas.sweep import ResultStore, run_sweep

distributed = pytest.importorskip("distributed")

RECIPE = {"epochs": 1, "max_train": 384, "batch_size": 32, "max_test": 200}
SPACE = AnyNetSpace("tiny_dask", "res_basic", [1, 2], [4, 8])


def _kill_first_busy_worker(client, out, stop):
    """Kill the first worker seen processing a model task; record what was killed."""
    pids = client.run(os.getpid)
    out["scheduler"] = client.scheduler.address
    while not stop.is_set():
        for addr, keys in client.processing().items():
            if addr in pids and any(str(k).startswith("spdnas-model") for k in keys):
                os.kill(pids[addr], signal.SIGKILL)
                out.update(addr=addr, pid=pids[addr], keys=[str(k) for k in keys])
                return
        time.sleep(0.02)


@pytest.mark.slow
def test_embedded_dask_sweep_survives_worker_kill(tmp_path):
    killed, stop, threads = {}, threading.Event(), []

    def on_client(client):
        import dask

        # embedded workers run without the GIL-taking statistical profiler (see runner._QUIET_WORKERS)
        killed["profile"] = set(client.run(dask.config.get, "distributed.worker.profile.enabled").values())
        th = threading.Thread(target=_kill_first_busy_worker, args=(client, killed, stop), daemon=True)
        th.start()
        threads.append(th)

    store = tmp_path / "dask.jsonl"
    try:
        recs = run_sweep(SPACE, "digits", 4, seed=0, recipe=RECIPE, store=store, executor="dask",
                         workers=2, progress=False, retries=2, on_client=on_client)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
    assert killed.get("pid"), "no worker was killed while processing a model"
    assert killed["profile"] == {False}
    assert killed["scheduler"].startswith("tcp://127.0.0.1:")  # loopback only
    assert [r["model_id"] for r in recs] == [0, 1, 2, 3]
    assert len(store.read_text().splitlines()) == 4
    assert len({r["model_id"] for r in ResultStore(store).load()}) == 4
    # models the killed worker held when it died were re-run by another process
    held = {int(k.split("-")[3]) for k in killed["keys"] if k.startswith("spdnas-model")}
    assert held
    for r in recs:
        if r["model_id"] in held:
            assert r["host"].split(":")[-1] != str(killed["pid"])
    # same configs/complexities as an inline run of the same sweep
    inline = run_sweep(SPACE, "digits", 4, seed=0, recipe=RECIPE, store=tmp_path / "i.jsonl",
                       progress=False)
    assert [(r["config"], r["params"], r["flops"]) for r in recs] == \
        [(r["config"], r["params"], r["flops"]) for r in inline]


def test_existing_scheduler_address(tmp_path):
    from distributed import LocalCluster

    # threads-only cluster listening on loopback TCP: cheap to start
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None, silence_logs=50) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        recs = run_sweep(SPACE, "digits", 2, seed=4, recipe=RECIPE, store=tmp_path / "t.jsonl",
                         executor=cluster.scheduler_address, progress=False)
    assert [r["model_id"] for r in recs] == [0, 1]
    with pytest.raises(ValueError, match="unknown dataset"):
        with LocalCluster(n_workers=1, processes=False, protocol="tcp://", host="127.0.0.1",
                          dashboard_address=None, silence_logs=50) as cluster:
            run_sweep(SPACE, "nope", 1, store=tmp_path / "u.jsonl",
                      executor=cluster.scheduler_address, progress=False)


def test_dask_runs_costliest_models_first(tmp_path):
    """One worker thread: models finish (and are stored) in decreasing estimated cost."""
    from distributed import LocalCluster

    from spdnas.sweep.runner import derive_seed

    import numpy as np

    n, seed = 5, 3
    info = {"in_channels": 1, "image_size": 8, "num_classes": 10}
    cost = {i: SPACE.cost(SPACE.sample(np.random.default_rng(derive_seed(seed, i))), info) for i in range(n)}
    expected = sorted(range(n), key=lambda i: (-cost[i], i))
    assert expected != list(range(n))  # the test would prove nothing otherwise
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None, silence_logs=50) as cluster:
        run_sweep(SPACE, "digits", n, seed=seed, recipe=RECIPE, store=tmp_path / "o.jsonl",
                  executor=cluster.scheduler_address, progress=False, export_parquet=False)
    stored = [r["model_id"] for r in ResultStore(tmp_path / "o.jsonl").load()]
    assert stored == expected
