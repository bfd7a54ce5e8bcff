"""Sweep data: name -> loader(seed=..., **kwargs) -> data dict, for :func:`spdnas.sweep.run_sweep`.

A loader returns ``{"x_train", "y_train", "x_test", "y_test", "info"}`` (torch tensors; ``info``
holds ``num_classes`` and whatever the design spaces need, e.g. ``in_channels``/``image_size``
for image spaces, ``n`` for SPD spaces). :data:`DATASETS` lists the image datasets; every SPD
dataset of the :mod:`spdnas.data` registry is a sweep dataset too (through
:func:`spd_sweep_data`), so there is one registry of SPD datasets. Add a custom loader at run
time with :func:`register_dataset`; modules that do so can be imported in sweep workers and by
the CLI via ``plugins=[...]`` / ``--plugin MODULE``.
"""

from __future__ import annotations

import importlib

from ..core.registry import add_entry, registry_key
from ..data import images
from ..data import list_datasets as spd_datasets
from ..data import load_dataset
from .trainer import check_data

__all__ = ["DATASETS", "register_dataset", "list_datasets", "check_dataset", "get_dataset", "import_plugins",
           "spd_sweep_data", "digits_sweep_data", "cifar10_sweep_data"]


def spd_sweep_data(name: str, seed: int = 0, fractions=(0.75, 0.25), **options) -> dict:
    """Sweep data dict for an SPD dataset of :mod:`spdnas.data` (stratified random split by seed)."""
    ds = load_dataset(name, **options)
    split = ds.split(seed=seed, fractions=fractions)
    tr, te = split[0], split[-1]
    Xtr, ytr = ds.tensors(tr)
    Xte, yte = ds.tensors(te)
    info = {"n": ds.info["n"], "num_classes": ds.info["num_classes"], "in_channels": 1, "dataset": name}
    return {"x_train": Xtr.float().unsqueeze(1), "y_train": ytr, "x_test": Xte.float().unsqueeze(1),
            "y_test": yte, "info": info}


def digits_sweep_data(seed=0, test_fraction=0.25, image_size=8) -> dict:
    """scikit-learn digits as 1-channel images (stratified split by ``seed``)."""
    return images.load_digits_images(seed, test_fraction=test_fraction, image_size=image_size)


def cifar10_sweep_data(seed=0, root=None, max_train=None, max_test=None) -> dict:
    """CIFAR-10 binary (fixed official split; ``seed`` is unused)."""
    def _int(v):
        return None if v is None else int(v)

    return images.load_cifar10_binary(root, max_train=_int(max_train), max_test=_int(max_test))


# The image datasets; SPD datasets come from spdnas.data (see the module docstring).
DATASETS: dict = {"digits": digits_sweep_data, "cifar10": cifar10_sweep_data}


def register_dataset(name: str, fn=None, *, overwrite: bool = False):
    """Register ``fn(seed=..., **kwargs) -> data dict`` under ``name``; usable as decorator."""
    def _do(f):
        if not callable(f):
            raise ValueError(f"dataset loader for {name!r} must be callable")
        if registry_key(name, "dataset") in spd_datasets() and not overwrite:
            raise ValueError(f"dataset {name!r} is an SPD dataset of spdnas.data already (pass overwrite=True)")
        add_entry(DATASETS, name, f, "dataset", overwrite=overwrite)
        return f

    return _do if fn is None else _do(fn)


def list_datasets() -> list[str]:
    """Sorted sweep dataset names: the registered loaders and the SPD datasets of spdnas.data."""
    return sorted(set(DATASETS) | set(spd_datasets()))


def import_plugins(plugins) -> None:
    """Import modules (by dotted name) that register spaces/datasets."""
    for mod in plugins or ():
        if not isinstance(mod, str) or not mod:
            raise ValueError(f"plugin must be a module name, got {mod!r}")
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            raise ValueError(f"cannot import plugin module {mod!r}: {e}") from e


def _loader(key: str):
    if key in DATASETS:
        return DATASETS[key]
    if key in spd_datasets():
        return lambda seed=0, **kw: spd_sweep_data(key, seed=seed, **kw)
    raise ValueError(f"unknown dataset {key!r}; known: {', '.join(list_datasets())}")


def check_dataset(name: str) -> str:
    """Registry key of the sweep dataset ``name``; ValueError listing the known ones if there is none."""
    key = registry_key(name, "dataset")
    _loader(key)
    return key


def get_dataset(name: str, seed: int = 0, **kwargs) -> dict:
    """Load and validate a sweep dataset."""
    fn = _loader(registry_key(name, "dataset"))
    try:
        data = fn(seed=seed, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad options {sorted(kwargs)} for dataset {name!r}: {e}") from e
    return check_data(data)
