"""Populations of trained models: a tidy DataFrame, one row per trained model.

Required columns (canonical order and dtype):

========== ======= ==========================================================
``space``   str     design-space name (e.g. ``"ResNet"``, ``"nas-bench-macro"``)
``model_id`` str    model identifier, unique within a space for a given seed
``config``  str     the model configuration as a JSON string
``params``  int64   learnable parameters
``flops``   int64   multiply-add FLOPs
``error``   float64 top-1 error in percent, finite, in [0, 100]
``seed``    int64   training seed (-1 for rows aggregated over seeds)
``epochs``  int64   training epochs
``dataset`` str     dataset name (e.g. ``"cifar10"``)
========== ======= ==========================================================

Optional columns (kept when present): ``curve`` (JSON list of per-epoch values: test errors for
NDS, training losses for this project's sweeps), ``train_time`` (seconds), ``error_std`` (std over
seeds of aggregated rows), ``group`` (the rerun group of an NDS ``*_reruns.json`` file) and the
sweep-store fields ``test_loss``, ``diverged``, ``model_seed``, ``sweep``, ``recipe``, ``host``.
Any other extra column is kept untouched by :func:`validate_population`; the JSONL sweep format
only accepts the known ones. Rows are unique on ``(space, dataset, model_id, seed)`` (plus
``sweep`` when that column exists).

Importers: :func:`load_nds_json` (NDS data release), :func:`load_nas_bench_macro`
(NAS-Bench-Macro, Su et al. CVPR 2021) and :func:`load_sweep_records` (this project's sweeps).
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from spdnas.core.io import atomic_write_bytes, atomic_write_text
from spdnas.core.params import EXTERNAL_DATA, shared_data_root

COLUMNS = ("space", "model_id", "config", "params", "flops", "error", "seed", "epochs", "dataset")
STR_COLUMNS = ("space", "model_id", "config", "dataset")
INT_COLUMNS = ("params", "flops", "seed", "epochs")
# optional columns; the last six are written by spdnas.sweep's ResultStore
OPTIONAL_COLUMNS = (
    "curve", "train_time", "error_std", "group",
    "test_loss", "diverged", "model_seed", "sweep", "recipe", "host",
)

NAS_BENCH_MACRO_FILE = Path(EXTERNAL_DATA["nas_bench_macro"]["requires"][0])
NAS_BENCH_MACRO_EPOCHS = 50  # train.py default of the NAS-Bench-Macro release (seeds 0, 1, 2)


def _first_bad(df: pd.DataFrame, bad: np.ndarray) -> object:
    """Index label of the first True entry of ``bad``."""
    return df.index[int(np.flatnonzero(bad)[0])]


def _is_json_text(s: str) -> bool:
    try:
        json.loads(s)
    except (TypeError, ValueError):
        return False
    return True


def validate_population(df: pd.DataFrame) -> pd.DataFrame:
    """Check a population DataFrame; return a copy with canonical column order and dtypes.

    Raises ``ValueError`` naming the column and the first offending row for: missing columns,
    empty frames, non-string / empty text fields, ``config`` or ``curve`` that is not JSON,
    non-integer or negative counts, NaN/Inf or out-of-range errors, and duplicate
    ``(space, model_id, seed)`` rows. Integer columns given as integral floats are cast.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"population must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"population is missing required column(s) {missing}")
    if len(df) == 0:
        raise ValueError("population is empty (0 rows)")
    out = df.copy()
    for col in STR_COLUMNS:
        vals = out[col].to_numpy(dtype=object)
        bad = np.array([not isinstance(v, str) or v == "" for v in vals])
        if bad.any():
            row = _first_bad(out, bad)
            raise ValueError(
                f"column {col!r} must hold non-empty strings; row {row!r} has {out.at[row, col]!r}"
            )
        out[col] = vals
    for col in ("config",) + (("curve",) if "curve" in out.columns else ()):
        vals = out[col].to_numpy(dtype=object)
        bad = np.array([not isinstance(v, str) or not _is_json_text(v) for v in vals])
        if bad.any():
            row = _first_bad(out, bad)
            raise ValueError(f"column {col!r} must be a JSON string; row {row!r} is not valid JSON")
    for col in INT_COLUMNS:
        s = out[col]
        if not (pd.api.types.is_integer_dtype(s) or pd.api.types.is_float_dtype(s)) or (
            pd.api.types.is_bool_dtype(s)
        ):
            raise ValueError(f"column {col!r} must be integer, got dtype {s.dtype}")
        v = s.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v) | (v != np.round(v))
        if bad.any():
            row = _first_bad(out, bad)
            raise ValueError(f"column {col!r} must hold integers; row {row!r} has {s.loc[row]!r}")
        if col != "seed":
            neg = v < 0
            if neg.any():
                row = _first_bad(out, neg)
                raise ValueError(f"column {col!r} must be >= 0; row {row!r} has {s.loc[row]!r}")
        out[col] = s.astype(np.int64)
    e = out["error"]
    if not pd.api.types.is_numeric_dtype(e) or pd.api.types.is_bool_dtype(e):
        raise ValueError(f"column 'error' must be float (percent), got dtype {e.dtype}")
    ev = e.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(ev)
    if bad.any():
        row = _first_bad(out, bad)
        raise ValueError(f"column 'error' has a NaN/Inf value at row {row!r}")
    bad = (ev < 0) | (ev > 100)
    if bad.any():
        row = _first_bad(out, bad)
        raise ValueError(f"column 'error' must be a percentage in [0, 100]; row {row!r} has {ev[bad][0]}")
    out["error"] = ev
    for col in ("train_time", "error_std"):
        if col in out.columns:
            v = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=np.float64)
            bad = np.isnan(v) & out[col].notna().to_numpy()
            bad |= np.isinf(v) | (v < 0)
            if bad.any():
                row = _first_bad(out, bad)
                raise ValueError(f"column {col!r} must be a non-negative number; row {row!r} is not")
            out[col] = v
    key = ["space", "dataset", "model_id", "seed"] + (["sweep"] if "sweep" in out.columns else [])
    dup = out.duplicated(subset=key).to_numpy()
    if dup.any():
        row = _first_bad(out, dup)
        vals = ", ".join(repr(out.at[row, k]) for k in key)
        raise ValueError(f"duplicate ({', '.join(key)}) = ({vals}) at row {row!r}")
    extra = [c for c in out.columns if c not in COLUMNS]
    return out[list(COLUMNS) + extra]


def save_population(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate and write a population as Parquet, atomically (temp file + rename)."""
    df = validate_population(df)
    buf = io.BytesIO()
    df.reset_index(drop=True).to_parquet(buf, engine="pyarrow", index=False)
    return atomic_write_bytes(path, buf.getvalue())


def load_population(path: str | os.PathLike) -> pd.DataFrame:
    """Read a population Parquet file written by :func:`save_population` and validate it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"population file not found: {path}")
    try:
        df = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several error types for corrupt files
        raise ValueError(f"{path} is not a readable Parquet population file: {exc}") from exc
    return validate_population(df)


# ----------------------------------------------------------------------------------------------
# Importers
# ----------------------------------------------------------------------------------------------


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def _number(rec: dict, key: str, where: str, *, integer: bool = False, lo: float | None = 0.0):
    """Fetch a finite number ``rec[key]`` or raise naming the record."""
    if key not in rec:
        raise ValueError(f"{where}: missing key {key!r}")
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {v!r}")
    if lo is not None and v < lo:
        raise ValueError(f"{where}: {key!r} must be >= {lo}, got {v!r}")
    if integer:
        if float(v) != round(float(v)):
            raise ValueError(f"{where}: {key!r} must be an integer count, got {v!r}")
        return int(round(v))
    return float(v)


def _error_pct(v: float, key: str, where: str) -> float:
    if not 0.0 <= v <= 100.0:
        raise ValueError(f"{where}: {key!r} must be a percentage in [0, 100], got {v!r}")
    return v


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _nds_row(rec, where: str, default_id: str, space: str, dataset: str, error: str) -> dict:
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: record must be a JSON object, got {type(rec).__name__}")
    net = rec.get("net")
    if not isinstance(net, dict):
        raise ValueError(f"{where}: missing or non-object 'net' (the model configuration)")
    optim = rec.get("optim", {})
    if not isinstance(optim, dict):
        raise ValueError(f"{where}: 'optim' must be an object, got {type(optim).__name__}")
    # counts are rounded: some releases store them as floats
    params = int(round(_number(rec, "params", where)))
    flops = int(round(_number(rec, "flops", where)))
    curve = rec.get("test_ep_top1")
    if curve is not None:
        if not isinstance(curve, list) or not curve:
            raise ValueError(f"{where}: 'test_ep_top1' must be a non-empty list of errors")
        for j, c in enumerate(curve):
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
                raise ValueError(f"{where}: 'test_ep_top1'[{j}] is not a finite number ({c!r})")
    if error == "min":
        err = _error_pct(_number(rec, "min_test_top1", where), "min_test_top1", where)
    else:
        if curve is None:
            raise ValueError(f"{where}: error='final' needs 'test_ep_top1'")
        err = _error_pct(float(curve[-1]), "test_ep_top1", where)
    if "max_ep" in optim:
        epochs = _number(optim, "max_ep", f"{where} optim", integer=True)
    elif curve is not None:
        epochs = len(curve)
    else:
        raise ValueError(f"{where}: cannot tell the epochs (no optim.max_ep, no test_ep_top1)")
    seed = _number(rec, "rng_seed", where, integer=True, lo=None) if "rng_seed" in rec else 0
    model_id = str(rec["job_id"]) if rec.get("job_id") not in (None, "") else default_id
    row = {
        "space": space,
        "model_id": model_id,
        "config": _canonical_json({"net": net, "optim": optim}),
        "params": params,
        "flops": flops,
        "error": err,
        "seed": seed,
        "epochs": epochs,
        "dataset": dataset,
    }
    if curve is not None:
        row["curve"] = json.dumps([float(c) for c in curve])
    return row


def load_nds_json(
    path: str | os.PathLike,
    space: str | None = None,
    *,
    dataset: str | None = None,
    error: str = "min",
) -> pd.DataFrame:
    """Import an NDS data-release file (Radosavovic et al. 2019) as a population.

    Args:
        path: ``<Space>.json`` (a list of records) or ``<Space>_reruns.json`` (a dict of lists
            of records, the dict key goes to the ``group`` column).
        space: space name; default the file stem without a ``_reruns`` suffix.
        dataset: default ``"imagenet"`` for ``*_in`` spaces, else ``"cifar10"``.
        error: ``"min"`` uses ``min_test_top1`` (as the NDS notebooks), ``"final"`` the last entry
            of ``test_ep_top1``.

    ``model_id`` is the record's ``job_id`` (else its position, e.g. ``"12"`` or ``"top[3]"``),
    ``seed`` its ``rng_seed`` (else 0), ``epochs`` ``optim.max_ep`` (else the curve length),
    ``config`` the JSON of ``{"net", "optim"}``, ``curve`` the JSON of ``test_ep_top1``.
    """
    if error not in ("min", "final"):
        raise ValueError(f"error must be 'min' or 'final', got {error!r}")
    path = Path(path)
    data = _read_json(path)
    stem = path.stem
    if stem.endswith("_reruns"):
        stem = stem[: -len("_reruns")]
    space = space or stem
    if dataset is None:
        dataset = "imagenet" if stem.endswith("_in") else "cifar10"
    rows = []
    if isinstance(data, list):
        for i, rec in enumerate(data):
            rows.append(_nds_row(rec, f"record {i}", str(i), space, dataset, error))
    elif isinstance(data, dict):
        for key, recs in data.items():
            if not isinstance(recs, list):
                raise ValueError(f"{path}: value of key {key!r} must be a list of records")
            for i, rec in enumerate(recs):
                row = _nds_row(rec, f"record {key}[{i}]", f"{key}[{i}]", space, dataset, error)
                row["group"] = str(key)
                rows.append(row)
    else:
        raise ValueError(f"{path}: expected a list of records or a dict of lists of records")
    if not rows:
        raise ValueError(f"{path}: no records")
    return validate_population(pd.DataFrame(rows))


def load_nas_bench_macro(
    path: str | os.PathLike | None = None, *, aggregate: str | None = None
) -> pd.DataFrame:
    """Import NAS-Bench-Macro (6561 archs x 3 seeds, CIFAR-10) as a population.

    Args:
        path: the ``nas-bench-macro_cifar10.json`` file or a folder holding it (directly or in
            ``nas-bench-macro/``); default ``shared_data_root()/nas-bench-macro/...``.
        aggregate: ``None`` gives one row per (arch, seed) with ``error = 100 - test_acc[s]``;
            ``"mean"`` one row per arch with ``error = 100 - mean_acc``, ``seed = -1`` and the
            std over seeds in ``error_std``.

    Errors are rounded to 1e-4 to strip float32 noise (accuracies have 0.01 resolution).
    """
    if aggregate not in (None, "mean"):
        raise ValueError(f"aggregate must be None or 'mean', got {aggregate!r}")
    if path is None:
        p = shared_data_root() / NAS_BENCH_MACRO_FILE
    else:
        p = Path(path)
        if p.is_dir():
            cand = [p / NAS_BENCH_MACRO_FILE.name, p / NAS_BENCH_MACRO_FILE]
            p = next((c for c in cand if c.is_file()), cand[0])
    if not p.is_file():
        raise FileNotFoundError(
            f"NAS-Bench-Macro file not found at {p}; get nas-bench-macro_cifar10.json from "
            "https://github.com/xiusu/NAS-Bench-Macro and put it under "
            "$SPDNAS_DATA/nas-bench-macro/ (or pass path=)"
        )
    data = _read_json(p)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{p}: expected a non-empty object {{arch: {{test_acc, ...}}}}")
    rows = []
    for i, (arch, rec) in enumerate(data.items()):
        where = f"record {i} (arch {arch!r})"
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: must be an object, got {type(rec).__name__}")
        if not arch or any(ch not in "012" for ch in arch):
            raise ValueError(f"{where}: arch must be a string of choices '0'/'1'/'2'")
        params = _number(rec, "params", where, integer=True)
        flops = _number(rec, "flops", where, integer=True)
        accs = rec.get("test_acc")
        if not isinstance(accs, list) or not accs:
            raise ValueError(f"{where}: 'test_acc' must be a non-empty list of accuracies")
        accs = [_number({"test_acc": a}, "test_acc", where) for a in accs]
        for a in accs:
            _error_pct(a, "test_acc", where)
        base = {
            "space": "nas-bench-macro",
            "model_id": arch,
            "config": _canonical_json({"arch": arch}),
            "params": params,
            "flops": flops,
            "epochs": NAS_BENCH_MACRO_EPOCHS,
            "dataset": "cifar10",
        }
        if aggregate == "mean":
            mean = _error_pct(_number(rec, "mean_acc", where), "mean_acc", where)
            std = _number(rec, "std", where) if "std" in rec else float(np.std(accs))
            rows.append({**base, "error": round(100.0 - mean, 4), "seed": -1, "error_std": std})
        else:
            for s, a in enumerate(accs):
                rows.append({**base, "error": round(100.0 - a, 4), "seed": s})
    return validate_population(pd.DataFrame(rows))


def check_record(rec, where: str = "record") -> None:
    """Raise ValueError unless ``rec`` is a dict holding every required population column."""
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: record must be a JSON object, got {type(rec).__name__}")
    missing = [c for c in COLUMNS if c not in rec]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing} (required fields: {list(COLUMNS)})")


def _sweep_row(rec, where: str) -> dict:
    check_record(rec, where)
    unknown = [k for k in rec if k not in COLUMNS and k not in OPTIONAL_COLUMNS]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {list(COLUMNS + OPTIONAL_COLUMNS)}")
    row = {
        k: v
        for k, v in rec.items()
        if not (k in OPTIONAL_COLUMNS and (v is None or (isinstance(v, float) and math.isnan(v))))
    }
    if isinstance(row.get("model_id"), (int, np.integer)) and not isinstance(row["model_id"], bool):
        row["model_id"] = str(row["model_id"])
    for k in ("config", "recipe"):  # objects -> canonical JSON text
        if k in row and not isinstance(row[k], str):
            if not isinstance(row[k], dict):
                raise ValueError(f"{where}: {k!r} must be an object or a JSON string, got {row[k]!r}")
            row[k] = _canonical_json(row[k])
    if "curve" in row and not isinstance(row["curve"], str):
        if not isinstance(row["curve"], list):
            raise ValueError(f"{where}: 'curve' must be a list or a JSON string")
        row["curve"] = json.dumps(row["curve"])
    for k in STR_COLUMNS:
        if not isinstance(row[k], str) or not row[k]:
            raise ValueError(f"{where}: {k!r} must be a non-empty string, got {row[k]!r}")
    for k in INT_COLUMNS:
        row[k] = _number(row, k, where, integer=True, lo=None if k == "seed" else 0.0)
    row["error"] = _error_pct(_number(row, "error", where), "error", where)
    return row


def load_sweep_records(path: str | os.PathLike) -> pd.DataFrame:
    """Read this project's sweep output: JSON Lines, one record per trained model.

    Each line is an object with the required columns (``config`` may be an object, ``curve`` a
    list, ``model_id`` an int) plus optionally the keys of ``OPTIONAL_COLUMNS`` (what
    ``spdnas.sweep.store.ResultStore`` writes); any other key is an error. Blank lines are
    skipped; a malformed line raises ``ValueError`` naming its line and record number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep records file not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {lineno} (record {len(rows)})"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{where}: not valid JSON ({exc.msg}); a torn last line of an interrupted "
                    "sweep can be removed with spdnas.sweep.store.ResultStore(path).load(repair=True)"
                ) from exc
            rows.append(_sweep_row(rec, where))
    if not rows:
        raise ValueError(f"{path}: no records")
    return validate_population(pd.DataFrame(rows))


def save_sweep_records(records, path: str | os.PathLike) -> Path:
    """Write records (list of dicts or a population DataFrame) as JSON Lines, atomically."""
    if isinstance(records, pd.DataFrame):
        df = validate_population(records)
        records = df.to_dict(orient="records")
    if not records:
        raise ValueError("no records to write")
    lines = []
    for i, rec in enumerate(records):
        row = _sweep_row(rec, f"record {i}")
        row = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        lines.append(json.dumps(row, sort_keys=False))
    return atomic_write_text(path, "\n".join(lines) + "\n")
