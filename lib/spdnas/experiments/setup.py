"""Experiment datasets (loader options, external-data status) and the networks built for them."""

from __future__ import annotations

import os
from pathlib import Path

from .. import data as D
from ..core.validators import as_rng, positive_int
from ..nas import net_config, normalize_genotype
from .config import CELL_SPACE_VARIANTS, EXTERNAL, SPD_DATASETS

__all__ = ["dataset_options", "dataset_status", "load_experiment_data", "net_for", "baseline_dims", "variant_ops",
           "sample_variant_genotype"]

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
    normal_ops, reduce_ops = variant_ops(variant)
    rng = as_rng(rng)
    steps = positive_int(steps, "steps")
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
