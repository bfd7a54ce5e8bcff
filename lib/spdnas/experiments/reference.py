"""The SPDNetNAS paper's published numbers and stated protocol, read from data/reference/."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pandas as pd

from ..core.paths import repo_root

__all__ = ["REFERENCE_FILE", "PROTOCOL_FILE", "REFERENCE_COLUMNS", "PROTOCOL_COLUMNS", "paper_reference",
           "paper_protocol"]

# paths relative to the workbench root (see data/reference/README.md)
REFERENCE_FILE = "data/reference/spdnetnas_paper.csv"
PROTOCOL_FILE = "data/reference/spdnetnas_protocol.csv"

REFERENCE_COLUMNS = ("table", "dataset", "method", "weighting", "mean", "std", "size_printed", "source")
PROTOCOL_COLUMNS = ("setting", "dataset", "value", "paper_says")


def _read(path, default: str, columns, what: str) -> tuple[Path, pd.DataFrame]:
    path = Path(path) if path is not None else repo_root() / default
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (csv.Error, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from e
    if not rows:
        raise ValueError(f"{path}: not a readable CSV file (empty)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(columns)}")
    body = [r for r in rows[1:] if any(x.strip() for x in r)]
    for i, r in enumerate(rows[1:]):
        if any(x.strip() for x in r) and len(r) != len(header):
            raise ValueError(f"{path}, line {i + 2}: {len(r)} fields, the header has {len(header)} "
                             "(an unquoted comma?)")
    if not body:
        raise ValueError(f"{path}: no rows")
    df = pd.DataFrame([[x.strip() for x in r] for r in body], columns=header)
    return path, df[list(columns)]


def _number(path: Path, line: int, column: str, text: str, allow_empty: bool) -> float:
    if text == "" and allow_empty:
        return math.nan
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise ValueError(f"{path}, line {line}: {column} must be a finite number, got {text!r}")
    return v


def paper_reference(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's published accuracies (%): one row per (table, dataset, method, weighting).

    ``path``: the CSV file (default: :data:`REFERENCE_FILE` under the workbench root). Columns
    :data:`REFERENCE_COLUMNS`; ``table`` is an int, ``mean``/``std`` floats (std NaN where the
    paper prints none), ``weighting`` missing (NaN) outside Table 4, ``size_printed`` the size string as
    printed ("" where none). Raises ``FileNotFoundError``/``ValueError`` naming the file.
    """
    path, df = _read(path, REFERENCE_FILE, REFERENCE_COLUMNS, "paper reference")
    rows = []
    for i, r in enumerate(df.to_dict(orient="records")):
        line = i + 2  # header is line 1
        try:
            table = int(r["table"])
        except ValueError:
            raise ValueError(f"{path}, line {line}: table must be an integer, got {r['table']!r}") from None
        for col in ("dataset", "method", "source"):
            if not r[col]:
                raise ValueError(f"{path}, line {line}: empty {col}")
        mean = _number(path, line, "mean", r["mean"], allow_empty=False)
        std = _number(path, line, "std", r["std"], allow_empty=True)
        if not 0.0 <= mean <= 100.0:
            raise ValueError(f"{path}, line {line}: mean must be an accuracy in [0, 100] %, got {mean:g}")
        if std < 0:
            raise ValueError(f"{path}, line {line}: std must be >= 0, got {std:g}")
        rows.append({**r, "table": table, "mean": mean, "std": std, "weighting": r["weighting"] or None})
    out = pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))
    key = ["table", "dataset", "method", "weighting"]
    dup = out[out.duplicated(key, keep=False)]
    if len(dup):
        first = dup.iloc[0]
        w = first["weighting"] if isinstance(first["weighting"], str) else None
        raise ValueError(f"{path}: duplicate key (table, dataset, method, weighting) = "
                         f"{(int(first['table']), first['dataset'], first['method'], w)}")
    return out


def paper_protocol(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The protocol the paper states (setting, dataset, value, what the paper says), as text."""
    path, df = _read(path, PROTOCOL_FILE, PROTOCOL_COLUMNS, "paper protocol")
    for i, r in enumerate(df.to_dict(orient="records")):
        empty = [c for c in PROTOCOL_COLUMNS if not r[c]]
        if empty:
            raise ValueError(f"{path}, line {i + 2}: empty {empty}")
    dup = df[df.duplicated(["setting", "dataset"], keep=False)]
    if len(dup):
        raise ValueError(f"{path}: duplicate (setting, dataset) = {tuple(dup.iloc[0][['setting', 'dataset']])}")
    return df.reset_index(drop=True)
