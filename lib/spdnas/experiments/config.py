"""Experiment constants and the validated configs of the compute stages (params.yaml sections)."""

from __future__ import annotations

import json

from ..core.params import EXTERNAL_DATA
from ..core.validators import int_list, name_list, positive_int, positive_number, split_fractions
from ..core.trainer import TRAIN_DEFAULTS, train_config
from ..data.normalise import check_normalise
from ..nas import SEARCH_DEFAULTS, SELECT_RULES, WEIGHTINGS

__all__ = ["METHODS", "BASELINE_METHODS", "FLOOR_METHODS", "WEIGHTINGS", "SPD_DATASETS", "EXTERNAL", "CELL_SPACE_VARIANTS", "PROTOCOL_KEYS",
           "STAGE_DEFAULTS", "SECTIONS", "stage_config", "for_dataset", "search_unit_config", "euclid_search_config",
           "train_unit_config"]

METHODS = ("SPDNet", "SPDNetBN", "SPDNetNAS (R)", "SPDNetNAS", "DARTS", "FairDARTS")
# the cheap baseline networks: their units (and the floors') start before the long ones when ready,
# so the tables of a run in progress have their baseline rows early
BASELINE_METHODS = ("SPDNet", "SPDNetBN")


# Classical floors (pyriemann + scikit-learn), fitted on the networks' training split and scored
# on the same validation / test sets: rows of the same tables as METHODS.
FLOOR_METHODS = ("log-Euclidean 1-NN", "MDM", "TS + LR")


SPD_DATASETS = ("radar_sim", "basicmotions", "japanesevowels", "hdm05")


# Datasets a user brings (spdnas.data "npz": their own .npz file): a search stage names one in
# ``datasets``; its loader options (path, ridge) come with the call (run_search_stage's data_options).
USER_DATASETS = ("npz",)


# dataset -> folder under the shared data root (from core.params.EXTERNAL_DATA)
EXTERNAL = {name: EXTERNAL_DATA[name]["root"] for name in SPD_DATASETS if name in EXTERNAL_DATA}


# The cell-space variants the cell-space stage compares (ops: spdnas.nas.CELL_VARIANTS). Their
# sorted position enters each unit's seed, so adding one here changes the drawn genotypes.
CELL_SPACE_VARIANTS = ("full", "bimap_only", "no_bimap", "no_skip")


def _defaults(table: dict, *keys: str) -> dict:
    return {k: table[k] for k in keys}


# The training protocol of every trained network (train, data_efficiency, cell_spaces stages):
# core.trainer.fit settings taken from the stage config; each enters the units' keys.
PROTOCOL_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "lr_min", "momentum", "weight_decay")


# Stage schemas. params.yaml gives every value the pipeline uses (per profile); what a caller
# leaves out comes from the library function that does the work (nas.SEARCH_DEFAULTS for the
# search, core.trainer.TRAIN_DEFAULTS for training), not from a second copy here. One exception:
# the search stage reports the genotype of the validation-selected search epoch (select='val',
# the paper's protocol), where the library keeps the plain DARTS default 'last'.
STAGE_DEFAULTS = {
    "search": dict(datasets=["radar_sim", "basicmotions", "hdm05"], ablation_datasets=["radar_sim"],
                   n_per_class=50, normalise="none", overrides={}, select="val",
                   **_defaults(SEARCH_DEFAULTS, "fractions", "split_seed", "seed", "epochs", "order", "batch_size",
                               "max_steps", "arch_lr", "threads")),
    "train": dict(methods=list(METHODS), seeds=[0], euclid_search_epochs=1, euclid_C=4, euclid_layers=2, floors=False,
                  overrides={}, **_defaults(TRAIN_DEFAULTS, *PROTOCOL_KEYS)),
    "data_efficiency": dict(dataset="radar_sim", train_fractions=[0.1, 0.33, 0.8, 1.0],
                            methods=["SPDNet", "SPDNetBN", "SPDNetNAS"], seeds=[0],
                            **_defaults(TRAIN_DEFAULTS, *PROTOCOL_KEYS)),
    "cell_spaces": dict(dataset="basicmotions", dataset_options={}, variants=list(CELL_SPACE_VARIANTS), n=4,
                        steps=2, seed=0, fractions=[0.5, 0.25, 0.25], normalise="none",
                        **_defaults(TRAIN_DEFAULTS, *PROTOCOL_KEYS)),
}


SECTIONS = {"search": "exp_search", "train": "exp_train", "data_efficiency": "exp_data_efficiency",
             "cell_spaces": "exp_cell_spaces"}


def stage_config(kind: str, params: dict | None = None) -> dict:
    """Validated config of a compute stage (``search``, ``train``, ``data_efficiency``, ``cell_spaces``).

    ``params``: the stage's params.yaml values (unknown keys raise ``ValueError``); missing keys
    take the defaults of the schema. ``overrides`` maps a dataset to key overrides (e.g. fewer
    epochs for hdm05). The training protocol (:data:`PROTOCOL_KEYS`) is validated by
    ``core.trainer.train_config``; ``normalise`` (search, cell_spaces) is one of
    ``spdnas.data.NORMALISATIONS`` ("recentre": every matrix congruence-recentred by the
    log-Euclidean mean of the training split).
    """
    if kind not in STAGE_DEFAULTS:
        raise ValueError(f"unknown experiment stage {kind!r}; choose from {sorted(STAGE_DEFAULTS)}")
    params = dict(params or {})
    unknown = set(params) - set(STAGE_DEFAULTS[kind])
    if unknown:
        raise ValueError(f"{kind} config: unknown keys {sorted(unknown)}; allowed: {sorted(STAGE_DEFAULTS[kind])}")
    cfg = json.loads(json.dumps({**STAGE_DEFAULTS[kind], **params}))
    if kind == "search":
        cfg["datasets"] = name_list(cfg["datasets"], SPD_DATASETS + USER_DATASETS, "search datasets")
        cfg["ablation_datasets"] = name_list(cfg["ablation_datasets"], cfg["datasets"], "ablation_datasets") \
            if cfg["ablation_datasets"] else []
        cfg["n_per_class"] = positive_int(cfg["n_per_class"], "n_per_class")
        cfg["fractions"] = split_fractions(cfg["fractions"], "fractions")
        for k in ("epochs", "batch_size"):
            cfg[k] = positive_int(cfg[k], k)
        cfg["max_steps"] = positive_int(cfg["max_steps"], "max_steps", allow_none=True)
        if cfg["order"] not in (1, 2):
            raise ValueError(f"search order must be 1 or 2, got {cfg['order']!r}")
        cfg["normalise"] = check_normalise(cfg["normalise"], "search normalise")
        if cfg["select"] not in SELECT_RULES:
            raise ValueError(f"search select must be one of {SELECT_RULES} (the search epoch whose genotype is "
                             f"reported), got {cfg['select']!r}")
        positive_number(cfg["arch_lr"], "arch_lr")
        cfg["threads"] = positive_int(cfg["threads"], "threads")
        allowed = {"epochs", "batch_size", "max_steps", "order", "normalise", "arch_lr"}
    elif kind == "train":
        cfg["methods"] = name_list(cfg["methods"], METHODS, "methods")
        cfg["seeds"] = int_list(cfg["seeds"], "seeds")
        for k in ("epochs", "batch_size", "euclid_search_epochs", "euclid_C", "euclid_layers"):
            cfg[k] = positive_int(cfg[k], k)
        if not isinstance(cfg["floors"], bool):
            raise ValueError(f"floors must be true or false, got {cfg['floors']!r}")
        allowed = {"seeds", "euclid_search_epochs", "methods", *PROTOCOL_KEYS}
    elif kind == "data_efficiency":
        if cfg["dataset"] not in SPD_DATASETS:
            raise ValueError(f"data_efficiency dataset must be one of {SPD_DATASETS}, got {cfg['dataset']!r}")
        tf = cfg["train_fractions"]
        if not isinstance(tf, (list, tuple)) or not tf or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x <= 1 for x in tf):
            raise ValueError(f"train_fractions must be a non-empty list of numbers in (0, 1], got {tf!r}")
        cfg["train_fractions"] = sorted(float(x) for x in tf)
        cfg["methods"] = name_list(cfg["methods"], ("SPDNet", "SPDNetBN", "SPDNetNAS (R)", "SPDNetNAS"), "methods")
        cfg["seeds"] = int_list(cfg["seeds"], "seeds")
        for k in ("epochs", "batch_size"):
            cfg[k] = positive_int(cfg[k], k)
        allowed = set()
    else:
        if cfg["dataset"] not in SPD_DATASETS:
            raise ValueError(f"cell_spaces dataset must be one of {SPD_DATASETS}, got {cfg['dataset']!r}")
        cfg["variants"] = name_list(cfg["variants"], CELL_SPACE_VARIANTS, "variants")
        for k in ("n", "steps", "epochs", "batch_size"):
            cfg[k] = positive_int(cfg[k], k)
        cfg["fractions"] = split_fractions(cfg["fractions"], "fractions")
        cfg["normalise"] = check_normalise(cfg["normalise"], "cell_spaces normalise")
        if not isinstance(cfg["dataset_options"], dict):
            raise ValueError(f"dataset_options must be a mapping, got {cfg['dataset_options']!r}")
        allowed = set()
    if "lr" in cfg:
        positive_number(cfg["lr"], "lr")
        _check_protocol(kind, cfg, "")
    ov = cfg.get("overrides", {})
    if not isinstance(ov, dict):
        raise ValueError(f"overrides must map dataset -> {{key: value}}, got {ov!r}")
    for ds, o in ov.items():
        if ds not in SPD_DATASETS or not isinstance(o, dict) or set(o) - allowed:
            raise ValueError(f"overrides[{ds!r}] must be a mapping of keys {sorted(allowed)} for a known dataset, got {o!r}")
        if "methods" in o:
            o["methods"] = name_list(o["methods"], cfg["methods"], f"overrides[{ds!r}] methods")
        if "seeds" in o:
            o["seeds"] = int_list(o["seeds"], f"overrides[{ds!r}] seeds")
        for k in ("epochs", "batch_size", "euclid_search_epochs"):
            if k in o:
                o[k] = positive_int(o[k], f"overrides[{ds!r}] {k}")
        if "order" in o and o["order"] not in (1, 2):
            raise ValueError(f"overrides[{ds!r}] order must be 1 or 2, got {o['order']!r}")
        if "max_steps" in o:
            o["max_steps"] = positive_int(o["max_steps"], f"overrides[{ds!r}] max_steps", allow_none=True)
        if "normalise" in o:
            o["normalise"] = check_normalise(o["normalise"], f"overrides[{ds!r}] normalise")
        if kind != "search":
            _check_protocol(kind, {**cfg, **o}, f"overrides[{ds!r}] ")
    return cfg


def _check_protocol(kind: str, cfg: dict, where: str) -> None:
    """Raise ValueError (naming the stage and key) unless the protocol keys are valid fit settings."""
    try:
        train_config(**{k: cfg[k] for k in PROTOCOL_KEYS})
    except ValueError as e:
        raise ValueError(f"{kind} config: {where}{str(e).removeprefix('train config: ')}") from None


def for_dataset(cfg: dict, dataset: str) -> dict:
    """Stage config with the dataset's overrides applied."""
    return {**cfg, **cfg.get("overrides", {}).get(dataset, {})}


def search_unit_config(cfg: dict, dataset: str, weighting: str, net: dict) -> dict:
    """The ``search`` config of one exp_search unit (``cfg``: the stage config; its unit key hashes it)."""
    c = for_dataset(cfg, dataset)
    return dict(net=net, weighting=weighting, order=c["order"], epochs=c["epochs"], batch_size=c["batch_size"],
                max_steps=c["max_steps"], seed=cfg["seed"], split_seed=cfg["split_seed"],
                fractions=cfg["fractions"], select=cfg["select"], arch_lr=c["arch_lr"],
                # spectral threads change results only at round-off; 2 (the default) stays out of the key
                **({"threads": cfg["threads"]} if cfg["threads"] != 2 else {}))


def euclid_search_config(cfg: dict, dataset: str, method: str, n_train: int, split_seed: int, fractions) -> dict:
    """The log-map CNN search config of a DARTS / FairDARTS training (``cfg``: the train stage config)."""
    c = for_dataset(cfg, dataset)
    return dict(net={"C": cfg["euclid_C"], "layers": cfg["euclid_layers"]},
                weighting="softmax" if method == "DARTS" else "sigmoid", order=1,
                epochs=c["euclid_search_epochs"], batch_size=min(c["batch_size"], int(n_train)), seed=0,
                split_seed=split_seed, fractions=fractions)


def train_unit_config(cfg: dict, dataset: str, seed: int) -> dict:
    """The ``train`` config (protocol keys and seed) of one exp_train unit."""
    c = for_dataset(cfg, dataset)
    return dict({k: c[k] for k in PROTOCOL_KEYS}, seed=int(seed))
