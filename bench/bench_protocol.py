"""Wall time per epoch of every unit of the paper protocol on one dataset, and the protocol's total.

Usage: ``python bench/bench_protocol.py [--dataset radar_sim] [--profile paper] [--epochs 2]
[--search-epochs 1] [--genotypes DIR] [--out FILE]``.

Each unit of the profile's ``exp_search`` and ``exp_train`` sections for the dataset (a search per
weighting; per seed SPDNet, SPDNetBN, SPDNetNAS (R), SPDNetNAS with each searched genotype,
DARTS/FairDARTS with their log-map searches) runs here, one at a time, for a few epochs
(``--epochs`` trainings, ``--search-epochs`` searches) with the profile's settings (data size, split,
batch, search order, threads) through the functions the experiment jobs call (``spdnas.nas.search``,
``train_genotype``, ``spdnas.core.trainer.fit``, ``spdnas.nas.euclidean``). The SPDNetNAS trainings use
the genotypes that a run of the profile searched (``--genotypes``: its ``search/`` folder, holding
``<dataset>/<weighting>/genotype.json``; a weighting without one is measured with the default
profile's RADAR cell and says so). Units that share everything but the seed (SPDNet, SPDNetBN,
SPDNetNAS of one genotype, DARTS/FairDARTS) are measured once; the random cells of SPDNetNAS (R)
differ per seed and are each measured. The projection multiplies each unit's seconds per epoch by
its epochs, counted in core-seconds (a search uses ``threads`` cores at the measured CPU share, a
training one) and divided by 2 for this 2-core machine. Numbers only, no asserts.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spdnas.core.params import shared_data_root, stage_params
from spdnas.core.trainer import fit
from spdnas.data.normalise import normalise_split
from spdnas.experiments.config import (euclid_search_config, for_dataset, search_unit_config, stage_config,
                                       train_unit_config)
from spdnas.experiments.setup import baseline_dims, dataset_options, load_experiment_data, net_for
from spdnas.nas import load_genotype, resolve_data, sample_genotype, search, train_genotype
from spdnas.nas.euclidean import search_euclidean, train_euclidean_genotype
from spdnas.spd import SPDNet

# the default profile's radar sparsemax cell, for weightings without a searched genotype (bench/ is on
# the path when this file runs)
from bench_train import SEARCHED
WEIGHTINGS = ("sparsemax", "softmax", "sigmoid")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``."""
    c0, t0 = _cpu_s(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, _cpu_s() - c0


def searched_genotype(genotypes: Path | None, ds: str, w: str):
    """(genotype, source) of a weighting's search; the fallback cell when the run has none."""
    if genotypes is not None:
        p = genotypes / ds / w / "genotype.json"
        if p.is_file():
            return load_genotype(p), str(p)
    return SEARCHED, "fallback: the default profile's radar sparsemax cell (no searched genotype given)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="radar_sim")
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs measured per unit")
    ap.add_argument("--search-epochs", type=int, default=1, help="search epochs measured per weighting")
    ap.add_argument("--search-weightings", type=int, default=1,
                    help="how many of the searches to measure (they share the supernet; the rest reuse the mean)")
    ap.add_argument("--genotypes", type=Path, default=None,
                    help="a run's search folder with <dataset>/<weighting>/genotype.json")
    ap.add_argument("--shared-data", default=None, help="shared data folder (default: $SPDNAS_DATA)")
    ap.add_argument("--out", default=None, help="optional JSON file for the numbers")
    a = ap.parse_args(argv)
    if a.epochs < 1 or a.search_epochs < 1 or a.search_weightings < 1:
        raise ValueError("--epochs, --search-epochs and --search-weightings must be positive")
    torch.set_num_threads(1)  # as on the experiment workers
    shared = shared_data_root(a.shared_data)
    scfg = stage_config("search", stage_params("exp_search", a.profile))
    tcfg = stage_config("train", stage_params("exp_train", a.profile))
    ds = a.dataset
    if ds not in scfg["datasets"]:
        raise SystemExit(f"{ds} is not searched in profile {a.profile} (datasets: {scfg['datasets']})")
    sc, tc = for_dataset(scfg, ds), for_dataset(tcfg, ds)
    raw = load_experiment_data(ds, dataset_options(ds, scfg["n_per_class"], scfg["seed"]), shared)
    d = normalise_split(resolve_data(raw, scfg["split_seed"], scfg["fractions"]), sc["normalise"])
    n, k = int(raw.info["n"]), int(raw.info["num_classes"])
    net = net_for(ds, n, k)
    weightings = [w for w in WEIGHTINGS if w == "sparsemax" or ds in scfg["ablation_datasets"]]
    seeds = list(tc["seeds"])
    E = a.epochs
    tbase = train_unit_config(tcfg, ds, 0)  # epochs and seed set per measured unit
    print(f"{ds} ({len(d['train'][1])} train, {n}x{n}), profile {a.profile}: searches {weightings} x "
          f"{sc['epochs']} epochs (order {sc['order']}), trainings {tc['methods']} x {len(seeds)} seeds x "
          f"{tc['epochs']} epochs; measuring {E} training / {a.search_epochs} search epochs per unit", flush=True)
    rows = []

    def add(unit, count, epochs, wall, cpu, measured_epochs, note=""):
        per = wall / measured_epochs
        rows.append({"unit": unit, "count": count, "epochs": epochs, "s_per_epoch": per,
                     "cores": cpu / wall if wall > 0 else 1.0, "total_s": count * epochs * per,
                     "core_s": count * epochs * per * max(1.0, cpu / wall), "note": note})
        print(f"  {unit:46s} {per:8.2f} s/epoch ({cpu / wall:.2f} cores) x {epochs} epochs x {count}"
              f"{'  ' + note if note else ''}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        # searches (the supernet is the same for every weighting: measure --search-weightings of them)
        sw = []
        for w in weightings[:a.search_weightings]:
            cfg = search_unit_config(scfg, ds, w, net)  # the planner's own config of this unit
            wall, cpu = timed(lambda: search(d, cfg, Path(tmp) / f"search-{w}", progress=False,
                                             stop_after=a.search_epochs))
            sw.append((wall, cpu))
        wall, cpu = (sum(x[0] for x in sw) / len(sw), sum(x[1] for x in sw) / len(sw))
        add(f"SPDNetNAS search (order {sc['order']})", len(weightings), sc["epochs"], wall, cpu, a.search_epochs,
            f"measured on {', '.join(weightings[:a.search_weightings])}")
        methods = tc["methods"]
        for m in ("SPDNet", "SPDNetBN"):
            if m in methods:
                torch.manual_seed(0)
                model = SPDNet(baseline_dims(ds, n), k, batchnorm=m == "SPDNetBN").double()
                wall, cpu = timed(lambda: fit(model, d["train"], d["val"], d["test"],
                                              dict(tbase, epochs=E, seed=0), None, progress=False))
                add(m, len(seeds), tc["epochs"], wall, cpu, E)
        if "SPDNetNAS" in methods:
            for w in weightings:
                g, src = searched_genotype(a.genotypes, ds, w)
                wall, cpu = timed(lambda: train_genotype(g, d, net, dict(tbase, epochs=E, seed=0), None,
                                                         progress=False))
                add(f"SPDNetNAS ({w} genotype)", len(seeds), tc["epochs"], wall, cpu, E, src)
        if "SPDNetNAS (R)" in methods:
            for s in seeds:
                g = sample_genotype(np.random.default_rng(10_000 + s), net["steps"])
                wall, cpu = timed(lambda: train_genotype(g, d, net, dict(tbase, epochs=E, seed=s), None,
                                                         progress=False))
                add(f"SPDNetNAS (R) seed {s}", 1, tc["epochs"], wall, cpu, E)
        for m in ("DARTS", "FairDARTS"):
            if m not in methods:
                continue
            cfg = euclid_search_config(tcfg, ds, m, len(d["train"][1]), scfg["split_seed"], scfg["fractions"])
            euclid = cfg["net"]
            res = {}
            wall, cpu = timed(lambda: res.update(search_euclidean(d, cfg, Path(tmp) / f"{m}-search",
                                                                  progress=False, stop_after=a.search_epochs)))
            add(f"{m} search (log-map CNN, first order)", 1, tc["euclid_search_epochs"], wall, cpu, a.search_epochs)
            wall, cpu = timed(lambda: train_euclidean_genotype(res["genotype"], d, euclid, dict(tbase, epochs=E, seed=0),
                                                               None, progress=False, split_seed=scfg["split_seed"],
                                                               fractions=scfg["fractions"]))
            add(f"{m} training", len(seeds), tc["epochs"], wall, cpu, E,
                f"genotype of a {a.search_epochs}-epoch search")
    total = sum(r["total_s"] for r in rows)
    core = sum(r["core_s"] for r in rows)
    out = {"dataset": ds, "profile": a.profile, "epochs_measured": E, "search_epochs_measured": a.search_epochs,
           "rows": rows, "unit_seconds": total, "core_seconds": core, "two_core_hours": core / 2 / 3600}
    print(f"total: {total / 3600:.2f} h of unit time, {core / 3600:.2f} core-hours; "
          f">= {core / 2 / 3600:.2f} h on 2 cores with both kept busy", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
