"""Experiment datasets (loader options, external-data status) and the networks built for them."""

from __future__ import annotations

import os
from pathlib import Path

from .. import data as D
from ..nas import net_config
from .config import EXTERNAL, SPD_DATASETS, USER_DATASETS

__all__ = ["dataset_options", "dataset_status", "loader_options", "load_experiment_data", "load_or_reason", "nas_cli_config", "net_for",
           "baseline_dims"]


def dataset_options(name: str, n_per_class: int = 50, seed: int = 0) -> dict:
    """Loader options of an experiment dataset (JSON-able; external roots are added at load time):
    ``n_per_class`` and ``seed`` of the simulated RADAR data, by the loader's own names (a user
    dataset's options come from the stage's ``dataset_options``)."""
    if name not in SPD_DATASETS + USER_DATASETS:
        raise ValueError(f"unknown experiment dataset {name!r}; choose from {SPD_DATASETS}")
    if name == "radar_sim":
        return {"n_per_class": int(n_per_class), "seed": int(seed)}
    return {}


def dataset_status(name: str, shared_data: str | os.PathLike | None) -> str | None:
    """``None`` when the dataset can be loaded, else the reason (what is missing, where)."""
    if name not in SPD_DATASETS + USER_DATASETS:
        raise ValueError(f"unknown experiment dataset {name!r}; choose from {SPD_DATASETS}")
    if name not in EXTERNAL:
        return None
    if shared_data is None:
        return f"{name} data missing (no shared data folder; set $SPDNAS_DATA)"
    p = Path(shared_data) / EXTERNAL[name]
    return None if p.is_dir() else f"{name} data missing ({p} not found)"


def loader_options(name: str, options: dict | None = None, shared_data=None) -> dict:
    """The ``spdnas.data.load_dataset`` options of an experiment dataset: ``options`` plus, for
    external data, its ``root`` under ``shared_data``."""
    opts = dict(options or {})
    if name in EXTERNAL:
        opts["root"] = Path(shared_data) / EXTERNAL[name]
    return opts


def load_experiment_data(name: str, options: dict | None = None, shared_data=None):
    """Load an experiment dataset (``spdnas.data``); external data from ``shared_data``."""
    why = dataset_status(name, shared_data)
    if why:
        raise FileNotFoundError(why)
    return D.load_dataset(name, **loader_options(name, options, shared_data))


def load_or_reason(name: str, options: dict | None = None, shared_data=None):
    """``(dataset, None)``, or ``(None, reason)`` when the data is missing or corrupt: the reason
    names the file and the problem (the loaders' message), so the unit becomes a "not run" row."""
    why = dataset_status(name, shared_data)
    if why:
        return None, why
    try:
        return load_experiment_data(name, options, shared_data), None
    except (ValueError, OSError) as e:
        return None, f"{name} data unreadable: {e}"


def nas_cli_config(name: str, options: dict, search: dict, shared_data=None) -> dict:
    """A search unit in the config format of ``spdnas nas search --config`` (the one search config
    format: the stage translates its params.yaml section into it, one file per unit)."""
    dataset = {"name": name, **{k: str(v) if isinstance(v, Path) else v
                                for k, v in loader_options(name, options, shared_data).items()}}
    rest = {k: v for k, v in search.items() if k not in ("net", "split_seed", "fractions")}
    return {"dataset": dataset, "net": search.get("net"), "search": rest,
            "split_seed": search.get("split_seed", 0), "fractions": list(search.get("fractions", (0.5, 0.25, 0.25)))}


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
