"""The embedded Dask cluster of the ``"dask"`` sweep executor (processes on 127.0.0.1), and the
scheduler plugin that tells a sweep's driver about workers that died.

Dask's scheduler and every worker start an unauthenticated HTTP server even with the dashboard
off (the scheduler on 127.0.0.1:8787, serving /health, /metrics and JSON about the cluster; each
worker on a random port). Without ``dashboard=True`` the cluster built here uses scheduler and
worker classes that start none, so the only listening sockets are the comm ports of the
scheduler, the nannies and the workers. With ``dashboard=True`` Dask's defaults are kept and the
dashboard listens on 127.0.0.1 (random port).
"""

from __future__ import annotations

import importlib.util
import logging

import dask
from distributed import Nanny, Scheduler, SchedulerPlugin, SpecCluster, Worker
from distributed.worker_memory import parse_memory_limit

_log = logging.getLogger(__name__)

__all__ = ["QuietScheduler", "QuietWorker", "QUIET_WORKERS", "local_cluster", "has_dashboard", "WorkerLossRelay"]


class QuietScheduler(Scheduler):
    """A Dask scheduler that serves nothing over HTTP (no dashboard, /health or /metrics)."""

    def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
        """Start no HTTP server (Dask's starts one on ``dashboard_address`` or port 8787)."""


class QuietWorker(Worker):
    """A Dask worker that serves nothing over HTTP."""

    def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
        """Start no HTTP server (Dask's starts one on a random port)."""


# Embedded-cluster settings (not applied to an external scheduler's workers, which keep their own
# config). Each periodic callback of a worker takes the GIL from the training thread, and these
# op-by-op training loops are Python-bound: the statistical profiler (samples the task's stack every
# 10 ms) alone cost ~20 % of a worker's time here, the 20 ms event-loop tick, 100 ms memory monitor
# and 500 ms system monitor a few % more. Only the dashboard shows them, so with ``dashboard=True``
# Dask's defaults are kept.
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def has_dashboard() -> bool:
    """Whether Dask can draw its dashboard here (it needs bokeh; without it the page says so)."""
    return importlib.util.find_spec("bokeh") is not None


def local_cluster(workers: int, dashboard: bool = False, silence_logs: int = logging.ERROR) -> SpecCluster:
    """``workers`` single-threaded worker processes (each under a nanny, which restarts it if it
    dies) and a scheduler, all on 127.0.0.1 over TCP; HTTP only with ``dashboard=True``."""
    host, protocol = "127.0.0.1", "tcp://"
    worker_options = dict(host=host, protocol=protocol, nthreads=1, silence_logs=silence_logs,
                          memory_limit=parse_memory_limit("auto", 1, workers, logger=_log),
                          dashboard=False, dashboard_address=None)
    scheduler_options = dict(host=host, protocol=protocol, port=0)
    if dashboard:
        scheduler_options.update(dashboard=True, dashboard_address=f"{host}:0")
        scheduler_cls = Scheduler
    else:
        scheduler_options.update(dashboard=False, dashboard_address=None)
        scheduler_cls = QuietScheduler
        worker_options["worker_class"] = QuietWorker
    worker = {"cls": Nanny, "options": worker_options}
    with dask.config.set(QUIET_WORKERS if not dashboard else {}):
        return SpecCluster(scheduler={"cls": scheduler_cls, "options": scheduler_options},
                           workers={i: worker for i in range(workers)}, worker=worker,
                           silence_logs=silence_logs)


class WorkerLossRelay(SchedulerPlugin):
    """Republishes the scheduler's "remove-worker" events of workers that left unexpectedly (killed,
    crashed) on ``topic``, as ``{"worker": address, "keys": [keys it was processing that start with
    prefix]}``, so that a client can subscribe to that topic alone (the scheduler's ``"all"`` topic
    also carries events that cannot be sent to clients, e.g. of ``replicate``)."""

    def __init__(self, topic: str, prefix: str):
        self.topic, self.prefix = topic, prefix
        self.name = topic
        self.scheduler = None

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler

    def log_event(self, topic: str, msg) -> None:
        if topic != "all" or self.scheduler is None or not isinstance(msg, dict):
            return
        if msg.get("action") != "remove-worker" or msg.get("expected"):
            return
        keys = sorted(str(k) for k in msg.get("processing-tasks", ()) if str(k).startswith(self.prefix))
        self.scheduler.log_event(self.topic, {"worker": str(msg.get("worker")), "keys": keys})
