"""Dask executors: embedded loopback cluster with one worker SIGKILLed mid-run (and reported), no
HTTP server without the dashboard, bad inputs that fail once without retries, and an existing
scheduler given by address."""

import json
import logging
import os
import signal
import socket
import threading
import time

import pytest

from spdnas.cli import main
from spdnas.cli.sweep import print_dashboard_link
from spdnas.spaces import SPACES, AnyNetSpace, register_space
from spdnas.sweep import DATASETS, ResultStore, SweepFailed, register_dataset, run_sweep

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

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
def test_embedded_dask_sweep_survives_worker_kill(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="spdnas.sweep.runner")
    killed, stop, threads = {}, threading.Event(), []

    def on_client(client):
        import dask

        # embedded workers run without the GIL-taking statistical profiler (see cluster.QUIET_WORKERS)
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
    # the user is told, in one line, which worker died and that its models were retried
    deaths = [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
    assert len(deaths) == 1 and "\n" not in deaths[0], deaths
    assert killed["addr"] in deaths[0] and "retries them on another worker" in deaths[0]
    # the report names every model the worker held when it was killed (the scheduler may have handed
    # it one more between the kill and its removal, so the report can list more)
    reported = {int(m) for m in deaths[0].split("model(s) ", 1)[1].split(";")[0].split(", ")}
    assert held <= reported, (held, deaths[0])
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


# ---------------------------------------------------------------- no HTTP without the dashboard


def _listening(pids):
    out = set()
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        out |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return out


def _answers_http(host, port) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            s.settimeout(3)
            return s.recv(5) == b"HTTP/"
    except OSError:
        return False


def _servers(client, before):
    """(comm ports, other ports) listening in this process tree since ``before``."""
    me = psutil.Process()
    ports = _listening([me.pid] + [p.pid for p in me.children(recursive=True)]) - before
    info = client.scheduler_info()
    comm = {client.scheduler.address} | set(info["workers"]) | {w.get("nanny") for w in info["workers"].values()}
    comm = {a.split("://")[1] for a in comm if a}
    return ({p for p in ports if f"{p[0]}:{p[1]}" in comm},
            {p for p in ports if f"{p[0]}:{p[1]}" not in comm})


def test_embedded_dask_serves_no_http_unless_dashboard(tmp_path, capsys):
    me = psutil.Process()
    before = _listening([me.pid])
    seen = {}

    def probe(key):
        def on_client(client):
            if key == "dashboard":
                print_dashboard_link(client)
            comm, other = _servers(client, before)
            seen[key] = dict(comm=comm, other=other, http={p for p in other if _answers_http(*p)},
                             comm_http={p for p in comm if _answers_http(*p)} if key == "quiet" else set())
        return on_client

    kw = dict(seed=0, recipe=RECIPE, executor="dask", workers=1, progress=False, export_parquet=False)
    run_sweep(SPACE, "digits", 1, store=tmp_path / "q.jsonl", on_client=probe("quiet"), **kw)
    quiet = seen["quiet"]
    assert len(quiet["comm"]) == 3  # scheduler, nanny, worker
    assert quiet["other"] == set() and quiet["http"] == set(), quiet  # Dask's default: 8787 + one per worker
    assert all(h == "127.0.0.1" for h, _ in quiet["comm"])
    # with the dashboard (the control: the probe does see HTTP servers) its URL is printed
    run_sweep(SPACE, "digits", 1, store=tmp_path / "d.jsonl", dashboard=True, on_client=probe("dashboard"), **kw)
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("Dask dashboard: "))
    url = line.split()[2]
    host, port = url.split("//")[1].split("/")[0].split(":")
    assert host == "127.0.0.1" and (host, int(port)) in seen["dashboard"]["http"]


def test_cli_dashboard_prints_its_url(tmp_path, capsys):
    register_space("tiny_dask", SPACE, overwrite=True)
    try:
        rc = main(["sweep", "--space", "tiny_dask", "-n", "1", "--store", str(tmp_path / "c.jsonl"),
                   "--recipe", json.dumps(RECIPE), "--executor", "dask", "--workers", "1", "--dashboard",
                   "--no-progress"])
    finally:
        SPACES.pop("tiny_dask", None)
    out = capsys.readouterr().out
    assert rc == 0
    assert any(ln.startswith("Dask dashboard: http://127.0.0.1:") for ln in out.splitlines()), out
    assert main(["sweep", "--space", "resnet", "-n", "1", "--store", str(tmp_path / "i.jsonl"), "--dashboard"]) == 2
    assert "--dashboard is the Dask dashboard" in capsys.readouterr().err


# ---------------------------------------------------------------- bad inputs: once, one line


def test_missing_dataset_folder_fails_once_in_one_line(tmp_path, capfd):
    store = tmp_path / "m.jsonl"
    rc = main(["sweep", "--space", "resnet", "--dataset", "cifar10", "--dataset-arg", "root=/nonexistent/cifar",
               "-n", "2", "--store", str(store), "--executor", "dask", "--workers", "1", "--retries", "2",
               "--no-progress"])
    out, err = capfd.readouterr()
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err  # no worker tracebacks ("Compute Failed"), no retries
    assert lines[0].startswith("spdnas sweep: error: CIFAR-10 folder not found: /nonexistent/cifar")
    assert not store.exists() and not (tmp_path / "m.jsonl.lock").exists()


class _Calls:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            self.n += 1


class _BadBuild(AnyNetSpace):
    calls = _Calls()

    def build(self, config, dataset_info):
        self.calls()
        raise ValueError("this config cannot be built")


@pytest.fixture
def threads_cluster():
    """Loopback scheduler with in-process worker threads: registrations here are seen by its tasks."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None, silence_logs=50) as cluster:
        yield cluster


def test_loader_error_is_not_retried(tmp_path, threads_cluster):
    calls = _Calls()

    def missing_folder(seed=0):
        calls()
        raise FileNotFoundError("dataset folder not found: /nowhere")

    register_dataset("missing_folder", missing_folder, overwrite=True)
    try:
        with pytest.raises(FileNotFoundError, match="dataset folder not found: /nowhere"):
            run_sweep(SPACE, "missing_folder", 2, store=tmp_path / "l.jsonl", executor=threads_cluster.scheduler_address,
                      retries=2, progress=False)
    finally:
        DATASETS.pop("missing_folder", None)
    assert calls.n == 1  # not 1 + retries


def test_model_build_error_is_not_retried_and_reported_in_one_line(tmp_path, threads_cluster, capsys):
    space = _BadBuild("bad_build", "res_basic", [1], [4])
    _BadBuild.calls.n = 0
    with pytest.raises(SweepFailed, match=r"2 of 2 models failed \(model 0: ValueError: this config cannot be built"):
        run_sweep(space, "digits", 2, recipe=RECIPE, store=tmp_path / "b.jsonl",
                  executor=threads_cluster.scheduler_address, retries=2, progress=False)
    assert _BadBuild.calls.n == 2  # once per model, not 1 + retries
    register_space("bad_build", space, overwrite=True)
    try:
        rc = main(["sweep", "--space", "bad_build", "-n", "1", "--store", str(tmp_path / "c.jsonl"),
                   "--recipe", json.dumps(RECIPE), "--scheduler", threads_cluster.scheduler_address, "--no-progress"])
    finally:
        SPACES.pop("bad_build", None)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("spdnas sweep: error: 1 of 1 models failed (model 0: ValueError: this config cannot be built")
