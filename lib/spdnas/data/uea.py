"""UEA/UCR multivariate time series (``.ts`` format) as per-sample covariance SPD matrices.

The default files are the ones bundled inside the installed ``aeon`` package
(``<aeon>/datasets/data/<Name>/<Name>_TRAIN.ts`` and ``_TEST.ts``): BasicMotions (6 channels,
4 classes, 40 + 40 series of length 100) and JapaneseVowels (12 channels, 9 speakers, 270 + 370
series of length 7-29). aeon itself is never imported; this module has its own ``.ts`` parser.
The official TRAIN/TEST split is kept in ``meta["split"]``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..spd.covariance import covariance
from .base import SPDDataset, check_positive_definite, regularise

__all__ = ["read_ts", "uea_root", "load_uea", "load_basicmotions", "load_japanesevowels", "uea_sources"]


def _parse_bool(value: str, path, lineno) -> bool:
    v = value.strip().lower()
    if v in ("true", "false"):
        return v == "true"
    raise ValueError(f"{path}:{lineno}: expected true/false, got {value!r}")


def read_ts(path: str | os.PathLike):
    """Parse a ``.ts`` file (sktime/aeon format, no timestamps) into series, labels and header.

    Returns ``(series, labels, header)``: ``series`` a list of float64 arrays (channels, length)
    (lengths may differ between series), ``labels`` a list of str, ``header`` a dict of the
    ``@`` fields (``classlabel`` -> list of class names). Missing values ``?`` become NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f".ts file not found: {path}")
    header: dict = {}
    series, labels = [], []
    in_data = False
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text .ts file ({exc})") from exc
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{path}:{lineno}: expected a @header line before @data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            elif key == "classlabel":
                toks = value.split()
                if not toks:
                    raise ValueError(f"{path}:{lineno}: @classLabel needs true/false")
                header["classlabel"] = toks[1:] if _parse_bool(toks[0], path, lineno) else None
            elif key in ("timestamps", "univariate", "missing", "equallength", "targetlabel"):
                header[key] = _parse_bool(value, path, lineno)
            elif key in ("dimensions", "serieslength"):
                try:
                    header[key] = int(value)
                except ValueError as exc:
                    raise ValueError(f"{path}:{lineno}: @{key} must be an integer, got {value!r}") from exc
            else:
                header[key] = value.strip()
            continue
        if header.get("timestamps"):
            raise ValueError(f"{path}: time-stamped .ts files are not supported")
        fields = line.split(":")
        has_label = header.get("classlabel") is not None
        if has_label:
            if len(fields) < 2:
                raise ValueError(f"{path}:{lineno}: data line has no class label")
            label = fields[-1].strip()
            fields = fields[:-1]
            if label not in header["classlabel"]:
                raise ValueError(f"{path}:{lineno}: label {label!r} is not among the declared "
                                 f"@classLabel values {header['classlabel']}")
            labels.append(label)
        dims = header.get("dimensions")
        if dims is not None and len(fields) != dims:
            raise ValueError(f"{path}:{lineno}: {len(fields)} channels, header declares {dims}")
        chans = []
        for c, field in enumerate(fields):
            try:
                vals = [np.nan if v.strip() == "?" else float(v) for v in field.split(",")]
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: channel {c}: unparsable number ({exc})") from exc
            chans.append(vals)
        lens = {len(ch) for ch in chans}
        if len(lens) != 1:
            raise ValueError(f"{path}:{lineno}: channels of one series have different lengths {sorted(lens)}")
        arr = np.asarray(chans, dtype=np.float64)
        if header.get("equallength") and header.get("serieslength") not in (None, arr.shape[1]):
            raise ValueError(f"{path}:{lineno}: series length {arr.shape[1]} != @seriesLength "
                             f"{header['serieslength']}")
        series.append(arr)
    if not in_data:
        raise ValueError(f"{path}: no @data section (truncated or not a .ts file)")
    if not series:
        raise ValueError(f"{path}: @data section is empty")
    return series, labels, header


def uea_root(root: str | os.PathLike | None = None) -> Path:
    """Folder holding ``<Name>/<Name>_TRAIN.ts`` (default: the data bundled with aeon)."""
    if root is not None:
        base = Path(root).expanduser()
        if not base.is_dir():
            raise FileNotFoundError(f"UEA/UCR data folder not found: {base}")
        return base
    spec = importlib.util.find_spec("aeon")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the aeon package (which bundles BasicMotions and JapaneseVowels .ts files) is not "
            "installed: `pip install --no-deps aeon` or pass root=<folder with <Name>/<Name>_TRAIN.ts>; "
            "the files are also at https://timeseriesclassification.com"
        )
    return Path(spec.origin).parent / "datasets" / "data"


def _problem_files(base: Path, problem: str):
    for folder in (base / problem, base):
        tr, te = folder / f"{problem}_TRAIN.ts", folder / f"{problem}_TEST.ts"
        if tr.is_file() and te.is_file():
            return tr, te
    raise FileNotFoundError(
        f"{problem}_TRAIN.ts / {problem}_TEST.ts not found under {base} (or {base / problem}); "
        "download the UEA archive from https://timeseriesclassification.com or pass root=..."
    )


def uea_sources(options):
    try:
        return list(_problem_files(uea_root(options.get("root")), options["problem"]))
    except (FileNotFoundError, KeyError):
        return []


def load_uea(problem: str, root: str | os.PathLike | None = None, shrinkage="oas",
             ridge: float = 1e-5, center: bool = True) -> SPDDataset:
    """Any UEA multivariate problem as per-series covariance matrices (channels x channels).

    Args:
        problem: archive name, e.g. ``"BasicMotions"``.
        root: folder with ``<problem>/<problem>_TRAIN.ts`` (default: aeon's bundled data).
        shrinkage: float in [0, 1], ``"lw"`` or ``"oas"`` (short series are rank deficient).
        ridge: relative ridge ``ridge · tr/n · I``.
        center: subtract channel means (covariance) or use the raw second moment.
    """
    if not isinstance(problem, str) or not problem:
        raise ValueError(f"problem must be a UEA dataset name, got {problem!r}")
    train, test = _problem_files(uea_root(root), problem)
    mats, labels, rows = [], [], []
    declared = None
    for split, path in (("train", train), ("test", test)):
        series, labs, header = read_ts(path)
        if header.get("classlabel") is None:
            raise ValueError(f"{path}: has no class labels (@classLabel false)")
        declared = declared or header["classlabel"]
        for i, (s, lab) in enumerate(zip(series, labs)):
            if np.isnan(s).any():
                raise ValueError(f"{path}: series {i} has missing values ('?'); not supported")
            if s.shape[1] < 2:
                raise ValueError(f"{path}: series {i} has length {s.shape[1]} < 2")
            mats.append(covariance(torch.from_numpy(s), shrinkage=shrinkage, center=center,
                                   check=False).numpy())
            labels.append(lab)
            rows.append({"split": split, "file": path.name, "index": i, "length": s.shape[1]})
    dims = {m.shape[0] for m in mats}
    if len(dims) != 1:
        raise ValueError(f"{problem}: series have different channel counts {sorted(dims)}")
    X = regularise(np.stack(mats), ridge=ridge)
    check_positive_definite(X, [f"{r['file']}[{r['index']}]" for r in rows], "(increase ridge/shrinkage)")
    classes = list(declared)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[lab] for lab in labels], dtype=np.int64)
    meta = pd.DataFrame(rows)
    meta.insert(1, "label_name", labels)
    info = {"problem": problem, "root": str(train.parent), "shrinkage": shrinkage, "ridge": float(ridge)}
    ds = SPDDataset(problem.lower(), torch.from_numpy(X), torch.from_numpy(y), classes, meta, info)
    return ds


def load_basicmotions(root: str | os.PathLike | None = None, shrinkage="oas",
                      ridge: float = 1e-5) -> SPDDataset:
    """BasicMotions (UEA): 6x6 covariances of accelerometer + gyroscope, 4 activities, 40/40 split."""
    return load_uea("BasicMotions", root, shrinkage, ridge)


def load_japanesevowels(root: str | os.PathLike | None = None, shrinkage="oas",
                        ridge: float = 1e-5) -> SPDDataset:
    """JapaneseVowels (UEA): 12x12 covariances of LPC cepstra (length 7-29), 9 speakers, 270/370 split."""
    return load_uea("JapaneseVowels", root, shrinkage, ridge)
