"""``spdnas nas {search,train,random,euclidean} --config FILE --out DIR``: SPDNetNAS from a config file.

The config file (YAML or JSON) holds::

    dataset: {name: radar_sim, ...options of spdnas.data.load_dataset}   # or data: path/to/file.npz (X, y)
    net: radar                        # preset name or net_config dict (SPD nets)
    search: {epochs: 20, order: 2, weighting: sparsemax, ...}             # SEARCH_DEFAULTS keys
    train: {epochs: 100, lr: 0.025, ...}                                  # TRAIN_DEFAULTS keys
    euclidean: {C: 4, layers: 2}       # net of the Euclidean baselines

``search`` writes search_checkpoint.pt, search_metrics.json, genotype.json (+ cell figure);
``train --genotype FILE`` trains a derived net; ``random --seed S`` trains a uniformly sampled
genotype ("SPDNetNAS (R)"); ``euclidean`` runs a DARTS/FairDARTS search and trains the result.
All commands resume from the checkpoints in ``--out`` after an interruption.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..core.io import read_config, write_json
from ..data import load_dataset, read_npz
from ..nas import load_genotype, sample_genotype, save_genotype, search, train_genotype
from ..nas.euclidean import search_euclidean, train_euclidean_genotype
from ..plots import draw_genotype, save_figure

__all__ = ["main"]


def _load_config(path) -> dict:
    p = Path(path)
    cfg = read_config(p)
    unknown = set(cfg) - {"dataset", "data", "net", "search", "train", "euclidean", "split_seed", "fractions"}
    if unknown:
        raise ValueError(f"config file {p}: unknown sections {sorted(unknown)}")
    return cfg


def _load_data(cfg: dict):
    if "data" in cfg:
        p = Path(cfg["data"])
        if not p.is_file():
            raise FileNotFoundError(f"data file not found: {p}")
        arrays = read_npz(p, ("X", "y"))
        return arrays["X"], arrays["y"]
    if "dataset" not in cfg:
        raise ValueError("config needs a 'dataset' (spdnas.data name + options) or a 'data' (.npz) entry")
    spec = dict(cfg["dataset"]) if isinstance(cfg["dataset"], dict) else {"name": cfg["dataset"]}
    return load_dataset(spec.pop("name"), **spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="spdnas nas", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["search", "train", "random", "euclidean"])
    ap.add_argument("--config", required=True, help="YAML/JSON config file")
    ap.add_argument("--out", required=True, help="output folder (checkpoints, metrics, genotype)")
    ap.add_argument("--genotype", help="genotype JSON for 'train'")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed for 'random'")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--no-resume", action="store_true")
    a = ap.parse_args(argv)
    cfg = _load_config(a.config)
    data = _load_data(cfg)
    out = Path(a.out)
    kw = dict(resume=not a.no_resume, progress=not a.no_progress)
    split = dict(split_seed=int(cfg.get("split_seed", 0)), fractions=tuple(cfg.get("fractions", (0.5, 0.25, 0.25))))
    if a.command == "search":
        scfg = dict(cfg.get("search") or {}, net=cfg.get("net"), split_seed=split["split_seed"],
                    fractions=list(split["fractions"]))
        res = search(data, scfg, out, **kw)
        _figure(res["genotype"], out / "cell")
        print(json.dumps(res["genotype"]))
    elif a.command in ("train", "random"):
        if a.command == "train":
            if not a.genotype:
                raise ValueError("'train' needs --genotype FILE")
            g = load_genotype(a.genotype)
        else:
            steps = (cfg.get("net") or {}).get("steps", 2) if isinstance(cfg.get("net"), dict) else 2
            g = sample_genotype(np.random.default_rng(a.seed), steps)
            save_genotype(g, out / "genotype.json")
        res = train_genotype(g, data, cfg.get("net"), cfg.get("train"), out, **kw, **split)
        print(json.dumps(res["final"]))
    else:
        scfg = dict(cfg.get("search") or {}, net=cfg.get("euclidean"), split_seed=split["split_seed"],
                    fractions=list(split["fractions"]))
        scfg.setdefault("weighting", "softmax")
        res = search_euclidean(data, scfg, out / "search", **kw)
        write_json(out / "genotype.json", res["genotype"])
        tr = train_euclidean_genotype(res["genotype"], data, cfg.get("euclidean"), cfg.get("train"), out / "train",
                                      **kw, **split)
        print(json.dumps(tr["final"]))
    return 0


def _figure(genotype, stem):
    save_figure(draw_genotype(genotype), stem)

