"""Registry of sweep datasets: name -> loader(seed=..., **kwargs) -> data dict.

A loader returns ``{"x_train", "y_train", "x_test", "y_test", "info"}`` (torch tensors; ``info``
holds ``num_classes`` and whatever the design spaces need, e.g. ``in_channels``/``image_size``
for image spaces). Register more (e.g. SPD datasets) with::

    from spdnas.sweep import register_dataset

    @register_dataset("hdm05")
    def load_hdm05(seed=0, **kwargs): ...

Modules that register datasets or spaces can be imported in sweep workers and by the CLI via
``plugins=[...]`` / ``--plugin MODULE``.
"""

from __future__ import annotations

import importlib

from .trainer import check_data

DATASETS: dict = {}


def _norm(name):
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    return name.strip().lower().replace("-", "_")


def register_dataset(name: str, fn=None, *, overwrite: bool = False):
    """Register ``fn(seed=..., **kwargs) -> data dict`` under ``name``; usable as decorator."""
    key = _norm(name)

    def _do(f):
        if not callable(f):
            raise ValueError(f"dataset loader for {name!r} must be callable")
        if key in DATASETS and DATASETS[key] is not f and not overwrite:
            raise ValueError(f"dataset {key!r} is already registered (pass overwrite=True)")
        DATASETS[key] = f
        return f

    return _do if fn is None else _do(fn)


def _load_space_plugins() -> None:
    # space plugins (e.g. spdnas.spaces.spd) also register their datasets here
    from spdnas.spaces.base import _load_plugins

    _load_plugins()


def list_datasets() -> list[str]:
    """Sorted registered dataset names (including those of space plugins)."""
    _load_space_plugins()
    return sorted(DATASETS)


def import_plugins(plugins) -> None:
    """Import modules (by dotted name) that register spaces/datasets."""
    for mod in plugins or ():
        if not isinstance(mod, str) or not mod:
            raise ValueError(f"plugin must be a module name, got {mod!r}")
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            raise ValueError(f"cannot import plugin module {mod!r}: {e}") from e


def get_dataset(name: str, seed: int = 0, **kwargs) -> dict:
    """Load and validate a registered dataset."""
    key = _norm(name)
    if key not in DATASETS:
        _load_space_plugins()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(list_datasets())}")
    try:
        data = DATASETS[key](seed=seed, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad options {sorted(kwargs)} for dataset {key!r}: {e}") from e
    return check_data(data)


@register_dataset("digits")
def _digits(seed=0, test_fraction=0.25, image_size=8):
    from spdnas.data.images import load_digits_images

    return load_digits_images(seed, test_fraction=test_fraction, image_size=image_size)


@register_dataset("cifar10")
def _cifar10(seed=0, root=None, max_train=None, max_test=None):
    """CIFAR-10 binary (fixed official split; ``seed`` is unused)."""
    from spdnas.data.images import load_cifar10_binary

    def _int(v):
        return None if v is None else int(v)

    return load_cifar10_binary(root, max_train=_int(max_train), max_test=_int(max_test))
