"""AFEW (Acted Facial Expressions in the Wild) in the SPDNet release layout (400x400 SPD per clip).

Layout (Huang & Van Gool, SPDNet, AAAI 2017): an index MAT file (e.g.
``spddb_afew_train_spd400_int_histeq.mat``) holding a struct ``spd_train`` with fields
``spdDir`` (the folder of clip files, ignored if absent on this machine) and ``spd`` with
``name`` (cell array of relative paths, Windows ``\\`` separators allowed), ``label`` (1..7) and
``set`` (1 = train, 2 = validation: AFEW's test labels are not public, so the validation set is the
test set of the literature). Each clip file is a MAT file with one 400x400 SPD matrix (variable
``Y1``, or the only matrix in the file). MATLAB v4/v5/v7 files are read with ``scipy.io.loadmat``;
v7.3 (HDF5) files must be re-saved with ``save(..., '-v7')``.
"""

from __future__ import annotations

import os
from pathlib import Path, PureWindowsPath

import numpy as np
import pandas as pd
import scipy.io
import torch
from tqdm.auto import tqdm

from ..core.params import shared_data_root
from .base import SPDDataset, check_positive_definite, check_square_symmetric, regularise

__all__ = ["AFEW_CLASSES", "load_afew", "afew_sources"]

AFEW_CLASSES = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
_HELP = (
    "AFEW is distributed by the EmotiW challenge organisers (https://sites.google.com/view/emotiw; "
    "request access and sign the licence); the SPDNet 400x400 SPD features are AFEW_SPD_data.zip "
    "from https://github.com/zhiwu-huang/SPDNet (data.vision.ee.ethz.ch/zzhiwu/ManifoldNetData). "
    "Unpack it so that <root> holds the index spddb_afew_*.mat and the clip folder, then pass "
    "root=... (and index=... if there are several index files) or put it at $SPDNAS_DATA/afew"
)


def _loadmat(path: Path) -> dict:
    try:
        return scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except NotImplementedError as exc:  # v7.3 = HDF5
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save with "
                         f"save(..., '-v7') ({exc})") from exc
    except Exception as exc:
        raise ValueError(f"{path}: unreadable MAT file ({type(exc).__name__}: {exc})") from exc


def _field(obj, name: str, where: str):
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
    elif hasattr(obj, name):
        return getattr(obj, name)
    raise ValueError(f"{where}: missing field {name!r}")


def _find_index(base: Path, index) -> Path:
    if index is not None:
        p = Path(index).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise FileNotFoundError(f"AFEW index file not found: {p}. {_HELP}.")
        return p
    cands = sorted(base.glob("spddb_afew*.mat"))
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise FileNotFoundError(f"no AFEW index spddb_afew*.mat in {base}. {_HELP}.")
    raise ValueError(f"several AFEW index files in {base}: {[c.name for c in cands]}; pass index=...")


def _clip_path(base: Path, spd_dir: str | None, name: str) -> Path:
    rel = Path(*PureWindowsPath(name).parts) if "\\" in name else Path(name)
    cands = [base / rel]
    if spd_dir:
        cands.append(base / PureWindowsPath(spd_dir).name / rel)
        cands.append(base / Path(spd_dir).name / rel)
    cands += [d / rel for d in sorted(base.iterdir()) if d.is_dir()]
    for c in cands:
        if c.is_file():
            return c
    raise FileNotFoundError(f"AFEW clip file {name!r} listed in the index was not found under {base}")


def _read_clip(path: Path) -> np.ndarray:
    d = _loadmat(path)
    if "Y1" in d:
        a = d["Y1"]
    else:
        arrays = [v for k, v in d.items() if not k.startswith("__") and isinstance(v, np.ndarray)
                  and v.ndim == 2]
        if len(arrays) != 1:
            raise ValueError(f"{path}: expected one matrix (variable Y1), found {len(arrays)} 2-D arrays")
        a = arrays[0]
    a = check_square_symmetric(a, str(path))
    return a


def load_afew(root: str | os.PathLike | None = None, index: str | os.PathLike | None = None,
              ridge: float = 0.0, progress: bool = False) -> SPDDataset:
    """AFEW SPD release: index MAT + one 400x400 SPD MAT per clip; ``set`` 1/2 -> train/test split.

    Args:
        root: folder with the index file and clip folders (default ``$SPDNAS_DATA/afew``).
        index: index file (relative to ``root`` or absolute); found by ``spddb_afew*.mat`` if None.
        ridge: relative ridge ``ridge · tr/n · I`` (the release matrices are already regularised).
    """
    base = shared_data_root() / "afew" if root is None else Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"AFEW folder not found: {base}. {_HELP}.")
    idx_path = _find_index(base, index)
    d = _loadmat(idx_path)
    keys = [k for k in d if not k.startswith("__")]
    struct = d["spd_train"] if "spd_train" in d else (d[keys[0]] if len(keys) == 1 else None)
    if struct is None:
        raise ValueError(f"{idx_path}: expected a struct 'spd_train', found variables {keys}")
    where = f"{idx_path} (spd_train)"
    spd = _field(struct, "spd", where)
    try:
        spd_dir = str(_field(struct, "spdDir", where))
    except ValueError:
        try:
            spd_dir = str(_field(struct, "SpdDir", where))
        except ValueError:
            spd_dir = None
    names = np.atleast_1d(_field(spd, "name", where + ".spd"))
    labels = np.atleast_1d(_field(spd, "label", where + ".spd"))
    sets = np.atleast_1d(_field(spd, "set", where + ".spd"))
    if not (len(names) == len(labels) == len(sets)) or len(names) == 0:
        raise ValueError(f"{where}: spd.name/label/set must be non-empty and of equal length, got "
                         f"{len(names)}/{len(labels)}/{len(sets)}")
    try:
        labels = labels.astype(np.float64)
        sets = sets.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: labels/sets must be numeric ({exc})") from exc
    if not np.isfinite(labels).all() or (labels != np.round(labels)).any() or labels.min() < 1:
        raise ValueError(f"{where}: labels must be integers >= 1 (MATLAB 1-based)")
    if not set(np.unique(sets)) <= {1.0, 2.0}:
        raise ValueError(f"{where}: spd.set must contain only 1 (train) or 2 (validation)")
    mats, files = [], []
    n = None
    for name in tqdm(names, desc="afew", disable=not progress):
        path = _clip_path(base, spd_dir, str(name))
        a = _read_clip(path)
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise ValueError(f"{path}: matrix is {a.shape[0]}x{a.shape[0]}, other clips are {n}x{n}")
        mats.append(a)
        files.append(str(path.relative_to(base)))
    X = regularise(np.stack(mats), ridge=ridge)
    check_positive_definite(X, files, "(pass ridge > 0)")
    raw = labels.astype(np.int64)
    n_cls = int(raw.max())
    classes = list(AFEW_CLASSES) if n_cls <= len(AFEW_CLASSES) else [str(i) for i in range(1, n_cls + 1)]
    y = raw - 1
    meta = pd.DataFrame({"file": files, "label_orig": raw,
                         "split": np.where(sets == 1, "train", "test")})
    info = {"root": str(base), "index": idx_path.name}
    return SPDDataset("afew", torch.from_numpy(X), torch.from_numpy(y), classes, meta, info)


def afew_sources(options):
    """Input folders of :func:`load_afew` (for the prepared-data cache key)."""
    root = options.get("root")
    base = shared_data_root() / "afew" if root is None else Path(root).expanduser()
    return [base] if base.is_dir() else []
