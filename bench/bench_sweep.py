"""Sweep throughput: models/hour (inline, short recipe) and Dask scaling, 1 vs W workers.

Usage: ``python bench/bench_sweep.py [--space resnet] [-n 8] [--epochs 1] [--max-train 512] [--repeats 3]``.
Prints numbers only (no asserts). Dask timings start once the cluster is up and every worker has
imported torch/spdnas (``on_client`` warm-up), so they include the dataset load, its replication
and the model runs, not the worker start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def _warm_worker():
    """Import torch/spdnas and run one conv in a worker, so timings exclude start-up costs."""
    import torch

    import spdnas.data.images  # noqa: F401
    import spdnas.sweep  # noqa: F401

    torch.set_num_threads(1)
    torch.nn.Conv2d(1, 4, 3)(torch.zeros(2, 1, 8, 8)).sum().item()
    return True


def timed_sweep(space, n, seed, recipe, executor, workers, store, dataset="digits", dataset_kwargs=None):
    from spdnas.sweep import run_sweep

    mark = {}

    def on_client(client):
        client.run(_warm_worker)
        mark["t"] = time.perf_counter()

    _warm_worker()
    t0 = time.perf_counter()
    recs = run_sweep(space, dataset, n, seed, recipe, store, executor=executor, workers=workers,
                     progress=False, export_parquet=False, on_client=on_client, dataset_kwargs=dataset_kwargs,
                     plugins=("spdnas.spaces.spd",))
    t1 = time.perf_counter()
    return t1 - mark.get("t", t0), t1 - t0, recs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="resnet_small",
                    help="registered space, or resnet_small (NDS ResNet grid capped at d<=4, w<=32)")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-train", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dataset", default="digits", help="sweep dataset (e.g. radar_sim for the SPD recipe)")
    ap.add_argument("--dataset-arg", action="append", default=[], metavar="KEY=INT",
                    help="dataset option, e.g. n_per_class=200")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--repeats", type=int, default=1, help="alternating repeats; medians are reported")
    ap.add_argument("--out", default=None, help="optional JSON file for the numbers")
    a = ap.parse_args(argv)
    dkw = {k: int(v) for k, v in (kv.split("=", 1) for kv in a.dataset_arg)}

    from spdnas.spaces import AnyNetSpace, get_space

    if a.space == "resnet_small":
        space = AnyNetSpace("resnet_small", "res_basic", [1, 2, 3, 4], [16, 24, 32])
    else:
        space = get_space(a.space)
    seed = a.seed
    recipe = {"epochs": a.epochs, "max_train": a.max_train, "batch_size": 64 if a.dataset == "digits" else 30}
    if a.lr is not None:
        recipe["lr"] = a.lr
    print(f"space={a.space} dataset={a.dataset} {dkw} n={a.n} seed={seed} recipe={recipe} cpus={os.cpu_count()}",
          flush=True)
    res = {"space": a.space, "n": a.n, "seed": seed, "recipe": recipe}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"inline": [], 1: [], a.workers: []}
        for rep in range(a.repeats):  # alternate the three settings so drifting load hits all alike
            t_in, _, recs = timed_sweep(space, a.n, seed, recipe, "inline", 1, f"{tmp}/inline{rep}.jsonl",
                                        a.dataset, dkw)
            runs["inline"].append(t_in)
            print(f"[{rep}] inline: {t_in:.1f} s for {a.n} models -> {a.n / t_in * 3600:.0f} models/hour "
                  f"(median params {int(np.median([r['params'] for r in recs])):,})", flush=True)
            for w in (1, a.workers):
                t, total, recs = timed_sweep(space, a.n, seed, recipe, "dask", w, f"{tmp}/dask{w}_{rep}.jsonl",
                                             a.dataset, dkw)
                runs[w].append(t)
                busy = {}
                for r in recs:
                    busy[r["host"]] = busy.get(r["host"], 0.0) + r["train_time"]
                print(f"[{rep}] dask {w} worker(s): {t:.1f} s after cluster start ({total:.1f} s total) -> "
                      f"{a.n / t * 3600:.0f} models/hour; training s per worker "
                      f"{sorted(round(v, 1) for v in busy.values())}", flush=True)
        med = {k: float(np.median(v)) for k, v in runs.items()}
        t_in, times = med["inline"], {1: med[1], a.workers: med[a.workers]}
        eff = times[1] / times[a.workers] / a.workers
        eff_inline = t_in / times[a.workers] / a.workers
        print(f"medians of {a.repeats}: inline {t_in:.1f} s ({a.n / t_in * 3600:.0f} models/h), dask 1 worker "
              f"{times[1]:.1f} s, {a.workers} workers {times[a.workers]:.1f} s ({a.n / times[a.workers] * 3600:.0f} models/h)")
        print(f"scaling efficiency {a.workers} vs 1 worker: {eff:.2f} (speed-up {times[1] / times[a.workers]:.2f}x); "
              f"{a.workers} workers vs inline: {eff_inline:.2f}")
        res.update(inline_s=t_in, inline_models_per_hour=a.n / t_in * 3600, dask_s=times, scaling_efficiency=eff,
                   efficiency_vs_inline=eff_inline, runs={str(k): v for k, v in runs.items()})
    if a.out:
        from spdnas.core.io import atomic_write_text

        atomic_write_text(a.out, json.dumps(res, indent=2, default=str))
    return res


if __name__ == "__main__":
    main()
