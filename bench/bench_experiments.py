"""Experiment units on the executors: the same searches + trainings inline, on 1 and on W workers.

Usage: ``python bench/bench_experiments.py [--n-per-class 100] [--epochs 6] [--seeds 2] [--repeats 2]``.

One set of real experiment units (``spdnas.experiments.run_search_and_train``: a first-order
SPDNetNAS search and 4 methods x ``--seeds`` trainings plus the floors on radar_sim) is run into a
fresh folder per setting — inline, process pool with 1 and W workers, embedded Dask with 1 and W
workers — alternating the settings ``--repeats`` times. Wall time is measured around the whole
call (worker start-up included: it is what a user waits for); the records' own ``time_s`` give
the compute inside the units, so ``wall - compute / workers`` is the executor's overhead. Prints
the medians, the efficiency t1 / (W t_W) per executor and t_inline / (W t_W), the process-pool
start-up, and (W = 2) the ceiling of two-process scaling on this machine without any executor:
the same fixed training work in one process alone vs two processes side by side. Numbers only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _config(n_per_class: int, epochs: int, seeds: int, search_epochs: int) -> tuple[dict, dict]:
    search = {"datasets": ["radar_sim"], "ablation_datasets": [], "n_per_class": n_per_class,
              "epochs": search_epochs, "order": 1, "batch_size": 30, "max_steps": None, "arch_lr": 3e-3,
              "threads": 1}  # one core per worker: a 1-worker run must not borrow the second core
    train = {"methods": ["SPDNet", "SPDNetBN", "SPDNetNAS (R)", "SPDNetNAS"], "seeds": list(range(seeds)),
             "epochs": epochs, "floors": True}
    return search, train


def run_once(setting: str, search: dict, train: dict, root: Path) -> dict:
    """One run of the units on ``setting`` (``inline``, ``process:W``, ``dask:W``) into a fresh folder."""
    from spdnas.experiments import run_search_and_train

    executor, _, w = setting.partition(":")
    workers = int(w or 1)
    out = Path(tempfile.mkdtemp(prefix=f"{executor}{workers}-", dir=root))
    t0 = time.perf_counter()
    srecs, trecs = run_search_and_train(search, train, out / "search", out / "train", None, progress=False,
                                        executor=executor, workers=workers)
    wall = time.perf_counter() - t0
    recs = [r for r in srecs + trecs if r.get("status") == "ok"]
    compute = float(sum(r.get("time_s") or 0.0 for r in recs))
    floors = json.loads((out / "train" / "radar_sim" / "floors" / "record.json").read_text())
    compute += float(floors.get("time_s") or 0.0)
    accs = sorted((r["method"], r.get("seed"), round(float(r["test_acc"]), 6)) for r in trecs
                  if r.get("test_acc") is not None)
    return {"setting": setting, "workers": workers, "wall_s": wall, "compute_s": compute,
            "overhead_s": wall - compute / workers, "units": len(recs), "accs": accs}


def _startup(workers: int) -> float:
    """Seconds to spawn ``workers`` processes that import torch and spdnas (what every process run pays)."""
    import concurrent.futures as cf
    import multiprocessing as mp

    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        list(ex.map(_import_worker, range(workers)))
    return time.perf_counter() - t0


def _import_worker(_):
    import spdnas.experiments.jobs  # noqa: F401

    return True


def _raw_work(args) -> float:
    """Seconds of one fixed piece of unit work (4 epochs of a random SPDNetNAS cell on radar_sim,
    one torch thread), after a barrier so that paired processes start together."""
    n_per_class, barrier = args
    import numpy as np
    import torch

    from spdnas.data import load_dataset
    from spdnas.nas import sample_genotype, train_genotype

    torch.set_num_threads(1)
    d = load_dataset("radar_sim", n_per_class=n_per_class, seed=0)
    g = sample_genotype(np.random.default_rng(10_000), 2)
    train_genotype(g, d, "radar", {"epochs": 1, "seed": 0}, progress=False)  # warm-up
    if barrier is not None:
        barrier.wait()
    t0 = time.perf_counter()
    train_genotype(g, d, "radar", {"epochs": 4, "seed": 0}, progress=False)
    return time.perf_counter() - t0


def raw_pair(n_per_class: int) -> tuple[float, float]:
    """(one process alone, mean of two processes side by side) on the same fixed work: the
    ceiling of two-worker efficiency on this machine, without any executor."""
    import concurrent.futures as cf
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        alone = ex.submit(_raw_work, (n_per_class, None)).result()
    with mp.Manager() as man:
        b = man.Barrier(2)
        with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
            pair = list(ex.map(_raw_work, [(n_per_class, b)] * 2))
    return alone, float(np.mean(pair))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-class", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=6, help="training epochs of every network")
    ap.add_argument("--search-epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=2, help="seeds per method (4 methods)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats; medians are reported")
    ap.add_argument("--settings", default=None, help="comma-separated subset, e.g. inline,process:1,process:2")
    ap.add_argument("--out", default=None, help="optional JSON file for the numbers")
    ap.add_argument("--quick", action="store_true", help="skip the start-up and two-process ceiling measurements")
    a = ap.parse_args(argv)
    W = a.workers
    settings = a.settings.split(",") if a.settings else ["inline", "process:1", f"process:{W}", "dask:1", f"dask:{W}"]
    search, train = _config(a.n_per_class, a.epochs, a.seeds, a.search_epochs)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-exp-") as tmp:
        for r in range(a.repeats):
            for s in settings:
                row = run_once(s, search, train, Path(tmp))
                row["repeat"] = r
                rows.append(row)
                print(f"repeat {r} {s:10s} wall {row['wall_s']:7.1f} s  compute {row['compute_s']:7.1f} s  "
                      f"overhead {row['overhead_s']:6.1f} s  ({row['units']} units)", flush=True)
        startup = {} if a.quick else {w: float(np.median([_startup(w) for _ in range(3)])) for w in sorted({1, W})}
        raw = [raw_pair(a.n_per_class) for _ in range(a.repeats)] if W == 2 and not a.quick else []
    same = len({json.dumps(row["accs"]) for row in rows}) == 1
    med = {s: float(np.median([row["wall_s"] for row in rows if row["setting"] == s])) for s in settings}
    ovh = {s: float(np.median([row["overhead_s"] for row in rows if row["setting"] == s])) for s in settings}
    print(f"\nmedian wall time (s): " + ", ".join(f"{s} {v:.1f}" for s, v in med.items()))
    print("median overhead, wall - compute / workers (s): " + ", ".join(f"{s} {v:.1f}" for s, v in ovh.items()))
    print("process-pool start-up (spawn + import spdnas), s: " + ", ".join(f"{w} workers {v:.2f}"
                                                                          for w, v in startup.items()))
    ceiling = None
    if raw:
        alone, pair = float(np.median([r[0] for r in raw])), float(np.median([r[1] for r in raw]))
        ceiling = alone / pair
        print(f"raw compute, no executor: one process alone {alone:.2f} s, two side by side {pair:.2f} s each "
              f"-> two-process ceiling {ceiling:.2f}")
    eff = {}
    for ex in ("process", "dask"):
        one, many = med.get(f"{ex}:1"), med.get(f"{ex}:{W}")
        if one and many:
            eff[ex] = one / (W * many)
            print(f"efficiency {ex}: t1 / ({W} t{W}) = {eff[ex]:.2f}"
                  + (f"; t_inline / ({W} t{W}) = {med['inline'] / (W * many):.2f}" if "inline" in med else ""))
    print(f"identical test accuracies on every executor: {same}")
    if a.out:
        Path(a.out).write_text(json.dumps({"rows": rows, "median_wall_s": med, "median_overhead_s": ovh,
                                           "startup_s": startup, "raw_pair_s": raw, "ceiling": ceiling, "efficiency": eff, "identical": same,
                                           "config": {"search": search, "train": train}}, indent=1))


if __name__ == "__main__":
    main()
