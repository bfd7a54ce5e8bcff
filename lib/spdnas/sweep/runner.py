"""Population sweeps: sample n models from a design space, train each briefly, store results.

Model ``i`` of a sweep gets ``model_seed = derive_seed(seed, i)``; its config is
``space.sample(default_rng(model_seed))`` and its weights/batch order are seeded by it too, so a
model does not depend on ``n`` or on which executor ran it. Records are written only by the
driver process (one fsync'd JSONL line each), so a sweep is resumable: re-running skips the
``model_id`` s already stored for the same sweep id (space + dataset + seeds + recipe).

Executors:

* ``"inline"``: in this process;
* ``"process"``: a local spawn process pool (``workers`` processes); a crashed pool is rebuilt
  and the unfinished models resubmitted;
* ``"dask"``: an embedded cluster of worker processes on 127.0.0.1 (:mod:`spdnas.sweep.cluster`;
  no HTTP server unless ``dashboard=True``), or an existing scheduler given as
  ``"tcp://host:port"``. Models on a worker that dies are rescheduled by Dask on the
  remaining/restarted workers (each death is logged as one warning line).

``retries`` re-runs a model whose worker raised; a bad input (``ValueError`` /
``FileNotFoundError``, e.g. a missing dataset folder or a config the space cannot build) would
fail the same way again and is never retried: a dataset that cannot be loaded ends the sweep with
that error; a model that cannot be built ends an inline sweep at once and, with the process and
Dask executors, is reported with the other failed models when the sweep ends (:class:`SweepFailed`).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing as mp
import os
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from distributed import Client, as_completed
from tqdm.auto import tqdm

from spdnas.core.errors import ReportedError
from spdnas.spaces import DesignSpace, get_space

from .cluster import WorkerLossRelay, local_cluster
from .datasets import check_dataset, get_dataset, import_plugins
from .store import ResultStore
from .trainer import normalize_recipe, train_eval

log = logging.getLogger(__name__)
EXECUTORS = ("inline", "process", "dask")
NO_RETRY = (ValueError, FileNotFoundError)  # bad inputs: a retry fails the same way


class SweepFailed(ReportedError):
    """Models of a sweep failed (after their retries); the others are stored."""


@dataclass(frozen=True)
class BadInput:
    """A bad-input error raised in a worker, returned instead of raised so that neither Dask nor
    the process pool retries it."""

    kind: str  # "ValueError" or "FileNotFoundError"
    message: str

    @classmethod
    def of(cls, exc: Exception) -> "BadInput":
        return cls("FileNotFoundError" if isinstance(exc, FileNotFoundError) else "ValueError", str(exc))

    def error(self) -> Exception:
        """The error to raise in the driver."""
        return (FileNotFoundError if self.kind == "FileNotFoundError" else ValueError)(self.message)

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def derive_seed(seed: int, i: int) -> int:
    """Per-model seed from (sweep seed, model index), independent across i (SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(i)]).generate_state(1, np.uint32)[0])


def sweep_id(space: str, dataset: str, seed: int, recipe: dict, data_seed: int = 0,
             dataset_kwargs: dict | None = None) -> str:
    """Short stable hash identifying a sweep (what resuming must match)."""
    key = json.dumps({"space": space, "dataset": dataset, "seed": int(seed), "recipe": recipe,
                      "data_seed": int(data_seed), "dataset_kwargs": dataset_kwargs or {}},
                     sort_keys=True, default=str)
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def evaluate_model(task: dict, data: dict) -> dict:
    """Build, count, train and evaluate one model; returns its store record."""
    if task.get("threads"):
        torch.set_num_threads(int(task["threads"]))
    import_plugins(task.get("plugins"))
    space = task["space"]
    info = data["info"]
    torch.manual_seed(task["model_seed"])
    model = space.build(task["config"], info)
    cx = space.complexity(task["config"], info)
    res = train_eval(model, data, task["recipe"], seed=task["model_seed"])
    return {
        "space": space.name,
        "model_id": task["model_id"],
        "config": json.dumps(task["config"], sort_keys=True, separators=(",", ":")),
        "params": int(cx["params"]),
        "flops": int(cx["flops"]),
        "error": res["error"],
        "test_loss": res["test_loss"],
        "diverged": res["diverged"],
        "seed": task["seed"],
        "model_seed": task["model_seed"],
        "epochs": task["recipe"]["epochs"],
        "dataset": task["dataset"],
        "train_time": res["train_time"],
        "curve": res["curve"],
        "sweep": task["sweep"],
        "recipe": json.dumps(task["recipe"], sort_keys=True, separators=(",", ":")),
        "host": f"{socket.gethostname()}:{os.getpid()}",
    }


# ---- process pool ----------------------------------------------------------------------------
_WORKER_DATA = None


def _pool_init(data, threads, plugins):
    global _WORKER_DATA
    _WORKER_DATA = data
    torch.set_num_threads(max(1, int(threads or 1)))
    import_plugins(plugins)


def _model_task(task, data):
    try:
        return evaluate_model(task, data)
    except NO_RETRY as e:
        return BadInput.of(e)


def _pool_run(task):
    return _model_task(task, _WORKER_DATA)


def _load_data_task(dataset, data_seed, dataset_kwargs, plugins):
    try:
        import_plugins(plugins)
        return get_dataset(dataset, seed=data_seed, **dataset_kwargs)
    except NO_RETRY as e:
        return BadInput.of(e)


def _dataset_info(data):
    return data if isinstance(data, BadInput) else data["info"]


def largest_first(tasks: list[dict], info: dict) -> list[dict]:
    """Tasks sorted by estimated cost, costliest first (ties by model id), each with its ``cost``.

    Running the longest models first keeps workers busy until the end of a sweep (LPT schedule);
    a space whose ``cost`` fails for a config gets cost 0 for it (run last), never an error.
    """
    out = []
    for t in tasks:
        try:
            c = float(t["space"].cost(t["config"], info))
        except Exception:  # scheduling hint only; the model itself reports real errors
            c = 0.0
        out.append({**t, "cost": c})
    return sorted(out, key=lambda t: (-t["cost"], t["model_id"]))


def _check_int(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def run_sweep(space, dataset: str, n: int, seed: int = 0, recipe: dict | None = None,
              store="runs/sweep.jsonl", executor: str = "inline", progress: bool = True, *,
              workers: int | None = None, threads_per_worker: int = 1, retries: int = 2,
              data_seed: int = 0, dataset_kwargs: dict | None = None, plugins=(),
              export_parquet: bool = True, dashboard: bool = False,
              on_client=None) -> list[dict]:
    """Sample, train and evaluate ``n`` models of ``space`` on ``dataset``; returns the n records.

    Args:
        space: registered space name or a DesignSpace instance.
        dataset: registered dataset name (see :mod:`spdnas.sweep.datasets`).
        n, seed: population size and sweep seed (model i uses ``derive_seed(seed, i)``).
        recipe: training recipe (see :func:`spdnas.sweep.trainer.normalize_recipe`).
        store: JSONL path in an existing folder; a Parquet copy is written next to it (``.parquet``).
        executor: "inline", "process", "dask" or a scheduler address "tcp://host:port".
        progress: tqdm bar over models (with ETA).
        workers: processes for "process"/"dask" (default 2).
        threads_per_worker: torch threads per model (also inline; restored afterwards). One
            thread per worker is usually fastest for small models on shared CPUs.
        retries: extra attempts per model after a worker error (never after a bad input, see above).
        data_seed, dataset_kwargs: passed to the dataset loader (train/test split seed, options).
        plugins: module names to import (in the driver and in workers) that register spaces or
            datasets.
        export_parquet: write ``<store>.parquet`` at the end.
        dashboard: for the embedded Dask cluster, serve the dashboard on 127.0.0.1 (random port).
        on_client: optional ``callable(client)`` called once the Dask client is connected (to
            print ``client.dashboard_link``, monitor or scale workers).
    """
    import_plugins(plugins)
    space_obj = get_space(space) if isinstance(space, str) else space
    if not isinstance(space_obj, DesignSpace):
        raise ValueError(f"space must be a name or DesignSpace, got {type(space).__name__}")
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be a registered dataset name, got {dataset!r}")
    n = _check_int("n", n, 1)
    seed = _check_int("seed", seed, 0)
    data_seed = _check_int("data_seed", data_seed, 0)
    retries = _check_int("retries", retries, 0)
    threads_per_worker = _check_int("threads_per_worker", threads_per_worker, 1)
    workers = 2 if workers is None else _check_int("workers", workers, 1)
    dataset_kwargs = dict(dataset_kwargs or {})
    plugins = list(plugins or ())
    if not isinstance(executor, str) or not (executor in EXECUTORS or executor.startswith("tcp://")):
        raise ValueError(f"executor must be one of {EXECUTORS} or 'tcp://host:port', got {executor!r}")
    r = normalize_recipe(recipe)
    check_dataset(dataset)
    sid = sweep_id(space_obj.name, dataset, seed, r, data_seed, dataset_kwargs)
    st = store if isinstance(store, ResultStore) else ResultStore(store)
    if not st.path.parent.is_dir():  # checked before the lock file is created
        raise FileNotFoundError(f"store folder not found: {st.path.parent} (create it or choose another store)")

    with st.lock():
        existing = [x for x in st.load(repair=True) if x.get("sweep") == sid]
        done = {x["model_id"] for x in existing if x.get("model_id") in range(n)}
        tasks = []
        for i in range(n):
            if i in done:
                continue
            ms = derive_seed(seed, i)
            cfg = space_obj.sample(np.random.default_rng(ms))
            tasks.append({"space": space_obj, "config": cfg, "model_id": i, "model_seed": ms,
                          "seed": seed, "recipe": r, "dataset": dataset, "sweep": sid,
                          "plugins": plugins})
        bar = tqdm(total=n, initial=len(done), desc=f"sweep {space_obj.name}/{dataset}",
                   unit="model", disable=not progress, dynamic_ncols=True)
        failures = {}

        def on_result(rec):
            st.append(rec)
            done.add(rec["model_id"])
            bar.update(1)

        try:
            if tasks:
                if executor == "inline":
                    data = get_dataset(dataset, seed=data_seed, **dataset_kwargs)
                    prev = torch.get_num_threads()
                    try:
                        for t in tasks:
                            on_result(evaluate_model({**t, "threads": threads_per_worker}, data))
                    finally:
                        torch.set_num_threads(prev)
                elif executor == "process":
                    data = get_dataset(dataset, seed=data_seed, **dataset_kwargs)
                    tasks = largest_first(tasks, data["info"])
                    _run_process(tasks, data, workers, threads_per_worker, plugins, retries,
                                 on_result, failures)
                else:
                    _run_dask(tasks, executor, dataset, data_seed, dataset_kwargs, workers,
                              threads_per_worker, plugins, retries, dashboard, on_result, failures,
                              on_client)
        finally:
            bar.close()
        records = [x for x in st.load() if x.get("sweep") == sid and x.get("model_id") in range(n)]
        if export_parquet:
            st.export_parquet()
    if failures:
        msg = "; ".join(f"model {k}: {v}" for k, v in sorted(failures.items()))
        raise SweepFailed(f"{len(failures)} of {n} models failed ({msg}); the others are stored, and re-running "
                          "the same sweep runs only the missing models")
    uniq = {}
    for x in records:
        uniq.setdefault(x["model_id"], x)
    return [uniq[i] for i in sorted(uniq)]


def _run_process(tasks, data, workers, threads, plugins, retries, on_result, failures):
    pending = {t["model_id"]: t for t in tasks}
    attempts = dict.fromkeys(pending, 0)
    ctx = mp.get_context("spawn")
    while pending:
        broken = False
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx,
                                    initializer=_pool_init, initargs=(data, threads, plugins)) as ex:
            futs = {ex.submit(_pool_run, t): mid for mid, t in pending.items()}
            for fut in cf.as_completed(futs):
                mid = futs[fut]
                try:
                    rec = fut.result()
                except cf.process.BrokenProcessPool:
                    broken = True
                    continue
                except Exception as e:  # model-level error: retry or give up
                    attempts[mid] += 1
                    if attempts[mid] > retries:
                        failures[mid] = repr(e)
                        pending.pop(mid)
                    continue
                pending.pop(mid)
                if isinstance(rec, BadInput):
                    failures[mid] = str(rec)
                else:
                    on_result(rec)
        if broken:
            for mid in list(pending):
                attempts[mid] += 1
                if attempts[mid] > retries + 1:
                    failures[mid] = "worker process died repeatedly"
                    pending.pop(mid)
            if pending:
                log.warning("a sweep worker process died; retrying model(s) %s in a new process pool",
                            ", ".join(map(str, sorted(pending))))


class _DeathReport:
    """Logs one warning line per worker that died (as relayed by :class:`WorkerLossRelay`), naming
    the models it was training, which Dask reschedules on other workers."""

    def __init__(self, model_keys: dict):
        self.model_keys = model_keys  # task key -> model id
        self.closing = threading.Event()

    def __call__(self, event):
        _, msg = event
        if self.closing.is_set() or not isinstance(msg, dict):
            return
        models = sorted(self.model_keys[k] for k in msg.get("keys", ()) if k in self.model_keys)
        if models:
            log.warning("dask worker %s died while training model(s) %s; Dask retries them on another worker",
                        msg.get("worker"), ", ".join(map(str, models)))
        else:
            log.warning("dask worker %s died (no model in progress); the sweep goes on", msg.get("worker"))


def _watch_workers(client, report, sweep: str) -> str | None:
    """Subscribe ``report`` to the worker losses of the scheduler; the plugin's name (None when the
    scheduler cannot load it, e.g. an external one without spdnas: then deaths go unreported)."""
    topic = f"spdnas-worker-lost-{sweep}-{time.time_ns()}"
    try:
        client.register_plugin(WorkerLossRelay(topic, "spdnas-model-"))
    except Exception as e:
        log.info("worker deaths will not be reported (scheduler plugin not loaded: %r)", e)
        return None
    client.subscribe_topic(topic, report)
    return topic


def _run_dask(tasks, executor, dataset, data_seed, dataset_kwargs, workers, threads, plugins,
              retries, dashboard, on_result, failures, on_client=None):
    cluster = None
    if executor == "dask":
        cluster = local_cluster(workers, dashboard=dashboard)
        client = Client(cluster)
    else:
        client = Client(executor, timeout="30s")
    report = _DeathReport({})
    watched = None
    try:
        watched = _watch_workers(client, report, tasks[0]["sweep"])
        data_fut = client.submit(_load_data_task, dataset, data_seed, dataset_kwargs, plugins,
                                 pure=False, retries=retries, key=f"spdnas-data-{tasks[0]['sweep']}-{time.time_ns()}")
        if on_client is not None:
            on_client(client)
        # the loader's error other than a bad input is re-raised here
        info = client.submit(_dataset_info, data_fut, pure=False).result()
        if isinstance(info, BadInput):
            raise info.error()  # e.g. a missing dataset folder: once, as one line
        # one copy of the data per worker, so losing a worker does not lose the data
        try:
            client.replicate([data_fut])
        except Exception as e:  # replication is an optimisation; lineage can recompute it
            log.warning("could not replicate the dataset to all workers: %r", e)
        tasks = largest_first(tasks, info)
        futs = {}
        for rank, t in enumerate(tasks):
            t = {**t, "threads": threads}
            key = f"spdnas-model-{t['sweep']}-{t['model_id']}-{time.time_ns()}"
            report.model_keys[key] = t["model_id"]
            # costliest first: higher Dask priority runs earlier
            f = client.submit(_model_task, t, data_fut, pure=False, retries=retries,
                              priority=len(tasks) - rank, key=key)
            futs[f] = t["model_id"]
        for fut in as_completed(list(futs)):
            mid = futs[fut]
            try:
                rec = fut.result()
            except Exception as e:
                failures[mid] = repr(e)
                continue
            if isinstance(rec, BadInput):
                failures[mid] = str(rec)
            else:
                on_result(rec)
    finally:
        report.closing.set()
        if watched is not None:
            try:
                client.unsubscribe_topic(watched)
                client.unregister_scheduler_plugin(watched)
            except Exception:  # a scheduler that went away
                pass
        client.close()
        if cluster is not None:
            cluster.close()
