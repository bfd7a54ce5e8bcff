"""HDM05 motion capture (Müller et al. 2007) as 93x93 SPD covariance matrices.

Two sources under ``root`` (default ``shared_data_root()/"hdm05"``):

* ``source="spd"``: the SPDNet / SPDNetBN / SPDNetNAS release layout, ``<root>/spd/*.npy`` (or a
  flat folder of ``*.npy``), one symmetric 93x93 matrix per file named
  ``<subject>_<action>_<take>_<label>.npy``: label = integer after the last ``_``, subject = the
  prefix before the first ``_``. An optional ``<root>/meta.csv`` supplies action names/splits.
* ``source="trajectories"``: ``<root>/trajectories.npz`` with ``X`` (frames x 93 joint
  coordinates), ``offsets`` (N+1), and per-sequence ``label``, ``action``, ``subject``, ``split``;
  covariances are computed with :func:`spdnas.spd.covariance.covariance`.

The covariances are rank deficient (about 62 of 93), so they are regularised: optional shrinkage
towards ``tr/n · I`` and a relative ridge ``ridge · tr/n · I`` (default 1e-4).
Official split: subjects bd, bk, dg train; mm, tr test.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..core.params import shared_data_root
from ..spd.covariance import covariance
from .base import (
    SPDDataset,
    check_positive_definite,
    check_square_symmetric,
    encode_labels,
    label_from_filename,
    regularise,
)
from .files import read_npy, read_npz

__all__ = ["HDM05_TRAIN_SUBJECTS", "HDM05_TEST_SUBJECTS", "hdm05_root", "load_hdm05", "hdm05_sources"]

HDM05_TRAIN_SUBJECTS = ("bd", "bk", "dg")
HDM05_TEST_SUBJECTS = ("mm", "tr")
_HELP = (
    "HDM05 is expected as <root>/spd/<subject>_<action>_<take>_<label>.npy (one 93x93 covariance "
    "per sequence, SPDNet release layout) and/or <root>/trajectories.npz. Get the SPD release from "
    "https://data.vision.ee.ethz.ch/zzhiwu/ManifoldNetData/SPDData/HDM05_SPDData.zip or the mocap "
    "from http://resources.mpi-inf.mpg.de/HDM05/ (free for research, cite Müller et al. 2007). "
    "Pass root=... or set $SPDNAS_DATA (the loader looks in $SPDNAS_DATA/hdm05)"
)


def hdm05_root(root: str | os.PathLike | None = None) -> Path:
    """Resolved HDM05 folder; FileNotFoundError explaining the layout when it is missing."""
    base = shared_data_root() / "hdm05" if root is None else Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"HDM05 folder not found: {base}. {_HELP}.")
    return base


def _official(subject: str) -> str:
    if subject in HDM05_TRAIN_SUBJECTS:
        return "train"
    if subject in HDM05_TEST_SUBJECTS:
        return "test"
    return "unknown"


def _read_meta_csv(base: Path) -> pd.DataFrame | None:
    path = base / "meta.csv"
    if not path.is_file():
        return None
    try:
        meta = pd.read_csv(path, dtype={"take": str, "subject": str})
    except Exception as exc:
        raise ValueError(f"{path}: unreadable CSV ({type(exc).__name__}: {exc})") from exc
    return meta


def hdm05_sources(options):
    try:
        base = hdm05_root(options.get("root"))
    except FileNotFoundError:
        return []
    if options.get("source") == "trajectories":
        return [base / "trajectories.npz"]
    return [base / "spd" if (base / "spd").is_dir() else base, base / "meta.csv"]


def _from_spd_files(base: Path, progress: bool):
    folder = base / "spd" if (base / "spd").is_dir() else base
    files = sorted(folder.glob("*.npy"))
    if not files:
        raise FileNotFoundError(f"no HDM05 .npy matrices in {folder}. {_HELP}.")
    mats, rows = [], []
    n = None
    for f in tqdm(files, desc="hdm05", disable=not progress):
        label = label_from_filename(f)
        parts = f.stem.split("_")
        a = check_square_symmetric(read_npy(f), str(f))
        if a.ndim != 2:
            raise ValueError(f"{f}: expected one matrix per file, got shape {a.shape}")
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise ValueError(f"{f}: matrix is {a.shape[0]}x{a.shape[0]}, other files are {n}x{n}")
        mats.append(a)
        rows.append({
            "subject": parts[0],
            "action": "_".join(parts[1:-2]) if len(parts) >= 4 else "",
            "take": parts[-2] if len(parts) >= 3 else "",
            "label_orig": label,
            "file": f.name,
        })
    meta = pd.DataFrame(rows)
    extra = _read_meta_csv(base)
    names = {}
    if extra is not None and {"subject", "action", "take"} <= set(extra.columns):
        keys = ["subject", "action", "take"]
        extra = extra.copy()
        extra["take"] = extra["take"].astype(str)
        cols = keys + [c for c in ("split", "n_frames") if c in extra.columns]
        meta = meta.merge(extra[cols].drop_duplicates(keys), on=keys, how="left")
        if "label" in extra.columns:
            names = dict(zip(extra["label"].astype(int), extra["action"].astype(str)))
    if not names:
        for lab, grp in meta.groupby("label_orig"):
            acts = set(grp["action"])
            names[int(lab)] = acts.pop() if len(acts) == 1 and "" not in acts else str(lab)
    if "split" not in meta.columns:
        meta["split"] = [_official(s) for s in meta["subject"]]
    else:
        meta["split"] = [s if isinstance(s, str) else _official(sub)
                         for s, sub in zip(meta["split"], meta["subject"])]
    return np.stack(mats), meta, names, [str(folder / f) for f in meta["file"]]


def _from_trajectories(base: Path, shrinkage, progress: bool):
    path = base / "trajectories.npz"
    if not path.is_file():
        raise FileNotFoundError(f"HDM05 trajectories not found: {path}. {_HELP}.")
    need = {"X", "offsets", "label", "action", "subject", "split"}
    data = read_npz(path, sorted(need))
    x, off = data["X"], data["offsets"].astype(np.int64)
    n_seq = len(data["label"])
    if x.ndim != 2 or x.dtype.kind not in "fiu":
        raise ValueError(f"{path}: X must be a 2-D numeric (frames x channels) array, got {x.shape} {x.dtype}")
    if off.shape != (n_seq + 1,) or off[0] != 0 or off[-1] != x.shape[0] or (np.diff(off) < 2).any():
        raise ValueError(f"{path}: offsets must be increasing from 0 to {x.shape[0]} with {n_seq + 1} "
                         f"entries and every sequence at least 2 frames long")
    for k in ("action", "subject", "split"):
        if len(data[k]) != n_seq:
            raise ValueError(f"{path}: {k} has {len(data[k])} entries for {n_seq} sequences")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: X contains NaN or Inf values")
    mats = []
    for i in tqdm(range(n_seq), desc="hdm05 covariances", disable=not progress):
        seq = torch.from_numpy(np.ascontiguousarray(x[off[i]: off[i + 1]].T, dtype=np.float64))
        mats.append(covariance(seq, shrinkage=shrinkage, check=False).numpy())
    meta = pd.DataFrame({
        "subject": data["subject"].astype(str), "action": data["action"].astype(str),
        "label_orig": data["label"].astype(np.int64), "split": data["split"].astype(str),
        "n_frames": np.diff(off), "sequence": np.arange(n_seq),
    })
    names = dict(zip(meta["label_orig"].tolist(), meta["action"].tolist()))
    where = [f"{path}[sequence {i}]" for i in range(n_seq)]
    return np.stack(mats), meta, names, where


def load_hdm05(root: str | os.PathLike | None = None, source: str = "spd", ridge: float = 1e-4,
               shrinkage=0.0, progress: bool = False) -> SPDDataset:
    """HDM05 action recognition as SPD matrices (93x93 for the 31-joint skeleton).

    Args:
        root: folder holding ``spd/`` and/or ``trajectories.npz`` (default ``$SPDNAS_DATA/hdm05``).
        source: ``"spd"`` (precomputed release matrices) or ``"trajectories"`` (raw joints).
        ridge: relative ridge ``ridge · tr(S)/n · I`` (the matrices are rank ~62/93).
        shrinkage: float in [0, 1] (both sources) or ``"lw"``/``"oas"`` (trajectories only).
    """
    if source not in ("spd", "trajectories"):
        raise ValueError(f"unknown HDM05 source {source!r}: use 'spd' or 'trajectories'")
    base = hdm05_root(root)
    if source == "spd":
        if isinstance(shrinkage, str):
            raise ValueError("shrinkage 'lw'/'oas' needs the raw samples: use source='trajectories'")
        X, meta, names, where = _from_spd_files(base, progress)
        lam_min = np.linalg.eigvalsh(X)[:, 0]
        scale = np.trace(X, axis1=1, axis2=2) / X.shape[-1]
        bad = np.nonzero(lam_min < -1e-6 * np.maximum(scale, 1e-300))[0]
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{where[i]}: matrix is not positive semidefinite "
                             f"(smallest eigenvalue {lam_min[i]:.3e})")
        X = regularise(X, ridge=ridge, shrinkage=float(shrinkage))
    else:
        X, meta, names, where = _from_trajectories(base, shrinkage, progress)
        X = regularise(X, ridge=ridge)
    check_positive_definite(X, where, "(increase ridge)")
    y, classes, _ = encode_labels(meta["label_orig"].to_numpy(), names)
    info = {"root": str(base), "source": source, "ridge": float(ridge),
            "official_split": "subjects bd,bk,dg train / mm,tr test"}
    return SPDDataset("hdm05", torch.from_numpy(X), torch.from_numpy(y), classes, meta, info)
