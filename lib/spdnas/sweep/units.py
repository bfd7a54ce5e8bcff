"""Units of work with stable keys and dependencies, run inline, in a process pool or on Dask.

A :class:`Unit` is one resumable piece of an experiment (a search, a training, a floor): a
module-level function called as ``fn(*args, *results_of_deps)``. :func:`run_units` runs a set of
them on one of :data:`UNIT_EXECUTORS` (or an existing Dask scheduler's ``tcp://`` address) and
returns ``{key: result}``. A unit starts as soon as its own dependencies are done (no barrier
over a whole kind of unit); of the ready units, the one with the longest path of costs through
its dependents starts first (a search that trainings wait for goes before a longer training
that nothing waits for), except that ready units marked ``early`` (cheap ones whose results are
wanted first, such as a table's baselines) go before all others. Crash safety comes from the units
themselves (each writes its checkpoint and ``record.json``): a worker that dies costs only the
units it was running, which are run again (resuming from their checkpoints) in a fresh process
(process pool) or on another worker (Dask). A unit that raises fails alone: the units that need
it are not run, every other unit still runs, and :class:`UnitsFailed` names all failures at the
end (so finished work is never lost to one bad unit).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from distributed import Client, as_completed
from tqdm.auto import tqdm

from .cluster import local_cluster

__all__ = ["UNIT_EXECUTORS", "Unit", "UnitsFailed", "run_units", "check_executor", "critical_path"]

log = logging.getLogger(__name__)

UNIT_EXECUTORS = ("inline", "process", "dask")


@dataclass(frozen=True)
class Unit:
    """One unit: ``fn(*args, *results of deps)``; ``key`` stable across runs, ``cost`` a rough
    relative run time in the same units for all units of a run (ready units start by the costliest
    path through their dependents), ``label`` for progress and errors, ``early``: a cheap unit whose
    result is wanted before the long ones (a table's baselines), started before them when ready."""

    key: str
    fn: Callable
    args: tuple = ()
    deps: tuple = ()
    cost: float = 1.0
    label: str = field(default="", compare=False)
    early: bool = field(default=False, compare=False)

    def name(self) -> str:
        return self.label or self.key


class UnitsFailed(RuntimeError):
    """Some units raised (or died too often); ``failures`` maps their keys to the error text and
    ``results`` holds every unit that did finish."""

    def __init__(self, failures: dict, results: dict, labels: dict):
        self.failures, self.results = failures, results
        lines = [f"{labels.get(k, k)}: {msg}" for k, msg in failures.items()]
        super().__init__(f"{len(failures)} unit(s) failed:\n  " + "\n  ".join(lines))


def check_executor(executor: str) -> str:
    """``executor`` if it is one of :data:`UNIT_EXECUTORS` or a ``tcp://host:port`` scheduler address."""
    if not isinstance(executor, str) or not (executor in UNIT_EXECUTORS or executor.startswith("tcp://")):
        raise ValueError(f"unknown executor {executor!r}; choose from {UNIT_EXECUTORS} or a Dask scheduler "
                         "address tcp://HOST:PORT")
    return executor


def _call(fn, threads, *args):
    """Run one unit with torch's intra-op threads set (same numerics on every executor)."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    return fn(*args)


def _check_graph(units) -> dict:
    by_key = {}
    for u in units:
        if not isinstance(u, Unit):
            raise TypeError(f"run_units expects Unit objects, got {type(u).__name__}")
        if u.key in by_key:
            raise ValueError(f"duplicate unit key {u.key!r} ({by_key[u.key].name()} and {u.name()})")
        by_key[u.key] = u
    for u in units:
        missing = [d for d in u.deps if d not in by_key]
        if missing:
            raise ValueError(f"unit {u.name()} depends on unknown unit(s) {missing}")
    state = {}

    def visit(k, path):  # depth-first: a key met again while still open closes a cycle
        if state.get(k) == 2:
            return
        if state.get(k) == 1:
            raise ValueError(f"dependency cycle through {' -> '.join(path + [k])}")
        state[k] = 1
        for d in by_key[k].deps:
            visit(d, path + [k])
        state[k] = 2

    for k in by_key:
        visit(k, [])
    return by_key


class _Board:
    """Bookkeeping shared by the executors: what is done, failed, blocked, ready."""

    def __init__(self, by_key: dict, progress, desc: str):
        self.units, self.results, self.failures = by_key, {}, {}
        self.rank = critical_path(by_key)
        self.shared = hasattr(progress, "update")  # an open bar of the caller's (one ETA over several runs)
        if self.shared:
            self.bar = progress
            self.bar.set_description(desc)
        else:
            self.bar = tqdm(total=len(by_key), desc=desc, leave=False, disable=not progress)

    def ready(self, started) -> list[Unit]:
        out = [u for k, u in self.units.items() if k not in started and k not in self.results
               and k not in self.failures and all(d in self.results for d in u.deps)]
        return sorted(out, key=lambda u: (not u.early, -self.rank[u.key]))

    def block_dependents(self) -> None:
        changed = True
        while changed:
            changed = False
            for k, u in self.units.items():
                if k in self.results or k in self.failures:
                    continue
                bad = [d for d in u.deps if d in self.failures]
                if bad:
                    self.failures[k] = f"not run: dependency {self.units[bad[0]].name()} failed"
                    self.bar.update(1)
                    changed = True

    def done(self, key, result) -> None:
        self.results[key] = result
        self.bar.update(1)

    def failed(self, key, msg) -> None:
        self.failures[key] = msg
        self.bar.update(1)
        self.block_dependents()

    def args(self, u: Unit) -> tuple:
        return (*u.args, *(self.results[d] for d in u.deps))

    def finish(self) -> dict:
        if not self.shared:
            self.bar.close()
        if self.failures:
            raise UnitsFailed(self.failures, self.results, {k: u.name() for k, u in self.units.items()})
        return self.results


def critical_path(by_key: dict) -> dict:
    """``{key: cost of the unit + the costliest chain of units that depend on it}`` (the scheduling
    priority: the length of the work that cannot start before the unit is done)."""
    dependents: dict = {k: [] for k in by_key}
    for k, u in by_key.items():
        for d in u.deps:
            dependents[d].append(k)
    rank: dict = {}

    def visit(k):
        if k not in rank:
            rank[k] = by_key[k].cost + max((visit(c) for c in dependents[k]), default=0.0)
        return rank[k]

    for k in by_key:
        visit(k)
    return rank


def run_units(units, executor: str = "inline", *, workers: int = 2, threads: int | None = 1, retries: int = 1,
              progress: bool = True, desc: str = "units", dashboard: bool = False) -> dict:
    """Run ``units`` (see :class:`Unit`) and return ``{key: result}``.

    ``executor``: ``"inline"`` (this process, dependency order), ``"process"`` (a pool of
    ``workers`` spawned processes), ``"dask"`` (an embedded ``LocalCluster`` of ``workers``
    single-threaded processes on 127.0.0.1) or ``"tcp://HOST:PORT"`` (an existing scheduler, e.g.
    dask-jobqueue's). ``threads``: torch intra-op threads per unit (None: leave as is).
    ``progress``: a bool, or an open tqdm bar to advance by one per unit (shared by several calls).
    ``retries``: extra attempts of a unit whose worker process died (process pool; Dask reschedules
    such units itself, up to its ``distributed.scheduler.allowed-failures``). A unit that raises is
    not retried.
    Raises :class:`UnitsFailed` after every runnable unit finished when some failed.
    """
    check_executor(executor)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    units = list(units)
    board = _Board(_check_graph(units), progress, desc)
    if not units:
        return board.finish()
    if executor == "inline":
        _run_inline(board, threads)
    elif executor == "process":
        _run_process(board, workers, threads, retries)
    else:
        _run_dask(board, executor, workers, threads, dashboard)
    return board.finish()


def _run_inline(board: _Board, threads) -> None:
    old = torch.get_num_threads()
    try:
        while True:
            ready = board.ready(set())
            if not ready:
                break
            u = ready[0]
            try:
                board.done(u.key, _call(u.fn, threads, *board.args(u)))
            except Exception as e:  # the unit's own error: it fails alone
                board.failed(u.key, f"{type(e).__name__}: {e}")
    finally:
        torch.set_num_threads(old)


def _run_process(board: _Board, workers: int, threads, retries: int) -> None:
    """Pool rounds: a dead worker breaks the whole pool, so the units in flight then are rerun in a
    new pool; when several were in flight, each of them ("suspects") next runs alone, so a unit
    that kills its worker every time is the only one charged and fails after ``retries``."""
    ctx = mp.get_context("spawn")
    attempts: dict = {}
    suspects: set = set()
    while board.ready(set()):
        lost, running = [], {}
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            while True:
                ready = board.ready(set(running.values()))
                suspects &= {u.key for u in ready} | set(running.values())
                if suspects:  # one suspect at a time, nothing beside it
                    ready = [u for u in ready if u.key in suspects][:1] if not running else []
                for u in ready:
                    running[ex.submit(_call, u.fn, threads, *board.args(u))] = u.key
                if not running:
                    break
                finished, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    key = running.pop(fut)
                    try:
                        board.done(key, fut.result())
                    except cf.process.BrokenProcessPool:
                        lost.append(key)
                    except Exception as e:
                        board.failed(key, f"{type(e).__name__}: {e}")
                if lost:
                    lost += list(running.values())
                    break
        if not lost:
            return
        if len(lost) == 1:
            k = lost[0]
            attempts[k] = attempts.get(k, 0) + 1
            if attempts[k] > retries:
                board.failed(k, f"its worker process died {attempts[k]} time(s)")
                suspects.discard(k)
                continue
        else:
            suspects.update(lost)
        log.warning("a unit's worker process died; rerunning %s in a new process pool",
                    ", ".join(board.units[k].name() for k in lost))


def _run_dask(board: _Board, executor: str, workers: int, threads, dashboard: bool) -> None:
    cluster = local_cluster(workers, dashboard=dashboard) if executor == "dask" else None
    client = Client(cluster) if cluster is not None else Client(executor, timeout="30s")
    try:
        stamp = time.time_ns()
        futs, by_fut = {}, {}
        order = sorted(board.units.values(), key=lambda u: -board.rank[u.key])
        rank = {u.key: i for i, u in enumerate(order)}
        pending = dict(board.units)
        while pending:  # submit in dependency order; Dask starts each unit when its deps are done
            for k, u in list(pending.items()):
                if all(d in futs for d in u.deps):
                    f = client.submit(_call, u.fn, threads, *u.args, *(futs[d] for d in u.deps), pure=False,
                                      priority=len(order) - rank[k], key=f"spdnas-unit-{k}-{stamp}")
                    futs[k], by_fut[f] = f, k
                    pending.pop(k)
        for fut in as_completed(list(by_fut)):
            key = by_fut[fut]
            if key in board.failures:
                continue
            try:
                board.done(key, fut.result())
            except Exception as e:
                board.failed(key, f"{type(e).__name__}: {e}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
