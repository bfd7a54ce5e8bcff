"""Dataset registry and the on-disk cache of prepared datasets (``data/prepared/*.npz``)."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..core.io import atomic_write_bytes
from ..core.paths import repo_root
from .afew import afew_sources, load_afew
from .base import SPDDataset
from .files import read_npz
from .hdm05 import hdm05_sources, load_hdm05
from .npz import load_npz, npz_sources
from .radar import load_radar, load_radar_sim, radar_sources
from .uea import load_basicmotions, load_japanesevowels, load_uea, uea_sources

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "register_dataset",
    "list_datasets",
    "dataset_options",
    "load_dataset",
    "prepare_dataset",
    "cache_path",
    "save_prepared",
    "load_prepared",
]

CACHE_FORMAT = 1
_EXCLUDED_FROM_HASH = ("progress",)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its loader, one-line description, input sources and cache version."""

    fn: Callable[..., SPDDataset]
    description: str = ""
    sources: Callable[[dict], list] | None = None
    version: str = "1"

    def __post_init__(self):
        if not self.description:
            object.__setattr__(self, "description", (inspect.getdoc(self.fn) or "").split("\n")[0])


def _problem_sources(problem: str):
    return lambda options: uea_sources({**options, "problem": problem})


# The built-in datasets (the one registry; register_dataset adds user entries at run time).
DATASETS: dict[str, DatasetEntry] = {
    "radar_sim": DatasetEntry(load_radar_sim, version="1"),
    "radar": DatasetEntry(load_radar, sources=radar_sources),
    "hdm05": DatasetEntry(load_hdm05, sources=hdm05_sources),
    "afew": DatasetEntry(load_afew, sources=afew_sources),
    "uea": DatasetEntry(load_uea, sources=uea_sources),
    "basicmotions": DatasetEntry(load_basicmotions, sources=_problem_sources("BasicMotions")),
    "japanesevowels": DatasetEntry(load_japanesevowels, sources=_problem_sources("JapaneseVowels")),
    "npz": DatasetEntry(load_npz, sources=npz_sources),
}


def register_dataset(name: str, fn: Callable[..., SPDDataset] | None = None, *, description: str = "",
                     sources: Callable[[dict], list] | None = None, version: str = "1",
                     overwrite: bool = False):
    """Register ``fn(**options) -> SPDDataset`` under ``name`` (usable as a decorator).

    Args:
        sources: optional ``sources(options) -> [paths]`` of input files/folders; their sizes and
            modification times enter the cache key, so edited inputs are re-prepared.
        version: bump when the loader's output changes, to invalidate old caches.
        overwrite: replace an existing registration instead of raising ValueError.
    """
    if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"dataset name must be a non-empty identifier-like string, got {name!r}")

    def deco(f):
        if not callable(f):
            raise ValueError(f"dataset {name!r}: loader must be callable, got {type(f).__name__}")
        if name in DATASETS and not overwrite and DATASETS[name].fn is not f:
            raise ValueError(f"dataset {name!r} is already registered (pass overwrite=True)")
        DATASETS[name] = DatasetEntry(f, description, sources, str(version))
        return f

    return deco if fn is None else deco(fn)


def list_datasets() -> list[str]:
    """Sorted names of the registered datasets."""
    return sorted(DATASETS)


def _entry(name: str) -> DatasetEntry:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; registered: {', '.join(list_datasets())}")
    return DATASETS[name]


def dataset_options(name: str) -> dict:
    """Options of dataset ``name`` with their defaults."""
    sig = inspect.signature(_entry(name).fn)
    return {k: (None if p.default is inspect.Parameter.empty else p.default)
            for k, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _canonical_options(name: str, options: dict) -> dict:
    fn = _entry(name).fn
    sig = inspect.signature(fn)
    params = sig.parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for dataset {name!r}; valid options: {sorted(params)}"
            )
    try:
        bound = sig.bind(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for dataset {name!r}: {exc}") from exc
    bound.apply_defaults()
    return dict(bound.arguments)


def _jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, os.PathLike):
        return str(Path(v).expanduser().resolve())
    if isinstance(v, (list, tuple)):
        return [_jsonable(u) for u in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(u) for k, u in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return repr(v)


def _fingerprint(paths) -> list:
    rows = []
    for p in paths or []:
        p = Path(p)
        if p.is_file():
            st = p.stat()
            rows.append([str(p), st.st_size, st.st_mtime_ns])
        elif p.is_dir():
            for q in sorted(p.rglob("*")):
                if q.is_file():
                    st = q.stat()
                    rows.append([str(q), st.st_size, st.st_mtime_ns])
        else:
            rows.append([str(p), None, None])
    return rows


def _cache_key(name: str, options: dict) -> str:
    entry = _entry(name)
    opts = {k: _jsonable(v) for k, v in options.items() if k not in _EXCLUDED_FROM_HASH}
    src = _fingerprint(entry.sources(options)) if entry.sources else []
    blob = json.dumps({"name": name, "version": entry.version, "format": CACHE_FORMAT,
                       "options": opts, "sources": src}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _default_cache_dir() -> Path:
    return repo_root() / "data" / "prepared"


def cache_path(name: str, cache_dir: str | os.PathLike | None = None, **options) -> Path:
    """``<cache_dir>/<name>-<hash of options and inputs>.npz`` (default ``<repo>/data/prepared``)."""
    opts = _canonical_options(name, options)
    base = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    return base / f"{name}-{_cache_key(name, opts)}.npz"


# --------------------------------------------------------------------------------------------
# npz format


def save_prepared(ds: SPDDataset, path: str | os.PathLike, options: dict | None = None) -> Path:
    """Write ``ds`` atomically to ``path`` (.npz: X, y, classes, meta as parquet, info as JSON)."""
    meta_buf = io.BytesIO()
    meta = ds.meta.copy()
    meta.columns = [str(c) for c in meta.columns]
    meta.to_parquet(meta_buf, index=False)
    info = dict(ds.info)
    if options is not None:
        info["options"] = {k: _jsonable(v) for k, v in options.items() if k not in _EXCLUDED_FROM_HASH}
    arrays = {
        "format": np.array(CACHE_FORMAT),
        "name": np.array(ds.name),
        "X": ds.X.detach().cpu().numpy().astype(np.float64),
        "y": ds.y.detach().cpu().numpy().astype(np.int64),
        "classes": np.array(list(ds.classes), dtype=str),
        "meta": np.frombuffer(meta_buf.getvalue(), dtype=np.uint8),
        "info": np.array(json.dumps(_jsonable(info), sort_keys=True)),
    }
    if ds.signals is not None:
        arrays["signals"] = ds.signals.detach().cpu().numpy()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_prepared(path: str | os.PathLike) -> SPDDataset:
    """Read a file written by :func:`save_prepared`; ValueError if it is corrupt or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prepared dataset file not found: {path}")
    try:
        z = read_npz(path, ("format", "name", "X", "y", "classes", "meta", "info"), ("signals",))
    except ValueError as exc:  # names the file and what is wrong with it
        raise ValueError(f"corrupt prepared dataset {exc}") from None
    try:
        if int(z["format"]) != CACHE_FORMAT:
            raise ValueError(f"format {int(z['format'])} != {CACHE_FORMAT}")
        X, y = z["X"], z["y"]
        meta = pd.read_parquet(io.BytesIO(z["meta"].tobytes()))
        info = json.loads(str(z["info"]))
        signals = z.get("signals")
        name, classes = str(z["name"]), [str(c) for c in z["classes"]]
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or Inf")
        ds = SPDDataset(name=name, X=torch.from_numpy(X), y=torch.from_numpy(y), classes=classes,
                        meta=meta, info=info,
                        signals=None if signals is None else torch.from_numpy(signals))
    except ValueError as exc:
        raise ValueError(f"{path}: corrupt prepared dataset ({exc})") from exc
    except Exception as exc:  # zipfile.BadZipFile, EOFError, OSError, pyarrow errors, ...
        raise ValueError(f"{path}: corrupt prepared dataset ({type(exc).__name__}: {exc})") from exc
    return ds


# --------------------------------------------------------------------------------------------
# public entry points


def _build(name: str, options: dict, progress: bool) -> SPDDataset:
    entry = _entry(name)
    kwargs = dict(options)
    if "progress" in inspect.signature(entry.fn).parameters:
        kwargs["progress"] = progress
    ds = entry.fn(**kwargs)
    if not isinstance(ds, SPDDataset):
        raise ValueError(f"dataset {name!r}: loader returned {type(ds).__name__}, not SPDDataset")
    return ds


def load_dataset(name: str, *, cache: bool = True, cache_dir: str | os.PathLike | None = None,
                 progress: bool = False, **options) -> SPDDataset:
    """Load a registered dataset, via the prepared cache when ``cache`` is true.

    Args:
        name: a name from :func:`list_datasets`.
        cache: read/write ``<cache_dir>/<name>-<hash>.npz``; a corrupt cache file is rebuilt.
        cache_dir: default ``<repo>/data/prepared``.
        progress: tqdm progress bars while building.
        **options: dataset options (see :func:`dataset_options`); unknown ones raise ValueError.
    """
    opts = _canonical_options(name, options)
    opts.pop("progress", None)
    if not cache:
        ds = _build(name, opts, progress)
        ds.info.setdefault("options", {k: _jsonable(v) for k, v in opts.items()})
        return ds
    path = cache_path(name, cache_dir, **opts)
    if path.exists():
        try:
            return load_prepared(path)
        except ValueError as exc:
            warnings.warn(f"rebuilding {name}: {exc}", RuntimeWarning, stacklevel=2)
    ds = _build(name, opts, progress)
    save_prepared(ds, path, opts)
    return load_prepared(path)


def prepare_dataset(name: str, out: str | os.PathLike | None = None, *,
                    cache_dir: str | os.PathLike | None = None, force: bool = False,
                    progress: bool = False, **options) -> Path:
    """Build dataset ``name`` and write it (atomically) to ``out`` or to its cache path; returns the path.

    An existing valid file at the cache path is reused unless ``force``; ``out`` is always
    (re)written, so a DVC stage gets a fresh output.
    """
    opts = _canonical_options(name, options)
    opts.pop("progress", None)
    path = cache_path(name, cache_dir, **opts)
    ds = None
    if path.exists() and not force:
        try:
            ds = load_prepared(path)
        except ValueError as exc:
            warnings.warn(f"rebuilding {name}: {exc}", RuntimeWarning, stacklevel=2)
    if ds is None:
        ds = _build(name, opts, progress)
        if out is None:
            return save_prepared(ds, path, opts)
    target = Path(out) if out is not None else path
    return save_prepared(ds, target, opts)
