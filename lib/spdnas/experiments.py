"""SPDNetNAS experiments: search / train grids, result tables, paper numbers (notebooks 02-05, 09).

Compute stages (command line, one DVC stage each; all resumable, every finished unit of work is
a ``record.json`` that a re-run skips)::

    python -m spdnas.experiments search          --out runs/experiments/search
    python -m spdnas.experiments train           --out runs/experiments/train  --search runs/experiments/search
    python -m spdnas.experiments data-efficiency --out runs/experiments/data_efficiency --search ...
    python -m spdnas.experiments cell-spaces     --out runs/experiments/cell_spaces

Each reads its params.yaml section (``exp_search``, ``exp_train``, ``exp_data_efficiency``,
``exp_cell_spaces``) for the active profile and writes ``plan.json``: one record per planned
unit with ``status`` ``"ok"`` or ``"not run: <reason>"`` (missing external data, failed
dependency). The notebooks only read these folders and assemble tables/figures with
:func:`table2`, :func:`table5`, :func:`data_efficiency_table`, :func:`cell_space_summary` etc.

Protocol: every dataset is split once, stratified by class, with ``fractions`` (train, val, test)
and ``split_seed`` of ``exp_search``; searches learn weights on train and architecture
parameters on val; all networks are then trained from scratch on train and their test accuracy
after the last epoch is reported (mean ± std over seeds, std with ddof=1 as in the papers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .paths import atomic_write_text

__all__ = [
    "METHODS", "WEIGHTINGS", "SPD_DATASETS", "PAPER_DATASET", "PAPER_TABLE2", "PAPER_NOT_IN_TEXT",
    "CELL_SPACE_VARIANTS", "stage_config", "dataset_status", "load_experiment_data", "net_for",
    "baseline_dims", "sample_variant_genotype", "variant_ops", "read_plan", "read_records",
    "run_search_stage", "run_train_stage", "run_data_efficiency_stage", "run_cell_spaces_stage",
    "summarize", "format_pm", "paper_table2", "table2", "table5", "data_efficiency_table",
    "genotypes_table", "search_history", "alpha_history", "cell_space_population",
    "cell_space_summary", "usable_bins", "normalizable_subset", "compare_variants", "plot_search_curves", "plot_alpha_evolution", "plot_accuracy_bars",
    "plot_data_efficiency", "plot_edge_weight_hist", "main",
]

METHODS = ("SPDNet", "SPDNetBN", "SPDNetNAS (R)", "SPDNetNAS", "DARTS", "FairDARTS")
WEIGHTINGS = ("sparsemax", "softmax", "sigmoid")
SPD_DATASETS = ("radar_sim", "basicmotions", "japanesevowels", "hdm05")
EXTERNAL = {"hdm05": "hdm05"}  # dataset -> folder under the shared data root

# Which paper column our dataset corresponds to (None: not in the paper). Our radar_sim is a
# physics simulator of the RADAR task, not the released data; our hdm05 is an 11-class real subset
# of the 117-class release: numbers are indicative, not directly comparable.
PAPER_DATASET = {"radar_sim": "RADAR", "radar": "RADAR", "hdm05": "HDM05", "afew": "AFEW"}

PAPER_NOT_IN_TEXT = "paper value not available in text form"

# Paper Table 2 (Sukthanker et al. IJCAI 2021), test accuracy (%) mean ± std, keyed by
# (paper dataset, method). The table could not be read in text form from any source available to
# this project (the official README shows it as an image), so no value is filled in: every cell
# reads PAPER_NOT_IN_TEXT rather than a number from memory. Users who have the paper can add
# entries here, e.g. PAPER_TABLE2[("RADAR", "SPDNet")] = (mean, std); they are labelled PAPER_SOURCE.
PAPER_TABLE2: dict = {}
PAPER_SOURCE = "Sukthanker et al. 2021, Table 2 (entered by hand)"

# Cell-space variants (NDS's NAS-space study transposed to SPD cells): the non-'none' ops each
# variant may use on normal edges and on the input edges of reduction cells.
_ALL_NORMAL = ("WeightedPooling", "BiMap_0", "BiMap_1", "BiMap_2", "Skip")
_ALL_REDUCE = ("AvgPooling", "MaxPooling", "BiMap_1_reduced", "BiMap_2_reduced", "Skip_reduced")
CELL_SPACE_VARIANTS = {
    "full": (_ALL_NORMAL, _ALL_REDUCE),
    "bimap_only": (("BiMap_0", "BiMap_1", "BiMap_2"), ("BiMap_1_reduced", "BiMap_2_reduced")),
    "no_bimap": (("WeightedPooling", "Skip"), ("AvgPooling", "MaxPooling", "Skip_reduced")),
    "no_skip": (("WeightedPooling", "BiMap_0", "BiMap_1", "BiMap_2"),
                ("AvgPooling", "MaxPooling", "BiMap_1_reduced", "BiMap_2_reduced")),
}

# Stage configs: allowed keys and defaults (params.yaml sections give the per-profile values).
_SCHEMAS = {
    "search": dict(datasets=["radar_sim", "basicmotions", "hdm05"], ablation_datasets=["radar_sim"],
                   radar_per_class=50, fractions=[0.5, 0.25, 0.25], split_seed=0, seed=0, epochs=2, order=1,
                   batch_size=30, max_steps=None, overrides={}),
    "train": dict(methods=list(METHODS), seeds=[0], epochs=5, batch_size=30, lr=0.025,
                  euclid_search_epochs=1, euclid_C=4, euclid_layers=2, overrides={}),
    "data_efficiency": dict(dataset="radar_sim", train_fractions=[0.1, 0.33, 0.8, 1.0],
                            methods=["SPDNet", "SPDNetBN", "SPDNetNAS"], seeds=[0], epochs=5, batch_size=30,
                            lr=0.025),
    "cell_spaces": dict(dataset="basicmotions", dataset_options={}, variants=list(CELL_SPACE_VARIANTS), n=4,
                        steps=2, seed=0, epochs=2, batch_size=10, lr=0.025, fractions=[0.5, 0.25, 0.25]),
}
_SECTIONS = {"search": "exp_search", "train": "exp_train", "data_efficiency": "exp_data_efficiency",
             "cell_spaces": "exp_cell_spaces"}


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


def _int_list(v, name, lo=0):
    if not isinstance(v, (list, tuple)) or not v or any(isinstance(x, bool) or not isinstance(x, int) or x < lo
                                                        for x in v):
        raise ValueError(f"{name} must be a non-empty list of ints >= {lo}, got {v!r}")
    if len(set(v)) != len(v):
        raise ValueError(f"{name} has duplicates: {v!r}")
    return [int(x) for x in v]


def _pos_int(v, name, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int{' or null' if allow_none else ''}, got {v!r}")
    return int(v)


def _names(v, allowed, name):
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError(f"{name} must be a non-empty list, got {v!r}")
    bad = [x for x in v if x not in allowed]
    if bad:
        raise ValueError(f"{name}: unknown name(s) {bad}; choose from {list(allowed)}")
    if len(set(v)) != len(v):
        raise ValueError(f"{name} has duplicates: {v!r}")
    return list(v)


def _fractions(v, name):
    f = [float(x) for x in v] if isinstance(v, (list, tuple)) else None
    if f is None or len(f) != 3 or any(not math.isfinite(x) or x <= 0 for x in f) or not math.isclose(sum(f), 1.0):
        raise ValueError(f"{name} must be three positive (train, val, test) shares summing to 1, got {v!r}")
    return f


def stage_config(kind: str, params: dict | None = None) -> dict:
    """Validated config of a compute stage (``search``, ``train``, ``data_efficiency``, ``cell_spaces``).

    ``params``: the stage's params.yaml values (unknown keys raise ``ValueError``); missing keys
    take the defaults of the schema. ``overrides`` maps a dataset to key overrides (e.g. fewer
    epochs for hdm05).
    """
    if kind not in _SCHEMAS:
        raise ValueError(f"unknown experiment stage {kind!r}; choose from {sorted(_SCHEMAS)}")
    params = dict(params or {})
    unknown = set(params) - set(_SCHEMAS[kind])
    if unknown:
        raise ValueError(f"{kind} config: unknown keys {sorted(unknown)}; allowed: {sorted(_SCHEMAS[kind])}")
    cfg = json.loads(json.dumps({**_SCHEMAS[kind], **params}))
    if kind == "search":
        cfg["datasets"] = _names(cfg["datasets"], SPD_DATASETS, "search datasets")
        cfg["ablation_datasets"] = _names(cfg["ablation_datasets"], cfg["datasets"], "ablation_datasets") \
            if cfg["ablation_datasets"] else []
        cfg["radar_per_class"] = _pos_int(cfg["radar_per_class"], "radar_per_class")
        cfg["fractions"] = _fractions(cfg["fractions"], "fractions")
        for k in ("epochs", "batch_size"):
            cfg[k] = _pos_int(cfg[k], k)
        cfg["max_steps"] = _pos_int(cfg["max_steps"], "max_steps", allow_none=True)
        if cfg["order"] not in (1, 2):
            raise ValueError(f"search order must be 1 or 2, got {cfg['order']!r}")
        allowed = {"epochs", "batch_size", "max_steps", "order"}
    elif kind == "train":
        cfg["methods"] = _names(cfg["methods"], METHODS, "methods")
        cfg["seeds"] = _int_list(cfg["seeds"], "seeds")
        for k in ("epochs", "batch_size", "euclid_search_epochs", "euclid_C", "euclid_layers"):
            cfg[k] = _pos_int(cfg[k], k)
        allowed = {"epochs", "batch_size", "seeds", "euclid_search_epochs", "lr", "methods"}
    elif kind == "data_efficiency":
        if cfg["dataset"] not in SPD_DATASETS:
            raise ValueError(f"data_efficiency dataset must be one of {SPD_DATASETS}, got {cfg['dataset']!r}")
        tf = cfg["train_fractions"]
        if not isinstance(tf, (list, tuple)) or not tf or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x <= 1 for x in tf):
            raise ValueError(f"train_fractions must be a non-empty list of numbers in (0, 1], got {tf!r}")
        cfg["train_fractions"] = sorted(float(x) for x in tf)
        cfg["methods"] = _names(cfg["methods"], ("SPDNet", "SPDNetBN", "SPDNetNAS (R)", "SPDNetNAS"), "methods")
        cfg["seeds"] = _int_list(cfg["seeds"], "seeds")
        for k in ("epochs", "batch_size"):
            cfg[k] = _pos_int(cfg[k], k)
        allowed = set()
    else:
        if cfg["dataset"] not in SPD_DATASETS:
            raise ValueError(f"cell_spaces dataset must be one of {SPD_DATASETS}, got {cfg['dataset']!r}")
        cfg["variants"] = _names(cfg["variants"], CELL_SPACE_VARIANTS, "variants")
        for k in ("n", "steps", "epochs", "batch_size"):
            cfg[k] = _pos_int(cfg[k], k)
        cfg["fractions"] = _fractions(cfg["fractions"], "fractions")
        if not isinstance(cfg["dataset_options"], dict):
            raise ValueError(f"dataset_options must be a mapping, got {cfg['dataset_options']!r}")
        allowed = set()
    if "lr" in cfg and not (isinstance(cfg["lr"], (int, float)) and math.isfinite(cfg["lr"]) and cfg["lr"] > 0):
        raise ValueError(f"lr must be a positive number, got {cfg['lr']!r}")
    ov = cfg.get("overrides", {})
    if not isinstance(ov, dict):
        raise ValueError(f"overrides must map dataset -> {{key: value}}, got {ov!r}")
    for ds, o in ov.items():
        if ds not in SPD_DATASETS or not isinstance(o, dict) or set(o) - allowed:
            raise ValueError(f"overrides[{ds!r}] must be a mapping of keys {sorted(allowed)} for a known dataset, got {o!r}")
        if "methods" in o:
            o["methods"] = _names(o["methods"], cfg["methods"], f"overrides[{ds!r}] methods")
        if "seeds" in o:
            o["seeds"] = _int_list(o["seeds"], f"overrides[{ds!r}] seeds")
        for k in ("epochs", "batch_size", "euclid_search_epochs"):
            if k in o:
                o[k] = _pos_int(o[k], f"overrides[{ds!r}] {k}")
        if "order" in o and o["order"] not in (1, 2):
            raise ValueError(f"overrides[{ds!r}] order must be 1 or 2, got {o['order']!r}")
        if "max_steps" in o:
            o["max_steps"] = _pos_int(o["max_steps"], f"overrides[{ds!r}] max_steps", allow_none=True)
    return cfg


def _for_dataset(cfg: dict, dataset: str) -> dict:
    """Stage config with the dataset's overrides applied."""
    return {**cfg, **cfg.get("overrides", {}).get(dataset, {})}


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Data and nets
# ---------------------------------------------------------------------------------------------


def dataset_options(name: str, radar_per_class: int = 50, seed: int = 0) -> dict:
    """Loader options of an experiment dataset (JSON-able; external roots are added at load time)."""
    if name not in SPD_DATASETS:
        raise ValueError(f"unknown experiment dataset {name!r}; choose from {SPD_DATASETS}")
    if name == "radar_sim":
        return {"n_per_class": int(radar_per_class), "seed": int(seed)}
    return {}


def dataset_status(name: str, shared_data: str | os.PathLike | None) -> str | None:
    """``None`` when the dataset can be loaded, else the reason (what is missing, where)."""
    if name not in SPD_DATASETS:
        raise ValueError(f"unknown experiment dataset {name!r}; choose from {SPD_DATASETS}")
    if name not in EXTERNAL:
        return None
    if shared_data is None:
        return f"{name} data missing (no shared data folder; set $SPDNAS_DATA)"
    p = Path(shared_data) / EXTERNAL[name]
    return None if p.is_dir() else f"{name} data missing ({p} not found)"


def load_experiment_data(name: str, options: dict | None = None, shared_data=None):
    """Load an experiment dataset (``spdnas.data``); external data from ``shared_data``."""
    from . import data as D

    why = dataset_status(name, shared_data)
    if why:
        raise FileNotFoundError(why)
    opts = dict(options or {})
    if name in EXTERNAL:
        opts["root"] = Path(shared_data) / EXTERNAL[name]
    return D.load_dataset(name, **opts)


# Network settings that differ from the defaults: the paper's HDM05 reduction to 30x30.
_NET_OVERRIDES = {"hdm05": {"reduce_dims": [30]}}
# SPDNet / SPDNetBN sizes of the papers (Huang & Van Gool 2017; Brooks et al. 2019).
_BASELINE_DIMS = {"radar_sim": [20, 16, 8], "radar": [20, 16, 8], "hdm05": [93, 70, 50, 30]}


def net_for(name: str, n: int, num_classes: int, steps: int = 2) -> dict:
    """SPDNetNAS network config (``spdnas.nas.net_config``) for a dataset of n x n matrices."""
    from .nas import net_config

    over = dict(_NET_OVERRIDES.get(name, {}))
    if over.get("reduce_dims") and over["reduce_dims"][0] > n:
        over.pop("reduce_dims")
    return net_config(in_dim=int(n), num_classes=int(num_classes), steps=int(steps), **over)


def baseline_dims(name: str, n: int) -> list[int]:
    """SPDNet layer sizes: the papers' for RADAR/HDM05, else ``[n, ~3n/4, ~n/2]``."""
    dims = _BASELINE_DIMS.get(name)
    if dims is not None and dims[0] == n:
        return list(dims)
    return [n, max(2, int(round(0.75 * n))), max(2, int(round(0.5 * n)))]


def variant_ops(variant: str) -> tuple[list[str], list[str]]:
    """(normal ops, reduction-input ops) of a cell-space variant."""
    if variant not in CELL_SPACE_VARIANTS:
        raise ValueError(f"unknown cell-space variant {variant!r}; choose from {sorted(CELL_SPACE_VARIANTS)}")
    a, b = CELL_SPACE_VARIANTS[variant]
    return list(a), list(b)


def sample_variant_genotype(rng, variant: str = "full", steps: int = 2) -> dict:
    """Uniform random genotype of a cell-space variant (as :func:`spdnas.nas.sample_genotype`,
    ops drawn from the variant's restricted sets).

    Each node picks two distinct inputs among its predecessors; each edge an op uniformly from
    the variant's normal set, or its reduction set for edges reading a reduction cell's inputs.
    """
    from .nas import normalize_genotype

    normal_ops, reduce_ops = variant_ops(variant)
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
            raise ValueError(f"rng must be a numpy Generator or an int seed, got {rng!r}")
        rng = np.random.default_rng(int(rng))
    steps = _pos_int(steps, "steps")
    g = {}
    for cell in ("normal", "reduce"):
        pairs = []
        for i in range(steps):
            for j in sorted(int(v) for v in rng.choice(i + 2, size=2, replace=False)):
                ops = reduce_ops if (cell == "reduce" and j < 2) else normal_ops
                pairs.append([ops[int(rng.integers(len(ops)))], j])
        g[cell] = pairs
        g[f"{cell}_concat"] = list(range(2, steps + 2))
    return normalize_genotype(g)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def _write_json(path: Path, obj) -> Path:
    from .train import write_json

    return write_json(path, obj)


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {path} is corrupt: {e}") from None


def _done(folder: Path, key: str) -> dict | None:
    """The finished record in ``folder`` when it was written for the same unit key."""
    p = folder / "record.json"
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return rec if isinstance(rec, dict) and rec.get("key") == key and rec.get("status") == "ok" else None


def _resume(folder: Path, key: str) -> bool:
    """Mark ``folder`` as holding unit ``key``; False (start afresh) when it held another unit."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "unit_key"
    same = p.is_file() and p.read_text().strip() == key
    if not same:
        for f in ("record.json", "checkpoint.pt", "search_checkpoint.pt"):
            (folder / f).unlink(missing_ok=True)
        atomic_write_text(p, key + "\n")
    return same


def _slug(method: str) -> str:
    """Folder-safe method name ('SPDNetNAS (R)' -> 'SPDNetNAS-R')."""
    return method.replace(" (", "-").replace(")", "").replace(" ", "_")


def _not_run(reason: str) -> str:
    return f"not run: {reason}"


def read_plan(folder: str | os.PathLike) -> pd.DataFrame:
    """The records of a compute stage folder (``plan.json``) as a DataFrame."""
    p = Path(folder) / "plan.json"
    data = _read_json(p, "experiment plan (run its compute stage first)")
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ValueError(f"{p}: expected {{'records': [...]}}")
    df = pd.DataFrame(data["records"])
    if len(df) and "status" not in df.columns:
        raise ValueError(f"{p}: records lack a 'status' field")
    return df


def read_records(folder: str | os.PathLike) -> pd.DataFrame:
    """All ``record.json`` files under ``folder`` (finished units), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"experiment folder not found: {folder}")
    rows = []
    for p in sorted(folder.rglob("record.json")):
        rows.append(_read_json(p, "record"))
    return pd.DataFrame(rows)


def _write_plan(out: Path, kind: str, cfg: dict, records: list[dict]) -> Path:
    return _write_json(out / "plan.json", {"stage": kind, "config": cfg, "records": records})


def _progress(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)


def _pct(x) -> float:
    return float("nan") if x is None else 100.0 * float(x)


# ---------------------------------------------------------------------------------------------
# Stage: search
# ---------------------------------------------------------------------------------------------


def _search_units(cfg: dict) -> list[tuple[str, str]]:
    units = []
    for ds in cfg["datasets"]:
        for w in WEIGHTINGS:
            if w == "sparsemax" or ds in cfg["ablation_datasets"]:
                units.append((ds, w))
    return units


def run_search_stage(cfg: dict, out, shared_data=None, *, progress: bool = True) -> list[dict]:
    """SPDNetNAS searches: sparsemax on every dataset, softmax/sigmoid on ``ablation_datasets``.

    Writes ``out/<dataset>/<weighting>/`` (search checkpoint, ``search_metrics.json``,
    ``genotype.json``, ``record.json``), ``out/datasets.json`` (loader options per dataset) and
    ``out/plan.json``. Returns the records.
    """
    from .nas import search
    from .train import write_json

    cfg = stage_config("search", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds_info, records, cache = {}, [], {}
    for name in cfg["datasets"]:
        ds_info[name] = {"options": dataset_options(name, cfg["radar_per_class"], cfg["seed"]),
                         "status": dataset_status(name, shared_data) or "ok"}
    _write_json(out / "datasets.json", {"fractions": cfg["fractions"], "split_seed": cfg["split_seed"],
                                        "datasets": ds_info})
    for ds, w in _progress(_search_units(cfg), progress, "searches"):
        c = _for_dataset(cfg, ds)
        base = {"stage": "search", "dataset": ds, "weighting": w, "method": "SPDNetNAS"}
        why = dataset_status(ds, shared_data)
        if why:
            records.append({**base, "status": _not_run(why)})
            continue
        if ds not in cache:
            cache[ds] = load_experiment_data(ds, ds_info[ds]["options"], shared_data)
        data = cache[ds]
        net = net_for(ds, data.info["n"], data.info["num_classes"])
        scfg = dict(net=net, weighting=w, order=c["order"], epochs=c["epochs"], batch_size=c["batch_size"],
                    max_steps=c["max_steps"], seed=cfg["seed"], split_seed=cfg["split_seed"],
                    fractions=cfg["fractions"])
        key = _key({"search": scfg, "data": ds_info[ds]["options"]})
        folder = out / ds / w
        rec = _done(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            res = search(data, scfg, folder, resume=_resume(folder, key), progress=False)
            last = res["history"][-1] if res["history"] else {}
            rec = {**base, "status": "ok", "key": key, "genotype": res["genotype"], "epochs": c["epochs"],
                   "order": c["order"], "val_acc": last.get("val_acc"), "train_acc": last.get("train_acc"),
                   "time_s": time.perf_counter() - t0, "net": res["net"]}
            write_json(folder / "record.json", rec)
        records.append(rec)
    _write_plan(out, "search", cfg, records)
    return records


def _searched(search_dir: Path) -> tuple[dict, dict]:
    """(datasets.json, {(dataset, weighting): record}) of a finished search stage."""
    info = _read_json(Path(search_dir) / "datasets.json", "search stage output (run stage exp_search)")
    plan = read_plan(search_dir)
    recs = {(r["dataset"], r["weighting"]): r for r in plan.to_dict(orient="records")}
    return info, recs


# ---------------------------------------------------------------------------------------------
# Training helpers
# ---------------------------------------------------------------------------------------------


def _train_cfg(c: dict, seed: int) -> dict:
    return dict(epochs=c["epochs"], batch_size=c["batch_size"], lr=c["lr"], seed=int(seed))


def _fit_spdnet(name, d, dims, batchnorm, tcfg, folder, progress):
    import torch

    from .spd import SPDNet
    from .train import fit

    k = int(max(int(d["train"][1].max()), int(d["val"][1].max())) + 1)
    torch.manual_seed(tcfg["seed"])
    model = SPDNet(dims, k, batchnorm=batchnorm).double()
    res = fit(model, d["train"], d["val"], d["test"], tcfg, folder, progress=progress)
    params, flops = SPDNet.complexity(dims, k, batchnorm)
    return res, {"params": int(params), "flops": int(flops)}


def _shrink_batch(tcfg: dict, n_train: int) -> dict:
    """Batch size no larger than the training set (else an epoch would have no step)."""
    return dict(tcfg, batch_size=max(1, min(tcfg["batch_size"], int(n_train))))


def _train_unit(method: str, ds: str, d: dict, tcfg: dict, folder: Path, genotype=None, net=None,
                euclid=None, progress=False, key: str | None = None) -> dict:
    """Train one network of ``method`` from scratch; returns the metric fields of a record."""
    from .nas import train_genotype

    if key is not None:
        _resume(folder, key)

    tcfg = _shrink_batch(tcfg, len(d["train"][1]))
    n = int(d["train"][0].shape[-1])
    if method in ("SPDNet", "SPDNetBN"):
        dims = baseline_dims(ds, n)
        res, cx = _fit_spdnet(ds, d, dims, method == "SPDNetBN", tcfg, folder, progress)
        extra = {"dims": dims}
    elif method in ("DARTS", "FairDARTS"):
        from .nas.euclidean import train_euclidean_genotype

        res = train_euclidean_genotype(genotype, d, euclid, tcfg, folder, progress=progress)
        cx = {"params": int(res["params"]), "flops": None}
        extra = {"genotype": genotype}
    else:
        res = train_genotype(genotype, d, net, tcfg, folder, progress=progress)
        cx = {"params": int(res["complexity"]["params"]), "flops": int(res["complexity"]["flops"])}
        extra = {"genotype": res["genotype"]}
    f = res["final"] or {}
    return {"test_acc": f.get("test_acc"), "val_acc": f.get("val_acc"), "train_acc": f.get("train_acc"),
            "train_loss": f.get("train_loss"), "params": cx["params"], "flops": cx["flops"],
            "epochs": tcfg["epochs"], "n_train": int(len(d["train"][1])), **extra}


class _Data:
    """Lazily loaded, split datasets shared by the units of one stage."""

    def __init__(self, info: dict, shared_data):
        self.info, self.shared, self._cache = info, shared_data, {}

    def status(self, ds: str) -> str | None:
        entry = self.info["datasets"].get(ds)
        if entry is None:
            return f"dataset {ds} was not searched (not in exp_search datasets)"
        if entry["status"] != "ok":
            return entry["status"].removeprefix("not run: ")
        return dataset_status(ds, self.shared)

    def split(self, ds: str) -> tuple[dict, object]:
        from .nas import resolve_data

        if ds not in self._cache:
            data = load_experiment_data(ds, self.info["datasets"][ds]["options"], self.shared)
            self._cache[ds] = (resolve_data(data, self.info["split_seed"], self.info["fractions"]), data)
        return self._cache[ds]


# ---------------------------------------------------------------------------------------------
# Stage: train (Table 2 methods + Table 5 weightings)
# ---------------------------------------------------------------------------------------------


def run_train_stage(cfg: dict, search_dir, out, shared_data=None, *, progress: bool = True) -> list[dict]:
    """Train every Table-2 method on every searched dataset over ``seeds``, and the softmax /
    sigmoid genotypes of the ablation datasets (Table 5; sparsemax = the SPDNetNAS rows).

    SPDNetNAS trains the sparsemax genotype of the search stage; SPDNetNAS (R) a uniformly sampled
    genotype per seed; DARTS / FairDARTS search once (seed 0) on log-map images and train the
    derived CNN per seed. Writes ``out/<dataset>/<method>/seed<k>/`` and ``out/plan.json``.
    """
    import numpy as np

    from .nas import sample_genotype
    from .nas.euclidean import search_euclidean

    cfg = stage_config("train", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info, searched = _searched(Path(search_dir))
    data = _Data(info, shared_data)
    units = []
    skipped = []
    for ds in info["datasets"]:
        c = _for_dataset(cfg, ds)
        for m in cfg["methods"]:
            if m in c["methods"]:
                units += [(ds, m, "sparsemax" if m == "SPDNetNAS" else None, s) for s in c["seeds"]]
            else:
                skipped.append({"stage": "train", "dataset": ds, "method": m, "weighting": None, "seed": None,
                                "status": _not_run(f"{m} on {ds} left out by exp_train overrides (time budget "
                                                   "of this profile)")})
        for w in ("softmax", "sigmoid"):
            if (ds, w) in searched:
                units += [(ds, "SPDNetNAS", w, s) for s in c["seeds"]]
    records, euclid_g = [], {}
    for ds, m, w, seed in _progress(units, progress, "trainings"):
        c = _for_dataset(cfg, ds)
        base = {"stage": "train", "dataset": ds, "method": m, "weighting": w, "seed": seed}
        why = data.status(ds)
        if why is None and w is not None:
            srec = searched.get((ds, w))
            if srec is None:
                why = f"no {w} search for {ds}"
            elif srec["status"] != "ok":
                why = f"{w} search not run ({srec['status']})"
        if why:
            records.append({**base, "status": _not_run(why)})
            continue
        d, raw = data.split(ds)
        tcfg = _train_cfg(c, seed)
        net = net_for(ds, raw.info["n"], raw.info["num_classes"])
        genotype, euclid = None, None
        if w is not None:
            genotype = searched[(ds, w)]["genotype"]
        elif m == "SPDNetNAS (R)":
            genotype = sample_genotype(np.random.default_rng(10_000 + seed), net["steps"])
        elif m in ("DARTS", "FairDARTS"):
            euclid = {"C": cfg["euclid_C"], "layers": cfg["euclid_layers"]}
            sk = (ds, m)
            if sk not in euclid_g:
                scfg = dict(net=euclid, weighting="softmax" if m == "DARTS" else "sigmoid", order=1,
                            epochs=c["euclid_search_epochs"], batch_size=min(c["batch_size"], len(d["train"][1])),
                            seed=0, split_seed=info["split_seed"], fractions=info["fractions"])
                skey = _key({"euclid_search": scfg, "data": info["datasets"][ds]})
                sfold = out / ds / m / "search"
                srec = _done(sfold, skey)
                if srec is None:
                    t0 = time.perf_counter()
                    res = search_euclidean(raw, scfg, sfold, resume=_resume(sfold, skey), progress=False)
                    srec = {"status": "ok", "key": skey, "genotype": res["genotype"],
                            "time_s": time.perf_counter() - t0}
                    _write_json(sfold / "record.json", srec)
                euclid_g[sk] = srec["genotype"]
            genotype = euclid_g[sk]
        unit = {"train": tcfg, "genotype": genotype, "net": net if euclid is None else euclid,
                "data": info["datasets"][ds], "split": [info["split_seed"], info["fractions"]], "method": m}
        key = _key(unit)
        folder = out / ds / (_slug(m) if w is None else f"{m}-{w}") / f"seed{seed}"
        rec = _done(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            fields = _train_unit(m, ds, d, tcfg, folder, genotype, net, euclid, key=key)
            rec = {**base, "status": "ok", "key": key, **fields, "time_s": time.perf_counter() - t0}
            _write_json(folder / "record.json", rec)
        records.append(rec)
    records += skipped
    _write_plan(out, "train", cfg, records)
    return records


# ---------------------------------------------------------------------------------------------
# Stage: data efficiency
# ---------------------------------------------------------------------------------------------


def _subsample(y, fraction: float, seed: int) -> np.ndarray:
    """Stratified subset of indices: ``fraction`` of each class (at least one sample per class)."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(1, int(round(fraction * len(idx))))
        keep.append(rng.permutation(idx)[:k])
    return np.sort(np.concatenate(keep))


def run_data_efficiency_stage(cfg: dict, search_dir, out, shared_data=None, *, progress: bool = True) -> list[dict]:
    """Train ``methods`` on a stratified ``train_fractions`` share of the training split (same
    validation/test sets), per seed. SPDNetNAS uses the genotype searched on the full data.
    """
    import torch

    from .nas import sample_genotype

    cfg = stage_config("data_efficiency", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info, searched = _searched(Path(search_dir))
    data = _Data(info, shared_data)
    ds = cfg["dataset"]
    records = []
    units = [(f, m, s) for f in cfg["train_fractions"] for m in cfg["methods"] for s in cfg["seeds"]]
    for frac, m, seed in _progress(units, progress, "data efficiency"):
        base = {"stage": "data_efficiency", "dataset": ds, "method": m, "fraction": frac, "seed": seed}
        why = data.status(ds)
        if why is None and m == "SPDNetNAS":
            srec = searched.get((ds, "sparsemax"))
            why = None if srec is not None and srec["status"] == "ok" else f"no sparsemax search for {ds}"
        if why:
            records.append({**base, "status": _not_run(why)})
            continue
        d, raw = data.split(ds)
        keep = torch.as_tensor(_subsample(d["train"][1].numpy(), frac, 1000 + seed))
        dd = dict(d, train=(d["train"][0][keep], d["train"][1][keep]))
        tcfg = _train_cfg(cfg, seed)
        net = net_for(ds, raw.info["n"], raw.info["num_classes"])
        genotype = None
        if m == "SPDNetNAS":
            genotype = searched[(ds, "sparsemax")]["genotype"]
        elif m == "SPDNetNAS (R)":
            genotype = sample_genotype(np.random.default_rng(10_000 + seed), net["steps"])
        key = _key({"train": tcfg, "genotype": genotype, "net": net, "fraction": frac, "method": m,
                    "data": info["datasets"][ds], "split": [info["split_seed"], info["fractions"]]})
        folder = out / _slug(m) / f"frac{frac:g}" / f"seed{seed}"
        rec = _done(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            fields = _train_unit(m, ds, dd, tcfg, folder, genotype, net, key=key)
            rec = {**base, "status": "ok", "key": key, **fields, "time_s": time.perf_counter() - t0}
            _write_json(folder / "record.json", rec)
        records.append(rec)
    _write_plan(out, "data_efficiency", cfg, records)
    return records


# ---------------------------------------------------------------------------------------------
# Stage: cell spaces
# ---------------------------------------------------------------------------------------------


def run_cell_spaces_stage(cfg: dict, out, shared_data=None, *, progress: bool = True) -> list[dict]:
    """Train ``n`` random genotypes of every cell-space variant once (NDS population study).

    Model i of a variant is sampled with seed ``seed * 1_000_003 + i`` from the variant's op sets and
    trained with seed ``seed``. Writes ``out/<variant>/<i>/record.json``, ``out/plan.json`` and
    ``out/population.parquet`` (``spdnas.analysis`` population; error = 100 - test accuracy).
    """
    from .nas import resolve_data

    cfg = stage_config("cell_spaces", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = cfg["dataset"]
    why = dataset_status(ds, shared_data)
    records = []
    d = raw = None
    if why is None:
        raw = load_experiment_data(ds, cfg["dataset_options"], shared_data)
        d = resolve_data(raw, 0, cfg["fractions"])
    units = [(v, i) for v in cfg["variants"] for i in range(cfg["n"])]
    for v, i in _progress(units, progress, "cell spaces"):
        base = {"stage": "cell_spaces", "dataset": ds, "variant": v, "model": i, "seed": cfg["seed"]}
        if why:
            records.append({**base, "status": _not_run(why)})
            continue
        genotype = sample_variant_genotype(np.random.default_rng(cfg["seed"] * 1_000_003 + i * 7919
                                                                 + sorted(CELL_SPACE_VARIANTS).index(v)),
                                           v, cfg["steps"])
        net = net_for(ds, raw.info["n"], raw.info["num_classes"], cfg["steps"])
        tcfg = _train_cfg(cfg, cfg["seed"])
        key = _key({"train": tcfg, "genotype": genotype, "net": net, "data": [ds, cfg["dataset_options"]],
                    "fractions": cfg["fractions"]})
        folder = out / v / f"{i:04d}"
        rec = _done(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            fields = _train_unit("SPDNetNAS", ds, d, tcfg, folder, genotype, net, key=key)
            rec = {**base, "status": "ok", "key": key, **fields, "time_s": time.perf_counter() - t0}
            _write_json(folder / "record.json", rec)
        records.append(rec)
    _write_plan(out, "cell_spaces", cfg, records)
    ok = [r for r in records if r["status"] == "ok"]
    if ok:
        from .analysis import save_population

        save_population(cell_space_population(pd.DataFrame(ok)), out / "population.parquet")
    return records


def cell_space_population(records: pd.DataFrame) -> pd.DataFrame:
    """``spdnas.analysis`` population (space = variant, error = 100 - test accuracy %) from
    cell-space records with status ok."""
    from .analysis import validate_population

    need = {"variant", "model", "genotype", "params", "flops", "test_acc", "seed", "epochs", "dataset", "status"}
    if not isinstance(records, pd.DataFrame) or len(records) == 0:
        raise ValueError("cell_space_population: no records")
    missing = need - set(records.columns)
    if missing:
        raise ValueError(f"cell_space_population: records lack {sorted(missing)}")
    r = records[records["status"] == "ok"]
    if len(r) == 0:
        raise ValueError("cell_space_population: no finished (status ok) records")
    acc = r["test_acc"].astype(float)
    if not np.isfinite(acc).all():
        raise ValueError("cell_space_population: test_acc has NaN/Inf")
    df = pd.DataFrame({
        "space": r["variant"].astype(str), "model_id": r["model"].map(lambda i: f"{int(i):04d}"),
        "config": r["genotype"].map(lambda g: json.dumps(g, sort_keys=True)),
        "params": r["params"].astype("int64"), "flops": r["flops"].astype("int64"),
        "error": 100.0 * (1.0 - acc), "seed": r["seed"].astype("int64"),
        "epochs": r["epochs"].astype("int64"), "dataset": r["dataset"].astype(str),
    })
    if "time_s" in r.columns:
        df["train_time"] = r["time_s"].astype(float).to_numpy()
    return validate_population(df.reset_index(drop=True))


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def format_pm(mean, std, digits: int = 2) -> str:
    """``"mean ± std"`` (std omitted when NaN, empty string when mean is NaN)."""
    if mean is None or not np.isfinite(mean):
        return ""
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summarize(records: pd.DataFrame, by, metric: str = "test_acc") -> pd.DataFrame:
    """Mean/std (ddof=1) over seeds of ``metric`` in percent, mean params, seeds, not-run reasons.

    Groups that only have not-run records keep ``status`` = the first reason; groups with some
    finished runs have status ``"ok"`` (or ``"ok (k of n runs not run)"``).
    """
    by = [by] if isinstance(by, str) else list(by)
    if not isinstance(records, pd.DataFrame):
        raise ValueError(f"records must be a DataFrame, got {type(records).__name__}")
    missing = [c for c in by + ["status"] if c not in records.columns]
    if missing:
        raise ValueError(f"records lack column(s) {missing}")
    if len(records) == 0:
        raise ValueError("summarize: no records")
    rows = []
    for keys, g in records.groupby(by, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        ok = g[g["status"] == "ok"]
        row = dict(zip(by, keys))
        if len(ok) == 0:
            row.update(mean=np.nan, std=np.nan, n=0, params=np.nan, status=str(g["status"].iloc[0]))
        else:
            if metric not in ok.columns:
                raise ValueError(f"records lack metric column {metric!r}")
            v = 100.0 * ok[metric].astype(float).to_numpy()
            if not np.isfinite(v).all():
                raise ValueError(f"{metric} has NaN/Inf for {row}")
            skipped = len(g) - len(ok)
            row.update(mean=float(v.mean()), std=float(v.std(ddof=1)) if len(v) > 1 else np.nan, n=len(v),
                       params=float(ok["params"].astype(float).mean()) if "params" in ok else np.nan,
                       status="ok" if skipped == 0 else f"ok ({skipped} of {len(g)} runs not run)")
        rows.append(row)
    return pd.DataFrame(rows)


def paper_table2() -> pd.DataFrame:
    """Paper Table 2 entries known here (RADAR/HDM05 × six methods); unknown ones say so."""
    rows = []
    for pds in ("RADAR", "HDM05"):
        for m in METHODS:
            v = PAPER_TABLE2.get((pds, m))
            rows.append({"paper_dataset": pds, "method": m,
                         "paper_mean": v[0] if v else np.nan, "paper_std": v[1] if v else np.nan,
                         "paper_acc": format_pm(*v) if v else PAPER_NOT_IN_TEXT,
                         "paper_source": PAPER_SOURCE if v else PAPER_NOT_IN_TEXT})
    return pd.DataFrame(rows)


def _missing_plan_rows(datasets, methods, reason, extra=None):
    return [{"dataset": d, "method": m, **(extra or {}), "status": _not_run(reason)} for d in datasets for m in methods]


def table2(records: pd.DataFrame | None, datasets, methods=METHODS, missing_reason: str | None = None,
           metric: str = "test_acc") -> pd.DataFrame:
    """Table 2: our accuracy (mean ± std over seeds, %) and params per dataset × method, with the
    paper's value beside it (``paper_acc``; see :data:`PAPER_TABLE2`).

    ``records``: the train stage's plan (None: everything is ``not run: missing_reason``).
    Datasets/methods absent from the records get not-run rows.
    """
    datasets, methods = list(datasets), list(methods)
    if not datasets or not methods:
        raise ValueError("table2 needs at least one dataset and one method")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; choose from {METHODS}")
    if records is None:
        recs = pd.DataFrame(_missing_plan_rows(datasets, methods, missing_reason or "no results"))
    else:
        recs = records.copy()
        if "weighting" in recs.columns:  # Table 2 is sparsemax SPDNetNAS; softmax/sigmoid are Table 5
            recs = recs[recs["weighting"].isna() | (recs["weighting"] == "sparsemax")]
        have = set(zip(recs.get("dataset", []), recs.get("method", [])))
        extra = [{"dataset": d, "method": m, "status": _not_run(f"{d} / {m} not in the train stage's plan "
                                                                  "(dataset not in exp_search datasets?)")}
                 for d in datasets for m in methods if (d, m) not in have]
        recs = pd.concat([recs, pd.DataFrame(extra)], ignore_index=True) if extra else recs
        recs = recs[recs["dataset"].isin(datasets) & recs["method"].isin(methods)]
    s = summarize(recs, ["dataset", "method"], metric)
    s["dataset"] = pd.Categorical(s["dataset"], datasets, ordered=True)
    s["method"] = pd.Categorical(s["method"], methods, ordered=True)
    s = s.sort_values(["dataset", "method"]).reset_index(drop=True)
    s["dataset"], s["method"] = s["dataset"].astype(str), s["method"].astype(str)
    s["paper_dataset"] = s["dataset"].map(lambda d: PAPER_DATASET.get(d, ""))
    p = paper_table2()
    s = s.merge(p, on=["paper_dataset", "method"], how="left")
    s["paper_acc"] = s["paper_acc"].fillna("not in the paper")
    s["paper_source"] = s["paper_source"].fillna("")
    s["ours_acc"] = [format_pm(a, b) for a, b in zip(s["mean"], s["std"])]
    s = s.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "seeds"})
    return s[["dataset", "method", "ours_acc", "ours_mean", "ours_std", "seeds", "params", "paper_dataset",
              "paper_acc", "paper_mean", "paper_std", "paper_source", "status"]]


def table5(records: pd.DataFrame | None, datasets, missing_reason: str | None = None,
           metric: str = "test_acc") -> pd.DataFrame:
    """Table 5: SPDNetNAS with sparsemax / softmax / sigmoid mixing (search + train per weighting)."""
    datasets = list(datasets)
    if not datasets:
        raise ValueError("table5 needs at least one dataset")
    if records is None:
        recs = pd.DataFrame([{"dataset": d, "weighting": w, "status": _not_run(missing_reason or "no results")}
                             for d in datasets for w in WEIGHTINGS])
    else:
        need = {"dataset", "method", "weighting", "status"} - set(records.columns)
        if need:
            raise ValueError(f"records lack column(s) {sorted(need)}")
        recs = records[(records["method"] == "SPDNetNAS") & records["weighting"].isin(WEIGHTINGS)
                       & records["dataset"].isin(datasets)]
        have = set(zip(recs["dataset"], recs["weighting"]))
        extra = [{"dataset": d, "weighting": w, "method": "SPDNetNAS",
                  "status": _not_run(f"no {w} search/training for {d} (not in exp_search ablation_datasets)")}
                 for d in datasets for w in WEIGHTINGS if (d, w) not in have]
        recs = pd.concat([recs, pd.DataFrame(extra)], ignore_index=True) if extra else recs
    s = summarize(recs, ["dataset", "weighting"], metric)
    s["dataset"] = pd.Categorical(s["dataset"], datasets, ordered=True)
    s["weighting"] = pd.Categorical(s["weighting"], list(WEIGHTINGS), ordered=True)
    s = s.sort_values(["dataset", "weighting"]).reset_index(drop=True)
    s["dataset"], s["weighting"] = s["dataset"].astype(str), s["weighting"].astype(str)
    s["ours_acc"] = [format_pm(a, b) for a, b in zip(s["mean"], s["std"])]
    s["paper_acc"] = PAPER_NOT_IN_TEXT
    s = s.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "seeds"})
    return s[["dataset", "weighting", "ours_acc", "ours_mean", "ours_std", "seeds", "params", "paper_acc", "status"]]


def data_efficiency_table(records: pd.DataFrame | None, fractions=None, methods=None,
                          missing_reason: str | None = None, metric: str = "test_acc") -> pd.DataFrame:
    """Accuracy (mean ± std over seeds, %) per method × share of the training data."""
    if records is None:
        if not fractions or not methods:
            raise ValueError("data_efficiency_table without records needs fractions and methods")
        recs = pd.DataFrame([{"method": m, "fraction": float(f), "status": _not_run(missing_reason or "no results")}
                             for m in methods for f in fractions])
    else:
        recs = records
    s = summarize(recs, ["method", "fraction"], metric)
    order = list(methods) if methods else list(dict.fromkeys(s["method"]))
    s["method"] = pd.Categorical(s["method"], order, ordered=True)
    s = s.sort_values(["method", "fraction"]).reset_index(drop=True)
    s["method"] = s["method"].astype(str)
    s["train_share_pct"] = 100.0 * s["fraction"].astype(float)
    s["ours_acc"] = [format_pm(a, b) for a, b in zip(s["mean"], s["std"])]
    s["paper_acc"] = PAPER_NOT_IN_TEXT
    s = s.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "seeds"})
    return s[["method", "fraction", "train_share_pct", "ours_acc", "ours_mean", "ours_std", "seeds", "params",
              "paper_acc", "status"]]


def _cell_text(pairs) -> str:
    return ", ".join(f"{op}<-{j}" for op, j in pairs)


def genotypes_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per search (dataset, weighting): normal / reduction cell ops, final val accuracy."""
    need = {"dataset", "weighting", "status"} - set(records.columns)
    if need:
        raise ValueError(f"search records lack column(s) {sorted(need)}")
    rows = []
    for r in records.to_dict(orient="records"):
        g = r.get("genotype") if r["status"] == "ok" else None
        if isinstance(g, dict):
            rows.append({"dataset": r["dataset"], "weighting": r["weighting"], "normal": _cell_text(g["normal"]),
                         "reduce": _cell_text(g["reduce"]), "search_epochs": r.get("epochs"),
                         "order": r.get("order"), "val_acc": _pct(r.get("val_acc")),
                         "search_time_s": r.get("time_s"), "status": "ok"})
        else:
            rows.append({"dataset": r["dataset"], "weighting": r["weighting"], "normal": "", "reduce": "",
                         "search_epochs": np.nan, "order": np.nan, "val_acc": np.nan, "search_time_s": np.nan,
                         "status": r["status"]})
    return pd.DataFrame(rows)


def search_history(path: str | os.PathLike) -> pd.DataFrame:
    """Per-epoch search curves (train/val accuracy and loss) from ``search_metrics.json``."""
    data = _read_json(Path(path), "search metrics")
    hist = data.get("history") if isinstance(data, dict) else None
    if not isinstance(hist, list) or not hist:
        raise ValueError(f"{path}: no search history")
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "time_s"]
    try:
        return pd.DataFrame([{c: h[c] for c in cols} for h in hist])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: malformed history entry ({e})") from None


def alpha_history(path: str | os.PathLike) -> pd.DataFrame:
    """Long table (epoch, cell, edge, op, weight) of the mixing weights after every search epoch."""
    from .nas import NORMAL_OPS, REDUCE_OPS

    data = _read_json(Path(path), "search metrics")
    hist = data.get("history") if isinstance(data, dict) else None
    if not isinstance(hist, list) or not hist:
        raise ValueError(f"{path}: no search history")
    rows = []
    for h in hist:
        aw = h.get("arch_weights")
        if not isinstance(aw, dict):
            raise ValueError(f"{path}: epoch {h.get('epoch')} has no arch_weights")
        for cell, W in aw.items():
            W = np.asarray(W, dtype=float)
            if W.ndim != 2 or W.shape[1] != len(NORMAL_OPS) or not np.isfinite(W).all():
                raise ValueError(f"{path}: arch_weights[{cell!r}] must be a finite (edges, 6) array")
            steps = 0
            while sum(i + 2 for i in range(steps)) < W.shape[0]:
                steps += 1
            edge_inputs = [(i, j) for i in range(steps) for j in range(i + 2)]
            for e, (node, j) in enumerate(edge_inputs):
                names = REDUCE_OPS if (cell == "reduce" and j < 2) else NORMAL_OPS
                for o, op in enumerate(names):
                    rows.append({"epoch": int(h["epoch"]), "cell": cell, "edge": f"{j}->{node + 2}",
                                 "op": op, "weight": float(W[e, o])})
    return pd.DataFrame(rows)


def cell_space_summary(pop: pd.DataFrame) -> pd.DataFrame:
    """Per variant: models, min / median / mean error (%), params range."""
    if not isinstance(pop, pd.DataFrame) or len(pop) == 0:
        raise ValueError("cell_space_summary: empty population")
    rows = []
    for v, g in pop.groupby("space", sort=True):
        e = g["error"].to_numpy(float)
        rows.append({"variant": v, "models": len(g), "min_error": e.min(), "median_error": float(np.median(e)),
                     "mean_error": e.mean(), "params_min": int(g["params"].min()),
                     "params_max": int(g["params"].max()), "status": "ok"})
    return pd.DataFrame(rows)


def usable_bins(pop: pd.DataFrame, want: int, by: str = "params") -> int | None:
    """Largest bin count <= ``want`` for which every space of ``pop`` can be normalised by ``by``
    on the common range (no empty bin); None when the ranges do not overlap."""
    from .analysis import normalize_spaces

    want = _pos_int(want, "bins")
    for k in range(want, 0, -1):
        try:
            normalize_spaces(pop, by=by, bins=k)
            return k
        except ValueError:
            continue
    return None


def normalizable_subset(pop: pd.DataFrame, reference: str, want: int, by: str = "params"):
    """Spaces that can be complexity-normalised together with ``reference`` (greedy, in name order).

    Returns (subset population, bins used, excluded spaces).
    """
    spaces = sorted(set(pop["space"]))
    if reference not in spaces:
        raise ValueError(f"reference space {reference!r} not in the population (has {spaces})")
    keep, excluded, k = [reference], [], None
    for s in spaces:
        if s == reference:
            continue
        b = usable_bins(pop[pop["space"].isin(keep + [s])], want, by)
        if b is None:
            excluded.append(s)
        else:
            keep.append(s)
    sub = pop[pop["space"].isin(keep)]
    if len(keep) > 1:
        k = usable_bins(sub, want, by)
    return sub, k, excluded


def compare_variants(pop: pd.DataFrame, reference: str = "full", bins: int = 4, by: str = "params") -> pd.DataFrame:
    """KS test of every variant's error EDF against ``reference``: plain and ``by``-normalised
    (largest usable bin count <= ``bins``; not-run rows when the complexity ranges do not overlap)."""
    from .analysis import ks_weighted, normalize_spaces

    spaces = sorted(set(pop["space"]))
    if reference not in spaces:
        raise ValueError(f"reference space {reference!r} not in the population (has {spaces})")
    rows = []
    ref = pop[pop["space"] == reference]
    for s in spaces:
        if s == reference:
            continue
        g = pop[pop["space"] == s]
        ks = ks_weighted(g["error"].to_numpy(float), ref["error"].to_numpy(float))
        rows.append({"variant": s, "reference": reference, "normalisation": "none", "bins": np.nan,
                     "n_eff": ks.n_a, "n_eff_ref": ks.n_b, "ks_D": ks.statistic, "ks_p": ks.pvalue, "status": "ok"})
        pair = pop[pop["space"].isin([s, reference])]
        k = usable_bins(pair, bins, by)
        if k is None:
            rows.append({"variant": s, "reference": reference, "normalisation": by, "bins": np.nan,
                         "n_eff": np.nan, "n_eff_ref": np.nan, "ks_D": np.nan, "ks_p": np.nan,
                         "status": _not_run(f"{by} ranges of {s} and {reference} do not overlap")})
            continue
        nd = normalize_spaces(pair, by=by, bins=k)
        a, b = nd[nd["space"] == s], nd[nd["space"] == reference]
        ks = ks_weighted(a["error"].to_numpy(float), b["error"].to_numpy(float), a["weight"].to_numpy(),
                         b["weight"].to_numpy())
        rows.append({"variant": s, "reference": reference, "normalisation": by, "bins": k, "n_eff": ks.n_a,
                     "n_eff_ref": ks.n_b, "ks_D": ks.statistic, "ks_p": ks.pvalue, "status": "ok"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Figures (matplotlib Figure objects, no pyplot)
# ---------------------------------------------------------------------------------------------


def plot_search_curves(curves: dict):
    """Accuracy and loss per search epoch (train solid, val dashed), one colour per search.

    ``curves``: {label: :func:`search_history` frame}.
    """
    from matplotlib.figure import Figure

    from .plots import palette, style

    if not curves:
        raise ValueError("plot_search_curves: no curves")
    with style():
        fig = Figure(figsize=(8.0, 3.2), layout="constrained")
        axes = fig.subplots(1, 2)
        for (label, h), col in zip(curves.items(), palette(len(curves))):
            for ax, what in zip(axes, ("acc", "loss")):
                scale = 100.0 if what == "acc" else 1.0
                ax.plot(h["epoch"], scale * h[f"train_{what}"], "-o", color=col, ms=3, label=f"{label} train")
                ax.plot(h["epoch"], scale * h[f"val_{what}"], "--s", color=col, ms=3, label=f"{label} val")
        axes[0].set_ylabel("accuracy (%)")
        axes[1].set_ylabel("cross-entropy")
        for ax in axes:
            ax.set_xlabel("search epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[1].legend(fontsize=6, loc="best")
    return fig


def plot_alpha_evolution(alphas: pd.DataFrame, title: str | None = None):
    """Mixing weight of every op (mean over the cell's edges offering it) per search epoch, normal
    vs reduction cell (reduction ops dashed)."""
    import matplotlib

    from matplotlib.figure import Figure

    mpl_cm = matplotlib.colormaps["tab20"]

    from .plots import palette, style

    if not isinstance(alphas, pd.DataFrame) or len(alphas) == 0:
        raise ValueError("plot_alpha_evolution: no alpha history")
    with style():
        fig = Figure(figsize=(8.0, 3.2), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, cell in zip(axes, ("normal", "reduce")):
            a = alphas[alphas["cell"] == cell]
            if len(a) == 0:
                ax.set_axis_off()
                continue
            # mean over the edges offering the op (reduction ops: the input edges of a reduce cell)
            m = a.groupby(["epoch", "op"], sort=False)["weight"].mean().reset_index()
            ops = list(dict.fromkeys(a["op"]))
            cols = palette(len(ops)) if len(ops) <= 10 else [mpl_cm(i % 20) for i in range(len(ops))]
            for op, col in zip(ops, cols):
                mo = m[m["op"] == op]
                ax.plot(mo["epoch"], mo["weight"], "--o" if op in _ALL_REDUCE else "-o", ms=3, color=col,
                        label=op)
            ax.set_title(f"{cell} cell", fontsize=9)
            ax.set_xlabel("search epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.legend(fontsize=6, ncol=2, framealpha=0.8)
        axes[0].set_ylabel("mean edge weight")
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def plot_accuracy_bars(table: pd.DataFrame, group: str = "method", paper: bool = True):
    """Our accuracy (mean ± std) per dataset and ``group``, the paper's values as black markers."""
    from matplotlib.figure import Figure

    from .plots import palette, style

    t = table[np.isfinite(table["ours_mean"].astype(float))] if len(table) else table
    if len(t) == 0:
        raise ValueError("plot_accuracy_bars: no finished results to plot")
    datasets = list(dict.fromkeys(t["dataset"]))
    groups = list(dict.fromkeys(t[group]))
    with style():
        fig = Figure(figsize=(max(4.0, 1.0 + 0.55 * len(groups) * len(datasets)), 3.4), layout="constrained")
        ax = fig.subplots()
        width = 0.8 / len(groups)
        for gi, (g, col) in enumerate(zip(groups, palette(len(groups)))):
            for di, ds in enumerate(datasets):
                r = t[(t["dataset"] == ds) & (t[group] == g)]
                if len(r) == 0:
                    continue
                x = di + (gi - (len(groups) - 1) / 2) * width
                std = float(r["ours_std"].iloc[0]) if np.isfinite(r["ours_std"].iloc[0]) else 0.0
                ax.bar(x, float(r["ours_mean"].iloc[0]), width, yerr=std, color=col, capsize=2,
                       label=g if di == 0 else None)
                if paper and "paper_mean" in r and np.isfinite(r["paper_mean"].iloc[0]):
                    ax.plot([x], [float(r["paper_mean"].iloc[0])], "k_", ms=12, mew=2,
                            label="paper" if (gi, di) == (0, 0) else None)
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 105)
        handles, labels = ax.get_legend_handles_labels()
        if paper and "paper_mean" in t and not any("paper" in lab for lab in labels) \
                and np.isfinite(t["paper_mean"].astype(float)).any():
            ax.plot([], [], "k_", ms=12, mew=2, label="paper")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_data_efficiency(table: pd.DataFrame):
    """Accuracy (mean ± std) vs share of the training data, one line per method."""
    from matplotlib.figure import Figure

    from .plots import palette, style

    t = table[np.isfinite(table["ours_mean"].astype(float))]
    if len(t) == 0:
        raise ValueError("plot_data_efficiency: no finished results to plot")
    methods = list(dict.fromkeys(t["method"]))
    with style():
        fig = Figure(figsize=(4.6, 3.3), layout="constrained")
        ax = fig.subplots()
        for m, col in zip(methods, palette(len(methods))):
            r = t[t["method"] == m].sort_values("fraction")
            ax.errorbar(r["train_share_pct"], r["ours_mean"], yerr=r["ours_std"].fillna(0.0), fmt="-o", ms=4,
                        capsize=2, color=col, label=m)
        ax.set_xlabel("training data used (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    return fig


def plot_edge_weight_hist(weights: dict):
    """Distribution of the final mixing weights of all (edge, op) pairs per weighting (paper Fig. 2a).

    ``weights``: {weighting: 1-d array of weights}.
    """
    from matplotlib.figure import Figure

    from .plots import palette, style

    if not weights:
        raise ValueError("plot_edge_weight_hist: no weights")
    with style():
        fig = Figure(figsize=(4.6, 3.3), layout="constrained")
        ax = fig.subplots()
        bins = np.linspace(0.0, 1.0, 21)
        for (w, vals), col in zip(weights.items(), palette(len(weights))):
            v = np.asarray(vals, dtype=float)
            if v.size == 0 or not np.isfinite(v).all():
                raise ValueError(f"plot_edge_weight_hist: weights of {w!r} are empty or not finite")
            ax.hist(v, bins=bins, histtype="step", lw=1.5, color=col, label=w,
                    weights=np.full(v.size, 1.0 / v.size))
        ax.set_xlabel("edge weight of an op")
        ax.set_ylabel("fraction of (edge, op) pairs")
        ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _section_params(kind: str, section: str | None, profile: str | None) -> dict:
    from .pipeline import stage_params

    return stage_params(section or _SECTIONS[kind], profile)


def _shared(arg):
    from .paths import shared_data_root
    from .pipeline import read_params
    from .paths import repo_root

    if arg:
        return shared_data_root(arg)
    if os.environ.get("SPDNAS_DATA"):
        return shared_data_root()
    try:
        rel = read_params().get("shared_data")
    except (FileNotFoundError, ValueError):
        rel = None
    return shared_data_root(repo_root() / rel if rel else None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spdnas.experiments", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["search", "train", "data-efficiency", "cell-spaces"])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--search", default=None, help="search stage folder (train, data-efficiency)")
    ap.add_argument("--section", default=None, help="params.yaml section (default exp_<command>)")
    ap.add_argument("--profile", default=None, help="profile (default: $SPDNAS_PROFILE or params.yaml)")
    ap.add_argument("--config", default=None, help="JSON/YAML file with the stage config instead of params.yaml")
    ap.add_argument("--data", default=None, help="shared data folder (default: params.yaml / $SPDNAS_DATA)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    kind = a.command.replace("-", "_")
    if a.config:
        import yaml

        p = Path(a.config)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {p}")
        try:
            params = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise ValueError(f"config file {p} is corrupt: {e}") from None
        if not isinstance(params, dict):
            raise ValueError(f"config file {p} must hold a mapping")
    else:
        params = _section_params(kind, a.section, a.profile)
    shared = _shared(a.data)
    kw = dict(progress=not a.no_progress)
    t0 = time.perf_counter()
    if kind == "search":
        recs = run_search_stage(params, a.out, shared, **kw)
    elif kind == "cell_spaces":
        recs = run_cell_spaces_stage(params, a.out, shared, **kw)
    else:
        if not a.search:
            raise ValueError(f"'{a.command}' needs --search <search stage folder>")
        fn = run_train_stage if kind == "train" else run_data_efficiency_stage
        recs = fn(params, a.search, a.out, shared, **kw)
    ok = sum(r["status"] == "ok" for r in recs)
    print(f"{a.command}: {ok} of {len(recs)} units ok, {time.perf_counter() - t0:.1f} s -> {a.out}")
    for r in recs:
        if r["status"] != "ok":
            print(f"  {r.get('dataset')} {r.get('method', '')} {r.get('weighting') or ''}: {r['status']}")
    return 0


if __name__ == "__main__":
    from .cli import guarded

    sys.exit(guarded(main))
